/** A rate line: "1000000 messages in 1.83 s (546448 messages/s)". */
export function rateLine (count: number, seconds: number): string {
  const rate = seconds > 0 ? Math.round(count / seconds) : count
  return `${count} message${count === 1 ? '' : 's'} in ${seconds.toFixed(seconds < 1 ? 3 : 2)} s (${rate} messages/s)`
}

/** A count redrawn once a second on a terminal (and nothing elsewhere). */
export class Progress {
  private readonly stream: NodeJS.WriteStream
  private readonly timer: NodeJS.Timeout | null
  private readonly started = performance.now()

  constructor (stream: NodeJS.WriteStream, label: string, count: () => number) {
    this.stream = stream
    this.timer = stream.isTTY !== true
      ? null
      : setInterval(() => {
        const seconds = (performance.now() - this.started) / 1000
        stream.write(`\r\x1b[K${label} ${rateLine(count(), seconds)}`)
      }, 1000).unref()
  }

  /** Seconds since the start. */
  get seconds (): number {
    return (performance.now() - this.started) / 1000
  }

  stop (): void {
    if (this.timer === null) return
    clearInterval(this.timer)
    this.stream.write('\r\x1b[K')
  }
}

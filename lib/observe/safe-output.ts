import * as fs from 'node:fs'

/**
 * stdout or stderr for a server that must outlive them. Run as
 * `rog server > rog.log 2>&1`, a full disk under the log makes Node's stream
 * emit 'error', which, unhandled, ends the process: the log would take the
 * server down with it. Here a line that cannot be written is dropped and
 * counted. Once the stream has failed, lines go to its descriptor directly,
 * each written on its own, so the log resumes when there is room again; the
 * first line that gets through says how many were lost.
 */
export class SafeOutput {
  private readonly stream: NodeJS.WritableStream
  private readonly fd: number
  /** The stream reported a failed write: from then on lines go to `fd`. */
  private failed = false
  private lost = 0
  private lastError = ''

  constructor (stream: NodeJS.WritableStream, fd: number) {
    this.stream = stream
    this.fd = fd
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.failed = true
      this.dropped(err)
    })
  }

  /** The stdout and stderr of this process, guarded (one guard each, however often asked for). */
  static stdio (): { stdout: SafeOutput, stderr: SafeOutput } {
    stdio ??= { stdout: new SafeOutput(process.stdout, 1), stderr: new SafeOutput(process.stderr, 2) }
    return stdio
  }

  write (line: string): void {
    if (!this.failed) {
      this.stream.write(line)
      return
    }
    try {
      if (this.lost > 0) fs.writeSync(this.fd, `${this.lost} log line${this.lost === 1 ? '' : 's'} could not be written (${this.lastError})\n`)
      this.lost = 0
      fs.writeSync(this.fd, line)
    } catch (err) {
      this.dropped(err as NodeJS.ErrnoException)
    }
  }

  private dropped (err: NodeJS.ErrnoException): void {
    this.lost++
    this.lastError = err.code ?? err.message
  }
}

let stdio: { stdout: SafeOutput, stderr: SafeOutput } | null = null

/** How long a key's repeats are counted instead of logged. */
export const REPEAT_WINDOW_MS = 10_000
/** Keys tracked at once; past it the oldest is forgotten (its count is logged first). */
const MAX_KEYS = 1024

interface Repeats { from: number, until: number, skipped: number, line: string }

/**
 * Lines a running server may write once per request or per write batch (a
 * full disk fails every append, a damaged entry fails every read of it):
 * the first of a key is logged, then repeats within `windowMs` are counted
 * and said in one line when the window ends, so the log never grows with
 * the request rate.
 */
export class RepeatLimiter {
  private readonly log: (line: string) => void
  private readonly windowMs: number
  private readonly now: () => number
  private readonly keys = new Map<string, Repeats>()
  private timer: NodeJS.Timeout | null = null

  constructor (log: (line: string) => void, options: { windowMs?: number, now?: () => number } = {}) {
    this.log = log
    this.windowMs = options.windowMs ?? REPEAT_WINDOW_MS
    this.now = options.now ?? Date.now
  }

  say (key: string, line: string): void {
    const t = this.now()
    const seen = this.keys.get(key)
    if (seen !== undefined && t < seen.until) {
      seen.skipped++
      seen.line = line
      this.arm()
      return
    }
    if (seen !== undefined) this.keys.delete(key)
    if (seen !== undefined && seen.skipped > 0) this.log(`${line} (and ${seen.skipped} more like it in the ${this.windowMs / 1000} s before, not logged one by one)`)
    else this.log(line)
    if (this.keys.size >= MAX_KEYS) this.forgetOldest()
    this.keys.set(key, { from: t, until: t + this.windowMs, skipped: 0, line })
  }

  /** Logs the counts still held (at shutdown, or for a test), and forgets every key. */
  flush (): void {
    const t = this.now()
    for (const r of this.keys.values()) this.summarise(r, t)
    this.keys.clear()
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private arm (): void {
    if (this.timer !== null) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.expire()
    }, this.windowMs).unref()
  }

  /** Windows that ended: their counts are logged; a key without repeats is forgotten. */
  private expire (): void {
    const t = this.now()
    let pending = false
    for (const [key, r] of this.keys) {
      if (t < r.until) {
        pending ||= r.skipped > 0
        continue
      }
      this.summarise(r, t)
      this.keys.delete(key)
    }
    if (pending) this.arm()
  }

  /** The count of `r`'s repeats, over the time since its first line (at most the window). */
  private summarise (r: Repeats, t: number): void {
    const seconds = Math.max(Math.min(t, r.until) - r.from, 0) / 1000
    if (r.skipped > 0) this.log(`${r.line} (${r.skipped} more like it in ${seconds.toFixed(1)} s, not logged one by one)`)
  }

  private forgetOldest (): void {
    const [key, r] = this.keys.entries().next().value as [string, Repeats]
    this.summarise(r, this.now())
    this.keys.delete(key)
  }
}

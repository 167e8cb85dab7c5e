/** How long a key's repeats are counted instead of logged. */
export const REPEAT_WINDOW_MS = 10_000
/** Keys tracked at once. Past it, a line of a new key is counted with the others that did not fit, not logged. */
const MAX_KEYS = 1024
/** The key of the lines counted because MAX_KEYS were tracked already. */
const OVERFLOW = '\u0000overflow'

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
    // Monotonic: a wall clock stepped back would hold a key's window open for as long.
    this.now = options.now ?? (() => performance.now())
  }

  say (key: string, line: string): void {
    const t = this.now()
    const seen = this.keys.get(key)
    if (seen !== undefined && t < seen.until) return this.count(seen, line)
    if (seen !== undefined) this.keys.delete(key)
    else if (this.tracked() >= MAX_KEYS && !this.makeRoom(t)) return this.overflow(t, line)
    if (seen !== undefined && seen.skipped > 0) this.log(`${line} (and ${seen.skipped} more like it in the ${this.windowMs / 1000} s before, not logged one by one)`)
    else this.log(line)
    this.keys.set(key, { from: t, until: t + this.windowMs, skipped: 0, line })
  }

  /** A line within `r`'s window: counted, and said when the window ends. */
  private count (r: Repeats, line: string): void {
    r.skipped++
    r.line = line
    this.arm()
  }

  private tracked (): number {
    return this.keys.size - (this.keys.has(OVERFLOW) ? 1 : 0)
  }

  /** A line of a new key while MAX_KEYS are tracked: one line says so, then such lines are counted under one key. */
  private overflow (t: number, line: string): void {
    const o = this.keys.get(OVERFLOW)
    if (o !== undefined && t < o.until) return this.count(o, line)
    if (o !== undefined) this.summarise(o, t)
    this.log(`${line} (errors of more than ${MAX_KEYS} kinds at once: the next lines of new kinds are counted, not logged, for ${this.windowMs / 1000} s)`)
    this.keys.set(OVERFLOW, { from: t, until: t + this.windowMs, skipped: 0, line })
  }

  /** Forgets keys whose window ended, saying their counts (not while lines are being counted as overflow); whether one is free now. */
  private makeRoom (t: number): boolean {
    const o = this.keys.get(OVERFLOW)
    if (o !== undefined && t < o.until) return false
    this.forgetEnded(t)
    return this.tracked() < MAX_KEYS
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

  private expire (): void {
    if (this.forgetEnded(this.now())) this.arm()
  }

  /** Keys whose window ended at `t` are forgotten, their counts logged; whether a window still open holds repeats. */
  private forgetEnded (t: number): boolean {
    let pending = false
    for (const [key, r] of this.keys) {
      if (t < r.until) {
        pending ||= r.skipped > 0
        continue
      }
      this.summarise(r, t)
      this.keys.delete(key)
    }
    return pending
  }

  /** The count of `r`'s repeats, over the time since its first line (at most the window). */
  private summarise (r: Repeats, t: number): void {
    const seconds = Math.max(Math.min(t, r.until) - r.from, 0) / 1000
    if (r.skipped === 0) return
    if (r === this.keys.get(OVERFLOW)) this.log(`${r.skipped} lines of errors of other kinds were not logged in ${seconds.toFixed(1)} s; the last: ${r.line}`)
    else this.log(`${r.line} (${r.skipped} more like it in ${seconds.toFixed(1)} s, not logged one by one)`)
  }
}

/**
 * MemoryBudget: the bytes the server holds for all its connections together
 * (`--max-buffered-bytes`, Kafka's `queued.max.request.bytes`): requests
 * decoded and not yet answered, frames being received, and answers not yet
 * taken by their socket. Each connection accounts through its own
 * ConnectionMemory, which also keeps the per-connection bound.
 *
 * The budget is soft in the way of Kafka's non-strict memory pool: while it
 * is exhausted (`used >= limit`) nothing new is admitted (decoders stop
 * reading their sockets at the next frame boundary, fetches wait before
 * reading), but what was admitted may take it over the limit by its own
 * size: one frame, one read chunk, one message.
 *
 * Waiters are woken all at once, on a later tick, when the budget drops back
 * under its limit: each checks again and takes what it needs synchronously,
 * so the first ones to run fill the budget and the rest wait again.
 */
export class MemoryBudget {
  readonly limit: number
  private used = 0
  private waiters = new Set<() => void>()
  private waking = false

  constructor (limit: number) {
    this.limit = limit
  }

  /** Bytes reserved now, across all connections. */
  get bytes (): number {
    return this.used
  }

  get exhausted (): boolean {
    return this.used >= this.limit
  }

  /** What may still be reserved before the budget is exhausted (negative when over). */
  room (): number {
    return this.limit - this.used
  }

  reserve (bytes: number): void {
    this.used += bytes
  }

  release (bytes: number): void {
    this.used -= bytes
    if (this.waiters.size > 0 && !this.exhausted && !this.waking) {
      this.waking = true
      process.nextTick(() => this.wake())
    }
  }

  /** Calls `callback` on a later tick once the budget is no longer exhausted; the returned function cancels it. */
  whenRoom (callback: () => void): () => void {
    this.waiters.add(callback)
    if (!this.exhausted && !this.waking) {
      this.waking = true
      process.nextTick(() => this.wake())
    }
    return () => { this.waiters.delete(callback) }
  }

  /** Callbacks waiting for room (for tests and diagnostics). */
  get waiting (): number {
    return this.waiters.size
  }

  private wake (): void {
    this.waking = false
    if (this.exhausted) return
    const waiters = [...this.waiters]
    this.waiters.clear()
    for (const w of waiters) w()
  }
}

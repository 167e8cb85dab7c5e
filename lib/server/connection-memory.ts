import type { MemoryBudget } from './memory-budget'

/** Most bytes one connection holds before it stops reading its socket (requests and answers together). */
export const MAX_CONNECTION_BYTES = 16 * 1024 * 1024

/**
 * ConnectionMemory: what one connection holds, counted against its own
 * bound and the server-wide MemoryBudget at once.
 *
 * - The decoder reserves a frame (its bytes, and MESSAGE_WEIGHT per message it
 *   states) while it arrives, and each command's weight (`commandWeight`)
 *   once it is decoded.
 * - The executor releases a command's weight once the command is answered,
 *   and reserves each answer's weight (its encoded bytes, plus
 *   MESSAGE_WEIGHT per fetched message) when it hands the answer on.
 * - An answer stays reserved until the socket has taken its bytes: the
 *   ledger maps the running total of answer bytes handed on to the weight
 *   each answer holds, and `written()` (the socket sink) releases every
 *   answer whose last byte the socket has taken.
 *
 * `full()` while the connection is at its own bound or the budget is
 * exhausted: its decoder then stops reading. A fetch may read while
 * `mayAnswer()`: when not full, or when none of this connection's answers
 * waits for its socket (then it reads one message at least). That escape is
 * what keeps every connection moving when requests queued everywhere fill
 * the budget: they drain only as they are answered.
 *
 * `whenRoom()` calls back, on a later tick, after this connection released
 * something or the budget has room again; the caller checks its condition
 * again. `close()` releases everything at once; later calls change nothing.
 */
export class ConnectionMemory {
  readonly limit: number
  private readonly budget: MemoryBudget
  private held = 0
  private closed = false
  /** Pairs: end of an answer in the running total of answer bytes, the weight it holds. */
  private ledger: number[] = []
  private ledgerHead = 0
  private answered = 0
  private taken = 0
  private waiters: Array<() => void> = []
  private waking = false
  private cancelBudgetWait: (() => void) | null = null

  constructor (budget: MemoryBudget, limit = MAX_CONNECTION_BYTES) {
    this.budget = budget
    this.limit = Math.min(limit, budget.limit)
  }

  /** Bytes this connection holds now. */
  get bytes (): number {
    return this.held
  }

  full (): boolean {
    return this.held >= this.limit || this.budget.exhausted
  }

  mayAnswer (): boolean {
    return !this.full() || this.ledgerHead === this.ledger.length
  }

  /** What may still be reserved before `full()` (negative when over). */
  room (): number {
    return Math.min(this.limit - this.held, this.budget.room())
  }

  reserve (bytes: number): void {
    if (this.closed) return
    this.held += bytes
    this.budget.reserve(bytes)
  }

  release (bytes: number): void {
    if (this.closed) return
    this.held -= bytes
    this.budget.release(bytes)
    if (this.waiters.length > 0) this.scheduleWake()
  }

  /**
   * An answer of `bytes` encoded bytes is handed on; it holds `weight` until
   * the socket has taken it, of which `reserved` was reserved already.
   */
  answer (bytes: number, weight: number, reserved = 0): void {
    if (this.closed) return
    if (weight > reserved) this.reserve(weight - reserved)
    else if (weight < reserved) this.release(reserved - weight)
    this.answered += bytes
    this.ledger.push(this.answered, weight)
  }

  /** The socket has taken `bytes` more answer bytes. */
  written (bytes: number): void {
    if (this.closed) return
    this.taken += bytes
    let weight = 0
    while (this.ledgerHead < this.ledger.length && this.ledger[this.ledgerHead] <= this.taken) {
      weight += this.ledger[this.ledgerHead + 1]
      this.ledgerHead += 2
    }
    if (this.ledgerHead === this.ledger.length) {
      this.ledger = []
      this.ledgerHead = 0
    }
    if (weight > 0) this.release(weight)
  }

  /** Calls `callback` on a later tick, once this connection released memory or the budget has room (never after `close()`). */
  whenRoom (callback: () => void): void {
    if (this.closed) return
    this.waiters.push(callback)
    if (!this.full()) this.scheduleWake()
    else if (this.budget.exhausted) {
      this.cancelBudgetWait ??= this.budget.whenRoom(() => {
        this.cancelBudgetWait = null
        this.wake()
      })
    }
  }

  close (): void {
    if (this.closed) return
    this.budget.release(this.held)
    this.held = 0
    this.closed = true
    this.waiters = []
    this.ledger = []
    this.cancelBudgetWait?.()
    this.cancelBudgetWait = null
  }

  private scheduleWake (): void {
    if (this.waking) return
    this.waking = true
    process.nextTick(() => {
      this.waking = false
      this.wake()
    })
  }

  private wake (): void {
    if (this.closed) return
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}

/** Upper bounds (seconds) of rog_request_duration_seconds: fixed, 50 µs to 10 s. */
export const REQUEST_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** One command's answers: counts by result, and durations per bucket (not cumulative; the last slot is past 10 s). */
export interface CommandTotals {
  ok: number
  error: number
  sum: number
  buckets: Float64Array
}

export interface LogTraffic { messagesIn: number, bytesIn: number, messagesOut: number }

/**
 * What the executors count as they answer, for /metrics and the console's
 * samples. The hot path adds to plain numbers in two small maps (one entry
 * per command name, one per log), once per answer or per run of publishes,
 * never per message; prom-client reads them at scrape time.
 */
export class RequestStats {
  private readonly commands = new Map<string, CommandTotals>()
  private readonly logs = new Map<string, LogTraffic>()

  /** `count` answers of `command` took `seconds` each; `errors` of them were errors. */
  answered (command: string, seconds: number, count: number, errors: number): void {
    let totals = this.commands.get(command)
    if (totals === undefined) {
      totals = { ok: 0, error: 0, sum: 0, buckets: new Float64Array(REQUEST_BUCKETS.length + 1) }
      this.commands.set(command, totals)
    }
    totals.ok += count - errors
    totals.error += errors
    totals.sum += seconds * count
    let b = 0
    while (b < REQUEST_BUCKETS.length && seconds > REQUEST_BUCKETS[b]) b++
    totals.buckets[b] += count
  }

  published (log: string, messages: number, bytes: number): void {
    const t = this.traffic(log)
    t.messagesIn += messages
    t.bytesIn += bytes
  }

  fetched (log: string, messages: number): void {
    this.traffic(log).messagesOut += messages
  }

  commandTotals (): ReadonlyMap<string, CommandTotals> {
    return this.commands
  }

  logTraffic (): ReadonlyMap<string, LogTraffic> {
    return this.logs
  }

  /** Forgets the counts of logs `keep` says no longer exist (their series end; counters of a log made again start at 0). */
  prune (keep: (log: string) => boolean): void {
    for (const log of this.logs.keys()) if (!keep(log)) this.logs.delete(log)
  }

  /** Messages in and out, every log together. */
  totals (): { messagesIn: number, messagesOut: number } {
    let messagesIn = 0
    let messagesOut = 0
    for (const t of this.logs.values()) {
      messagesIn += t.messagesIn
      messagesOut += t.messagesOut
    }
    return { messagesIn, messagesOut }
  }

  /** Every command's bucket counts added together (for a latency quantile of all requests). */
  allBuckets (): Float64Array {
    const all = new Float64Array(REQUEST_BUCKETS.length + 1)
    for (const t of this.commands.values()) for (let i = 0; i < all.length; i++) all[i] += t.buckets[i]
    return all
  }

  private traffic (log: string): LogTraffic {
    let t = this.logs.get(log)
    if (t === undefined) {
      t = { messagesIn: 0, bytesIn: 0, messagesOut: 0 }
      this.logs.set(log, t)
    }
    return t
  }
}

/**
 * The `q` quantile (0..1) of the observations counted in `buckets` (not
 * cumulative, as RequestStats keeps them), interpolated within its bucket as
 * Prometheus's histogram_quantile does; null without observations.
 */
export function quantile (buckets: ArrayLike<number>, q: number): number | null {
  let total = 0
  for (let i = 0; i < buckets.length; i++) total += buckets[i]
  if (total === 0) return null
  const rank = q * total
  let below = 0
  for (let i = 0; i < buckets.length; i++) {
    if (below + buckets[i] >= rank && buckets[i] > 0) {
      if (i >= REQUEST_BUCKETS.length) return REQUEST_BUCKETS[REQUEST_BUCKETS.length - 1]
      const low = i === 0 ? 0 : REQUEST_BUCKETS[i - 1]
      return low + (REQUEST_BUCKETS[i] - low) * ((rank - below) / buckets[i])
    }
    below += buckets[i]
  }
  return REQUEST_BUCKETS[REQUEST_BUCKETS.length - 1]
}

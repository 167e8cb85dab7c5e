import { performance } from 'node:perf_hooks'

export interface LatencySummary {
  samples: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/**
 * Round-trip latency of every `every`-th request, in request order: `sent(i, k)`
 * is called when requests i..i+k-1 are written, `answered(i, k)` when their
 * answers are complete. Answers arrive in request order, so the pending
 * samples form a queue.
 */
export class LatencySampler {
  private readonly every: number
  private readonly pendingIndex: number[] = []
  private readonly pendingTime: number[] = []
  private pendingHead = 0
  private values: Float64Array
  private count = 0

  constructor (every: number, expected: number) {
    this.every = Math.max(1, Math.floor(every))
    this.values = new Float64Array(Math.min(1_000_000, Math.ceil(expected / this.every) + 16))
  }

  sent (first: number, k: number): void {
    const next = Math.ceil(first / this.every) * this.every
    if (next >= first + k) return
    const now = performance.now()
    for (let i = next; i < first + k; i += this.every) {
      this.pendingIndex.push(i)
      this.pendingTime.push(now)
    }
  }

  answered (first: number, k: number): void {
    const end = first + k
    if (this.pendingHead >= this.pendingIndex.length || this.pendingIndex[this.pendingHead] >= end) return
    const now = performance.now()
    while (this.pendingHead < this.pendingIndex.length && this.pendingIndex[this.pendingHead] < end) {
      this.record(now - this.pendingTime[this.pendingHead])
      this.pendingHead++
    }
    if (this.pendingHead === this.pendingIndex.length) {
      this.pendingIndex.length = 0
      this.pendingTime.length = 0
      this.pendingHead = 0
    }
  }

  record (ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2)
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.count++] = ms
  }

  raw (): Float64Array {
    return this.values.subarray(0, this.count)
  }

  summary (): LatencySummary | null {
    return summarize(this.raw())
  }
}

export function summarize (values: Float64Array): LatencySummary | null {
  if (values.length === 0) return null
  const sorted = Float64Array.from(values).sort()
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return { samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[sorted.length - 1] }
}

/** Merges the samples of several samplers (one per connection). */
export function mergeSummaries (samplers: LatencySampler[]): LatencySummary | null {
  const parts = samplers.map((s) => s.raw())
  const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    all.set(p, at)
    at += p.length
  }
  return summarize(all)
}

import type { ClusterService } from '../replication/cluster-service'
import type { Store } from '../storage/store'
import { quantile, REQUEST_BUCKETS, type RequestStats } from './request-stats'
import { RingBuffer } from './ring-buffer'
import { servedLogs } from './served-logs'
import { groupStanding } from '../util/group-standing'

export interface Sample {
  /** When it was taken (ms since the epoch). */
  t: number
  messagesInPerSec: number
  messagesOutPerSec: number
  /** The 99th percentile of request durations since the sample before (null: no requests). */
  p99Seconds: number | null
  connections: number
  diskFreeBytes: number | null
  /** Lag in messages of each group (`log/group`), summed over the partitions served here; at most MAX_GROUPS of them. */
  lag: Record<string, number>
}

export interface SamplerSource {
  store: Store
  cluster: ClusterService | null
  connections: () => number
  diskFree: () => Promise<number>
}

export const SAMPLE_MS = 5000
/** 15 minutes of samples. */
export const SAMPLES = 180
/** Groups whose lag is kept per sample, so the ring's memory stays bounded however many groups there are. */
export const MAX_GROUPS = 100

/**
 * The console's history: every SAMPLE_MS one Sample into a ring of SAMPLES
 * (15 minutes), rates and the latency percentile taken from the difference
 * of RequestStats's totals between two samples.
 */
export class Sampler {
  private readonly ring = new RingBuffer<Sample>(SAMPLES)
  private readonly stats: RequestStats
  private readonly source: SamplerSource
  private timer: NodeJS.Timeout | null = null
  private last: { t: number, messagesIn: number, messagesOut: number, buckets: Float64Array }
  private diskFree: number | null = null

  constructor (stats: RequestStats, source: SamplerSource) {
    this.stats = stats
    this.source = source
    this.last = { t: Date.now(), ...stats.totals(), buckets: stats.allBuckets() }
  }

  start (): void {
    this.timer ??= setInterval(() => { void this.sample() }, SAMPLE_MS).unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  samples (): Sample[] {
    return this.ring.toArray()
  }

  /** Takes a sample now (the timer's work; callable on its own). */
  async sample (): Promise<Sample> {
    this.diskFree = await this.source.diskFree().catch(() => null)
    const t = Date.now()
    const totals = this.stats.totals()
    const buckets = this.stats.allBuckets()
    const seconds = Math.max(0.001, (t - this.last.t) / 1000)
    const delta = new Float64Array(REQUEST_BUCKETS.length + 1)
    for (let i = 0; i < delta.length; i++) delta[i] = buckets[i] - this.last.buckets[i]
    const sample: Sample = {
      t,
      messagesInPerSec: Math.max(0, totals.messagesIn - this.last.messagesIn) / seconds,
      messagesOutPerSec: Math.max(0, totals.messagesOut - this.last.messagesOut) / seconds,
      p99Seconds: quantile(delta, 0.99),
      connections: this.source.connections(),
      diskFreeBytes: this.diskFree,
      lag: this.groupLag()
    }
    this.last = { t, ...totals, buckets }
    this.ring.push(sample)
    return sample
  }

  private groupLag (): Record<string, number> {
    const lag: Record<string, number> = {}
    let groups = 0
    const { store, cluster } = this.source
    for (const { log, partitions, groups: names } of servedLogs(store, cluster)) {
      for (const group of names) {
        if (groups >= MAX_GROUPS) break
        groups++
        // GroupOffsets.get is 0 where the group has committed nothing: counted from the start.
        lag[`${log}/${group}`] = partitions.reduce((sum, { p }) => sum + groupStanding(p.firstOffset, p.highWatermark(), p.groups.get(group)).lag, 0)
      }
    }
    return lag
  }
}

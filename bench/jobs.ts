import type { LatencySummary } from './latency'

/**
 * Work the runner hands to a driver process (bench/driver.ts) over IPC, and
 * what comes back. Every job is bounded by a message count and a time limit.
 */
export interface PublishJob {
  kind: 'publish'
  port: number
  log: string
  /** Messages per request: 1 sends the reference publish (command 1), more send one publish-batch (command 5). */
  batch: number
  /** With `batch` 1, the answer asked for: ok sends the reference publish (command 1), offset sends command 4. Default ok. */
  reply?: 'ok' | 'offset'
  /**
   * When set, every `commitEvery`-th request of a connection is a commit
   * (command 7) of its own group on the same partition, at one past the
   * highest offset its publishes were answered with; needs `reply` offset.
   */
  commitEvery?: number
  /** Create the log with command 11 and this size limit (bytes per partition). */
  retentionBytes?: number
  connections: number
  /** Requests in flight per connection. */
  window: number
  /**
   * burst: send `window` requests, wait for all their answers, send the next
   * `window` (what redis-benchmark -P does); sliding: top up to `window` as
   * answers arrive.
   */
  refill: 'burst' | 'sliding'
  messages: number
  timeLimitMs: number
  payloadBytes: number
}

export interface DrainJob {
  kind: 'drain'
  port: number
  log: string
  group: string
  /** reference: fetch (2) then ack (3), one message per two round trips; batch: fetch-batch (6) then commit (7). */
  mode: 'reference' | 'batch'
  batch: number
  messages: number
  timeLimitMs: number
}

export interface RedisDrainJob {
  kind: 'redis-drain'
  port: number
  key: string
  group: string
  batch: number
  messages: number
  timeLimitMs: number
  payloadBytes: number
}

/** The cluster client's idempotent producer (ClusterClient.producer) publishing to partition 0 of an existing log, through its leader. */
export interface ProduceJob {
  kind: 'produce'
  /** Every node, host:port,host:port,... (the client learns the rest). */
  addresses: string
  log: string
  batchMessages: number
  maxInFlight: number
  messages: number
  timeLimitMs: number
  payloadBytes: number
}

export type Job = PublishJob | DrainJob | RedisDrainJob | ProduceJob

export interface LoadResult {
  messages: number
  /** Every request answered, commits included. */
  requests: number
  seconds: number
  latency: LatencySummary | null
  /** The time limit ended the run before the count was reached. */
  capped: boolean
  errors: number
  firstError: string | null
}

export type DriverReply = { ok: true, result: LoadResult } | { ok: false, error: string }

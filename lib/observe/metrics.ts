import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import type { ClusterInfo, PartitionPlacement } from '../protocol/commands'
import type { ClusterService } from '../replication/cluster-service'
import type { Store } from '../storage/store'
import { DEFAULT_MAX_SERIES } from './defaults'
import { EventLoopDelay } from './event-loop-delay'
import { GroupLag } from './group-lag'
import { REQUEST_BUCKETS, type RequestStats } from './request-stats'
import { servedLogs } from './served-logs'

/** What a scrape reads, once the server is up (before: process metrics and fsyncs only). */
export interface MetricsSource {
  store: Store
  cluster: ClusterService | null
  connections: () => number
  diskFree: () => Promise<number>
}

export const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Partitions looked at between turns of the event loop during a scrape. */
const PARTITIONS_PER_TURN = 256
/** A day: the tick of prom-client's own event-loop histogram, which nothing reads (see the constructor). */
const UNREAD_HISTOGRAM_MS = 24 * 3600 * 1000

type Warn = (line: string) => void

/**
 * The Prometheus metrics of a server (prom-client, its own registry).
 * Traffic and request counters are read from RequestStats at scrape time;
 * partition, group and lag gauges are computed at scrape time from the
 * store (a partition per log is counted on the node that leads it).
 *
 * Series per partition and per group are labelled with them while their
 * number stays within `maxSeries`; past it every such family has one series
 * per log (offsets, bytes and message lag summed over its partitions and
 * groups, lag in seconds the largest), and a warning is logged once.
 */
export class RogMetrics {
  readonly registry = new Registry()
  private readonly stats: RequestStats
  private readonly maxSeries: number
  private readonly warn: Warn
  private readonly lag = new GroupLag()
  private source: MetricsSource | null = null
  private warnedSeries = false
  private refreshing: Promise<void> | null = null
  private readonly eventLoop: EventLoopDelay
  private readonly fsync: Histogram
  private readonly messagesIn: Counter<'log'>
  private readonly bytesIn: Counter<'log'>
  private readonly messagesOut: Counter<'log'>
  private readonly requests: Counter<'command' | 'result'>
  private readonly endOffset: Gauge<'log' | 'partition'>
  private readonly firstOffset: Gauge<'log' | 'partition'>
  private readonly partitionBytes: Gauge<'log' | 'partition'>
  private readonly committed: Gauge<'log' | 'partition' | 'group'>
  private readonly lagMessages: Gauge<'log' | 'partition' | 'group'>
  private readonly lagSeconds: Gauge<'log' | 'partition' | 'group'>
  private readonly connections: Gauge
  private readonly longPolls: Gauge
  private readonly disk: Gauge
  private cluster: { underReplicated: Gauge, offline: Gauge, controller: Gauge } | null = null

  constructor (stats: RequestStats, options: { maxSeries?: number, warn: Warn }) {
    this.stats = stats
    this.maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES
    this.warn = options.warn
    const registers = [this.registry]
    // collectDefaultMetrics always starts an event-loop histogram, and reports it empty (a NaN mean, a minimum of
    // 2^63 ns) to a scrape that comes sooner than one of its ticks after the last: EventLoopDelay replaces its
    // summary series, and its own histogram, read by nothing, ticks once a day.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: UNREAD_HISTOGRAM_MS })
    this.eventLoop = new EventLoopDelay(this.registry)
    this.fsync = new Histogram({ name: 'rog_fsync_duration_seconds', help: 'Time each fsync of data files (and of directories holding new ones) took', buckets: FSYNC_BUCKETS, registers })
    this.messagesIn = new Counter({ name: 'rog_messages_in_total', help: 'Messages published and stored, by log', labelNames: ['log'], registers })
    this.bytesIn = new Counter({ name: 'rog_bytes_in_total', help: 'Bytes of messages published and stored, by log', labelNames: ['log'], registers })
    this.messagesOut = new Counter({ name: 'rog_messages_out_total', help: 'Messages sent to consumers (fetch and fetch-batch), by log', labelNames: ['log'], registers })
    this.requests = new Counter({ name: 'rog_requests_total', help: 'Requests answered, by command and result (ok or error)', labelNames: ['command', 'result'], registers })
    this.registry.registerMetric(new RequestDurations(stats) as unknown as Metric)
    this.endOffset = new Gauge({ name: 'rog_partition_end_offset', help: 'One past the last readable offset (the high watermark)', labelNames: ['log', 'partition'], registers })
    this.firstOffset = new Gauge({ name: 'rog_partition_first_offset', help: 'The first offset still held (retention deletes below it)', labelNames: ['log', 'partition'], registers })
    this.partitionBytes = new Gauge({ name: 'rog_partition_bytes', help: 'Bytes of the partition\'s segment files', labelNames: ['log', 'partition'], registers })
    this.committed = new Gauge({ name: 'rog_group_committed_offset', help: 'The group\'s committed offset (the next it reads)', labelNames: ['log', 'partition', 'group'], registers })
    this.lagMessages = new Gauge({ name: 'rog_group_lag_messages', help: 'Messages the group has still to read: end offset minus committed offset, or minus the first offset where retention deleted past the committed one', labelNames: ['log', 'partition', 'group'], registers })
    this.lagSeconds = new Gauge({ name: 'rog_group_lag_seconds', help: 'Age of the oldest message the group has not read, from its stored timestamp (0 when caught up)', labelNames: ['log', 'partition', 'group'], registers })
    this.connections = new Gauge({ name: 'rog_connections', help: 'Open client connections', registers })
    this.longPolls = new Gauge({ name: 'rog_long_polls_waiting', help: 'Fetches waiting for messages to arrive', registers })
    this.disk = new Gauge({ name: 'rog_disk_free_bytes', help: 'Free bytes on the file system of the data directory', registers })
  }

  /** Times one fsync. */
  readonly fsynced = (seconds: number): void => this.fsync.observe(seconds)

  /** The server is up: its store, connections and cluster are read from now on. */
  attach (source: MetricsSource): void {
    this.source = source
    if (source.cluster !== null && this.cluster === null) {
      const registers = [this.registry]
      this.cluster = {
        underReplicated: new Gauge({ name: 'rog_under_replicated_partitions', help: 'Partitions this node leads with fewer in-sync replicas than replicas', registers }),
        offline: new Gauge({ name: 'rog_offline_partitions', help: 'Partitions without a live leader, as this node sees the cluster', registers }),
        controller: new Gauge({ name: 'rog_is_controller', help: '1 on the cluster\'s controller, else 0', registers })
      }
    }
  }

  /** The Prometheus text of every metric, computed now. */
  async text (): Promise<string> {
    this.refreshing ??= this.refresh().finally(() => { this.refreshing = null })
    await this.refreshing
    return await this.registry.metrics()
  }

  get contentType (): string {
    return this.registry.contentType
  }

  /** Stops measuring the event loop. */
  close (): void {
    this.eventLoop.close()
  }

  private async refresh (): Promise<void> {
    this.eventLoop.sample()
    this.counters()
    const source = this.source
    if (source === null) return
    this.connections.set(source.connections())
    this.disk.set(await source.diskFree().catch(() => Number.NaN))
    const partitions = servedLogs(source.store, source.cluster).flatMap(({ log, partitions, groups }) => partitions.map(({ partition, p }) => ({ log, partition, p, groups })))
    let series = 0
    for (const { groups } of partitions) series += 3 + 3 * groups.size
    const aggregate = series > this.maxSeries
    if (aggregate && !this.warnedSeries) {
      this.warnedSeries = true
      this.warn(`metrics: ${series} partition and group series exceed --metrics-max-series ${this.maxSeries}; reporting them per log from now on`)
    }
    for (const g of [this.endOffset, this.firstOffset, this.partitionBytes, this.committed, this.lagMessages, this.lagSeconds]) g.reset()
    const now = Date.now()
    const perLog = new Map<string, { end: number, first: number, bytes: number, committed: number, lag: number, seconds: number }>()
    let waiting = 0
    for (let i = 0; i < partitions.length; i++) {
      if (i > 0 && i % PARTITIONS_PER_TURN === 0) await yieldToLoop()
      const { log, partition, p, groups: names } = partitions[i]
      waiting += p.waiting
      const end = p.highWatermark()
      const groups = await this.lag.of(p, now, names)
      if (aggregate) {
        let sum = perLog.get(log)
        if (sum === undefined) perLog.set(log, sum = { end: 0, first: 0, bytes: 0, committed: 0, lag: 0, seconds: 0 })
        sum.end += end
        sum.first += p.firstOffset
        sum.bytes += p.sizeBytes
        for (const g of groups) {
          sum.committed += g.committedOffset ?? 0
          sum.lag += g.lagMessages
          sum.seconds = Math.max(sum.seconds, g.lagSeconds ?? 0)
        }
        continue
      }
      const labels = { log, partition: String(partition) }
      this.endOffset.set(labels, end)
      this.firstOffset.set(labels, p.firstOffset)
      this.partitionBytes.set(labels, p.sizeBytes)
      for (const g of groups) {
        const gl = { ...labels, group: g.group }
        if (g.committedOffset !== null) this.committed.set(gl, g.committedOffset)
        this.lagMessages.set(gl, g.lagMessages)
        if (g.lagSeconds !== null) this.lagSeconds.set(gl, g.lagSeconds)
      }
    }
    for (const [log, sum] of perLog) {
      this.endOffset.set({ log }, sum.end)
      this.firstOffset.set({ log }, sum.first)
      this.partitionBytes.set({ log }, sum.bytes)
      this.committed.set({ log }, sum.committed)
      this.lagMessages.set({ log }, sum.lag)
      this.lagSeconds.set({ log }, sum.seconds)
    }
    this.longPolls.set(waiting)
    if (this.cluster !== null && source.cluster !== null) this.clusterGauges(source.store, source.cluster, this.cluster)
  }

  private counters (): void {
    const store = this.source?.store
    if (store !== undefined) this.stats.prune((log) => store.has(log))
    for (const c of [this.messagesIn, this.bytesIn, this.messagesOut, this.requests]) c.reset()
    for (const [log, t] of this.stats.logTraffic()) {
      this.messagesIn.inc({ log }, t.messagesIn)
      this.bytesIn.inc({ log }, t.bytesIn)
      this.messagesOut.inc({ log }, t.messagesOut)
    }
    for (const [command, t] of this.stats.commandTotals()) {
      this.requests.inc({ command, result: 'ok' }, t.ok)
      this.requests.inc({ command, result: 'error' }, t.error)
    }
  }

  /** The partitions this node answers for: all on a single node, those it leads in a cluster. */
  private clusterGauges (store: Store, cluster: ClusterService, gauges: NonNullable<RogMetrics['cluster']>): void {
    const info = jsonBody<ClusterInfo>(cluster.clusterInfo())
    if (info === null) return
    const alive = new Set(info.nodes.filter((n) => n.alive).map((n) => n.id))
    let underReplicated = 0
    let offline = 0
    for (const { log } of store.listLogs()) {
      const placement = jsonBody<{ partitions: PartitionPlacement[] }>(cluster.logPlacement(log))
      for (const p of placement?.partitions ?? []) {
        if (p.leader < 0 || !alive.has(p.leader)) offline++
        else if (p.leader === info.node && p.isr.length < p.replicas.length) underReplicated++
      }
    }
    gauges.underReplicated.set(underReplicated)
    gauges.offline.set(offline)
    gauges.controller.set(info.controller !== null && info.controller === info.node ? 1 : 0)
  }
}

function jsonBody<T> (r: { response: string, body?: Buffer }): T | null {
  if (r.response !== 'json' || r.body === undefined) return null
  return JSON.parse(r.body.toString()) as T
}

/**
 * rog_request_duration_seconds, read from RequestStats's per-command bucket
 * counts at scrape time: a prom-client Histogram would hash its labels on
 * every observation, and a run of publishes answered together is one
 * observation of many here.
 */
class RequestDurations {
  readonly name = 'rog_request_duration_seconds'
  readonly help = 'Time from a request starting to run to its answer being ready, by command'
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly stats: RequestStats

  constructor (stats: RequestStats) {
    this.stats = stats
  }

  async get (): Promise<{ name: string, help: string, type: string, aggregator: string, values: Array<{ metricName: string, labels: Record<string, string | number>, value: number }> }> {
    const values: Array<{ metricName: string, labels: Record<string, string | number>, value: number }> = []
    for (const [command, t] of this.stats.commandTotals()) {
      let cumulative = 0
      for (let i = 0; i < REQUEST_BUCKETS.length; i++) {
        cumulative += t.buckets[i]
        values.push({ metricName: `${this.name}_bucket`, labels: { le: REQUEST_BUCKETS[i], command }, value: cumulative })
      }
      cumulative += t.buckets[REQUEST_BUCKETS.length]
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', command }, value: cumulative })
      values.push({ metricName: `${this.name}_sum`, labels: { command }, value: t.sum })
      values.push({ metricName: `${this.name}_count`, labels: { command }, value: cumulative })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset (): void {}
}

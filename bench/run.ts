import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { Command, InvalidArgumentError } from 'commander'
import { connect as connectClient } from '../lib/client/client'
import { cliFollow, cliMissing, cliPublish, writeLinesFile } from './cli-scenario'
import { emptyFiles } from './empty-files'
import { ClusterSide } from './cluster-side'
import { DirSampler, dirSize } from './disk-usage'
import type { PublishJob } from './jobs'
import { cpuSeconds, PeakRss, runDriver, startRogServer, stopAll, stopProcess, track, type Server } from './processes'
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile-summary'
import { RedisSide, persistenceLabel, type Persistence, type RedisLoad } from './redis-side'
import { ensureRedis } from './redis-tools'
import { formatTable, measured, type Baseline, type DiskFigures, type IsrFigures, type Measured, type Row } from './report'
import { ensureLog } from './rog-publish'
import { DEFAULT_SEGMENT_BYTES } from '../lib/storage/store'

/**
 * `npm run bench`: starts a real `rog server` per --fsync mode on a temporary
 * data directory, drives it from a forked driver process (bench/driver.ts),
 * follows each row at once with the matching Redis Streams load when Redis is
 * available, and prints one table (and writes it as JSON with --json).
 */

const PAYLOAD_BYTES = 100
/** The bench's servers run with the server's default segment size, stated on their command line. */
const SEGMENT_BYTES = DEFAULT_SEGMENT_BYTES
/** Scenario 9 and its baseline run on a server of their own with 1 MiB segments, so that retention deletes one every few milliseconds. */
const RETENTION_SEGMENT_BYTES = 1024 * 1024
/** Scenario 9's log: retention.bytes of 8 MiB, i.e. 8 of its segments. */
const RETENTION_BYTES = 8 * 1024 * 1024
/** Scenario 9's partition directory is sampled this often during its row. */
const DISK_SAMPLE_MS = 10
type Fsync = 'never' | 'interval' | 'always'
const MODES: Fsync[] = ['never', 'interval', 'always']
/** Scenario 10's cluster: issue 12's settings. */
const CLUSTER_MIN_INSYNC = 2
const CLUSTER_SESSION_TTL_MS = 2000
/** Scenario 10's target: a cluster row's msg/s over its single-node row's. */
const CLUSTER_MIN_RATIO = 1 / 3

interface Flags {
  json?: string
  quick: boolean
  scale: number
  scenarios: string
  redis: boolean
  profile?: string
  keep: boolean
}

interface PublishSpec {
  scenario: '1' | '2' | '3' | '4' | '8' | '9'
  key: string
  name: string
  connections: number
  window: number
  batch: number
  refill: PublishJob['refill']
  /** ok: reference publish (command 1); offset: command 4. */
  reply: 'ok' | 'offset'
  /** Every n-th request of a connection is a commit (command 7); 0: none. */
  commitEvery: number
  retentionBytes: number | null
  messages: number
  timeLimitMs: number
  /** Followed by its Redis XADD load. */
  redis: boolean
  /**
   * 0: one Rog load, then its Redis load. n: after two uncounted Rog warm-up
   * trials (two connections, one after the other), n pairs of a Rog and a Redis trial of 1/n of the count
   * each, on the same two servers, the one run first alternating; each side
   * sums its trials.
   */
  redisPairs: number
  /** The row of the same fsync mode this one is compared with: its key without the mode, and how the table names it. */
  baseline: { key: string, label: string, unit: Baseline['unit'] } | null
  /** The partition directory's size: sampled during the row, or measured once after it. */
  disk: 'sample' | 'after' | null
}

/**
 * Row 2 (64 in flight) against Redis: a tie, read from one Rog load and the
 * Redis load after it, moved with this machine's drift between the two
 * (Redis alone read 446k to 686k msg/s in three full runs of one day), so
 * its verdict did. Alternated in pairs, both sides see the same drift.
 */
const ROW2_PAIRS = 4

/** In the order a server runs them: 9 right after its baseline 3, and 8 last, so that its larger heap does not weigh on the RSS of the rows after it. */
function publishSpecs (scale: number): PublishSpec[] {
  const n = (count: number): number => Math.max(1000, Math.round(count * scale))
  const base = { reply: 'ok' as const, commitEvery: 0, retentionBytes: null, redis: true, redisPairs: 0, baseline: null, disk: null }
  return [
    { ...base, scenario: '1', key: 's1', name: 'publish, one at a time, 1 conn', connections: 1, window: 1, batch: 1, refill: 'burst', messages: n(50_000), timeLimitMs: 5000 },
    { ...base, scenario: '2', key: 's2-64', name: 'publish pipelined, 1 conn, 64 in flight', connections: 1, window: 64, batch: 1, refill: 'burst', messages: n(2_000_000), timeLimitMs: 10_000, redisPairs: ROW2_PAIRS },
    { ...base, scenario: '2', key: 's2-1000', name: 'publish pipelined, 1 conn, 1000 in flight', connections: 1, window: 1000, batch: 1, refill: 'burst', messages: n(2_000_000), timeLimitMs: 10_000 },
    { ...base, scenario: '3', key: 's3', name: 'publish pipelined, 50 conns x 64 in flight', connections: 50, window: 64, batch: 1, refill: 'burst', messages: n(2_000_000), timeLimitMs: 10_000, disk: 'after' },
    { ...base, scenario: '9', key: 's9-base', name: `50 conns x 64 in flight, ${RETENTION_SEGMENT_BYTES / 1024 / 1024} MiB segments, no retention`, connections: 50, window: 64, batch: 1, refill: 'burst', messages: n(2_000_000), timeLimitMs: 10_000, redis: false },
    {
      ...base,
      scenario: '9',
      key: 's9',
      name: `50 conns x 64 in flight, ${RETENTION_SEGMENT_BYTES / 1024 / 1024} MiB segments, log with --retention-bytes ${RETENTION_BYTES / 1024 / 1024} MiB`,
      connections: 50,
      window: 64,
      batch: 1,
      refill: 'burst',
      retentionBytes: RETENTION_BYTES,
      messages: n(2_000_000),
      timeLimitMs: 10_000,
      redis: false,
      baseline: { key: 's9-base', label: '9 without retention', unit: 'msg/s' },
      disk: 'sample'
    },
    { ...base, scenario: '4', key: 's4', name: 'publish-batch of 1000, 1 conn, 1 in flight', connections: 1, window: 1, batch: 1000, refill: 'burst', messages: n(5_000_000), timeLimitMs: 10_000 },
    { ...base, scenario: '8', key: 's8-publish', name: 'publish (cmd 4), 4 conns x 64 sliding', connections: 4, window: 64, batch: 1, refill: 'sliding', reply: 'offset', messages: n(2_000_000), timeLimitMs: 10_000, redis: false },
    {
      ...base,
      scenario: '8',
      key: 's8-mixed',
      name: 'publish (cmd 4) + every 8th a commit (cmd 7), 4 x 64 sliding',
      connections: 4,
      window: 64,
      batch: 1,
      refill: 'sliding',
      reply: 'offset',
      commitEvery: 8,
      messages: n(2_000_000),
      timeLimitMs: 10_000,
      redis: false,
      baseline: { key: 's8-publish', label: '8 publish only', unit: 'req/s' }
    }
  ]
}

/**
 * Scenario 10: a 3-node cluster (a log at replication factor 3,
 * --min-insync-replicas 2) under the load of a single-node scenario (`base`),
 * published to the partition's leader, or to a follower that forwards it
 * (reference publishes: commands 0-3 are forwarded), or through the cluster
 * client's idempotent producer (`client`: batches of 1000, 8 in flight, to
 * the leader it finds).
 */
interface ClusterSpec {
  key: string
  name: string
  base: 's3' | 's4'
  via: 'leader' | 'follower' | 'client'
  modes: Fsync[]
}

const CLUSTER_SPECS: ClusterSpec[] = [
  { key: 's10-batch', name: '3 nodes, RF 3: publish-batch of 1000 to the leader, 1 conn, 1 in flight', base: 's4', via: 'leader', modes: MODES },
  { key: 's10-producer', name: '3 nodes, RF 3: cluster client producer, idempotent batches of 1000, 8 in flight', base: 's4', via: 'client', modes: MODES },
  { key: 's10-pipe', name: '3 nodes, RF 3: 50 conns x 64 in flight to the leader', base: 's3', via: 'leader', modes: MODES },
  { key: 's10-forward', name: '3 nodes, RF 3: 50 conns x 64 in flight to a follower (forwarded)', base: 's3', via: 'follower', modes: ['never'] }
]

/**
 * Which fsync modes run a publish scenario: 2-4 under every mode with
 * scenario 7, else the mode its target names; 9 (retention, on a server of
 * its own) under always, or every mode with 7,
 * 8 (mixed commits) under interval; 3 and 4 under every mode with scenario
 * 10, whose cluster rows are read against them.
 */
function modesFor (scenario: string, selected: Set<string>): Fsync[] {
  const all = selected.has('7')
  const cluster = selected.has('10')
  switch (scenario) {
    case '1': return all ? ['never', 'always'] : ['never']
    case '2': return all ? MODES : ['never']
    case '4': return all || cluster ? MODES : ['never']
    case '3': return all || cluster ? MODES : ['always']
    case '9': return all ? MODES : ['always']
    case '5': return ['never']
    case '6': return ['always']
    case '8': return ['interval']
    default: return []
  }
}

/** A spec runs when its scenario is selected; 3 and 4 also run as the baselines of 10. */
function specSelected (spec: PublishSpec, selected: Set<string>): boolean {
  return selected.has(spec.scenario) || (['3', '4'].includes(spec.scenario) && selected.has('10'))
}

function redisPersistence (mode: Fsync): Persistence {
  return mode === 'never' ? 'none' : 'aof'
}

const log = (line: string): void => { process.stderr.write(`${line}\n`) }

function summary (m: Measured): string {
  const lat = m.p50Ms === null ? '' : `, p50 ${m.p50Ms.toFixed(2)} ms, p99 ${(m.p99Ms ?? 0).toFixed(2)} ms`
  const rss = m.serverRssMb === null ? '' : `, RSS ${m.serverRssMb.toFixed(0)} MB`
  return `${Math.round(m.messagesPerSec).toLocaleString('en-US')} msg/s (${m.messages.toLocaleString('en-US')} in ${m.seconds.toFixed(2)} s${m.capped ? ', time limit' : ''})${lat}${rss}`
}

function diskSummary (d: DiskFigures): string {
  const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(2)} MiB (${b.toLocaleString('en-US')} bytes)`
  const how = d.intervalMs === null ? 'after the row' : `peak of ${d.samples} samples, every ${d.intervalMs} ms`
  return `${mib(d.peakAllocatedBytes)} allocated, ${mib(d.peakApparentBytes)} in file sizes, ${mib(d.peakSegmentBytes)} in segment files (${how})`
}

/** The log's first and end offset and its bytes, as describe-log (command 15) reports them. */
async function describeRetention (port: number, logName: string): Promise<string> {
  const client = await connectClient({ host: '127.0.0.1', port }, { requestTimeoutMs: 10_000 })
  try {
    const d = await client.describeLog(logName)
    const p = d.partitions[0]
    return `describe-log: retention ${d.retentionBytes ?? 'none'} bytes, first offset ${p.firstOffset.toLocaleString('en-US')}, ` +
      `end offset ${p.endOffset.toLocaleString('en-US')}, ${p.bytes.toLocaleString('en-US')} bytes`
  } finally {
    await client.close()
  }
}

interface Context {
  server: Server
  /** The server's --data-dir. */
  dataDir: string
  mode: Fsync
  rows: Row[]
  redis: RedisSide | null
  redisMissing: string | null
}

/** Runs the Redis counterpart of `row` right after it, and sets the ratio. */
async function compare (ctx: Context, row: Row, load: RedisLoad): Promise<void> {
  row.redisLabel = load.label
  if (ctx.redis === null) {
    row.redisSkipped = ctx.redisMissing
    return
  }
  try {
    row.redis = await ctx.redis.measure(load)
    log(`    vs ${load.label}: ${summary(row.redis)}`)
    if (row.rog !== null && row.redis.messagesPerSec > 0) row.ratio = row.rog.messagesPerSec / row.redis.messagesPerSec
  } catch (err) {
    row.redisSkipped = `failed: ${err instanceof Error ? err.message : String(err)}`
    log(`    vs ${load.label}: ${row.redisSkipped}`)
  }
}

function newRow (scenario: string, key: string, name: string, fsync: string | null): Row {
  return { scenario, key, name, fsync, rog: null, skipped: null, redisLabel: null, redis: null, redisSkipped: null, ratio: null, baseline: null, disk: null, isr: null }
}

/** Runs `body` for `row`; a failure marks the row as failed and the bench goes on. */
async function attempt (row: Row, body: () => Promise<void>): Promise<void> {
  try {
    await body()
    if (row.rog !== null) log(`  ${row.scenario} ${row.name} [${row.fsync ?? '-'}]: ${summary(row.rog)}`)
  } catch (err) {
    row.skipped = `failed: ${err instanceof Error ? err.message : String(err)}`
    log(`  ${row.scenario} ${row.name} [${row.fsync ?? '-'}]: ${row.skipped}`)
  }
}

/** The peak RSS of `pid`, or the largest of the peaks of several processes. */
async function measureWithRss<T> (pid: number | number[], body: () => Promise<T>): Promise<{ value: T, rssMb: number }> {
  const rss = (Array.isArray(pid) ? pid : [pid]).map((p) => new PeakRss(p))
  const peak = (): number => Math.max(...rss.map((r) => r.stop()))
  for (const r of rss) r.start()
  try {
    const value = await body()
    return { value, rssMb: peak() }
  } finally {
    peak()
  }
}

/** Sets `row.baseline` to its rate over the row `key` of the same run (counted in `unit`), and logs it. */
function setBaseline (rows: Row[], row: Row, key: string, label: string, unit: Baseline['unit']): void {
  const other = rows.find((r) => r.key === key)
  const rate = (m: Measured | null | undefined): number => m == null ? 0 : rateIn(m, unit)
  if (row.rog === null || rate(other?.rog) <= 0) return
  row.baseline = { key, label, ratio: rate(row.rog) / rate(other?.rog), unit }
  log(`    vs ${row.baseline.label}: ${row.baseline.ratio.toFixed(2)}x ${row.baseline.unit}`)
}

function rateIn (m: Measured, unit: Baseline['unit']): number {
  return unit === 'req/s' ? m.requestsPerSec : m.messagesPerSec
}

/** Each trial's rate in `unit`, for a log line. */
function trialRates (all: Measured[], unit: Baseline['unit']): string {
  return `${all.map((m) => Math.round(rateIn(m, unit)).toLocaleString('en-US')).join(', ')} ${unit}`
}

/** The ratio of each of `a`'s trials over the one of `b` it was paired with, in `unit`, for a log line. */
function pairRatios (a: Measured[], b: Measured[], unit: Baseline['unit']): string {
  return a.flatMap((m, i) => i < b.length ? [`${(rateIn(m, unit) / rateIn(b[i], unit)).toFixed(2)}x`] : []).join(', ')
}

/** Runs `spec`'s publish load against `port` from a driver process; RSS is the peak of `pid` (the largest of several). */
async function measurePublish (spec: PublishSpec, pid: number | number[], port: number, logName: string, name: string): Promise<Measured> {
  const { value: r, rssMb } = await measureWithRss(pid, async () => await runDriver({
    kind: 'publish',
    port,
    log: logName,
    batch: spec.batch,
    reply: spec.reply,
    ...(spec.commitEvery > 0 ? { commitEvery: spec.commitEvery } : {}),
    ...(spec.retentionBytes === null ? {} : { retentionBytes: spec.retentionBytes }),
    connections: spec.connections,
    window: spec.window,
    refill: spec.refill,
    messages: spec.messages,
    timeLimitMs: spec.timeLimitMs,
    payloadBytes: PAYLOAD_BYTES
  }, spec.timeLimitMs + 120_000))
  if (r.errors > 0) log(`  ${name}: ${r.errors} error answers, first: ${r.firstError ?? ''}`)
  return measured(r.messages, r.seconds, PAYLOAD_BYTES, r.latency, rssMb, r.capped, r.errors, r.requests)
}

/** `spec`'s message count and time limit through the cluster client's producer (batches of `spec.batch`). */
async function measureProduce (spec: PublishSpec, pid: number[], addresses: string, logName: string, name: string): Promise<Measured> {
  const { value: r, rssMb } = await measureWithRss(pid, async () => await runDriver({
    kind: 'produce',
    addresses,
    log: logName,
    batchMessages: spec.batch,
    maxInFlight: 8,
    messages: spec.messages,
    timeLimitMs: spec.timeLimitMs,
    payloadBytes: PAYLOAD_BYTES
  }, spec.timeLimitMs + 120_000))
  if (r.errors > 0) log(`  ${name}: failed: ${r.firstError ?? ''}`)
  return measured(r.messages, r.seconds, PAYLOAD_BYTES, r.latency, rssMb, r.capped, r.errors, r.requests)
}

/** Scenario 9 and its baseline, on a server of their own with RETENTION_SEGMENT_BYTES segments. */
async function retentionRows (tmp: string, rows: Row[], mode: Fsync, specs: PublishSpec[], redis: RedisSide | null, redisMissing: string | null): Promise<void> {
  const dataDir = path.join(tmp, `rog-retention-${mode}`)
  const server = await startRogServer({ dataDir, fsync: mode, segmentBytes: RETENTION_SEGMENT_BYTES })
  log(`rog server --fsync ${mode} --segment-bytes ${RETENTION_SEGMENT_BYTES} (pid ${server.pid}, port ${server.port}):`)
  try {
    for (const spec of specs) await publishRow({ server, dataDir, mode, rows, redis, redisMissing }, spec)
  } finally {
    await stopProcess(server.child, 60_000)
    emptyFiles(dataDir)
  }
}

async function publishRow (ctx: Context, spec: PublishSpec): Promise<void> {
  const { server, mode } = ctx
  const row = newRow(spec.scenario, `${spec.key}-${mode}`, spec.name, mode)
  ctx.rows.push(row)
  const logName = `${spec.key}-${mode}`
  const partitionDir = path.join(ctx.dataDir, logName, '0')
  if (spec.redisPairs > 0 && spec.redis && ctx.redis !== null) return await alternatingRedisRow(ctx, spec, row, logName, ctx.redis)
  await attempt(row, async () => {
    // Bounded: at most the row's time limit and half a minute of samples, and stopped when the row ends.
    const sampler = spec.disk === 'sample' ? new DirSampler(partitionDir, DISK_SAMPLE_MS, Math.ceil((spec.timeLimitMs + 30_000) / DISK_SAMPLE_MS)) : null
    sampler?.start()
    try {
      row.rog = await measurePublish(spec, server.pid, server.port, logName, spec.name)
    } finally {
      const peak = sampler?.stop()
      if (peak !== undefined) {
        row.disk = { peakAllocatedBytes: peak.peakAllocated, peakApparentBytes: peak.peakApparent, peakSegmentBytes: peak.peakSegments, samples: peak.samples, intervalMs: peak.intervalMs, retentionBytes: spec.retentionBytes }
      } else if (spec.disk === 'after') {
        const size = dirSize(partitionDir)
        row.disk = { peakAllocatedBytes: size.allocated, peakApparentBytes: size.apparent, peakSegmentBytes: size.segments, samples: 1, intervalMs: null, retentionBytes: spec.retentionBytes }
      }
    }
  })
  if (row.disk !== null) log(`    partition directory: ${diskSummary(row.disk)}`)
  if (spec.retentionBytes !== null && row.rog !== null) {
    try {
      log(`    after the row: ${await describeRetention(server.port, logName)}`)
    } catch (err) {
      log(`    after the row: describe-log failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  if (spec.baseline !== null) setBaseline(ctx.rows, row, `${spec.baseline.key}-${mode}`, `${spec.baseline.label} [${mode}]`, spec.baseline.unit)
  if (!spec.redis) return
  await compare(ctx, row, xaddLoad(spec, mode, spec.messages))
}

/** `spec`'s Redis counterpart: redis-benchmark XADD with its connections and burst, `messages` in all. */
function xaddLoad (spec: PublishSpec, mode: Fsync, messages: number): RedisLoad {
  const persistence = redisPersistence(mode)
  const pipeline = spec.batch * spec.window
  return { persistence, label: `XADD -c ${spec.connections} -P ${pipeline}, ${persistenceLabel(persistence)}`, kind: 'xadd', clients: spec.connections, pipeline, messages }
}

/** A publish row and its Redis load in `spec.redisPairs` alternating pairs of trials (PublishSpec.redisPairs); each trial on a new log. */
async function alternatingRedisRow (ctx: Context, spec: PublishSpec, row: Row, logName: string, redis: RedisSide): Promise<void> {
  const pairs = spec.redisPairs
  const trial = { ...spec, messages: Math.ceil(spec.messages / pairs) }
  const load = xaddLoad(spec, ctx.mode, trial.messages)
  row.name = `${spec.name} (${pairs} trials, alternating with Redis')`
  row.redisLabel = `${load.label} (${pairs} trials)`
  const rog: Measured[] = []
  const other: Measured[] = []
  const rogTrial = async (name: string): Promise<Measured> => await measurePublish(trial, ctx.server.pid, ctx.server.port, `${logName}-${name}`, `${spec.name} (${name})`)
  await attempt(row, async () => {
    // Two trials, on two connections: a server's second connection makes V8 optimize again, once, about 90 functions
    // the first one's own closures were inlined in, and the first counted trial would pay for it.
    for (const name of ['warm-up-1', 'warm-up-2']) await rogTrial(name)
    for (let t = 0; t < pairs; t++) {
      for (const side of t % 2 === 0 ? ['rog', 'redis'] : ['redis', 'rog']) {
        if (side === 'rog') {
          rog.push(await rogTrial(`trial-${t}`))
        } else if (row.redisSkipped === null) {
          try {
            other.push(await redis.measure(load))
          } catch (err) {
            row.redisSkipped = `failed: ${err instanceof Error ? err.message : String(err)}`
            log(`    vs ${row.redisLabel}: ${row.redisSkipped}`)
          }
        }
      }
    }
    row.rog = combineTrials(rog)
  })
  if (row.rog === null || row.redisSkipped !== null) return
  row.redis = combineTrials(other)
  row.ratio = row.rog.messagesPerSec / row.redis.messagesPerSec
  log(`    trials ${trialRates(rog, 'msg/s')}; ${load.label}: ${trialRates(other, 'msg/s')}; ${summary(row.redis)}`)
  log(`    vs ${row.redisLabel}: ${row.ratio.toFixed(2)}x; pair by pair ${pairRatios(rog, other, 'msg/s')}`)
}

function isrSummary (f: IsrFigures): string {
  const shrunk = f.shrunkSamples === 0 ? 'never shrank' : `smaller in ${f.shrunkSamples} samples, first ${f.firstShrinkMs ?? 0} ms into the row`
  return `ISR min ${f.minIsr} of ${f.replicas} over ${f.samples} samples (${shrunk}; ${f.unanswered} polls unanswered), leader epochs ${f.epochs.join(', ')}`
}

/**
 * Scenario 11, the cost of the HTTP side: the pipelined rows of scenarios 2
 * (64 in flight) and 3 under --fsync never, on a server with --no-http and
 * one with HTTP on and /metrics scraped every second (Prometheus scrapes
 * every 15 s or so). Target: within 3% of each other.
 *
 * The two servers run the same load at the same time, each from a driver of
 * its own, in time-boxed trials of TRIAL_MS (each on a new log): both see
 * the same machine, so the one that costs more per message does fewer. Run
 * one after the other, rows measured this machine's drift (more than 3%
 * within a minute) instead. Two processes started alike also differ, by up
 * to 5% for as long as they run, so the pair is started afresh for each of
 * ROUNDS rounds (the one started first alternating) and TRIALS trials run
 * in each, after an uncounted warm-up trial of both (with the scrapes
 * running): a server's first seconds are slower, its code not yet
 * optimized, and the HTTP one's first scrape deoptimizes some functions of
 * the data path once (docs/benchmark.md, fourth and ninth rounds); that
 * trial's ratio is logged. A row per server sums its counted trials; the
 * servers' CPU time per message is logged beside the ratio.
 */
async function metricsCostRows (tmp: string, rows: Row[], scale: number): Promise<void> {
  const ROUNDS = 6
  const TRIALS = 4
  const TRIAL_MS = Math.max(500, Math.round(2000 * Math.min(1, scale)))
  const variants = ['no-http', 'http'] as const
  type Variant = typeof variants[number]
  for (const spec of publishSpecs(scale).filter((s) => s.key === 's2-64' || s.key === 's3')) {
    const trials = new Map<Variant, Measured[]>(variants.map((v) => [v, []]))
    const cpu = new Map<Variant, number>(variants.map((v) => [v, 0]))
    let scrapes = 0
    const warmUps: number[] = []
    const trial = { ...spec, messages: 100_000_000, timeLimitMs: TRIAL_MS, redis: false }
    for (let round = 0; round < ROUNDS; round++) {
      const servers = new Map<Variant, Server>()
      let scraper: NodeJS.Timeout | null = null
      try {
        for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
          const dataDir = path.join(tmp, `rog-metrics-${spec.key}-${variant}-${round}`)
          servers.set(variant, await startRogServer({ dataDir, fsync: 'never', segmentBytes: SEGMENT_BYTES, extraArgs: variant === 'http' ? ['--http-port', '0'] : ['--no-http'] }))
        }
        const url = servers.get('http')?.httpUrl ?? null
        if (url !== null) scraper = setInterval(() => { fetch(`${url}metrics`).then(async (r) => { await r.text(); scrapes++ }, () => {}) }, 1000)
        const warm = new Map<Variant, number>()
        await Promise.all(variants.map(async (variant) => {
          const server = servers.get(variant) as Server
          const m = await measurePublish(trial, server.pid, server.port, `${spec.key}-warm-up`, `${spec.name} (${variant}, round ${round + 1}, warm-up)`)
          warm.set(variant, m.messagesPerSec)
        }))
        warmUps.push((warm.get('http') ?? 0) / Math.max(1, warm.get('no-http') ?? 0))
        for (let i = 0; i < TRIALS; i++) {
          await Promise.all(variants.map(async (variant) => {
            const server = servers.get(variant) as Server
            const before = cpuSeconds(server.pid) || 0
            const m = await measurePublish(trial, server.pid, server.port, `${spec.key}-trial-${i}`, `${spec.name} (${variant}, round ${round + 1}, trial ${i + 1})`)
            cpu.set(variant, (cpu.get(variant) ?? 0) + (cpuSeconds(server.pid) || 0) - before)
            ;(trials.get(variant) as Measured[]).push(m)
          }))
        }
      } finally {
        if (scraper !== null) clearInterval(scraper)
        for (const server of servers.values()) await stopProcess(server.child, 60_000)
      }
      emptyFiles(path.join(tmp, `rog-metrics-${spec.key}-no-http-${round}`))
      emptyFiles(path.join(tmp, `rog-metrics-${spec.key}-http-${round}`))
    }
    const rates: Record<string, number> = {}
    const cpuPerMessage: Record<string, number> = {}
    const shape = `${ROUNDS} pairs x ${TRIALS} x ${TRIAL_MS / 1000} s after a warm-up, side by side`
    for (const variant of variants) {
      const all = trials.get(variant) as Measured[]
      const row = newRow('11', `s11-${spec.key}-${variant}`, `${spec.name}, ${variant === 'http' ? 'HTTP on, /metrics scraped every 1 s' : '--no-http'} (${shape})`, 'never')
      // Time-boxed by design: a trial's count is never meant to be reached.
      row.rog = { ...combineTrials(all), capped: false }
      rows.push(row)
      rates[variant] = row.rog.messagesPerSec
      cpuPerMessage[variant] = (cpu.get(variant) ?? 0) / Math.max(1, row.rog.messages)
      log(`  11 ${row.name} [never]: ${summary(row.rog)}; server CPU ${(cpuPerMessage[variant] * 1e6).toFixed(2)} us/msg; trials ${trialRates(all, 'msg/s')}`)
    }
    const httpRow = rows[rows.length - 1]
    httpRow.baseline = { key: `s11-${spec.key}-no-http`, label: `${spec.name}: HTTP on vs --no-http, ${shape}`, ratio: rates.http / rates['no-http'], unit: 'msg/s' }
    log(`    ${httpRow.baseline.label}: ${httpRow.baseline.ratio.toFixed(3)}x msg/s; server CPU per message ${(cpuPerMessage.http / cpuPerMessage['no-http']).toFixed(3)}x (${scrapes} scrapes of /metrics); uncounted warm-up trials ${warmUps.map((r) => `${r.toFixed(3)}x`).join(', ')}`)
  }
}

/** Trials of one load as one row: their messages, requests and seconds summed; latency the trials' medians (a quantile of quantiles, for a glance: the ratio is what counts). */
function combineTrials (all: Measured[]): Measured {
  const sum = (f: (m: Measured) => number): number => all.reduce((a, m) => a + f(m), 0)
  const median = (f: (m: Measured) => number | null): number | null => {
    const xs = all.map(f).filter((x): x is number => x !== null).sort((a, b) => a - b)
    return xs.length === 0 ? null : xs[Math.floor(xs.length / 2)]
  }
  return { ...measured(sum((m) => m.messages), sum((m) => m.seconds), PAYLOAD_BYTES, null, Math.max(...all.map((m) => m.serverRssMb ?? 0)), all.some((m) => m.capped), sum((m) => m.errors), sum((m) => m.requests)), p50Ms: median((m) => m.p50Ms), p99Ms: median((m) => m.p99Ms) }
}

/**
 * Scenario 8: publishes alone, and with every 8th request a commit, on one
 * server. One short row of each, one after the other, read 0.80x to 0.90x in
 * full runs while the same loads alternated read 0.9x to 1.0x: a single row
 * of each is as noisy as the margin measured. So the two loads alternate in
 * PAIRS pairs of trials of a quarter of the row's count each, each on a new
 * log, the one run first alternating (each first equally often), after an
 * uncounted warm-up trial of each (the first run of a load on a server is
 * slower, its code not yet optimized); a row sums its trials. With 4 pairs,
 * one slow trial of this machine's moved the verdict by up to 0.1x (0.80x
 * and 0.96x in two runs of this scenario alone, one after the other), so
 * there are 8 (the twelfth round).
 */
async function mixedCommitRows (ctx: Context, specs: PublishSpec[]): Promise<void> {
  const PAIRS = 8
  /** Each trial is this share of the row's count (a quarter: 500,000 at scale 1). */
  const TRIAL_SHARE = 4
  const rows = specs.map((spec) => newRow(spec.scenario, `${spec.key}-${ctx.mode}`, `${spec.name} (${PAIRS} trials, alternating)`, ctx.mode))
  ctx.rows.push(...rows)
  const trials: Measured[][] = specs.map(() => [])
  const trial = (spec: PublishSpec): PublishSpec => ({ ...spec, messages: Math.ceil(spec.messages / TRIAL_SHARE) })
  for (const i of specs.keys()) {
    await attempt(rows[i], async () => { await measurePublish(trial(specs[i]), ctx.server.pid, ctx.server.port, `${specs[i].key}-${ctx.mode}-warm-up`, specs[i].name) })
  }
  for (let t = 0; t < PAIRS; t++) {
    for (const i of t % 2 === 0 ? specs.keys() : [...specs.keys()].reverse()) {
      await attempt(rows[i], async () => {
        if (rows[i].skipped !== null) return
        trials[i].push(await measurePublish(trial(specs[i]), ctx.server.pid, ctx.server.port, `${specs[i].key}-${ctx.mode}-${t}`, specs[i].name))
      })
    }
  }
  specs.forEach((spec, i) => {
    const row = rows[i]
    if (row.skipped !== null || trials[i].length === 0) return
    row.rog = combineTrials(trials[i])
    log(`  ${row.scenario} ${row.name} [${ctx.mode}]: ${summary(row.rog)}; trials ${trialRates(trials[i], 'req/s')}`)
    const base = spec.baseline
    if (base === null) return
    setBaseline(ctx.rows, row, `${base.key}-${ctx.mode}`, `${base.label} [${ctx.mode}]`, base.unit)
    const other = trials[specs.findIndex((s) => s.key === base.key)] ?? []
    if (other.length > 0) log(`    pair by pair: ${pairRatios(trials[i], other, base.unit)}`)
  })
}

/** A scenario 10 row: its own etcd and 3 nodes, started for the row and stopped (by PID) when it ends. */
async function clusterRow (tmp: string, rows: Row[], mode: Fsync, spec: ClusterSpec, load: PublishSpec, profileDir?: string): Promise<void> {
  const row = newRow('10', `${spec.key}-${mode}`, spec.name, mode)
  rows.push(row)
  await attempt(row, async () => {
    const side = await ClusterSide.start({ dir: path.join(tmp, row.key), fsync: mode, segmentBytes: SEGMENT_BYTES, log: 'bench', minInsync: CLUSTER_MIN_INSYNC, sessionTtlMs: CLUSTER_SESSION_TTL_MS, cpuProfDir: profileDir })
    try {
      const target = spec.via === 'follower' ? side.follower : side.leader
      const how = spec.via === 'client' ? `the cluster client's producer, given ${side.addresses}` : `node ${target.id} (port ${target.port})`
      log(`  10 etcd and 3 nodes --fsync ${mode} (pids ${side.nodes.map((n) => n.server.pid).join(', ')}), ISR full, leader node ${side.leader.id}; publishing through ${how}`)
      const isrDone = side.watchIsr()
      const cpuBefore = side.cpuSeconds()
      const pids = side.nodes.map((n) => n.server.pid)
      try {
        row.rog = spec.via === 'client'
          ? await measureProduce(load, pids, side.addresses, side.log, spec.name)
          : await measurePublish(load, pids, target.port, side.log, spec.name)
      } finally {
        row.isr = await isrDone()
        log(`    ${isrSummary(row.isr)}`)
        const used = [...side.cpuSeconds()].map(([name, s]) => `${name} ${(s - (cpuBefore.get(name) ?? 0)).toFixed(1)} s`)
        log(`    CPU used during the row: ${used.join(', ')}`)
      }
    } finally {
      await side.stop()
    }
  })
  setBaseline(rows, row, `${spec.base}-${mode}`, `${load.scenario} single node [${mode}]`, 'msg/s')
}

async function drainRows (ctx: Context, scale: number): Promise<void> {
  const { server, rows } = ctx
  const count = Math.max(10_000, Math.round(1_000_000 * scale))
  const referenceCount = Math.max(1000, Math.round(20_000 * scale))
  const logName = 'drain'

  log(`  5 filling log "${logName}" with ${count.toLocaleString('en-US')} messages (publish-batch, untimed)`)
  const fill = await runDriver({
    kind: 'publish', port: server.port, log: logName, batch: 1000, connections: 1, window: 4, refill: 'sliding',
    messages: count, timeLimitMs: 120_000, payloadBytes: PAYLOAD_BYTES
  }, 240_000)
  if (fill.errors > 0 || fill.messages < count) throw new Error(`filling the drain log failed: ${fill.firstError ?? `${fill.messages} of ${count}`}`)

  const drains = [
    { key: 's5-reference', name: 'drain, fetch + ack (reference), 1 msg per 2 round trips', mode: 'reference' as const, batch: 1, messages: referenceCount, group: 'ref' },
    { key: 's5-batch-100', name: 'drain, fetch-batch 100 + commit', mode: 'batch' as const, batch: 100, messages: count, group: 'b100' },
    { key: 's5-batch-10000', name: 'drain, fetch-batch 10000 + commit', mode: 'batch' as const, batch: 10_000, messages: count, group: 'b10000' }
  ]
  const drainRowList: Row[] = []
  for (const d of drains) {
    const row = newRow('5', d.key, d.name, 'never')
    rows.push(row)
    drainRowList.push(row)
    await attempt(row, async () => {
      const timeLimitMs = 15_000
      const { value: r, rssMb } = await measureWithRss(server.pid, async () => await runDriver({
        kind: 'drain', port: server.port, log: logName, group: d.group, mode: d.mode, batch: d.batch, messages: d.messages, timeLimitMs
      }, timeLimitMs + 60_000))
      if (r.errors > 0) throw new Error(r.firstError ?? 'error answers')
      row.rog = measured(r.messages, r.seconds, PAYLOAD_BYTES, r.latency, rssMb, r.capped, r.errors)
    })
  }
  const redisLoad: RedisLoad = { persistence: 'none', label: 'XREADGROUP COUNT 100 + XACK, no persistence', kind: 'drain', clients: 1, pipeline: 100, messages: count }
  const [first, ...rest] = drainRowList
  await compare(ctx, first, redisLoad)
  for (const r of rest) {
    r.redisLabel = first.redisLabel
    r.redis = first.redis
    r.redisSkipped = first.redisSkipped
    if (r.rog !== null && r.redis !== null && r.redis.messagesPerSec > 0) r.ratio = r.rog.messagesPerSec / r.redis.messagesPerSec
  }
}

async function cliRows (ctx: Context, lines: number, tmp: string): Promise<void> {
  const { server, rows } = ctx
  const publishRow = newRow('6', 's6-publish', `CLI: rog publish LOG - (${lines.toLocaleString('en-US')} lines)`, 'always')
  const followRow = newRow('6', 's6-follow', `CLI: rog fetch --follow --max ${lines}`, 'always')
  rows.push(publishRow, followRow)
  const missing = cliMissing()
  if (missing !== null) {
    publishRow.skipped = missing
    followRow.skipped = missing
    log(`  6 skipped: ${missing}`)
    return
  }
  const file = path.join(tmp, 'lines.txt')
  writeLinesFile(file, lines, PAYLOAD_BYTES)
  const logName = 'cli'
  await ensureLog(server.port, logName)
  const timeoutMs = 120_000
  await attempt(publishRow, async () => {
    const { value: r, rssMb } = await measureWithRss(server.pid, async () => await cliPublish(server.port, logName, file, lines, timeoutMs))
    if (r.error !== null) throw new Error(r.error)
    publishRow.rog = measured(r.lines, r.seconds, PAYLOAD_BYTES, null, rssMb, r.capped, 0)
  })
  await attempt(followRow, async () => {
    const out = path.join(tmp, 'follow.txt')
    const { value: r, rssMb } = await measureWithRss(server.pid, async () => await cliFollow(server.port, logName, 'cli-bench', lines, out, timeoutMs))
    fs.rmSync(out, { force: true })
    if (r.error !== null) throw new Error(r.error)
    followRow.rog = measured(r.lines, r.seconds, PAYLOAD_BYTES, null, rssMb, r.capped, 0)
  })
  fs.rmSync(file, { force: true })
}

/** Scenario 12: bench/memory-stress.js's verdict line, or why it has none. */
interface MemoryStress { line: string | null, met: boolean | null }

/**
 * Scenario 12, issue 8's memory bound: memory-stress.js against a server of
 * its own, default flags (about a minute: it ends once the idle timeout has
 * closed the connections that never read).
 */
async function memoryStress (): Promise<MemoryStress> {
  const child = track(spawn(process.execPath, [path.join(__dirname, 'memory-stress.js')], { stdio: ['ignore', 'pipe', 'ignore'] }), 'memory-stress')
  let out = ''
  child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  const line = out.split('\n').find((l) => l.startsWith('peak server RSS')) ?? null
  log(`  12 ${line ?? `memory-stress ended with code ${String(code)} and no verdict`}`)
  return { line, met: line === null ? null : code === 0 }
}

function targetLines (rows: Row[], stress: MemoryStress | null): string[] {
  const find = (key: string): Row | undefined => rows.find((r) => r.key === key)
  const rate = (r: Row | undefined): number | null => r?.rog?.messagesPerSec ?? null
  const fmt = (n: number | null): string => n === null ? 'not measured' : `${Math.round(n).toLocaleString('en-US')}/s`
  const verdict = (ok: boolean | null): string => ok === null ? 'n/a ' : ok ? 'MET ' : 'MISS'
  const lines: string[] = []
  const ratioTarget = (label: string, r: Row | undefined, min: number): void => {
    const ratio = r?.ratio ?? null
    lines.push(`${verdict(ratio === null ? null : ratio >= min)} ${label}: ${ratio === null ? 'no ratio' : `${ratio.toFixed(2)}x`} (target >= ${min.toFixed(1)}x)`)
  }
  const rateTarget = (label: string, r: Row | undefined, min: number): void => {
    const v = rate(r)
    lines.push(`${verdict(v === null ? null : v >= min)} ${label}: ${fmt(v)} (target >= ${min.toLocaleString('en-US')}/s)`)
  }
  ratioTarget('2: pipelined publish, 64 in flight, fsync never vs Redis XADD -P 64 no persistence', find('s2-64-never'), 1)
  ratioTarget('3: 50 conns, fsync always vs Redis XADD AOF everysec', find('s3-always'), 1)
  rateTarget('4: batch publish (fsync never)', find('s4-never'), 1_000_000)
  rateTarget('5: fetch-batch drain (batch 10000)', find('s5-batch-10000'), 1_000_000)
  ratioTarget('5: fetch-batch drain (batch 10000) vs Redis XREADGROUP COUNT 100 + XACK', find('s5-batch-10000'), 4)
  rateTarget('6: CLI publish', find('s6-publish'), 500_000)
  rateTarget('6: CLI fetch --follow', find('s6-follow'), 500_000)
  for (const mixed of rows.filter((r) => r.key.startsWith('s8-mixed-'))) {
    const b = mixed.baseline
    lines.push(`${verdict(b === null ? null : b.ratio >= 0.9)} 8: mixed publishes and commits (1 in 8), 4 conns x 64 sliding, fsync ${mixed.fsync ?? '-'} vs ${b?.label ?? 'its publish-only row'}: ` +
      `${b === null ? 'no ratio' : `${b.ratio.toFixed(2)}x ${b.unit}`} (target >= 0.9x)`)
    // For reference only: today's pipelined rows differ in connections, refill and command, not only in the commits.
    const m = mixed.rog
    for (const [key, label] of [['s2-64', '2 (1 conn, 64 in flight, bursts)'], ['s3', '3 (50 conns x 64, bursts)']]) {
      const other = rate(find(`${key}-${mixed.fsync ?? ''}`))
      if (m === null || other === null || other <= 0) continue
      lines.push(`note 8: the mixed row vs ${label} [${mixed.fsync ?? '-'}]: ${(m.messagesPerSec / other).toFixed(2)}x msg/s, ${(m.requestsPerSec / other).toFixed(2)}x req/s`)
    }
  }
  for (const http of rows.filter((r) => r.scenario === '11' && r.baseline !== null)) {
    const b = http.baseline
    lines.push(`${verdict(b === null ? null : Math.abs(1 - b.ratio) < 0.03)} 11: ${b?.label ?? `${http.name}: no --no-http rows`}: ${b === null ? 'no ratio' : `${b.ratio.toFixed(3)}x msg/s`} (target: within 3%)`)
  }
  for (const kept of rows.filter((r) => r.key.startsWith('s9-') && !r.key.startsWith('s9-base-'))) {
    const b = kept.baseline
    lines.push(`${verdict(b === null ? null : b.ratio >= 0.9)} 9: 50 conns x 64 with --retention-bytes, fsync ${kept.fsync ?? '-'} vs ${b?.label ?? 'the row without retention'}: ` +
      `${b === null ? 'no ratio' : `${b.ratio.toFixed(2)}x ${b.unit}`} (target >= 0.9x)`)
    const d = kept.disk
    const limit = (d?.retentionBytes ?? 0) + 2 * RETENTION_SEGMENT_BYTES
    const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(2)} MiB`
    lines.push(`${verdict(d === null || d.samples === 0 ? null : d.peakAllocatedBytes <= limit)} 9: partition directory peak during that row, fsync ${kept.fsync ?? '-'}: ` +
      `${d === null ? 'not measured' : `${mib(d.peakAllocatedBytes)} allocated (segment files alone ${mib(d.peakSegmentBytes)}; ${d.samples} samples)`} ` +
      `(target <= ${mib(limit)}: the limit plus two ${mib(RETENTION_SEGMENT_BYTES)} segments)`)
  }
  for (const c of rows.filter((r) => r.scenario === '10')) {
    const b = c.baseline
    lines.push(`${verdict(b === null ? null : b.ratio >= CLUSTER_MIN_RATIO)} 10: ${c.name}, fsync ${c.fsync ?? '-'} vs ${b?.label ?? 'its single-node row'}: ` +
      `${b === null ? 'no ratio' : `${b.ratio.toFixed(2)}x ${b.unit}`} (target >= ${CLUSTER_MIN_RATIO.toFixed(2)}x)`)
    if (c.isr !== null) lines.push(`note 10: ${c.key}: ${isrSummary(c.isr)}`)
    const direct = c.key.startsWith('s10-forward-') ? rate(find(c.key.replace('s10-forward-', 's10-pipe-'))) : null
    const forwarded = rate(c)
    if (direct !== null && direct > 0 && forwarded !== null) lines.push(`note 10: forwarded through a follower vs to the leader [${c.fsync ?? '-'}]: ${(forwarded / direct).toFixed(2)}x msg/s`)
  }
  if (stress !== null) lines.push(`${verdict(stress.met)} 12: 100 conns never reading 8 MiB fetch-batches, 5,000 reset long polls, batches of 1,000,000 empty messages at once: ${stress.line ?? 'no verdict'}`)
  const rss = rows.map((r) => r.rog?.serverRssMb ?? null).filter((v): v is number => v !== null)
  const peak = rss.length === 0 ? null : Math.max(...rss)
  lines.push(`${verdict(peak === null ? null : peak <= 200)} server RSS in every scenario: peak ${peak === null ? '-' : peak.toFixed(0)} MB (target <= 200 MB)`)
  return lines
}

function parseFlags (): Flags {
  const positive = (v: string): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number')
    return n
  }
  const program = new Command('bench')
    .description('Rog benchmark suite (see the README, "Performance")')
    .option('--json <path>', 'also write the figures as JSON to this file')
    .option('--quick', 'a fifth of the counts (and 200,000 CLI lines): a smoke run', false)
    .option('--scale <x>', 'multiply every message count by this', positive, 1)
    .option('--scenarios <list>', 'comma-separated scenario numbers, 1-12 (7: scenarios 2-4 and 9 under every --fsync mode; 10: a 3-node cluster, with 3 and 4 under every mode; 11: 2 and 3 with and without HTTP; 12: bench/memory-stress.js)', '1,2,3,4,5,6,7,8,9,10,11,12')
    .option('--no-redis', 'skip the Redis comparison')
    .option('--profile <dir>', 'run the servers under node --cpu-prof, write the profiles to <dir> and print their top frames')
    .option('--keep', 'keep the temporary data directory', false)
    .parse(process.argv)
  return program.opts<Flags>()
}

async function main (): Promise<void> {
  const flags = parseFlags()
  const scale = flags.scale * (flags.quick ? 0.2 : 1)
  const cliLines = Math.round((flags.quick ? 200_000 : 1_000_000) * flags.scale)
  const selected = new Set(flags.scenarios.split(',').map((s) => s.trim()).filter((s) => s !== ''))
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-bench-'))
  const started = Date.now()
  const loadBefore = os.loadavg()[0]
  const rows: Row[] = []
  const profiles: ProfileSummary[] = []

  let stopping = false
  let redis: RedisSide | null = null
  const interrupted = (signal: NodeJS.Signals): void => {
    stopping = true
    log(`bench: ${signal}, stopping the processes it started`)
    void stopAll().finally(() => {
      if (!flags.keep) fs.rmSync(tmp, { recursive: true, force: true })
      process.exit(130)
    })
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)

  try {
    log(`rog bench: node ${process.version}, ${os.cpus().length} cores, data in ${tmp}`)
    let redisMissing = flags.redis ? ensureRedis(log) : 'disabled with --no-redis'
    if (redisMissing === null) {
      try {
        redis = await RedisSide.start(tmp, PAYLOAD_BYTES, log)
        log(`redis-server: ${redis.describe()}`)
      } catch (err) {
        redisMissing = `redis-server did not start: ${err instanceof Error ? err.message : String(err)}`
      }
    }
    if (redisMissing !== null) log(`Redis rows skipped: ${redisMissing}`)

    if (flags.profile !== undefined) fs.mkdirSync(flags.profile, { recursive: true })
    for (const mode of MODES) {
      if (stopping) break
      const specs = publishSpecs(scale).filter((s) => specSelected(s, selected) && modesFor(s.scenario, selected).includes(mode))
      const drains = selected.has('5') && modesFor('5', selected).includes(mode)
      const cli = selected.has('6') && modesFor('6', selected).includes(mode)
      const clusters = selected.has('10') ? CLUSTER_SPECS.filter((c) => c.modes.includes(mode)) : []
      if (specs.length === 0 && !drains && !cli && clusters.length === 0) continue
      const before = new Set(flags.profile === undefined ? [] : fs.readdirSync(flags.profile))
      const dataDir = path.join(tmp, `rog-${mode}`)
      const server = await startRogServer({ dataDir, fsync: mode, segmentBytes: SEGMENT_BYTES, cpuProfDir: flags.profile })
      log(`rog server --fsync ${mode} --segment-bytes ${SEGMENT_BYTES} (pid ${server.pid}, port ${server.port}):`)
      const ctx: Context = { server, dataDir, mode, rows, redis, redisMissing }
      try {
        for (const spec of specs.filter((s) => s.scenario !== '8' && s.scenario !== '9')) await publishRow(ctx, spec)
        const mixed = specs.filter((s) => s.scenario === '8')
        if (mixed.length > 0) await mixedCommitRows(ctx, mixed)
        if (drains) {
          try {
            await drainRows(ctx, scale)
          } catch (err) {
            const row = newRow('5', 's5', 'drain', mode)
            row.skipped = `failed: ${err instanceof Error ? err.message : String(err)}`
            rows.push(row)
            log(`  5 ${row.skipped}`)
          }
        }
        if (cli) await cliRows(ctx, cliLines, tmp)
      } finally {
        await stopProcess(server.child, 60_000)
        emptyFiles(path.join(tmp, `rog-${mode}`))
      }
      const retention = specs.filter((s) => s.scenario === '9')
      if (retention.length > 0 && !stopping) await retentionRows(tmp, rows, mode, retention, redis, redisMissing)
      if (flags.profile !== undefined) {
        for (const f of fs.readdirSync(flags.profile)) {
          if (before.has(f) || !f.endsWith('.cpuprofile')) continue
          const target = path.join(flags.profile, `rog-server-fsync-${mode}-${f}`)
          fs.renameSync(path.join(flags.profile, f), target)
          profiles.push(summarizeProfile(target))
        }
      }
      // After the single-node server has stopped: the cluster's three nodes get the machine to themselves.
      for (const c of clusters) {
        if (stopping) break
        const load = specs.find((s) => s.key === c.base)
        if (load !== undefined) await clusterRow(tmp, rows, mode, c, load, flags.profile)
      }
    }

    if (selected.has('11') && !stopping) await metricsCostRows(tmp, rows, scale)
    const stress = selected.has('12') && !stopping ? await memoryStress() : null

    await redis?.stop()
    redis = null

    const minutes = (Date.now() - started) / 60_000
    const meta = {
      date: new Date().toISOString(),
      node: process.version,
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      platform: `${os.type()} ${os.release()}`,
      redis: redisMissing === null ? redisVersion() : null,
      payloadBytes: PAYLOAD_BYTES,
      scale,
      minutes: Number(minutes.toFixed(2)),
      /** One-minute load average at the start and the end: other work on the machine moves the figures. */
      loadAverage: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0].toFixed(2))]
    }
    sortRows(rows)
    const targets = targetLines(rows, stress)
    process.stdout.write(`\nRog benchmark, ${meta.date.slice(0, 10)}, ${meta.cores} cores (${meta.cpu}), Node ${meta.node}` +
      `${meta.redis === null ? '' : `, Redis ${meta.redis}`}; ${PAYLOAD_BYTES}-byte messages; ${minutes.toFixed(1)} min; ` +
      `load average ${meta.loadAverage[0]} at the start, ${meta.loadAverage[1]} at the end\n\n`)
    process.stdout.write(`${formatTable(rows)}\n\n`)
    process.stdout.write('* the time limit ended the run before its count; MB/s counts message payload bytes; RSS is the server\'s peak resident memory during the row (scenario 10: the largest of the three nodes\' peaks).\n')
    if (redisMissing !== null) process.stdout.write(`Redis rows skipped: ${redisMissing}\n`)
    process.stdout.write(`\nTargets (issues 5, 8, 11, 12 and 14):\n${targets.map((l) => `  ${l}`).join('\n')}\n`)
    for (const p of profiles) process.stdout.write(`\n${formatProfile(p)}\n`)
    if (flags.json !== undefined) {
      fs.writeFileSync(flags.json, `${JSON.stringify({ meta, rows, targets, redisSkipped: redisMissing, profiles }, null, 2)}\n`)
      log(`figures written to ${flags.json}`)
    }
  } finally {
    await stopAll()
    if (!flags.keep) fs.rmSync(tmp, { recursive: true, force: true })
  }
}

/** Scenarios 8 and 9 are shown after the pipelined publish rows (2 and 3) they are read against. */
const SCENARIO_ORDER = ['1', '2', '3', '8', '9', '4', '5', '6', '10', '11']

/** By scenario, then variant (in the order first run), then fsync mode. */
function sortRows (rows: Row[]): void {
  const base = (r: Row): string => r.key.replace(/-(never|interval|always)$/, '')
  const first = new Map<string, number>()
  rows.forEach((r, i) => { if (!first.has(base(r))) first.set(base(r), i) })
  const mode = (r: Row): number => MODES.indexOf(r.fsync as Fsync)
  const order = (r: Row): number => SCENARIO_ORDER.indexOf(r.scenario)
  rows.sort((a, b) => order(a) - order(b) || (first.get(base(a)) ?? 0) - (first.get(base(b)) ?? 0) || mode(a) - mode(b))
}

function redisVersion (): string | null {
  const out = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout ?? ''
  return out.match(/v=(\S+)/)?.[1] ?? null
}

main().catch(async (err: unknown) => {
  log(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  await stopAll()
  process.exit(1)
})

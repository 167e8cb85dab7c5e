import * as fs from 'node:fs'
import * as path from 'node:path'
import type { Command } from 'commander'
import { Option } from 'commander'
import { CLUSTER_DEFAULTS } from '../replication/cluster-defaults'
import type { ClusterOptions } from '../replication/cluster-runtime'
import { DEFAULT_MAX_BUFFERED_BYTES, RogServer } from '../server/server'
import type { FsyncPolicy } from '../storage/segment-writer'
import { DEFAULT_RETENTION_CHECK_MS, DEFAULT_SEGMENT_BYTES } from '../storage/store'
import { MAX_MESSAGE_BYTES } from '../storage/entry'
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/limits'
import { integer } from './options'
import { DEFAULT_HTTP_PORT, DEFAULT_MAX_SERIES, DEFAULT_MIN_FREE_BYTES, LOG_LEVELS } from '../observe/defaults'
import type { LogFormat, LogLevel, RogLogger } from '../observe/logger'
import type { Observer } from '../observe/observer'

interface ServerFlags {
  host: string
  port: number
  dataDir?: string
  segmentBytes: number
  maxMessageBytes: number
  fsync: FsyncPolicy
  fsyncIntervalMs: number
  idleTimeoutMs: number
  maxConnections: number
  maxOpenFiles?: number
  retentionBytes?: number
  retentionMs?: number
  retentionCheckMs: number
  maxBufferedBytes: number
  nodeId?: number
  etcd?: string
  advertise?: string
  clusterName: string
  sessionTtlMs: number
  defaultReplicationFactor?: number
  minInsyncReplicas: number
  replicaLagMs: number
  uncleanElection?: boolean
  http: boolean
  httpHost: string
  httpPort: number
  minFreeBytes: number
  metricsMaxSeries: number
  logFormat?: LogFormat
  logLevel: LogLevel
}

export function serverCommand (program: Command): void {
  program.command('server')
    .description('run the Rog server')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'port to listen on (0 picks a free one)', integer(0, 65535), 7878)
    .option('--data-dir <dir>', 'where logs are kept (default: $ROG_HOME, else ./rog-data)')
    .option('--segment-bytes <n>', 'roll a segment file once it holds this many bytes', integer(4096, 1024 ** 3), DEFAULT_SEGMENT_BYTES)
    .option('--max-message-bytes <n>', 'largest message a publish may carry (at most 256 MiB)', integer(1, MAX_MESSAGE_BYTES), DEFAULT_MAX_MESSAGE_BYTES)
    .addOption(new Option('--fsync <mode>', 'when appends reach stable storage before they are answered').choices(['always', 'interval', 'never']).default('always'))
    .option('--fsync-interval-ms <ms>', 'with --fsync interval: how often dirty files are synced', integer(1, 3_600_000), 1000)
    .option('--idle-timeout-ms <ms>', 'close a connection that sent part of a request, or left its answers unread, and then nothing for this long (0: never)', integer(0), 30_000)
    .option('--max-connections <n>', 'refuse clients beyond this many open connections', integer(1), 10_000)
    .option('--retention-bytes <n>', 'default size limit per partition for logs that set none: older segments are deleted past it (default: keep everything)', integer(0))
    .option('--retention-ms <ms>', 'default age limit for logs that set none: segments whose newest message is older are deleted (default: keep everything)', integer(0))
    .option('--retention-check-ms <ms>', 'how often retention runs (it also runs after each segment roll)', integer(100), DEFAULT_RETENTION_CHECK_MS)
    .option('--max-open-files <n>', 'data files kept open at once, least recently used closed first (default: half the descriptor limit)', integer(16))
    .option('--max-buffered-bytes <n>', 'memory for requests and answers of all connections together; beyond it sockets stop being read', integer(1024 * 1024), DEFAULT_MAX_BUFFERED_BYTES)
    .option('--etcd <urls>', 'join a cluster coordinated by etcd at these client URLs (comma-separated, e.g. http://127.0.0.1:2379); without it the server runs alone')
    .option('--node-id <n>', 'with --etcd: this node\'s id, unique in the cluster', integer(0, 1_000_000))
    .option('--advertise <host:port>', 'with --etcd: where other nodes and clients reach this node (default: the listening address)')
    .option('--cluster-name <name>', 'with --etcd: the cluster\'s key prefix in etcd, so several clusters can share one etcd', CLUSTER_DEFAULTS.clusterName)
    .option('--session-ttl-ms <ms>', 'with --etcd: a node that stops answering etcd for this long is taken as dead (whole seconds in etcd)', integer(1000, 600_000), CLUSTER_DEFAULTS.sessionTtlMs)
    .option('--default-replication-factor <n>', 'with --etcd: replicas of a log created without a factor (default: the smaller of 3 and the live nodes)', integer(1, 255))
    .option('--min-insync-replicas <n>', 'with --etcd: a publish is acknowledged only while this many replicas are in sync (capped at the replication factor)', integer(1, 255), CLUSTER_DEFAULTS.minInsyncReplicas)
    .option('--replica-lag-ms <ms>', 'with --etcd: a follower that has not caught up for this long leaves the in-sync replicas', integer(100, 3_600_000), CLUSTER_DEFAULTS.replicaLagMs)
    .option('--unclean-election', 'with --etcd: when no in-sync replica lives, elect another replica (may lose acknowledged messages)')
    .option('--http-host <host>', 'address of the HTTP listener (metrics, health, console)', '127.0.0.1')
    .option('--http-port <port>', `port of the HTTP listener (0 picks a free one); when the default ${DEFAULT_HTTP_PORT} is taken the server runs without HTTP`, integer(0, 65535), DEFAULT_HTTP_PORT)
    .option('--no-http', 'run without the HTTP listener')
    .option('--min-free-bytes <n>', '/readyz fails while the data directory\'s file system has less free space', integer(0), DEFAULT_MIN_FREE_BYTES)
    .option('--metrics-max-series <n>', 'partition and group series in /metrics past which they are reported per log', integer(0), DEFAULT_MAX_SERIES)
    .addOption(new Option('--log-format <format>', 'server log lines: json (one object per line) or text (default)').choices(['json', 'text']))
    .addOption(new Option('--log-level <level>', 'least important server log lines written').choices([...LOG_LEVELS]).default('info'))
    .action(async (flags: ServerFlags, command: Command) => {
      process.title = 'rog-server'
      // Loaded here, not at the top: the other commands of the CLI need none of the server's modules.
      const { RogLogger } = require('../observe/logger') as typeof import('../observe/logger')
      const { Observer } = require('../observe/observer') as typeof import('../observe/observer')
      const { SafeOutput } = require('../observe/safe-output') as typeof import('../observe/safe-output')
      const logger = new RogLogger({ format: flags.logFormat ?? 'text', level: flags.logLevel })
      const cluster = clusterOptions(flags)
      if (typeof cluster === 'string') {
        process.stderr.write(`rog server: ${cluster}\n`)
        process.exit(2)
      }
      const dataDir = path.resolve(flags.dataDir ?? process.env.ROG_HOME ?? 'rog-data')
      const unusable = checkDataDir(dataDir)
      if (unusable !== null) {
        process.stderr.write(`rog server: cannot use ${dataDir} as the data directory: ${unusable}\n`)
        process.exit(1)
      }
      const httpPortSource = command.getOptionValueSource('httpPort')
      // Start-up (recovery, the wait for etcd) is not interrupted half way: a signal then ends the
      // process as a crash would, which recovery is made for; it says so rather than vanish.
      const interrupted = (signal: NodeJS.Signals): void => {
        process.stderr.write(`rog server: ${signal} during start-up; stopped before serving (the next start recovers as after a crash, and takes the data directory's lock over)\n`)
        process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
      }
      process.once('SIGTERM', interrupted)
      process.once('SIGINT', interrupted)
      let observer: Observer | null = null
      let server: RogServer
      try {
        if (flags.http) {
          observer = await Observer.start(dataDir, {
            host: flags.httpHost,
            port: flags.httpPort,
            explicit: httpPortSource !== undefined && httpPortSource !== 'default',
            minFreeBytes: flags.minFreeBytes,
            metricsMaxSeries: flags.metricsMaxSeries
          }, (line) => logger.warn(line))
        }
        server = await startServer(flags, dataDir, cluster, observer, logger)
      } catch (err) {
        await observer?.close()
        throw err
      }
      const { host, port } = server.address()
      const member = cluster === null ? '' : `, node ${cluster.nodeId} of cluster ${cluster.clusterName}`
      const url = observer?.url ?? null
      SafeOutput.stdio().stdout.write(`rog server listening on ${host}:${port}, data in ${dataDir}${member}${url === null ? '' : `, console at ${url}`}\n`)
      let stopping = false
      const stop = (signal: string): void => {
        if (stopping) return
        stopping = true
        logger.info(`rog server: ${signal}, finishing requests in flight`)
        server.close().then(() => process.exit(0), (err: unknown) => {
          logger.error(`rog server: error while stopping: ${String(err)}`)
          process.exit(1)
        })
      }
      process.off('SIGTERM', interrupted)
      process.off('SIGINT', interrupted)
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
    })
}

async function startServer (flags: ServerFlags, dataDir: string, cluster: ClusterOptions | null, observer: Observer | null, logger: RogLogger): Promise<RogServer> {
  return await RogServer.start({
    host: flags.host,
    port: flags.port,
    dataDir,
    segmentBytes: flags.segmentBytes,
    maxMessageBytes: flags.maxMessageBytes,
    fsync: flags.fsync,
    fsyncIntervalMs: flags.fsyncIntervalMs,
    idleTimeoutMs: flags.idleTimeoutMs,
    maxConnections: flags.maxConnections,
    maxOpenFiles: flags.maxOpenFiles,
    retentionBytes: flags.retentionBytes ?? null,
    retentionMs: flags.retentionMs ?? null,
    retentionCheckMs: flags.retentionCheckMs,
    maxBufferedBytes: flags.maxBufferedBytes,
    cluster: cluster ?? undefined,
    log: logger.line,
    logger,
    observer
  })
}

/** The cluster settings of the flags, null without --etcd, or what is wrong with them. */
function clusterOptions (flags: ServerFlags): ClusterOptions | null | string {
  const clusterOnly = ['nodeId', 'advertise', 'defaultReplicationFactor', 'uncleanElection'] as const
  if (flags.etcd === undefined) {
    const stray = clusterOnly.find((k) => flags[k] !== undefined)
    return stray === undefined ? null : `--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --etcd`
  }
  if (flags.nodeId === undefined) return '--etcd needs --node-id (a number unique in the cluster)'
  const etcd = flags.etcd.split(',').map((u) => u.trim()).filter((u) => u.length > 0)
  const bad = etcd.find((u) => !/^https?:\/\/[^/\s]+$/.test(u))
  if (etcd.length === 0 || bad !== undefined) return `--etcd takes URLs like http://127.0.0.1:2379, comma-separated${bad === undefined ? '' : `; not ${JSON.stringify(bad)}`}`
  if (flags.advertise !== undefined && !/^[^\s:]+:\d{1,5}$/.test(flags.advertise)) return `--advertise takes host:port, not ${JSON.stringify(flags.advertise)}`
  return {
    nodeId: flags.nodeId,
    etcd,
    advertise: flags.advertise,
    clusterName: flags.clusterName,
    sessionTtlMs: flags.sessionTtlMs,
    defaultReplicationFactor: flags.defaultReplicationFactor,
    minInsyncReplicas: flags.minInsyncReplicas,
    replicaLagMs: flags.replicaLagMs,
    uncleanElection: flags.uncleanElection
  }
}

/**
 * Makes the data directory (and its missing parents) unless it exists, and
 * says why it cannot be used, or null. Each missing directory is made on its
 * own: Node's recursive mkdir spins forever where mkdir fails with ENOENT
 * under a parent that exists, as under /proc.
 */
export function checkDataDir (dir: string): string | null {
  const missing: string[] = []
  let at = dir
  while (!fs.existsSync(at)) {
    missing.unshift(at)
    at = path.dirname(at)
  }
  if (!fs.statSync(at).isDirectory()) return `${at} is not a directory`
  try {
    for (const d of missing) fs.mkdirSync(d)
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    return `${REASONS[e.code ?? ''] ?? e.message} (${e.path ?? dir})`
  }
  return null
}

const REASONS: Record<string, string> = {
  ENOENT: 'a directory cannot be made there',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOTDIR: 'not a directory'
}

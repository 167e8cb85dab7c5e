import * as path from 'node:path'
import type { Command } from 'commander'
import { Option } from 'commander'
import { DEFAULT_MAX_BUFFERED_BYTES, RogServer } from '../server/server'
import type { FsyncPolicy } from '../storage/segment-writer'
import { DEFAULT_SEGMENT_BYTES } from '../storage/store'
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/limits'
import { integer } from './options'

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
  maxBufferedBytes: number
}

export function serverCommand (program: Command): void {
  program.command('server')
    .description('run the Rog server')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'port to listen on (0 picks a free one)', integer(0, 65535), 7878)
    .option('--data-dir <dir>', 'where logs are kept (default: $ROG_HOME, else ./rog-data)')
    .option('--segment-bytes <n>', 'roll a segment file once it holds this many bytes', integer(4096, 1024 ** 3), DEFAULT_SEGMENT_BYTES)
    .option('--max-message-bytes <n>', 'largest message a publish may carry', integer(1, 256 * 1024 * 1024), DEFAULT_MAX_MESSAGE_BYTES)
    .addOption(new Option('--fsync <mode>', 'when appends reach stable storage before they are answered').choices(['always', 'interval', 'never']).default('always'))
    .option('--fsync-interval-ms <ms>', 'with --fsync interval: how often dirty files are synced', integer(1, 3_600_000), 1000)
    .option('--idle-timeout-ms <ms>', 'close a connection that sent part of a request, or left its answers unread, and then nothing for this long (0: never)', integer(0), 30_000)
    .option('--max-connections <n>', 'refuse clients beyond this many open connections', integer(1), 10_000)
    .option('--max-buffered-bytes <n>', 'memory for requests and answers of all connections together; beyond it sockets stop being read', integer(1024 * 1024), DEFAULT_MAX_BUFFERED_BYTES)
    .action(async (flags: ServerFlags) => {
      process.title = 'rog-server'
      const dataDir = path.resolve(flags.dataDir ?? process.env.ROG_HOME ?? 'rog-data')
      const server = await RogServer.start({
        host: flags.host,
        port: flags.port,
        dataDir,
        segmentBytes: flags.segmentBytes,
        maxMessageBytes: flags.maxMessageBytes,
        fsync: flags.fsync,
        fsyncIntervalMs: flags.fsyncIntervalMs,
        idleTimeoutMs: flags.idleTimeoutMs,
        maxConnections: flags.maxConnections,
        maxBufferedBytes: flags.maxBufferedBytes
      })
      const { host, port } = server.address()
      process.stdout.write(`rog server listening on ${host}:${port}, data in ${dataDir}\n`)
      let stopping = false
      const stop = (signal: string): void => {
        if (stopping) return
        stopping = true
        process.stderr.write(`rog server: ${signal}, finishing requests in flight\n`)
        server.close().then(() => process.exit(0), (err: unknown) => {
          process.stderr.write(`rog server: error while stopping: ${String(err)}\n`)
          process.exit(1)
        })
      }
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
    })
}

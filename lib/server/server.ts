import * as net from 'node:net'
import { once } from 'node:events'
import { pipeline } from 'node:stream'
import { RogError } from '../errors'
import type { RogLogger } from '../observe/logger'
import type { Observer } from '../observe/observer'
import { Decoder } from '../protocol/decoder'
import { Encoder, encodeResponses } from '../protocol/encoder'
import { DEFAULT_MAX_MESSAGE_BYTES, protocolLimits } from '../protocol/limits'
import type { ClusterOptions, ClusterRuntime } from '../replication/cluster-runtime'
import { DataDirLock } from '../storage/data-dir-lock'
import { nodeFileIo } from '../storage/file-io'
import { Store, type StoreOptions } from '../storage/store'
import { ConnectionMemory } from './connection-memory'
import { Executor } from './executor'
import { MemoryBudget } from './memory-budget'
import { SocketSink } from './socket-sink'

export interface ServerOptions extends StoreOptions {
  host?: string
  port?: number
  maxMessageBytes?: number
  /**
   * A connection holding part of a request this long without more bytes, or
   * whose peer has taken none of its answers for this long, is closed.
   */
  idleTimeoutMs?: number
  maxConnections?: number
  /** Memory held for all connections together, beyond which sockets stop being read (see MemoryBudget). */
  maxBufferedBytes?: number
  /** Join a cluster coordinated by etcd (absent: a single node, no etcd). */
  cluster?: ClusterOptions
  /**
   * The HTTP side (metrics, health, console), started by the caller before
   * this server so its /readyz answers during recovery; closed with it.
   */
  observer?: Observer | null
  /** Events (connections opened and closed) go here; absent: not logged. */
  logger?: RogLogger | null
}

interface Connection { socket: net.Socket, decoder: Decoder, done: Promise<void> }

export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024

/** After our side of a connection has ended, how long the peer has to hang up before we do. */
const LINGER_MS = 1000
const SHUTDOWN_GRACE_MS = 10_000

/**
 * The Rog server: one net.Server, and per connection one
 * `pipeline(socket, Decoder, Executor, Encoder, SocketSink)` over a shared
 * Store, each connection accounting its memory in a ConnectionMemory drawn
 * on one MemoryBudget. The data directory is locked (DataDirLock) from
 * before the store opens until after it is closed.
 */
export class RogServer {
  readonly store: Store
  readonly budget: MemoryBudget
  private readonly lock: DataDirLock
  private readonly server: net.Server
  private readonly options: ServerOptions
  private readonly connections = new Set<Connection>()
  private closing: Promise<void> | null = null
  private clusterRuntime: ClusterRuntime | null = null
  private readonly observer: Observer | null
  private nextConnectionId = 1

  private constructor (store: Store, lock: DataDirLock, options: ServerOptions) {
    this.store = store
    this.lock = lock
    this.options = options
    this.observer = options.observer ?? null
    this.budget = new MemoryBudget(options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES)
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket))
  }

  static async start (options: ServerOptions): Promise<RogServer> {
    const observer = options.observer ?? null
    let lock: DataDirLock
    let store: Store
    try {
      lock = DataDirLock.acquire(options.dataDir)
    } catch (err) {
      await observer?.close()
      throw err
    }
    try {
      store = await Store.open(observer === null ? options : { ...options, io: observer.fileIo(options.io ?? nodeFileIo) })
    } catch (err) {
      lock.release()
      await observer?.close()
      throw err
    }
    observer?.recovered()
    const server = new RogServer(store, lock, options)
    server.server.listen(options.port ?? 7878, options.host ?? '127.0.0.1')
    try {
      await once(server.server, 'listening').catch((err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'it is in use (another rog server?); choose another with --port' : err.code === 'EACCES' ? 'permission denied' : err.message
        throw new RogError('LISTEN', `Cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 7878}: ${why}`)
      })
      observer?.listening(options.cluster !== undefined)
      if (options.cluster !== undefined) {
        const { host, port } = server.address()
        // Loaded only for a cluster: a single node never loads etcd's client (grpc, protobufjs).
        const { ClusterRuntime } = require('../replication/cluster-runtime') as typeof import('../replication/cluster-runtime')
        server.clusterRuntime = await ClusterRuntime.start(store, options.cluster, `${host}:${port}`, options.log ?? ((line) => process.stderr.write(`${line}\n`)))
      }
    } catch (err) {
      server.server.close()
      await observer?.close()
      await store.close()
      lock.release()
      throw err
    }
    observer?.attach({
      store,
      budget: server.budget,
      cluster: server.clusterRuntime,
      connections: () => server.connections.size,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    })
    return server
  }

  get cluster (): ClusterRuntime | null {
    return this.clusterRuntime
  }

  address (): { host: string, port: number } {
    const a = this.server.address() as net.AddressInfo
    return { host: a.address, port: a.port }
  }

  get connectionCount (): number {
    return this.connections.size
  }

  /** Bytes read from and written to each open connection. */
  connectionStats (): Array<{ bytesRead: number, bytesWritten: number }> {
    return [...this.connections].map(({ socket }) => ({ bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten }))
  }

  private accept (socket: net.Socket): void {
    socket.on('error', () => {})
    const joining = this.options.cluster !== undefined && this.clusterRuntime === null
    if (this.closing !== null || joining || this.connections.size >= (this.options.maxConnections ?? Infinity)) {
      const error = this.closing !== null ? RogError.shuttingDown() : joining ? RogError.starting() : RogError.tooManyConnections(this.options.maxConnections ?? 0)
      socket.end(encodeResponses([{ response: 'error', message: error.message }]))
      socket.once('finish', () => setTimeout(() => socket.destroy(), LINGER_MS).unref())
      return
    }
    const memory = new ConnectionMemory(this.budget)
    const decoder = new Decoder(protocolLimits(this.options.maxMessageBytes), memory)
    const executor = new Executor(this.store, memory, { log: this.options.log, cluster: this.clusterRuntime, stats: this.observer?.stats })
    const encoder = new Encoder()
    const sink = new SocketSink(socket, (bytes) => memory.written(bytes))
    let resolve: () => void = () => {}
    const connection: Connection = { socket, decoder, done: new Promise((r) => { resolve = r }) }
    this.connections.add(connection)
    const id = this.nextConnectionId++
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`
    this.options.logger?.info('connection opened', { conn: id, remote })
    socket.once('finish', () => {
      if (this.closing !== null) socket.destroy()
      else setTimeout(() => socket.destroy(), LINGER_MS).unref()
    })
    if (this.options.idleTimeoutMs !== undefined && this.options.idleTimeoutMs > 0) {
      socket.setTimeout(this.options.idleTimeoutMs, () => {
        // Idle on the peer's side: half a request sent, or answers it does not read (which hold memory).
        if (decoder.awaitingPeer || sink.awaitingPeer) socket.destroy()
      })
    }
    pipeline(socket, decoder, executor, encoder, sink, () => {
      socket.destroy()
      memory.close()
      this.connections.delete(connection)
      this.options.logger?.info('connection closed', { conn: id, remote, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten })
      resolve()
    })
  }

  /**
   * Stops accepting, answers the requests already received, then closes the
   * store (flushing and syncing its files).
   */
  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.observer?.stopping()
    this.store.wakeWaiters()
    for (const c of this.connections) c.decoder.stop()
    const all = Promise.all([...this.connections].map((c) => c.done))
    let timer: NodeJS.Timeout | undefined
    const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, SHUTDOWN_GRACE_MS) })
    await Promise.race([all, grace])
    clearTimeout(timer)
    for (const c of this.connections) c.socket.destroy()
    await all
    await closed
    await this.observer?.close()
    await this.clusterRuntime?.stop().catch((err: Error) => this.options.log?.(`cluster: leaving failed: ${err.message}`))
    await this.store.close()
    this.lock.release()
  }
}

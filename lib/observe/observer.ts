import type * as http from 'node:http'
import { RogError } from '../errors'
import type { ClusterService } from '../replication/cluster-service'
import type { MemoryBudget } from '../server/memory-budget'
import type { FileIo } from '../storage/file-io'
import type { Store } from '../storage/store'
import { ApiRoutes } from './api-routes'
import { ConsoleAssets } from './console-assets'
import { diskFree } from './disk-free'
import { readiness, type HealthState } from './health'
import { sendError, sendJson } from './http-json'
import { DEFAULT_HTTP_PORT, DEFAULT_MIN_FREE_BYTES } from './defaults'
import { HttpListener } from './http-listener'
import { RogMetrics } from './metrics'
import { RequestStats } from './request-stats'
import { Sampler } from './sampler'
import { timedFileIo } from './timed-file-io'

export interface ObserveOptions {
  /** Default 127.0.0.1. */
  host?: string
  /** Default 7879; 0 picks a free port. */
  port?: number
  /** The port was chosen by the user: failing to bind it fails the start. */
  explicit?: boolean
  /** /readyz fails while the data directory's file system has less free (default 64 MiB). */
  minFreeBytes?: number
  /** Partition and group series past which metrics are reported per log (default 10,000). */
  metricsMaxSeries?: number
}

/** What the observer reads of the running server. */
export interface ObservedServer {
  store: Store
  budget: MemoryBudget
  cluster: ClusterService | null
  connections: () => number
  maxMessageBytes: number
}

/**
 * The server's HTTP side: /livez, /readyz, /metrics, the console page and
 * its /api/. It listens before the store is opened, so readiness can say
 * that recovery is under way; the rest answers once the server is attached.
 * It owns the RequestStats the executors count into, and the fsync timing
 * of the store's FileIo.
 */
export class Observer {
  readonly stats = new RequestStats()
  readonly metrics: RogMetrics
  private readonly dataDir: string
  private readonly minFreeBytes: number
  private readonly warn: (line: string) => void
  private readonly assets = new ConsoleAssets()
  private readonly state: HealthState = { recovered: false, listening: false, joined: null, stopping: false }
  private http: HttpListener | null = null
  private api: ApiRoutes | null = null
  private sampler: Sampler | null = null

  private constructor (dataDir: string, options: ObserveOptions, warn: (line: string) => void) {
    this.dataDir = dataDir
    this.minFreeBytes = options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES
    this.warn = warn
    this.metrics = new RogMetrics(this.stats, { maxSeries: options.metricsMaxSeries, warn })
  }

  /** Binds the HTTP listener (see HttpListener.bind: the default port taken is a warning, an explicit one an error). */
  static async start (dataDir: string, options: ObserveOptions, warn: (line: string) => void): Promise<Observer> {
    const observer = new Observer(dataDir, options, warn)
    observer.http = await HttpListener.bind({ host: options.host ?? '127.0.0.1', port: options.port ?? DEFAULT_HTTP_PORT, explicit: options.explicit ?? false }, (req, res) => observer.handle(req, res), warn)
    return observer
  }

  /** The console's address, or null when running without HTTP. */
  get url (): string | null {
    return this.http?.url ?? null
  }

  address (): { host: string, port: number } | null {
    return this.http?.address() ?? null
  }

  /** The store's file I/O with its syncs timed for rog_fsync_duration_seconds. */
  fileIo (io: FileIo): FileIo {
    return timedFileIo(io, this.metrics.fsynced)
  }

  recovered (): void {
    this.state.recovered = true
  }

  listening (clustered: boolean): void {
    this.state.listening = true
    if (clustered) this.state.joined = false
  }

  /** The server is up (joined its cluster, if any): metrics, samples and the API read it from now on. */
  attach (server: ObservedServer): void {
    if (this.state.joined !== null) this.state.joined = true
    const source = { store: server.store, cluster: server.cluster, connections: server.connections, diskFree: () => diskFree(this.dataDir) }
    this.metrics.attach(source)
    this.sampler = new Sampler(this.stats, source)
    this.sampler.start()
    this.api = new ApiRoutes({
      ...source,
      budget: server.budget,
      stats: this.stats,
      log: this.warn,
      sampler: this.sampler,
      minFreeBytes: this.minFreeBytes,
      maxMessageBytes: server.maxMessageBytes
    })
  }

  /** The server is shutting down: not ready any more. */
  stopping (): void {
    this.state.stopping = true
  }

  /** Stops sampling and closes the listener, ending its responses (live tails, exports) and their sessions. */
  async close (): Promise<void> {
    this.state.stopping = true
    this.sampler?.stop()
    this.metrics.close()
    await this.http?.close()
  }

  /** The Sampler of the console's charts (null before the server is attached). */
  get samples (): Sampler | null {
    return this.sampler
  }

  private handle (req: http.IncomingMessage, res: http.ServerResponse): void {
    this.route(req, res).catch((err: unknown) => {
      if (!(err instanceof RogError)) this.warn(`HTTP ${req.method ?? ''} ${req.url ?? ''}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
      // A request body left unread cannot be skipped safely: the connection ends after the answer.
      if (!req.complete && !res.headersSent) res.setHeader('connection', 'close')
      sendError(res, err)
    })
  }

  private async route (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://rog')
    } catch {
      throw new RogError('BAD_REQUEST', 'Malformed request URL')
    }
    const path = url.pathname
    const method = req.method ?? 'GET'
    if (path.startsWith('/api/')) {
      if (this.api === null) throw RogError.starting()
      return await this.api.handle(req, res, path, url.searchParams)
    }
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      throw new RogError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`)
    }
    switch (path) {
      case '/livez': return sendJson(res, 200, { status: 'live' })
      case '/readyz': return await this.readyz(res)
      case '/metrics': {
        const text = await this.metrics.text()
        res.writeHead(200, { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' })
        res.end(method === 'HEAD' ? undefined : text)
        return
      }
    }
    const asset = this.assets.get(path)
    if (asset === null) throw new RogError('NOT_FOUND', `No page ${path}`)
    res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' })
    res.end(method === 'HEAD' ? undefined : asset.body)
  }

  private async readyz (res: http.ServerResponse): Promise<void> {
    const free = await diskFree(this.dataDir).catch(() => null)
    const checks = readiness(this.state, { free, min: this.minFreeBytes })
    const failing = checks.filter((c) => !c.ok)
    sendJson(res, failing.length === 0 ? 200 : 503, { status: failing.length === 0 ? 'ready' : 'not ready', failing, checks })
  }
}

import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { RogError } from '../errors'
import { type FromHttpThread, HttpRequest, HttpResponse, type ToHttpThread } from './http-exchange'
import type { HttpBind } from './http-listener'

export type HttpHandler = (req: HttpRequest, res: HttpResponse) => void

/**
 * The server's side of the HTTP thread (http-worker.ts): starts it, hands
 * each request it parsed to `handler` as an HttpRequest and HttpResponse,
 * and stops it. Binding behaves as HttpListener.bind: the default port
 * taken is a warning (start() answers null), an explicit one an error.
 */
export class HttpThread {
  private readonly worker: Worker
  private readonly exchanges = new Map<number, { req: HttpRequest, res: HttpResponse }>()
  private readonly bound: { host: string, port: number, url: string }
  private readonly handler: HttpHandler
  private readonly warn: (line: string) => void
  private closing: Promise<void> | null = null

  private constructor (worker: Worker, bound: { host: string, port: number, url: string }, handler: HttpHandler, warn: (line: string) => void) {
    this.worker = worker
    this.bound = bound
    this.handler = handler
    this.warn = warn
  }

  static async start (at: HttpBind, handler: HttpHandler, warn: (line: string) => void): Promise<HttpThread | null> {
    // Compiled, the worker is http-worker.js beside this file; under the tests' TypeScript loader (inherited), .ts.
    const worker = new Worker(path.join(__dirname, `http-worker${path.extname(__filename)}`), { workerData: at })
    let thread: HttpThread | null = null
    const first = new Promise<FromHttpThread>((resolve, reject) => {
      worker.on('message', (m: FromHttpThread) => {
        if (thread !== null) thread.receive(m)
        else if (m.t === 'warn') warn(m.line)
        else resolve(m)
      })
      worker.once('error', reject)
      worker.once('exit', (code) => reject(new Error(`the HTTP thread exited (${code}) before it listened`)))
    })
    let m: FromHttpThread
    try {
      m = await first
    } catch (err) {
      await worker.terminate()
      throw err
    }
    if (m.t !== 'listening') {
      await worker.terminate()
      if (m.t === 'unbound') return null
      if (m.t === 'failed') throw m.code === null ? new Error(m.message) : new RogError(m.code, m.message)
      throw new Error(`the HTTP thread answered ${m.t} before it listened`)
    }
    thread = new HttpThread(worker, m, handler, warn)
    worker.on('error', (err) => warn(`HTTP thread failed, running without HTTP: ${err.stack ?? err.message}`))
    worker.on('exit', () => thread?.closeAll())
    return thread
  }

  address (): { host: string, port: number } {
    return { host: this.bound.host, port: this.bound.port }
  }

  get url (): string {
    return this.bound.url
  }

  /** Stops listening, ends every connection (long responses included) and stops the thread. */
  async close (): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => {
        this.worker.on('message', (m: FromHttpThread) => { if (m.t === 'closed') resolve() })
        this.worker.once('exit', () => resolve())
      })
      this.post({ t: 'close' })
      await closed
      await this.worker.terminate()
      this.closeAll()
    })()
    await this.closing
  }

  private post (message: ToHttpThread): void {
    this.worker.postMessage(message)
  }

  private receive (m: FromHttpThread): void {
    switch (m.t) {
      case 'warn': return this.warn(m.line)
      case 'request': {
        const post = (message: ToHttpThread): void => this.post(message)
        const exchange = { req: new HttpRequest(m.id, m.method, m.url, m.headers, post), res: new HttpResponse(m.id, post) }
        this.exchanges.set(m.id, exchange)
        this.handler(exchange.req, exchange.res)
        return
      }
      case 'data': return this.exchanges.get(m.id)?.req.received(m.chunk)
      case 'end': return this.exchanges.get(m.id)?.req.end()
      case 'written': return this.exchanges.get(m.id)?.res.written(m.bytes)
      case 'close': {
        const exchange = this.exchanges.get(m.id)
        this.exchanges.delete(m.id)
        return exchange?.res.close()
      }
    }
  }

  /** The thread is gone: every exchange still open is closed. */
  private closeAll (): void {
    for (const { res } of this.exchanges.values()) res.close()
    this.exchanges.clear()
  }
}

import { EventEmitter } from 'node:events'
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { RogError } from '../errors'

/** What the HTTP thread (http-worker.ts) tells the server's thread about one exchange, or about itself. */
export type FromHttpThread =
  | { t: 'listening', host: string, port: number, url: string }
  | { t: 'unbound' }
  | { t: 'failed', code: 'HTTP_LISTEN' | null, message: string }
  | { t: 'warn', line: string }
  | { t: 'request', id: number, method: string, url: string, headers: IncomingHttpHeaders }
  | { t: 'data', id: number, chunk: Uint8Array }
  | { t: 'end', id: number }
  | { t: 'written', id: number, bytes: number }
  | { t: 'close', id: number }
  | { t: 'closed' }

/** What the server's thread tells the HTTP thread. */
export type ToHttpThread =
  | { t: 'head', id: number, status: number, headers: OutgoingHttpHeaders }
  | { t: 'write', id: number, chunk: string | Uint8Array, bytes: number }
  | { t: 'end', id: number, chunk: string | Uint8Array | undefined }
  | { t: 'destroy', id: number }
  | { t: 'pause', id: number }
  | { t: 'close' }

type Post = (message: ToHttpThread) => void

/** Most bytes of a request body the server's thread takes (a published message, as JSON text or base64, fits). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024

/** Bytes written and not yet taken by the client's socket past which write() asks the caller to wait for 'drain'. */
const HIGH_WATER = 64 * 1024

/**
 * A request, as the server's thread sees it: the HTTP thread parsed it and
 * sends its body on.
 */
export class HttpRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  private readonly post: Post
  private readonly id: number
  private readonly chunks: Buffer[] = []
  private size = 0
  private ended = false
  private failed: RogError | null = null
  private waiter: { resolve: (body: Buffer) => void, reject: (err: RogError) => void } | null = null

  constructor (id: number, method: string, url: string, headers: IncomingHttpHeaders, post: Post) {
    this.id = id
    this.method = method
    this.url = url
    this.headers = headers
    this.post = post
    // A request without a length or chunked body has none: it is whole as it arrives.
    this.ended = headers['content-length'] === undefined && headers['transfer-encoding'] === undefined
  }

  /** The whole body has arrived. */
  get complete (): boolean {
    return this.ended
  }

  /** The body, once whole; MESSAGE_TOO_LARGE past MAX_BODY_BYTES (the rest is not read, and the connection closes after the answer). */
  async body (): Promise<Buffer> {
    return await new Promise((resolve, reject) => {
      this.waiter = { resolve, reject }
      this.settle()
    })
  }

  /** From the HTTP thread. A body is held only up to MAX_BODY_BYTES, read or not. */
  received (chunk: Uint8Array): void {
    if (this.failed !== null) return
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    this.size += chunk.byteLength
    if (this.size > MAX_BODY_BYTES) {
      this.failed = new RogError('MESSAGE_TOO_LARGE', `Request body over ${MAX_BODY_BYTES} bytes`)
      this.chunks.length = 0
      this.post({ t: 'pause', id: this.id })
    }
    this.settle()
  }

  /** From the HTTP thread. */
  end (): void {
    this.ended = true
    this.settle()
  }

  private settle (): void {
    const w = this.waiter
    if (w === null) return
    if (this.failed !== null) {
      this.waiter = null
      w.reject(this.failed)
    } else if (this.ended) {
      this.waiter = null
      w.resolve(Buffer.concat(this.chunks, this.size))
    }
  }
}

/**
 * A response, as the server's thread writes it: each call becomes a message
 * to the HTTP thread. write() returns false while more than HIGH_WATER bytes
 * are not yet taken by the client's socket; 'drain' follows when they are.
 * 'close' is emitted once, when the response has ended or the client went
 * away.
 */
export class HttpResponse extends EventEmitter {
  private readonly post: Post
  private readonly id: number
  private readonly headers: OutgoingHttpHeaders = {}
  private sent = false
  private finished = false
  private closed = false
  private unwritten = 0
  private needDrain = false

  constructor (id: number, post: Post) {
    super()
    this.id = id
    this.post = post
  }

  get headersSent (): boolean {
    return this.sent
  }

  setHeader (name: string, value: string | number): this {
    this.headers[name.toLowerCase()] = value
    return this
  }

  writeHead (status: number, headers: OutgoingHttpHeaders = {}): this {
    if (this.sent) throw new Error('headers already sent')
    this.sent = true
    for (const [name, value] of Object.entries(headers)) this.headers[name.toLowerCase()] = value
    if (!this.closed) this.post({ t: 'head', id: this.id, status, headers: this.headers })
    return this
  }

  write (chunk: string | Uint8Array): boolean {
    if (!this.sent) this.writeHead(200)
    if (this.closed || this.finished) return false
    const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength
    this.unwritten += bytes
    this.post({ t: 'write', id: this.id, chunk, bytes })
    if (this.unwritten <= HIGH_WATER) return true
    this.needDrain = true
    return false
  }

  end (chunk?: string | Uint8Array): void {
    if (!this.sent) this.writeHead(200)
    if (this.closed || this.finished) return
    this.finished = true
    this.post({ t: 'end', id: this.id, chunk })
  }

  /** Ends the exchange at once (its connection closes): for an error after the headers went out. */
  destroy (): void {
    if (this.closed) return
    this.post({ t: 'destroy', id: this.id })
    this.close()
  }

  /** From the HTTP thread: `bytes` of what was written reached the socket. */
  written (bytes: number): void {
    this.unwritten -= bytes
    if (this.needDrain && this.unwritten <= HIGH_WATER) {
      this.needDrain = false
      this.emit('drain')
    }
  }

  /** From the HTTP thread (the response is done, or the client went away), or destroy(). */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.emit('close')
  }
}

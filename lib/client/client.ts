import * as net from 'node:net'
import { RogError } from '../errors'
import type { Command, FetchedMessage, LogInfo, PartitionInfo, Response } from '../protocol/commands'
import { encodeCommand } from '../protocol/request-writer'
import { ResponseReader, expectFor, type Expect } from '../protocol/response-reader'
import { DEFAULT_ADDRESS, formatAddress, parseAddress, type Address } from './address'
import { Consumer, type ConsumerOptions } from './consumer'
import { Producer, type ProducerOptions } from './producer'

export type ResponseCallback = (err: RogError | null, response: Response | null) => void
type ResponseOf<K extends Response['response']> = Extract<Response, { response: K }>

export interface ClientOptions {
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number
}

export interface FetchBatchOptions {
  log: string
  partition?: number
  group: string
  /** Where to read from; null or absent: the group's committed offset. */
  offset?: number | null
  /** At most this many messages (default 1000; the server caps it at 100000). */
  maxMessages?: number
  /** At most about this many message bytes, but always one message if there is one (default 1 MiB; the server caps it at 8 MiB). */
  maxBytes?: number
  /** With nothing to read, wait up to this long for a publish (default 0; the server caps it at 60 s). */
  waitMs?: number
}

export interface MessageBatch {
  committedOffset: number
  /** One past the last message of the partition when the server answered. */
  endOffset: number
  messages: FetchedMessage[]
}

export interface LogDescription { log: string, partitions: PartitionInfo[] }

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/**
 * One connection to a Rog server. Requests are written as soon as they are
 * made (those of one tick in one socket write) and answered in order, so any
 * number can be in flight; each call's answer is matched to it by position.
 *
 * Every method rejects with a RogError: the server's own text and a code
 * recovered from it, or code CONNECTION naming the address when the
 * connection fails. A failed connection fails every request in flight and
 * every later one.
 */
export class RogClient {
  readonly address: string
  private readonly socket: net.Socket
  private readonly reader = new ResponseReader()
  private callbacks: Array<ResponseCallback | null> = []
  private head = 0
  private failure: RogError | null = null
  private corked = false
  private closing: Promise<void> | null = null
  private onIdle: (() => void) | null = null

  private constructor (socket: net.Socket, address: string) {
    this.socket = socket
    this.address = address
    socket.on('data', (chunk: Buffer) => this.receive(chunk))
    socket.on('error', (err) => this.fail(new RogError('CONNECTION', `Connection to ${address} failed: ${reason(err)}`, { cause: err })))
    socket.on('end', () => this.fail(this.closedError('closed by the server')))
    socket.on('close', () => this.fail(this.closedError('closed')))
  }

  static async connect (address: string | Address = DEFAULT_ADDRESS, options: ClientOptions = {}): Promise<RogClient> {
    const target = typeof address === 'string' ? parseAddress(address) : address
    const name = formatAddress(target)
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    const socket = net.connect({ host: target.host, port: target.port, noDelay: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new RogError('CONNECTION', `Cannot connect to ${name}: no answer after ${timeoutMs} ms`))
      }, timeoutMs)
      const onError = (err: Error): void => {
        clearTimeout(timer)
        reject(new RogError('CONNECTION', `Cannot connect to ${name}: ${reason(err)}`, { cause: err }))
      }
      socket.once('error', onError)
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.removeListener('error', onError)
        resolve()
      })
    })
    return new RogClient(socket, name)
  }

  /** Requests sent and not yet answered. */
  get pending (): number {
    return this.reader.outstanding
  }

  /**
   * The low-level call: sends `command` and calls back with its answer (a
   * server error as a RogError). No promise per request, for hot loops.
   */
  send (command: Command, callback: ResponseCallback): void {
    let frame: Buffer
    let kind: Expect
    try {
      kind = expectFor(command)
      frame = encodeCommand(command)
    } catch (err) {
      process.nextTick(callback, asRogError(err), null)
      return
    }
    this.sendFrame(frame, kind, callback)
  }

  /** Sends an already encoded request that will be answered as `kind`. */
  sendFrame (frame: Buffer, kind: Expect, callback: ResponseCallback): void {
    if (this.failure !== null) {
      process.nextTick(callback, this.failure, null)
      return
    }
    if (this.closing !== null) {
      process.nextTick(callback, new RogError('CONNECTION', `Connection to ${this.address} is closing`), null)
      return
    }
    this.reader.expect(kind)
    this.callbacks.push(callback)
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      process.nextTick(() => {
        this.corked = false
        this.socket.uncork()
      })
    }
    this.socket.write(frame)
  }

  request (command: Command): Promise<Response> {
    return new Promise((resolve, reject) => {
      this.send(command, (err, response) => {
        if (err !== null) reject(err)
        else resolve(response as Response)
      })
    })
  }

  async createLog (log: string, partitions: number): Promise<void> {
    await this.call({ command: 'create', log, partitions }, 'ok')
  }

  /** Appends one message; resolves with its offset. */
  async publish (log: string, partition: number, data: Buffer | string): Promise<number> {
    const r = await this.call({ command: 'publish', log, partition, data: toBuffer(data), reply: 'offset' }, 'offset')
    return r.offset
  }

  /** Appends messages in one request; they get consecutive offsets from `firstOffset`. */
  async publishBatch (log: string, partition: number, messages: Array<Buffer | string>): Promise<{ firstOffset: number, count: number }> {
    const r = await this.call({ command: 'publish-batch', log, partition, messages: messages.map(toBuffer) }, 'batch-published')
    return { firstOffset: r.firstOffset, count: r.count }
  }

  /** The group's next message (the reference fetch): it does not move the group. */
  async fetch (log: string, partition: number, group: string): Promise<Buffer> {
    return (await this.call({ command: 'fetch', log, partition, group }, 'message')).data
  }

  /** Moves the group on by one message (the reference ack). */
  async ack (log: string, partition: number, group: string): Promise<void> {
    await this.call({ command: 'ack', log, partition, group }, 'ok')
  }

  /** Reads messages without moving the group. */
  async fetchBatch (options: FetchBatchOptions): Promise<MessageBatch> {
    const r = await this.call(fetchBatchCommand(options), 'messages')
    return { committedOffset: r.committedOffset, endOffset: r.endOffset, messages: r.messages }
  }

  /** Sets the group's committed offset: the next message it reads is `offset`. */
  async commit (log: string, partition: number, group: string, offset: number): Promise<void> {
    await this.call({ command: 'commit', log, partition, group, offset }, 'offset')
  }

  async listLogs (): Promise<LogInfo[]> {
    return (await this.call({ command: 'list-logs' }, 'logs')).logs
  }

  /** Each partition's first and next offset, and every group's committed offset (lag: next minus committed). */
  async describe (log: string): Promise<LogDescription> {
    const r = await this.call({ command: 'describe', log }, 'log-info')
    return { log: r.log, partitions: r.partitions }
  }

  consumer (options: ConsumerOptions): Consumer {
    return new Consumer(this, options)
  }

  producer (options: ProducerOptions): Producer {
    return new Producer(this, options)
  }

  /** Waits for the answers in flight, then closes the connection. */
  close (): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      if (this.socket.destroyed) return resolve()
      this.socket.once('close', () => resolve())
      const end = (): void => { this.socket.end() }
      if (this.reader.outstanding === 0) end()
      else this.onIdle = end
    })
    return this.closing
  }

  /** Closes the connection at once; requests in flight fail. */
  destroy (): void {
    this.fail(this.closedError('closed'))
  }

  private async call<K extends Response['response']> (command: Command, kind: K): Promise<ResponseOf<K>> {
    const r = await this.request(command)
    if (r.response !== kind) throw new RogError('PROTOCOL', `Expected a ${kind} answer, got ${r.response}`)
    return r as ResponseOf<K>
  }

  private receive (chunk: Buffer): void {
    let responses: Response[]
    try {
      responses = this.reader.feed(chunk)
    } catch (err) {
      this.fail(this.reader.outstanding === 0 ? unsolicited(chunk) ?? asRogError(err) : asRogError(err))
      return
    }
    for (const r of responses) {
      const callback = this.callbacks[this.head] as ResponseCallback
      this.callbacks[this.head++] = null
      if (r.response === 'error') callback(RogError.fromServer(r.message), null)
      else callback(null, r)
    }
    if (this.head > 1024 && this.head * 2 > this.callbacks.length) {
      this.callbacks = this.callbacks.slice(this.head)
      this.head = 0
    }
    if (this.onIdle !== null && this.reader.outstanding === 0) {
      const idle = this.onIdle
      this.onIdle = null
      idle()
    }
  }

  private fail (err: RogError): void {
    if (this.failure !== null) return
    this.failure = err
    this.socket.destroy()
    const callbacks = this.callbacks
    const head = this.head
    this.callbacks = []
    this.head = 0
    for (let i = head; i < callbacks.length; i++) callbacks[i]?.(err, null)
  }

  private closedError (how: string): RogError {
    const n = this.reader.outstanding
    const unanswered = n === 0 ? '' : ` with ${n} request${n === 1 ? '' : 's'} unanswered`
    return new RogError('CONNECTION', `Connection to ${this.address} ${how}${unanswered}`)
  }
}

export function connect (address: string | Address = DEFAULT_ADDRESS, options: ClientOptions = {}): Promise<RogClient> {
  return RogClient.connect(address, options)
}

function fetchBatchCommand (o: FetchBatchOptions): Command {
  return {
    command: 'fetch-batch',
    log: o.log,
    partition: o.partition ?? 0,
    group: o.group,
    offset: o.offset ?? null,
    maxMessages: o.maxMessages ?? 1000,
    maxBytes: o.maxBytes ?? 1024 * 1024,
    waitMs: o.waitMs ?? 0
  }
}

function toBuffer (data: Buffer | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data) : data
}

function asRogError (err: unknown): RogError {
  if (err instanceof RogError) return err
  return new RogError('PROTOCOL', err instanceof Error ? err.message : String(err), { cause: err })
}

/** A server that refuses a connection says why in an error answer before any request is answered. */
function unsolicited (chunk: Buffer): RogError | null {
  if (chunk.length < 9 || chunk[0] !== 1) return null
  const size = Number(chunk.readBigUInt64BE(1))
  return chunk.length >= 9 + size ? RogError.fromServer(chunk.toString('utf8', 9, 9 + size)) : null
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host (name lookup failed)'
}

function reason (err: Error): string {
  const code = (err as NodeJS.ErrnoException).code
  return code !== undefined && code in REASONS ? REASONS[code] : err.message
}

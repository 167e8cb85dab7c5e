import * as net from 'node:net'
import { RogError } from '../errors'
import { CommandByte, type ClusterInfo, type Command, type FetchedMessage, type LogDetails, type LogInfo, type PartitionInfo, type PartitionPlacement, type Response } from '../protocol/commands'
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
  /**
   * Fail the connection when a request waits this long for its answer
   * (counted from the answer before it, or from sending it to an idle
   * connection); a long poll gets its wait on top. Default: no limit.
   */
  requestTimeoutMs?: number
}

/** A request sent and not yet answered. */
interface Pending { callback: ResponseCallback, command: number, waitMs: number }

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
  /** Ask for each message's timestamp, the first offset and where the read began (a server of 0.2 or later). */
  detailed?: boolean
}

export interface MessageBatch {
  committedOffset: number
  /** One past the last message of the partition when the server answered. */
  endOffset: number
  messages: FetchedMessage[]
  /** With `detailed`: the partition's first offset, and the offset this read began at (above the one asked for when retention deleted it). */
  detail?: { firstOffset: number, startOffset: number }
}

export interface LogSettings {
  retentionBytes?: number | null
  retentionMs?: number | null
  /** Replicas of each partition (a cluster's server; default: the cluster's default factor). */
  replicationFactor?: number
}

export interface LogDescription { log: string, partitions: PartitionInfo[] }

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/** How the original Rog server (commands 0-3 only) answers any other command byte, then hangs up. */
export const ORIGINAL_REFUSAL = 'Command not created yet'

const COMMAND_NAMES: Record<number, string> = {
  4: 'publish with offset',
  5: 'batch publish',
  6: 'batch fetch',
  7: 'commit',
  8: 'list logs',
  9: 'describe log',
  10: 'version',
  11: 'create log with settings',
  12: 'alter log',
  13: 'delete log',
  14: 'offset for time',
  15: 'describe log with settings',
  16: 'delete group',
  17: 'cluster info',
  18: 'log placement',
  22: 'init producer',
  23: 'idempotent publish'
}

/**
 * Commands each server address refused as unknown, for the life of the
 * process: 'original' for an original Rog server, which knows only 0-3.
 * They are not sent there again.
 */
const refused = new Map<string, Set<number> | 'original'>()

/**
 * One connection to a Rog server. Requests are written as soon as they are
 * made (those of one tick in one socket write) and answered in order, so any
 * number can be in flight; each call's answer is matched to it by position.
 *
 * Every method rejects with a RogError: the server's own text and a code
 * recovered from it, or code CONNECTION naming the address when the
 * connection fails (TIMEOUT when the server stops answering, NOT_ROG_SERVER
 * when what answers does not speak the protocol). A failed connection fails
 * every request in flight and every later one.
 *
 * A command of Rog's own (4 and up) that the server answers as unknown
 * rejects with code UNSUPPORTED, and is not sent to that address again
 * (see `supports`): the original Rog server knows only commands 0-3.
 */
export class RogClient {
  readonly address: string
  private readonly socket: net.Socket
  private readonly reader = new ResponseReader()
  private pendings: Array<Pending | null> = []
  private head = 0
  private failure: RogError | null = null
  private corked = false
  private closing: Promise<void> | null = null
  private onIdle: (() => void) | null = null
  private readonly requestTimeoutMs: number | null
  private timer: NodeJS.Timeout | null = null
  /** When the request at the head of the queue started waiting for its answer. */
  private headSince = 0

  private constructor (socket: net.Socket, address: string, options: ClientOptions) {
    this.socket = socket
    this.address = address
    this.requestTimeoutMs = options.requestTimeoutMs ?? null
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
    return new RogClient(socket, name, options)
  }

  /** Requests sent and not yet answered. */
  get pending (): number {
    return this.reader.outstanding
  }

  /** The connection has failed or is closing: it takes no more requests. */
  get closed (): boolean {
    return this.failure !== null || this.closing !== null
  }

  /** The server at this address has refused every command of Rog's own: it is an original Rog server. */
  get original (): boolean {
    return RogClient.isOriginal(this.address)
  }

  /** Whether the server at `address` has been found to be an original Rog server (by any client of this process). */
  static isOriginal (address: string | Address): boolean {
    return refused.get(formatAddress(typeof address === 'string' ? parseAddress(address) : address)) === 'original'
  }

  /** Whether `command` may be sent: false once this address has refused it as unknown. */
  supports (command: number): boolean {
    if (command < CommandByte.publishOffset) return true
    const known = refused.get(this.address)
    return known === undefined || (known !== 'original' && !known.has(command))
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
    this.sendFrame(frame, kind, callback, command.command === 'fetch-batch' ? command.waitMs : 0)
  }

  /** Sends an already encoded request that will be answered as `kind`; `waitMs`: how long the server may hold it (a long poll). */
  sendFrame (frame: Buffer, kind: Expect, callback: ResponseCallback, waitMs = 0): void {
    if (this.failure !== null) {
      process.nextTick(callback, this.failure, null)
      return
    }
    if (this.closing !== null) {
      process.nextTick(callback, new RogError('CONNECTION', `Connection to ${this.address} is closing`), null)
      return
    }
    if (!this.supports(frame[0])) {
      process.nextTick(callback, this.unsupported(frame[0]), null)
      return
    }
    if (this.requestTimeoutMs !== null && this.reader.outstanding === 0) {
      this.headSince = performance.now()
      this.timer ??= setTimeout(() => this.checkTimeout(), this.requestTimeoutMs + waitMs)
    }
    this.reader.expect(kind)
    this.pendings.push({ callback, command: frame[0], waitMs })
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

  /** Creates a log; with retention settings it takes command 11 (null or absent: the server's default). */
  async createLog (log: string, partitions: number, settings: LogSettings = {}): Promise<void> {
    if ((settings.retentionBytes ?? null) === null && (settings.retentionMs ?? null) === null && settings.replicationFactor === undefined) {
      await this.call({ command: 'create', log, partitions }, 'ok')
      return
    }
    const c: Command = { command: 'create-with-settings', log, partitions, retentionBytes: settings.retentionBytes ?? null, retentionMs: settings.retentionMs ?? null }
    if (settings.replicationFactor !== undefined) c.replicationFactor = settings.replicationFactor
    await this.call(c, 'done')
  }

  /** Changes a live log: more partitions, or its retention (null: back to the server's default). */
  async alterLog (log: string, change: LogSettings & { partitions?: number }): Promise<void> {
    await this.call({ command: 'alter-log', log, ...change }, 'done')
  }

  /** Deletes a consumer group from every partition of a log (code NO_GROUP when none knows it). */
  async deleteGroup (log: string, group: string): Promise<void> {
    await this.call({ command: 'delete-group', log, group }, 'done')
  }

  /** Deletes a log and all its data. */
  async deleteLog (log: string): Promise<void> {
    await this.call({ command: 'delete-log', log }, 'done')
  }

  /** The first offset of a partition whose message is stamped at or after `timestamp` (ms); the end offset when none is. */
  async offsetForTime (log: string, partition: number, timestamp: number): Promise<number> {
    return (await this.call({ command: 'offset-for-time', log, partition, timestamp }, 'offset')).offset
  }

  /** Retention settings (the log's own, else the server's default), and per partition its offsets, bytes on disk and groups. */
  async describeLog (log: string): Promise<LogDetails> {
    return (await this.call({ command: 'describe-log', log }, 'log-details')).details
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
    return { committedOffset: r.committedOffset, endOffset: r.endOffset, messages: r.messages, ...(r.detail === undefined ? {} : { detail: r.detail }) }
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

  /** The server's version (command 10; an older or original server refuses it with code UNSUPPORTED). */
  async version (): Promise<string> {
    return (await this.call({ command: 'version' }, 'version')).version
  }

  /** The cluster's nodes and controller (command 17); `cluster` is null from a single node. */
  async clusterInfo (): Promise<ClusterInfo> {
    return JSON.parse((await this.call({ command: 'cluster-info' }, 'json')).body.toString()) as ClusterInfo
  }

  /** Each partition's leader, epoch, replicas and in-sync replicas (command 18; a cluster's server). */
  async logPlacement (log: string): Promise<PartitionPlacement[]> {
    return (JSON.parse((await this.call({ command: 'log-placement', log }, 'json')).body.toString()) as { partitions: PartitionPlacement[] }).partitions
  }

  /**
   * A new producer id for idempotent publishing (command 22): an integer in
   * [1, 2^53), unique in the cluster (random on a single node).
   */
  async initProducer (): Promise<number> {
    const body = (await this.call({ command: 'init-producer' }, 'json')).body.toString()
    const id = (JSON.parse(body) as { producerId?: unknown }).producerId
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw new RogError('PROTOCOL', `Expected a producer id, got ${body.slice(0, 100)}`)
    return id
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
      const refusal = this.reader.outstanding === 0 ? unsolicited(chunk) : null
      this.fail(refusal ?? new RogError('NOT_ROG_SERVER', `${this.address} is not a Rog server (it answered ${preview(chunk)})`, { cause: err }))
      return
    }
    if (responses.length > 0) this.headSince = performance.now()
    for (const r of responses) {
      const { callback, command } = this.pendings[this.head] as Pending
      this.pendings[this.head++] = null
      if (r.response === 'error') callback(this.serverError(r.message, command), null)
      else callback(null, r)
    }
    if (this.head > 1024 && this.head * 2 > this.pendings.length) {
      this.pendings = this.pendings.slice(this.head)
      this.head = 0
    }
    if (this.onIdle !== null && this.reader.outstanding === 0) {
      const idle = this.onIdle
      this.onIdle = null
      idle()
    }
  }

  /** A server error answer; a framed command refused as unknown is remembered for this address. */
  private serverError (message: string, command: number): RogError {
    if (command >= CommandByte.publishOffset) {
      if (message === ORIGINAL_REFUSAL) {
        refused.set(this.address, 'original')
        return this.unsupported(command)
      }
      if (message === RogError.unknownCommand(command).message) {
        const known = refused.get(this.address)
        if (known === undefined) refused.set(this.address, new Set([command]))
        else if (known !== 'original') known.add(command)
        return this.unsupported(command)
      }
    }
    return RogError.fromServer(message)
  }

  private unsupported (command: number): RogError {
    const what = `${COMMAND_NAMES[command] ?? 'command'} (command ${command})`
    return this.original
      ? new RogError('UNSUPPORTED', `${this.address} is an original Rog server, without ${what}; it has only create log, publish, fetch and ack (commands 0-3)`)
      : new RogError('UNSUPPORTED', `${this.address} does not know ${what}: an older Rog server`)
  }

  private checkTimeout (): void {
    this.timer = null
    if (this.failure !== null || this.reader.outstanding === 0 || this.requestTimeoutMs === null) return
    const head = this.pendings[this.head] as Pending
    const left = this.headSince + this.requestTimeoutMs + head.waitMs - performance.now()
    if (left > 0) {
      this.timer = setTimeout(() => this.checkTimeout(), left)
      return
    }
    this.fail(new RogError('TIMEOUT', `No answer from ${this.address} within ${seconds(this.requestTimeoutMs)}`))
  }

  private fail (err: RogError): void {
    if (this.failure !== null) return
    this.failure = err
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.socket.destroy()
    const pendings = this.pendings
    const head = this.head
    this.pendings = []
    this.head = 0
    for (let i = head; i < pendings.length; i++) pendings[i]?.callback(err, null)
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
    waitMs: o.waitMs ?? 0,
    ...(o.detailed === true ? { detailed: true } : {})
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

/** The start of what a server sent, for saying what it is: its first line when that is text, else hex. */
function preview (chunk: Buffer): string {
  const head = chunk.subarray(0, 64)
  const line = head.toString('latin1').split(/\r?\n/)[0]
  if (line.length > 0 && /^[\x20-\x7e]+$/.test(line)) return JSON.stringify(line)
  return `bytes ${head.subarray(0, 16).toString('hex')}`
}

function seconds (ms: number): string {
  return `${ms / 1000} s`
}

function reason (err: Error): string {
  const code = (err as NodeJS.ErrnoException).code
  return code !== undefined && code in REASONS ? REASONS[code] : err.message
}

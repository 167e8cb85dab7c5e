import { Writable } from 'node:stream'
import { RogError } from '../errors'
import { PlainSender, type BatchSender } from './batch-sender'
import type { RogClient } from './client'
import type { ClusterClient } from './cluster-client'
import { MAX_IDEMPOTENT_IN_FLIGHT } from './idempotent-sender'

export interface ProducerOptions {
  log: string
  partition?: number
  /** Messages per publish-batch request, at most (default 1000). */
  batchMessages?: number
  /** Message bytes per request, roughly: a batch is sent once it reaches this (default 256 KiB). */
  batchBytes?: number
  /** Requests in flight, at most (default 8; at most 32 through a ClusterClient); beyond it, writes are held. */
  maxInFlight?: number
  /** Messages held beyond the window before `write()` returns false (default: batchMessages). */
  highWaterMark?: number
}

/**
 * A Writable of messages (Buffers or strings) published to one partition.
 *
 * Messages are gathered into publish-batch requests: a batch is sent when it
 * is full, or at once when nothing is in flight (so a slow writer is not kept
 * waiting), or at the end. At most `maxInFlight` requests are unanswered;
 * while the window is full the write callback is held, so memory stays
 * bounded: the window, one batch being gathered, and `highWaterMark` messages
 * buffered by the stream, after which `write()` returns false.
 *
 * 'finish' means every message was acknowledged. The first failed request
 * fails the stream once the requests in flight are answered, so
 * `acknowledged` then counts every message the server confirmed.
 *
 * On a RogClient's connection the batches are publish-batch requests
 * (command 5), and any failure fails the stream. Through a ClusterClient
 * they go to the partition's leader as an idempotent producer's
 * (IdempotentSender): retried across a failover for up to its `retryMs`,
 * each stored once and in order; only a failure that outlasts the retries
 * fails the stream.
 */
export class Producer extends Writable {
  readonly log: string
  readonly partition: number
  /** Messages taken from the stream into batches. */
  taken = 0
  /** Messages the server has confirmed. */
  acknowledged = 0
  /** The offset the server gave the last confirmed message (-1: none yet). */
  lastOffset = -1
  private readonly sender: BatchSender
  private readonly batchMessages: number
  private readonly batchBytes: number
  private readonly maxInFlight: number
  private batch: Buffer[] = []
  private bytes = 0
  private inFlight = 0
  private held: ((err?: Error | null) => void) | null = null
  private finalCallback: ((err?: Error | null) => void) | null = null
  private failure: RogError | null = null
  private flushScheduled = false

  constructor (client: RogClient | ClusterClient, options: ProducerOptions) {
    const batchMessages = options.batchMessages ?? 1000
    super({ objectMode: true, highWaterMark: options.highWaterMark ?? batchMessages })
    this.log = options.log
    this.partition = options.partition ?? 0
    this.batchMessages = batchMessages
    this.batchBytes = options.batchBytes ?? 256 * 1024
    // A RogClient has send(); a ClusterClient routes and retries.
    const direct = 'send' in client
    this.maxInFlight = options.maxInFlight ?? 8
    if (!direct && this.maxInFlight > MAX_IDEMPOTENT_IN_FLIGHT) throw new RangeError(`maxInFlight is at most ${MAX_IDEMPOTENT_IN_FLIGHT} through a ClusterClient (the batches a leader remembers per producer), got ${this.maxInFlight}`)
    this.sender = direct ? new PlainSender(client, this.log, this.partition) : client.sender(this.log, this.partition)
  }

  override _write (chunk: Buffer | string, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.add(chunk)
    this.afterAdd(callback)
  }

  override _writev (chunks: Array<{ chunk: Buffer | string }>, callback: (err?: Error | null) => void): void {
    for (const { chunk } of chunks) this.add(chunk)
    this.afterAdd(callback)
  }

  override _final (callback: (err?: Error | null) => void): void {
    if (this.failure === null && this.batch.length > 0) this.send()
    this.finalCallback = callback
    this.settle()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.sender.close()
    this.batch = []
    this.held = null
    this.finalCallback = null
    callback(err)
  }

  private add (chunk: Buffer | string): void {
    const message = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    this.batch.push(message)
    this.taken++
    this.bytes += message.length
    if (this.failure === null && (this.batch.length >= this.batchMessages || this.bytes >= this.batchBytes)) this.send()
  }

  private afterAdd (callback: (err?: Error | null) => void): void {
    if (this.failure !== null) {
      this.held = callback
      this.settle()
      return
    }
    if (this.batch.length > 0 && this.inFlight === 0 && !this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => {
        this.flushScheduled = false
        if (this.batch.length > 0 && this.inFlight === 0 && this.failure === null && !this.destroyed) this.send()
      })
    }
    if (this.inFlight >= this.maxInFlight) this.held = callback
    else callback()
  }

  private send (): void {
    const messages = this.batch
    this.batch = []
    this.bytes = 0
    this.inFlight++
    this.sender.send(messages, (err, published) => {
      this.inFlight--
      if (err !== null) {
        this.failure ??= err
      } else if (published !== null) {
        this.acknowledged += published.count
        this.lastOffset = published.firstOffset + published.count - 1
      }
      if (this.failure === null && this.inFlight === 0 && this.batch.length > 0 && this.finalCallback === null) this.send()
      this.settle()
    })
  }

  /** Releases a held write once the window has room; ends or fails the stream once nothing is in flight. */
  private settle (): void {
    if (this.failure !== null) {
      if (this.inFlight > 0 || this.destroyed) return
      const callback = this.held ?? this.finalCallback
      this.held = null
      this.finalCallback = null
      if (callback !== null) callback(this.failure)
      else this.destroy(this.failure)
      return
    }
    if (this.held !== null && this.inFlight < this.maxInFlight) {
      const callback = this.held
      this.held = null
      callback()
    }
    if (this.finalCallback !== null && this.inFlight === 0) {
      if (this.batch.length > 0) return this.send()
      const callback = this.finalCallback
      this.finalCallback = null
      callback()
    }
  }
}

import { Writable } from 'node:stream'
import type { RogClient } from './client'
import type { ClusterClient } from './cluster-client'
import { Producer, type ProducerOptions } from './producer'
import type { Partitioner } from './partitioner'

export interface PartitionedProducerOptions extends Omit<ProducerOptions, 'partition'> {
  /** Called once per message, in order: the partition it goes to. */
  partitioner: Partitioner
}

/**
 * A Writable of messages spread over a log's partitions: one Producer per
 * partition a message goes to, all on one connection (through a
 * ClusterClient: each to its partition's leader, retried across a failover
 * and stored once, as its Producer says). Messages to one
 * partition keep their order. A write is held while the producer it went to
 * is over its high-water mark; 'finish' means every producer has finished
 * (every message acknowledged); the first producer to fail fails this stream.
 */
export class PartitionedProducer extends Writable {
  readonly log: string
  private readonly client: RogClient | ClusterClient
  private readonly options: PartitionedProducerOptions
  private readonly producers = new Map<number, Producer>()
  private finalCallback: ((err?: Error | null) => void) | null = null
  private failed = false

  constructor (client: RogClient | ClusterClient, options: PartitionedProducerOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark ?? options.batchMessages ?? 1000 })
    this.client = client
    this.log = options.log
    this.options = options
  }

  /** Messages taken into batches, over all partitions. */
  get taken (): number {
    let n = 0
    for (const p of this.producers.values()) n += p.taken
    return n
  }

  /** Messages the server has confirmed, over all partitions. */
  get acknowledged (): number {
    let n = 0
    for (const p of this.producers.values()) n += p.acknowledged
    return n
  }

  override _write (chunk: Buffer | string, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.route([chunk], callback)
  }

  override _writev (chunks: Array<{ chunk: Buffer | string }>, callback: (err?: Error | null) => void): void {
    this.route(chunks.map((c) => c.chunk), callback)
  }

  override _final (callback: (err?: Error | null) => void): void {
    let left = this.producers.size
    if (left === 0) return callback()
    this.finalCallback = callback
    for (const p of this.producers.values()) {
      p.once('finish', () => { if (--left === 0) this.settle(null) })
      p.end()
    }
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    for (const p of this.producers.values()) p.destroy()
    callback(err)
  }

  private route (messages: Array<Buffer | string>, callback: (err?: Error | null) => void): void {
    const full = new Set<Producer>()
    for (const m of messages) {
      const producer = this.producer(this.options.partitioner())
      if (!producer.write(m)) full.add(producer)
    }
    let left = full.size
    if (left === 0) return callback()
    for (const p of full) p.once('drain', () => { if (--left === 0) callback() })
  }

  private producer (partition: number): Producer {
    let p = this.producers.get(partition)
    if (p === undefined) {
      p = new Producer(this.client, { ...this.options, partition })
      p.on('error', (err) => this.fail(err))
      this.producers.set(partition, p)
    }
    return p
  }

  private fail (err: Error): void {
    if (this.failed) return
    this.failed = true
    if (this.finalCallback !== null) this.settle(err)
    else this.destroy(err)
  }

  private settle (err: Error | null): void {
    const callback = this.finalCallback
    this.finalCallback = null
    callback?.(err)
  }
}

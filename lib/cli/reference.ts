import { Writable } from 'node:stream'
import { RogError } from '../errors'
import type { Partitioner } from '../client/partitioner'
import type { Session } from './session'

/**
 * What the CLI does on an original Rog server, which knows only commands 0-3
 * and answers one request per connection: each request there goes on a
 * connection of its own.
 */

/** Publishes one message, to the partition's leader in a cluster; resolves with its offset, or null from an original server (command 1 answers no offset). */
export async function publishOne (session: Session, log: string, partition: number, data: Buffer): Promise<number | null> {
  const cluster = await session.cluster()
  if (!cluster.original) return await cluster.publish(log, partition, data)
  await referencePublish(session, log, partition, data)
  return null
}

async function referencePublish (session: Session, log: string, partition: number, data: Buffer): Promise<void> {
  await session.alone(async (c) => { await c.request({ command: 'publish', log, partition, data, reply: 'ok' }) })
}

export interface LogPartitions {
  count: number
  /** The server is an original Rog server. */
  original: boolean
}

const EMPTY = Buffer.alloc(0)

/**
 * How many partitions a log has: describe (command 9) of any node that
 * answers. The original server (found out by the cluster client's first
 * question, which it refuses) has no describe, but refuses a publish to
 * partition 255 (which no log has, 255 partitions being numbered 0-254) with
 * a text that gives the count, and stores nothing.
 */
export async function logPartitions (session: Session, log: string): Promise<LogPartitions> {
  const cluster = await session.cluster()
  if (!cluster.original) return { count: (await cluster.describe(log)).partitions.length, original: false }
  try {
    await referencePublish(session, log, 255, EMPTY)
  } catch (err) {
    const count = err instanceof RogError && err.code === 'BAD_PARTITION' ? /has (\d+) partitions$/.exec(err.message) : null
    if (count !== null) return { count: Number(count[1]), original: true }
    throw err
  }
  throw new RogError('PROTOCOL', 'The server took a publish to partition 255')
}

/**
 * A Writable of messages published as the original server takes them: each
 * with command 1 on a connection of its own, the next only once the last is
 * answered, which keeps their order.
 */
export class ReferencePublisher extends Writable {
  taken = 0
  acknowledged = 0
  private readonly session: Session
  private readonly log: string
  private readonly partitioner: Partitioner

  constructor (session: Session, log: string, partitioner: Partitioner) {
    super({ objectMode: true, highWaterMark: 16 })
    this.session = session
    this.log = log
    this.partitioner = partitioner
  }

  override _write (chunk: Buffer | string, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.taken++
    referencePublish(this.session, this.log, this.partitioner(), typeof chunk === 'string' ? Buffer.from(chunk) : chunk).then(() => {
      this.acknowledged++
      callback()
    }, callback)
  }
}

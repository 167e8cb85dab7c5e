import { Writable } from 'node:stream'
import { RogError } from '../errors'
import type { RogClient } from '../client/client'
import type { Partitioner } from '../client/partitioner'
import type { Session } from './session'

/**
 * What the CLI does on an original Rog server, which knows only commands 0-3
 * and answers one request per connection: each request there goes on a
 * connection of its own.
 */

/** The error says `client` is an original Rog server (which has just hung up). */
export function isOriginal (err: unknown, client: RogClient): boolean {
  return err instanceof RogError && err.code === 'UNSUPPORTED' && client.original
}

/** Publishes one message; resolves with its offset, or null from an original server (command 1 answers no offset). */
export async function publishOne (session: Session, log: string, partition: number, data: Buffer): Promise<number | null> {
  if (!session.original) {
    const client = await session.client()
    try {
      return await client.publish(log, partition, data)
    } catch (err) {
      if (!isOriginal(err, client)) throw err
    }
  }
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
 * How many partitions a log has: describe (command 9). The original server
 * has no describe, but refuses a publish to partition 255 (which no log has,
 * 255 partitions being numbered 0-254) with a text that gives the count, and
 * stores nothing.
 */
export async function logPartitions (session: Session, log: string): Promise<LogPartitions> {
  if (!session.original) {
    const client = await session.client()
    try {
      return { count: (await client.describe(log)).partitions.length, original: false }
    } catch (err) {
      if (!isOriginal(err, client)) throw err
    }
  }
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

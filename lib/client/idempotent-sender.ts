import { RogError } from '../errors'
import type { Command, Response } from '../protocol/commands'
import type { BatchSender, PublishedCallback } from './batch-sender'
import type { RogClient } from './client'
import type { ClusterClient } from './cluster-client'
import { gaveUp } from './retry'

/** Batches of one producer and partition in flight, at most: the leader remembers a producer's last 32 batches. */
export const MAX_IDEMPOTENT_IN_FLIGHT = 32
/** Sequences are u32 on the wire. */
const SEQUENCE_SPACE = 2 ** 32

interface Batch { messages: Buffer[], sequence: number, callback: PublishedCallback }

/**
 * One producer's batches to one partition, idempotently (Kafka's idempotent
 * producer): the producer id comes from the cluster (command 22), each batch
 * is numbered with the sequence of its first message (from 0, per
 * partition), and goes to the partition's leader as command 23.
 *
 * Every batch not yet acknowledged is kept, and at most
 * MAX_IDEMPOTENT_IN_FLIGHT of them are in flight (the rest wait their turn
 * in order). When one fails with a retriable
 * error (a lost connection, no answer in time, NOT_LEADER, an earlier batch
 * missing, ...), the answers still to come for that round are ignored, the
 * leader is asked again, and every unacknowledged batch is sent again in
 * order with its own sequence, after a backoff, for up to the cluster
 * client's `retryMs` since the first failure. A batch the leader already
 * stored is answered with its original offsets instead of being stored
 * twice, so order and exactly-once hold across a failover. When retrying
 * runs out (or on any other error), every unacknowledged batch fails, in
 * order, with that error, and so does every later one.
 *
 * Against a server without command 22 (older than idempotent publishing)
 * batches go as plain publish-batch requests and are answered as that
 * server answers each one, nothing retried: what a plain producer does.
 */
export class IdempotentSender implements BatchSender {
  readonly log: string
  readonly partition: number
  private readonly cluster: ClusterClient
  /** undefined: not asked yet; null: the server has no idempotent publishing. */
  private producerId: number | null | undefined = undefined
  private nextSequence = 0
  /** Batches sent or to send, not yet acknowledged, in sequence order; the first `sent` are in flight in this round. */
  private readonly unacked: Batch[] = []
  private sent = 0
  /** Bumped whenever the batches in flight are given up on: answers of an older round are ignored. */
  private round = 0
  private connection: RogClient | null = null
  /** Asking for the producer id or the leader. */
  private preparing = false
  private timer: NodeJS.Timeout | null = null
  private failingSince: number | null = null
  private attempts = 0
  private failure: RogError | null = null

  constructor (cluster: ClusterClient, log: string, partition: number) {
    this.cluster = cluster
    this.log = log
    this.partition = partition
  }

  send (messages: Buffer[], callback: PublishedCallback): void {
    if (this.failure === null && this.nextSequence + messages.length > SEQUENCE_SPACE) {
      this.fail(new RogError('UNSUPPORTED', `A producer publishes at most ${SEQUENCE_SPACE} messages to a partition: use a new producer for partition ${this.partition} of log ${this.log}`))
    }
    if (this.failure !== null) {
      process.nextTick(callback, this.failure, null)
      return
    }
    this.unacked.push({ messages, sequence: this.nextSequence, callback })
    this.nextSequence += messages.length
    this.pump()
  }

  /** Stops: every batch not yet acknowledged fails (it may or may not have been stored), and so does every later one. */
  close (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.fail(this.failure ?? new RogError('CONNECTION', 'The producer is closed; its batches not yet acknowledged may or may not have been stored'))
  }

  private pump (): void {
    if (this.failure !== null || this.timer !== null || this.preparing) return
    if (this.producerId === undefined || this.connection === null) return this.prepare()
    // The leader remembers a producer's last MAX_IDEMPOTENT_IN_FLIGHT batches: a retry of an older one could not be told from a new one.
    while (this.sent < this.unacked.length && this.sent < MAX_IDEMPOTENT_IN_FLIGHT) this.transmit(this.unacked[this.sent++])
  }

  /** Gets the producer id (once) and the leader's connection, then sends what waits. */
  private prepare (): void {
    this.preparing = true
    const round = this.round
    const ready = async (): Promise<RogClient> => {
      this.producerId ??= await this.cluster.producerId()
      return await this.cluster.leader(this.log, this.partition)
    }
    ready().then((client) => {
      this.preparing = false
      if (round !== this.round) return
      this.connection = client
      this.pump()
    }, (err: unknown) => {
      this.preparing = false
      if (round !== this.round) return
      // producerId() retries on its own: its failure is final.
      if (this.producerId === undefined) this.fail(err)
      else this.trouble(err, null)
    })
  }

  private transmit (batch: Batch): void {
    const client = this.connection as RogClient
    const round = this.round
    const { log, partition } = this
    const command: Command = this.producerId === null || this.producerId === undefined
      ? { command: 'publish-batch', log, partition, messages: batch.messages }
      : { command: 'idempotent-publish', log, partition, producerId: this.producerId, sequence: batch.sequence, messages: batch.messages }
    client.send(command, (err, response) => {
      if (round === this.round) this.answered(batch, client, err, response)
    })
  }

  private answered (batch: Batch, client: RogClient, err: RogError | null, response: Response | null): void {
    if (this.producerId === null) {
      // A plain publish: answered as it comes.
      this.unacked.shift()
      this.sent--
      if (err !== null) {
        if (client.closed) this.connection = null
        batch.callback(err, null)
      } else if (response?.response === 'batch-published') batch.callback(null, { firstOffset: response.firstOffset, count: response.count })
      this.pump()
      return
    }
    if (err !== null) return this.trouble(err, client.address)
    if (this.unacked[0] !== batch || response?.response !== 'batch-published' || response.count !== batch.messages.length) {
      return this.fail(new RogError('PROTOCOL', `${client.address} answered sequence ${batch.sequence} of partition ${this.partition} of log ${this.log} with ${JSON.stringify(response)}`))
    }
    this.unacked.shift()
    this.sent--
    this.failingSince = null
    this.attempts = 0
    batch.callback(null, { firstOffset: response.firstOffset, count: response.count })
    this.pump()
  }

  /** A failure of the round: every unacknowledged batch is sent again after a backoff, or, once retrying is over, fails. */
  private trouble (err: unknown, address: string | null): void {
    this.round++
    this.connection = null
    this.sent = 0
    this.failingSince ??= performance.now()
    const wait = this.cluster.retryDelay(err, this.failingSince, this.attempts++)
    if (wait === null) return this.fail(this.attempts > 1 ? gaveUp(err, this.failingSince) : err)
    this.cluster.failed(this.log, this.partition, err, address)
    this.timer = setTimeout(() => {
      this.timer = null
      this.pump()
    }, wait)
  }

  private fail (err: unknown): void {
    this.failure = err instanceof RogError ? err : new RogError('PROTOCOL', String(err), { cause: err })
    this.round++
    this.sent = 0
    for (const b of this.unacked.splice(0)) b.callback(this.failure, null)
  }
}

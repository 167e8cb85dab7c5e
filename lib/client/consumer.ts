import type { RogError } from '../errors'
import type { FetchBatchCommand, FetchedMessage, Response } from '../protocol/commands'
import type { RogClient } from './client'

export interface ConsumerOptions {
  log: string
  partition?: number
  group: string
  /** First offset to read; default: the group's committed offset. */
  from?: number
  /** Messages per fetch (default 10000; the server caps it at 100000). */
  maxMessages?: number
  /** Message bytes per fetch, roughly (default 1 MiB; the server caps it at 8 MiB). */
  maxBytes?: number
  /** How long one fetch waits for new messages (default 30 s). */
  waitMs?: number
  /** Stop after this many messages (default: no limit). */
  limit?: number
  /** Keep waiting for new messages at the end of the partition (default true); false: stop there. */
  follow?: boolean
  /**
   * Commit automatically (default true): a batch once the next batch is
   * asked for, a message once the next message is asked for, and all of it
   * when the iteration ends by itself (limit or end of partition). Otherwise
   * call `commit()`.
   */
  autoCommit?: boolean
  /** Aborting ends the iteration, even during a long poll. */
  signal?: AbortSignal
  /** Ask for each message's timestamp (detailed batch fetches: a server of 0.2 or later). */
  timestamps?: boolean
}

export interface ConsumedBatch {
  messages: FetchedMessage[]
  /** The offset after the last message of the batch. */
  nextOffset: number
  /** One past the last message of the partition when the server answered. */
  endOffset: number
}

interface Fetch { batch: ConsumedBatch | null, error: RogError | null, done: Promise<void> }

/**
 * Where a consumer's requests go. A RogClient: its one connection. A
 * ClusterClient: the partition's leader, found again after a failover, the
 * fetches retried there from the same offset.
 */
export interface ConsumerRoute {
  /** `reached`: the offset asked for is one this consumer read up to (not one it was given); `abandoned`: the consumer was closed, stop retrying. */
  fetch: (command: FetchBatchCommand, reached: boolean, abandoned: () => boolean) => Promise<Response>
  commit: (offset: number, group: string) => Promise<void>
  /** The consumer is done (for now): connections of its own are closed. */
  release: () => void
}

/** A RogClient's route: requests on its connection, as they are. */
function direct (client: RogClient, log: string, partition: number): ConsumerRoute {
  return {
    fetch: async (command) => await client.request(command),
    commit: async (offset, group) => { await client.commit(log, partition, group, offset) },
    release: () => {}
  }
}

const noop = (): void => {}

/**
 * Reads a partition as a consumer group: an async iterable of messages, or of
 * batches through `batches()`.
 *
 * Fetches are batch fetches from an explicit position (the group's committed
 * offset the first time), so they never depend on commits having landed. While
 * the partition holds more than the last batch, the next fetch is already in
 * flight as the caller handles the current one; at the end of the partition
 * the next fetch is a long poll, sent only when the caller asks for more, so
 * commits made meanwhile reach the server ahead of it on the connection.
 *
 * Through a ClusterClient (`ClusterClient.consumer`), fetches go to the
 * partition's leader on a connection of the consumer's own, and commits on
 * the shared ones; a fetch that fails with a retriable error (the leader
 * moved, its node died or stopped answering) is retried at the new leader
 * from the same position, so nothing is skipped or delivered twice.
 */
export class Consumer implements AsyncIterable<FetchedMessage> {
  readonly log: string
  readonly partition: number
  readonly group: string
  /** Messages handed to the caller. */
  delivered = 0
  private readonly route: ConsumerRoute
  private readonly options: ConsumerOptions
  private readonly limit: number
  private readonly follow: boolean
  private readonly autoCommit: boolean
  /** The next offset to fetch; null until the first answer when starting from the committed offset. */
  private position: number | null
  /** The offset after the last message handed to the caller. */
  private handed: number | null = null
  /** The last answer's end was below the offset asked: the next fetch waits for it. */
  private trailing = false
  private closed = false
  private wakeClosed: () => void = noop
  private readonly closedSignal: Promise<void>
  private commits: Array<Promise<void>> = []
  private commitError: RogError | null = null

  constructor (client: RogClient | ConsumerRoute, options: ConsumerOptions) {
    this.options = options
    this.log = options.log
    this.partition = options.partition ?? 0
    // A RogClient has send(); a route has not.
    this.route = 'send' in client ? direct(client, this.log, this.partition) : client
    this.group = options.group
    this.position = options.from ?? null
    this.limit = options.limit ?? Infinity
    this.follow = options.follow ?? true
    this.autoCommit = options.autoCommit ?? true
    this.closedSignal = new Promise((resolve) => { this.wakeClosed = resolve })
    const signal = options.signal
    if (signal !== undefined) {
      if (signal.aborted) this.close()
      else signal.addEventListener('abort', () => this.close(), { once: true })
    }
  }

  /** Ends the iteration: a pending `next()` resolves as done at once; answers still in flight are dropped. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.route.release()
    this.wakeClosed()
  }

  /** Sets the group's committed offset (default: after the last message handed out). Commits are pipelined, answered in order. */
  commit (offset: number | null = this.handed): Promise<void> {
    if (offset === null) return Promise.resolve()
    const done = this.route.commit(offset, this.group)
    const tracked = done.then(() => {
      this.commits.splice(this.commits.indexOf(tracked), 1)
    }, (err: RogError) => {
      this.commits.splice(this.commits.indexOf(tracked), 1)
      this.commitError ??= err
    })
    this.commits.push(tracked)
    return done
  }

  /** Resolves once every commit sent so far is answered; rejects with the first that failed. */
  async flushCommits (): Promise<void> {
    while (this.commits.length > 0) await Promise.all(this.commits)
    if (this.commitError !== null) throw this.commitError
  }

  async * batches (): AsyncGenerator<ConsumedBatch, void, undefined> {
    try {
      yield * this.fetched()
    } finally {
      this.route.release()
    }
  }

  private async * fetched (): AsyncGenerator<ConsumedBatch, void, undefined> {
    let ahead: Fetch | null = null
    let uncommitted: number | null = null
    while (!this.closed) {
      if (this.commitError !== null) throw this.commitError
      if (uncommitted !== null) {
        void this.commit(uncommitted).catch(noop)
        uncommitted = null
      }
      if (this.delivered >= this.limit) break
      const fetch: Fetch = ahead ?? this.fetch()
      ahead = null
      await Promise.race([fetch.done, this.closedSignal])
      if (this.closed) return
      if (fetch.error !== null) throw fetch.error
      const batch = fetch.batch as ConsumedBatch
      const caughtUp = batch.nextOffset >= batch.endOffset
      // An end below the offset asked is not the end: a leader elected a moment ago, whose high watermark
      // has not caught up with its predecessor's. Asked again with a wait, it answers once it has.
      this.trailing = batch.messages.length === 0 && batch.endOffset < batch.nextOffset
      if (batch.messages.length === 0) {
        if (caughtUp && !this.follow && !this.trailing) break
        continue
      }
      this.position = batch.nextOffset
      this.delivered += batch.messages.length
      if (!caughtUp && this.delivered < this.limit) ahead = this.fetch()
      this.handed = batch.nextOffset
      yield batch
      if (this.autoCommit) uncommitted = batch.nextOffset
      if (caughtUp && !this.follow) {
        if (uncommitted !== null) void this.commit(uncommitted).catch(noop)
        break
      }
    }
    if (this.autoCommit) await this.flushCommits()
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<FetchedMessage, void, undefined> {
    const autoCommit = this.autoCommit
    /** The offset of the message in hand: every one before it is handled. */
    let inHand: number | null = null
    let ended = false
    try {
      for await (const batch of this.batches()) {
        for (let i = 0; i < batch.messages.length; i++) {
          // Within a batch, a message counts as handled once the next one is asked for.
          if (autoCommit && i > 0 && i % 1000 === 0) void this.commit(batch.messages[i].offset).catch(noop)
          this.handed = batch.messages[i].offset + 1
          inHand = batch.messages[i].offset
          yield batch.messages[i]
        }
      }
      ended = true
    } finally {
      // Left early (a break or return in the loop, or an error): what was handled before the message in hand is committed.
      if (autoCommit && !ended && inHand !== null && !this.closed) await this.commit(inHand).catch(noop)
    }
  }

  private fetch (): Fetch {
    const remaining = this.limit - this.delivered
    const fetch: Fetch = { batch: null, error: null, done: Promise.resolve() }
    const position = this.position
    // An offset this consumer read up to (the end of a batch), not one it was given: once it has read any.
    // Not `handed`: a fetch ahead is sent before its batch's messages are handed out.
    const reached = this.delivered > 0
    fetch.done = this.route.fetch({
      command: 'fetch-batch',
      log: this.log,
      partition: this.partition,
      group: this.group,
      offset: position,
      maxMessages: Math.min(this.options.maxMessages ?? 10_000, remaining),
      maxBytes: this.options.maxBytes ?? 1024 * 1024,
      waitMs: this.follow || this.trailing ? this.options.waitMs ?? 30_000 : 0,
      ...(this.options.timestamps === true ? { detailed: true } : {})
    }, reached, () => this.closed).then((response) => {
      fetch.batch = toBatch(response as Extract<Response, { response: 'messages' }>, position)
    }, (err: RogError) => {
      fetch.error = err
    })
    return fetch
  }
}

function toBatch (r: Extract<Response, { response: 'messages' }>, position: number | null): ConsumedBatch {
  const last = r.messages[r.messages.length - 1]
  const nextOffset = last !== undefined ? last.offset + 1 : position ?? r.committedOffset
  return { messages: r.messages, nextOffset, endOffset: r.endOffset }
}

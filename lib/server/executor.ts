import { Duplex } from 'node:stream'
import { RogError } from '../errors'
import { MESSAGE_WEIGHT, commandWeight } from '../protocol/command-weight'
import type { ClusterInfo, Command, CommitCommand, FetchBatchCommand, FetchCommand, FetchedMessage, PublishCommand, Response } from '../protocol/commands'
import { responseSize } from '../protocol/encoder'
import { DEFAULT_MAX_MESSAGE_BYTES, MAX_BATCH_MESSAGES } from '../protocol/limits'
import { partitionOf } from '../protocol/command-target'
import type { ClusterService } from '../replication/cluster-service'
import type { AppendCallback, Partition } from '../storage/partition'
import { randomProducerId } from '../protocol/producer-id'
import type { Store } from '../storage/store'
import type { RequestStats } from '../observe/request-stats'
import { VERSION } from '../version'
import type { ConnectionMemory } from './connection-memory'

export interface ExecutorOptions {
  /** Commands accepted and not yet answered, beyond which the executor stops reading. */
  maxPending?: number
  log?: (line: string) => void
  /** In a cluster: requests of the original clients (commands 0-3) for partitions led elsewhere are forwarded there; others are answered NOT_LEADER. */
  cluster?: ClusterService | null
  /** Counts answers, durations and messages in and out (for /metrics). */
  stats?: RequestStats | null
}

const OK: Response = { response: 'ok' }
const DONE: Response = { response: 'done' }
const SINGLE: ClusterInfo = { cluster: null, controller: null, nodes: [] }
const SINGLE_NODE: Response = { response: 'json', body: Buffer.from(JSON.stringify(SINGLE)) }
export const MAX_FETCH_MESSAGES = MAX_BATCH_MESSAGES
export const MAX_FETCH_BYTES = 8 * 1024 * 1024
export const MAX_WAIT_MS = 60_000
/** Most publishes coalesced into one append. */
const MAX_RUN = 4096
/** What a fetched message weighs in an answer: its objects, and its offset and size fields. */
const FETCHED_WEIGHT = MESSAGE_WEIGHT + 12

/**
 * The answer to one command, or (a run of publishes) to several; `reserved`
 * is the memory a fetch reserved before reading, which its answer takes over.
 */
interface Slot { response: Response | Response[] | null, reserved: number }
/** The commits of one run of publishes, counted in the request stats together once the last is answered. */
interface CommitTally { began: number, count: number, left: number, errors: number }
type Done = (response: Response, reserved?: number) => void

/**
 * Executor: a Duplex with arrays of Commands in and arrays of Responses out,
 * in request order.
 *
 * Publishes run back to back (each takes its offset at once, the writes batch
 * in the partition's writer). Commits run among them: a commit is checked
 * against the offsets taken so far, publishes of this connection before it
 * included, and the partition writes its record once the appends below its
 * offset are written, commits in the order they ran; the publishes after it do
 * not wait for it. Any other command waits for every command before it to
 * finish, and the commands after it wait for it, so a fetch after a publish or
 * a commit on the same connection sees it.
 *
 * Backpressure: while the readable side is full (push() said false) no new
 * command starts and the write callback is held; it is also held while too
 * many commands are pending.
 *
 * Memory (ConnectionMemory): the decoder reserved each command's weight; it
 * is released here once the command is answered. Each answer is reserved as
 * it is pushed, until the socket has taken it. A fetch waits for room before
 * it reads, reserves what it may read, and reads no more than that (a
 * fetch-batch shrinks its answer to the room left; at least one message). So
 * a client that does not read its answers fills its connection's bound, and
 * its decoder stops reading its socket.
 *
 * A destroyed executor (its connection closed) cancels its long polls at once.
 */
export class Executor extends Duplex {
  private readonly store: Store
  private readonly memory: ConnectionMemory
  private readonly maxPending: number
  private readonly log: (line: string) => void
  private readonly cluster: ClusterService | null
  private readonly stats: RequestStats | null
  private readonly abort = new AbortController()
  private waiting: Command[] = []
  private waitingHead = 0
  private slots: Slot[] = []
  private slotsHead = 0
  private inflight = 0
  private barriers = 0
  private pumping = false
  private flushQueued = false
  private readPaused = false
  private heldWrite: (() => void) | null = null
  private heldFinal: (() => void) | null = null

  constructor (store: Store, memory: ConnectionMemory, options: ExecutorOptions = {}) {
    super({ objectMode: true, readableHighWaterMark: 8, writableHighWaterMark: 8 })
    this.store = store
    this.memory = memory
    this.maxPending = options.maxPending ?? 4096
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
    this.cluster = options.cluster ?? null
    this.stats = options.stats ?? null
  }

  override _write (commands: Command[], _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    for (const c of commands) this.waiting.push(c)
    this.pump()
    if (this.full()) this.heldWrite = callback
    else callback()
  }

  override _final (callback: (err?: Error | null) => void): void {
    this.heldFinal = callback
    this.release()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.abort.abort()
    callback(err)
  }

  override _read (): void {
    this.readPaused = false
    this.settled()
  }

  private full (): boolean {
    const pending = (this.waiting.length - this.waitingHead) + (this.slots.length - this.slotsHead)
    return this.readPaused || pending >= this.maxPending
  }

  private release (): void {
    if (this.heldWrite !== null && !this.full()) {
      const callback = this.heldWrite
      this.heldWrite = null
      callback()
    }
    if (this.heldFinal !== null && this.waitingHead === this.waiting.length && this.slotsHead === this.slots.length) {
      const callback = this.heldFinal
      this.heldFinal = null
      this.push(null)
      callback()
    }
  }

  private pump (): void {
    if (this.pumping) return
    this.pumping = true
    while (this.waitingHead < this.waiting.length && !this.readPaused) {
      const c = this.waiting[this.waitingHead]
      const barrier = !isPublish(c) && c.command !== 'commit'
      if (barrier ? this.inflight > 0 : this.barriers > 0) break
      if (this.cluster !== null && !this.servedHere(c)) {
        // Led by another node (or not yet known here): forwarded or refused, pipelined like a publish.
        if (this.barriers > 0) break
        this.waitingHead++
        this.start(c, false)
        continue
      }
      if (c.command === 'publish') {
        this.startPublishes(c)
        continue
      }
      this.waitingHead++
      this.start(c, barrier)
    }
    if (this.waitingHead === this.waiting.length) {
      this.waiting = []
      this.waitingHead = 0
    }
    this.pumping = false
  }

  /** A new answer slot, queued behind those before it: answers leave in this order. */
  private queueSlot (): Slot {
    const slot: Slot = { response: null, reserved: 0 }
    this.slots.push(slot)
    return slot
  }

  /** `slot`: one already queued for it; `reservedEnd`: for a commit run inside a run of publishes, the offsets taken before it. */
  private start (c: Command, barrier: boolean, slot?: Slot, reservedEnd?: number): void {
    const answer = slot ?? this.queueSlot()
    this.inflight++
    if (barrier) this.barriers++
    const began = this.stats === null ? 0 : performance.now()
    this.execute(c, (response, reserved = 0) => this.answered(c, answer, barrier, began, response, reserved), reservedEnd)
  }

  /**
   * A commit among a run's publishes, on the partition the run looked up (the
   * commit case of executeHere, without the lookup). Its duration is the
   * run's: they start in the same turn, and `tally` counts the run's commits
   * in the stats once, as the run's publishes are.
   */
  private startCommit (partition: Partition, c: CommitCommand, slot: Slot, reservedEnd: number, tally: CommitTally | null): void {
    if (c.offsetText !== undefined) return this.start(c, false, slot, reservedEnd)
    this.inflight++
    partition.commit(c.group, c.offset, (err) => {
      if (tally !== null) {
        if (err !== null) tally.errors++
        if (--tally.left === 0) this.stats?.answered('commit', (performance.now() - tally.began) / 1000, tally.count, tally.errors)
      }
      this.settle(c, slot, false, this.commitAnswer(c, err), 0)
    }, reservedEnd)
  }

  /** A commit is answered with the offset it set, or its error. */
  private commitAnswer (c: CommitCommand, err: RogError | null): Response {
    return err === null ? { response: 'offset', offset: c.offset } : this.errorResponse(err)
  }

  private answered (c: Command, slot: Slot, barrier: boolean, began: number, response: Response, reserved: number): void {
    this.stats?.answered(c.command, (performance.now() - began) / 1000, 1, response.response === 'error' ? 1 : 0)
    this.settle(c, slot, barrier, response, reserved)
  }

  /** `c`'s answer is ready in its slot: its memory is released and the answers ready are pushed once this turn ends. */
  private settle (c: Command, slot: Slot, barrier: boolean, response: Response, reserved: number): void {
    slot.response = response
    slot.reserved = reserved
    this.inflight--
    if (barrier) this.barriers--
    this.memory.release(commandWeight(c))
    this.settled()
  }

  /**
   * A run of consecutive publishes to one partition becomes one append: one
   * buffer, one write queued, one callback, however many messages. Commits
   * to the same partition among them join the run: each is checked against
   * the offsets taken by the publishes before it in the run, not after.
   */
  private startPublishes (first: PublishCommand): void {
    let partition: Partition
    try {
      partition = this.store.partition(first.log, first.partition)
    } catch (err) {
      this.waitingHead++
      this.slots.push({ response: this.errorResponse(err), reserved: 0 })
      this.memory.release(commandWeight(first))
      this.stats?.answered('publish', 0, 1, 1)
      return this.settled()
    }
    let end = this.waitingHead + 1
    let count = 1
    let perMessage = first.reply === 'offset'
    while (end < this.waiting.length && count < MAX_RUN) {
      const c = this.waiting[end]
      if ((c.command !== 'publish' && c.command !== 'commit') || c.partition !== first.partition || c.log !== first.log) break
      if (c.command === 'publish') count++
      if (c.command === 'publish' && c.reply === 'offset') perMessage = true
      end++
    }
    const run = this.waiting.slice(this.waitingHead, end) as Array<PublishCommand | CommitCommand>
    this.waitingHead = end
    const publishes: PublishCommand[] = new Array(count)
    const messages: Buffer[] = new Array(count)
    // Publishes answered only with success bytes take one slot for each stretch between commits; any other, a slot each.
    const slots: Slot[] = []
    const stretches: number[] = []
    const commits: Array<{ c: CommitCommand, slot: Slot, before: number }> = []
    // Commits of an offset past 2^53 go the general way (start), counted there; the others are counted together.
    let tallied = 0
    let bytes = 0
    let n = 0
    let stretchOpen = false
    for (const c of run) {
      if (c.command === 'commit') {
        commits.push({ c, slot: this.queueSlot(), before: n })
        if (c.offsetText === undefined) tallied++
        stretchOpen = false
        continue
      }
      if (perMessage || !stretchOpen) {
        slots.push(this.queueSlot())
        stretches.push(n)
        stretchOpen = true
      }
      publishes[n] = c
      messages[n++] = c.data
      bytes += c.data.length
    }
    this.inflight += count
    const firstOffset = partition.nextOffset
    const began = this.stats === null ? 0 : performance.now()
    partition.append(messages, (err, offset, stored) => {
      if (this.stats !== null) {
        this.stats.answered('publish', (performance.now() - began) / 1000, count, count - stored)
        if (stored > 0) this.stats.published(first.log, stored, stored === count ? bytes : sumBytes(messages, stored))
      }
      // Publishes before a failure were stored: they are answered as such, the rest with the error.
      const error = err === null ? null : this.errorResponse(err)
      if (!perMessage) {
        for (let k = 0; k < slots.length; k++) {
          const from = stretches[k]
          const to = k + 1 < stretches.length ? stretches[k + 1] : count
          const ok = Math.min(Math.max(stored - from, 0), to - from)
          const answers: Response[] = ok > 0 ? [{ response: 'oks', count: ok }] : []
          if (error !== null) for (let i = from + ok; i < to; i++) answers.push(error)
          slots[k].response = answers
        }
      } else {
        for (let i = 0; i < count; i++) {
          slots[i].response = i >= stored && error !== null ? error : publishes[i].reply === 'ok' ? OK : { response: 'offset', offset: offset + i }
        }
      }
      this.inflight -= count
      this.memory.release(bytes + MESSAGE_WEIGHT * count)
      this.settled()
    })
    const tally = this.stats === null || tallied === 0 ? null : { began, count: tallied, left: tallied, errors: 0 }
    for (const { c, slot, before } of commits) this.startCommit(partition, c, slot, firstOffset + before, tally)
  }

  /**
   * Answers ready are pushed once the current turn of work ends (a write
   * batch completes every append of it in one go), so the answers of one
   * turn leave in one array and one socket write. Commands waiting start
   * only after that push: an answer ready but not yet pushed is not in the
   * connection's memory ledger, so a fetch started before it would take
   * the connection for one with no answer outstanding, and read past the
   * memory bound.
   */
  private settled (): void {
    if (this.flushQueued) return
    this.flushQueued = true
    process.nextTick(this.flushQueuedAnswers)
  }

  private readonly flushQueuedAnswers = (): void => {
    this.flushQueued = false
    this.flush()
    this.pump()
    this.release()
  }

  /** Pushes the answers ready in request order, as one array, reserved until the socket takes their bytes. */
  private flush (): void {
    let out: Response[] | null = null
    let reserved = 0
    while (this.slotsHead < this.slots.length) {
      const slot = this.slots[this.slotsHead]
      const r = slot.response
      if (r === null) break
      out ??= []
      if (Array.isArray(r)) out.push(...r)
      else out.push(r)
      reserved += slot.reserved
      this.slotsHead++
    }
    if (this.slotsHead === this.slots.length) {
      this.slots = []
      this.slotsHead = 0
    }
    if (out === null) return
    let bytes = 0
    let messages = 0
    for (const r of out) {
      bytes += responseSize(r)
      if (r.response === 'messages') messages += r.messages.length
    }
    this.memory.answer(bytes, bytes + MESSAGE_WEIGHT * messages, reserved)
    if (!this.push(out)) this.readPaused = true
  }

  /** Whether this node serves `c` itself (on a single node, always). */
  private servedHere (c: Command): boolean {
    const target = partitionOf(c)
    if (target === null || this.cluster === null) return true
    return this.store.has(target.log) && this.cluster.route(target.log, target.partition).kind === 'local'
  }

  /**
   * A partition's request in a cluster: served here when this node leads it.
   * Otherwise a request of the original clients (commands 0-3), which know
   * one address, is forwarded to the leader; any other is answered
   * NOT_LEADER naming the leader, for a client that knows the cluster to go
   * there itself.
   */
  private routed (c: Command, target: { log: string, partition: number }, cluster: ClusterService, done: Done): void {
    const fail = (err: unknown): void => done(this.errorResponse(err))
    const go = (): void => {
      const route = cluster.route(target.log, target.partition)
      if (route.kind === 'forward' && !isOriginalCommand(c)) {
        fail(RogError.notLeader(target.partition, target.log, route.leader, route.address))
      } else if (route.kind === 'forward') {
        cluster.forward(route.address, c).then((r) => done(r), fail)
      } else if (route.kind === 'refuse') {
        fail(route.error)
      } else if (c.command === 'publish') {
        this.store.partition(c.log, c.partition).append([c.data], (err, offset) => {
          if (err === null) this.stats?.published(c.log, 1, c.data.length)
          done(err !== null ? this.errorResponse(err) : c.reply === 'ok' ? OK : { response: 'offset', offset })
        })
      } else {
        this.executeHere(c, done)
      }
    }
    if (this.store.has(target.log)) return go()
    cluster.ensureLog(target.log).then(go, fail)
  }

  private execute (c: Command, done: Done, reservedEnd?: number): void {
    const target = this.cluster === null ? null : partitionOf(c)
    if (target !== null && this.cluster !== null) {
      try {
        return this.routed(c, target, this.cluster, done)
      } catch (err) {
        return done(this.errorResponse(err))
      }
    }
    this.executeHere(c, done, reservedEnd)
  }

  private executeHere (c: Command, done: Done, reservedEnd?: number): void {
    const fail = (err: unknown): void => done(this.errorResponse(err))
    const cluster = this.cluster
    try {
      switch (c.command) {
        case 'publish':
          // pump() hands every publish served here to startPublishes.
          throw new Error('a publish reached execute()')
        case 'publish-batch':
          return this.store.partition(c.log, c.partition).append(c.messages, batchAnswer(c.messages.length, done, (stored) => this.stats?.published(c.log, stored, sumBytes(c.messages, stored))))
        case 'idempotent-publish':
          return this.store.partition(c.log, c.partition).appendIdempotent(c.producerId, c.sequence, c.messages, batchAnswer(c.messages.length, done, (stored) => this.stats?.published(c.log, stored, sumBytes(c.messages, stored))))
        case 'init-producer':
          if (cluster === null) return done(producerIdAnswer(randomProducerId()))
          cluster.newProducerId().then((id) => done(producerIdAnswer(id)), fail)
          return
        case 'fetch':
          this.fetch(c).then(([r, reserved]) => {
            if (r.response === 'message') this.stats?.fetched(c.log, 1)
            done(r, reserved)
          }, fail)
          return
        case 'ack':
          return this.store.partition(c.log, c.partition).ack(c.group, (err) => done(err === null ? OK : this.errorResponse(err)))
        case 'commit':
          if (c.offsetText !== undefined) return fail(RogError.badOffset(c.offsetText, this.store.partition(c.log, c.partition).highWatermark()))
          return this.store.partition(c.log, c.partition).commit(c.group, c.offset, (err) => done(this.commitAnswer(c, err)), reservedEnd)
        case 'fetch-batch':
          if (c.offsetText !== undefined) return fail(RogError.badOffset(c.offsetText, this.store.partition(c.log, c.partition).highWatermark()))
          this.fetchBatch(c).then(([r, reserved]) => {
            if (r.response === 'messages' && r.messages.length > 0) this.stats?.fetched(c.log, r.messages.length)
            done(r, reserved)
          }, fail)
          return
        case 'create':
          if (cluster !== null) return void cluster.createLog(c.log, c.partitions, { retentionBytes: null, retentionMs: null }).then(() => done(OK), fail)
          this.store.createLog(c.log, c.partitions).then(() => done(OK), fail)
          return
        case 'create-with-settings':
          if (cluster !== null) return void cluster.createLog(c.log, c.partitions, { retentionBytes: c.retentionBytes, retentionMs: c.retentionMs }, c.replicationFactor).then(() => done(DONE), fail)
          if ((c.replicationFactor ?? 1) !== 1) return fail(new RogError('BAD_REPLICATION_FACTOR', `Replication factor ${c.replicationFactor ?? 1} needs a cluster: this server runs alone (without --etcd); a single node keeps one copy`))
          this.store.createLog(c.log, c.partitions, { retentionBytes: c.retentionBytes, retentionMs: c.retentionMs }).then(() => done(DONE), fail)
          return
        case 'alter-log':
          if (cluster !== null) return fail(RogError.notInCluster('alter-log'))
          this.store.alterLog(c.log, c).then(() => done(DONE), fail)
          return
        case 'delete-log':
          if (cluster !== null) return void cluster.deleteLog(c.log).then(() => done(DONE), fail)
          this.store.deleteLog(c.log).then(() => done(DONE), fail)
          return
        case 'delete-group':
          if (cluster !== null) return fail(RogError.notInCluster('delete-group'))
          this.store.deleteGroup(c.log, c.group).then(() => done(DONE), fail)
          return
        case 'offset-for-time':
          this.store.partition(c.log, c.partition).offsetForTime(c.timestamp).then((offset) => done({ response: 'offset', offset }), fail)
          return
        case 'describe-log':
          return done({ response: 'log-details', details: this.store.describe(c.log) })
        case 'list-logs':
          return done({ response: 'logs', logs: this.store.listLogs() })
        case 'describe':
          return done({
            response: 'log-info',
            log: c.log,
            partitions: this.store.partitions(c.log).map((p, partition) => ({
              partition,
              firstOffset: p.firstOffset,
              nextOffset: p.highWatermark(),
              groups: p.groups.entries()
            }))
          })
        case 'version':
          return done({ response: 'version', version: VERSION })
        case 'cluster-info':
          return done(cluster === null ? SINGLE_NODE : cluster.clusterInfo())
        case 'log-placement':
          if (cluster === null) return fail(RogError.notClustered())
          return done(cluster.logPlacement(c.log))
        case 'replica-fetch':
          if (cluster === null) return fail(RogError.notClustered())
          cluster.replicaFetch(c, this.abort.signal).then((r) => done(r), fail)
          return
        case 'reassign':
          if (cluster === null) return fail(RogError.notClustered())
          cluster.reassign(c.log, c.partition, c.replicas).then((r) => done(r), fail)
          return
        case 'epoch-end':
          if (cluster === null) return fail(RogError.notClustered())
          return done(cluster.epochEnd(c))
        case 'invalid':
          return done({ response: 'error', message: c.error.message, fatal: c.error.fatal })
      }
    } catch (err) {
      fail(err)
    }
  }

  /** The reference fetch: the group's next message, read once there is room for it. */
  private async fetch (c: FetchCommand): Promise<[Response, number]> {
    const p = this.store.partition(c.log, c.partition)
    const ahead = this.reserve(DEFAULT_MAX_MESSAGE_BYTES)
    const reserved = typeof ahead === 'number' ? ahead : await ahead
    try {
      const messages = await p.read(p.groups.get(c.group), 1, 1)
      return [messages.length === 0 ? this.errorResponse(RogError.noData()) : { response: 'message', data: messages[0].data }, reserved]
    } catch (err) {
      this.memory.release(reserved)
      throw err
    }
  }

  /**
   * Waits (long poll) for a message past the offset, then for room, then
   * reads at most what the room allows: `maxBytes` and `maxMessages` are
   * maxima, and at least one message is read when there is one.
   */
  private async fetchBatch (c: FetchBatchCommand): Promise<[Response, number]> {
    const p = this.store.partition(c.log, c.partition)
    // The committed offset is taken once: an ack landing during the read must not change what the answer says.
    const committed = p.groups.get(c.group)
    const offset = c.offset ?? committed
    // Past the log end is refused. Past the high watermark but within the log is waited for, as Kafka does: a
    // leader elected a moment ago holds what its predecessor let consumers read before its high watermark catches up.
    if (offset > p.endOffset) {
      throw RogError.badOffset(offset, p.highWatermark())
    }
    // Past the high watermark, the answer comes once it reaches the offset (not only once it passes it): a
    // consumer whose offset is the true end learns that it is there without waiting out its wait.
    await p.waitFor(offset > p.highWatermark() ? offset - 1 : offset, Math.min(c.waitMs, MAX_WAIT_MS), this.abort.signal)
    const answer = (messages: FetchedMessage[]): Response => {
      const r: Response = { response: 'messages', committedOffset: committed, endOffset: p.highWatermark(), messages }
      // Below the first offset (deleted by retention) a read starts at the first offset: the detailed answer says so.
      if (c.detailed === true) r.detail = { firstOffset: p.firstOffset, startOffset: messages.length > 0 ? messages[0].offset : Math.max(offset, p.firstOffset) }
      return r
    }
    if (c.maxMessages === 0 || this.abort.signal.aborted) return [answer([]), 0]
    const maxBytes = Math.min(Math.max(c.maxBytes, 1), MAX_FETCH_BYTES)
    const maxMessages = Math.min(c.maxMessages, MAX_FETCH_MESSAGES)
    const ahead = this.reserve(maxBytes + FETCHED_WEIGHT * maxMessages)
    const reserved = typeof ahead === 'number' ? ahead : await ahead
    try {
      const messages = await p.read(offset, Math.min(maxMessages, Math.max(1, Math.floor(reserved / FETCHED_WEIGHT))), Math.min(maxBytes, reserved))
      return [answer(messages), reserved]
    } catch (err) {
      this.memory.release(reserved)
      throw err
    }
  }

  /**
   * Once the connection may answer (see ConnectionMemory), reserves up to
   * `wanted` of the room left (at least 1: one message) ahead of a read;
   * synchronously when it may answer now.
   */
  private reserve (wanted: number): number | Promise<number> {
    if (!this.memory.mayAnswer()) {
      return new Promise<void>((resolve) => this.memory.whenRoom(resolve)).then(() => this.reserve(wanted))
    }
    const reserved = Math.max(1, Math.min(wanted, this.memory.room()))
    this.memory.reserve(reserved)
    return reserved
  }

  private errorResponse (err: unknown): Response {
    if (err instanceof RogError) return { response: 'error', message: err.message }
    this.log(`unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    return { response: 'error', message: `Internal error: ${err instanceof Error ? err.message : String(err)}` }
  }
}

/** A command of the reference protocol (0-3). */
function isOriginalCommand (c: Command): boolean {
  return c.command === 'create' || c.command === 'fetch' || c.command === 'ack' || (c.command === 'publish' && c.reply === 'ok')
}

function isPublish (c: Command): boolean {
  return c.command === 'publish' || c.command === 'publish-batch' || c.command === 'idempotent-publish'
}

/** A batch's answer: its first offset and count, or the error (saying which of its messages were stored, if some were). */
function batchAnswer (count: number, done: Done, onStored: (stored: number) => void): AppendCallback {
  return (err, firstOffset, stored) => {
    if (stored > 0) onStored(stored)
    if (err !== null && stored > 0) return done({ response: 'error', message: `${err.message} (the first ${stored} messages of the batch were stored, from offset ${firstOffset})` })
    if (err !== null) return done({ response: 'error', message: err.message })
    done({ response: 'batch-published', firstOffset, count })
  }
}

function producerIdAnswer (producerId: number): Response {
  return { response: 'json', body: Buffer.from(JSON.stringify({ producerId })) }
}

function sumBytes (messages: Buffer[], count: number): number {
  let n = 0
  for (let i = 0; i < count; i++) n += messages[i].length
  return n
}

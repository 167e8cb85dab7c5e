import type { Command, FetchedMessage, PartitionInfo, Response } from '../../lib/protocol/commands'

/**
 * The model a live server is checked against, for one log: what clients were
 * told, and so what the log must hold.
 *
 * Offsets are the server's to choose (connections race), so the model learns
 * them from answers and reads, and checks that they never contradict: an
 * offset holds one message, a message one offset, each connection's messages
 * to a partition take increasing offsets, and what is readable is gapless.
 *
 * A publish is in flight, then acknowledged (it must stay readable at its
 * offset), failed (it must never be visible), or unanswered because the
 * connection closed: `maybe` until a read shows whether it happened, then
 * present (as if acknowledged) or absent for good. After a simulated power
 * loss (`lossAllowed`), what was not synced may be gone: the log must still be
 * a gapless prefix in which every offset holds what was acknowledged for it.
 *
 * Groups: a group named `g<conn>.<n>` is only used by connection `conn`, whose
 * commands run in order, so its offset is known exactly: the last successful
 * commit or ack. A shared group (`s<n>`) only takes acks, from every
 * connection: its offset is the number of successful ones. Failed acks and
 * commits change nothing, and a group appears once something was stored for it.
 */

export type PublishState = 'in-flight' | 'acked' | 'failed' | 'maybe' | 'absent' | 'lost'

export interface Publish {
  id: number
  conn: number
  partition: number
  data: Buffer
  state: PublishState
  offset: number | null
  /** Send order among the publishes of its connection. */
  seq: number
}

type GroupOp = { kind: 'ack' } | { kind: 'commit', offset: number }

interface Group {
  name: string
  owner: number | null
  value: number
  exists: boolean
  /** Sent and not yet answered, in order (owned groups). */
  ops: GroupOp[]
  /** Acks sent and not yet answered (shared groups). */
  acksInFlight: number
  /** After connections died with requests in flight: what the next read may show. */
  uncertain: { values: Set<number>, mayBeAbsent: boolean } | null
  /** Every value it has had (what a power loss may take it back to). */
  history: Set<number>
}

interface PartitionModel {
  byOffset: Map<number, Publish>
  verifiedEnd: number
  /** Publishes acknowledged since the last verification (all hold distinct offsets at or past it). */
  ackedSince: number
  /** Messages sent since the last verification (the end cannot pass verifiedEnd plus these). */
  sentSince: number
  knownEnd: number
  groups: Map<string, Group>
}

interface Own { knownEnd: number, acked: number }

/** What the model knew when a request left: the bounds its answer is checked with. */
export interface SendContext { conn: number, partition: number, lowerEnd: number, faultEpoch: number, faultsActive: boolean, groupAtSend: number }

const PREFIX = /^#(\d+)#/

/** A message that names itself: `#<id>#`, then `size` bytes derived from the id. */
export function messageBytes (id: number, size: number): Buffer {
  const head = Buffer.from(`#${id}#`)
  const buf = Buffer.alloc(head.length + size, 0x61 + (id % 26))
  head.copy(buf)
  return buf
}

export function messageId (data: Buffer): number | null {
  const m = PREFIX.exec(data.subarray(0, 24).toString('latin1'))
  return m === null ? null : Number(m[1])
}

const STORAGE_ERROR = /^Storage error while /
const BATCH_PARTIAL = /\(the first (\d+) messages of the batch were stored, from offset (\d+)\)$/
const NO_DATA = 'No data left in the log to be read'
const BAD_OFFSET = /^Offset (\d+) is past the end of the partition \((\d+)\)$/

export class LogModel {
  readonly log: string
  readonly partitions: PartitionModel[]
  readonly publishes = new Map<number, Publish>()
  readonly violations: string[] = []
  private nextId = 0
  private readonly seqs = new Map<number, number>()
  private readonly own = new Map<string, Own>()
  private faultEpoch = 0
  private faultsActive = false
  /** Counts for the report of a run. */
  readonly stats = { sent: 0, answered: 0, unanswered: 0, errors: 0, acked: 0, failed: 0, verifications: 0 }

  constructor (log: string, partitions: number) {
    this.log = log
    this.partitions = Array.from({ length: partitions }, () => ({ byOffset: new Map(), verifiedEnd: 0, ackedSince: 0, sentSince: 0, knownEnd: 0, groups: new Map() }))
  }

  /** Injected faults (or a full disk) may fail writes from now on, until `faults(false)`. */
  faults (active: boolean): void {
    if (active && !this.faultsActive) this.faultEpoch++
    this.faultsActive = active
  }

  fail (what: string): void {
    if (this.violations.length < 50) this.violations.push(what)
  }

  newMessage (conn: number, partition: number, size: number): Publish {
    const id = this.nextId++
    const seq = this.seqs.get(conn) ?? 0
    this.seqs.set(conn, seq + 1)
    const p: Publish = { id, conn, partition, data: messageBytes(id, size), state: 'in-flight', offset: null, seq }
    this.publishes.set(id, p)
    return p
  }

  /** A lower bound of the partition's end right now. */
  lowerEnd (partition: number): number {
    const m = this.partitions[partition]
    return Math.max(m.verifiedEnd + m.ackedSince, m.knownEnd)
  }

  upperEnd (partition: number): number {
    const m = this.partitions[partition]
    return m.verifiedEnd + m.sentSince
  }

  context (conn: number, partition: number, group?: string): SendContext {
    this.stats.sent++
    const groupAtSend = group === undefined ? 0 : this.group(partition, group).value
    return { conn, partition, lowerEnd: this.lowerEnd(partition), faultEpoch: this.faultEpoch, faultsActive: this.faultsActive, groupAtSend }
  }

  /** The context of a request that never left (its answer handler needs one). */
  unsent (conn: number, partition: number): SendContext {
    return { conn, partition, lowerEnd: 0, faultEpoch: this.faultEpoch, faultsActive: this.faultsActive, groupAtSend: 0 }
  }

  group (partition: number, name: string): Group {
    const groups = this.partitions[partition].groups
    let g = groups.get(name)
    if (g === undefined) {
      const owner = /^g(\d+)\./.exec(name)
      g = { name, owner: owner === null ? null : Number(owner[1]), value: 0, exists: false, ops: [], acksInFlight: 0, uncertain: null, history: new Set() }
      groups.set(name, g)
    }
    return g
  }

  /** The group's offset when every request sent for it has run (owned groups). */
  expectedOffset (partition: number, name: string): number {
    const g = this.group(partition, name)
    let v = g.value
    for (const op of g.ops) v = op.kind === 'commit' ? op.offset : v + 1
    return v
  }

  // ---- bookkeeping when requests leave

  sentPublishes (ctx: SendContext, pubs: Publish[]): void {
    this.partitions[ctx.partition].sentSince += pubs.length
  }

  sentGroupOp (ctx: SendContext, name: string, op: GroupOp): void {
    const g = this.group(ctx.partition, name)
    if (g.owner === null) g.acksInFlight++
    else g.ops.push(op)
  }

  // ---- answers

  private ownOf (ctx: SendContext): Own {
    const key = `${ctx.conn}/${ctx.partition}`
    let o = this.own.get(key)
    if (o === undefined) {
      o = { knownEnd: 0, acked: 0 }
      this.own.set(key, o)
    }
    return o
  }

  /** The end the server must have had when it ran this request: what was known when it left, and the connection's own earlier publishes. */
  private lowerEndFor (ctx: SendContext): number {
    const own = this.ownOf(ctx)
    return Math.max(ctx.lowerEnd, own.knownEnd, this.partitions[ctx.partition].verifiedEnd + own.acked)
  }

  private faultsPossible (ctx: SendContext): boolean {
    return ctx.faultsActive || this.faultsActive || ctx.faultEpoch !== this.faultEpoch
  }

  private unexpected (ctx: SendContext, c: Command, r: Response): void {
    this.fail(`connection ${ctx.conn}: unexpected answer ${describe(r)} to ${describeCommand(c)}`)
  }

  /** A storage error is an answer only while faults may happen. */
  private storageError (ctx: SendContext, c: Command, r: Response): boolean {
    if (r.response !== 'error') return false
    this.stats.errors++
    if (STORAGE_ERROR.test(r.message) && this.faultsPossible(ctx)) return true
    this.unexpected(ctx, c, r)
    return true
  }

  /** Records that `pub` sits at `offset`, checking that nothing contradicts it. */
  private place (pub: Publish, offset: number, how: string): void {
    const m = this.partitions[pub.partition]
    const there = m.byOffset.get(offset)
    if (there !== undefined && there !== pub) {
      this.fail(`partition ${pub.partition} offset ${offset}: ${how} message #${pub.id}, but #${there.id} is there`)
      return
    }
    if (pub.offset !== null && pub.offset !== offset) {
      this.fail(`message #${pub.id}: ${how} at offset ${offset}, but it is at ${pub.offset}`)
      return
    }
    pub.offset = offset
    m.byOffset.set(offset, pub)
    if (offset + 1 > m.knownEnd) m.knownEnd = offset + 1
  }

  private acked (ctx: SendContext, pub: Publish, offset: number | null): void {
    this.stats.acked++
    pub.state = 'acked'
    const own = this.ownOf(ctx)
    own.acked++
    this.partitions[pub.partition].ackedSince++
    if (offset !== null) {
      this.place(pub, offset, 'answered')
      own.knownEnd = Math.max(own.knownEnd, offset + 1)
    }
  }

  private failed (pub: Publish): void {
    this.stats.failed++
    if (pub.offset !== null) this.fail(`message #${pub.id} was read at offset ${pub.offset}, then its publish failed`)
    pub.state = 'failed'
  }

  private unanswered (pub: Publish, sent: boolean): void {
    this.stats.unanswered++
    pub.state = sent ? 'maybe' : 'absent'
    if (!sent && pub.offset !== null) this.fail(`message #${pub.id} was never sent, yet read at offset ${pub.offset}`)
  }

  answerPublish (ctx: SendContext, c: Command, pub: Publish, r: Response | null, sent: boolean): void {
    if (r === null) return this.unanswered(pub, sent)
    this.stats.answered++
    if (this.storageError(ctx, c, r)) return this.failed(pub)
    if (c.command === 'publish' && c.reply === 'ok' && r.response === 'ok') return this.acked(ctx, pub, null)
    if (c.command === 'publish' && c.reply === 'offset' && r.response === 'offset') return this.acked(ctx, pub, r.offset)
    this.unexpected(ctx, c, r)
    this.failed(pub)
  }

  answerBatch (ctx: SendContext, c: Command, pubs: Publish[], r: Response | null, sent: boolean): void {
    if (r === null) {
      for (const p of pubs) this.unanswered(p, sent)
      return
    }
    this.stats.answered++
    if (r.response === 'error') {
      const partial = BATCH_PARTIAL.exec(r.message)
      const stored = partial === null ? 0 : Number(partial[1])
      if (!this.storageError(ctx, c, r) || stored >= pubs.length) return pubs.forEach((p) => this.failed(p))
      pubs.forEach((p, i) => i < stored ? this.acked(ctx, p, Number(partial?.[2]) + i) : this.failed(p))
      return
    }
    if (r.response !== 'batch-published' || r.count !== pubs.length) {
      this.unexpected(ctx, c, r)
      return pubs.forEach((p) => this.failed(p))
    }
    pubs.forEach((p, i) => this.acked(ctx, p, r.firstOffset + i))
  }

  answerCommit (ctx: SendContext, c: Command & { command: 'commit' }, r: Response | null, sent: boolean): void {
    const g = this.group(ctx.partition, c.group)
    if (sent) g.ops.shift()
    if (r === null) return this.mayHaveHappened(g, { kind: 'commit', offset: c.offset }, sent)
    this.stats.answered++
    if (r.response === 'offset' && r.offset === c.offset) {
      if (c.offset > this.upperEnd(ctx.partition)) this.fail(`connection ${ctx.conn}: commit of ${c.group} to ${c.offset} accepted, past any end the partition can have (${this.upperEnd(ctx.partition)})`)
      return this.setGroup(g, c.offset)
    }
    if (r.response === 'error' && BAD_OFFSET.test(r.message)) {
      this.stats.errors++
      if (c.offset <= this.lowerEndFor(ctx)) this.fail(`connection ${ctx.conn}: commit of ${c.group} to ${c.offset} refused (${r.message}), but the partition holds at least ${this.lowerEndFor(ctx)}`)
      return
    }
    if (!this.storageError(ctx, c, r)) this.unexpected(ctx, c, r)
  }

  answerAck (ctx: SendContext, c: Command & { command: 'ack' }, r: Response | null, sent: boolean): void {
    const g = this.group(ctx.partition, c.group)
    if (sent && g.owner === null) g.acksInFlight--
    else if (sent) g.ops.shift()
    if (r === null) return this.mayHaveHappened(g, { kind: 'ack' }, sent)
    this.stats.answered++
    if (r.response === 'ok') {
      this.setGroup(g, g.value + 1)
      // Another connection's acks left unanswered may or may not have run before this one: each possible value moves on by one.
      if (g.owner === null && g.uncertain !== null) g.uncertain.values = new Set([...g.uncertain.values].map((v) => v + 1))
      if (g.value > this.upperEnd(ctx.partition)) this.fail(`connection ${ctx.conn}: ack moved ${c.group} to ${g.value}, past any end the partition can have (${this.upperEnd(ctx.partition)})`)
      return
    }
    if (r.response === 'error' && r.message === NO_DATA) {
      this.stats.errors++
      // The group's offset when the ack ran was at most its value now plus the acks still in flight.
      const most = this.sharedMost(g)
      if (most < this.lowerEndFor(ctx)) this.fail(`connection ${ctx.conn}: ack of ${c.group} (at most at ${most}) answered "${NO_DATA}" though the partition holds at least ${this.lowerEndFor(ctx)}`)
      return
    }
    if (!this.storageError(ctx, c, r)) this.unexpected(ctx, c, r)
  }

  answerFetch (ctx: SendContext, c: Command & { command: 'fetch' }, r: Response | null): void {
    if (r === null) return
    this.stats.answered++
    const g = this.group(ctx.partition, c.group)
    if (r.response === 'message') return this.observe(ctx.partition, g.value, r.data, `fetch of ${c.group}`)
    if (r.response === 'error' && r.message === NO_DATA) {
      this.stats.errors++
      if (g.value < this.lowerEndFor(ctx)) this.fail(`connection ${ctx.conn}: fetch of ${c.group} at ${g.value} answered "${NO_DATA}" though the partition holds at least ${this.lowerEndFor(ctx)}`)
      return
    }
    this.unexpected(ctx, c, r)
  }

  answerFetchBatch (ctx: SendContext, c: Command & { command: 'fetch-batch' }, r: Response | null): void {
    if (r === null) return
    this.stats.answered++
    const g = this.group(ctx.partition, c.group)
    const lower = this.lowerEndFor(ctx)
    if (r.response === 'error' && BAD_OFFSET.test(r.message)) {
      this.stats.errors++
      const offset = c.offset ?? g.value
      if (offset <= lower) this.fail(`connection ${ctx.conn}: fetch-batch from ${offset} refused (${r.message}), but the partition holds at least ${lower}`)
      return
    }
    if (r.response !== 'messages') return this.unexpected(ctx, c, r)
    // The group's offset when the read began: exact for a group of this connection's own; for a
    // shared one, between what it was when the request left and what acks in flight can make it.
    const inRange = (v: number): boolean => g.owner !== null ? v === g.value : v >= ctx.groupAtSend && v <= this.sharedMost(g)
    if (!inRange(r.committedOffset)) {
      this.fail(`connection ${ctx.conn}: fetch-batch of ${c.group} says it is at ${r.committedOffset}; the model has ${g.value} (${g.acksInFlight} acks in flight)`)
    }
    if (r.endOffset < lower || r.endOffset > this.upperEnd(ctx.partition)) this.fail(`connection ${ctx.conn}: fetch-batch says the end is ${r.endOffset}, outside ${lower}..${this.upperEnd(ctx.partition)}`)
    // The answer's committed offset is read again after the read (todo test in durability.test.ts): trust where the messages start.
    const from = c.offset ?? (g.owner === null && r.messages.length > 0 ? r.messages[0].offset : r.committedOffset)
    if (c.offset === null && !inRange(from)) this.fail(`connection ${ctx.conn}: fetch-batch of ${c.group} read from ${from}; the model has ${g.value} (${g.acksInFlight} acks in flight)`)
    if (r.messages.length === 0 && c.maxMessages > 0 && from < lower) this.fail(`connection ${ctx.conn}: fetch-batch from ${from} returned nothing, though the partition holds at least ${lower}`)
    if (r.messages.length > c.maxMessages) this.fail(`connection ${ctx.conn}: fetch-batch returned ${r.messages.length} messages, more than the ${c.maxMessages} asked for`)
    this.observeRun(ctx.partition, from, r.messages, `fetch-batch on connection ${ctx.conn}`)
  }

  /** The furthest a shared group can be: its value, moved on by acks in flight and by those whose connection closed first. */
  private sharedMost (g: Group): number {
    return Math.max(g.value, ...(g.uncertain?.values ?? [])) + g.acksInFlight
  }

  /** A request for the group went unanswered: it may have taken effect, or (unsent) surely did not. */
  private mayHaveHappened (g: Group, op: GroupOp, sent: boolean): void {
    this.stats.unanswered++
    if (!sent) return
    const values = new Set([g.value, ...(g.uncertain?.values ?? [])])
    for (const v of [...values]) values.add(op.kind === 'commit' ? op.offset : v + 1)
    g.uncertain = { values, mayBeAbsent: !g.exists || (g.uncertain?.mayBeAbsent ?? false) }
  }

  private setGroup (g: Group, value: number): void {
    g.value = value
    g.exists = true
    g.history.add(value)
  }

  /** Messages that must start at `from` and follow on without a gap. */
  observeRun (partition: number, from: number, messages: FetchedMessage[], how: string): void {
    messages.forEach((m, i) => {
      if (m.offset !== from + i) this.fail(`${how}: message ${i} of the answer is at offset ${m.offset}, expected ${from + i} (a gap or a skip)`)
      this.observe(partition, m.offset, m.data, how)
    })
  }

  /** A message read at `offset`. */
  observe (partition: number, offset: number, data: Buffer, how: string): void {
    const id = messageId(data)
    const pub = id === null ? undefined : this.publishes.get(id)
    if (pub === undefined) return this.fail(`${how}: partition ${partition} offset ${offset} holds bytes no publish sent (${data.subarray(0, 24).toString('latin1')}...)`)
    if (pub.partition !== partition) return this.fail(`${how}: message #${pub.id} of partition ${pub.partition} read from partition ${partition}`)
    if (!pub.data.equals(data)) return this.fail(`${how}: message #${pub.id} at offset ${offset} has other bytes than were sent (${data.length} bytes, sent ${pub.data.length})`)
    if (pub.state === 'failed' || pub.state === 'absent' || pub.state === 'lost') {
      return this.fail(`${how}: message #${pub.id} (${pub.state}) is visible at offset ${offset}`)
    }
    this.place(pub, offset, how)
  }

  /**
   * Checks one partition's whole contents (read from offset 0, nothing in
   * flight) and its groups (from describe) against the model, then takes
   * them as known. With `lossAllowed`, what was acknowledged may be missing
   * from the end.
   */
  verify (partition: number, messages: FetchedMessage[], end: number, info: PartitionInfo, lossAllowed: boolean): void {
    this.stats.verifications++
    const m = this.partitions[partition]
    const how = `reading partition ${partition} whole`
    if (info.firstOffset !== 0) this.fail(`${how}: the first offset is ${info.firstOffset}, not 0`)
    if (messages.length !== end) this.fail(`${how}: ${messages.length} messages readable below the end offset ${end} (a hole)`)
    if (lossAllowed) {
      for (const [offset, pub] of m.byOffset) {
        if (offset < end) continue
        m.byOffset.delete(offset)
        pub.state = 'lost'
        pub.offset = null
      }
      m.knownEnd = Math.min(m.knownEnd, end)
    } else if (end < m.knownEnd) {
      this.fail(`${how}: the log ends at ${end}, but offsets up to ${m.knownEnd - 1} were acknowledged or read`)
    }
    this.observeRun(partition, 0, messages, how)
    const present = new Set(messages.map((x) => messageId(x.data)))
    const lastOffset = new Map<number, { seq: number, offset: number }>()
    const mine = [...this.publishes.values()].filter((p) => p.partition === partition).sort((a, b) => a.seq - b.seq)
    for (const p of mine) {
      if (p.state === 'in-flight') this.fail(`message #${p.id} still in flight at a verification`)
      if (present.has(p.id)) {
        if (p.state === 'maybe') p.state = 'acked'
        const before = lastOffset.get(p.conn)
        if (before !== undefined && p.offset !== null && p.offset <= before.offset) this.fail(`connection ${p.conn}: message #${p.id} at offset ${p.offset}, not after its earlier message at ${before.offset}`)
        if (p.offset !== null) lastOffset.set(p.conn, { seq: p.seq, offset: p.offset })
        continue
      }
      if (p.state === 'maybe') p.state = 'absent'
      if (p.state === 'acked') {
        if (!lossAllowed) this.fail(`message #${p.id} was acknowledged${p.offset === null ? '' : ` at offset ${p.offset}`} and is gone`)
        p.state = 'lost'
        p.offset = null
      }
    }
    const listed = new Map(info.groups.map((g) => [g.group, g.offset]))
    for (const g of m.groups.values()) {
      const seen = listed.get(g.name)
      listed.delete(g.name)
      if (lossAllowed) {
        const possible = [...g.history, ...(g.uncertain?.values ?? [])].map((v) => Math.min(v, end))
        if (seen !== undefined && !possible.includes(seen)) this.fail(`group ${g.name} of partition ${partition} is at ${seen}, a value it never had (${[...possible].join(', ')})`)
      } else if (g.uncertain !== null) {
        if (seen === undefined ? !g.uncertain.mayBeAbsent : !g.uncertain.values.has(seen)) {
          this.fail(`group ${g.name} of partition ${partition} is ${seen === undefined ? 'absent' : `at ${seen}`}; after the requests left unanswered it may be ${[...g.uncertain.values].join(' or ')}${g.uncertain.mayBeAbsent ? ' or absent' : ''}`)
        }
      } else if (seen !== (g.exists ? g.value : undefined)) {
        this.fail(`group ${g.name} of partition ${partition} is ${seen === undefined ? 'absent' : `at ${seen}`}, the model has ${g.exists ? g.value : 'absent'} (its last successful commit or ack)`)
      }
      if (seen !== undefined && seen > end) this.fail(`group ${g.name} of partition ${partition} is at ${seen}, past the end ${end}`)
      g.uncertain = null
      g.exists = seen !== undefined
      g.value = seen ?? 0
      g.history.add(g.value)
    }
    for (const [name, offset] of listed) this.fail(`group ${JSON.stringify(name)} of partition ${partition} is listed at ${offset}, but nothing was stored for it`)
    m.verifiedEnd = end
    m.ackedSince = 0
    m.sentSince = 0
    m.knownEnd = end
    for (const [key, own] of this.own) {
      if (key.endsWith(`/${partition}`)) {
        own.acked = 0
        own.knownEnd = 0
      }
    }
  }
}

function describe (r: Response): string {
  if (r.response === 'error') return `error "${r.message}"`
  if (r.response === 'messages') return `messages (committed ${r.committedOffset}, end ${r.endOffset}, ${r.messages.length} messages)`
  return JSON.stringify(r)
}

function describeCommand (c: Command): string {
  switch (c.command) {
    case 'publish': return `publish (${c.reply}) of ${c.data.length} bytes to partition ${c.partition}`
    case 'publish-batch': return `publish-batch of ${c.messages.length} to partition ${c.partition}`
    case 'commit': return `commit of ${c.group} to ${c.offset} on partition ${c.partition}`
    case 'ack': case 'fetch': return `${c.command} of ${c.group} on partition ${c.partition}`
    case 'fetch-batch': return `fetch-batch of ${c.group} from ${c.offset ?? 'the group offset'} on partition ${c.partition}`
    default: return c.command
  }
}

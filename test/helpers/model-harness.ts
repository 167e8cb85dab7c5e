import type { Command, FetchedMessage, PartitionInfo } from '../../lib/protocol/commands'
import { request } from './server'
import { LogModel, type Publish, type SendContext } from './log-model'
import { WindowConnection, type Outcome } from './window-connection'
import type { FaultPlan } from './simulated-disk'

export type RestartKind = 'close' | 'power-loss' | 'SIGTERM' | 'SIGKILL'

/** A server the harness can restart: in this process or as a child process. */
export interface ServerControl {
  readonly port: number
  /** Restarts it; resolves once the new one listens. `lossAllowed`: acknowledged but unsynced data may be gone. */
  restart: (kind: RestartKind, seed: number) => Promise<{ lossAllowed: boolean }>
  stop: () => Promise<void>
  /** The tail of its log, for failure reports. */
  logTail: () => string
  /** Arms (or, with null, disarms) injected write faults. */
  fault?: (plan: FaultPlan | null) => void
  /** Whether a fault plan is armed and not yet spent. */
  faultsArmed?: () => boolean
}

export interface HarnessOptions {
  connections: number
  window: number
  partitions: number
  /** No answer on any connection for this long while requests are outstanding fails the run. */
  stallMs?: number
  /** The disk may fail any write (a full disk): storage errors are answers at any time. */
  faulty?: boolean
}

export type CommitTarget = 'zero' | 'end' | 'next' | 'any' | 'past' | 'at'
export type GroupRef = { owned: number } | { shared: number }

export const LOG = 'model'
const DEFAULT_STALL_MS = Number(process.env.ROG_MODEL_STALL_MS ?? 20_000)

/**
 * Drives a live server with requests over several sliding-window connections
 * and keeps the LogModel of issue 8 in step with the answers; `verify()`
 * reads everything back and checks it.
 */
export class ModelHarness {
  readonly model: LogModel
  readonly control: ServerControl
  readonly options: HarnessOptions
  private conns: WindowConnection[] = []
  private progressWaiters: Array<() => void> = []
  /** Requests queued per connection before a command waits for room. */
  private readonly backlog: number

  private constructor (control: ServerControl, options: HarnessOptions) {
    this.control = control
    this.options = options
    this.model = new LogModel(LOG, options.partitions)
    this.backlog = options.window * 4 + 32
  }

  static async start (control: ServerControl, options: HarnessOptions): Promise<ModelHarness> {
    const h = new ModelHarness(control, options)
    if (options.faulty === true) h.model.faults(true)
    const r = await request(control.port, { command: 'create', log: LOG, partitions: options.partitions })
    if (r.response !== 'ok') throw new Error(`create-log: ${JSON.stringify(r)}`)
    await h.connect()
    return h
  }

  private async connect (): Promise<void> {
    this.conns = await Promise.all(Array.from({ length: this.options.connections }, async () => {
      const c = await WindowConnection.open(this.control.port, this.options.window)
      c.onProgress = () => this.progressed()
      return c
    }))
  }

  private progressed (): void {
    const waiters = this.progressWaiters
    this.progressWaiters = []
    for (const w of waiters) w()
  }

  /** Waits for `ready`, re-checked at each answer; fails when nothing is answered for `stallMs`. */
  private async waitFor (ready: () => boolean, what: string): Promise<void> {
    const stallMs = this.options.stallMs ?? DEFAULT_STALL_MS
    while (!ready()) {
      let timer: NodeJS.Timeout | undefined
      const stalled = await new Promise<boolean>((resolve) => {
        this.progressWaiters.push(() => resolve(false))
        timer = setTimeout(() => resolve(true), stallMs)
      })
      clearTimeout(timer)
      if (stalled && !ready()) throw new Error(`${what}: no answer for ${stallMs} ms. ${this.state()}\n${this.control.logTail()}`)
    }
  }

  state (): string {
    return this.conns.map((c, i) => `connection ${i}: ${c.sent} sent, ${c.answered} answered, ${c.outstanding} outstanding${c.isOpen ? '' : ' (closed)'}`).join('; ')
  }

  private conn (i: number): WindowConnection {
    return this.conns[i % this.conns.length]
  }

  private partition (p: number): number {
    return p % this.options.partitions
  }

  /** Queues a request on a connection; waits while that connection's backlog is full. */
  private async enqueue (conn: number, build: () => Command, done: (o: Outcome) => void): Promise<void> {
    const c = this.conn(conn)
    await this.waitFor(() => c.outstanding < this.backlog || !c.isOpen, `connection ${conn % this.conns.length} backlog`)
    c.send({ build, done })
  }

  static groupName (conn: number, ref: GroupRef): string {
    return 'owned' in ref ? `g${conn}.${ref.owned}` : `s${ref.shared}`
  }

  async publish (conn: number, partition: number, sizes: number[], reply: 'ok' | 'offset'): Promise<void> {
    const p = this.partition(partition)
    const c = conn % this.conns.length
    for (const size of sizes) {
      const pub = this.model.newMessage(c, p, size)
      const command: Command = { command: 'publish', log: LOG, partition: p, data: pub.data, reply }
      let ctx: SendContext | null = null
      await this.enqueue(c, () => {
        ctx = this.model.context(c, p)
        this.model.sentPublishes(ctx, [pub])
        return command
      }, (o) => this.model.answerPublish(ctx ?? this.model.unsent(c, p), command, pub, o.answer, o.answer !== null || o.sent))
    }
  }

  async publishBatch (conn: number, partition: number, sizes: number[]): Promise<void> {
    const p = this.partition(partition)
    const c = conn % this.conns.length
    const pubs: Publish[] = sizes.map((size) => this.model.newMessage(c, p, size))
    const command: Command = { command: 'publish-batch', log: LOG, partition: p, messages: pubs.map((x) => x.data) }
    let ctx: SendContext | null = null
    await this.enqueue(c, () => {
      ctx = this.model.context(c, p)
      this.model.sentPublishes(ctx, pubs)
      return command
    }, (o) => this.model.answerBatch(ctx ?? this.model.unsent(c, p), command, pubs, o.answer, o.answer !== null || o.sent))
  }

  async commit (conn: number, partition: number, slot: number, target: CommitTarget, pick: number): Promise<void> {
    const p = this.partition(partition)
    const c = conn % this.conns.length
    const group = ModelHarness.groupName(c, { owned: slot })
    let ctx: SendContext | null = null
    let command: Command & { command: 'commit' } = { command: 'commit', log: LOG, partition: p, group, offset: 0 }
    await this.enqueue(c, () => {
      ctx = this.model.context(c, p, group)
      const lower = this.model.lowerEnd(p)
      const upper = this.model.upperEnd(p)
      const offset = target === 'zero' ? 0
        : target === 'end' ? lower
          : target === 'next' ? this.model.expectedOffset(p, group) + 1
            : target === 'any' ? pick % (upper + 1)
              : target === 'at' ? pick
                : upper + 1 + (pick % 3)
      command = { ...command, offset }
      this.model.sentGroupOp(ctx, group, { kind: 'commit', offset })
      return command
    }, (o) => this.model.answerCommit(ctx ?? this.model.unsent(c, p), command, o.answer, o.answer !== null || o.sent))
  }

  async ack (conn: number, partition: number, ref: GroupRef): Promise<void> {
    const p = this.partition(partition)
    const c = conn % this.conns.length
    const group = ModelHarness.groupName(c, ref)
    const command: Command & { command: 'ack' } = { command: 'ack', log: LOG, partition: p, group }
    let ctx: SendContext | null = null
    await this.enqueue(c, () => {
      ctx = this.model.context(c, p, group)
      this.model.sentGroupOp(ctx, group, { kind: 'ack' })
      return command
    }, (o) => this.model.answerAck(ctx ?? this.model.unsent(c, p), command, o.answer, o.answer !== null || o.sent))
  }

  async fetch (conn: number, partition: number, slot: number): Promise<void> {
    const p = this.partition(partition)
    const c = conn % this.conns.length
    const command: Command & { command: 'fetch' } = { command: 'fetch', log: LOG, partition: p, group: ModelHarness.groupName(c, { owned: slot }) }
    let ctx: SendContext | null = null
    await this.enqueue(c, () => {
      ctx = this.model.context(c, p, command.group)
      return command
    }, (o) => { if (ctx !== null) this.model.answerFetch(ctx, command, o.answer) })
  }

  async fetchBatch (conn: number, partition: number, ref: GroupRef, from: 'group' | 'start' | 'end' | 'past', maxMessages: number, maxBytes: number, waitMs: number): Promise<void> {
    const p = this.partition(partition)
    const c = conn % this.conns.length
    const group = ModelHarness.groupName(c, ref)
    let command: Command & { command: 'fetch-batch' } = { command: 'fetch-batch', log: LOG, partition: p, group, offset: null, maxMessages, maxBytes, waitMs }
    let ctx: SendContext | null = null
    await this.enqueue(c, () => {
      ctx = this.model.context(c, p, group)
      const offset = from === 'group' ? null : from === 'start' ? 0 : from === 'end' ? this.model.lowerEnd(p) : this.model.upperEnd(p) + 1
      command = { ...command, offset }
      return command
    }, (o) => { if (ctx !== null) this.model.answerFetchBatch(ctx, command, o.answer) })
  }

  /**
   * Injected write faults may fail requests from now until the plan is spent
   * or disarmed and every request in flight meanwhile has been answered (a
   * failure also fails what queued behind it).
   */
  fault (plan: FaultPlan | null): void {
    if (this.control.fault === undefined) throw new Error('this server takes no injected faults')
    if (plan !== null) this.model.faults(true)
    this.control.fault(plan)
  }

  /** Waits until every request sent has been answered. */
  async settle (): Promise<void> {
    await this.waitFor(() => this.conns.every((c) => c.outstanding === 0 || !c.isOpen), 'waiting for every answer')
    const closed = this.conns.findIndex((c) => !c.isOpen)
    if (closed >= 0) this.model.fail(`connection ${closed} was closed by the server`)
    if (this.control.faultsArmed?.() !== true && this.options.faulty !== true) this.model.faults(false)
    this.throwViolations('after the answers')
  }

  /** Settles, then reads every partition whole and checks it and the groups against the model. */
  async verify (lossAllowed = false): Promise<void> {
    await this.settle()
    await this.check(lossAllowed)
  }

  private async check (lossAllowed: boolean): Promise<void> {
    const info = await request(this.control.port, { command: 'describe', log: LOG })
    if (info.response !== 'log-info') throw new Error(`describe: ${JSON.stringify(info)}`)
    for (let p = 0; p < this.options.partitions; p++) {
      const { messages, end } = await this.readAll(p)
      this.model.verify(p, messages, end, info.partitions[p] as PartitionInfo, lossAllowed)
    }
    this.throwViolations(`verification${lossAllowed ? ' (unsynced data may be lost)' : ''}`)
  }

  /** Every message of a partition from offset 0 to the end offset the reads report. */
  private async readAll (partition: number): Promise<{ messages: FetchedMessage[], end: number }> {
    const messages: FetchedMessage[] = []
    for (let round = 0; round < 100_000; round++) {
      const r = await request(this.control.port, { command: 'fetch-batch', log: LOG, partition, group: 'verify', offset: messages.length, maxMessages: 10_000, maxBytes: 4 << 20, waitMs: 0 })
      if (r.response !== 'messages') {
        this.model.fail(`reading partition ${partition} from ${messages.length}: ${JSON.stringify(r)}`)
        return { messages, end: messages.length }
      }
      if (r.messages.length === 0 || messages.length + r.messages.length >= r.endOffset) {
        messages.push(...r.messages)
        return { messages, end: r.endOffset }
      }
      messages.push(...r.messages)
    }
    throw new Error('reading a partition did not end')
  }

  /** Restarts the server in the middle of whatever is in flight, then checks everything. */
  async restart (kind: RestartKind, seed: number): Promise<void> {
    if (kind === 'power-loss' || kind === 'SIGKILL') for (const c of this.conns) c.destroy()
    const { lossAllowed } = await this.control.restart(kind, seed)
    this.model.faults(this.options.faulty === true)
    await this.waitFor(() => this.conns.every((c) => !c.isOpen), 'connections closing at the restart')
    await this.connect()
    await this.check(lossAllowed)
  }

  throwViolations (when: string): void {
    const v = this.model.violations
    if (v.length === 0) return
    throw new Error(`${when}: ${v.length} model violation(s):\n  ${v.slice(0, 20).join('\n  ')}\n${this.state()}\n${this.control.logTail()}`)
  }

  async close (): Promise<void> {
    for (const c of this.conns) c.destroy()
    await this.control.stop()
  }
}


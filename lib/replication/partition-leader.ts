import { randomBytes } from 'node:crypto'
import { RogError } from '../errors'
import { etcdReason } from '../cluster/etcd-client'
import type { DoneCallback, Partition, ReplicationGate } from '../storage/partition'

/** A partition's replicas as etcd holds them. */
export interface PartitionState { replicas: number[], leader: number, leaderEpoch: number, isr: number[] }

export interface LeaderOptions {
  log: string
  partition: number
  self: number
  minInsyncReplicas: number
  replicaLagMs: number
  /** A compare-and-swap of the ISR in etcd, made at this leader's epoch; resolves false when fenced (the epoch moved on). */
  changeIsr: (isr: number[]) => Promise<boolean>
  /** The log end, high watermark or group offsets moved: followers' long polls may answer. */
  changed: () => void
  /** Whether etcd surely still holds this node's session (by the local clock): a paused leader learns it is stale without asking. */
  alive: () => boolean
  /** Whether a node is live in the cluster (registered on a session), as this node last saw it. */
  live: (node: number) => boolean
  logLine: (line: string) => void
  /** A line that may repeat on every attempt: the first of its key is logged, the repeats counted. */
  logRepeated: (key: string, line: string) => void
}

interface Follower {
  /** The follower holds every offset below this (its last fetch offset); -1 until it fetches. */
  end: number
  /** When it last held everything this leader had (Kafka's lastCaughtUpTimeMs). */
  caughtUpAt: number
  /** The leader's log end when it last fetched, and when that was. */
  lastFetchLeaderEnd: number
  lastFetchAt: number
  groupsVersion: number
}

interface Waiter { end: number, callback: DoneCallback }
interface GroupWaiter { version: number, callback: DoneCallback }

/**
 * The leader's side of one replicated partition (ISR replication, as
 * Kafka's Partition.scala): it tracks each follower's log end, moves the
 * high watermark to the smallest log end in the in-sync replica set, and
 * answers client writes once every ISR member has them and the ISR holds at
 * least `minInsyncReplicas`.
 *
 * Invariants:
 * - The ISR used here is the one last written to etcd: a change takes effect
 *   only after its compare-and-swap succeeds, so a new leader, chosen from
 *   the ISR in etcd, always holds everything below this high watermark.
 * - A leader whose compare-and-swap fails (its epoch is stale) or that is
 *   told of a newer epoch steps down: it acknowledges nothing more.
 * - Group offsets carry a version; a follower reports the version it has
 *   applied, and a commit is answered once every ISR member has it. A
 *   follower joins the ISR only once it holds every version the ISR holds.
 */
export class PartitionLeader implements ReplicationGate {
  readonly epoch: number
  private readonly partition: Partition
  private readonly options: LeaderOptions
  private replicas: number[]
  private isr: number[]
  private readonly followers = new Map<number, Follower>()
  private waiters: Waiter[] = []
  private groupWaiters: GroupWaiter[] = []
  private groupsVersion = 1
  /** Names this instance's group versions: a follower's version counted by another instance (the same node leading again, at the same epoch too) is not comparable. */
  readonly groupsOf = randomBytes(8).toString('hex')
  private readonly groupVersions = new Map<string, { offset: number | null, version: number }>()
  private changing: Promise<void> | null = null
  /** An ISR being written to etcd: while it may already be there, the high watermark waits for its members too (KIP-497's maximal ISR). */
  private proposed: number[] = []
  private stepped: RogError | null = null

  constructor (partition: Partition, state: PartitionState, options: LeaderOptions) {
    this.partition = partition
    this.options = options
    this.epoch = state.leaderEpoch
    this.replicas = state.replicas
    this.isr = state.isr.includes(options.self) ? [...state.isr] : [options.self, ...state.isr]
    const now = Date.now()
    for (const id of state.replicas) {
      if (id !== options.self) this.followers.set(id, { end: -1, caughtUpAt: now, lastFetchLeaderEnd: 0, lastFetchAt: now, groupsVersion: 0 })
    }
    for (const { group, offset } of partition.groups.entries()) this.groupVersions.set(group, { offset, version: 1 })
  }

  /** Once the partition is gated by this leader: the high watermark moves up to what the ISR (perhaps only this node) holds. */
  start (): void {
    this.advance()
  }

  private get required (): number {
    return Math.min(this.options.minInsyncReplicas, this.replicas.length)
  }

  refusal (): RogError | null {
    if (this.stepped !== null) return this.stepped
    if (!this.options.alive()) return RogError.notLeader(this.options.partition, this.options.log, -1, null)
    if (this.isr.length < this.required) return RogError.notEnoughReplicas(this.options.partition, this.options.log, this.isr.length, this.required)
    return null
  }

  whenReplicated (end: number, callback: DoneCallback): void {
    const refused = this.refusal()
    if (refused !== null) return callback(refused.code === 'NOT_ENOUGH_REPLICAS' ? RogError.notEnoughReplicas(this.options.partition, this.options.log, this.isr.length, this.required, true) : refused)
    if (this.partition.highWatermark() >= end) return callback(null)
    this.waiters.push({ end, callback })
    this.advance()
  }

  groupWritten (group: string, offset: number | null, callback: DoneCallback): void {
    const version = ++this.groupsVersion
    this.groupVersions.set(group, { offset, version })
    this.options.changed()
    if (this.stepped !== null) return callback(this.stepped)
    this.groupWaiters.push({ version, callback })
    this.releaseGroups()
  }

  written (): void {
    this.options.changed()
  }

  /** Group offsets a follower that has applied up to `version` of instance `of` lacks (all of them, which then replace its own, for another instance's). */
  groupsAfter (reported: number, of: string | undefined): { groups: Array<[string, number | null]>, version: number, full: boolean } {
    const version = this.applied(reported, of)
    const groups: Array<[string, number | null]> = []
    for (const [group, v] of this.groupVersions) if (v.version > version) groups.push([group, v.offset])
    return { groups, version: this.groupsVersion, full: version === 0 }
  }

  /**
   * A follower fetched from `offset` (so it holds everything below it) and
   * has applied group offsets up to `groupsVersion`.
   */
  fetched (replica: number, offset: number, groupsVersion: number, groupsOf: string | undefined): RogError | null {
    if (this.stepped !== null) return this.stepped
    const f = this.followers.get(replica)
    if (f === undefined) return new RogError('FENCED', `Node ${replica} is not a replica of partition ${this.options.partition} of log ${this.options.log}`)
    const now = Date.now()
    const leaderEnd = this.partition.endOffset
    if (offset >= leaderEnd) f.caughtUpAt = now
    else if (offset >= f.lastFetchLeaderEnd) f.caughtUpAt = Math.max(f.caughtUpAt, f.lastFetchAt)
    f.lastFetchLeaderEnd = leaderEnd
    f.lastFetchAt = now
    f.end = Math.min(offset, leaderEnd)
    f.groupsVersion = Math.min(this.applied(groupsVersion, groupsOf), this.groupsVersion)
    // A node out of the cluster (no session) may still fetch, but it does not join the ISR (Kafka's KIP-841): the
    // controller took it out, and in the ISR it would count towards --min-insync-replicas while no election can pick it.
    if (!this.isr.includes(replica) && this.options.live(replica) && f.end >= this.partition.highWatermark() && f.end >= (this.partition.leaderEpochs().latest?.startOffset ?? 0) && this.holdsGroups(replica, f)) {
      this.changeIsr([...this.isr, replica], `node ${replica} caught up`)
    }
    this.advance()
    this.releaseGroups()
    return null
  }

  /**
   * Whether `f` holds every group version the ISR holds, which is at least
   * every version acknowledged: a replica that joined the ISR without one
   * would lose that commit if it then led.
   */
  private holdsGroups (replica: number, f: Follower): boolean {
    // Version 1 is this instance's whole table at its start, commits acknowledged under earlier leaders included:
    // needed even while an ISR member has not fetched from this instance yet (and so counts as holding nothing).
    return this.groupVersions.size === 0 || f.groupsVersion >= Math.max(1, this.groupsApplied(replica))
  }

  /**
   * A follower's reported group version, as this instance counts: 0 (nothing)
   * when another instance counted it. A follower of a Rog without `groupsOf`
   * names no instance: its version is taken as it is, as that Rog did.
   */
  private applied (version: number, of: string | undefined): number {
    return of === undefined || of === this.groupsOf ? version : 0
  }

  /** Drops followers that have not caught up for `replicaLagMs` from the ISR. */
  tick (now: number): void {
    if (this.stepped !== null) return
    const lagging = this.isr.filter((id) => {
      const f = this.followers.get(id)
      return f !== undefined && now - f.caughtUpAt > this.options.replicaLagMs
    })
    if (lagging.length > 0) this.changeIsr(this.isr.filter((id) => !lagging.includes(id)), `node ${lagging.join(', ')} fell behind for over ${this.options.replicaLagMs} ms`)
  }

  /**
   * The controller changed the partition in etcd at this epoch: a dead
   * follower left the ISR, or a reassignment added replicas (they fetch, and
   * join the ISR once caught up) or finished (the old ones are gone).
   */
  stateChanged (replicas: number[], isr: number[]): void {
    if (this.stepped !== null) return
    const now = Date.now()
    for (const id of replicas) {
      if (id !== this.options.self && !this.followers.has(id)) this.followers.set(id, { end: -1, caughtUpAt: now, lastFetchLeaderEnd: 0, lastFetchAt: now, groupsVersion: 0 })
    }
    for (const id of [...this.followers.keys()]) if (!replicas.includes(id)) this.followers.delete(id)
    this.replicas = replicas
    this.isrChanged(isr)
  }

  private isrChanged (isr: number[]): void {
    if (this.stepped !== null) return
    this.isr = isr.includes(this.options.self) ? [...isr] : [this.options.self, ...isr]
    this.afterIsrChange()
  }

  /** Leadership moved on: nothing waiting is acknowledged, and later writes are refused with `reason`. */
  stepDown (reason: RogError): void {
    if (this.stepped !== null) return
    this.stepped = reason
    const waiters = this.waiters
    const groupWaiters = this.groupWaiters
    this.waiters = []
    this.groupWaiters = []
    for (const w of waiters) w.callback(reason)
    for (const w of groupWaiters) w.callback(reason)
  }

  get steppedDown (): boolean {
    return this.stepped !== null
  }

  private changeIsr (isr: number[], why: string): void {
    if (this.changing !== null) return
    const before = this.isr
    this.proposed = isr
    this.changing = this.options.changeIsr(isr).then((ok) => {
      if (!ok) {
        // Refused by this node's own fence (its session may have expired) or by etcd (another epoch holds the partition).
        const stale = this.options.alive()
        const why = stale ? `ISR change refused by etcd (leader epoch ${this.epoch} is stale)` : 'ISR change not made: this node\'s etcd session may have expired'
        this.options.logLine(`partition ${this.options.partition} of log ${this.options.log}: ${why}; stepping down`)
        this.stepDown(RogError.notLeaderHere(this.options.partition, this.options.log, stale))
        return
      }
      if (this.stepped !== null) return
      this.options.logLine(`partition ${this.options.partition} of log ${this.options.log}: ISR ${before.join(',')} -> ${isr.join(',')} (${why})`)
      this.isr = isr
      this.afterIsrChange()
    }, (err: Error) => {
      this.options.logRepeated('isr-change-failed', `partition ${this.options.partition} of log ${this.options.log}: ISR change failed (${etcdReason(err)}); kept ${before.join(',')}`)
    }).finally(() => {
      this.changing = null
      this.proposed = []
      this.advance()
    })
  }

  private afterIsrChange (): void {
    if (this.isr.length < this.required) {
      const waiters = this.waiters
      this.waiters = []
      const err = RogError.notEnoughReplicas(this.options.partition, this.options.log, this.isr.length, this.required, true)
      for (const w of waiters) w.callback(err)
    }
    this.advance()
    this.releaseGroups()
  }

  /** The group version every tracked replica (but `except`) has applied. */
  private groupsApplied (except: number | null): number {
    let applied = this.groupsVersion
    for (const id of this.tracked()) {
      if (id === this.options.self || id === except) continue
      applied = Math.min(applied, this.followers.get(id)?.groupsVersion ?? 0)
    }
    return applied
  }

  /** The replicas the high watermark and commits wait for: the ISR, and any member being added to it. */
  private tracked (): readonly number[] {
    if (this.proposed.length === 0) return this.isr
    return [...this.isr, ...this.proposed.filter((id) => !this.isr.includes(id))]
  }

  /** Moves the high watermark to the smallest log end in the ISR and answers what it covers. */
  private advance (): void {
    let hw = this.partition.endOffset
    for (const id of this.tracked()) {
      if (id === this.options.self) continue
      const f = this.followers.get(id)
      hw = Math.min(hw, f === undefined || f.end < 0 ? 0 : f.end)
    }
    this.partition.setHighWatermark(hw)
    // Nothing is acknowledged while the session may have expired: a new leader may be taking over.
    if (!this.options.alive()) return
    const current = this.partition.highWatermark()
    if (this.waiters.length === 0 || this.waiters[0].end > current) return
    const ready = this.waiters.filter((w) => w.end <= current)
    this.waiters = this.waiters.filter((w) => w.end > current)
    for (const w of ready) w.callback(null)
  }

  private releaseGroups (): void {
    // As for messages (advance): nothing is acknowledged while the session may have expired.
    if (this.groupWaiters.length === 0 || !this.options.alive()) return
    const applied = this.groupsApplied(null)
    const ready = this.groupWaiters.filter((w) => w.version <= applied)
    if (ready.length === 0) return
    this.groupWaiters = this.groupWaiters.filter((w) => w.version > applied)
    for (const w of ready) w.callback(null)
  }
}

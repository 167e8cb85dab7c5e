import { RogError } from '../errors'
import { RepeatLimiter } from '../util/repeat-limiter'
import type { FetchedMessage, ReplicaFetchCommand, Response } from '../protocol/commands'
import type { Partition, ReplicationGate } from '../storage/partition'
import type { Store } from '../storage/store'
import { PartitionLeader, type PartitionState } from './partition-leader'
import { ReplicaFetcher, type ReplicaPartitionData } from './replica-fetcher'

export interface ReplicaManagerOptions {
  self: number
  minInsyncReplicas: number
  replicaLagMs: number
  /** A live node's address, or null. */
  address: (node: number) => string | null
  /** The leader's compare-and-swap of a partition's ISR at its epoch; false when the epoch moved on. */
  updateIsr: (log: string, partition: number, leaderEpoch: number, isr: number[]) => Promise<boolean>
  logLine: (line: string) => void
  /** Whether this node's etcd session is surely alive. */
  alive: () => boolean
  /** A follower's long poll at its leader (default 500 ms). */
  fetchWaitMs?: number
  fetchMaxBytes?: number
}

export type Route =
  | { kind: 'local' }
  | { kind: 'forward', leader: number, address: string }
  | { kind: 'refuse', error: RogError }

/** How a partition this node follows (or does not replicate) refuses client writes. */
class NotLeader implements ReplicationGate {
  constructor (private readonly error: RogError) {}
  refusal (): RogError { return this.error }
  whenReplicated (_end: number, callback: (err: RogError | null) => void): void { callback(this.error) }
  groupWritten (_group: string, _offset: number | null, callback: (err: RogError | null) => void): void { callback(this.error) }
}

interface Role { state: PartitionState, leader: PartitionLeader | null }

/** Most bytes of messages in one replica-fetch answer. */
const DEFAULT_FETCH_MAX_BYTES = 4 * 1024 * 1024

/**
 * This node's part in replication: for every partition it replicates, it
 * leads (a PartitionLeader gates client writes and answers followers'
 * fetches) or follows (a ReplicaFetcher per leader node copies the leader's
 * log), as etcd's partition state says. It routes each client request to
 * the partition's leader.
 */
export class ReplicaManager {
  private readonly store: Store
  private readonly options: ReplicaManagerOptions
  private readonly roles = new Map<string, Role>()
  private readonly fetchers = new Map<number, ReplicaFetcher>()
  private readonly timer: NodeJS.Timeout
  /** Follower long polls waiting at this leader, woken when any partition they fetch moves. */
  private readonly fetchWaiters = new Set<() => void>()
  /** Lines a leader may write on every attempt (an ISR change etcd cannot take while it is unreachable). */
  private readonly repeats: RepeatLimiter

  constructor (store: Store, options: ReplicaManagerOptions) {
    this.store = store
    this.options = options
    this.repeats = new RepeatLimiter(options.logLine)
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(1000, options.replicaLagMs / 4)))
    this.timer.unref()
  }

  /** The partitions this node leads. */
  leaders (): Array<{ log: string, partition: number, leader: PartitionLeader }> {
    const out = []
    for (const [key, role] of this.roles) {
      if (role.leader === null) continue
      const [log, p] = splitKey(key)
      out.push({ log, partition: p, leader: role.leader })
    }
    return out
  }

  state (log: string, partition: number): PartitionState | null {
    return this.roles.get(`${log}/${partition}`)?.state ?? null
  }

  /**
   * etcd says this of a partition (its log exists in the local store):
   * become its leader, a follower of its leader, or neither.
   */
  apply (log: string, partition: number, state: PartitionState): void {
    const key = `${log}/${partition}`
    const role = this.roles.get(key)
    const target = this.store.partition(log, partition)
    const self = this.options.self
    if (state.leader === self && !this.options.alive()) {
      // Without a live session this node takes no lead, whatever its copy of the metadata says (that copy may be
      // stale, and etcd may be electing another leader now); it is applied again once the node has joined again.
      role?.leader?.stepDown(RogError.sessionLost(partition, log))
      this.unfollow(log, partition)
      this.roles.set(key, { state, leader: null })
      target.replicate(new NotLeader(RogError.sessionLost(partition, log)))
      return
    }
    if (state.leader === self) {
      if (role?.leader !== null && role?.leader !== undefined && role.leader.epoch === state.leaderEpoch && !role.leader.steppedDown) {
        role.state = state
        role.leader.stateChanged(state.replicas, state.isr)
        return
      }
      role?.leader?.stepDown(RogError.notLeader(partition, log, self, null))
      this.unfollow(log, partition)
      // The next id, not the log end: follower appends still being written belong to the epoch before.
      target.leaderEpochs().assign(state.leaderEpoch, target.nextOffset)
      const leader = new PartitionLeader(target, state, {
        log,
        partition,
        self,
        minInsyncReplicas: this.options.minInsyncReplicas,
        replicaLagMs: this.options.replicaLagMs,
        changeIsr: (isr) => this.options.updateIsr(log, partition, state.leaderEpoch, isr),
        changed: () => this.changed(),
        alive: this.options.alive,
        live: (node) => this.options.address(node) !== null,
        logLine: this.options.logLine,
        logRepeated: (key, line) => this.repeats.say(`${log}/${partition} ${key}`, line)
      })
      this.roles.set(key, { state, leader })
      target.replicate(leader)
      leader.start()
      this.options.logLine(`partition ${partition} of log ${log}: leader at epoch ${state.leaderEpoch} (ISR ${state.isr.join(',')}), log end ${target.endOffset}`)
      return
    }
    role?.leader?.stepDown(RogError.notLeader(partition, log, state.leader, this.options.address(state.leader)))
    this.roles.set(key, { state, leader: null })
    const refusal = state.leader < 0 ? RogError.noLeader(partition, log) : RogError.notLeader(partition, log, state.leader, this.options.address(state.leader))
    target.replicate(new NotLeader(refusal))
    if (!state.replicas.includes(self) || state.leader < 0) return this.unfollow(log, partition)
    const address = this.options.address(state.leader)
    if (address === null) return this.unfollow(log, partition)
    for (const [node, fetcher] of this.fetchers) if (node !== state.leader) fetcher.unfollow(log, partition)
    let fetcher = this.fetchers.get(state.leader)
    if (fetcher === undefined || fetcher.address !== address) {
      fetcher?.stop()
      fetcher = new ReplicaFetcher({ self, address, waitMs: this.options.fetchWaitMs ?? 500, maxBytes: this.options.fetchMaxBytes ?? DEFAULT_FETCH_MAX_BYTES, logLine: this.options.logLine })
      this.fetchers.set(state.leader, fetcher)
    }
    fetcher.follow(log, partition, state.leaderEpoch, target)
  }

  /** The log is gone from the cluster: forget its partitions. */
  forget (log: string): void {
    for (const key of [...this.roles.keys()]) {
      if (splitKey(key)[0] !== log) continue
      const [, p] = splitKey(key)
      this.roles.get(key)?.leader?.stepDown(RogError.noLog(log))
      this.unfollow(log, p)
      this.roles.delete(key)
    }
  }

  /** This node lost its etcd session: it may no longer be the leader of anything (a new one may be elected). */
  fenceAll (): void {
    for (const [key, role] of this.roles) {
      if (role.leader === null) continue
      const [log, p] = splitKey(key)
      role.leader.stepDown(RogError.sessionLost(p, log))
    }
  }

  /** Where a client request for this partition goes. */
  route (log: string, partition: number): Route {
    const role = this.roles.get(`${log}/${partition}`)
    if (role === undefined) {
      // No such log or partition: served here, which answers the reference error. A known one without a state yet: refused.
      if (!this.store.has(log) || partition >= this.store.partitions(log).length) return { kind: 'local' }
      return { kind: 'refuse', error: RogError.noLeader(partition, log) }
    }
    if (role.leader !== null && !role.leader.steppedDown) return { kind: 'local' }
    const leader = role.state.leader
    if (leader < 0) return { kind: 'refuse', error: RogError.noLeader(partition, log) }
    if (leader === this.options.self) return { kind: 'refuse', error: RogError.notLeaderHere(partition, log, this.options.alive()) }
    const address = this.options.address(leader)
    if (address === null) return { kind: 'refuse', error: RogError.notLeader(partition, log, leader, null) }
    return { kind: 'forward', leader, address }
  }

  /** A leader's answer to where its log ends for a follower's epoch. */
  epochEnd (log: string, partition: number, epoch: number): Response {
    const role = this.roles.get(`${log}/${partition}`)
    if (role?.leader === null || role?.leader === undefined || role.leader.steppedDown) {
      return errorResponse(RogError.notLeader(partition, log, role?.state.leader ?? -1, null))
    }
    const target = this.store.partition(log, partition)
    return { response: 'json', body: Buffer.from(JSON.stringify(target.leaderEpochs().endOf(epoch, target.endOffset))) }
  }

  /**
   * A follower's fetch: waits (up to its wait) until a partition it asks
   * for has messages past its offset, a higher watermark than it knows, or
   * group changes; then answers every partition.
   */
  async replicaFetch (c: ReplicaFetchCommand, signal: AbortSignal): Promise<Response> {
    const deadline = Date.now() + Math.min(c.waitMs, 5000)
    while (this.quiet(c) && Date.now() < deadline && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer)
          this.fetchWaiters.delete(wake)
          signal.removeEventListener('abort', wake)
          resolve()
        }
        const timer = setTimeout(wake, Math.max(1, deadline - Date.now()))
        signal.addEventListener('abort', wake, { once: true })
        this.fetchWaiters.add(wake)
      })
    }
    const { header, messages } = await this.collect(c)
    return { response: 'replica-data', header: Buffer.from(JSON.stringify({ partitions: header })), messages }
  }

  /** Called when a led partition's log end, high watermark or groups move. */
  changed (): void {
    if (this.fetchWaiters.size === 0) return
    const waiters = [...this.fetchWaiters]
    this.fetchWaiters.clear()
    for (const wake of waiters) wake()
  }

  stop (): void {
    clearInterval(this.timer)
    this.repeats.flush()
    for (const fetcher of this.fetchers.values()) fetcher.stop()
    this.fetchers.clear()
    this.changed()
  }

  /** Whether nothing would be sent for any partition of the fetch (its long poll keeps waiting). */
  private quiet (c: ReplicaFetchCommand): boolean {
    return c.partitions.every((p) => this.partitionData(c, p).quiet)
  }

  private async collect (c: ReplicaFetchCommand): Promise<{ header: ReplicaPartitionData[], messages: FetchedMessage[] }> {
    let budget = Math.min(c.maxBytes, 8 * 1024 * 1024)
    const header: ReplicaPartitionData[] = []
    const messages: FetchedMessage[] = []
    for (const p of c.partitions) {
      const data = this.partitionData(c, p)
      if (data.partition !== null && data.header.error === undefined && p.offset < data.partition.endOffset && budget > 0) {
        // Whole entries as stored: the follower checks their checksums as it appends them.
        const read = await data.partition.read(p.offset, 100_000, budget, data.partition.endOffset, true)
        for (const m of read) {
          messages.push(m)
          budget -= m.data.length
        }
        data.header.count = read.length
        if (read.length > 0) data.header.producers = data.partition.producers.recordsEndingIn(p.offset, read[read.length - 1].offset + 1)
        // The high watermark sent is taken after the read, and never beyond what this answer brings the follower.
        data.header.hw = Math.min(data.partition.highWatermark(), read.length > 0 ? read[read.length - 1].offset + 1 : p.offset)
      }
      header.push(data.header)
    }
    return { header, messages }
  }

  private partitionData (c: ReplicaFetchCommand, p: ReplicaFetchCommand['partitions'][number]): { header: ReplicaPartitionData, partition: Partition | null, quiet: boolean } {
    const base: ReplicaPartitionData = { log: p.log, partition: p.partition, hw: 0, count: 0, epochs: [], groups: [], groupsVersion: p.groupsVersion, groupsOf: p.groupsOf, groupsFull: false }
    const role = this.roles.get(`${p.log}/${p.partition}`)
    const leader = role?.leader
    if (role === undefined || leader === null || leader === undefined) {
      return { header: { ...base, error: RogError.notLeader(p.partition, p.log, role?.state.leader ?? -1, null).message }, partition: null, quiet: false }
    }
    if (!role.state.replicas.includes(c.replica)) {
      return { header: { ...base, error: new RogError('FENCED', `Node ${c.replica} is not a replica of partition ${p.partition} of log ${p.log}`).message }, partition: null, quiet: false }
    }
    // A claimed epoch never steps this leader down: only etcd's state does (a fetch proves nothing about who leads).
    if (p.epoch !== leader.epoch) {
      return { header: { ...base, error: RogError.fenced(p.partition, p.log, p.epoch, leader.epoch).message }, partition: null, quiet: false }
    }
    const refused = leader.fetched(c.replica, p.offset, p.groupsVersion, p.groupsOf)
    if (refused !== null) return { header: { ...base, error: refused.message }, partition: null, quiet: false }
    const target = this.store.partition(p.log, p.partition)
    const groups = leader.groupsAfter(p.groupsVersion, p.groupsOf)
    const hw = target.highWatermark()
    const header: ReplicaPartitionData = {
      ...base,
      hw: Math.min(hw, p.offset),
      epochs: target.leaderEpochs().list().map((e) => [e.epoch, e.startOffset]),
      groups: groups.groups,
      groupsVersion: groups.version,
      groupsOf: leader.groupsOf,
      groupsFull: groups.full
    }
    // Quiet: nothing to send and nothing the follower does not know (a long poll keeps waiting).
    const quiet = p.offset >= target.endOffset && groups.groups.length === 0 && !groups.full && hw <= p.offset
    return { header, partition: target, quiet }
  }

  private unfollow (log: string, partition: number): void {
    for (const fetcher of this.fetchers.values()) fetcher.unfollow(log, partition)
  }

  private tick (): void {
    const now = Date.now()
    for (const role of this.roles.values()) role.leader?.tick(now)
    for (const [node, fetcher] of this.fetchers) {
      if (fetcher.size === 0) {
        fetcher.stop()
        this.fetchers.delete(node)
      }
    }
  }
}

function splitKey (key: string): [string, number] {
  const slash = key.lastIndexOf('/')
  return [key.slice(0, slash), Number(key.slice(slash + 1))]
}

function errorResponse (err: RogError): Response {
  return { response: 'error', message: err.message }
}

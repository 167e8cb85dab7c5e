import type { ComparatorBuilder, Etcd3, IKeyValue, IResponseOp, ITxnResponse, Watcher } from 'etcd3'
import { RogError } from '../errors'
import {
  parseControllerId, parseLog, parseNode, parsePartition,
  type ClusterSnapshot, type ControllerInfo, type LogMeta, type NodeInfo, type PartitionRecord, type PartitionState
} from './metadata'

/** What guards a write besides the partition's own version. */
export type Fence =
  /** The writer is the controller elected at this epoch (the controller key's create revision). */
  | { controllerEpoch: number }
  /** The writer's node key is still attached to this lease (its session is alive). */
  | { nodeId: number, leaseId: string }

export type CasResult =
  | { ok: true, modRevision: number }
  /** `current` is the partition as etcd holds it now (null: deleted); `fenced` when the fence failed. */
  | { ok: false, current: PartitionRecord | null, fenced: boolean }

export type MetaEvent =
  | { type: 'node', id: number, node: NodeInfo | null, revision: number }
  | { type: 'controller', controller: ControllerInfo | null, revision: number }
  | { type: 'log', name: string, log: LogMeta | null, revision: number }
  | { type: 'partition', log: string, partition: number, record: PartitionRecord | null, revision: number }

/** etcd's default limit of operations in one transaction (--max-txn-ops). */
const MAX_TXN_OPS = 128
/** How long etcd may take to start a watch before the client is given up on. */
const WATCH_START_MS = 2000

/**
 * The cluster's keys in etcd (layout in metadata.ts) and every operation on
 * them. Stateless apart from the client and a count of write transactions
 * (`writes`, for measuring the load a change puts on etcd).
 */
export class ClusterMeta {
  readonly prefix: string
  writes = 0

  constructor (readonly client: Etcd3, clusterName: string) {
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(clusterName)) throw RogError.clusterMeta(`cluster name ${JSON.stringify(clusterName)} must be 1-100 of A-Z a-z 0-9 . _ -`)
    this.prefix = `/rog/${clusterName}/`
  }

  nodeKey (id: number): string { return `${this.prefix}nodes/${id}` }
  get controllerKey (): string { return `${this.prefix}controller` }
  logKey (name: string): string { return `${this.prefix}logs/${name}` }
  partitionKey (log: string, partition: number): string { return `${this.prefix}partitions/${log}/${partition}` }

  /**
   * Creates `nodes/<id>` on the lease, if no other lease holds it; else
   * NODE_ID_TAKEN naming the holder's address. Succeeds when the key is
   * already on this very lease (a retried call whose first answer was lost).
   * Resolves to the revision of the key's put.
   */
  async registerNode (node: NodeInfo, leaseId: string): Promise<number> {
    const key = this.nodeKey(node.id)
    const res = await this.txn(
      this.client.if(key, 'Create', '==', 0)
        .then(this.client.put(key).value(JSON.stringify(node)).lease(leaseId))
        .else(this.client.get(key)))
    if (res.succeeded) return Number(res.header.revision)
    const holder = rangeKvs(res.responses[0])[0]
    if (holder === undefined) throw RogError.conflict(`Registering node ${node.id}`, 1)
    if (holder.lease === leaseId) return Number(holder.mod_revision)
    throw RogError.nodeIdTaken(node.id, parseNode(holder.value.toString()).address)
  }

  /** A revision of etcd's no other call gets: that of a put to `producer-id` (each put is one revision). */
  async producerRevision (): Promise<number> {
    this.writes++
    const res = await this.client.put(`${this.prefix}producer-id`).value('').exec()
    return Number(res.header.revision)
  }

  /**
   * Claims the controller key on the lease if it is free. Returns the
   * controller after the attempt, this node or the one that holds it (null
   * only if it went away between the two steps of a failed claim).
   */
  async campaign (nodeId: number, leaseId: string): Promise<ControllerInfo | null> {
    const key = this.controllerKey
    const res = await this.txn(
      this.client.if(key, 'Create', '==', 0)
        .then(this.client.put(key).value(JSON.stringify({ id: nodeId })).lease(leaseId))
        .else(this.client.get(key)))
    if (res.succeeded) return { id: nodeId, epoch: Number(res.header.revision) }
    const kv = rangeKvs(res.responses[0])[0]
    return kv === undefined ? null : controllerOf(kv)
  }

  /** Deletes the controller key if this epoch still holds it (a clean hand-over). */
  async resign (epoch: number): Promise<boolean> {
    const res = await this.txn(this.client.if(this.controllerKey, 'Create', '==', epoch).then(this.client.delete().key(this.controllerKey)))
    return res.succeeded
  }

  /**
   * Writes `logs/<name>` if it is absent, fenced by the controller epoch.
   * False when the log exists; NOT_CONTROLLER when the fence fails.
   */
  async createLog (log: LogMeta, fence: Fence): Promise<boolean> {
    const key = this.logKey(log.name)
    const res = await this.txn(this.fenced(this.client.if(key, 'Create', '==', 0), fence)
      .then(this.client.put(key).value(JSON.stringify(log)))
      .else(this.client.get(key)))
    if (res.succeeded) return true
    if (rangeKvs(res.responses[0]).length === 0) throw this.fenceError(fence)
    return false
  }

  /**
   * Creates the partition keys that are absent, in as few transactions as
   * etcd's operation limit allows; a key that exists is left alone. Returns
   * how many were created.
   */
  async createPartitions (log: string, states: Map<number, PartitionState>, fence: Fence): Promise<number> {
    const existing = new Set(await this.client.getAll().prefix(`${this.prefix}partitions/${log}/`).keys())
    const absent = [...states].filter(([p]) => !existing.has(this.partitionKey(log, p)))
    // One compare per key plus the fence's, within etcd's limit per transaction.
    const perTxn = MAX_TXN_OPS - 1
    for (let i = 0; i < absent.length; i += perTxn) {
      const chunk = absent.slice(i, i + perTxn)
      let txn = this.fenced(this.client.if(this.partitionKey(log, chunk[0][0]), 'Create', '==', 0), fence)
      for (const [p] of chunk.slice(1)) txn = txn.and(this.partitionKey(log, p), 'Create', '==', 0)
      const res = await this.txn(txn.then(...chunk.map(([p, s]) => this.client.put(this.partitionKey(log, p)).value(JSON.stringify(s)))))
      if (!res.succeeded) throw RogError.conflict(`Creating the partitions of log ${log}`, 1)
    }
    return absent.length
  }

  /** Deletes the log and all its partitions in one transaction, fenced. False when there was no such log. */
  async deleteLog (name: string, fence: Fence): Promise<boolean> {
    const key = this.logKey(name)
    const res = await this.txn(this.fenced(this.client.if(key, 'Create', '>', 0), fence)
      .then(this.client.delete().key(key), this.client.delete().prefix(`${this.prefix}partitions/${name}/`))
      .else(this.client.get(key)))
    if (res.succeeded) return true
    if (rangeKvs(res.responses[0]).length > 0) throw this.fenceError(fence)
    return false
  }

  async readPartition (log: string, partition: number): Promise<PartitionRecord | null> {
    const res = await this.client.get(this.partitionKey(log, partition)).exec()
    const kv = res.kvs[0]
    return kv === undefined ? null : partitionOf(log, partition, kv)
  }

  /**
   * Compare-and-swap of one partition on its mod revision, under a fence.
   * On failure, returns what etcd holds now, read in the same transaction.
   */
  async updatePartition (log: string, partition: number, expectedRevision: number, state: PartitionState, fence?: Fence): Promise<CasResult> {
    const key = this.partitionKey(log, partition)
    const cas = this.client.if(key, 'Mod', '==', expectedRevision)
    const res = await this.txn((fence === undefined ? cas : this.fenced(cas, fence))
      .then(this.client.put(key).value(JSON.stringify(state)))
      .else(this.client.get(key)))
    if (res.succeeded) return { ok: true, modRevision: Number(res.header.revision) }
    const kv = rangeKvs(res.responses[0])[0]
    const current = kv === undefined ? null : partitionOf(log, partition, kv)
    return { ok: false, current, fenced: current !== null && current.modRevision === expectedRevision }
  }

  /**
   * The leader's own change to its ISR: applied only while the stored
   * partition names `leaderId` as leader at `leaderEpoch` (and, with a
   * session fence, while the leader's node key is on its lease). A lost
   * compare-and-swap is re-read and retried while those still hold, at most
   * `attempts` times. Returns the outcome; `ok: false` means this leader is
   * stale (or fenced), with the state it lost to.
   */
  async updateIsrAsLeader (log: string, partition: number, leaderId: number, leaderEpoch: number, isr: number[], fence?: Fence, attempts = 5): Promise<CasResult> {
    let current = await this.readPartition(log, partition)
    for (let i = 0; i < attempts; i++) {
      if (current === null || current.state.leader !== leaderId || current.state.leaderEpoch !== leaderEpoch) return { ok: false, current, fenced: false }
      const result = await this.updatePartition(log, partition, current.modRevision, { ...current.state, isr }, fence)
      if (result.ok || result.fenced) return result
      current = result.current
    }
    throw RogError.conflict(`The ISR change of partition ${partition} of log ${log}`, attempts)
  }

  /** Everything under the prefix, at one revision. */
  async snapshot (): Promise<ClusterSnapshot> {
    const res = await this.client.getAll().prefix(this.prefix).exec()
    const snapshot: ClusterSnapshot = { revision: Number(res.header.revision), nodes: new Map(), controller: null, logs: new Map(), partitions: new Map() }
    for (const kv of res.kvs) {
      const event = this.eventOf(kv, false, snapshot.revision)
      if (event === null) continue
      if (event.type === 'node' && event.node !== null) snapshot.nodes.set(event.id, event.node)
      else if (event.type === 'controller') snapshot.controller = event.controller
      else if (event.type === 'log' && event.log !== null) snapshot.logs.set(event.name, event.log)
      else if (event.type === 'partition' && event.record !== null) partitionsOf(snapshot, event.log).set(event.partition, event.record)
    }
    return snapshot
  }

  /**
   * Every change under the prefix from `fromRevision` on, in revision order,
   * to `onEvent`; a malformed value goes to `onError` instead. Resolves once
   * the watch is established; cancel it with the returned watcher.
   */
  async watch (fromRevision: number, onEvent: (event: MetaEvent) => void, onError: (err: Error) => void): Promise<Watcher> {
    // A watch's stream has no deadline: one opened on a member that accepts connections and never answers
    // (paused, or its machine hung) waits for ever. The caller starts again on a new client.
    let timer: NodeJS.Timeout | undefined
    const watcher = await Promise.race([
      this.client.watch().prefix(this.prefix).startRevision(String(fromRevision)).create(),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new RogError('ETCD_UNAVAILABLE', `etcd did not start a watch within ${WATCH_START_MS / 1000} s (a member that accepts connections and does not answer?)`)), WATCH_START_MS)
      })
    ]).finally(() => clearTimeout(timer))
    const handle = (kv: IKeyValue, deleted: boolean): void => {
      try {
        const event = this.eventOf(kv, deleted, Number(kv.mod_revision))
        if (event !== null) onEvent(event)
      } catch (err) {
        onError(err as Error)
      }
    }
    watcher.on('put', (kv) => handle(kv, false))
    watcher.on('delete', (kv) => handle(kv, true))
    watcher.on('error', onError)
    return watcher
  }

  private eventOf (kv: IKeyValue, deleted: boolean, revision: number): MetaEvent | null {
    const key = kv.key.toString().slice(this.prefix.length)
    const text = kv.value.toString()
    if (key === 'controller') return { type: 'controller', controller: deleted ? null : controllerOf(kv), revision }
    const node = /^nodes\/(\d+)$/.exec(key)
    if (node !== null) return { type: 'node', id: Number(node[1]), node: deleted ? null : parseNode(text), revision }
    const log = /^logs\/(.+)$/.exec(key)
    if (log !== null) return { type: 'log', name: log[1], log: deleted ? null : parseLog(text), revision }
    const partition = /^partitions\/(.+)\/(\d+)$/.exec(key)
    if (partition !== null) {
      const [, name, p] = partition
      return { type: 'partition', log: name, partition: Number(p), record: deleted ? null : partitionOf(name, Number(p), kv), revision }
    }
    return null
  }

  private fenced (txn: ComparatorBuilder, fence: Fence): ComparatorBuilder {
    return 'controllerEpoch' in fence
      ? txn.and(this.controllerKey, 'Create', '==', fence.controllerEpoch)
      : txn.and(this.nodeKey(fence.nodeId), 'Lease', '==', fence.leaseId)
  }

  private fenceError (fence: Fence): RogError {
    return 'controllerEpoch' in fence
      ? RogError.notController(fence.controllerEpoch)
      : RogError.clusterMeta(`node ${fence.nodeId} no longer holds its registration`)
  }

  private async txn (builder: { commit: () => Promise<ITxnResponse> }): Promise<ITxnResponse> {
    this.writes++
    return await builder.commit()
  }
}

function rangeKvs (op: IResponseOp | undefined): IKeyValue[] {
  return op?.response_range?.kvs ?? []
}

function controllerOf (kv: IKeyValue): ControllerInfo {
  return { id: parseControllerId(kv.value.toString()), epoch: Number(kv.create_revision) }
}

function partitionOf (log: string, partition: number, kv: IKeyValue): PartitionRecord {
  return { log, partition, state: parsePartition(kv.value.toString()), modRevision: Number(kv.mod_revision) }
}

export function partitionsOf (snapshot: Pick<ClusterSnapshot, 'partitions'>, log: string): Map<number, PartitionRecord> {
  let byNumber = snapshot.partitions.get(log)
  if (byNumber === undefined) {
    byNumber = new Map()
    snapshot.partitions.set(log, byNumber)
  }
  return byNumber
}

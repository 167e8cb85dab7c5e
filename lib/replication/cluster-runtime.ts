import { isRecoverableError } from 'etcd3'
import { ClusterNode } from '../cluster/cluster-node'
import { etcdReason } from '../cluster/etcd-client'
import type { LogMeta, NodeInfo, PartitionRecord } from '../cluster/metadata'
import { ttlSeconds } from '../cluster/node-session'
import { RogError } from '../errors'
import { clusterProducerId } from '../protocol/producer-id'
import type { ClusterInfo, Command, EpochEndCommand, PartitionPlacement, ReplicaFetchCommand, Response } from '../protocol/commands'
import type { Store } from '../storage/store'
import type { ClusterService } from './cluster-service'
import { Forwarder } from './forwarder'
import { ReplicaManager, type Route } from './replica-manager'

export interface ClusterOptions {
  nodeId: number
  /** etcd client URLs. */
  etcd: string[]
  /** host:port other nodes and clients reach this node at (default: the listening address). */
  advertise?: string
  clusterName: string
  sessionTtlMs: number
  /** Replicas of a log created without a factor (default: the smaller of 3 and the live nodes). */
  defaultReplicationFactor?: number
  minInsyncReplicas: number
  replicaLagMs: number
  uncleanElection?: boolean
}

/** How long a request for a log this node has not heard of waits for the watch to bring it. */
const UNKNOWN_LOG_WAIT_MS = 2000
/** How long a starting node waits for etcd to answer before it gives up. */
const ETCD_START_WAIT_MS = 15_000
/** Beyond one session TTL, how long a previous run's lease may outlive etcd's first answer (etcd adds its election timeout, 1 s by default). */
const PREVIOUS_RUN_GRACE_MS = 3000

/**
 * A server's membership of a cluster: its ClusterNode (session, metadata
 * view, controller election), its ReplicaManager (leading and following
 * partitions as etcd says), and forwarding. Every log the cluster has is
 * created in the local store with all its partitions; a partition this node
 * does not replicate stays empty and is never served here.
 */
export class ClusterRuntime implements ClusterService {
  private readonly node: ClusterNode
  private readonly store: Store
  private readonly manager: ReplicaManager
  private readonly forwarder = new Forwarder()
  private readonly options: ClusterOptions
  private readonly logLine: (line: string) => void
  /** Local creation of a cluster log under way, by name. */
  private readonly creating = new Map<string, Promise<void>>()
  private readonly logWaiters = new Map<string, Array<() => void>>()

  private constructor (node: ClusterNode, store: Store, options: ClusterOptions, logLine: (line: string) => void) {
    this.node = node
    this.store = store
    this.options = options
    this.logLine = logLine
    this.manager = new ReplicaManager(store, {
      self: options.nodeId,
      minInsyncReplicas: options.minInsyncReplicas,
      replicaLagMs: options.replicaLagMs,
      address: (id) => node.view.node(id)?.address ?? null,
      updateIsr: async (log, partition, epoch, isr) => {
        const session = node.session
        if (session === null || !session.alive) return false
        const result = await node.meta.updateIsrAsLeader(log, partition, options.nodeId, epoch, isr, { nodeId: options.nodeId, leaseId: session.leaseId })
        return result.ok
      },
      logLine,
      alive: () => node.session?.alive === true
    })
    const view = node.view
    view.on('log', (meta: LogMeta) => { this.local(meta).catch((err: Error) => logLine(`log ${meta.name}: ${err.message}`)) })
    view.on('log-deleted', (name: string) => this.deleted(name))
    view.on('partition', (record: PartitionRecord) => this.applyRecord(record))
    view.on('node-joined', () => this.applyAll())
    view.on('node-left', (info: NodeInfo) => {
      logLine(`cluster: node ${info.id} (${info.address}) left`)
      this.forwarder.drop(info.address)
      this.applyAll()
    })
    node.on('lost', (reason: string) => {
      logLine(`cluster: etcd session lost (${reason}); this node leads nothing until it has joined again`)
      this.manager.fenceAll()
    })
    node.on('rejoined', (ms: number) => {
      logLine(`cluster: joined again, ${(ms / 1000).toFixed(1)} s after the session was lost`)
      this.applyAll()
    })
    node.on('error', (err: Error) => logLine(`cluster: ${err.message}`))
  }

  static async start (store: Store, options: ClusterOptions, address: string, logLine: (line: string) => void): Promise<ClusterRuntime> {
    const join = async (): Promise<ClusterNode> => await ClusterNode.start({
      nodeId: options.nodeId,
      address: options.advertise ?? address,
      endpoints: options.etcd,
      clusterName: options.clusterName,
      sessionTtlMs: options.sessionTtlMs,
      uncleanElection: options.uncleanElection,
      log: logLine
    })
    // A node restarted right after a crash finds its previous lease still held: that one expires within a TTL of
    // etcd's first answer (a restarted etcd, or a new etcd leader, renews every lease for a TTL and its election
    // timeout), a live node's never does. So the wait for it starts at the first refusal, not at the process start.
    let deadline = 0
    // A node started with (or just before) etcd waits for it a while.
    const etcdDeadline = Date.now() + ETCD_START_WAIT_MS
    let node: ClusterNode
    for (let waited = false, waitedForEtcd = false; ;) {
      try {
        node = await join()
        break
      } catch (err) {
        if ((err instanceof Error && isRecoverableError(err)) || (err instanceof RogError && err.code === 'ETCD_UNAVAILABLE')) {
          const reason = etcdReason(err)
          if (Date.now() > etcdDeadline) throw new RogError('ETCD_UNAVAILABLE', `Cannot reach etcd at ${options.etcd.join(', ')}: ${reason}`)
          if (!waitedForEtcd) logLine(`cluster: cannot reach etcd at ${options.etcd.join(', ')} (${reason}); trying for up to ${ETCD_START_WAIT_MS / 1000} s`)
          waitedForEtcd = true
          await new Promise((resolve) => setTimeout(resolve, 500))
          continue
        }
        if (!(err instanceof RogError) || err.code !== 'NODE_ID_TAKEN') throw err
        if (deadline === 0) deadline = Date.now() + ttlSeconds(options.sessionTtlMs) * 1000 + PREVIOUS_RUN_GRACE_MS
        if (Date.now() > deadline) throw err
        if (!waited) logLine(`cluster: ${err.message}; waiting up to one session TTL in case that is this node's previous run`)
        waited = true
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    }
    const runtime = new ClusterRuntime(node, store, options, logLine)
    for (const meta of node.view.logs()) await runtime.local(meta)
    runtime.applyAll()
    return runtime
  }

  route (log: string, partition: number): Route {
    return this.manager.route(log, partition)
  }

  forward (address: string, c: Command): Promise<Response> {
    return this.forwarder.forward(address, c)
  }

  async ensureLog (log: string): Promise<void> {
    if (this.store.has(log)) return
    const meta = this.node.view.log(log)
    if (meta !== undefined) return await this.local(meta)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, UNKNOWN_LOG_WAIT_MS)
      const waiters = this.logWaiters.get(log) ?? []
      waiters.push(done)
      this.logWaiters.set(log, waiters)
      function done (): void {
        clearTimeout(timer)
        resolve()
      }
    })
    const later = this.node.view.log(log)
    if (later !== undefined) await this.local(later)
  }

  replicaFetch (c: ReplicaFetchCommand, signal: AbortSignal): Promise<Response> {
    return this.manager.replicaFetch(c, signal)
  }

  epochEnd (c: EpochEndCommand): Response {
    return this.manager.epochEnd(c.log, c.partition, c.epoch)
  }

  async newProducerId (): Promise<number> {
    try {
      return clusterProducerId(await this.node.meta.producerRevision())
    } catch (err) {
      throw RogError.clusterMeta(`could not take a producer id: ${(err as Error).message}`)
    }
  }

  clusterInfo (): Response {
    const live = new Map(this.node.nodes().map((n) => [n.id, n]))
    const ids = new Set(live.keys())
    for (const record of this.node.view.partitions()) for (const id of record.state.replicas) ids.add(id)
    const nodes = [...ids].sort((a, b) => a - b).map((id) => ({ id, address: live.get(id)?.address ?? null, alive: live.has(id) }))
    const body: ClusterInfo = { cluster: this.options.clusterName, node: this.options.nodeId, controller: this.node.view.controller?.id ?? null, nodes }
    return json(body)
  }

  logPlacement (log: string): Response {
    const meta = this.node.view.log(log)
    if (meta === undefined) return { response: 'error', message: RogError.noLog(log).message }
    const partitions = this.node.view.partitions(log).sort((a, b) => a.partition - b.partition).map((r): PartitionPlacement => ({
      partition: r.partition,
      leader: r.state.leader,
      epoch: r.state.leaderEpoch,
      replicas: r.state.replicas,
      isr: r.state.isr
    }))
    return json({ log, replicationFactor: meta.replicationFactor, partitions })
  }

  async createLog (log: string, partitions: number, settings: { retentionBytes: number | null, retentionMs: number | null }, replicationFactor?: number): Promise<void> {
    const live = this.node.nodes().length
    const factor = replicationFactor ?? this.options.defaultReplicationFactor ?? Math.min(3, live)
    const controller = this.node.controller
    if (controller !== null) {
      await controller.createLog(log, partitions, factor, { ...settings }, this.options.minInsyncReplicas)
    } else {
      const answer = await this.forward(this.controllerAddress(), { command: 'create-with-settings', log, partitions, ...settings, replicationFactor: factor })
      if (answer.response === 'error') throw RogError.fromServer(answer.message)
    }
    await this.ensureLog(log)
  }

  async deleteLog (log: string): Promise<void> {
    const controller = this.node.controller
    if (controller !== null) {
      await controller.deleteLog(log)
    } else {
      const answer = await this.forward(this.controllerAddress(), { command: 'delete-log', log })
      if (answer.response === 'error') throw RogError.fromServer(answer.message)
    }
  }

  async reassign (log: string, partition: number, replicas: number[]): Promise<Response> {
    const controller = this.node.controller
    if (controller === null) return await this.forward(this.controllerAddress(), { command: 'reassign', log, partition, replicas })
    return json(await controller.reassign(log, partition, replicas))
  }

  async stop (): Promise<void> {
    this.manager.stop()
    this.forwarder.close()
    await this.node.stop()
  }

  private controllerAddress (): string {
    const id = this.node.view.controller?.id
    const address = id === undefined ? undefined : this.node.view.node(id)?.address
    if (address === undefined) throw new RogError('NO_LEADER', 'The cluster has no controller now (an election is under way); try again')
    return address
  }

  /** Creates a cluster log's partitions in the local store (once), then takes up their states. */
  private async local (meta: LogMeta): Promise<void> {
    if (!this.store.has(meta.name)) {
      let creating = this.creating.get(meta.name)
      if (creating === undefined) {
        const retentionBytes = typeof meta.settings.retentionBytes === 'number' ? meta.settings.retentionBytes : null
        const retentionMs = typeof meta.settings.retentionMs === 'number' ? meta.settings.retentionMs : null
        creating = this.store.createLog(meta.name, meta.partitions, { retentionBytes, retentionMs }).finally(() => this.creating.delete(meta.name))
        this.creating.set(meta.name, creating)
      }
      await creating
    }
    for (const record of this.node.view.partitions(meta.name)) this.applyRecord(record)
    const waiters = this.logWaiters.get(meta.name) ?? []
    this.logWaiters.delete(meta.name)
    for (const w of waiters) w()
  }

  private applyRecord (record: PartitionRecord): void {
    if (!this.store.has(record.log)) return
    try {
      this.manager.apply(record.log, record.partition, record.state)
    } catch (err) {
      this.logLine(`partition ${record.partition} of log ${record.log}: ${(err as Error).message}`)
    }
  }

  private applyAll (): void {
    for (const record of this.node.view.partitions()) this.applyRecord(record)
  }

  private deleted (name: string): void {
    this.manager.forget(name)
    if (!this.store.has(name)) return
    this.store.deleteLog(name).then(() => this.logLine(`log ${name}: deleted in the cluster, and here`), (err: Error) => this.logLine(`log ${name}: deleted in the cluster; deleting it here failed: ${err.message}`))
  }
}

function json (value: unknown): Response {
  return { response: 'json', body: Buffer.from(JSON.stringify(value)) }
}

import { EventEmitter } from 'node:events'
import type { Watcher } from 'etcd3'
import { partitionsOf, type ClusterMeta, type MetaEvent } from './cluster-meta'
import type { ClusterSnapshot, ControllerInfo, LogMeta, NodeInfo, PartitionRecord } from './metadata'

/**
 * A node's local copy of the cluster metadata: a snapshot, then every change
 * from the etcd watch applied in revision order. Lags etcd by the watch's
 * delay; decisions that must be current read etcd (the controller) or are
 * compare-and-swaps (everyone).
 *
 * Events, each after the copy is updated:
 * - 'node-joined' (NodeInfo), 'node-left' (NodeInfo)
 * - 'controller' (ControllerInfo | null)
 * - 'log' (LogMeta), 'log-deleted' (name)
 * - 'partition' (PartitionRecord), 'partition-deleted' (log, partition)
 * - 'error' (Error): a value under the prefix that is not Rog's, or a failed watch
 */
export class ClusterView extends EventEmitter {
  private state: ClusterSnapshot
  private watcher: Watcher | null = null
  /** reached() calls waiting for a revision, resolved as the watch applies it (or at close). */
  private revisionWaiters: Array<{ revision: number, resolve: () => void }> = []

  private constructor (snapshot: ClusterSnapshot) {
    super()
    this.state = snapshot
  }

  static async open (meta: ClusterMeta): Promise<ClusterView> {
    const view = new ClusterView(await meta.snapshot())
    view.watcher = await meta.watch(view.state.revision + 1, (event) => view.apply(event), (err) => view.emit('error', err))
    return view
  }

  /** The revision of the latest change applied. */
  get revision (): number {
    return this.state.revision
  }

  get controller (): ControllerInfo | null {
    return this.state.controller
  }

  /** Live nodes, by id. */
  nodes (): NodeInfo[] {
    return [...this.state.nodes.values()].sort((a, b) => a.id - b.id)
  }

  node (id: number): NodeInfo | undefined {
    return this.state.nodes.get(id)
  }

  logs (): LogMeta[] {
    return [...this.state.logs.values()]
  }

  log (name: string): LogMeta | undefined {
    return this.state.logs.get(name)
  }

  partition (log: string, partition: number): PartitionRecord | undefined {
    return this.state.partitions.get(log)?.get(partition)
  }

  /** Every partition of `log`, or of every log. */
  partitions (log?: string): PartitionRecord[] {
    const logs = log === undefined ? [...this.state.partitions.values()] : [this.state.partitions.get(log) ?? new Map<number, PartitionRecord>()]
    return logs.flatMap((byNumber) => [...byNumber.values()])
  }

  /**
   * Resolves once the copy holds every change up to `revision` (one of an
   * event under the prefix, such as this node's registration), or at close.
   */
  async reached (revision: number): Promise<void> {
    if (this.state.revision >= revision || this.watcher === null) return
    await new Promise<void>((resolve) => this.revisionWaiters.push({ revision, resolve }))
  }

  async close (): Promise<void> {
    const watcher = this.watcher
    this.watcher = null
    const waiters = this.revisionWaiters
    this.revisionWaiters = []
    for (const w of waiters) w.resolve()
    await watcher?.cancel()
  }

  private apply (event: MetaEvent): void {
    const s = this.state
    s.revision = Math.max(s.revision, event.revision)
    if (this.revisionWaiters.length > 0) this.wakeReached()
    switch (event.type) {
      case 'node': {
        const before = s.nodes.get(event.id)
        if (event.node === null) {
          s.nodes.delete(event.id)
          if (before !== undefined) this.emit('node-left', before)
        } else {
          s.nodes.set(event.id, event.node)
          if (before === undefined) this.emit('node-joined', event.node)
        }
        break
      }
      case 'controller':
        s.controller = event.controller
        this.emit('controller', event.controller)
        break
      case 'log':
        if (event.log === null) {
          s.logs.delete(event.name)
          this.emit('log-deleted', event.name)
        } else {
          s.logs.set(event.name, event.log)
          this.emit('log', event.log)
        }
        break
      case 'partition':
        if (event.record === null) {
          const byNumber = s.partitions.get(event.log)
          byNumber?.delete(event.partition)
          if (byNumber?.size === 0) s.partitions.delete(event.log)
          this.emit('partition-deleted', event.log, event.partition)
        } else {
          partitionsOf(s, event.log).set(event.partition, event.record)
          this.emit('partition', event.record)
        }
        break
    }
  }

  private wakeReached (): void {
    const ready = this.revisionWaiters.filter((w) => w.revision <= this.state.revision)
    if (ready.length === 0) return
    this.revisionWaiters = this.revisionWaiters.filter((w) => w.revision > this.state.revision)
    for (const w of ready) w.resolve()
  }
}

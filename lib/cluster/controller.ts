import { RogError } from '../errors'
import type { CasResult, ClusterMeta, Fence } from './cluster-meta'
import type { ClusterView } from './cluster-view'
import type { ClusterSnapshot, LogMeta, PartitionRecord, PartitionState } from './metadata'
import { assignReplicas, nextState, startReassignment, type ElectionRules } from './partition-state'

const PASS_RETRIES = 5

export interface ControllerOptions extends ElectionRules {
  /** Compare-and-swaps lost in a row on one partition before giving up on it until the next pass. */
  casAttempts?: number
  /** Partition writes in flight at once during a pass. */
  concurrency?: number
  log?: (line: string) => void
}

/**
 * The cluster controller, run by the one node elected for `epoch` (Kafka's
 * controller): creates and deletes logs, elects partition leaders when nodes
 * leave or return, and drives reassignments. Every write is fenced by the
 * epoch, so a controller that was replaced writes nothing.
 *
 * State is read from etcd, never from the watch's copy: each pass reads a
 * snapshot and moves every partition to nextState() of it, so a pass after
 * election repairs whatever a previous controller left half done. Passes run
 * one at a time, and never beside a createLog, deleteLog or reassign of
 * this controller; changes to the nodes (and to reassigning partitions)
 * seen meanwhile queue one more pass.
 *
 * What the data path owns: a leader takes a new or returning replica into
 * the ISR once it has caught up (ClusterMeta.updateIsrAsLeader), and drops a
 * lagging one; a reassignment finishes only when the leader has done so for
 * every target replica, and the replicas removed by it then delete their copy.
 */
export class Controller {
  readonly epoch: number
  private readonly fence: Fence
  private readonly rules: ElectionRules
  private readonly casAttempts: number
  private readonly concurrency: number
  private readonly log: (line: string) => void
  private running: Promise<void> | null = null
  private queue: Promise<unknown> = Promise.resolve()
  private again = false
  private stopped = false
  private readonly onChange = (): void => { void this.schedule() }
  private readonly onPartition = (record: PartitionRecord): void => {
    if (record.state.targetReplicas !== undefined) void this.schedule()
  }

  constructor (private readonly meta: ClusterMeta, private readonly view: ClusterView, epoch: number, options: ControllerOptions = {}) {
    this.epoch = epoch
    this.fence = { controllerEpoch: epoch }
    this.rules = { uncleanElection: options.uncleanElection ?? false }
    this.casAttempts = options.casAttempts ?? 5
    this.concurrency = options.concurrency ?? 64
    this.log = options.log ?? (() => {})
  }

  /** Subscribes to changes, then runs a full pass; resolves when that pass is done. */
  async start (): Promise<void> {
    this.view.on('node-joined', this.onChange)
    this.view.on('node-left', this.onChange)
    this.view.on('partition', this.onPartition)
    await this.schedule()
  }

  stop (): void {
    this.stopped = true
    this.view.off('node-joined', this.onChange)
    this.view.off('node-left', this.onChange)
    this.view.off('partition', this.onPartition)
  }

  /** Runs a pass now, or one more after the current one; resolves when the pass that covers this call is done. */
  async schedule (): Promise<void> {
    if (this.running !== null) {
      this.again = true
      await this.running
      if (this.running !== null) await this.running
      return
    }
    this.running = this.passes().finally(() => { this.running = null })
    await this.running
  }

  /** A failed pass (etcd unreachable, a partition that kept conflicting) is tried again, a few times, backing off. */
  private async passes (): Promise<void> {
    let failures = 0
    do {
      this.again = false
      if (this.stopped) return
      try {
        await this.exclusive(async () => await this.pass())
        failures = 0
      } catch (err) {
        if (this.stopped) return
        this.log(`controller epoch ${this.epoch}: pass failed: ${(err as Error).message}`)
        if (++failures <= PASS_RETRIES) {
          this.again = true
          await new Promise((resolve) => setTimeout(resolve, 100 * failures))
        }
      }
    } while (this.again)
  }

  /**
   * One pass over everything: missing partition keys of existing logs are
   * created, and every partition is moved to its next state. Returns the
   * number of partitions changed.
   */
  private async pass (): Promise<number> {
    const snapshot = await this.meta.snapshot()
    const live = new Set(snapshot.nodes.keys())
    for (const log of snapshot.logs.values()) await this.fillPartitions(log, snapshot)
    const todo: PartitionRecord[] = []
    for (const byNumber of snapshot.partitions.values()) {
      for (const record of byNumber.values()) if (nextState(record.state, live, this.rules) !== null) todo.push(record)
    }
    await inParallel(todo, this.concurrency, async (record) => {
      await this.converge(record, (state) => nextState(state, live, this.rules))
    })
    if (todo.length > 0) this.log(`controller epoch ${this.epoch}: ${todo.length} partition(s) changed, ${live.size} live node(s)`)
    return todo.length
  }

  private async fillPartitions (log: LogMeta, snapshot: ClusterSnapshot): Promise<void> {
    const have = snapshot.partitions.get(log.name)
    if ((have?.size ?? 0) >= log.partitions) return
    const states = assignReplicas(snapshot.nodes.keys(), log.partitions, Math.min(log.replicationFactor, snapshot.nodes.size))
    const missing = new Map([...states.entries()].filter(([p]) => have?.has(p) !== true))
    await this.meta.createPartitions(log.name, missing, this.fence)
  }

  /**
   * Applies `change` to the partition by compare-and-swap; a lost swap is
   * recomputed on the state it lost to, at most casAttempts times. Returns the
   * state written (or found to need no change).
   */
  private async converge (record: PartitionRecord, change: (state: PartitionState) => PartitionState | null): Promise<PartitionState> {
    let current: PartitionRecord | null = record
    for (let i = 0; i < this.casAttempts; i++) {
      if (current === null) throw RogError.noLog(record.log)
      const next = change(current.state)
      if (next === null) return current.state
      const result: CasResult = await this.meta.updatePartition(current.log, current.partition, current.modRevision, next, this.fence)
      if (result.ok) return next
      if (result.fenced) {
        this.stop()
        throw RogError.notController(this.epoch)
      }
      current = result.current
    }
    throw RogError.conflict(`Partition ${record.partition} of log ${record.log}`, this.casAttempts)
  }

  /**
   * Creates a log with replicas spread over the live nodes (assignReplicas).
   * LOG_EXISTS when it exists, BAD_REPLICATION_FACTOR when the factor is
   * outside 1..live nodes, NOT_CONTROLLER when this epoch is over.
   */
  async createLog (name: string, partitions: number, replicationFactor: number, settings: Record<string, unknown> = {}, minInsyncReplicas?: number): Promise<LogMeta> {
    this.assertRunning()
    if (!Number.isSafeInteger(partitions) || partitions < 1) throw RogError.badPartitionCount()
    if (partitions > 255) throw RogError.tooManyPartitions()
    return await this.exclusive(async () => await this.writeLog(name, partitions, replicationFactor, settings, minInsyncReplicas))
  }

  private async writeLog (name: string, partitions: number, replicationFactor: number, settings: Record<string, unknown>, minInsyncReplicas?: number): Promise<LogMeta> {
    const snapshot = await this.meta.snapshot()
    const states = assignReplicas(snapshot.nodes.keys(), partitions, replicationFactor)
    const log: LogMeta = { name, partitions, replicationFactor, settings }
    if (minInsyncReplicas !== undefined) log.minInsyncReplicas = Math.min(minInsyncReplicas, replicationFactor)
    if (!await this.meta.createLog(log, this.fence)) throw RogError.logExists(name)
    await this.meta.createPartitions(name, new Map(states.entries()), this.fence)
    return log
  }

  /** Deletes a log and its partitions; NO_LOG when there is none. */
  async deleteLog (name: string): Promise<void> {
    this.assertRunning()
    if (!await this.exclusive(async () => await this.meta.deleteLog(name, this.fence))) throw RogError.noLog(name)
  }

  /**
   * Starts moving a partition to `replicas` (startReassignment) and returns
   * the state written; the move finishes in a later pass, once the leader has
   * every target replica in the ISR.
   */
  async reassign (log: string, partition: number, replicas: number[]): Promise<PartitionState> {
    this.assertRunning()
    const state = await this.exclusive(async () => await this.startMove(log, partition, replicas))
    await this.schedule()
    return state
  }

  private async startMove (log: string, partition: number, replicas: number[]): Promise<PartitionState> {
    const snapshot = await this.meta.snapshot()
    const meta = snapshot.logs.get(log)
    if (meta === undefined) throw RogError.noLog(log)
    const record = snapshot.partitions.get(log)?.get(partition)
    if (record === undefined) throw RogError.badPartition(partition, log, meta.partitions)
    const live = new Set(snapshot.nodes.keys())
    return await this.converge(record, (state) => startReassignment(state, replicas, live))
  }

  /**
   * Runs `work` after every pass and operation queued before it: a pass never
   * sees a log half written by createLog, nor races its partition keys.
   */
  private async exclusive<T> (work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work)
    this.queue = run.catch(() => {})
    return await run
  }

  private assertRunning (): void {
    if (this.stopped) throw RogError.notController(this.epoch)
  }
}

/** Runs `work` on every item, at most `limit` at once; rejects with the first failure after all have settled. */
async function inParallel<T> (items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const errors: unknown[] = []
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]
      try {
        await work(item)
      } catch (err) {
        errors.push(err)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  if (errors.length > 0) throw errors[0]
}

import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { EtcdLeaseInvalidError, type Etcd3 } from 'etcd3'
import { RogError } from '../errors'
import { ClusterMeta } from './cluster-meta'
import { ClusterView } from './cluster-view'
import { Controller, type ControllerOptions } from './controller'
import { createEtcdClient, etcdReason } from './etcd-client'
import type { ControllerInfo, NodeInfo, PartitionRecord } from './metadata'
import { NodeSession } from './node-session'

export interface ClusterNodeOptions extends Omit<ControllerOptions, 'log'> {
  nodeId: number
  /** host:port this node serves on. */
  address: string
  /** etcd client URLs, e.g. http://127.0.0.1:2379. */
  endpoints: string[]
  clusterName: string
  /** The session TTL (default 2000); etcd rounds it up to whole seconds. */
  sessionTtlMs?: number
  log?: (line: string) => void
}

/** The longest wait between two attempts of a lost node to join again. */
const REJOIN_MAX_DELAY_MS = 1000
/** While a lost node cannot join again, it says so at most this often. */
const REJOIN_LOG_EVERY_MS = 30_000

/**
 * One node's membership in the cluster: its session (lease) and node key,
 * its copy of the metadata (view), and the controller election. The node
 * that holds the `controller` key runs the Controller; the others wait for
 * the key to go and campaign again.
 *
 * A lost session (etcd unreachable or the process paused past the TTL) emits
 * 'lost' at once, with the controller already stopped, and then the node
 * registers again on a new lease, trying for as long as it runs (etcd may be
 * down or restarting for any time), and emits 'rejoined' once its view holds
 * every change up to that registration. It gives up ('error') only when
 * another live node holds its id. Listeners to 'lost' run before the
 * rejoin starts: that is where a leader stops acknowledging writes.
 *
 * Events: 'lost' (reason), 'rejoined' (ms since the loss), 'controller' (Controller: this node
 * was elected), 'resigned' (this node's controller stopped), 'error' (Error);
 * metadata changes are the view's events.
 */
export class ClusterNode extends EventEmitter {
  readonly id: number
  readonly meta: ClusterMeta
  readonly view: ClusterView
  private readonly client: Etcd3
  private readonly info: NodeInfo
  private readonly ttlMs: number
  private readonly options: ClusterNodeOptions
  private sessionNow: NodeSession | null = null
  private controllerNow: Controller | null = null
  private campaigning: Promise<void> | null = null
  private stopped = false

  private constructor (options: ClusterNodeOptions, client: Etcd3, meta: ClusterMeta, view: ClusterView) {
    super()
    this.options = options
    this.id = options.nodeId
    this.client = client
    this.meta = meta
    this.view = view
    this.ttlMs = options.sessionTtlMs ?? 2000
    this.info = { id: options.nodeId, address: options.address, pid: process.pid, startedAt: Date.now() }
    view.on('controller', (controller: ControllerInfo | null) => this.onController(controller))
    view.on('error', (err: Error) => this.fail(err))
  }

  /** Registers the node (NODE_ID_TAKEN when a live node holds the id) and takes part in the election. */
  static async start (options: ClusterNodeOptions): Promise<ClusterNode> {
    const ttlMs = options.sessionTtlMs ?? 2000
    const client = createEtcdClient(options.endpoints, Math.max(1000, ttlMs))
    try {
      const meta = new ClusterMeta(client, options.clusterName)
      const view = await ClusterView.open(meta)
      const node = new ClusterNode(options, client, meta, view)
      try {
        await node.join()
      } catch (err) {
        await view.close()
        throw err
      }
      return node
    } catch (err) {
      client.close()
      throw err
    }
  }

  get isController (): boolean {
    return this.controllerNow !== null
  }

  /** The controller this node runs, or null. */
  get controller (): Controller | null {
    return this.controllerNow
  }

  get session (): NodeSession | null {
    return this.sessionNow
  }

  /** Live nodes, by id, as this node last saw them. */
  nodes (): NodeInfo[] {
    return this.view.nodes()
  }

  partition (log: string, partition: number): PartitionRecord | undefined {
    return this.view.partition(log, partition)
  }

  /** Leaves the cluster: the lease is revoked, so the others see the node leave at once. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.resign()
    await this.campaigning
    try {
      await this.sessionNow?.revoke()
    } finally {
      await this.view.close()
      this.client.close()
    }
  }

  /**
   * Stops without a word to etcd, as a killed process would: no revoke, no
   * more keep-alives. The node key and any controller key go when the lease
   * expires, one TTL later.
   */
  async abandon (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.resign()
    this.sessionNow?.release()
    await this.view.close()
    this.client.close()
  }

  /** Registers on a new session and campaigns; resolves to the revision of the registration. */
  private async join (): Promise<number> {
    const session = await NodeSession.open(this.client, this.ttlMs)
    let registered: number
    try {
      registered = await this.meta.registerNode(this.info, session.leaseId)
    } catch (err) {
      await session.revoke().catch(() => {})
      throw err
    }
    this.sessionNow = session
    session.once('lost', (reason: string) => { void this.onLost(session, reason) })
    await this.campaign()
    return registered
  }

  private async onLost (session: NodeSession, reason: string): Promise<void> {
    if (this.stopped || session !== this.sessionNow) return
    this.resign()
    this.sessionNow = null
    const lostAt = performance.now()
    this.emit('lost', reason)
    // The old lease may still be alive in etcd: lost by the local clock only, or kept by an etcd that restarted
    // (etcd renews every lease when it starts). Its node key would refuse this node its own id, so it is ended
    // first, for certain, before the node registers again.
    let stale: NodeSession | null = session
    /** When the first attempt failed (0: none has), and when the node last said it is still trying. */
    let failingSince = 0
    let loggedAt = 0
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        if (stale !== null) {
          await stale.revoke()
          stale = null
        }
        const registered = await this.join()
        const joined = this.sessionNow
        // The copy of the metadata fell behind while etcd was out of reach; 'rejoined' listeners act on it (a
        // node takes the lead its copy gives it), so it first holds every change up to this registration.
        await this.view.reached(registered)
        // Lost again meanwhile: that loss's own rejoin takes over.
        if (this.stopped || this.sessionNow !== joined) return
        this.emit('rejoined', performance.now() - lostAt)
        return
      } catch (err) {
        if ((err as RogError).code === 'NODE_ID_TAKEN') {
          this.fail(err as Error)
          return
        }
        const now = Date.now()
        if (failingSince === 0 || now - loggedAt >= REJOIN_LOG_EVERY_MS) {
          const what = failingSince === 0 ? 'cannot join again yet' : `still cannot join again after ${Math.round((now - failingSince) / 1000)} s`
          this.options.log?.(`cluster node ${this.id}: ${what} (${etcdReason(err)}); trying until it can`)
          if (failingSince === 0) failingSince = now
          loggedAt = now
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(REJOIN_MAX_DELAY_MS, this.ttlMs / 4, 50 * attempt)))
      }
    }
  }

  private onController (controller: ControllerInfo | null): void {
    const mine = this.controllerNow
    if (mine !== null && (controller === null || controller.epoch !== mine.epoch)) this.resign()
    if (controller === null) void this.campaign()
  }

  /** Claims the controller key if it is free; one attempt at a time, the later calls join it. */
  private async campaign (): Promise<void> {
    if (this.campaigning !== null) return await this.campaigning
    this.campaigning = this.campaignOnce().finally(() => { this.campaigning = null })
    return await this.campaigning
  }

  private async campaignOnce (): Promise<void> {
    const session = this.sessionNow
    if (this.stopped || session === null || this.controllerNow !== null) return
    let won: ControllerInfo | null
    try {
      won = await this.meta.campaign(this.id, session.leaseId)
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError) session.markLost('etcd says the lease has expired')
      else this.fail(err as Error)
      return
    }
    if (won === null) {
      // The holder went between our check and our read: its delete event is on its way, and campaigns again.
      return
    }
    if (won.id !== this.id || session !== this.sessionNow || this.stopped) return
    const { uncleanElection, casAttempts, concurrency, log } = this.options
    const controller = new Controller(this.meta, this.view, won.epoch, { uncleanElection, casAttempts, concurrency, log })
    this.controllerNow = controller
    this.emit('controller', controller)
    await controller.start()
  }

  /** 'error' when someone listens, else the log: an unheard 'error' would end the process. */
  private fail (err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else this.options.log?.(`cluster node ${this.id}: ${err.message}`)
  }

  private resign (): void {
    const controller = this.controllerNow
    if (controller === null) return
    this.controllerNow = null
    controller.stop()
    this.emit('resigned', controller)
  }
}

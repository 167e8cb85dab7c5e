import { RogError } from '../errors'
import type { ClusterInfo, Command, FetchBatchCommand, PartitionPlacement, Response } from '../protocol/commands'
import { formatAddress, parseAddressList, type Address } from './address'
import { RogClient, type ClientOptions, type FetchBatchOptions, type LogDescription, type MessageBatch } from './client'
import { Consumer, type ConsumerOptions, type ConsumerRoute } from './consumer'
import { IdempotentSender } from './idempotent-sender'
import { PartitionedProducer, type PartitionedProducerOptions } from './partitioned-producer'
import { Producer, type ProducerOptions } from './producer'
import { gaveUp, isNodeFailure, isRetriable } from './retry'

export interface ClusterClientOptions extends ClientOptions {
  /** How long a request that failed with a retriable error is retried, from its first failure (default 30 s). */
  retryMs?: number
}

export const DEFAULT_RETRY_MS = 30_000
/** Always on here: a paused leader accepts connections and never answers. */
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
const FIRST_BACKOFF_MS = 50
const MAX_BACKOFF_MS = 1000

export interface RoutedOptions {
  /** The caller has gone: stop retrying. */
  abandoned?: () => boolean
  /** Errors to retry besides the retriable ones. */
  alsoRetry?: (err: unknown) => boolean
}

/** Placements by partition, each the one with the highest leader epoch seen. */
type Placements = PartitionPlacement[]

/**
 * A client of a Rog cluster, or of a single server. It starts from a list of
 * addresses (any one live node is enough), asks the first that answers for
 * the cluster's nodes (command 17), and each log's placement when first used
 * (command 18: every partition's leader and leader epoch). Requests for a
 * partition go to its leader, on one pipelined connection per node.
 *
 * The cached placement of a log is dropped when a request fails with
 * NOT_LEADER, NO_LEADER or another retriable error (see `isRetriable`), and
 * asked again of a node that has not failed lately; an answer never replaces
 * a partition's placement with one of an older leader epoch (a node whose
 * view lags). Routed calls retry with backoff for up to `retryMs` from their
 * first failure.
 *
 * A single node (its cluster info says `cluster: null`), a Rog server older
 * than the cluster commands, and an original Rog server are used through the
 * one address that answered, as a RogClient is; `clustered` is then false.
 */
export class ClusterClient {
  readonly retryMs: number
  private readonly seeds: Address[]
  private readonly options: ClientOptions & { requestTimeoutMs: number }
  /** The address that answered the bootstrap: a single node's, or the node asked first for metadata. */
  private home = ''
  private info: ClusterInfo | null = null
  private readonly shared = new Map<string, RogClient>()
  private readonly connecting = new Map<string, Promise<RogClient>>()
  private readonly opened = new Set<RogClient>()
  private readonly placements = new Map<string, Placements>()
  private readonly asking = new Map<string, Promise<Placements>>()
  /** Logs whose cached placement is to be asked again (kept until then: an answer of an older epoch does not replace it). */
  private readonly stale = new Set<string>()
  private infoStale = false
  private refreshingInfo: Promise<void> | null = null
  /** When each address last failed (connection refused or lost, no answer), to ask the others first. */
  private readonly failedAt = new Map<string, number>()
  private readonly senders = new Map<string, IdempotentSender>()
  private closed = false

  private constructor (seeds: Address[], options: ClusterClientOptions) {
    this.seeds = seeds
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS
    this.options = { ...options, requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS }
  }

  /** Connects to the first of `addresses` ("host:port,host:port,..." or a list) that answers, and learns the cluster from it. */
  static async connect (addresses: string | ReadonlyArray<string | Address>, options: ClusterClientOptions = {}): Promise<ClusterClient> {
    const client = new ClusterClient(parseAddressList(addresses), options)
    await client.bootstrap()
    return client
  }

  /** Part of a cluster: requests are routed to each partition's leader. */
  get clustered (): boolean {
    return this.info !== null
  }

  /** The address that answered first (a single node's: the one every request goes to). */
  get address (): string {
    return this.home
  }

  /** The server is an original Rog server (commands 0-3 only). */
  get original (): boolean {
    return RogClient.isOriginal(this.home)
  }

  /** The cluster's nodes as last learnt (null: not a cluster). */
  get cluster (): ClusterInfo | null {
    return this.info
  }

  /** A connection to a node that answers (the one that answered last, first): for requests any node serves. */
  async any (): Promise<RogClient> {
    return await this.onAnyNode(async (c) => c)
  }

  /** Asks a node that answers, trying the others while nodes fail (connection lost or refused, no answer, starting or stopping). */
  async onAnyNode<T> (ask: (client: RogClient) => Promise<T>): Promise<T> {
    let last: unknown = null
    for (const address of this.candidates()) {
      try {
        const result = await ask(await this.connection(address))
        this.home = address
        return result
      } catch (err) {
        if (!isNodeFailure(err)) throw err
        this.noteFailure(address)
        last = err
      }
    }
    throw last ?? new RogError('CONNECTION', 'No node of the cluster is known')
  }

  /** The placement of `log` (each partition's leader, epoch, replicas, ISR), from the cache unless `refresh`; null from a single node. */
  async placement (log: string, refresh = false): Promise<PartitionPlacement[] | null> {
    if (this.info === null) return null
    const cached = this.placements.get(log)
    if (cached !== undefined && !refresh && !this.stale.has(log)) return cached
    let asking = this.asking.get(log)
    if (asking === undefined) {
      asking = this.askPlacement(log).finally(() => this.asking.delete(log))
      this.asking.set(log, asking)
    }
    return await asking
  }

  /** The address of the partition's leader (a single node's own). */
  async leaderAddress (log: string, partition: number): Promise<string> {
    this.checkOpen()
    if (this.info === null) return this.home
    if (this.infoStale) await this.refreshInfo()
    const placements = await this.placement(log) as Placements
    const p = placements.find((x) => x.partition === partition)
    if (p === undefined) throw RogError.badPartition(partition, log, placements.length)
    if (p.leader < 0) {
      this.stale.add(log)
      throw RogError.noLeader(partition, log)
    }
    let address = this.nodeAddress(p.leader)
    if (address === null) {
      await this.refreshInfo()
      address = this.nodeAddress(p.leader)
    }
    if (address === null) {
      this.stale.add(log)
      throw new RogError('NO_LEADER', `Partition ${partition} of log ${log} is led by node ${p.leader}, whose address the cluster does not give`)
    }
    return address
  }

  /** The shared connection to the partition's leader. */
  async leader (log: string, partition: number): Promise<RogClient> {
    return await this.connection(await this.leaderAddress(log, partition))
  }

  /** A new connection to `address`, for one caller alone (a consumer's long polls); closed by `destroy()` at the latest. */
  async open (address: string): Promise<RogClient> {
    this.checkOpen()
    try {
      const client = await RogClient.connect(address, this.options)
      for (const c of this.opened) if (c.closed) this.opened.delete(c)
      this.opened.add(client)
      if (this.closed) client.destroy()
      return client
    } catch (err) {
      this.noteFailure(address)
      throw err
    }
  }

  /**
   * Takes note that a request for a partition failed with `err` at
   * `address`: a NOT_LEADER that names the leader sends the next request
   * there; otherwise the log's placement is asked again first. A node that
   * failed is asked for metadata after the others.
   */
  failed (log: string, partition: number, err: unknown, address: string | null): void {
    if (address !== null && isNodeFailure(err)) {
      this.noteFailure(address)
      this.infoStale = this.info !== null
    }
    if (err instanceof RogError && err.code === 'NOT_LEADER' && this.redirect(log, partition, err.message)) return
    this.stale.add(log)
  }

  /**
   * How long to wait before retrying after `err`, the `attempt`-th failure
   * in a row, the first at `since` (performance.now()); null: give up.
   */
  retryDelay (err: unknown, since: number, attempt: number, retriable = isRetriable(err)): number | null {
    if (this.closed || !retriable || performance.now() - since >= this.retryMs) return null
    return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt)
  }

  /** Runs `work` against the partition's leader, again (after a refresh and a backoff) while it fails with a retriable error, for up to `retryMs`. */
  async routed<T> (log: string, partition: number, work: (address: string) => Promise<T>, options: RoutedOptions = {}): Promise<T> {
    let since: number | null = null
    for (let attempt = 0; ; attempt++) {
      let address: string | null = null
      try {
        address = await this.leaderAddress(log, partition)
        return await work(address)
      } catch (err) {
        if (options.abandoned?.() === true) throw err
        since ??= performance.now()
        const wait = this.retryDelay(err, since, attempt, isRetriable(err) || options.alsoRetry?.(err) === true)
        if (wait === null) throw attempt === 0 ? err : gaveUp(err, since)
        this.failed(log, partition, err, address)
        await new Promise((resolve) => setTimeout(resolve, wait))
      }
    }
  }

  /** A request for one partition, to its leader, retried as `routed` says. */
  async request (log: string, partition: number, command: Command): Promise<Response> {
    return await this.routed(log, partition, async (address) => await (await this.connection(address)).request(command))
  }

  /** A new producer id (command 22), or null when the server has no idempotent publishing (an older server). */
  async producerId (): Promise<number | null> {
    let since: number | null = null
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.onAnyNode(async (c) => await c.initProducer())
      } catch (err) {
        if (!isRetriable(err)) {
          if (err instanceof RogError && err.code !== 'PROTOCOL') return null
          throw err
        }
        since ??= performance.now()
        const wait = this.retryDelay(err, since, attempt)
        if (wait === null) throw gaveUp(err, since)
        await new Promise((resolve) => setTimeout(resolve, wait))
      }
    }
  }

  /** Publishes one message (idempotently where the server can); resolves with its offset. */
  async publish (log: string, partition: number, data: Buffer | string): Promise<number> {
    return (await this.publishBatch(log, partition, [data])).firstOffset
  }

  /**
   * Publishes messages in one batch, to the partition's leader, numbered by
   * this client's producer for the partition so that a retried batch is
   * stored once; calls for one partition are stored in the order made.
   */
  publishBatch (log: string, partition: number, messages: Array<Buffer | string>): Promise<{ firstOffset: number, count: number }> {
    const key = `${partition}/${log}`
    let sender = this.senders.get(key)
    if (sender === undefined) {
      sender = this.sender(log, partition)
      this.senders.set(key, sender)
    }
    const batch = messages.map((m) => typeof m === 'string' ? Buffer.from(m) : m)
    return new Promise((resolve, reject) => {
      (sender as IdempotentSender).send(batch, (err, published) => {
        if (err !== null) reject(err)
        else resolve(published as { firstOffset: number, count: number })
      })
    })
  }

  /** Sets the group's committed offset, at the partition's leader. */
  async commit (log: string, partition: number, group: string, offset: number): Promise<void> {
    await this.request(log, partition, { command: 'commit', log, partition, group, offset })
  }

  /** Reads messages without moving the group, from the partition's leader. */
  async fetchBatch (options: FetchBatchOptions): Promise<MessageBatch> {
    const partition = options.partition ?? 0
    return await this.routed(options.log, partition, async (address) => await (await this.connection(address)).fetchBatch(options))
  }

  /** The first offset of a partition stamped at or after `timestamp`, asked of its leader. */
  async offsetForTime (log: string, partition: number, timestamp: number): Promise<number> {
    return await this.routed(log, partition, async (address) => await (await this.connection(address)).offsetForTime(log, partition, timestamp))
  }

  /** Each partition's offsets and groups (command 9), from any node that answers. */
  async describe (log: string): Promise<LogDescription> {
    return await this.onAnyNode(async (c) => await c.describe(log))
  }

  /** The sender of one partition's batches for a new producer (its own producer id). */
  sender (log: string, partition: number): IdempotentSender {
    return new IdempotentSender(this, log, partition)
  }

  /** A Writable publishing to one partition through its leader; batches are retried across a failover and stored once. */
  producer (options: ProducerOptions): Producer {
    return new Producer(this, options)
  }

  /** A Writable spreading messages over partitions, each as `producer()` does. */
  partitionedProducer (options: PartitionedProducerOptions): PartitionedProducer {
    return new PartitionedProducer(this, options)
  }

  /** A consumer of one partition that fetches from its leader on a connection of its own, and moves to the new leader after a failover, from its position. */
  consumer (options: ConsumerOptions): Consumer {
    return new Consumer(new LeaderRoute(this, options.log, options.partition ?? 0), options)
  }

  /** Closes every connection at once; requests in flight and retries fail. */
  destroy (): void {
    this.closed = true
    for (const c of this.opened) c.destroy()
    this.opened.clear()
    this.shared.clear()
  }

  /** The shared connection to `address`, made again when the last one has failed or closed. */
  async connection (address: string): Promise<RogClient> {
    this.checkOpen()
    const open = this.shared.get(address)
    if (open !== undefined && !open.closed) return open
    let connecting = this.connecting.get(address)
    if (connecting === undefined) {
      connecting = this.open(address).then((client) => {
        this.shared.set(address, client)
        return client
      }).finally(() => this.connecting.delete(address))
      this.connecting.set(address, connecting)
    }
    return await connecting
  }

  private async bootstrap (): Promise<void> {
    const errors: RogError[] = []
    for (const seed of this.seeds) {
      const address = formatAddress(seed)
      try {
        const client = await this.connection(address)
        this.home = address
        try {
          const info = await client.clusterInfo()
          this.info = info.cluster === null ? null : info
        } catch (err) {
          // An original Rog server, or one older than the cluster commands: a single node.
          if (!(err instanceof RogError) || (err.code !== 'UNSUPPORTED' && err.code !== 'UNKNOWN_COMMAND')) throw err
        }
        return
      } catch (err) {
        if (!isNodeFailure(err)) {
          this.destroy()
          throw err
        }
        this.noteFailure(address)
        errors.push(err)
      }
    }
    this.destroy()
    if (errors.length === 1) throw errors[0]
    throw new RogError(errors[0].code, `No server of ${this.seeds.map(formatAddress).join(', ')} answered:\n  ${errors.map((e) => e.message).join('\n  ')}`)
  }

  /** Addresses to ask, those that have not failed first (the last that answered first of all), then the least recently failed. */
  private candidates (): string[] {
    // A single node is used through the one address that answered.
    if (this.info === null) return [this.home]
    const known = new Set<string>([this.home])
    for (const n of this.info?.nodes ?? []) if (n.address !== null && n.alive) known.add(n.address)
    for (const n of this.info?.nodes ?? []) if (n.address !== null) known.add(n.address)
    for (const s of this.seeds) known.add(formatAddress(s))
    return [...known].filter((a) => a !== '').sort((a, b) => (this.failedAt.get(a) ?? 0) - (this.failedAt.get(b) ?? 0))
  }

  private noteFailure (address: string): void {
    this.failedAt.set(address, performance.now())
  }

  private nodeAddress (id: number): string | null {
    return this.info?.nodes.find((n) => n.id === id)?.address ?? null
  }

  private async refreshInfo (): Promise<void> {
    this.refreshingInfo ??= this.onAnyNode(async (c) => await c.clusterInfo()).then((info) => {
      if (info.cluster !== null) this.info = info
      this.infoStale = false
    }).finally(() => { this.refreshingInfo = null })
    await this.refreshingInfo
  }

  private async askPlacement (log: string): Promise<Placements> {
    const fresh = await this.onAnyNode(async (c) => await c.logPlacement(log))
    const known = this.placements.get(log) ?? []
    // A node whose view lags may answer an older epoch: keep the newer.
    const merged = fresh.map((p) => {
      const old = known.find((k) => k.partition === p.partition)
      return old !== undefined && old.epoch > p.epoch ? old : p
    })
    this.placements.set(log, merged)
    this.stale.delete(log)
    return merged
  }

  /** Follows a NOT_LEADER that names the partition's leader; false when it names none (or the one already known). */
  private redirect (log: string, partition: number, message: string): boolean {
    const named = /its leader is node (\d+)/.exec(message)
    const p = this.placements.get(log)?.find((x) => x.partition === partition)
    if (named === null || p === undefined || p.leader === Number(named[1])) return false
    p.leader = Number(named[1])
    return true
  }

  private checkOpen (): void {
    if (this.closed) throw new RogError('CONNECTION', 'The cluster client is closed')
  }
}

/**
 * A consumer's way to its partition: long polls on a connection of its own
 * to the leader (they hold up nothing else), made again when the leader moves
 * or the connection fails; fetches that do not wait and commits on the shared
 * connections.
 */
class LeaderRoute implements ConsumerRoute {
  private own: RogClient | null = null
  private opening: Promise<RogClient> | null = null
  private releases = 0

  constructor (private readonly cluster: ClusterClient, private readonly log: string, private readonly partition: number) {}

  async fetch (command: FetchBatchCommand, reached: boolean, abandoned: () => boolean): Promise<Response> {
    const connection = async (address: string): Promise<RogClient> => command.waitMs > 0 ? await this.connection(address) : await this.cluster.connection(address)
    return await this.cluster.routed(this.log, this.partition, async (address) => await (await connection(address)).request(command), {
      abandoned,
      // A new leader's high watermark can trail the old one's for a moment: an offset this consumer read up to is not past the end.
      alsoRetry: (err) => reached && this.cluster.clustered && err instanceof RogError && err.code === 'BAD_OFFSET'
    })
  }

  async commit (offset: number, group: string): Promise<void> {
    await this.cluster.commit(this.log, this.partition, group, offset)
  }

  release (): void {
    this.releases++
    this.own?.destroy()
    this.own = null
  }

  private async connection (address: string): Promise<RogClient> {
    if (this.own !== null && !this.own.closed && this.own.address === address) return this.own
    if (this.opening === null) {
      this.own?.destroy()
      this.own = null
      const releases = this.releases
      this.opening = this.cluster.open(address).then((client) => {
        // Released while it was being made: not kept (the request on it fails).
        if (releases !== this.releases) client.destroy()
        else this.own = client
        return client
      }).finally(() => { this.opening = null })
    }
    return await this.opening
  }
}

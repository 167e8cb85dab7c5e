import { RogError } from '../errors'
import { RogClient } from '../client/client'
import { ClusterClient } from '../client/cluster-client'
import { parseAddress } from '../client/address'

export interface SessionOptions {
  /** Servers to try, in order, until one answers. */
  addresses: string[]
  /** Connect timeout, and how long a request may wait for its answer (long polls get their wait on top). */
  timeoutMs: number
  /** How long the cluster client retries a request that failed with a retriable error. */
  retryMs: number
}

/**
 * The connections one CLI command makes: a shared one for requests that may
 * be pipelined, and connections of their own for what the original server
 * needs (it answers one request per connection) or for long polls that must
 * not hold up other requests. All are destroyed by `close()`.
 *
 * `cluster()` is the client for requests that go to a partition's leader
 * (publishing, batch fetches, commits): it learns the cluster from the
 * first of the list that answers, and rides through a failover. Every other
 * request goes to a node that answers (`anyNode()`): a paused node accepts
 * connections and never answers, so the first address that accepts one is
 * not enough. Only `client()` (what `rog ping` times) takes that one.
 */
export class Session {
  private readonly options: SessionOptions
  private addresses: string[]
  private shared: RogClient | null = null
  private readonly opened = new Set<RogClient>()
  private clusterClient: Promise<ClusterClient> | null = null

  constructor (options: SessionOptions) {
    if (options.addresses.length === 0) throw new RogError('BAD_ADDRESS', 'No server address given')
    for (const a of options.addresses) parseAddress(a)
    this.options = options
    this.addresses = options.addresses
  }

  /** The server in use: the first of the list that accepted a connection (so far). */
  get address (): string {
    return this.addresses[0]
  }

  /** The server (the first of the list that accepted a connection) is known to be an original Rog server. */
  get original (): boolean {
    return RogClient.isOriginal(this.addresses[0])
  }

  /** The shared connection to the first address that accepts one, made again when the last one has failed or closed (as the original server closes each). */
  async client (): Promise<RogClient> {
    if (this.shared === null || this.shared.closed) this.shared = await this.connect()
    return this.shared
  }

  /**
   * The cluster client (made once): a single node or an original server is
   * used through the one address that answered, as `client()` is.
   */
  async cluster (): Promise<ClusterClient> {
    this.clusterClient ??= ClusterClient.connect(this.addresses, { connectTimeoutMs: this.options.timeoutMs, requestTimeoutMs: this.options.timeoutMs, retryMs: this.options.retryMs })
    const cluster = await this.clusterClient
    // Later plain connections go where the cluster client went first.
    this.addresses = [cluster.address, ...this.addresses.filter((a) => a !== cluster.address)]
    return cluster
  }

  /**
   * A connection to a node that answers, found through the cluster client:
   * for requests any node serves (a follower forwards those of a partition's
   * leader, and of the controller). A request sent on it is not retried
   * elsewhere, so an ack or a log made is never done twice.
   */
  async anyNode (): Promise<RogClient> {
    const cluster = await this.cluster()
    // The original server hangs up after each answer (the cluster client's first question too).
    if (cluster.original) return await this.client()
    return await cluster.any()
  }

  /** A new connection, for this session's caller alone. */
  async connect (): Promise<RogClient> {
    const errors: RogError[] = []
    for (const address of this.addresses) {
      try {
        const client = await RogClient.connect(address, { connectTimeoutMs: this.options.timeoutMs, requestTimeoutMs: this.options.timeoutMs })
        this.addresses = [address, ...this.addresses.filter((a) => a !== address)]
        this.opened.add(client)
        return client
      } catch (err) {
        if (!(err instanceof RogError) || err.code !== 'CONNECTION') throw err
        errors.push(err)
      }
    }
    if (errors.length === 1) throw errors[0]
    throw new RogError('CONNECTION', `Cannot connect to any of ${this.addresses.join(', ')}:\n  ${errors.map((e) => e.message).join('\n  ')}`)
  }

  /** Runs `work` on a connection of its own, closed afterwards. */
  async alone<T> (work: (client: RogClient) => Promise<T>): Promise<T> {
    const client = await this.connect()
    try {
      return await work(client)
    } finally {
      this.opened.delete(client)
      client.destroy()
    }
  }

  /** Closes every connection at once (requests in flight are dropped). */
  close (): void {
    for (const c of this.opened) c.destroy()
    this.opened.clear()
    this.shared = null
    this.clusterClient?.then((c) => c.destroy(), () => {})
    this.clusterClient = null
  }
}

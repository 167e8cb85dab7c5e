import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { EtcdLeaseInvalidError, type Etcd3, type Lease } from 'etcd3'

/** etcd TTLs are whole seconds: a TTL in ms rounds up, and is at least 1 s. */
export function ttlSeconds (ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000))
}

/**
 * A node's etcd lease and its keep-alives. The session keeps, on the local
 * monotonic clock, the time until which etcd surely still holds the lease:
 * the send time of the latest answered keep-alive plus the TTL. Past that
 * time (keep-alives unanswered, or the process paused) the session is lost,
 * even before etcd says so, and emits 'lost' once; keys attached to the lease
 * are gone or about to be. A lost session stays lost: open a new one.
 *
 * Events: 'lost' (reason: string).
 */
export class NodeSession extends EventEmitter {
  readonly leaseId: string
  readonly ttlMs: number
  private validUntil: number
  private lost = false
  private readonly timer: NodeJS.Timeout

  private constructor (private readonly lease: Lease, leaseId: string, ttlMs: number, grantedAt: number) {
    super()
    this.leaseId = leaseId
    this.ttlMs = ttlMs
    this.validUntil = grantedAt + ttlMs
    // Eight keep-alives per TTL, each to a member chosen at random: a node survives seven lost or late answers
    // in a row. A paused member of three answers none sent to it; with four a TTL, 1 window in 81 lost the session.
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.floor(ttlMs / 8)))
  }

  static async open (client: Etcd3, ttlMs: number): Promise<NodeSession> {
    const seconds = ttlSeconds(ttlMs)
    const sentAt = performance.now()
    const lease = client.lease(seconds, { autoKeepAlive: false })
    lease.on('lost', () => {})
    const id = await lease.grant()
    return new NodeSession(lease, id, seconds * 1000, sentAt)
  }

  /** True while etcd surely holds the lease (by the local clock; no call to etcd). */
  get alive (): boolean {
    return !this.lost && performance.now() < this.validUntil
  }

  /** How long etcd surely holds the lease from now, in ms (0 when lost). */
  remainingMs (): number {
    return this.alive ? this.validUntil - performance.now() : 0
  }

  /** Revokes the lease, so that its keys go at once (a clean stop). */
  async revoke (): Promise<void> {
    this.close()
    await this.lease.revoke()
  }

  /**
   * Stops the keep-alives without revoking: etcd drops the lease after its
   * TTL, as for a process that died. Emits nothing.
   */
  release (): void {
    this.close()
    this.lease.release()
  }

  private close (): void {
    this.lost = true
    clearInterval(this.timer)
  }

  private tick (): void {
    if (this.lost) return
    if (!this.alive) {
      this.lose('no keep-alive was answered within the session TTL')
      return
    }
    const sentAt = performance.now()
    this.lease.keepaliveOnce({ deadline: Date.now() + this.ttlMs }).then(() => {
      this.validUntil = Math.max(this.validUntil, sentAt + this.ttlMs)
    }, (err: unknown) => {
      if (err instanceof EtcdLeaseInvalidError) this.lose('etcd says the lease has expired')
      // Other failures: the next tick tries again, until the TTL runs out.
    })
  }

  /** For a caller whose etcd call named the lease and was refused as expired: lost now, not at the next keep-alive. */
  markLost (reason: string): void {
    this.lose(reason)
  }

  private lose (reason: string): void {
    if (this.lost) return
    this.close()
    this.lease.release()
    this.emit('lost', reason)
  }
}

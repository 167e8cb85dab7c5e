import { RogClient } from '../client/client'
import { RogError } from '../errors'
import type { Command, Response } from '../protocol/commands'

/** A forwarded request unanswered this long (a long poll: its wait on top) fails, and so does its connection. */
const FORWARD_TIMEOUT_MS = 5000

/**
 * Relays requests to the node that leads their partition, one pipelined
 * connection per node, so the original clients (which know one address)
 * work against any node. A server error comes back as that error's answer;
 * a failed connection as an error naming the leader, and the next request
 * connects again.
 */
export class Forwarder {
  private readonly clients = new Map<string, Promise<RogClient>>()

  async forward (address: string, c: Command): Promise<Response> {
    let client: RogClient
    try {
      client = await this.client(address)
    } catch (err) {
      throw new RogError('CONNECTION', `The partition's leader at ${address} cannot be reached: ${(err as Error).message}`)
    }
    try {
      return await client.request(c)
    } catch (err) {
      if (!(err instanceof RogError) || err.code === 'CONNECTION' || err.code === 'TIMEOUT') {
        this.clients.delete(address)
        throw new RogError('CONNECTION', `The partition's leader at ${address} did not answer: ${(err as Error).message}; the request may or may not have been applied`)
      }
      return { response: 'error', message: err.message }
    }
  }

  /** Fails every request in flight to `address` now (its node left the cluster: it will not answer them). */
  drop (address: string): void {
    const pending = this.clients.get(address)
    this.clients.delete(address)
    pending?.then((c) => c.destroy(), () => {})
  }

  close (): void {
    for (const pending of this.clients.values()) pending.then((c) => c.destroy(), () => {})
    this.clients.clear()
  }

  private async client (address: string): Promise<RogClient> {
    const existing = this.clients.get(address)
    if (existing !== undefined) {
      const client = await existing.catch(() => null)
      if (client !== null && !client.closed) return client
      this.clients.delete(address)
    }
    const connecting = RogClient.connect(address, { connectTimeoutMs: 2000, requestTimeoutMs: FORWARD_TIMEOUT_MS })
    this.clients.set(address, connecting)
    connecting.catch(() => this.clients.delete(address))
    return await connecting
  }
}

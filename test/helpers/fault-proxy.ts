import * as net from 'node:net'
import { EventEmitter, once } from 'node:events'

/** `up` carries the client's bytes to the target, `down` the target's bytes back. */
export type Direction = 'up' | 'down'

interface Rule { drop: boolean, delayMs: number }

/**
 * A TCP proxy on 127.0.0.1 in front of one target port, for network faults
 * without root: bytes in either direction pass, are dropped (connections stay
 * open, nothing arrives: a one-way partition when only one direction drops),
 * or are held `ms` per chunk; `cut()` resets every open connection. A rule
 * applies to bytes as they arrive at the proxy, on every connection, open or
 * new. Order within a direction is kept whatever the delay changes to.
 */
export class FaultProxy {
  readonly port: number
  private readonly server: net.Server
  private readonly rules: Record<Direction, Rule> = { up: { drop: false, delayMs: 0 }, down: { drop: false, delayMs: 0 } }
  private readonly links = new Set<Link>()
  /** Bytes each direction discarded, for tests that assert a drop happened. */
  readonly dropped: Record<Direction, number> = { up: 0, down: 0 }

  private constructor (server: net.Server) {
    this.server = server
    this.port = (server.address() as net.AddressInfo).port
  }

  static async start (targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
    const server = net.createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const proxy = new FaultProxy(server)
    server.on('connection', (client) => proxy.link(client, net.connect(targetPort, targetHost)))
    return proxy
  }

  /** Every byte passes, at once, both ways. */
  pass (): void {
    for (const d of ['up', 'down'] as const) this.rules[d] = { drop: false, delayMs: 0 }
  }

  /** Discards the bytes of one direction, or of both (the default); connections stay open. */
  drop (direction: Direction | 'both' = 'both'): void {
    for (const d of directions(direction)) this.rules[d].drop = true
  }

  /** Holds every chunk `ms` before passing it on. */
  delay (ms: number, direction: Direction | 'both' = 'both'): void {
    for (const d of directions(direction)) this.rules[d].delayMs = ms
  }

  /** Resets every connection open now; later connections are proxied as before. */
  cut (): void {
    for (const link of this.links) link.destroy()
  }

  /** Bytes of a direction held back by a delay right now, over all connections. */
  held (direction: Direction): number {
    let bytes = 0
    for (const link of this.links) bytes += link.held[direction]()
    return bytes
  }

  get connections (): number {
    return this.links.size
  }

  async close (): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private link (client: net.Socket, target: net.Socket): void {
    const link = new Link(client, target, this.rules, this.dropped)
    this.links.add(link)
    link.once('closed', () => this.links.delete(link))
  }
}

function directions (d: Direction | 'both'): Direction[] {
  return d === 'both' ? ['up', 'down'] : [d]
}

/** One proxied connection: two sockets and a queue per direction. */
class Link extends EventEmitter {
  private closed = false
  readonly held: Record<Direction, () => number>

  constructor (private readonly client: net.Socket, private readonly target: net.Socket, rules: Record<Direction, Rule>, dropped: Record<Direction, number>) {
    super()
    for (const s of [client, target]) {
      s.on('error', () => this.destroy())
      s.on('close', () => this.destroy())
    }
    const up = new Pump(client, target, () => rules.up, (n) => { dropped.up += n })
    const down = new Pump(target, client, () => rules.down, (n) => { dropped.down += n })
    this.held = { up: () => up.held(), down: () => down.held() }
  }

  destroy (): void {
    if (this.closed) return
    this.closed = true
    reset(this.client)
    reset(this.target)
    this.emit('closed')
  }
}

/**
 * Resets a socket (RST), or destroys it when a reset is not possible: before
 * it connects, or once its end was sent (libuv refuses to reset a socket
 * while it shuts down, and the handle it leaves open then spins the process
 * at exit).
 */
export function reset (socket: net.Socket): void {
  if (socket.connecting || socket.writableEnded) socket.destroy()
  else socket.resetAndDestroy()
}

/** Moves one direction's bytes under the rule in force when each chunk arrives. */
class Pump {
  private readonly queue: Array<{ at: number, chunk: Buffer | null }> = []
  private timer: NodeJS.Timeout | null = null

  constructor (private readonly from: net.Socket, private readonly to: net.Socket, rule: () => Rule, onDrop: (bytes: number) => void) {
    from.on('data', (chunk: Buffer) => {
      const { drop, delayMs } = rule()
      if (drop) onDrop(chunk.length)
      else this.enqueue(chunk, delayMs)
    })
    from.on('end', () => this.enqueue(null, rule().delayMs))
  }

  held (): number {
    return this.queue.reduce((sum, { chunk }) => sum + (chunk?.length ?? 0), 0)
  }

  private enqueue (chunk: Buffer | null, delayMs: number): void {
    const last = this.queue.at(-1)?.at ?? 0
    this.queue.push({ at: Math.max(Date.now() + delayMs, last), chunk })
    this.pump()
  }

  private pump (): void {
    if (this.timer !== null) return
    while (this.queue.length > 0) {
      const head = this.queue[0]
      const wait = head.at - Date.now()
      if (wait > 0) {
        this.timer = setTimeout(() => { this.timer = null; this.pump() }, wait)
        return
      }
      this.queue.shift()
      if (this.to.destroyed) { this.queue.length = 0; return }
      if (head.chunk === null) this.to.end()
      else if (!this.to.write(head.chunk)) {
        this.from.pause()
        this.to.once('drain', () => this.from.resume())
      }
    }
  }
}

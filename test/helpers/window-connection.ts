import * as net from 'node:net'
import { once } from 'node:events'
import type { Command, Response } from '../../lib/protocol/commands'
import { encodeCommand } from '../../lib/protocol/request-writer'
import { ResponseReader, expectFor } from '../../lib/protocol/response-reader'

/** What became of a request: its answer, or null when the connection closed first (`sent`: whether it had left). */
export type Outcome = { answer: Response } | { answer: null, sent: boolean }

export interface Request {
  /** Called when the request is sent, so it can be built from what is known then. */
  build: () => Command
  done: (outcome: Outcome, command: Command | null) => void
}

interface InFlight { request: Request, command: Command }

/**
 * One client connection keeping up to `window` requests in flight: requests
 * queue here and the next leaves as each answer arrives (a sliding window,
 * not bursts). Answers are matched to requests by order. When the
 * connection closes, what is in flight and what is queued is reported as
 * unanswered.
 */
export class WindowConnection {
  readonly window: number
  private readonly socket: net.Socket
  private readonly reader = new ResponseReader()
  private queue: Request[] = []
  private queueHead = 0
  private inflight: InFlight[] = []
  private inflightHead = 0
  private open = true
  private idleWaiters: Array<() => void> = []
  sent = 0
  answered = 0
  /** Called after each chunk of answers (stall detection). */
  onProgress: () => void = () => {}

  private constructor (socket: net.Socket, window: number) {
    this.socket = socket
    this.window = Math.max(1, window)
    socket.on('data', (chunk: Buffer) => this.received(chunk))
    socket.on('error', () => {})
    socket.on('close', () => this.closed())
  }

  static async open (port: number, window: number): Promise<WindowConnection> {
    const socket = net.connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    await once(socket, 'connect')
    return new WindowConnection(socket, window)
  }

  get isOpen (): boolean {
    return this.open
  }

  /** Requests queued or in flight. */
  get outstanding (): number {
    return (this.queue.length - this.queueHead) + (this.inflight.length - this.inflightHead)
  }

  send (request: Request): void {
    if (!this.open) return request.done({ answer: null, sent: false }, null)
    this.queue.push(request)
    this.pump()
  }

  /** Resolves once nothing is queued or in flight, or the connection closed. */
  idle (): Promise<void> {
    if (this.outstanding === 0 || !this.open) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  destroy (): void {
    this.socket.destroy()
  }

  private pump (): void {
    const out: Buffer[] = []
    while (this.open && this.queueHead < this.queue.length && this.inflight.length - this.inflightHead < this.window) {
      const request = this.queue[this.queueHead++]
      const command = request.build()
      this.reader.expect(expectFor(command))
      this.inflight.push({ request, command })
      out.push(encodeCommand(command))
      this.sent++
    }
    if (this.queueHead === this.queue.length) {
      this.queue = []
      this.queueHead = 0
    }
    if (out.length > 0) this.socket.write(out.length === 1 ? out[0] : Buffer.concat(out))
  }

  private received (chunk: Buffer): void {
    let answers: Response[]
    try {
      answers = this.reader.feed(chunk)
    } catch (err) {
      this.socket.destroy(err as Error)
      return
    }
    for (const answer of answers) {
      const { request, command } = this.inflight[this.inflightHead++]
      this.answered++
      request.done({ answer }, command)
    }
    if (this.inflightHead === this.inflight.length) {
      this.inflight = []
      this.inflightHead = 0
    }
    this.pump()
    this.onProgress()
    this.wakeIfIdle()
  }

  private closed (): void {
    if (!this.open) return
    this.open = false
    const inflight = this.inflight.slice(this.inflightHead)
    const queued = this.queue.slice(this.queueHead)
    this.inflight = []
    this.inflightHead = 0
    this.queue = []
    this.queueHead = 0
    for (const { request, command } of inflight) request.done({ answer: null, sent: true }, command)
    for (const request of queued) request.done({ answer: null, sent: false }, null)
    this.onProgress()
    this.wakeIfIdle()
  }

  private wakeIfIdle (): void {
    if (this.outstanding > 0 && this.open) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }
}

import * as net from 'node:net'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { Command } from '../lib/protocol/commands'
import { encodeCommand } from '../lib/protocol/request-writer'
import { AnswerCounter } from './answer-counter'
import type { LoadResult, PublishJob } from './jobs'
import { LatencySampler, mergeSummaries } from './latency'
import { payload } from './payload'

/** About this many latency samples per run, spread evenly over its requests. */
const LATENCY_SAMPLES = 20_000

/**
 * Publishes `job.messages` messages of `job.payloadBytes` bytes to partition
 * 0 of `job.log` (created if missing). Every request is the same pre-encoded
 * frame, so a refill is a subarray of one block of `window` frames: one write
 * per refill, no encoding and no allocation per message.
 */
export async function publishLoad (job: PublishJob): Promise<LoadResult> {
  await ensureLog(job.port, job.log)
  const data = payload(job.payloadBytes)
  const command: Command = job.batch === 1
    ? { command: 'publish', log: job.log, partition: 0, data, reply: 'ok' }
    : { command: 'publish-batch', log: job.log, partition: 0, messages: new Array<Buffer>(job.batch).fill(data) }
  const frame = encodeCommand(command)
  const block = Buffer.concat(new Array<Buffer>(job.window).fill(frame))
  const requests = Math.ceil(job.messages / job.batch)
  const every = Math.max(1, Math.floor(requests / LATENCY_SAMPLES))

  const connections: PublishConnection[] = []
  for (let c = 0; c < job.connections; c++) {
    const quota = Math.floor(requests / job.connections) + (c < requests % job.connections ? 1 : 0)
    const socket = net.connect({ port: job.port, host: '127.0.0.1', noDelay: true })
    connections.push(new PublishConnection(socket, job, block, frame.length, quota, new LatencySampler(every, quota)))
  }
  await Promise.all(connections.map(async (c) => await once(c.socket, 'connect')))

  const start = performance.now()
  const deadline = start + job.timeLimitMs
  await Promise.all(connections.map(async (c) => await c.run(deadline)))
  const seconds = (performance.now() - start) / 1000

  let answered = 0
  let errors = 0
  let firstError: string | null = null
  let capped = false
  for (const c of connections) {
    answered += c.answered
    errors += c.counter.errors
    firstError ??= c.counter.firstError
    capped ||= c.capped
    c.socket.destroy()
  }
  const messages = (answered - errors) * job.batch
  return {
    messages,
    requests: answered,
    seconds,
    latency: mergeSummaries(connections.map((c) => c.sampler)),
    capped,
    errors,
    firstError
  }
}

class PublishConnection {
  readonly socket: net.Socket
  readonly counter: AnswerCounter
  readonly sampler: LatencySampler
  sent = 0
  answered = 0
  capped = false
  private readonly job: PublishJob
  private readonly block: Buffer
  private readonly frameBytes: number
  private readonly quota: number

  constructor (socket: net.Socket, job: PublishJob, block: Buffer, frameBytes: number, quota: number, sampler: LatencySampler) {
    this.socket = socket
    this.job = job
    this.block = block
    this.frameBytes = frameBytes
    this.quota = quota
    this.sampler = sampler
    this.counter = new AnswerCounter(job.batch === 1 ? 'ok' : 'framed')
  }

  run (deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (): boolean => {
        if (this.answered < this.sent) return false
        if (this.sent < this.quota && !this.capped) return false
        this.socket.removeAllListeners('data')
        resolve()
        return true
      }
      this.socket.on('data', (chunk: Buffer) => {
        let n: number
        try {
          n = this.counter.feed(chunk)
        } catch (err) {
          reject(err)
          return
        }
        if (n === 0) return
        this.sampler.answered(this.answered, n)
        this.answered += n
        if (this.counter.errors > 0) this.capped = true
        this.refill(deadline)
        finish()
      })
      this.socket.once('error', reject)
      this.socket.once('close', () => reject(new Error(`connection closed with ${this.sent - this.answered} answers missing`)))
      this.refill(deadline)
      finish()
    })
  }

  private refill (deadline: number): void {
    if (this.capped || this.sent >= this.quota) return
    const inflight = this.sent - this.answered
    if (this.job.refill === 'burst' && inflight > 0) return
    if (performance.now() > deadline) {
      this.capped = true
      return
    }
    const k = Math.min(this.job.window - inflight, this.quota - this.sent)
    if (k <= 0) return
    this.sampler.sent(this.sent, k)
    this.sent += k
    this.socket.write(this.block.subarray(0, k * this.frameBytes))
  }
}

/** Creates a one-partition log; an existing one is fine. */
export async function ensureLog (port: number, log: string): Promise<void> {
  const socket = net.connect({ port, host: '127.0.0.1' })
  await once(socket, 'connect')
  const counter = new AnswerCounter('ok')
  socket.write(encodeCommand({ command: 'create', log, partitions: 1 }))
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => { if (counter.feed(chunk) > 0) resolve() })
    socket.once('error', reject)
    socket.once('close', () => reject(new Error('connection closed before the create answer')))
  })
  socket.destroy()
  const error = counter.firstError
  if (error !== null && !error.includes('already exists')) throw new Error(`create ${log}: ${error}`)
}

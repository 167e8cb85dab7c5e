import * as net from 'node:net'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { Command } from '../lib/protocol/commands'
import { encodeCommand } from '../lib/protocol/request-writer'
import { readU64, writeU64 } from '../lib/util/u64'
import { AnswerCounter } from './answer-counter'
import type { LoadResult, PublishJob } from './jobs'
import { LatencySampler, mergeSummaries } from './latency'
import { payload } from './payload'

/** About this many latency samples per run, spread evenly over its requests. */
const LATENCY_SAMPLES = 20_000
/** A connection's read buffer: a read takes at most this many bytes of answers. */
const READ_BUFFER_BYTES = 64 * 1024

/**
 * Publishes `job.messages` messages of `job.payloadBytes` bytes to partition
 * 0 of `job.log` (created if missing). Every request is the same pre-encoded
 * frame, so a refill is a subarray of one block of `window` frames: one write
 * per refill, no encoding and no allocation per message. With
 * `job.commitEvery`, a refill is a subarray of a ring of frames in the
 * connection's order (commitEvery - 1 publishes, then a commit), each commit
 * in it given its offset (from the answers so far) in its last 8 bytes first:
 * again one write per refill, no copy and no allocation, so the driver's own
 * cost per request stays that of publishes alone.
 */
export async function publishLoad (job: PublishJob): Promise<LoadResult> {
  const reply = job.reply ?? 'ok'
  const commitEvery = job.commitEvery ?? 0
  if (commitEvery !== 0 && (commitEvery < 2 || commitEvery - 1 > job.window || job.batch !== 1 || reply !== 'offset')) {
    throw new Error('commitEvery needs single publishes answered with their offset (reply offset), and 2 <= commitEvery <= window + 1')
  }
  await ensureLog(job.port, job.log, job.retentionBytes)
  const data = payload(job.payloadBytes)
  const command: Command = job.batch === 1
    ? { command: 'publish', log: job.log, partition: 0, data, reply }
    : { command: 'publish-batch', log: job.log, partition: 0, messages: new Array<Buffer>(job.batch).fill(data) }
  const frame = encodeCommand(command)
  const block = Buffer.concat(new Array<Buffer>(job.window).fill(frame))
  const requests = Math.ceil(job.messages / job.batch)
  const every = Math.max(1, Math.floor(requests / LATENCY_SAMPLES))

  const connections: PublishConnection[] = []
  for (let c = 0; c < job.connections; c++) {
    const quota = Math.floor(requests / job.connections) + (c < requests % job.connections ? 1 : 0)
    connections.push(new PublishConnection(job, block, frame.length, quota, new LatencySampler(every, quota), `${job.log}-committer-${c}`))
  }
  await Promise.all(connections.map(async (c) => await once(c.socket, 'connect')))

  const start = performance.now()
  const deadline = start + job.timeLimitMs
  await Promise.all(connections.map(async (c) => await c.run(deadline)))
  const seconds = (performance.now() - start) / 1000

  let answered = 0
  let commits = 0
  let errors = 0
  let firstError: string | null = null
  let capped = false
  for (const c of connections) {
    answered += c.answered
    commits += c.commitsAnswered()
    errors += c.counter.errors
    firstError ??= c.counter.firstError
    capped ||= c.capped
    c.socket.destroy()
  }
  const messages = Math.max(0, answered - commits - errors) * job.batch
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
  /** Request i is a commit when i % commitEvery is commitEvery - 1; 0: no commits. */
  private readonly commitEvery: number
  /**
   * With commits: a ring of frames in this connection's order, `ring` of them
   * and `window` more after (so a refill's frames are contiguous wherever it
   * starts). Request i is sent from frame i % ring, or from the copy of it
   * `ring` frames on. Those bytes are written again only for request
   * i + ring, and ring >= 2 x window: by the time that is sent, request i
   * has been answered, so the server has read it and the socket holds none
   * of its bytes.
   */
  private readonly mixedBlock: Buffer | null = null
  private readonly ring: number = 0
  /** Where request i's frame starts in mixedBlock, for i up to commitEvery (one period). */
  private readonly periodStarts: number[] = []
  private readonly periodBytes: number = 0
  /** One past the highest offset a publish of this connection was answered with. */
  private committable = 0

  /** What run() does with the bytes of a read; until then none are expected (nothing has been sent). */
  private received: (chunk: Buffer) => void = () => {}

  constructor (job: PublishJob, block: Buffer, frameBytes: number, quota: number, sampler: LatencySampler, group: string) {
    // Answers are read into one buffer of this connection's, used again for every read (the counter keeps no bytes of a chunk),
    // not into a new one per read with a 'data' event: the load's own cost per burst stays small beside the server's.
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES)
    this.socket = net.connect({ port: job.port, host: '127.0.0.1', noDelay: true, onread: { buffer, callback: (n: number, buf: Uint8Array) => { this.received((buf as Buffer).subarray(0, n)); return true } } })
    this.job = job
    this.block = block
    this.frameBytes = frameBytes
    this.quota = quota
    this.sampler = sampler
    this.commitEvery = job.commitEvery ?? 0
    this.counter = new AnswerCounter(job.batch === 1 && (job.reply ?? 'ok') === 'ok' ? 'ok' : 'framed')
    if (this.commitEvery !== 0) {
      const commit = encodeCommand({ command: 'commit', log: job.log, partition: 0, group, offset: 0 })
      const publish = block.subarray(0, frameBytes)
      // A whole number of periods, so that frame i % ring is a commit exactly when request i is.
      this.ring = Math.ceil(2 * job.window / this.commitEvery) * this.commitEvery
      const frames: Buffer[] = []
      for (let i = 0; i < this.ring + job.window; i++) frames.push(this.isCommit(i) ? commit : publish)
      this.mixedBlock = Buffer.concat(frames)
      let at = 0
      for (let i = 0; i <= this.commitEvery; i++) {
        this.periodStarts.push(at)
        at += frames[i].length
      }
      this.periodBytes = this.periodStarts[this.commitEvery]
      // Request i's answer: a publish's body is its offset (a commit's, the offset it committed).
      this.counter.onAnswer = (ok) => {
        if (ok && !this.isCommit(this.counter.completed - 1)) this.committable = Math.max(this.committable, readU64(this.counter.last, 5) + 1)
      }
    }
  }

  /** Commits among the requests answered (requests 0 to answered - 1). */
  commitsAnswered (): number {
    return this.commitEvery === 0 ? 0 : Math.floor(this.answered / this.commitEvery)
  }

  private isCommit (request: number): boolean {
    return this.commitEvery !== 0 && request % this.commitEvery === this.commitEvery - 1
  }

  run (deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (): boolean => {
        if (this.answered < this.sent) return false
        if (this.sent < this.quota && !this.capped) return false
        this.received = () => {}
        resolve()
        return true
      }
      this.received = (chunk: Buffer): void => {
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
      }
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
    if (this.commitEvery === 0) {
      this.sent += k
      this.socket.write(this.block.subarray(0, k * this.frameBytes))
      return
    }
    this.socket.write(this.mixedRefill(this.sent, k))
    this.sent += k
  }

  /** Frames of requests `from` to `from + k - 1` (k <= window) in mixedBlock, with this connection's commit offset in each commit. */
  private mixedRefill (from: number, k: number): Buffer {
    const block = this.mixedBlock as Buffer
    const first = from % this.ring
    // The first commit of the refill, then every commitEvery-th frame; a commit's offset is its frame's last 8 bytes.
    for (let j = first + this.commitEvery - 1 - from % this.commitEvery; j < first + k; j += this.commitEvery) {
      writeU64(block, this.committable, this.frameStart(j + 1) - 8)
    }
    return block.subarray(this.frameStart(first), this.frameStart(first + k))
  }

  /** Where mixedBlock's request j starts (j up to its length). */
  private frameStart (j: number): number {
    return Math.floor(j / this.commitEvery) * this.periodBytes + this.periodStarts[j % this.commitEvery]
  }
}

/** Creates a one-partition log (with command 11 when `retentionBytes` is given); an existing one is fine. */
export async function ensureLog (port: number, log: string, retentionBytes?: number): Promise<void> {
  const socket = net.connect({ port, host: '127.0.0.1' })
  await once(socket, 'connect')
  const counter = new AnswerCounter(retentionBytes === undefined ? 'ok' : 'framed')
  socket.write(encodeCommand(retentionBytes === undefined
    ? { command: 'create', log, partitions: 1 }
    : { command: 'create-with-settings', log, partitions: 1, retentionBytes, retentionMs: null }))
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => { if (counter.feed(chunk) > 0) resolve() })
    socket.once('error', reject)
    socket.once('close', () => reject(new Error('connection closed before the create answer')))
  })
  socket.destroy()
  const error = counter.firstError
  if (error !== null && !error.includes('already exists')) throw new Error(`create ${log}: ${error}`)
}

import { Transform, type TransformCallback } from 'node:stream'
import { Parser } from 'binary-parser'
import { RogError } from '../errors'
import { MESSAGE_WEIGHT, commandWeight } from './command-weight'
import { CommandByte, FIRST_FRAMED_COMMAND, LAST_COMMAND, type Command, type ReplicaFetchPartition } from './commands'
import { MAX_BATCH_MESSAGES, MAX_GROUP_BYTES, protocolLimits, type ProtocolLimits } from './limits'
import { NameCache } from './name-cache'
import { BufferViews } from '../util/buffer-views'
import { readU16, readU32, readU64 } from '../util/u64'

/**
 * Where a decoder accounts for the memory it admits (the server's
 * ConnectionMemory): it reserves a frame (its bytes and messages) when it
 * starts receiving it, released when the frame is decoded, and each
 * command's `commandWeight` when it decodes it, released by whoever answers
 * the command.
 */
export interface DecoderMemory {
  reserve (bytes: number): void
  release (bytes: number): void
  full (): boolean
  /** Calls back on a later tick once `full()` is false. */
  whenRoom (callback: () => void): void
}

/**
 * Decoder: a Transform from request bytes to arrays of Command objects, one
 * array per input chunk (many small requests travel through the pipeline as
 * one object).
 *
 * Buffer and state: `chunks` holds the start of a frame that has not fully
 * arrived, `bufferedBytes` its length, and `needed` how many bytes of it must
 * be present before decoding can make progress: the whole frame once its size
 * is known, otherwise enough to read its next size field. Only those bytes are
 * joined, once, so a large publish arriving in many chunks is copied once and
 * frames that lie whole inside a chunk are never copied. Every size is
 * checked against its limit as soon as it is read, before anything is
 * buffered for it.
 *
 * binary-parser does not notice a frame cut short, so `frameSize` (plain
 * bounds-checked reads) decides first that a whole frame is present, and only
 * then is it handed to the field parsers.
 *
 * A framing error (unknown command, size over a limit, malformed frame) is
 * pushed as an `invalid` command after the good commands before it; then the
 * readable side ends and later input is discarded. A publish-batch stating
 * more than MAX_BATCH_MESSAGES messages is refused from its header: a
 * non-fatal `invalid` command, and `skipping` counts down its body as it
 * arrives, without keeping it.
 *
 * Memory (when given a DecoderMemory): a frame that does not lie whole in the
 * chunk at hand is reserved in full once its size is known (its bytes and
 * MESSAGE_WEIGHT per message it states), and from then on its bytes are
 * always taken, so a frame started always completes. Between frames, while
 * the memory is full, the decoder holds its callback (`held`): its socket
 * stops being read until there is room.
 *
 * An empty group name: the original clients send a fetch or ack for group ''
 * with a group-size byte of 0 and nothing after it, which is also the first
 * byte of the u64 size form. The bytes cannot tell the two apart, so a frame
 * that stops right after that 0 for `EMPTY_GROUP_GRACE_MS` is answered as a
 * framing error (empty group name) instead of waiting for the idle timeout;
 * a u64 size whose bytes keep coming is decoded as before.
 */
export class Decoder extends Transform {
  private readonly limits: ProtocolLimits
  private readonly memory: DecoderMemory | null
  private chunks: Buffer[] = []
  private bufferedBytes = 0
  private needed = 1
  /** Once its size is known: what the frame being received is reserved for (its bytes and messages). */
  private frameWeight = 0
  /** What is reserved for it now (0, or frameWeight). */
  private reserved = 0
  private skipping = 0
  private held: TransformCallback | null = null
  private failed = false
  private emptyGroupTimer: NodeJS.Timeout | null = null

  constructor (limits: ProtocolLimits = protocolLimits(), memory: DecoderMemory | null = null) {
    super({ writableObjectMode: false, readableObjectMode: true, readableHighWaterMark: 16 })
    this.limits = limits
    this.memory = memory
  }

  /** Bytes received and not yet decoded. */
  get pendingBytes (): number {
    return this.bufferedBytes
  }

  /** In the middle of a frame and waiting for the peer to send the rest (not for memory). */
  get awaitingPeer (): boolean {
    return (this.bufferedBytes > 0 || this.skipping > 0) && this.held === null && !this.failed
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.failed) return callback()
    this.clearEmptyGroupTimer()
    const commands: Command[] = []
    let weight = 0
    try {
      let at = this.skip(chunk, 0)
      // A frame begun in earlier chunks: join only the bytes that complete it (or its next size field).
      while (this.bufferedBytes > 0) {
        if (this.bufferedBytes + chunk.length - at < this.needed) {
          this.chunks.push(at === 0 ? chunk : chunk.subarray(at))
          this.bufferedBytes += chunk.length - at
          at = chunk.length
          break
        }
        const take = this.needed - this.bufferedBytes
        this.chunks.push(chunk.subarray(at, at + take))
        at += take
        const buf = Buffer.concat(this.chunks, this.needed)
        const size = frameSize(buf, 0, this.limits)
        const refused = size > 0 ? refusal(buf, 0) : null
        if (refused !== null) {
          commands.push(refused)
          weight += commandWeight(refused)
          this.endFrame()
          if (size <= buf.length) at -= buf.length - size
          else this.skipping = size - buf.length
          at = this.skip(chunk, at)
        } else if (size > 0 && size <= buf.length) {
          at -= buf.length - size
          const c = decodeFrame(buf.subarray(0, size), this.limits)
          weight += commandWeight(c)
          commands.push(c)
          this.endFrame()
        } else {
          this.chunks = [buf]
          this.bufferedBytes = buf.length
          this.needed = Math.abs(size)
          this.frameWeight = size > 0 ? frameWeight(buf, 0, size) : 0
        }
      }
      // Publishes and commits are read in place: a message is a view of the chunk, names are read through it.
      const views = new BufferViews(chunk)
      while (at < chunk.length) {
        const size = frameSize(chunk, at, this.limits)
        const refused = size > 0 && isBatch(chunk[at]) ? refusal(chunk, at) : null
        if (refused !== null) {
          commands.push(refused)
          weight += commandWeight(refused)
          this.skipping = size
          at = this.skip(chunk, at)
          continue
        }
        if (size < 0 || at + size > chunk.length) {
          this.chunks = [chunk.subarray(at)]
          this.bufferedBytes = chunk.length - at
          this.needed = Math.abs(size)
          this.frameWeight = size > 0 ? frameWeight(chunk, at, size) : 0
          break
        }
        // The per-message frames of a pipelined producer (either answer) and of a consumer committing as it goes are read in place, without a subarray per frame.
        const first = chunk[at]
        const c = first === CommandByte.publish
          ? decodePublish(chunk, views, at, size)
          : first === CommandByte.publishOffset
            ? decodePublishOffset(chunk, views, at + 5, at + size, this.limits)
            : first === CommandByte.commit ? decodeCommit(chunk, views, at + 5, at + size) : decodeFrame(chunk.subarray(at, at + size), this.limits)
        weight += commandWeight(c)
        commands.push(c)
        at += size
      }
    } catch (err) {
      const invalid: Command = { command: 'invalid', error: asRogError(err) }
      commands.push(invalid)
      weight += commandWeight(invalid)
      this.failed = true
      this.endFrame()
    }
    if (commands.length > 0) {
      this.memory?.reserve(weight)
      this.push(commands)
    }
    if (this.failed) this.push(null)
    else if (this.endsAtZeroGroupSize()) this.emptyGroupTimer = setTimeout(() => this.fail(RogError.badFrame('empty group name')), EMPTY_GROUP_GRACE_MS)
    this.admit(callback)
  }

  /** The buffered bytes are a fetch or ack up to a group-size byte of 0, and no further. */
  private endsAtZeroGroupSize (): boolean {
    const first = this.chunks[0]
    if (this.needed - this.bufferedBytes !== 7 || (first[0] !== CommandByte.fetch && first[0] !== CommandByte.ack)) return false
    const buf = this.chunks.length === 1 ? first : Buffer.concat(this.chunks)
    return buf.length === 4 + buf[2] && buf[buf.length - 1] === 0
  }

  private fail (error: RogError): void {
    this.emptyGroupTimer = null
    if (this.failed || this.destroyed) return
    this.push([{ command: 'invalid', error }])
    this.stop()
  }

  private clearEmptyGroupTimer (): void {
    if (this.emptyGroupTimer === null) return
    clearTimeout(this.emptyGroupTimer)
    this.emptyGroupTimer = null
  }

  /** Ends the stream of commands after those already decoded; later input is discarded (server shutdown). */
  stop (): void {
    this.clearEmptyGroupTimer()
    if (this.failed) return
    this.failed = true
    this.endFrame()
    this.skipping = 0
    this.push(null)
    this.readmit()
  }

  override _flush (callback: TransformCallback): void {
    // Bytes of an unfinished frame at end of input: the peer hung up mid-request; nothing to answer,
    // unless it is an empty group name followed by a half-close.
    this.clearEmptyGroupTimer()
    if (!this.failed && this.endsAtZeroGroupSize()) this.push([{ command: 'invalid', error: RogError.badFrame('empty group name') }])
    this.endFrame()
    callback()
  }

  override _destroy (err: Error | null, callback: (err: Error | null) => void): void {
    this.clearEmptyGroupTimer()
    callback(err)
  }

  /** Takes the next chunk now, or once there is memory for it; a frame under way is always taken. */
  private admit (callback: TransformCallback): void {
    const memory = this.memory
    if (memory === null || this.failed || this.reserved > 0 || this.skipping > 0) return callback()
    if (memory.full()) {
      this.held = callback
      memory.whenRoom(() => this.readmit())
      return
    }
    if (this.frameWeight > 0) {
      this.reserved = this.frameWeight
      memory.reserve(this.reserved)
    }
    callback()
  }

  private readmit (): void {
    const callback = this.held
    if (callback === null) return
    this.held = null
    this.admit(callback)
  }

  private skip (chunk: Buffer, at: number): number {
    const n = Math.min(this.skipping, chunk.length - at)
    this.skipping -= n
    return at + n
  }

  private endFrame (): void {
    this.chunks = []
    this.bufferedBytes = 0
    this.needed = 1
    this.frameWeight = 0
    if (this.reserved > 0) this.memory?.release(this.reserved)
    this.reserved = 0
  }
}

/** What a frame of `size` bytes at `at` (its header present) is reserved for while it arrives: its bytes, and MESSAGE_WEIGHT per message it states. */
function frameWeight (buf: Buffer, at: number, size: number): number {
  const countEnd = isBatch(buf[at]) && buf.length - at >= 7 ? batchCountEnd(buf, at) : -1
  const messages = countEnd > 0 && countEnd <= buf.length - at ? readU32(buf, at + countEnd - 4) : 1
  return size + MESSAGE_WEIGHT * messages
}

/** A publish-batch (5 or 23) whose header states more messages than allowed: answered with an error, its body skipped. */
function refusal (buf: Buffer, at: number): Command | null {
  if (!isBatch(buf[at]) || buf.length - at < 7) return null
  const countEnd = batchCountEnd(buf, at)
  if (countEnd < 0 || countEnd > buf.length - at) return null
  const count = readU32(buf, at + countEnd - 4)
  if (count <= MAX_BATCH_MESSAGES) return null
  return { command: 'invalid', error: RogError.batchTooLarge(count, MAX_BATCH_MESSAGES) }
}

/** Commands whose body is a batch of messages: publish-batch, and idempotent publish (the same after its producer fields). */
function isBatch (command: number): boolean {
  return command === CommandByte.publishBatch || command === CommandByte.idempotentPublish
}

/** Bytes between the log name and the `u32 count` of an idempotent publish: u64 producer id, u32 sequence. */
const PRODUCER_FIELDS = 12

/** Where a batch's `u32 count` ends, when its body is long enough to hold it (else -1); needs 7 bytes. */
function batchCountEnd (buf: Buffer, at: number): number {
  const end = 7 + buf[at + 6] + (buf[at] === CommandByte.idempotentPublish ? PRODUCER_FIELDS : 0) + 4
  return end <= 5 + readU32(buf, at + 1) ? end : -1
}

/** How long a fetch or ack that stops at a group-size byte of 0 waits for the rest of a u64 size. */
export const EMPTY_GROUP_GRACE_MS = 100

function asRogError (err: unknown): RogError {
  if (err instanceof RogError) return err
  return RogError.badFrame(err instanceof Error ? err.message : String(err))
}

/**
 * The size of the frame starting at `at` when it can be told from the bytes
 * present; otherwise minus the number of bytes needed to tell it.
 */
export function frameSize (buf: Buffer, at: number, limits: ProtocolLimits): number {
  const avail = buf.length - at
  const command = buf[at]
  switch (command) {
    case CommandByte.create: {
      if (avail < 3) return -3
      return 3 + buf[at + 2]
    }
    case CommandByte.publish: {
      if (avail < 3) return -3
      const header = 3 + buf[at + 2] + 8
      if (avail < header) return -header
      const dataSize = readU64(buf, at + header - 8)
      if (dataSize > limits.maxMessageBytes) throw RogError.messageTooLarge(readBigSize(buf, at + header - 8), limits.maxMessageBytes)
      return header + dataSize
    }
    case CommandByte.fetch:
    case CommandByte.ack: {
      if (avail < 3) return -3
      const groupAt = 3 + buf[at + 2]
      if (avail < groupAt + 1) return -(groupAt + 1)
      const short = buf[at + groupAt]
      if (short !== 0) return groupAt + 1 + short
      if (avail < groupAt + 8) return -(groupAt + 8)
      const groupSize = readU64(buf, at + groupAt)
      if (groupSize === 0) throw RogError.badFrame('empty group name')
      if (groupSize > MAX_GROUP_BYTES) throw RogError.badFrame(`group name of ${readBigSize(buf, at + groupAt)} bytes exceeds ${MAX_GROUP_BYTES}`)
      return groupAt + 8 + groupSize
    }
    default: {
      if (command < FIRST_FRAMED_COMMAND || command > LAST_COMMAND) throw RogError.unknownCommand(command)
      if (avail < 5) return -5
      const body = readU32(buf, at + 1)
      if (body > limits.maxFrameBytes) throw RogError.frameTooLarge(body, limits.maxFrameBytes)
      return isBatch(command) ? batchFrameSize(buf, at, body) : 5 + body
    }
  }
}

/** A batch's size, once its `u32 count` can be read (see refusal()), before its body is buffered. */
function batchFrameSize (buf: Buffer, at: number, body: number): number {
  if (body < 2) return 5 + body
  if (buf.length - at < 7) return -7
  const countEnd = batchCountEnd(buf, at)
  return countEnd > buf.length - at ? -countEnd : 5 + body
}

function readBigSize (buf: Buffer, at: number): bigint {
  return buf.readBigUInt64BE(at)
}

const NAME = { length: 'nameSize', encoding: 'utf8' } as const

const createParser = new Parser()
  .uint8('command').uint8('partitions').uint8('nameSize').string('log', NAME)


const groupShortParser = new Parser()
  .uint8('command').uint8('partition').uint8('nameSize').string('log', NAME)
  .uint8('groupSize').string('group', { length: 'groupSize', encoding: 'utf8' })

const groupLongParser = new Parser()
  .uint8('command').uint8('partition').uint8('nameSize').string('log', NAME)
  .seek(8).string('group', { greedy: true, encoding: 'utf8' })

// Framed bodies (after `u8 command, u32 body size`).
const partitionLogParser = new Parser()
  .uint8('partition').uint8('nameSize').string('log', NAME)

const publishBatchParser = new Parser()
  .nest('target', { type: partitionLogParser }).uint32be('count').buffer('messages', { readUntil: 'eof' })

const groupParser = new Parser()
  .nest('target', { type: partitionLogParser }).uint16be('groupSize').string('group', { length: 'groupSize', encoding: 'utf8' })

const fetchBatchParser = new Parser()
  .nest('at', { type: groupParser })
  .uint8('flags').uint32be('offsetHigh').uint32be('offsetLow')
  .uint32be('maxMessages').uint32be('maxBytes').uint32be('waitMs')

const describeParser = new Parser()
  .uint8('nameSize').string('log', NAME)

/** Flag bit of fetch-batch: read from the given offset instead of the group's committed one. */
export const FETCH_FROM_OFFSET = 1
/** Flag bit of fetch-batch: answer with timestamps, the first offset and where the read began. */
export const FETCH_DETAILED = 2
/** Flag bits of alter-log (command 12). */
export const ALTER_PARTITIONS = 1
export const ALTER_SET_BYTES = 2
export const ALTER_SET_MS = 4
export const ALTER_RESET_BYTES = 8
export const ALTER_RESET_MS = 16

interface Target { partition: number, nameSize: number, log: string }
interface GroupTarget { target: Target, groupSize: number, group: string }

/** Decodes one whole frame; `frame` is exactly the bytes `frameSize` measured. */
export function decodeFrame (frame: Buffer, limits: ProtocolLimits): Command {
  switch (frame[0]) {
    case CommandByte.create: {
      const { partitions, log } = createParser.parse(frame)
      return { command: 'create', log, partitions }
    }
    case CommandByte.publish:
      return decodePublish(frame, new BufferViews(frame), 0, frame.length)
    case CommandByte.fetch:
    case CommandByte.ack: {
      const short = frame[3 + frame[2]] !== 0
      const { partition, log, group } = (short ? groupShortParser : groupLongParser).parse(frame)
      return { command: frame[0] === CommandByte.fetch ? 'fetch' : 'ack', log, partition, group }
    }
  }
  return decodeFramedBody(frame[0], frame.subarray(5), limits)
}

function decodeFramedBody (command: number, body: Buffer, limits: ProtocolLimits): Command {
  switch (command) {
    case CommandByte.publishOffset:
      return decodePublishOffset(body, new BufferViews(body), 0, body.length, limits)
    case CommandByte.publishBatch: {
      const { target, count, messages } = publishBatchParser.parse(checkTarget(body, 4))
      return { command: 'publish-batch', log: target.log, partition: target.partition, messages: splitMessages(messages, count, limits) }
    }
    case CommandByte.idempotentPublish: {
      const at = 2 + checkTarget(body, PRODUCER_FIELDS + 4)[1]
      const producerId = readU64(body, at)
      if (producerId === 0 || !Number.isFinite(producerId)) throw RogError.badFrame(`producer id ${body.readBigUInt64BE(at)} is not one command 22 gives (1 to 2^53 - 1)`)
      const sequence = readU32(body, at + 8)
      const messages = splitMessages(body.subarray(at + PRODUCER_FIELDS + 4), readU32(body, at + PRODUCER_FIELDS), limits)
      return { command: 'idempotent-publish', log: logName(new BufferViews(body), 2, at), partition: body[0], producerId, sequence, messages }
    }
    case CommandByte.initProducer: {
      expectSize(body, 0, 'init-producer')
      return { command: 'init-producer' }
    }
    case CommandByte.fetchBatch: {
      const { at, flags, offsetHigh, offsetLow, maxMessages, maxBytes, waitMs } = fetchBatchParser.parse(checkGroup(body, 21))
      const offset = (flags & FETCH_FROM_OFFSET) !== 0 ? joinU64(offsetHigh, offsetLow) : null
      const detailed = (flags & FETCH_DETAILED) !== 0
      return { command: 'fetch-batch', ...groupFields(at), offset, maxMessages, maxBytes, waitMs, ...(detailed ? { detailed } : {}), ...exactText(offset, offsetHigh, offsetLow) }
    }
    case CommandByte.commit:
      return decodeCommit(body, new BufferViews(body), 0, body.length)
    case CommandByte.listLogs: {
      expectSize(body, 0, 'list-logs')
      return { command: 'list-logs' }
    }
    case CommandByte.version: {
      expectSize(body, 0, 'version')
      return { command: 'version' }
    }
    case CommandByte.createWithSettings: {
      const log = nameAt(body, 1, 'create')
      const at = 2 + body[1]
      if (body.length < at + 1) throw RogError.badFrame('create body is too short')
      const flags = body[at]
      // Flag 4: a replication factor follows the two u64s (a cluster's create).
      expectSize(body, at + ((flags & CREATE_REPLICATION) !== 0 ? 18 : 17), 'create')
      const c: Command = { command: 'create-with-settings', log, partitions: body[0], retentionBytes: (flags & 1) !== 0 ? u64(body, at + 1) : null, retentionMs: (flags & 2) !== 0 ? u64(body, at + 9) : null }
      if ((flags & CREATE_REPLICATION) !== 0) c.replicationFactor = body[at + 17]
      return c
    }
    case CommandByte.alterLog: {
      const log = nameAt(body, 0, 'alter-log')
      const at = 1 + body[0]
      expectSize(body, at + 18, 'alter-log')
      const flags = body[at]
      const c: Command = { command: 'alter-log', log }
      if ((flags & ALTER_PARTITIONS) !== 0) c.partitions = body[at + 1]
      if ((flags & ALTER_SET_BYTES) !== 0) c.retentionBytes = u64(body, at + 2)
      else if ((flags & ALTER_RESET_BYTES) !== 0) c.retentionBytes = null
      if ((flags & ALTER_SET_MS) !== 0) c.retentionMs = u64(body, at + 10)
      else if ((flags & ALTER_RESET_MS) !== 0) c.retentionMs = null
      return c
    }
    case CommandByte.deleteLog:
    case CommandByte.describeLog: {
      const log = nameAt(body, 0, 'log')
      expectSize(body, 1 + body[0], 'log')
      return { command: command === CommandByte.deleteLog ? 'delete-log' : 'describe-log', log }
    }
    case CommandByte.deleteGroup: {
      const log = nameAt(body, 0, 'delete-group')
      const at = 1 + body[0]
      if (body.length < at + 2) throw RogError.badFrame(`delete-group body of ${body.length} bytes is too short`)
      const size = body.readUInt16BE(at)
      expectSize(body, at + 2 + size, 'delete-group')
      if (size === 0) throw RogError.badFrame('empty group name')
      return { command: 'delete-group', log, group: body.toString('utf8', at + 2, at + 2 + size) }
    }
    case CommandByte.offsetForTime: {
      const log = nameAt(body, 1, 'offset-for-time')
      expectSize(body, 2 + body[1] + 8, 'offset-for-time')
      return { command: 'offset-for-time', log, partition: body[0], timestamp: u64(body, 2 + body[1]) }
    }
    case CommandByte.clusterInfo: {
      expectSize(body, 0, 'cluster-info')
      return { command: 'cluster-info' }
    }
    case CommandByte.logPlacement: {
      const log = nameAt(body, 0, 'log-placement')
      expectSize(body, 1 + body[0], 'log-placement')
      return { command: 'log-placement', log }
    }
    case CommandByte.replicaFetch: {
      const req = jsonBody(body, 'replica-fetch')
      const partitions = req.partitions
      if (!isCount(req.replica) || !isCount(req.waitMs) || !isCount(req.maxBytes) || !Array.isArray(partitions) || partitions.length > MAX_BATCH_MESSAGES) throw RogError.badFrame('malformed replica-fetch')
      for (const p of partitions as Array<Record<string, unknown>>) {
        if (typeof p !== 'object' || p === null || typeof p.log !== 'string' || !isCount(p.partition) || !isCount(p.offset) || !isCount(p.epoch) || !isCount(p.groupsVersion) || (p.groupsOf !== undefined && (typeof p.groupsOf !== 'string' || p.groupsOf.length > 64))) throw RogError.badFrame('malformed replica-fetch partition')
      }
      return { command: 'replica-fetch', replica: req.replica as number, waitMs: req.waitMs as number, maxBytes: req.maxBytes as number, partitions: partitions as ReplicaFetchPartition[] }
    }
    case CommandByte.epochEnd: {
      const req = jsonBody(body, 'epoch-end')
      if (typeof req.log !== 'string' || !isCount(req.partition) || !isCount(req.epoch)) throw RogError.badFrame('malformed epoch-end')
      return { command: 'epoch-end', log: req.log, partition: req.partition as number, epoch: req.epoch as number }
    }
    case CommandByte.reassign: {
      const req = jsonBody(body, 'reassign')
      const replicas = req.replicas
      if (typeof req.log !== 'string' || !isCount(req.partition) || !Array.isArray(replicas) || replicas.length > 255 || !replicas.every(isCount)) throw RogError.badFrame('malformed reassign')
      return { command: 'reassign', log: req.log, partition: req.partition as number, replicas: replicas as number[] }
    }
    default: {
      if (body.length < 1) throw RogError.badFrame('describe body is empty')
      expectSize(body, 1 + body[0], 'describe')
      return { command: 'describe', log: describeParser.parse(body).log }
    }
  }
}

export const CREATE_REPLICATION = 4

function jsonBody (body: Buffer, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw RogError.badFrame(`${what} body is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw RogError.badFrame(`${what} body is not a JSON object`)
  return value as Record<string, unknown>
}

function isCount (v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/**
 * The reference publish, the one per-message layout of a pipelined producer:
 * plain reads (frameSize checked the bounds) and the log name decoded once per
 * run of frames that repeat it, not binary-parser's ~0.7 us a frame.
 */
/** `views` are of `buf`. */
function decodePublish (buf: Buffer, views: BufferViews, at: number, size: number): Command {
  const nameEnd = at + 3 + buf[at + 2]
  return { command: 'publish', log: logName(views, at + 3, nameEnd), partition: buf[at + 1], data: views.view(nameEnd + 8, at + size), reply: 'ok' }
}

/** A publish answered with its offset, body buf[b, end): partition, log name, then the message (the pipelined producer's other layout). */
function decodePublishOffset (buf: Buffer, views: BufferViews, b: number, end: number, limits: ProtocolLimits): Command {
  checkTargetAt(buf, b, end, 0)
  const nameEnd = b + 2 + buf[b + 1]
  if (end - nameEnd > limits.maxMessageBytes) throw RogError.messageTooLarge(end - nameEnd, limits.maxMessageBytes)
  return { command: 'publish', log: logName(views, b + 2, nameEnd), partition: buf[b], data: views.view(nameEnd, end), reply: 'offset' }
}

/**
 * A commit's body, buf[b, end): partition, log name, group name and offset,
 * checked as checkGroup checks a body. Sent among publishes (a consumer
 * committing as it goes), so plain reads.
 */
function decodeCommit (buf: Buffer, views: BufferViews, b: number, end: number): Command {
  checkTargetAt(buf, b, end, 2)
  const groupAt = b + 2 + buf[b + 1]
  const groupEnd = groupAt + 2 + readU16(buf, groupAt)
  if (end !== groupEnd + 8) throw RogError.badFrame(`request body is ${end - b} bytes, expected ${groupEnd + 8 - b}`)
  if (groupEnd === groupAt + 2) throw RogError.badFrame('empty group name')
  const offsetHigh = readU32(buf, groupEnd)
  const offsetLow = readU32(buf, groupEnd + 4)
  const offset = joinU64(offsetHigh, offsetLow)
  const log = logName(views, b + 2, groupAt)
  const group = groupNames.get(views, groupAt + 2, groupEnd)
  if (offset === Infinity) return { command: 'commit', log, partition: buf[b], group, offset, ...exactText(offset, offsetHigh, offsetLow) }
  return { command: 'commit', log, partition: buf[b], group, offset }
}

const logNames = new NameCache()
const groupNames = new NameCache()

function logName (views: BufferViews, start: number, end: number): string {
  return logNames.get(views, start, end)
}

function groupFields (at: GroupTarget): { log: string, partition: number, group: string } {
  if (at.groupSize === 0) throw RogError.badFrame('empty group name')
  return { log: at.target.log, partition: at.target.partition, group: at.group }
}

/** The body holds partition and log name, then at least `rest` bytes. */
function checkTarget (body: Buffer, rest: number): Buffer {
  checkTargetAt(body, 0, body.length, rest)
  return body
}

/** checkTarget of the body buf[b, end), read in place. */
function checkTargetAt (buf: Buffer, b: number, end: number, rest: number): void {
  const length = end - b
  if (length < 2 || length < 2 + buf[b + 1] + rest) throw RogError.badFrame(`body of ${length} bytes is too short`)
}

/** The body holds partition, log name and group name, then exactly `rest` bytes. */
function checkGroup (body: Buffer, rest: number): Buffer {
  checkTarget(body, 2)
  const groupAt = 2 + body[1]
  expectSize(body, groupAt + 2 + body.readUInt16BE(groupAt) + rest, 'request')
  return body
}

function expectSize (body: Buffer, size: number, what: string): void {
  if (body.length !== size) throw RogError.badFrame(`${what} body is ${body.length} bytes, expected ${size}`)
}

/** The log name whose u8 size is at `at`, checked to lie in the body. */
function nameAt (body: Buffer, at: number, what: string): string {
  if (body.length < at + 1 || body.length < at + 1 + body[at]) throw RogError.badFrame(`${what} body of ${body.length} bytes is too short`)
  return body.toString('utf8', at + 1, at + 1 + body[at])
}

/** A u64 that must be exact: 2^53 and above is refused, not rounded. */
function u64 (body: Buffer, at: number): number {
  const value = readU64(body, at)
  if (!Number.isFinite(value)) throw RogError.badFrame(`value ${body.readBigUInt64BE(at)} is too large`)
  return value
}

/**
 * A u64 offset as a number; from 2^53 on, Infinity (past any end, and never
 * rounded onto a real offset). Below 2^32 it is `low` itself, a small integer
 * as the offsets the server computes are: a commit's offset made as a
 * floating-point number (high * 2^32 + low) gave offset answers two field
 * representations, and after publishes alone had run, V8 never optimized
 * the encoder again (mixed commits and publishes ran at about 0.6x).
 */
function joinU64 (high: number, low: number): number {
  if (high === 0) return low
  return high > 0x1f_ffff ? Infinity : high * 0x1_0000_0000 + low
}

/** The exact decimal text of an offset too large for a number, for error answers. */
function exactText (offset: number | null, high: number, low: number): { offsetText?: string } {
  return offset === Infinity ? { offsetText: ((BigInt(high) << 32n) + BigInt(low)).toString() } : {}
}

/** Batch messages: `count` times `u32 size, bytes`, filling the rest of the body exactly. */
function splitMessages (buf: Buffer, count: number, limits: ProtocolLimits): Buffer[] {
  if (count === 0) throw RogError.badFrame('batch of 0 messages')
  if (count * 4 > buf.length) throw RogError.badFrame(`batch of ${count} messages in ${buf.length} bytes`)
  const messages = new Array<Buffer>(count)
  const views = new BufferViews(buf)
  let at = 0
  for (let i = 0; i < count; i++) {
    if (at + 4 > buf.length) throw RogError.badFrame(`batch message ${i} is cut short`)
    const size = readU32(buf, at)
    if (size > limits.maxMessageBytes) throw RogError.messageTooLarge(size, limits.maxMessageBytes)
    at += 4
    if (at + size > buf.length) throw RogError.badFrame(`batch message ${i} is cut short`)
    messages[i] = views.view(at, at + size)
    at += size
  }
  if (at !== buf.length) throw RogError.badFrame(`${buf.length - at} bytes after the last batch message`)
  return messages
}

import { RogError } from '../errors'
import type { Command, FetchedMessage, PartitionInfo, Response } from './commands'
import { readU32, readU64 } from '../util/u64'

/** What a request's success answer looks like; its error answer is always `u8 1, u64 size, text`. */
export type Expect = 'ok' | 'message' | 'offset' | 'batch-published' | 'messages' | 'messages-detailed' | 'logs' | 'log-info' | 'version' | 'done' | 'log-details' | 'json' | 'replica-data'

export function expectFor (c: Command): Expect {
  switch (c.command) {
    case 'create':
    case 'ack':
      return 'ok'
    case 'publish': return c.reply === 'offset' ? 'offset' : 'ok'
    case 'fetch': return 'message'
    case 'publish-batch':
    case 'idempotent-publish':
      return 'batch-published'
    case 'fetch-batch': return c.detailed === true ? 'messages-detailed' : 'messages'
    case 'commit': return 'offset'
    case 'list-logs': return 'logs'
    case 'describe': return 'log-info'
    case 'version': return 'version'
    case 'create-with-settings':
    case 'alter-log':
    case 'delete-log':
    case 'delete-group':
      return 'done'
    case 'offset-for-time': return 'offset'
    case 'describe-log': return 'log-details'
    case 'cluster-info':
    case 'log-placement':
    case 'epoch-end':
    case 'reassign':
    case 'init-producer':
      return 'json'
    case 'replica-fetch': return 'replica-data'
    case 'invalid': throw c.error
  }
}

/** Larger than any answer a server sends (a fetch of one maximal message). */
export const MAX_RESPONSE_BYTES = 300 * 1024 * 1024

/**
 * Parses response bytes, in order, for the requests announced with `expect()`.
 *
 * State: `chunks` holds `buffered` bytes that begin at a response boundary;
 * `needed` is how many must be present before parsing can make progress: the
 * whole response once its size is known, otherwise enough to read its size.
 * Chunks are joined once, when `needed` is reached, so a large answer arriving
 * in many chunks is copied once.
 */
export class ResponseReader {
  private expected: Expect[] = []
  private head = 0
  private chunks: Buffer[] = []
  private buffered = 0
  private needed = 1

  expect (kind: Expect): void {
    this.expected.push(kind)
  }

  /** Requests announced and not yet answered. */
  get outstanding (): number {
    return this.expected.length - this.head
  }

  feed (chunk: Buffer): Response[] {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    if (this.buffered < this.needed) return []
    const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered)
    const out: Response[] = []
    let at = 0
    this.needed = 1
    while (at < buf.length) {
      if (this.head === this.expected.length) throw new RogError('PROTOCOL', 'The server sent bytes that answer no request')
      const size = responseSize(buf, at, this.expected[this.head])
      if (size < 0 || at + size > buf.length) {
        this.needed = Math.abs(size)
        break
      }
      out.push(parseResponse(buf.subarray(at, at + size), this.expected[this.head]))
      this.head++
      at += size
    }
    if (this.head > 1024 && this.head * 2 > this.expected.length) {
      this.expected = this.expected.slice(this.head)
      this.head = 0
    }
    this.chunks = at === buf.length ? [] : [buf.subarray(at)]
    this.buffered = buf.length - at
    return out
  }
}

/**
 * The size of the response starting at `at` when the bytes present tell it,
 * otherwise minus the number of bytes needed to tell it.
 */
function responseSize (buf: Buffer, at: number, kind: Expect): number {
  const avail = buf.length - at
  const status = buf[at]
  if (status !== 0 && status !== 1) throw new RogError('PROTOCOL', `Unexpected response status ${status}`)
  let size: number
  if (status === 1 || kind === 'message') {
    if (avail < 9) return -9
    size = 9 + readU64(buf, at + 1)
  } else if (kind === 'ok') {
    return 1
  } else {
    if (avail < 5) return -5
    size = 5 + readU32(buf, at + 1)
  }
  if (size > MAX_RESPONSE_BYTES) throw new RogError('PROTOCOL', `The server announced a response of ${size} bytes; at most ${MAX_RESPONSE_BYTES} are accepted`)
  return size
}

function parseResponse (buf: Buffer, kind: Expect): Response {
  if (buf[0] === 1) return { response: 'error', message: buf.toString('utf8', 9) }
  let at = 5
  switch (kind) {
    case 'ok': return { response: 'ok' }
    case 'message': return { response: 'message', data: buf.subarray(9) }
    case 'offset': return { response: 'offset', offset: readU64(buf, at) }
    case 'batch-published':
      return { response: 'batch-published', firstOffset: readU64(buf, at), count: readU32(buf, at + 8) }
    case 'messages': {
      const committedOffset = readU64(buf, at)
      const endOffset = readU64(buf, at + 8)
      const count = readU32(buf, at + 16)
      at += 20
      const messages = new Array<FetchedMessage>(count)
      for (let i = 0; i < count; i++) {
        fetchedFits(buf, at, 12)
        const offset = readU64(buf, at)
        const size = readU32(buf, at + 8)
        fetchedFits(buf, at, 12 + size)
        messages[i] = { offset, data: buf.subarray(at + 12, at + 12 + size) }
        at += 12 + size
      }
      return { response: 'messages', committedOffset, endOffset, messages }
    }
    case 'messages-detailed': {
      const committedOffset = readU64(buf, at)
      const endOffset = readU64(buf, at + 8)
      const detail = { firstOffset: readU64(buf, at + 16), startOffset: readU64(buf, at + 24) }
      const count = readU32(buf, at + 32)
      at += 36
      const messages = new Array<FetchedMessage>(count)
      for (let i = 0; i < count; i++) {
        fetchedFits(buf, at, 20)
        const offset = readU64(buf, at)
        const timestamp = readU64(buf, at + 8)
        const size = readU32(buf, at + 16)
        fetchedFits(buf, at, 20 + size)
        messages[i] = { offset, timestamp, data: buf.subarray(at + 20, at + 20 + size) }
        at += 20 + size
      }
      return { response: 'messages', committedOffset, endOffset, messages, detail }
    }
    case 'done': return { response: 'done' }
    case 'log-details': {
      const size = buf[at]
      const log = buf.toString('utf8', at + 1, at + 1 + size)
      at += 1 + size
      const flags = buf[at]
      const retentionBytes = (flags & 1) !== 0 ? readU64(buf, at + 1) : null
      const retentionMs = (flags & 2) !== 0 ? readU64(buf, at + 9) : null
      at += 17
      const count = buf[at++]
      const partitions = []
      for (let p = 0; p < count; p++) {
        const firstOffset = readU64(buf, at)
        const endOffset = readU64(buf, at + 8)
        const bytes = readU64(buf, at + 16)
        const groupCount = buf.readUInt32BE(at + 24)
        at += 28
        const groups = []
        for (let g = 0; g < groupCount; g++) {
          const gsize = buf.readUInt16BE(at)
          groups.push({ group: buf.toString('utf8', at + 2, at + 2 + gsize), offset: readU64(buf, at + 2 + gsize) })
          at += 10 + gsize
        }
        partitions.push({ partition: p, firstOffset, endOffset, bytes, groups })
      }
      return { response: 'log-details', details: { log, retentionBytes, retentionMs, partitions } }
    }
    case 'logs': {
      const count = buf.readUInt32BE(at)
      at += 4
      const logs = []
      for (let i = 0; i < count; i++) {
        const size = buf[at]
        logs.push({ log: buf.toString('utf8', at + 1, at + 1 + size), partitions: buf[at + 1 + size] })
        at += 2 + size
      }
      return { response: 'logs', logs }
    }
    case 'version': return { response: 'version', version: buf.toString('utf8', at) }
    case 'json': return { response: 'json', body: buf.subarray(at) }
    case 'replica-data': {
      const headerSize = buf.readUInt32BE(at)
      const header = buf.subarray(at + 4, at + 4 + headerSize)
      at += 4 + headerSize
      const messages: FetchedMessage[] = []
      // Whole entries: u64 id, u64 size of what follows the first 16 bytes (checked by the follower as it appends).
      while (at + 16 <= buf.length) {
        const size = 16 + readU64(buf, at + 8)
        if (size > buf.length - at) throw new RogError('PROTOCOL', `A replicated entry of ${size} bytes runs past its answer`)
        messages.push({ offset: readU64(buf, at), data: buf.subarray(at, at + size) })
        at += size
      }
      if (at !== buf.length) throw new RogError('PROTOCOL', 'A replicated entry is cut short')
      return { response: 'replica-data', header, messages }
    }
    case 'log-info': {
      const size = buf[at]
      const log = buf.toString('utf8', at + 1, at + 1 + size)
      at += 1 + size
      const count = buf[at++]
      const partitions: PartitionInfo[] = []
      for (let p = 0; p < count; p++) {
        const firstOffset = readU64(buf, at)
        const nextOffset = readU64(buf, at + 8)
        const groupCount = buf.readUInt32BE(at + 16)
        at += 20
        const groups = []
        for (let g = 0; g < groupCount; g++) {
          const gsize = buf.readUInt16BE(at)
          const group = buf.toString('utf8', at + 2, at + 2 + gsize)
          groups.push({ group, offset: readU64(buf, at + 2 + gsize) })
          at += 10 + gsize
        }
        partitions.push({ partition: p, firstOffset, nextOffset, groups })
      }
      return { response: 'log-info', log, partitions }
    }
  }
}

/** A fetched message of `bytes` (header and data) at `at` lies within its answer; a cut one is never handed on as a shorter message. */
function fetchedFits (buf: Buffer, at: number, bytes: number): void {
  if (at + bytes > buf.length) throw new RogError('PROTOCOL', `A fetched message runs past the end of its answer (${at + bytes - buf.length} bytes missing)`)
}

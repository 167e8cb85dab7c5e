import { RogError } from '../errors'
import type { Command, FetchedMessage, PartitionInfo, Response } from './commands'
import { readU64 } from './u64'

/** What a request's success answer looks like; its error answer is always `u8 1, u64 size, text`. */
export type Expect = 'ok' | 'message' | 'offset' | 'batch-published' | 'messages' | 'logs' | 'log-info'

export function expectFor (c: Command): Expect {
  switch (c.command) {
    case 'create':
    case 'ack':
      return 'ok'
    case 'publish': return c.reply === 'offset' ? 'offset' : 'ok'
    case 'fetch': return 'message'
    case 'publish-batch': return 'batch-published'
    case 'fetch-batch': return 'messages'
    case 'commit': return 'offset'
    case 'list-logs': return 'logs'
    case 'describe': return 'log-info'
    case 'invalid': throw c.error
  }
}

/**
 * Parses response bytes, in order, for the requests announced with `expect()`.
 * Keeps unparsed bytes across `feed` calls; a response is parsed only once all
 * of its bytes are present.
 */
export class ResponseReader {
  private readonly expected: Expect[] = []
  private head = 0
  private pending: Buffer = Buffer.alloc(0)

  expect (kind: Expect): void {
    this.expected.push(kind)
  }

  get outstanding (): number {
    return this.expected.length - this.head
  }

  feed (chunk: Buffer): Response[] {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    const out: Response[] = []
    let at = 0
    while (at < buf.length) {
      if (this.head === this.expected.length) throw new RogError('PROTOCOL', 'The server sent bytes that answer no request')
      const size = responseSize(buf, at, this.expected[this.head])
      if (size < 0 || at + size > buf.length) break
      out.push(parseResponse(buf.subarray(at, at + size), this.expected[this.head]))
      this.head++
      at += size
    }
    if (this.head > 1024 && this.head * 2 > this.expected.length) {
      this.expected.splice(0, this.head)
      this.head = 0
    }
    this.pending = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
    return out
  }
}

function responseSize (buf: Buffer, at: number, kind: Expect): number {
  const avail = buf.length - at
  if (avail < 1) return -1
  const status = buf[at]
  if (status === 1 || kind === 'message') {
    if (avail < 9) return -9
    return 9 + readU64(buf, at + 1)
  }
  if (status !== 0) throw new RogError('PROTOCOL', `Unexpected response status ${status}`)
  if (kind === 'ok') return 1
  if (avail < 5) return -5
  return 5 + buf.readUInt32BE(at + 1)
}

function parseResponse (buf: Buffer, kind: Expect): Response {
  if (buf[0] === 1) return { response: 'error', message: buf.toString('utf8', 9) }
  let at = 5
  switch (kind) {
    case 'ok': return { response: 'ok' }
    case 'message': return { response: 'message', data: buf.subarray(9) }
    case 'offset': return { response: 'offset', offset: readU64(buf, at) }
    case 'batch-published':
      return { response: 'batch-published', firstOffset: readU64(buf, at), count: buf.readUInt32BE(at + 8) }
    case 'messages': {
      const committedOffset = readU64(buf, at)
      const endOffset = readU64(buf, at + 8)
      const count = buf.readUInt32BE(at + 16)
      at += 20
      const messages = new Array<FetchedMessage>(count)
      for (let i = 0; i < count; i++) {
        const offset = readU64(buf, at)
        const size = buf.readUInt32BE(at + 8)
        messages[i] = { offset, data: buf.subarray(at + 12, at + 12 + size) }
        at += 12 + size
      }
      return { response: 'messages', committedOffset, endOffset, messages }
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

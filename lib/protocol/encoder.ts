import { Transform, type TransformCallback } from 'node:stream'
import type { Response } from './commands'
import { writeU32, writeU64 } from '../util/u64'

/**
 * Response bytes.
 *
 * Reference answers (PROTOCOL.md): `u8 0` for create/publish/ack;
 * `u8 0, u64 size, message` for fetch; `u8 1, u64 size, UTF-8 text` for any error.
 *
 * Answers to framed commands (4+) that succeed: `u8 0, u32 body size, body`:
 *
 * | response        | body                                                             |
 * |-----------------|------------------------------------------------------------------|
 * | offset          | u64 offset                                                       |
 * | batch-published | u64 first offset, u32 count                                      |
 * | messages        | u64 committed offset, u64 end offset, u32 count,                 |
 * |                 | count x (u64 offset, u32 size, bytes)                            |
 * | logs            | u32 count, count x (u8 name size, name, u8 partitions)           |
 * | log-info        | u8 name size, name, u8 partitions, per partition: u64 first,     |
 * |                 | u64 next, u32 groups, groups x (u16 size, group, u64 committed)  |
 * | version         | the server's version, UTF-8 (the rest of the body)               |
 * | done            | empty                                                            |
 * | messages, with  | u64 committed offset, u64 end offset, u64 first offset, u64      |
 * | fetch flag 2    | start offset, u32 count, count x (u64 offset, u64 timestamp,     |
 * |                 | u32 size, bytes)                                                 |
 * | log-details     | u8 name size, name, u8 flags (1: retention bytes set, 2:         |
 * |                 | retention ms set), u64 retention bytes, u64 retention ms, u8     |
 * |                 | partitions, per partition: u64 first, u64 end, u64 bytes, u32    |
 * |                 | groups, groups x (u16 size, group, u64 committed)                |
 * | json            | JSON text, UTF-8 (the rest of the body)                          |
 * | replica-data    | u32 header size, header (JSON), then whole segment entries as   |
 * |                 | stored (u64 id, u64 size, u32 crc32c, u64 timestamp, message)   |
 */
export function responseSize (r: Response): number {
  switch (r.response) {
    case 'ok': return 1
    case 'oks': return r.count
    case 'message': return 9 + r.data.length
    case 'error': return 9 + Buffer.byteLength(r.message)
    case 'offset': return 5 + 8
    case 'batch-published': return 5 + 12
    case 'messages': {
      const each = r.detail === undefined ? 12 : 20
      let size = 5 + 20 + (r.detail === undefined ? 0 : 16)
      for (const m of r.messages) size += each + m.data.length
      return size
    }
    case 'done': return 5
    case 'log-details': {
      let size = 5 + 2 + Buffer.byteLength(r.details.log) + 17
      for (const p of r.details.partitions) {
        size += 28
        for (const g of p.groups) size += 10 + Buffer.byteLength(g.group)
      }
      return size
    }
    case 'logs': {
      let size = 5 + 4
      for (const l of r.logs) size += 2 + Buffer.byteLength(l.log)
      return size
    }
    case 'version': return 5 + Buffer.byteLength(r.version)
    case 'json': return 5 + r.body.length
    case 'replica-data': {
      let size = 5 + 4 + r.header.length
      for (const m of r.messages) size += m.data.length
      return size
    }
    case 'log-info': {
      let size = 5 + 2 + Buffer.byteLength(r.log)
      for (const p of r.partitions) {
        size += 20
        for (const g of p.groups) size += 10 + Buffer.byteLength(g.group)
      }
      return size
    }
  }
}

/** Writes `r` at `at` in `buf` (which has `responseSize(r)` bytes there); returns the end. */
export function writeResponse (buf: Buffer, r: Response, at: number): number {
  switch (r.response) {
    case 'ok':
      buf[at] = 0
      return at + 1
    case 'oks':
      buf.fill(0, at, at + r.count)
      return at + r.count
    case 'message':
      buf[at] = 0
      at = writeU64(buf, r.data.length, at + 1)
      return at + r.data.copy(buf, at)
    case 'error': {
      buf[at] = 1
      const size = buf.write(r.message, at + 9)
      writeU64(buf, size, at + 1)
      return at + 9 + size
    }
  }
  const start = at
  buf[at] = 0
  at += 5
  switch (r.response) {
    case 'offset':
      at = writeU64(buf, r.offset, at)
      break
    case 'batch-published':
      at = writeU64(buf, r.firstOffset, at)
      at = writeU32(buf, r.count, at)
      break
    case 'messages':
      at = writeU64(buf, r.committedOffset, at)
      at = writeU64(buf, r.endOffset, at)
      if (r.detail !== undefined) {
        at = writeU64(buf, r.detail.firstOffset, at)
        at = writeU64(buf, r.detail.startOffset, at)
      }
      at = writeU32(buf, r.messages.length, at)
      for (const m of r.messages) {
        at = writeU64(buf, m.offset, at)
        if (r.detail !== undefined) at = writeU64(buf, m.timestamp ?? 0, at)
        at = writeU32(buf, m.data.length, at)
        at += m.data.copy(buf, at)
      }
      break
    case 'done':
      break
    case 'log-details': {
      const d = r.details
      at = writeShortString(buf, d.log, at)
      buf[at++] = (d.retentionBytes === null ? 0 : 1) | (d.retentionMs === null ? 0 : 2)
      at = writeU64(buf, d.retentionBytes ?? 0, at)
      at = writeU64(buf, d.retentionMs ?? 0, at)
      buf[at++] = d.partitions.length
      for (const p of d.partitions) {
        at = writeU64(buf, p.firstOffset, at)
        at = writeU64(buf, p.endOffset, at)
        at = writeU64(buf, p.bytes, at)
        at = writeGroups(buf, p.groups, at)
      }
      break
    }
    case 'logs':
      at = buf.writeUInt32BE(r.logs.length, at)
      for (const l of r.logs) {
        at = writeShortString(buf, l.log, at)
        buf[at++] = l.partitions
      }
      break
    case 'log-info':
      at = writeShortString(buf, r.log, at)
      buf[at++] = r.partitions.length
      for (const p of r.partitions) {
        at = writeU64(buf, p.firstOffset, at)
        at = writeU64(buf, p.nextOffset, at)
        at = writeGroups(buf, p.groups, at)
      }
      break
    case 'version':
      at += buf.write(r.version, at)
      break
    case 'json':
      at += r.body.copy(buf, at)
      break
    case 'replica-data':
      at = buf.writeUInt32BE(r.header.length, at)
      at += r.header.copy(buf, at)
      for (const m of r.messages) at += m.data.copy(buf, at)
      break
  }
  writeU32(buf, at - start - 5, start + 1)
  return at
}

/** `u32 count`, count x (`u16 size`, group, `u64 committed offset`). */
function writeGroups (buf: Buffer, groups: Array<{ group: string, offset: number }>, at: number): number {
  at = buf.writeUInt32BE(groups.length, at)
  for (const g of groups) {
    const size = buf.write(g.group, at + 2)
    buf.writeUInt16BE(size, at)
    at = writeU64(buf, g.offset, at + 2 + size)
  }
  return at
}

function writeShortString (buf: Buffer, s: string, at: number): number {
  const size = buf.write(s, at + 1)
  buf[at] = size
  return at + 1 + size
}

export function encodeResponses (responses: Response[]): Buffer {
  let size = 0
  for (const r of responses) size += responseSize(r)
  const buf = Buffer.allocUnsafe(size)
  let at = 0
  for (const r of responses) at = writeResponse(buf, r, at)
  return buf
}

/**
 * Encoder: a Transform from arrays of Response objects to bytes. Each array
 * becomes one Buffer, so every response reaches the socket in one write,
 * header and body together.
 */
export class Encoder extends Transform {
  constructor () {
    super({ writableObjectMode: true, writableHighWaterMark: 16, readableObjectMode: false })
  }

  override _transform (responses: Response[], _encoding: BufferEncoding, callback: TransformCallback): void {
    let bytes: Buffer
    try {
      bytes = encodeResponses(responses)
    } catch (err) {
      // A response that cannot be encoded is a bug; it ends this connection, never the server.
      return callback(err as Error)
    }
    callback(null, bytes)
  }
}

import { crc32c } from '@node-rs/crc32'
import { readU64, writeU64 } from '../util/u64'

/**
 * One message in a segment file:
 *
 * | field      | size     | meaning                                                 |
 * |------------|----------|---------------------------------------------------------|
 * | id         | u64      | the message id (offset)                                 |
 * | entry size | u64      | bytes of content that follow (12 + message)            |
 * | crc32c     | u32      | CRC-32C (Castagnoli) of id, entry size, timestamp and   |
 * |            |          | message: every byte of the entry but these four         |
 * | timestamp  | u64      | append time, milliseconds since the epoch               |
 * | message    | the rest | the message, opaque bytes                               |
 *
 * The first two fields are PROTOCOL.md's id/size framing; the content holds
 * the checksum and timestamp, as a Kafka record batch does.
 *
 * Segments written by Rog before 0.2 checksum only the timestamp and the
 * message ("legacy" entries). A segment is one or the other throughout: the
 * segment decides which from its first entry, and new segments are never
 * legacy.
 */
export const ENTRY_HEADER = 16
export const CONTENT_HEADER = 12
export const ENTRY_OVERHEAD = ENTRY_HEADER + CONTENT_HEADER
/** The largest message Rog accepts under any setting; recovery keeps every entry up to this size. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024
export const MAX_ENTRY_BYTES = ENTRY_OVERHEAD + MAX_MESSAGE_BYTES

export function entrySize (messageSize: number): number {
  return ENTRY_OVERHEAD + messageSize
}

/** The timestamp of one append, shared by its entries: its u64 as two u32 halves. */
export interface Stamp { high: number, low: number, ms: number }

export function stamp (timestamp: number): Stamp {
  return { high: Math.floor(timestamp / 0x1_0000_0000), low: timestamp >>> 0, ms: timestamp }
}

/**
 * Messages up to this size are checksummed in JS, in the same pass as the
 * timestamp; larger ones by the native crc32c, whose call costs about what
 * JS takes for 128 bytes (about 100 ns here).
 */
const JS_CRC_MAX = 128

export function writeEntry (buf: Buffer, at: number, id: number, stamp: Stamp, message: Buffer): number {
  writeU64(buf, id, at)
  writeU64(buf, CONTENT_HEADER + message.length, at + 8)
  buf.writeUInt32BE(stamp.high, at + 20)
  buf.writeUInt32BE(stamp.low, at + 24)
  const end = at + ENTRY_OVERHEAD + message.length
  buf.set(message, at + ENTRY_OVERHEAD)
  const head = crcJs(buf, at, at + 16, 0)
  const crc = message.length <= JS_CRC_MAX ? crcJs(buf, at + 20, end, head) : crc32c(message, crcJs(buf, at + 20, at + 28, head))
  buf.writeUInt32BE(crc, at + 16)
  return end
}

export interface EntryView {
  id: number
  /** Bytes of the whole entry, header included. */
  size: number
}

/**
 * The entry at `at` when its header is whole, or null. `size` may run past
 * the end of `buf`: the caller reads more.
 */
export function readEntryHeader (buf: Buffer, at: number): EntryView | null {
  if (buf.length - at < ENTRY_HEADER) return null
  return { id: readU64(buf, at), size: ENTRY_HEADER + readU64(buf, at + 8) }
}

/** Whether an entry header's size is one Rog could have written. */
export function plausibleSize (size: number): boolean {
  return size >= ENTRY_OVERHEAD && size <= MAX_ENTRY_BYTES
}

/** Whether the whole entry at `at` (of `size` bytes, all in `buf`) carries a valid checksum. */
export function entryIsIntact (buf: Buffer, at: number, size: number, legacy = false): boolean {
  if (!plausibleSize(size) || at + size > buf.length) return false
  const stored = buf.readUInt32BE(at + 16)
  if (legacy) return crc32c(buf.subarray(at + 20, at + size)) === stored
  const head = crcJs(buf, at, at + 16, 0)
  if (size - ENTRY_OVERHEAD <= JS_CRC_MAX) return crcJs(buf, at + 20, at + size, head) === stored
  return crc32c(buf.subarray(at + 28, at + size), crcJs(buf, at + 20, at + 28, head)) === stored
}

/** Which checksum the whole entry at `at` carries: 'current', 'legacy', or null when neither holds. */
export function entryFormat (buf: Buffer, at: number, size: number): 'current' | 'legacy' | null {
  if (entryIsIntact(buf, at, size)) return 'current'
  if (entryIsIntact(buf, at, size, true)) return 'legacy'
  return null
}

export function entryMessage (buf: Buffer, at: number, size: number): Buffer {
  return buf.subarray(at + ENTRY_OVERHEAD, at + size)
}

export function entryTimestamp (buf: Buffer, at: number): number {
  return readU64(buf, at + 20)
}

/** Slicing-by-8 tables of CRC-32C (Castagnoli, reflected polynomial 0x82f63b78). */
const TABLES = Array.from({ length: 8 }, () => new Int32Array(256))
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  TABLES[0][n] = c
}
for (let n = 0; n < 256; n++) {
  for (let t = 1; t < 8; t++) TABLES[t][n] = TABLES[0][TABLES[t - 1][n] & 0xff] ^ (TABLES[t - 1][n] >>> 8)
}
const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES

/** CRC-32C of buf[from, to), continuing `previous` as `crc32c(data, previous)` does. */
export function crcJs (buf: Buffer, from: number, to: number, previous: number): number {
  let c = ~previous
  let i = from
  for (; i + 8 <= to; i += 8) {
    const a = c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24))
    c = T7[a & 0xff] ^ T6[(a >>> 8) & 0xff] ^ T5[(a >>> 16) & 0xff] ^ T4[a >>> 24] ^
      T3[buf[i + 4]] ^ T2[buf[i + 5]] ^ T1[buf[i + 6]] ^ T0[buf[i + 7]]
  }
  for (; i < to; i++) c = T0[(c ^ buf[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

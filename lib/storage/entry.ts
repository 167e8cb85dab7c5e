import { crc32cView, viewOf } from '../util/crc32c'
import type { BufferViews } from '../util/buffer-views'
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

/** Writes one entry at `at`; `view` is viewOf(buf), made once by a caller writing many. */
export function writeEntry (buf: Buffer, at: number, id: number, stamp: Stamp, message: Buffer, view = viewOf(buf)): number {
  // Through the view, not buf.writeUInt32BE (see writeU64).
  writeU64(buf, id, at)
  writeU64(buf, CONTENT_HEADER + message.length, at + 8)
  view.setUint32(at + 20, stamp.high)
  view.setUint32(at + 24, stamp.low)
  const end = at + ENTRY_OVERHEAD + message.length
  buf.set(message, at + ENTRY_OVERHEAD)
  view.setUint32(at + 16, crc32cView(buf, view, at + 20, end, crc32cView(buf, view, at, at + 16)))
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

/**
 * Whether the whole entry at `at` (of `size` bytes, all in `buf`) carries a
 * valid checksum; `view` is viewOf(buf), made once by a caller checking many.
 */
export function entryIsIntact (buf: Buffer, at: number, size: number, legacy = false, view = viewOf(buf)): boolean {
  if (!plausibleSize(size) || at + size > buf.length) return false
  const stored = view.getUint32(at + 16)
  if (legacy) return crc32cView(buf, view, at + 20, at + size) === stored
  return crc32cView(buf, view, at + 20, at + size, crc32cView(buf, view, at, at + 16)) === stored
}

/** Which checksum the whole entry at `at` carries: 'current', 'legacy', or null when neither holds. */
export function entryFormat (buf: Buffer, at: number, size: number): 'current' | 'legacy' | null {
  const view = viewOf(buf)
  if (entryIsIntact(buf, at, size, false, view)) return 'current'
  if (entryIsIntact(buf, at, size, true, view)) return 'legacy'
  return null
}

/** The message of the entry at `at` (of `size` bytes), a view of the buffer `views` are of. */
export function entryMessage (views: BufferViews, at: number, size: number): Buffer {
  return views.view(at + ENTRY_OVERHEAD, at + size)
}

export function entryTimestamp (buf: Buffer, at: number): number {
  return readU64(buf, at + 20)
}

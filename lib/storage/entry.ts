import { crc32c } from '@node-rs/crc32'
import { readU64, writeU64 } from '../protocol/u64'

/**
 * One message in a segment file:
 *
 * | field      | size     | meaning                                        |
 * |------------|----------|------------------------------------------------|
 * | id         | u64      | the message id (offset)                        |
 * | entry size | u64      | bytes of content that follow (12 + message)   |
 * | crc32c     | u32      | CRC-32C (Castagnoli) of timestamp and message  |
 * | timestamp  | u64      | append time, milliseconds since the epoch      |
 * | message    | the rest | the message, opaque bytes                      |
 *
 * The first two fields are PROTOCOL.md's id/size framing; the content holds
 * the checksum and timestamp, as a Kafka record batch does.
 */
export const ENTRY_HEADER = 16
export const CONTENT_HEADER = 12
export const ENTRY_OVERHEAD = ENTRY_HEADER + CONTENT_HEADER

export function entrySize (messageSize: number): number {
  return ENTRY_OVERHEAD + messageSize
}

/** The timestamp field's bytes and their CRC-32C: shared by every entry of one append. */
export interface Stamp { bytes: Buffer, crc: number }

export function stamp (timestamp: number): Stamp {
  const bytes = Buffer.allocUnsafe(8)
  writeU64(bytes, timestamp, 0)
  return { bytes, crc: crc32c(bytes) }
}

export function writeEntry (buf: Buffer, at: number, id: number, stamp: Stamp, message: Buffer): number {
  writeU64(buf, id, at)
  writeU64(buf, CONTENT_HEADER + message.length, at + 8)
  buf.writeUInt32BE(crc32c(message, stamp.crc), at + 16)
  stamp.bytes.copy(buf, at + 20)
  return at + ENTRY_OVERHEAD + message.copy(buf, at + ENTRY_OVERHEAD)
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

/** Whether the whole entry at `at` (of `size` bytes, all in `buf`) carries a valid checksum. */
export function entryIsIntact (buf: Buffer, at: number, size: number): boolean {
  if (size < ENTRY_OVERHEAD) return false
  return crc32c(buf.subarray(at + 20, at + size)) === buf.readUInt32BE(at + 16)
}

export function entryMessage (buf: Buffer, at: number, size: number): Buffer {
  return buf.subarray(at + ENTRY_OVERHEAD, at + size)
}


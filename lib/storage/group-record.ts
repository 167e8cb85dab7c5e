import { crc32c } from '@node-rs/crc32'
import { writeU64 } from '../protocol/u64'

/**
 * One record of a partition's `groups.offsets` journal, laid out as the
 * byte table in group-offsets.ts says: crc32c u32 over the rest, group size
 * u16, group (UTF-8), offset u64, all big-endian.
 */
export function encodeGroupRecord (group: string, offset: number): Buffer {
  const size = Buffer.byteLength(group)
  const buf = Buffer.allocUnsafe(4 + 2 + size + 8)
  buf.writeUInt16BE(size, 4)
  buf.write(group, 6)
  writeU64(buf, offset, 6 + size)
  buf.writeUInt32BE(crc32c(buf.subarray(4)), 0)
  return buf
}

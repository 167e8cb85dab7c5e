/**
 * u64 fields as JS numbers. Offsets and sizes stay below 2^53; a value at or
 * above it reads as Infinity so that every limit check rejects it.
 */
const TWO_32 = 0x1_0000_0000
const MAX_HIGH = 0x1f_ffff

export function readU64 (buf: Buffer, at: number): number {
  const high = buf.readUInt32BE(at)
  if (high > MAX_HIGH) return Infinity
  return high * TWO_32 + buf.readUInt32BE(at + 4)
}

export function writeU64 (buf: Buffer, value: number, at: number): number {
  buf.writeUInt32BE(Math.floor(value / TWO_32), at)
  buf.writeUInt32BE(value >>> 0, at + 4)
  return at + 8
}

/**
 * u64 fields as JS numbers. Offsets and sizes stay below 2^53; a value at or
 * above it reads as Infinity so that every limit check rejects it.
 */
const TWO_32 = 0x1_0000_0000
const MAX_HIGH = 0x1f_ffff

export function readU64 (buf: Uint8Array, at: number): number {
  // Byte loads, not readUInt32BE: this runs several times per message read, where the method's load and call cost more than the arithmetic.
  if (!(at >= 0 && at + 8 <= buf.length)) throw new RangeError(`u64 at ${at} is outside a buffer of ${buf.length} bytes`)
  const high = buf[at] * 0x100_0000 + ((buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3])
  if (high > MAX_HIGH) return Infinity
  return high * TWO_32 + buf[at + 4] * 0x100_0000 + ((buf[at + 5] << 16) | (buf[at + 6] << 8) | buf[at + 7])
}

export function writeU64 (buf: Buffer, value: number, at: number): number {
  buf.writeUInt32BE(Math.floor(value / TWO_32), at)
  buf.writeUInt32BE(value >>> 0, at + 4)
  return at + 8
}

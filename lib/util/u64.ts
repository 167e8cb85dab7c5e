/**
 * u64 fields as JS numbers. Offsets and sizes stay below 2^53; a value at or
 * above it reads as Infinity so that every limit check rejects it.
 */
const TWO_32 = 0x1_0000_0000
const TWO_64 = 2 ** 64
const MAX_HIGH = 0x1f_ffff

export function readU64 (buf: Uint8Array, at: number): number {
  // Byte loads, not readUInt32BE: this runs several times per message read, where the method's load and call cost more than the arithmetic.
  if (!(at >= 0 && at + 8 <= buf.length)) throw new RangeError(`u64 at ${at} is outside a buffer of ${buf.length} bytes`)
  const high = loadU32(buf, at)
  if (high > MAX_HIGH) return Infinity
  return high * TWO_32 + loadU32(buf, at + 4)
}

export function writeU64 (buf: Uint8Array, value: number, at: number): number {
  // Byte stores, not writeUInt32BE: optimized code loads that method through a generic inline cache (about 25 ns a call here).
  // The field's bounds and the value are checked before either half is written: a u64 that does not fit writes nothing.
  if (!(at >= 0 && at + 8 <= buf.length)) throw new RangeError(`u64 at ${at} is outside a buffer of ${buf.length} bytes`)
  if (!(value >= 0 && value < TWO_64)) throw new RangeError(`${value} is outside the range of a u64`)
  storeU32(buf, Math.floor(value / TWO_32), at)
  storeU32(buf, value >>> 0, at + 4)
  return at + 8
}

/** A big-endian u32 at `at`, by byte loads (see writeU64). */
export function readU32 (buf: Uint8Array, at: number): number {
  if (!(at >= 0 && at + 4 <= buf.length)) throw new RangeError(`u32 at ${at} is outside a buffer of ${buf.length} bytes`)
  return loadU32(buf, at)
}

/** A big-endian u16 at `at`, by byte loads. */
export function readU16 (buf: Uint8Array, at: number): number {
  if (!(at >= 0 && at + 2 <= buf.length)) throw new RangeError(`u16 at ${at} is outside a buffer of ${buf.length} bytes`)
  return (buf[at] << 8) | buf[at + 1]
}

/** Writes a big-endian u32 at `at` by byte stores (see writeU64); returns the position after it. */
export function writeU32 (buf: Uint8Array, value: number, at: number): number {
  if (!(at >= 0 && at + 4 <= buf.length)) throw new RangeError(`u32 at ${at} is outside a buffer of ${buf.length} bytes`)
  if (!(value >= 0 && value <= 0xffff_ffff)) throw new RangeError(`${value} is outside the range of a u32`)
  storeU32(buf, value, at)
  return at + 4
}

/** The u32 at `at`, which the caller checked lies in `buf`. */
function loadU32 (buf: Uint8Array, at: number): number {
  return buf[at] * 0x100_0000 + ((buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3])
}

/** Stores `value` (a u32 the caller checked) at `at`, which the caller checked lies in `buf`. */
function storeU32 (buf: Uint8Array, value: number, at: number): void {
  buf[at] = value >>> 24
  buf[at + 1] = value >>> 16
  buf[at + 2] = value >>> 8
  buf[at + 3] = value
}

import { crc32c as nativeCrc32c } from '@node-rs/crc32'

/**
 * CRC-32C (Castagnoli) of buf[from, to), continuing `previous` (0 to
 * start). Ranges up to JS_MAX bytes are computed in JS: the native call
 * costs about what JS takes for 400 bytes (about 200 ns here with its
 * subarray), and the entry of a small message, a group record or a journal
 * record is far smaller.
 */
export function crc32c (buf: Buffer, from = 0, to = buf.length, previous = 0): number {
  return crc32cView(buf, null, from, to, previous)
}

/**
 * crc32c of buf[from, to) through `view`, which is viewOf(buf) (null: made
 * here, when the range is computed in JS): a caller that checks or writes
 * many entries in one buffer makes the view once.
 */
export function crc32cView (buf: Buffer, view: DataView | null, from: number, to: number, previous = 0): number {
  if (to - from > JS_MAX) return nativeCrc32c(buf.subarray(from, to), previous)
  // A range shorter than a view costs to make (a group record's offset, after its cached name) is read byte by byte.
  return view === null && to - from < BYTEWISE_BELOW ? crcBytes(buf, from, to, previous) : crcJs(view ?? viewOf(buf), from, to, previous)
}

/** A DataView of exactly the bytes of `buf` (its indices are buf's). */
export function viewOf (buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
}

const JS_MAX = 384
const BYTEWISE_BELOW = 16

/** Slicing-by-16 tables of CRC-32C (Castagnoli, reflected polynomial 0x82f63b78). */
const TABLES = Array.from({ length: 16 }, () => new Int32Array(256))
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  TABLES[0][n] = c
}
for (let n = 0; n < 256; n++) {
  for (let t = 1; t < 16; t++) TABLES[t][n] = TABLES[0][TABLES[t - 1][n] & 0xff] ^ (TABLES[t - 1][n] >>> 8)
}
const [T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15] = TABLES

/**
 * The JS half of crc32c over view[from, to), exported for the test that
 * holds it to the native one. Reads four bytes at a time through the
 * DataView (little-endian, as the reflected CRC consumes them): about twice
 * as fast as loading each byte of a Buffer.
 */
export function crcJs (view: DataView, from: number, to: number, previous: number): number {
  let c = ~previous
  let i = from
  for (; i + 16 <= to; i += 16) {
    const a = c ^ view.getInt32(i, true)
    const b = view.getInt32(i + 4, true)
    const d = view.getInt32(i + 8, true)
    const e = view.getInt32(i + 12, true)
    c = T15[a & 0xff] ^ T14[(a >>> 8) & 0xff] ^ T13[(a >>> 16) & 0xff] ^ T12[a >>> 24] ^
      T11[b & 0xff] ^ T10[(b >>> 8) & 0xff] ^ T9[(b >>> 16) & 0xff] ^ T8[b >>> 24] ^
      T7[d & 0xff] ^ T6[(d >>> 8) & 0xff] ^ T5[(d >>> 16) & 0xff] ^ T4[d >>> 24] ^
      T3[e & 0xff] ^ T2[(e >>> 8) & 0xff] ^ T1[(e >>> 16) & 0xff] ^ T0[e >>> 24]
  }
  if (i + 8 <= to) {
    const a = c ^ view.getInt32(i, true)
    const b = view.getInt32(i + 4, true)
    c = T7[a & 0xff] ^ T6[(a >>> 8) & 0xff] ^ T5[(a >>> 16) & 0xff] ^ T4[a >>> 24] ^
      T3[b & 0xff] ^ T2[(b >>> 8) & 0xff] ^ T1[(b >>> 16) & 0xff] ^ T0[b >>> 24]
    i += 8
  }
  for (; i < to; i++) c = T0[(c ^ view.getUint8(i)) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

/** crcJs over buf[from, to) one byte at a time, without a view; exported for the same test. */
export function crcBytes (buf: Buffer, from: number, to: number, previous: number): number {
  if (!(from >= 0 && from <= to && to <= buf.length)) throw new RangeError(`range ${from} to ${to} is outside a buffer of ${buf.length} bytes`)
  let c = ~previous
  for (let i = from; i < to; i++) c = T0[(c ^ buf[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

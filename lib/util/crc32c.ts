import { crc32c as nativeCrc32c } from '@node-rs/crc32'

/**
 * CRC-32C (Castagnoli) of buf[from, to), continuing `previous` (0 to
 * start). Ranges up to JS_MAX bytes are computed in JS: the native call
 * costs about what JS takes for 128 bytes (about 100 ns here), and the
 * entry of a small message, a group record or a journal record is that
 * small.
 */
export function crc32c (buf: Buffer, from = 0, to = buf.length, previous = 0): number {
  return to - from <= JS_MAX ? crcJs(buf, from, to, previous) : nativeCrc32c(buf.subarray(from, to), previous)
}

const JS_MAX = 160

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

/** The JS half of crc32c, exported for the test that holds it to the native one. */
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

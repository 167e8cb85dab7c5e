import t from 'tap'
import fc from 'fast-check'
import { crc32c as nativeCrc32c } from '@node-rs/crc32'
import { crc32c, crc32cView, crcBytes, crcJs, viewOf } from '../../lib/util/crc32c'

t.test('the JS CRC-32C continues exactly as the native one', async () => {
  // Lengths through every path of the loop (16 at a time, 8, single bytes), in a Buffer that starts anywhere in its ArrayBuffer.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 8 }), fc.nat({ max: 7 }), (bytes, previous, skip, lead) => {
    const buf = Buffer.concat([Buffer.alloc(lead), Buffer.from(bytes)]).subarray(lead)
    const from = Math.min(skip, buf.length)
    const native = nativeCrc32c(buf.subarray(from), previous)
    return crcJs(viewOf(buf), from, buf.length, previous) === native && crcBytes(buf, from, buf.length, previous) === native
  }), { numRuns: 1000 })
})

t.test('crc32c of a range, below and above the size computed in JS, is the native CRC of those bytes', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1000 }), fc.nat({ max: 0xffffffff }), fc.nat(), fc.nat(), (bytes, previous, a, b) => {
    const buf = Buffer.from(bytes)
    const from = buf.length === 0 ? 0 : a % (buf.length + 1)
    const to = from + (buf.length === 0 ? 0 : b % (buf.length - from + 1))
    const native = nativeCrc32c(buf.subarray(from, to), previous)
    return crc32c(buf, from, to, previous) === native && crc32cView(buf, viewOf(buf), from, to, previous) === native
  }), { numRuns: 500 })
  const big = Buffer.alloc(4096, 0xa5)
  t.equal(crc32c(big), nativeCrc32c(big), 'the whole buffer by default')
  t.equal(crc32c(big, 10), nativeCrc32c(big.subarray(10)), 'to the end by default')
})

t.test('a range past the end of the buffer is an error, not a checksum of what lies beyond it', async (t) => {
  const pool = Buffer.alloc(64, 1)
  const buf = pool.subarray(8, 24)
  t.throws(() => crc32c(buf, 0, 20), RangeError)
  t.throws(() => crcJs(viewOf(buf), 4, 17, 0), RangeError)
  t.throws(() => crc32c(buf, 10, 17), RangeError, 'also a range short enough to be read byte by byte')
  t.throws(() => crcBytes(buf, 4, 17, 0), RangeError)
  t.throws(() => crcBytes(buf, -1, 4, 0), RangeError)
})

import t from 'tap'
import fc from 'fast-check'
import { crc32c as nativeCrc32c } from '@node-rs/crc32'
import { crc32c, crcJs } from '../../lib/util/crc32c'

t.test('the JS CRC-32C continues exactly as the native one', async () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 8 }), (bytes, previous, skip) => {
    const buf = Buffer.from(bytes)
    const from = Math.min(skip, buf.length)
    return crcJs(buf, from, buf.length, previous) === nativeCrc32c(buf.subarray(from), previous)
  }), { numRuns: 500 })
})

t.test('crc32c of a range, below and above the size computed in JS, is the native CRC of those bytes', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat({ max: 0xffffffff }), fc.nat(), fc.nat(), (bytes, previous, a, b) => {
    const buf = Buffer.from(bytes)
    const from = buf.length === 0 ? 0 : a % (buf.length + 1)
    const to = from + (buf.length === 0 ? 0 : b % (buf.length - from + 1))
    return crc32c(buf, from, to, previous) === nativeCrc32c(buf.subarray(from, to), previous)
  }), { numRuns: 500 })
  const big = Buffer.alloc(4096, 0xa5)
  t.equal(crc32c(big), nativeCrc32c(big), 'the whole buffer by default')
  t.equal(crc32c(big, 10), nativeCrc32c(big.subarray(10)), 'to the end by default')
})

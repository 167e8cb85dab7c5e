import t from 'tap'
import fc from 'fast-check'
import { readU64, writeU64 } from '../../lib/util/u64'

t.test('a u64 reads back as written, at any position, up to 2^53 - 1', async () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: 9 }), (value, at) => {
    const buf = Buffer.alloc(at + 8 + 3, 0xff)
    writeU64(buf, value, at)
    return readU64(buf, at) === value && buf.readBigUInt64BE(at) === BigInt(value)
  }), { numRuns: 1000 })
})

t.test('a u64 of 2^53 or more reads as Infinity, so every limit check refuses it', async (t) => {
  const buf = Buffer.alloc(8)
  buf.writeBigUInt64BE(2n ** 53n - 1n)
  t.equal(readU64(buf, 0), Number.MAX_SAFE_INTEGER)
  buf.writeBigUInt64BE(2n ** 53n)
  t.equal(readU64(buf, 0), Infinity)
  buf.writeBigUInt64BE(2n ** 64n - 1n)
  t.equal(readU64(buf, 0), Infinity)
})

t.test('a u64 that does not fit in the buffer is an error, not NaN', async (t) => {
  const buf = Buffer.alloc(16).subarray(4, 12)
  t.equal(readU64(buf, 0), 0)
  t.throws(() => readU64(buf, 1), RangeError)
  t.throws(() => readU64(buf, -1), RangeError)
  t.throws(() => readU64(Buffer.alloc(7), 0), RangeError)
})

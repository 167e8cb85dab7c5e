import t from 'tap'
import fc from 'fast-check'
import { readU16, readU32, readU64, writeU32, writeU64 } from '../../lib/util/u64'

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

t.test('writing a u64 outside the buffer or outside the range of a u64 is an error, and writes nothing', async (t) => {
  const buf = Buffer.alloc(16, 0xaa).subarray(4, 12)
  t.throws(() => writeU64(buf, 1, 1), RangeError)
  t.throws(() => writeU64(buf, 1, -1), RangeError)
  t.throws(() => writeU64(buf, -1, 0), RangeError)
  t.throws(() => writeU64(buf, 2 ** 64, 0), RangeError)
  t.throws(() => writeU64(buf, NaN, 0), RangeError)
  t.ok(buf.every((b) => b === 0xaa), 'nothing written')
  writeU64(buf, 2 ** 64 - 2 ** 11, 0)
  t.equal(buf.readBigUInt64BE(0), 2n ** 64n - 2n ** 11n, 'the largest u64 a number holds')
})

t.test('a u32 and a u16 read as Buffer reads them, and outside the buffer are an error', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 4, maxLength: 12 }), fc.nat({ max: 8 }), (bytes, skip) => {
    const buf = Buffer.from(bytes)
    const at = Math.min(skip, buf.length - 4)
    return readU32(buf, at) === buf.readUInt32BE(at) && readU16(buf, at) === buf.readUInt16BE(at)
  }), { numRuns: 500 })
  const buf = Buffer.alloc(16).subarray(4, 8)
  t.throws(() => readU32(buf, 1), RangeError)
  t.throws(() => readU32(buf, -1), RangeError)
  t.throws(() => readU16(buf, 3), RangeError)
  t.equal(readU16(buf, 2), 0)
})

t.test('a u32 reads back as Buffer writes it; outside the buffer or the range of a u32 it is an error, and writes nothing', async (t) => {
  fc.assert(fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 5 }), (value, at) => {
    const buf = Buffer.alloc(at + 4 + 2, 0xff)
    const end = writeU32(buf, value, at)
    return end === at + 4 && buf.readUInt32BE(at) === value && readU32(buf, at) === value && buf[at + 4] === 0xff && (at === 0 || buf[at - 1] === 0xff)
  }), { numRuns: 500 })
  const buf = Buffer.alloc(12, 0xaa).subarray(4, 8)
  t.throws(() => writeU32(buf, 1, 1), RangeError)
  t.throws(() => writeU32(buf, 2 ** 32, 0), RangeError)
  t.throws(() => writeU32(buf, -1, 0), RangeError)
  t.ok(buf.every((b) => b === 0xaa), 'nothing written')
})

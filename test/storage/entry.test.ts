import t from 'tap'
import fc from 'fast-check'
import { crc32c } from '@node-rs/crc32'
import { entryFormat, entryIsIntact, entryMessage, entrySize, entryTimestamp, MAX_ENTRY_BYTES, plausibleSize, readEntryHeader, stamp, writeEntry } from '../../lib/storage/entry'
import { BufferViews } from '../../lib/util/buffer-views'

t.test('an entry\'s checksum covers its id, size, timestamp and message', async (t) => {
  const message = Buffer.from('hello, rog')
  const buf = Buffer.alloc(entrySize(message.length))
  t.equal(writeEntry(buf, 0, 42, stamp(1_700_000_000_123), message), buf.length)
  t.same(readEntryHeader(buf, 0), { id: 42, size: buf.length })
  t.ok(entryIsIntact(buf, 0, buf.length))
  t.equal(entryFormat(buf, 0, buf.length), 'current')
  t.ok(entryMessage(new BufferViews(buf), 0, buf.length).equals(message))
  t.equal(entryTimestamp(buf, 0), 1_700_000_000_123)
  for (let byte = 0; byte < buf.length; byte++) {
    const damaged = Buffer.from(buf)
    damaged[byte] ^= 0x01
    const size = readEntryHeader(damaged, 0)?.size ?? 0
    if (entryIsIntact(damaged, 0, size)) t.fail(`a flipped bit in byte ${byte} went unnoticed`)
  }
  t.pass('every single-bit flip is caught')
})

t.test('small and large messages carry the same checksum: CRC-32C of the entry but its four checksum bytes', async (t) => {
  // A small entry is checksummed in JS, a large one natively: both must agree with the definition.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat({ max: 2 ** 40 }), fc.nat({ max: 2 ** 45 }), (bytes, id, ms) => {
    const message = Buffer.from(bytes)
    const buf = Buffer.alloc(entrySize(message.length))
    writeEntry(buf, 0, id, stamp(ms), message)
    const expected = crc32c(Buffer.concat([buf.subarray(0, 16), buf.subarray(20)]))
    return buf.readUInt32BE(16) === expected && entryIsIntact(buf, 0, buf.length) && entryTimestamp(buf, 0) === ms && entryMessage(new BufferViews(buf), 0, buf.length).equals(message)
  }), { numRuns: 300 })
  for (const length of [128, 129, 1000]) {
    const buf = Buffer.alloc(entrySize(length))
    writeEntry(buf, 0, 1, stamp(2), Buffer.alloc(length, 7))
    buf[buf.length - 1] ^= 0x80
    t.notOk(entryIsIntact(buf, 0, buf.length), `a flipped bit at the end of a ${length}-byte message is caught`)
  }
})

t.test('legacy entries (checksum of timestamp and message only) are recognised as such', async (t) => {
  const message = Buffer.from('old')
  const buf = Buffer.alloc(entrySize(message.length))
  writeEntry(buf, 0, 7, stamp(5), message)
  buf.writeUInt32BE(crc32c(buf.subarray(20)), 16)
  t.equal(entryFormat(buf, 0, buf.length), 'legacy')
  t.ok(entryIsIntact(buf, 0, buf.length, true))
  t.notOk(entryIsIntact(buf, 0, buf.length))
})

t.test('the largest entry recovery keeps is the largest message plus the entry overhead', async (t) => {
  t.ok(plausibleSize(MAX_ENTRY_BYTES))
  t.notOk(plausibleSize(MAX_ENTRY_BYTES + 1))
  t.notOk(plausibleSize(entrySize(0) - 1))
})

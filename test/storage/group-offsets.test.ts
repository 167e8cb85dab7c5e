import t from 'tap'
import fc from 'fast-check'
import { FilePool } from '../../lib/storage/data-file'
import { nodeFileIo } from '../../lib/storage/file-io'
import { GroupOffsets, encodeRecord, parseJournal } from '../../lib/storage/group-offsets'

t.test('an update\'s record is the record encoded whole, for any group and offset, however many groups commit', async (t) => {
  const journal = GroupOffsets.open(t.testdir(), new FilePool(nodeFileIo), () => {})
  t.teardown(() => journal.close())
  // More groups than the cache of record prefixes holds (so that it is emptied and filled again), and names too long to be cached.
  const groups = fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), fc.string({ minLength: 120, maxLength: 200 }), fc.integer({ min: 0, max: 9_999 }).map((n) => `group-${n}`))
  fc.assert(fc.property(fc.array(fc.tuple(groups, fc.maxSafeNat()), { minLength: 1, maxLength: 200 }), (updates) => {
    const records = updates.map(([group, offset]) => journal.set(group, offset))
    const expected = new Map<string, number>()
    for (const [group, offset] of updates) expected.set(group, offset)
    const parsed = new Map<string, number>()
    const { damage, tail } = parseJournal(Buffer.concat(records), parsed)
    return records.every((r, i) => r.equals(encodeRecord(updates[i][0], updates[i][1]))) &&
      damage.length === 0 && tail === 0 && [...expected].every(([g, o]) => parsed.get(g) === o)
  }), { numRuns: 300 })
  const cached = (journal as unknown as { prefixes: Map<string, unknown> }).prefixes
  t.ok(cached.size > 0 && cached.size <= 256, `the cache holds at most 256 groups (${cached.size})`)
  t.ok([...cached.keys()].every((g) => Buffer.byteLength(g) <= 128), 'and only names of up to 128 bytes')
})

t.test('a queued record reset to another offset is the record that offset encodes, and the pending view follows it', async (t) => {
  const journal = GroupOffsets.open(t.testdir(), new FilePool(nodeFileIo), () => {})
  t.teardown(() => journal.close())
  // Names too long to be cached, and more groups than the cache holds (so a record's prefix may be gone by its reset).
  const groups = fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), fc.string({ minLength: 120, maxLength: 200 }), fc.integer({ min: 0, max: 9_999 }).map((n) => `group-${n}`))
  fc.assert(fc.property(fc.array(fc.tuple(groups, fc.maxSafeNat(), fc.maxSafeNat()), { minLength: 1, maxLength: 300 }), (updates) => {
    const records = updates.map(([group, offset]) => journal.set(group, offset))
    updates.forEach(([group, , later], i) => journal.reset(records[i], group, later))
    return records.every((r, i) => r.equals(encodeRecord(updates[i][0], updates[i][2]))) &&
      journal.pending(updates[updates.length - 1][0]) === updates[updates.length - 1][2]
  }), { numRuns: 200 })
})

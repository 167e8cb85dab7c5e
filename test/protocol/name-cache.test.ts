import t from 'tap'
import fc from 'fast-check'
import { NameCache } from '../../lib/protocol/name-cache'
import { BufferViews } from '../../lib/util/buffer-views'

t.test('a name is the text of its bytes, whichever names came before it', async () => {
  const cache = new NameCache()
  // Few distinct names of like lengths, so that repeats, same-length changes and prefixes all occur;
  // the long ones differ in a single byte, in the first four, a middle four or the bytes after the last four.
  const name = fc.constantFrom('a', 'b', 'ab', 'ba', 'é', 'e\u0301', '日本', 'g-1', 'g-2', '', 'g-3', 'g-4', 'g-5', 'g-6', 'g-7', 'g-8', 'g-9',
    'orders-2026-1', 'orders-2026-2', 'Orders-2026-1', 'orders-2025-1', 'orders-2026-', 'orders-2026-10', 'abcd', 'abce', 'bbcd', 'abcdefgh', 'abcdefgi')
  fc.assert(fc.property(fc.array(fc.tuple(name, fc.nat({ max: 5 })), { minLength: 1, maxLength: 50 }), (names) => {
    return names.every(([n, lead]) => {
      const buf = Buffer.concat([Buffer.alloc(lead, 0x61), Buffer.from(n), Buffer.from('tail')])
      return cache.get(new BufferViews(buf), lead, lead + Buffer.byteLength(n)) === n
    })
  }), { numRuns: 1000 })
})

t.test('a range outside the buffer is refused', async (t) => {
  const cache = new NameCache()
  const views = new BufferViews(Buffer.from('x-orders-y').subarray(2, 8))
  t.equal(cache.get(views, 0, 6), 'orders')
  t.throws(() => cache.get(views, 2, 7), RangeError)
  t.throws(() => cache.get(views, -1, 3), RangeError)
})

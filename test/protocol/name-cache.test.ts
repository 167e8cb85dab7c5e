import t from 'tap'
import fc from 'fast-check'
import { NameCache } from '../../lib/protocol/name-cache'

t.test('a name is the text of its bytes, whichever names came before it', async () => {
  const cache = new NameCache()
  // Few distinct names of like lengths, so that repeats, same-length changes and prefixes all occur.
  const name = fc.constantFrom('a', 'b', 'ab', 'ba', 'é', 'e\u0301', '日本', 'g-1', 'g-2', '', 'g-3', 'g-4', 'g-5', 'g-6', 'g-7', 'g-8', 'g-9')
  fc.assert(fc.property(fc.array(fc.tuple(name, fc.nat({ max: 5 })), { minLength: 1, maxLength: 50 }), (names) => {
    return names.every(([n, lead]) => {
      const buf = Buffer.concat([Buffer.alloc(lead, 0x61), Buffer.from(n), Buffer.from('tail')])
      return cache.get(buf, lead, lead + Buffer.byteLength(n)) === n
    })
  }), { numRuns: 500 })
})

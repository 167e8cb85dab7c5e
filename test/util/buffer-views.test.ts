import t from 'tap'
import fc from 'fast-check'
import { BufferViews } from '../../lib/util/buffer-views'

t.test('a view is what subarray gives: the same bytes, shared, as a Buffer', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), fc.nat({ max: 40 }), (bytes, x, y, pad) => {
    // Small Buffer.from results are parts of a shared pool: a byteOffset other than 0, and bytes of others after them.
    const pooled = Buffer.from(bytes)
    const inner = Buffer.concat([Buffer.alloc(pad, 0xee), pooled, Buffer.alloc(pad, 0xee)]).subarray(pad, pad + bytes.length)
    for (const buf of [pooled, inner]) {
      const start = x % (buf.length + 1)
      const end = start + y % (buf.length - start + 1)
      const view = new BufferViews(buf).view(start, end)
      if (!Buffer.isBuffer(view) || !view.equals(buf.subarray(start, end))) return false
      if (view.buffer !== buf.buffer || view.byteOffset !== buf.byteOffset + start) return false
      if (view.length > 0) {
        view[0] ^= 0xff
        const shared = buf[start] === view[0]
        view[0] ^= 0xff
        if (!shared) return false
      }
    }
    return true
  }), { numRuns: 500 })
})

t.test('a range outside the buffer is refused, also where its ArrayBuffer goes on', async (t) => {
  const whole = Buffer.alloc(64, 1)
  const views = new BufferViews(whole.subarray(8, 24))
  t.equal(views.length, 16)
  t.equal(views.view(0, 16).length, 16)
  t.equal(views.view(16, 16).length, 0)
  for (const [start, end] of [[0, 17], [-1, 4], [5, 4], [16, 40], [Number.NaN, 2], [0, Number.NaN]]) {
    t.throws(() => views.view(start, end), RangeError, `${start} to ${end}`)
  }
})

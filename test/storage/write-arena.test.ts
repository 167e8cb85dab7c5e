import t from 'tap'
import fc from 'fast-check'
import { SLAB_BYTES, WriteArena } from '../../lib/storage/write-arena'

/** Slabs this small fill, retire and come back as spares within a few steps. */
const SMALL_SLAB = 256
const LARGEST_CARVED = SMALL_SLAB / 4

type Op = { op: 'take', bytes: number } | { op: 'release', pick: number } | { op: 'release-again', pick: number } | { op: 'release-foreign' }

const sizes = fc.oneof(
  fc.integer({ min: 1, max: 8 }),
  fc.integer({ min: 1, max: LARGEST_CARVED }),
  fc.integer({ min: LARGEST_CARVED - 8, max: LARGEST_CARVED + 8 })
)
const ops: fc.Arbitrary<Op[]> = fc.array(fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('take' as const), bytes: sizes }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat() }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('release-again' as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('release-foreign' as const) }), weight: 1 }
), { maxLength: 300, size: 'max' })

t.test('a leased buffer keeps its bytes until it is released, whatever is taken and released meanwhile', async () => {
  fc.assert(fc.property(ops, (plan) => {
    const arena = new WriteArena(SMALL_SLAB)
    const held: Array<{ buf: Buffer, fill: number }> = []
    const released: Buffer[] = []
    let next = 0
    for (const step of plan) {
      if (step.op === 'take') {
        const buf = arena.take(step.bytes)
        if (buf.length !== step.bytes) return false
        const fill = next++ % 251
        buf.fill(fill)
        held.push({ buf, fill })
      } else if (step.op === 'release' && held.length > 0) {
        const [{ buf }] = held.splice(step.pick % held.length, 1)
        arena.release(buf)
        released.push(buf)
      } else if (step.op === 'release-again' && released.length > 0) {
        arena.release(released[step.pick % released.length])
      } else if (step.op === 'release-foreign') {
        arena.release(Buffer.alloc(16))
      }
      // The invariant: no byte of a buffer still held was handed out again.
      for (const h of held) if (!h.buf.every((b) => b === h.fill)) return false
    }
    return true
  }), { numRuns: 1000 })
})

t.test('a steady producer reuses one slab; a lease never released only costs a new slab', async (t) => {
  const arena = new WriteArena()
  const first = arena.take(8448)
  const slab = first.buffer
  arena.release(first)
  for (let i = 0; i < 1000; i++) {
    const buf = arena.take(8448)
    t.equal(buf.buffer, slab, 'bursts written one by one share the slab')
    arena.release(buf)
    if (buf.buffer !== slab) break
  }
  t.equal(arena.leasedBuffers, 0)

  const kept = arena.take(100)
  kept.fill(7)
  let moved = false
  for (let i = 0; i < (2 * SLAB_BYTES) / 8448 && !moved; i++) {
    const buf = arena.take(8448)
    moved = buf.buffer !== slab
    arena.release(buf)
  }
  t.ok(moved, 'a slab with a lease still held is not started again from its beginning')
  t.ok(kept.every((b) => b === 7), 'and the held bytes are intact')
  arena.release(kept)
  t.equal(arena.leasedBuffers, 0)
})

t.test('a buffer larger than a quarter slab is its own', async (t) => {
  const arena = new WriteArena()
  const big = arena.take(arena.largestCarved + 1)
  t.equal(big.length, arena.largestCarved + 1)
  t.equal(big.byteOffset, 0)
  t.equal(arena.leasedBuffers, 0, 'not leased: nothing to release')
})

import t from 'tap'
import { RepeatLimiter } from '../../lib/util/repeat-limiter'
import { waitFor } from '../helpers/wait'

t.test('a key is logged once per window; the repeats in it are counted, and said with the next line', async (t) => {
  const lines: string[] = []
  let now = 1000
  const limiter = new RepeatLimiter((l) => lines.push(l), { windowMs: 10_000, now: () => now })
  t.teardown(() => limiter.flush())
  for (let i = 0; i < 1000; i++) limiter.say('write a', `a: failed ${i}`)
  limiter.say('write b', 'b: failed')
  t.same(lines, ['a: failed 0', 'b: failed'], 'the first of each key only')
  now += 10_000
  limiter.say('write a', 'a: failed again')
  t.equal(lines.length, 3)
  t.match(lines[2], /^a: failed again \(and 999 more like it in the 10 s before/)
  limiter.say('write a', 'a: once more')
  t.equal(lines.length, 3, 'a new window began with that line')
  limiter.flush()
  t.match(lines[3], /^a: once more \(1 more like it in 0.0 s/, 'flush says what was counted')
  limiter.flush()
  t.equal(lines.length, 4, 'and forgets it')
})

t.test('when the repeats stop, their count is logged once the window ends', async (t) => {
  const lines: string[] = []
  const limiter = new RepeatLimiter((l) => lines.push(l), { windowMs: 30 })
  t.teardown(() => limiter.flush())
  for (let i = 0; i < 5; i++) limiter.say('k', `line ${i}`)
  t.same(lines, ['line 0'])
  await waitFor('the summary line', () => lines.length === 2)
  t.match(lines[1], /^line 4 \(4 more like it/)
  limiter.say('k', 'line 5')
  t.equal(lines[2], 'line 5', 'a line after the summary starts a new window')
})

t.test('the keys held are bounded: past 1024 kinds, lines of new kinds are counted together, so the log stays bounded', async (t) => {
  const lines: string[] = []
  let now = 0
  const limiter = new RepeatLimiter((l) => lines.push(l), { windowMs: 10_000, now: () => now })
  t.teardown(() => limiter.flush())
  for (let i = 0; i < 1024; i++) limiter.say(`k${i}`, `k${i}`)
  t.equal(lines.length, 1024, 'each kind logged once')
  // Round-robin over more kinds than fit: before, each one evicted the oldest and was logged, a line per request.
  for (let round = 0; round < 10; round++) for (let i = 0; i < 2000; i++) limiter.say(`k${i}`, `k${i} again`)
  t.equal(lines.length, 1025, 'one more line: the first kind that did not fit, saying that the rest are counted')
  t.match(lines[1024], /^k1024 again \(errors of more than 1024 kinds at once/)
  now += 10_000
  limiter.say('late', 'a new kind once the windows ended')
  t.equal(lines.at(-1), 'a new kind once the windows ended', 'logged again once keys whose window ended make room')
  t.ok(lines.some((l) => /^\d+ lines of errors of other kinds were not logged in 10\.0 s; the last: k1999 again$/.test(l)), 'the count of those not logged is said')
  t.ok(lines.some((l) => /^k0 again \(10 more like it in 10\.0 s/.test(l)), 'and the repeats of the kinds that fitted')
  const before = lines.length
  limiter.flush()
  t.equal(lines.length, before, 'nothing else was held')
})

t.test('a wall clock stepped back does not hold a window open', async (t) => {
  const lines: string[] = []
  const limiter = new RepeatLimiter((l) => lines.push(l), { windowMs: 30 })
  t.teardown(() => limiter.flush())
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  limiter.say('k', 'first')
  Date.now = () => realNow() - 3_600_000
  limiter.say('k', 'second')
  await waitFor('the summary line, on the monotonic clock', () => lines.length === 2)
  t.match(lines[1], /^second \(1 more like it/)
})

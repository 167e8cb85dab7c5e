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

t.test('the keys held are bounded: the oldest is forgotten, its count said first', async (t) => {
  const lines: string[] = []
  const limiter = new RepeatLimiter((l) => lines.push(l), { now: () => 0 })
  limiter.say('first', 'first')
  limiter.say('first', 'first again')
  for (let i = 0; i < 1024; i++) limiter.say(`k${i}`, `k${i}`)
  t.equal(lines.length, 1 + 1024 + 1)
  t.equal(lines[1024], 'k1023')
  t.match(lines[1025], /^first again \(1 more like it/, 'the oldest key was summarised when the 1025th came')
  limiter.say('first', 'first, after it was forgotten')
  t.equal(lines[lines.length - 1], 'first, after it was forgotten', 'a forgotten key is logged again')
  limiter.flush()
})

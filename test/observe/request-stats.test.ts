import t from 'tap'
import { quantile, REQUEST_BUCKETS, RequestStats } from '../../lib/observe/request-stats'
import { RingBuffer } from '../../lib/observe/ring-buffer'

t.test('answers land in their buckets, runs of publishes count as many', async (t) => {
  const s = new RequestStats()
  s.answered('publish', 0.00004, 10, 0)
  s.answered('publish', 0.003, 5, 2)
  s.answered('publish', 30, 1, 1)
  const p = s.commandTotals().get('publish')
  t.same([p?.ok, p?.error], [13, 3])
  t.equal(p?.buckets[0], 10, '≤ 50 µs')
  t.equal(p?.buckets[REQUEST_BUCKETS.indexOf(0.005)], 5)
  t.equal(p?.buckets[REQUEST_BUCKETS.length], 1, 'past 10 s')
  t.ok(Math.abs((p?.sum ?? 0) - 30.0154) < 1e-9, 'the sum of every duration')
  s.published('a', 3, 30)
  s.fetched('a', 2)
  s.published('b', 1, 1)
  t.same(s.totals(), { messagesIn: 4, messagesOut: 2 })
  s.prune((log) => log === 'a')
  t.same([...s.logTraffic().keys()], ['a'])
})

t.test('quantile interpolates within the bucket, as histogram_quantile does', async (t) => {
  const b = new Float64Array(REQUEST_BUCKETS.length + 1)
  t.equal(quantile(b, 0.99), null)
  b[0] = 100
  t.equal(quantile(b, 0.5), 0.000025)
  b[0] = 0
  b[REQUEST_BUCKETS.indexOf(0.001)] = 99
  b[REQUEST_BUCKETS.indexOf(1)] = 1
  t.equal(quantile(b, 0.99), 0.001)
  t.ok((quantile(b, 0.995) ?? 0) > 0.5, 'the slow one')
})

t.test('a ring keeps the last items, oldest first', async (t) => {
  const r = new RingBuffer<number>(3)
  t.same(r.toArray(), [])
  for (let i = 1; i <= 5; i++) r.push(i)
  t.same(r.toArray(), [3, 4, 5])
  t.equal(r.length, 3)
  t.throws(() => new RingBuffer(0), RangeError)
})

import t from 'tap'
import { Store } from '../../lib/storage/store'

t.test('a long poll cancelled by its signal leaves no waiter and no timer behind', async (t) => {
  const store = await Store.open({ dataDir: t.testdir(), fsync: 'never', log: () => {} })
  t.teardown(() => store.close())
  await store.createLog('w', 1)
  const p = store.partition('w', 0)
  const abort = new AbortController()
  const waiters = (): number => (p as unknown as { waiters: unknown[] }).waiters.length
  const waiting = p.waitFor(0, 3_600_000, abort.signal)
  const other = p.waitFor(0, 3_600_000)
  t.equal(waiters(), 2)
  abort.abort()
  await waiting
  t.equal(waiters(), 1, 'the aborted waiter is gone; the test would time out had it waited the hour')
  await p.waitFor(0, 3_600_000, abort.signal)
  t.equal(waiters(), 1, 'an aborted signal does not wait at all')
  p.wakeAll()
  await other
  t.equal(waiters(), 0)
})

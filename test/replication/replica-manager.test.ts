import t, { type Test } from 'tap'
import { ReplicaManager, type ReplicaManagerOptions } from '../../lib/replication/replica-manager'
import { Store } from '../../lib/storage/store'
import { waitFor } from '../helpers/wait'

async function manager (t: Test, options: Partial<ReplicaManagerOptions>): Promise<ReplicaManager> {
  const store = await Store.open({ dataDir: t.testdir(), fsync: 'never', log: () => {} })
  t.teardown(() => store.close())
  await store.createLog('ev', 1)
  const m = new ReplicaManager(store, { self: 1, minInsyncReplicas: 1, replicaLagMs: 60_000, address: () => null, updateIsr: async () => true, logLine: () => {}, alive: () => true, ...options })
  t.teardown(() => m.stop())
  return m
}

t.test('without a live session a node takes no lead its copy of the metadata gives it, and says why; with one it leads', async (t) => {
  let alive = true
  const lines: string[] = []
  const m = await manager(t, { alive: () => alive, logLine: (line) => lines.push(line) })
  const state = { replicas: [1], leader: 1, leaderEpoch: 3, isr: [1] }
  m.apply('ev', 0, state)
  t.equal(m.leaders().length, 1)
  alive = false
  // The copy may be stale: etcd may be electing another leader while this node cannot reach it.
  m.apply('ev', 0, state)
  t.same(m.leaders(), [], 'the leader it had stepped down')
  const route = m.route('ev', 0)
  t.equal(route.kind, 'refuse')
  if (route.kind === 'refuse') t.match(route.error, { code: 'NOT_LEADER', message: /partition 0 of log ev: it lost its etcd session, and leads nothing until it has joined the cluster again/ })
  alive = true
  m.apply('ev', 0, state)
  t.equal(m.leaders().length, 1, 'it leads again once it has a session')
  t.same(m.route('ev', 0), { kind: 'local' })
  t.equal(lines.filter((line) => /leader at epoch 3/.test(line)).length, 2)
})

t.test('an ISR change etcd cannot take is logged once, and its repeats counted', async (t) => {
  let attempts = 0
  const lines: string[] = []
  const m = await manager(t, {
    replicaLagMs: 50,
    updateIsr: async () => { attempts++; throw new Error('14 UNAVAILABLE: No connection established. Resolution note: ') },
    logLine: (line) => lines.push(line)
  })
  // Follower 2 never fetches: every tick tries to take it out of the ISR.
  m.apply('ev', 0, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] })
  await waitFor('five attempts', () => attempts >= 5)
  const failed = lines.filter((line) => /ISR change failed/.test(line))
  t.same(failed, ['partition 0 of log ev: ISR change failed (14 UNAVAILABLE: No connection established.); kept 1,2'])
  m.stop()
  t.match(lines.at(-1), /ISR change failed .*\(\d+ more like it in [\d.]+ s, not logged one by one\)/, 'the count is said when the manager stops')
})

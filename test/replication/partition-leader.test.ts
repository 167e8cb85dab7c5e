import t, { type Test } from 'tap'
import { Store } from '../../lib/storage/store'
import { PartitionLeader, type LeaderOptions } from '../../lib/replication/partition-leader'
import type { Partition } from '../../lib/storage/partition'

const options: LeaderOptions = {
  log: 'ev',
  partition: 0,
  self: 1,
  minInsyncReplicas: 2,
  replicaLagMs: 60_000,
  changeIsr: async () => true,
  changed: () => {},
  alive: () => true,
  live: () => true,
  logLine: () => {},
  logRepeated: () => {}
}

async function partition (t: Test): Promise<Partition> {
  const store = await Store.open({ dataDir: t.testdir(), fsync: 'never', log: () => {} })
  t.teardown(() => store.close())
  await store.createLog('ev', 1)
  return store.partition('ev', 0)
}

/** Commits `offset` for `group` through `leader`: `acked()` says whether it has been acknowledged yet. */
function commit (leader: PartitionLeader, group: string, offset: number): { acked: () => boolean } {
  let acked = false
  leader.groupWritten(group, offset, (err) => { acked = err === null })
  return { acked: () => acked }
}

t.test('a commit is acknowledged once the follower has it, by the version it reports', async (t) => {
  const p = await partition(t)
  const leader = new PartitionLeader(p, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] }, options)
  const c = commit(leader, 'g', 5)
  t.equal(leader.fetched(2, 0, 0, undefined), null)
  t.notOk(c.acked(), 'a follower that has applied nothing')
  const sent = leader.groupsAfter(0, undefined)
  t.same(sent, { groups: [['g', 5]], version: 2, full: true })
  leader.fetched(2, 0, sent.version, leader.groupsOf)
  t.ok(c.acked(), 'the follower reported the version that holds it')
})

t.test('while the session may have expired, a commit the follower holds is not acknowledged; once it is surely alive, it is', async (t) => {
  const p = await partition(t)
  let alive = false
  const leader = new PartitionLeader(p, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] }, { ...options, alive: () => alive })
  const c = commit(leader, 'g', 5)
  const sent = leader.groupsAfter(0, undefined)
  leader.fetched(2, 0, sent.version, leader.groupsOf)
  t.notOk(c.acked(), 'not while the session is in doubt: a new leader may be taking over')
  alive = true
  leader.fetched(2, 0, sent.version, leader.groupsOf)
  t.ok(c.acked())
})

t.test('a new leader instance (the same node leading again, at the same epoch) counts a follower\'s version of the old one as nothing', async (t) => {
  const p = await partition(t)
  const state = { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] }
  const before = new PartitionLeader(p, state, options)
  for (let i = 1; i <= 6; i++) commit(before, 'g', i)
  const old = before.groupsAfter(0, undefined)
  before.fetched(2, 0, old.version, before.groupsOf)
  t.equal(old.version, 7, 'the follower applied version 7 of the first instance')

  const after = new PartitionLeader(p, state, options)
  const c = commit(after, 'h', 9)
  after.fetched(2, 0, old.version, before.groupsOf)
  t.notOk(c.acked(), 'version 7 of another instance does not cover this one\'s version 2: the commit waits')
  const sent = after.groupsAfter(old.version, before.groupsOf)
  t.equal(sent.full, true, 'the follower is sent every group offset')
  t.match(sent.groups, [['h', 9]])
  after.fetched(2, 0, sent.version, after.groupsOf)
  t.ok(c.acked(), 'and the commit is acknowledged once it has them')
})

/** A leader alone in the ISR of two replicas, with the ISR changes it proposes. */
async function aloneInIsr (t: Test, more: Partial<LeaderOptions> = {}): Promise<{ p: Partition, leader: PartitionLeader, proposed: number[][] }> {
  const p = await partition(t)
  const proposed: number[][] = []
  const leader = new PartitionLeader(p, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1] }, {
    ...options,
    minInsyncReplicas: 1,
    changeIsr: async (isr) => { proposed.push(isr); return true },
    ...more
  })
  leader.start()
  return { p, leader, proposed }
}

t.test('a follower joins the ISR only once it holds every group offset acknowledged without it', async (t) => {
  const { p, leader, proposed } = await aloneInIsr(t)
  const c = commit(leader, 'g', 5)
  t.ok(c.acked(), 'with the leader alone in the ISR, the commit is acknowledged at once')
  leader.fetched(2, p.endOffset, 0, undefined)
  t.same(proposed, [], 'a follower at the log end without the group offset stays out of the ISR')
  const sent = leader.groupsAfter(0, undefined)
  leader.fetched(2, p.endOffset, sent.version, leader.groupsOf)
  t.same(proposed, [[1, 2]], 'it joins once it reports the version that holds the commit')
})

t.test('a follower out of the cluster (no session) that fetches and catches up does not join the ISR; once live again, it does', async (t) => {
  let live = false
  const { p, leader, proposed } = await aloneInIsr(t, { live: (node) => node === 1 || live })
  leader.fetched(2, p.endOffset, 0, undefined)
  t.same(proposed, [], 'no ISR change proposed')
  live = true
  leader.fetched(2, p.endOffset, 0, undefined)
  t.same(proposed, [[1, 2]])
})

t.test('a follower joins the ISR at once when there are no group offsets', async (t) => {
  const { p, leader, proposed } = await aloneInIsr(t)
  leader.fetched(2, p.endOffset, 0, undefined)
  t.same(proposed, [[1, 2]])
})

t.test('a follower holding none of the group offsets of earlier leaders does not join the ISR, even while another member has not fetched yet', async (t) => {
  const p = await partition(t)
  await new Promise<void>((resolve, reject) => p.append([Buffer.from('a'), Buffer.from('b')], (err) => err === null ? resolve() : reject(err)))
  // Committed under an earlier leader: in this node's table when it starts leading.
  await new Promise<void>((resolve, reject) => p.commit('g', 2, (err) => err === null ? resolve() : reject(err)))
  const proposed: number[][] = []
  const leader = new PartitionLeader(p, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 1, isr: [1, 2] }, {
    ...options,
    minInsyncReplicas: 1,
    changeIsr: async (isr) => { proposed.push(isr); return true }
  })
  leader.start()
  leader.fetched(3, p.endOffset, 5, 'another-instance')
  t.same(proposed, [], 'node 3, at the log end with another instance\'s version, stays out while node 2 has not fetched')
  const sent = leader.groupsAfter(5, 'another-instance')
  t.match(sent, { full: true, groups: [['g', 2]] })
  leader.fetched(3, p.endOffset, sent.version, leader.groupsOf)
  t.same(proposed, [[1, 2, 3]], 'it joins once it holds them')
})

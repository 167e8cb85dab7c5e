import t from 'tap'
import { assignReplicas, nextState, startReassignment } from '../../lib/cluster/partition-state'
import type { PartitionState } from '../../lib/cluster/metadata'

const live = (...ids: number[]): Set<number> => new Set(ids)
const state = (replicas: number[], leader: number, leaderEpoch: number, isr: number[]): PartitionState => ({ replicas, leader, leaderEpoch, isr })

t.test('assignReplicas spreads replicas and leaders round the sorted live ids', async (t) => {
  const states = assignReplicas([3, 1, 2], 6, 2)
  t.same(states.map((s) => s.replicas), [[1, 2], [2, 3], [3, 1], [1, 2], [2, 3], [3, 1]])
  t.same(states.map((s) => s.leader), [1, 2, 3, 1, 2, 3], 'the first replica leads, and leaders rotate')
  t.ok(states.every((s) => s.leaderEpoch === 0 && s.isr.join() === s.replicas.join()), 'epoch 0, ISR = replicas')
  const counts = new Map<number, number>()
  for (const id of assignReplicas([1, 2, 3], 300, 3).map((s) => s.leader)) counts.set(id, (counts.get(id) ?? 0) + 1)
  t.same([...counts.values()], [100, 100, 100], 'leaders are even')
})

t.test('assignReplicas refuses a factor outside 1..live nodes', async (t) => {
  t.throws(() => assignReplicas([1, 2], 1, 3), { code: 'BAD_REPLICATION_FACTOR', message: 'Replication factor 3 is not possible with 2 live nodes: it must be between 1 and the number of live nodes' })
  t.throws(() => assignReplicas([1], 1, 0), { code: 'BAD_REPLICATION_FACTOR', message: /with 1 live node:/ })
})

t.test('a dead leader: the first live ISR member in replica order leads, epoch + 1, the dead leave the ISR', async (t) => {
  t.same(nextState(state([1, 2, 3], 1, 4, [3, 1, 2]), live(2, 3)), state([1, 2, 3], 2, 5, [3, 2]))
  t.same(nextState(state([1, 2, 3], 1, 4, [1, 3]), live(2, 3)), state([1, 2, 3], 3, 5, [3]), 'a live replica outside the ISR is not elected')
})

t.test('no live ISR member: offline (leader -1, epoch + 1), ISR kept; unclean election only when asked', async (t) => {
  const s = state([1, 2, 3], 1, 4, [1])
  t.same(nextState(s, live(2, 3)), state([1, 2, 3], -1, 5, [1]))
  t.same(nextState(s, live(2, 3), { uncleanElection: true }), state([1, 2, 3], 2, 5, [2]))
  t.equal(nextState(state([1, 2, 3], -1, 5, [1]), live(2, 3)), null, 'an offline partition stays so while no ISR member lives')
})

t.test('an offline partition returns with the first ISR member that lives again', async (t) => {
  t.same(nextState(state([1, 2, 3], -1, 5, [3, 1]), live(1)), state([1, 2, 3], 1, 6, [1]))
  t.same(nextState(state([1, 2, 3], -1, 5, [1]), live(2), { uncleanElection: true }), state([1, 2, 3], 2, 6, [2]))
})

t.test('dead followers leave the ISR with the epoch unchanged; nothing to do returns null', async (t) => {
  t.same(nextState(state([1, 2, 3], 1, 4, [1, 2, 3]), live(1, 2)), state([1, 2, 3], 1, 4, [1, 2]))
  t.equal(nextState(state([1, 2, 3], 1, 4, [1, 2, 3]), live(1, 2, 3)), null)
  t.equal(nextState(state([1, 2, 3], 1, 4, [1, 2]), live(1, 2)), null, 'a live replica outside the ISR waits for its leader')
})

t.test('reassignment: started by startReassignment, finished once the target is in the ISR', async (t) => {
  const s = state([1, 2, 3], 1, 4, [1, 2, 3])
  const started = startReassignment(s, [4, 2, 3], live(1, 2, 3, 4))
  t.same(started, { replicas: [4, 2, 3, 1], leader: 1, leaderEpoch: 4, isr: [1, 2, 3], targetReplicas: [4, 2, 3] }, 'old and new replicas both, target kept')
  t.equal(nextState(started, live(1, 2, 3, 4)), null, 'waits while 4 is not in the ISR')
  const caughtUp = { ...started, isr: [1, 2, 3, 4] }
  t.same(nextState(caughtUp, live(1, 2, 3, 4)), state([4, 2, 3], 4, 5, [2, 3, 4]), 'the old leader hands over, epoch + 1')
  const keepLeader = { ...startReassignment(s, [1, 2], live(1, 2, 3)) }
  t.same(nextState(keepLeader, live(1, 2, 3)), state([1, 2], 1, 4, [1, 2]), 'a shrink within the ISR finishes at once, leader kept')
})

t.test('startReassignment refuses empty, repeated or dead replicas', async (t) => {
  const s = state([1, 2], 1, 0, [1, 2])
  t.throws(() => startReassignment(s, [], live(1, 2)), { code: 'BAD_REPLICAS' })
  t.throws(() => startReassignment(s, [1, 1], live(1, 2)), { code: 'BAD_REPLICAS', message: /repeated/ })
  t.throws(() => startReassignment(s, [1, 7], live(1, 2)), { code: 'BAD_REPLICAS', message: 'Replicas 1,7 are not valid: no live node 7' })
})

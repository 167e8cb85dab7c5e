import t from 'tap'
import { once } from 'node:events'
import type { Test } from 'tap'
import { ClusterMeta, type MetaEvent } from '../../lib/cluster/cluster-meta'
import { ClusterView } from '../../lib/cluster/cluster-view'
import { createEtcdClient } from '../../lib/cluster/etcd-client'
import { NodeSession, ttlSeconds } from '../../lib/cluster/node-session'
import type { NodeInfo, PartitionState } from '../../lib/cluster/metadata'
import { etcdSkip } from '../helpers/etcd'
import { freshClusterName, sharedEtcd } from '../helpers/cluster'
import { waitFor } from '../helpers/wait'

const etcd = sharedEtcd(t)
const skip = etcdSkip

function openMeta (t: Test, clusterName = freshClusterName()): ClusterMeta {
  const client = createEtcdClient(etcd().endpoints, 2000)
  t.teardown(() => client.close())
  return new ClusterMeta(client, clusterName)
}

async function openSession (t: Test, meta: ClusterMeta, ttlMs = 1000): Promise<NodeSession> {
  const session = await NodeSession.open(meta.client, ttlMs)
  t.teardown(async () => await session.revoke().catch(() => {}))
  return session
}

/** A registered node that won the controller election, in a new cluster. */
async function controllerNode (t: Test, id: number): Promise<{ meta: ClusterMeta, session: NodeSession, fence: { controllerEpoch: number } }> {
  const meta = openMeta(t)
  const session = await openSession(t, meta)
  await meta.registerNode(nodeInfo(id, 7000 + id), session.leaseId)
  const controller = await meta.campaign(id, session.leaseId)
  if (controller?.id !== id) throw new Error(`node ${id} was not elected`)
  return { meta, session, fence: { controllerEpoch: controller.epoch } }
}

const nodeInfo = (id: number, port: number): NodeInfo => ({ id, address: `127.0.0.1:${port}`, pid: process.pid, startedAt: 1 })
const partition = (leader: number, leaderEpoch: number, isr: number[]): PartitionState => ({ replicas: [1, 2, 3], leader, leaderEpoch, isr })

t.test('ttlSeconds rounds up to whole seconds, at least one', async (t) => {
  t.same([ttlSeconds(1), ttlSeconds(1000), ttlSeconds(1001), ttlSeconds(2000), ttlSeconds(0)], [1, 1, 2, 2, 1])
})

t.test('a cluster name outside the key-safe characters is refused', async (t) => {
  t.throws(() => new ClusterMeta(createEtcdClient(['http://127.0.0.1:1'], 100), 'a/b'), { code: 'CLUSTER_META' })
})

t.test('a view reached() the revision of a registration holds that node; a revision it already holds resolves at once', { skip }, async (t) => {
  const meta = openMeta(t)
  const view = await ClusterView.open(meta)
  t.teardown(async () => await view.close())
  const session = await openSession(t, meta)
  const registered = await meta.registerNode(nodeInfo(4, 7004), session.leaseId)
  t.equal(await meta.registerNode(nodeInfo(4, 7004), session.leaseId), registered, 'the same revision when the key is already on the lease')
  await view.reached(registered)
  t.ok(view.revision >= registered)
  t.same(view.node(4)?.address, '127.0.0.1:7004', 'the registration is in the copy')
  await view.reached(1)
  const pending = view.reached(registered + 1_000_000)
  await view.close()
  await pending
  t.pass('a close resolves what waits')
})

t.test('registration: the first lease takes the id; another gets NODE_ID_TAKEN naming the holder', { skip }, async (t) => {
  const meta = openMeta(t)
  const a = await openSession(t, meta)
  const b = await openSession(t, meta)
  await meta.registerNode(nodeInfo(1, 7001), a.leaseId)
  await meta.registerNode(nodeInfo(1, 7001), a.leaseId)
  t.pass('registering again on the same lease (a retried call) succeeds')
  await t.rejects(meta.registerNode(nodeInfo(1, 7999), b.leaseId), {
    code: 'NODE_ID_TAKEN',
    message: 'Node id 1 is held by the live node at 127.0.0.1:7001; choose another --node-id or stop that node'
  })
  await meta.registerNode(nodeInfo(2, 7002), b.leaseId)
  const snapshot = await meta.snapshot()
  t.same([...snapshot.nodes.values()], [nodeInfo(1, 7001), nodeInfo(2, 7002)])
  await a.revoke()
  await meta.registerNode(nodeInfo(1, 7999), b.leaseId)
  t.pass('once the holder revoked its lease, the id is free')
})

t.test('a released lease expires after its TTL and takes the node key with it', { skip }, async (t) => {
  const meta = openMeta(t)
  const session = await openSession(t, meta)
  await meta.registerNode(nodeInfo(5, 7005), session.leaseId)
  const view = await ClusterView.open(meta)
  t.teardown(() => view.close())
  t.same(view.nodes().map((n) => n.id), [5])
  const left = once(view, 'node-left')
  session.release()
  t.notOk(session.alive, 'a released session is no longer alive')
  const [node] = await left as [NodeInfo]
  t.equal(node.id, 5)
  t.same(view.nodes(), [])
})

t.test('a session that etcd ends is lost, and a new one can register the id again', { skip }, async (t) => {
  const meta = openMeta(t)
  const session = await openSession(t, meta)
  await meta.registerNode(nodeInfo(3, 7003), session.leaseId)
  t.ok(session.alive)
  t.ok(session.remainingMs() > 0 && session.remainingMs() <= 1000)
  const lost = once(session, 'lost')
  await meta.client.leaseClient.leaseRevoke({ ID: session.leaseId })
  t.same(await lost, ['etcd says the lease has expired'])
  t.notOk(session.alive)
  t.equal(session.remainingMs(), 0)
  const again = await openSession(t, meta)
  await meta.registerNode(nodeInfo(3, 7003), again.leaseId)
  t.ok((await meta.snapshot()).nodes.has(3))
})

t.test('a process paused past its TTL finds its session lost on its own clock as soon as it runs', { skip }, async (t) => {
  const meta = openMeta(t)
  const session = await openSession(t, meta)
  const lost = once(session, 'lost')
  const resumeAt = Date.now() + 1200
  while (Date.now() < resumeAt) {
    // A pause: nothing else runs, no keep-alive goes out.
  }
  t.notOk(session.alive, 'not alive the moment it resumes, before any answer from etcd')
  t.same(await lost, ['no keep-alive was answered within the session TTL'])
})

t.test('partition compare-and-swap: a stale revision is refused with the current state', { skip }, async (t) => {
  const { meta, fence } = await controllerNode(t, 1)
  t.equal(await meta.createPartitions('events', new Map([[0, partition(1, 0, [1, 2, 3])], [1, partition(2, 0, [2, 3, 1])]]), fence), 2)
  t.equal(await meta.createPartitions('events', new Map([[0, partition(9, 9, [9])]]), fence), 0, 'an existing partition is left alone')
  const first = await meta.readPartition('events', 0)
  if (first === null) throw new Error('partition 0 missing')
  t.same(first.state, partition(1, 0, [1, 2, 3]))
  const moved = await meta.updatePartition('events', 0, first.modRevision, partition(2, 1, [2, 3]), fence)
  t.ok(moved.ok)
  const stale = await meta.updatePartition('events', 0, first.modRevision, partition(3, 1, [3]), fence)
  t.match(stale, { ok: false, fenced: false, current: { state: partition(2, 1, [2, 3]) } })
  t.equal(await meta.readPartition('events', 7), null)
  t.match(await meta.updatePartition('events', 7, 1, partition(1, 0, [1])), { ok: false, current: null, fenced: false })
  const current = await meta.readPartition('events', 0)
  if (current === null) throw new Error('partition 0 missing')
  t.match(await meta.updatePartition('events', 0, current.modRevision, partition(1, 9, [1]), { controllerEpoch: fence.controllerEpoch + 1 }),
    { ok: false, fenced: true }, 'a write under another controller epoch is fenced')
  t.equal(meta.writes, 7, 'one etcd transaction per write')
})

t.test('the leader ISR helper applies only for the current leader and epoch', { skip }, async (t) => {
  const { meta, session, fence: controllerFence } = await controllerNode(t, 2)
  await meta.createPartitions('log', new Map([[0, partition(2, 3, [2])]]), controllerFence)
  const fence = { nodeId: 2, leaseId: session.leaseId }
  const grown = await meta.updateIsrAsLeader('log', 0, 2, 3, [2, 3], fence)
  t.ok(grown.ok, 'leader 2 at epoch 3 grows its ISR')
  t.same((await meta.readPartition('log', 0))?.state, partition(2, 3, [2, 3]))
  t.match(await meta.updateIsrAsLeader('log', 0, 2, 2, [2]), { ok: false, fenced: false, current: { state: { leaderEpoch: 3 } } }, 'a stale epoch is refused')
  t.match(await meta.updateIsrAsLeader('log', 0, 3, 3, [3]), { ok: false }, 'a node that is not the leader is refused')
  t.match(await meta.updateIsrAsLeader('log', 9, 2, 3, [2]), { ok: false, current: null })
  await session.revoke()
  t.match(await meta.updateIsrAsLeader('log', 0, 2, 3, [2], fence), { ok: false, fenced: true }, 'a leader whose session ended is fenced')
})

t.test('snapshot and watch see every change, with revisions in order', { skip }, async (t) => {
  const meta = openMeta(t)
  const session = await openSession(t, meta)
  const start = await meta.snapshot()
  const events: MetaEvent[] = []
  const watcher = await meta.watch(start.revision + 1, (e) => events.push(e), (err) => t.fail(err.message))
  t.teardown(() => watcher.cancel())
  await meta.registerNode(nodeInfo(1, 7001), session.leaseId)
  const controller = await meta.campaign(1, session.leaseId)
  t.match(await meta.campaign(2, session.leaseId), { id: 1, epoch: controller?.epoch }, 'a second campaign finds the holder')
  const fence = { controllerEpoch: controller?.epoch ?? 0 }
  t.ok(await meta.createLog({ name: 'a', partitions: 1, replicationFactor: 1, settings: { retentionMs: 5 } }, fence))
  t.notOk(await meta.createLog({ name: 'a', partitions: 1, replicationFactor: 1, settings: {} }, fence), 'an existing log is not replaced')
  await meta.createPartitions('a', new Map([[0, partition(1, 0, [1])]]), fence)
  const full = await meta.snapshot()
  t.same(full.controller, controller)
  t.same(full.logs.get('a'), { name: 'a', partitions: 1, replicationFactor: 1, settings: { retentionMs: 5 } })
  t.equal(full.partitions.get('a')?.get(0)?.modRevision, full.revision)
  t.ok(await meta.deleteLog('a', fence))
  t.notOk(await meta.deleteLog('a', fence), 'deleting a missing log says so')
  t.ok(await meta.resign(controller?.epoch ?? 0))
  await waitFor('the watch to catch up', () => events.length === 7)
  t.same(events.map((e) => e.type), ['node', 'controller', 'log', 'partition', 'log', 'partition', 'controller'])
  t.same(events.map((e) => e.revision), [...events.map((e) => e.revision)].sort((a, b) => a - b), 'in revision order')
  t.match(events[5], { type: 'partition', log: 'a', partition: 0, record: null })
  t.match(events[6], { type: 'controller', controller: null })
})

t.test('a fence that fails makes log writes NOT_CONTROLLER', { skip }, async (t) => {
  const meta = openMeta(t)
  const fence = { controllerEpoch: 1 }
  await t.rejects(meta.createLog({ name: 'x', partitions: 1, replicationFactor: 1, settings: {} }, fence), { code: 'NOT_CONTROLLER' })
  const session = await openSession(t, meta)
  const controller = await meta.campaign(1, session.leaseId)
  await meta.createLog({ name: 'x', partitions: 1, replicationFactor: 1, settings: {} }, { controllerEpoch: controller?.epoch ?? 0 })
  await t.rejects(meta.deleteLog('x', fence), { code: 'NOT_CONTROLLER' })
  await t.rejects(meta.createPartitions('x', new Map([[0, partition(1, 0, [1])]]), fence), { code: 'CONFLICT' })
  await t.rejects(meta.createLog({ name: 'y', partitions: 1, replicationFactor: 1, settings: {} }, { nodeId: 4, leaseId: session.leaseId }),
    { code: 'CLUSTER_META', message: /node 4 no longer holds its registration/ })
})

t.test('a value under the prefix that is not Rog\'s is reported, not trusted', { skip }, async (t) => {
  const meta = openMeta(t)
  await meta.client.put(meta.nodeKey(1)).value('{"id":"one"}')
  await t.rejects(meta.snapshot(), { code: 'CLUSTER_META', message: /node is not valid/ })
  await meta.client.put(meta.nodeKey(1)).value('not json')
  await t.rejects(meta.snapshot(), { code: 'CLUSTER_META' })
  await meta.client.delete().key(meta.nodeKey(1))
  for (const [key, text] of [[meta.logKey('l'), '[]'], [meta.partitionKey('l', 0), '{"replicas":[1],"leader":-2,"leaderEpoch":0,"isr":[1]}'], [meta.controllerKey, '{}']]) {
    await meta.client.put(key).value(text)
    await t.rejects(meta.snapshot(), { code: 'CLUSTER_META' }, key)
    await meta.client.delete().key(key)
  }
  await meta.client.put(`${meta.prefix}unknown/key`).value('x')
  t.same((await meta.snapshot()).nodes.size, 0, 'keys Rog does not know are passed over')
  const view = await ClusterView.open(meta)
  t.teardown(() => view.close())
  const error = once(view, 'error')
  await meta.client.put(meta.logKey('bad')).value('{"name":"bad"}')
  t.match(await error, [{ code: 'CLUSTER_META' }], 'the view reports a bad value from the watch')
})

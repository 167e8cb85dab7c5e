import t from 'tap'
import { RogClient } from '../../lib/client/client'
import { RogError } from '../../lib/errors'
import type { Command } from '../../lib/protocol/commands'
import { rog } from '../cli/rog-process'
import { etcdSkip, startEtcd } from '../helpers/etcd'
import { spawnServer } from '../helpers/process'
import { RogCluster } from '../helpers/rog-cluster'
import { startServer } from '../helpers/server'

t.test('a single node answers the cluster commands clearly and keeps one copy', async (t) => {
  const server = await startServer(t)
  const client = await RogClient.connect(`127.0.0.1:${server.address().port}`)
  t.teardown(() => client.destroy())
  const info = await client.request({ command: 'cluster-info' })
  t.same(info.response === 'json' && JSON.parse(info.body.toString()), { cluster: null, controller: null, nodes: [] })
  await t.rejects(client.request({ command: 'log-placement', log: 'x' }), { code: 'UNSUPPORTED', message: /not part of a cluster/ })
  await t.rejects(client.request({ command: 'epoch-end', log: 'x', partition: 0, epoch: 0 }), { code: 'UNSUPPORTED' })
  await t.rejects(client.request({ command: 'replica-fetch', replica: 1, waitMs: 0, maxBytes: 1, partitions: [] }), { code: 'UNSUPPORTED' })
  await t.rejects(client.createLog('r', 1, { replicationFactor: 2 }), { code: 'BAD_REPLICATION_FACTOR', message: /needs a cluster/ })
  await client.createLog('r', 1, { replicationFactor: 1 })
  t.equal((await client.listLogs()).length, 1, 'a factor of 1 is a plain log')
})

t.test('cluster commands, the CLI, and the errors a cluster answers', { skip: etcdSkip }, async (t) => {
  const etcd = await startEtcd(t)
  const cluster = new RogCluster(t, etcd, 3, ['--session-ttl-ms', '1000', '--replica-lag-ms', '1000'])
  await cluster.startAll()

  await t.rejects(spawnServer(t, ['--data-dir', t.testdir(), '--etcd', etcd.endpoints[0], '--node-id', '1', '--cluster-name', cluster.name]),
    /Node id 1 is held by the live node at 127\.0\.0\.1:\d+/, 'a second server with a live node\'s id is refused')
  const flags = await rog(cluster.ports[0], ['cluster', '--json'])
  const info = JSON.parse(flags.stdout) as { nodes: Array<{ id: number, alive: boolean }>, controller: number }
  t.same(info.nodes.map((n) => [n.id, n.alive]), [[1, true], [2, true], [3, true]], 'rog cluster lists the three live nodes')
  t.ok([1, 2, 3].includes(info.controller), 'and which is the controller')
  t.match((await rog(cluster.ports[1], ['cluster'])).stdout, /NODE\s+ADDRESS\s+STATE\s+ROLE/)

  const created = await rog(cluster.ports[1], ['create-log', 'rf2', '-p', '2', '--replication-factor', '2'])
  t.equal(created.code, 0, 'create-log --replication-factor through a node that may not be the controller')
  const placement = await cluster.waitPlacement(3, 'rf2', 'both partitions placed', (p) => p.length === 2 && p.every((x) => x.leader > 0 && x.isr.length === 2))
  t.same(placement.map((p) => p.replicas.length), [2, 2], 'two replicas each')
  t.not(placement[0].leader, placement[1].leader, 'leaders spread over the nodes')
  const tooMany = await rog(cluster.ports[0], ['create-log', 'rf4', '--replication-factor', '4'])
  t.match(tooMany.stderr, /Replication factor 4 is not possible with 3 live nodes/)

  const client = await RogClient.connect(cluster.address(3))
  t.teardown(() => client.destroy())
  // Reference publishes (command 1) through any node are forwarded to the partition's leader.
  for (let i = 0; i < 10; i++) t.same(await client.request({ command: 'publish', log: 'rf2', partition: i % 2, data: Buffer.from(`m${i}`), reply: 'ok' }), { response: 'ok' })
  const described = JSON.parse((await rog(cluster.ports[0], ['describe', 'rf2', '--json'])).stdout) as { partitions: Array<{ leader: number, isr: number[], epoch: number }> }
  t.same(described.partitions.map((p) => [p.leader, p.isr.length]), placement.map((p) => [p.leader, 2]), 'describe --json has each leader and ISR')
  await t.rejects(client.request({ command: 'alter-log', log: 'rf2', partitions: 3 }), { code: 'UNSUPPORTED', message: /alter-log is not supported in a cluster yet/ })
  await t.rejects(client.deleteGroup('rf2', 'g'), { code: 'UNSUPPORTED' })

  // Commands 4 and up are not forwarded: a node that does not lead the partition names its leader.
  const notLeading = [1, 2, 3].find((id) => id !== placement[0].leader) as number
  const elsewhere = await RogClient.connect(cluster.address(notLeading))
  t.teardown(() => elsewhere.destroy())
  for (const c of [
    { command: 'publish', log: 'rf2', partition: 0, data: Buffer.from('x'), reply: 'offset' },
    { command: 'publish-batch', log: 'rf2', partition: 0, messages: [Buffer.from('x')] },
    { command: 'fetch-batch', log: 'rf2', partition: 0, group: 'g', offset: null, maxMessages: 1, maxBytes: 100, waitMs: 0 },
    { command: 'commit', log: 'rf2', partition: 0, group: 'g', offset: 1 },
    { command: 'offset-for-time', log: 'rf2', partition: 0, timestamp: 0 },
    { command: 'idempotent-publish', log: 'rf2', partition: 0, producerId: 1, sequence: 0, messages: [Buffer.from('x')] }
  ] as Command[]) {
    await t.rejects(elsewhere.request(c), { code: 'NOT_LEADER', message: `This node does not lead partition 0 of log rf2: its leader is node ${placement[0].leader} at ${cluster.address(placement[0].leader)}` }, `${c.command} at node ${notLeading}`)
  }
  t.same(await elsewhere.request({ command: 'fetch', log: 'rf2', partition: 0, group: 'ref' }), { response: 'message', data: Buffer.from('m0') }, 'a reference fetch (command 2) is still forwarded')

  // Commits at the leader reach its follower; a group then reads on.
  const leaderClient = await RogClient.connect(cluster.address(placement[0].leader))
  t.teardown(() => leaderClient.destroy())
  await leaderClient.commit('rf2', 0, 'g', 3)
  const batch = await leaderClient.fetchBatch({ log: 'rf2', partition: 0, group: 'g' })
  t.equal(batch.committedOffset, 3, 'the committed offset is read back through the cluster')
  t.same(batch.messages.map((m) => m.data.toString()), ['m6', 'm8'])

  // Partition 1 moves to the node that did not hold it and one of its old ones; its messages move along.
  const outside = [1, 2, 3].find((id) => !placement[1].replicas.includes(id)) as number
  const target = [outside, placement[1].replicas[1]]
  const moved = await rog(cluster.ports[0], ['reassign', 'rf2', '-p', '1', '--replicas', target.join(','), '--wait', '60'])
  t.equal(moved.code, 0, `rog reassign to ${target.join(',')} finishes: ${moved.stderr}`)
  t.match(moved.stdout, new RegExp(`done: replicas ${target.join(',')}, in sync `))
  const p1 = await cluster.waitPlacement(1, 'rf2', 'partition 1 on its new replicas', (p) => p[1].replicas.join() === target.join() && p[1].leader > 0)
  t.ok(target.includes(p1[1].leader), 'partition 1 is led by one of its new replicas')
  const mover = await RogClient.connect(cluster.address(p1[1].leader))
  t.teardown(() => mover.destroy())
  const read = await mover.fetchBatch({ log: 'rf2', partition: 1, group: 'h', offset: 0 })
  t.same(read.messages.map((m) => m.data.toString()), ['m1', 'm3', 'm5', 'm7', 'm9'], 'its messages are all there after the move')
  const refusedMove = await rog(cluster.ports[0], ['reassign', 'rf2', '-p', '1', '--replicas', '1,9'])
  t.match(refusedMove.stderr, /Replicas 1,9 are not valid: no live node 9/)

  // Both replicas of partition 0 but the leader gone: the ISR shrinks to 1 and publishes are refused.
  const lead = placement[0].leader
  const follower = placement[0].replicas.find((id) => id !== lead) as number
  const third = [1, 2, 3].find((id) => id !== lead && id !== follower) as number
  await cluster.kill(follower)
  await cluster.waitPlacement(lead, 'rf2', 'the dead follower out of the ISR', (p) => p[0].isr.length === 1)
  const far = await RogClient.connect(cluster.address(third))
  t.teardown(() => far.destroy())
  const refused = await leaderClient.publish('rf2', 0, 'lonely').then(() => null, (err: RogError) => err)
  t.equal(refused?.code, 'NOT_ENOUGH_REPLICAS', 'a publish with one in-sync replica of the two required is refused')
  t.match(refused?.message, /^Not enough in-sync replicas for partition 0 of log rf2: 1 of 2 required; the write was refused$/)
  await cluster.start(follower)
  await cluster.waitPlacement(lead, 'rf2', 'the follower back in the ISR', (p) => p[0].isr.length === 2)
  t.same(await far.request({ command: 'publish', log: 'rf2', partition: 0, data: Buffer.from('together'), reply: 'ok' }), { response: 'ok' }, 'publishes are taken again once it has caught up (forwarded from a node that is no replica)')

  await cluster.kill(lead)
  await cluster.waitPlacement(third, 'rf2', 'the follower leading partition 0', (p) => p[0].leader === follower)
  const successor = await RogClient.connect(cluster.address(follower))
  t.teardown(() => successor.destroy())
  const after = await successor.fetchBatch({ log: 'rf2', partition: 0, group: 'g' })
  t.equal(after.committedOffset, 3, 'the committed offset survived the failover')
  t.same(after.messages.map((m) => m.data.toString()), ['m6', 'm8', 'together'], 'and every acknowledged message')
  await cluster.stopAll()
})

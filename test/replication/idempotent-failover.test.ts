import t from 'tap'
import { RogClient } from '../../lib/client/client'
import type { Command, Response } from '../../lib/protocol/commands'
import { etcdSkip, startEtcd } from '../helpers/etcd'
import { RogCluster } from '../helpers/rog-cluster'

const LOG = 'idem'

function batch (producerId: number, sequence: number, ...texts: string[]): Command {
  return { command: 'idempotent-publish', log: LOG, partition: 0, producerId, sequence, messages: texts.map((m) => Buffer.from(m)) }
}

async function send (client: RogClient, c: Command): Promise<Response> {
  return await client.request(c).catch((err: Error) => ({ response: 'error' as const, message: err.message }))
}

// Producer records travel with the entries of their batches (command 19): the new leader knows what the old one stored.
t.test('after the leader is killed, the new leader answers a retry of a batch the old one stored with its original offsets', { skip: etcdSkip }, async (t) => {
  const etcd = await startEtcd(t)
  const cluster = new RogCluster(t, etcd, 3, ['--session-ttl-ms', '1000', '--replica-lag-ms', '1000'])
  await cluster.startAll()
  const creator = await RogClient.connect(cluster.address(1))
  await creator.createLog(LOG, 1, { replicationFactor: 3 })
  const init = await creator.request({ command: 'init-producer' })
  creator.destroy()
  const { producerId } = JSON.parse(init.response === 'json' ? init.body.toString() : '{}') as { producerId: number }
  t.ok(Number.isSafeInteger(producerId) && producerId > 0, `a cluster producer id: ${producerId}`)

  const before = (await cluster.waitPlacement(1, LOG, 'a leader with all 3 in sync', (p) => p[0]?.leader > 0 && p[0].isr.length === 3))[0]
  const leader = await RogClient.connect(cluster.address(before.leader))
  const sends: Command[] = []
  for (let i = 0; i < 40; i++) sends.push(batch(producerId, i * 3, `m${i * 3}`, `m${i * 3 + 1}`, `m${i * 3 + 2}`))
  const answers = await Promise.all(sends.map(async (c) => await send(leader, c)))
  t.ok(answers.every((a, i) => a.response === 'batch-published' && a.firstOffset === i * 3), 'stored on the leader and acknowledged by the ISR')
  // Acknowledged means the followers hold the entries; their records came with them.
  leader.destroy()
  await cluster.kill(before.leader)
  const other = before.replicas.find((id) => id !== before.leader) as number
  const after = (await cluster.waitPlacement(other, LOG, 'a new leader', (p) => p[0].leader > 0 && p[0].leader !== before.leader))[0]
  const next = await RogClient.connect(cluster.address(after.leader))
  t.teardown(() => next.destroy())
  const retried = await send(next, sends[39])
  t.same(retried, { response: 'batch-published', firstOffset: 117, count: 3 }, 'the last batch, retried at the new leader: its original offsets')
  t.same(await send(next, sends[10]), { response: 'batch-published', firstOffset: 30, count: 3 }, 'an older one still remembered')
  t.same(await send(next, batch(producerId, 120, 'm120')), { response: 'batch-published', firstOffset: 120, count: 1 }, 'the next batch is appended after them')
  t.match(await send(next, batch(producerId, 200, 'gap')), { response: 'error', message: /^Out of order sequence 200 from producer \d+ for partition 0 of log idem: expected 121$/ })
  const read = await next.fetchBatch({ log: LOG, partition: 0, group: 'g', offset: 0, maxMessages: 1000 })
  t.same(read.messages.map((m) => m.data.toString()), Array.from({ length: 121 }, (_, i) => `m${i}`), 'each message once, in order')

  // The old leader comes back as a follower, truncates to the new leader's log, and takes its producer records too.
  await cluster.start(before.leader)
  await cluster.waitPlacement(after.leader, LOG, 'the old leader back in sync', (p) => p[0].isr.length === 3)
  await cluster.kill(after.leader)
  const third = (await cluster.waitPlacement(before.leader, LOG, 'another new leader', (p) => p[0].leader > 0 && p[0].leader !== after.leader))[0]
  const last = await RogClient.connect(cluster.address(third.leader))
  t.teardown(() => last.destroy())
  t.same(await send(last, batch(producerId, 120, 'm120')), { response: 'batch-published', firstOffset: 120, count: 1 }, 'the batch stored at the second leader is known to the third')
  await cluster.stopAll()
})

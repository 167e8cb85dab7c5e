import type * as net from 'node:net'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { RogClient } from '../../lib/client/client'
import { ClusterClient } from '../../lib/client/cluster-client'
import { RogError } from '../../lib/errors'
import type { Command, PartitionPlacement, Response } from '../../lib/protocol/commands'
import { Decoder } from '../../lib/protocol/decoder'
import { encodeResponses } from '../../lib/protocol/encoder'
import { FaultProxy } from '../helpers/fault-proxy'
import { startServer } from '../helpers/server'
import { deadPort, tcpServer } from '../helpers/tcp'
import { waitFor } from '../helpers/wait'

/**
 * Two or three fake nodes of one cluster, sharing one copy of each
 * partition (as replicas that never lag): each answers the cluster's
 * metadata, and serves a partition only while the placement makes it the
 * leader, answering NOT_LEADER (naming the leader) otherwise. Idempotent
 * publishes are remembered by producer, partition and sequence, as a
 * leader does.
 */
class FakeCluster {
  readonly nodes: FakeNode[] = []
  placement: PartitionPlacement[] = []
  readonly partitions = new Map<number, Buffer[]>()
  private readonly stored = new Map<string, { firstOffset: number, count: number }>()

  async start (t: Test, count: number): Promise<void> {
    for (let id = 1; id <= count; id++) {
      const node = new FakeNode(this, id)
      node.port = await tcpServer(t, (socket) => node.serve(socket))
      this.nodes.push(node)
    }
  }

  address (id: number): string {
    return `127.0.0.1:${this.nodes[id - 1].port}`
  }

  lead (partition: number, leader: number): void {
    const old = this.placement.find((p) => p.partition === partition)
    const epoch = (old?.epoch ?? 0) + 1
    this.placement = [...this.placement.filter((p) => p.partition !== partition), { partition, leader, epoch, replicas: [1, 2], isr: [1, 2] }].sort((a, b) => a.partition - b.partition)
  }

  answer (node: FakeNode, c: Command): Response | null {
    const json = (value: unknown): Response => ({ response: 'json', body: Buffer.from(JSON.stringify(value)) })
    switch (c.command) {
      case 'cluster-info':
        return json({ cluster: 'fake', node: node.id, controller: 1, nodes: this.nodes.map((n) => ({ id: n.id, address: this.address(n.id), alive: true })) })
      case 'log-placement':
        return json({ partitions: node.placement ?? this.placement })
      case 'init-producer':
        return json({ producerId: 41 + node.id })
      case 'idempotent-publish':
      case 'fetch-batch':
      case 'commit': {
        const p = this.placement.find((x) => x.partition === c.partition)
        if (p?.leader !== node.id) return { response: 'error', message: RogError.notLeader(c.partition, c.log, p?.leader ?? -1, p === undefined ? null : this.address(p.leader)).message }
        if (node.refuse !== null && node.refusals-- > 0) return { response: 'error', message: node.refuse }
        const messages = this.partitions.get(c.partition) ?? []
        this.partitions.set(c.partition, messages)
        if (c.command === 'commit') return { response: 'offset', offset: c.offset }
        if (c.command === 'fetch-batch') {
          const from = c.offset ?? 0
          return { response: 'messages', committedOffset: 0, endOffset: messages.length, messages: messages.slice(from, from + c.maxMessages).map((data, i) => ({ offset: from + i, data })) }
        }
        const key = `${c.producerId}/${c.partition}/${c.sequence}`
        const known = this.stored.get(key)
        if (known !== undefined) return { response: 'batch-published', ...known }
        const published = { firstOffset: messages.length, count: c.messages.length }
        messages.push(...c.messages)
        this.stored.set(key, published)
        // A node told to lose its next answer stores the batch, then dies before answering.
        if (node.loseNextAnswer) {
          node.loseNextAnswer = false
          return null
        }
        return { response: 'batch-published', ...published }
      }
      default:
        return { response: 'error', message: `Unknown command ${c.command}` }
    }
  }
}

class FakeNode {
  port = 0
  readonly received: Command[] = []
  connections = 0
  /** Answers the next `refusals` partition requests with this error text (null: serves). */
  refuse: string | null = null
  refusals = Infinity
  /** This node's own view of the placement (null: the cluster's). */
  placement: PartitionPlacement[] | null = null
  loseNextAnswer = false

  constructor (private readonly cluster: FakeCluster, readonly id: number) {}

  serve (socket: net.Socket): void {
    this.connections++
    const decoder = new Decoder()
    socket.pipe(decoder)
    decoder.on('data', (commands: Command[]) => {
      const answers: Response[] = []
      for (const c of commands) {
        this.received.push(c)
        const answer = this.cluster.answer(this, c)
        if (answer === null) {
          socket.write(encodeResponses(answers))
          socket.destroy()
          return
        }
        answers.push(answer)
      }
      socket.write(encodeResponses(answers))
    })
  }

  commands (name: Command['command']): Command[] {
    return this.received.filter((c) => c.command === name)
  }
}

async function cluster (t: Test, addresses: string[], options: { retryMs?: number, requestTimeoutMs?: number } = {}): Promise<ClusterClient> {
  const client = await ClusterClient.connect(addresses, { requestTimeoutMs: 5000, ...options })
  t.teardown(() => client.destroy())
  return client
}

t.test('each partition goes to its leader, one connection per node; a NOT_LEADER naming the new leader is followed, the batch resent with its sequence', async (t) => {
  const fake = new FakeCluster()
  await fake.start(t, 2)
  fake.lead(0, 1)
  fake.lead(1, 2)
  const client = await cluster(t, [`127.0.0.1:${await deadPort()}`, fake.address(1)])
  t.ok(client.clustered, 'a cluster, learnt from the second address (the first is dead)')
  t.equal(client.address, fake.address(1))

  t.same(await client.publishBatch('l', 0, ['a', 'b']), { firstOffset: 0, count: 2 })
  t.same(await client.publishBatch('l', 1, ['c']), { firstOffset: 0, count: 1 })
  t.same(await client.publishBatch('l', 0, ['d']), { firstOffset: 2, count: 1 })
  t.same(fake.nodes[0].commands('idempotent-publish').map((c) => c.command === 'idempotent-publish' && [c.partition, c.sequence]), [[0, 0], [0, 2]], 'partition 0 at node 1, sequences 0 and 2')
  t.same(fake.nodes[1].commands('idempotent-publish').map((c) => c.command === 'idempotent-publish' && [c.partition, c.sequence]), [[1, 0]], 'partition 1 at node 2')
  t.same([fake.nodes[0].connections, fake.nodes[1].connections], [1, 1], 'one connection per node')
  t.equal(fake.nodes[0].commands('log-placement').length + fake.nodes[1].commands('log-placement').length, 1, 'the placement asked once')

  // Partition 0 moves to node 2: node 1 says so, naming it.
  fake.lead(0, 2)
  t.same(await client.publishBatch('l', 0, ['e']), { firstOffset: 3, count: 1 }, 'stored after the others, in order')
  const refused = fake.nodes[0].commands('idempotent-publish').at(-1)
  const taken = fake.nodes[1].commands('idempotent-publish').at(-1)
  t.same([refused?.command === 'idempotent-publish' && refused.sequence, taken?.command === 'idempotent-publish' && taken.sequence], [3, 3], 'refused by node 1, taken by node 2 with the same sequence')
  const batch = await client.fetchBatch({ log: 'l', partition: 0, group: 'g', offset: 0 })
  t.same(batch.messages.map((m) => m.data.toString()), ['a', 'b', 'd', 'e'])
  t.equal(fake.nodes[1].commands('fetch-batch').length, 1, 'the fetch went to the new leader at once')
})

t.test('a placement of an older epoch does not replace a newer one; without a named leader the placement is asked again', async (t) => {
  const fake = new FakeCluster()
  await fake.start(t, 3)
  fake.lead(0, 1)
  fake.lead(0, 2)
  const stale = fake.placement.map((p) => ({ ...p, leader: 1, epoch: 1 }))
  const client = await cluster(t, [fake.address(3)])
  await client.commit('l', 0, 'g', 5)
  t.equal(fake.nodes[1].commands('commit').length, 1, 'the commit went to node 2, the leader at epoch 2')
  // Node 3 now lags (epoch 1, node 1); node 2 stops serving without naming anyone.
  fake.nodes[2].placement = stale
  fake.nodes[1].refuse = RogError.noLeader(0, 'l').message
  fake.nodes[1].refusals = 2
  await client.commit('l', 0, 'g', 6)
  t.equal(fake.nodes[0].commands('commit').length, 0, 'never sent to node 1, which only a stale placement names')
  t.same((await client.placement('l'))?.map((p) => [p.leader, p.epoch]), [[2, 2]], 'the newer placement is kept')
  t.ok(fake.nodes[2].commands('log-placement').length >= 2, 'the placement was asked again after NO_LEADER')
})

t.test('a batch whose answer was lost with its connection is sent again and answered with its original offsets', async (t) => {
  const fake = new FakeCluster()
  await fake.start(t, 2)
  fake.lead(0, 2)
  const client = await cluster(t, [fake.address(1)])
  const producer = client.producer({ log: 'l', partition: 0, batchMessages: 2, maxInFlight: 1 })
  fake.nodes[1].loseNextAnswer = true
  for (const m of ['a', 'b', 'c']) producer.write(m)
  producer.end()
  await once(producer, 'finish')
  t.same(fake.partitions.get(0)?.map(String), ['a', 'b', 'c'], 'each message stored once, in order')
  t.same([producer.acknowledged, producer.lastOffset], [3, 2])
  const sequences = fake.nodes[1].commands('idempotent-publish').map((c) => c.command === 'idempotent-publish' && c.sequence)
  t.same(sequences, [0, 0, 2], 'the first batch was sent twice, with the same sequence')
  t.equal(fake.nodes[1].connections, 2, 'on a new connection')
})

t.test('retries end after retryMs with the last error; other errors fail at once', async (t) => {
  const fake = new FakeCluster()
  await fake.start(t, 2)
  fake.lead(0, 1)
  const client = await cluster(t, [fake.address(1)], { retryMs: 300 })
  fake.nodes[0].refuse = RogError.notEnoughReplicas(0, 'l', 1, 2).message
  await t.rejects(client.publish('l', 0, 'x'), { code: 'NOT_ENOUGH_REPLICAS', message: /still failing after \d+\.\d s of retries\)$/ })
  t.ok(fake.nodes[0].commands('idempotent-publish').length > 1, 'it was retried')
  await t.rejects(client.publish('l', 0, 'y'), { code: 'NOT_ENOUGH_REPLICAS' }, 'the partition\'s sender stays failed')
  fake.nodes[0].refuse = RogError.noLog('l').message
  const before = fake.nodes[0].commands('commit').length
  await t.rejects(client.commit('l', 0, 'g', 1), { code: 'NO_LOG' })
  t.equal(fake.nodes[0].commands('commit').length - before, 1, 'NO_LOG is not retried')
})

t.test('a single node: every request on the one connection, as a RogClient', async (t) => {
  const server = await startServer(t)
  const client = await cluster(t, [`127.0.0.1:${server.address().port}`])
  t.notOk(client.clustered)
  t.equal(await client.placement('l'), null)
  const direct = await client.any()
  await direct.createLog('l', 2)
  await client.commit('l', 1, 'g', 0)
  t.same((await client.fetchBatch({ log: 'l', partition: 1, group: 'g' })).messages, [])
  t.equal(await client.any(), direct, 'one shared connection')
  t.equal(direct.pending, 0)
})

t.test('a single node: a batch whose answer the fault proxy dropped is retried on a new connection and answered with its original offsets', async (t) => {
  const server = await startServer(t)
  const port = server.address().port
  const proxy = await FaultProxy.start(port)
  t.teardown(async () => await proxy.close())
  const observer = await RogClient.connect(`127.0.0.1:${port}`)
  t.teardown(() => observer.destroy())
  await observer.createLog('l', 1)
  const client = await cluster(t, [`127.0.0.1:${proxy.port}`], { requestTimeoutMs: 60_000 })
  t.notOk(client.clustered)
  t.same(await client.publishBatch('l', 0, ['a', 'b']), { firstOffset: 0, count: 2 })
  proxy.drop('down')
  const retried = client.publishBatch('l', 0, ['c', 'd', 'e'])
  await waitFor('the answer, dropped', () => proxy.dropped.down > 0)
  t.equal((await observer.describe('l')).partitions[0].nextOffset, 5, 'the server stored the batch')
  // The connection is lost (reset), as a peer's would time out: the client sends the batch again.
  proxy.pass()
  proxy.cut()
  t.same(await retried, { firstOffset: 2, count: 3 }, 'answered with the offsets it was stored at')
  const stored = await observer.fetchBatch({ log: 'l', partition: 0, group: 'g', offset: 0 })
  t.same(stored.messages.map((m) => m.data.toString()), ['a', 'b', 'c', 'd', 'e'], 'nothing stored twice')
})

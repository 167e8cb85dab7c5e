import t from 'tap'
import { RogClient } from '../../lib/client/client'
import { etcdSkip, startRestartableEtcd } from '../helpers/etcd'
import { RogCluster } from '../helpers/rog-cluster'

const TTL = ['--session-ttl-ms', '1000']

/** Publishes until one is answered as `done` says (an offset, or an error), within `timeoutMs`. */
async function publishUntil (address: string, what: string, done: (answer: number | Error) => boolean, timeoutMs = 30_000): Promise<number | Error> {
  const client = await RogClient.connect(address, { connectTimeoutMs: 2000, requestTimeoutMs: 5000 })
  try {
    for (const deadline = Date.now() + timeoutMs; ;) {
      const answer = await client.publish('ev', 0, 'm').catch((err: Error) => err)
      if (done(answer)) return answer
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last answer: ${String(answer)}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    client.destroy()
  }
}

t.test('etcd killed and restarted on its data under a running node: the node says why it refuses, then leads again without a restart', { skip: etcdSkip }, async (t) => {
  const etcd = await startRestartableEtcd(t)
  const cluster = new RogCluster(t, etcd, 1, TTL)
  await cluster.startAll()
  const admin = await RogClient.connect(cluster.address(1))
  t.teardown(() => admin.destroy())
  await admin.createLog('ev', 1, { replicationFactor: 1 })
  t.type(await publishUntil(cluster.address(1), 'a first publish', (a) => typeof a === 'number'), 'number')
  await etcd.kill()
  const refused = await publishUntil(cluster.address(1), 'a refusal naming the lost session', (a) => a instanceof Error && /lost its etcd session/.test(a.message))
  t.match(refused, { code: 'NOT_LEADER', message: 'This node does not lead partition 0 of log ev: it lost its etcd session, and leads nothing until it has joined the cluster again' })
  // Longer than the 5 TTLs after which a node used to stop trying; and the restarted etcd renews the old lease.
  await new Promise((resolve) => setTimeout(resolve, 6000))
  await etcd.restart()
  t.type(await publishUntil(cluster.address(1), 'a publish acknowledged again', (a) => typeof a === 'number'), 'number')
  const log = cluster.procs[0]?.stderr() ?? ''
  t.match(log, /cluster node 1: cannot join again yet \(.*\); trying until it can/)
  t.match(log, /cluster: joined again, \d+\.\d s after the session was lost/)
  t.notMatch(log, /is held by/)
  await cluster.stopAll()
})

t.test('a node restarted while etcd is down starts once etcd is back, though etcd renewed its previous run\'s lease', { skip: etcdSkip }, async (t) => {
  const etcd = await startRestartableEtcd(t)
  const cluster = new RogCluster(t, etcd, 1, TTL)
  await cluster.startAll()
  await cluster.kill(1)
  await etcd.kill()
  const starting = cluster.start(1)
  // Longer than the wait for a previous run's lease used to last, counted from the process start.
  await new Promise((resolve) => setTimeout(resolve, 4000))
  await etcd.restart()
  await starting
  const client = await RogClient.connect(cluster.address(1))
  t.teardown(() => client.destroy())
  const info = await client.clusterInfo()
  t.same(info.nodes.map((n) => [n.id, n.alive]), [[1, true]])
  t.match(cluster.procs[0]?.stderr() ?? '', /waiting up to one session TTL in case that is this node's previous run/, 'it met its previous run\'s key, and waited it out')
  await cluster.stopAll()
})

import t from 'tap'
import { RogClient } from '../../lib/client/client'
import { etcdSkip, startEtcd } from '../helpers/etcd'
import { getJson, samples } from '../helpers/http'
import { RogCluster, type Placement } from '../helpers/rog-cluster'

t.test('in a cluster: controller, under-replicated and offline partitions, series on the leader only, readiness and placement', { skip: etcdSkip }, async (t) => {
  const etcd = await startEtcd(t)
  const cluster = new RogCluster(t, etcd, 3, ['--http-port', '0', '--session-ttl-ms', '1000', '--replica-lag-ms', '1000'])
  await cluster.startAll()
  const http = (node: number): string => (/, console at (http:\/\/[^\s]+)\/$/.exec(cluster.procs[node - 1]?.line ?? '')?.[1] ?? '')
  const scrape = async (node: number): Promise<string> => await (await fetch(`${http(node)}/metrics`)).text()

  const client = await RogClient.connect(cluster.address(1))
  t.teardown(() => client.destroy())
  await client.createLog('rf3', 2, { replicationFactor: 3 })
  const inSync = (p: Placement[]): boolean => p.length === 2 && p.every((x) => x.leader > 0 && x.isr.length === 3)
  const holders = (texts: string[], partition: number): number[] => texts.flatMap((text, i) => samples(text, 'rog_partition_end_offset').has(`{log="rf3",partition="${partition}"}`) ? [i + 1] : [])
  // etcd's placement and each node's own role agree once the node has applied it; under load a node may also
  // lose its 1 s session for a moment and take its roles again. So: the first scrape of all three that agrees.
  let placement: Placement[] = []
  let texts: string[] = []
  for (const deadline = Date.now() + 30_000; ;) {
    placement = await cluster.waitPlacement(1, 'rf3', 'placed, every replica in sync', inSync)
    texts = await Promise.all([1, 2, 3].map(scrape))
    if (placement.every((p) => holders(texts, p.partition).join() === String(p.leader))) break
    if (Date.now() > deadline) {
      for (const n of [1, 2, 3]) t.comment(`node ${n}: ${cluster.procs[n - 1]?.stderr() ?? ''}`)
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(texts.reduce((n, text) => n + (samples(text, 'rog_is_controller').get('') ?? 0), 0), 1, 'one controller')
  for (const text of texts) {
    t.equal(samples(text, 'rog_under_replicated_partitions').get(''), 0)
    t.equal(samples(text, 'rog_offline_partitions').get(''), 0)
  }
  for (const p of placement) t.same(holders(texts, p.partition), [p.leader], `partition ${p.partition} is reported by its leader only`)
  const ready = await getJson(`${http(2)}/readyz`)
  t.equal(ready.status, 200)
  t.match(ready.body.checks, [{ name: 'recovery' }, { name: 'listener' }, { name: 'cluster', ok: true }, { name: 'disk' }])
  const logs = (await getJson(`${http(3)}/api/logs`)).body
  t.same(logs.logs[0].partitions.map((p: { leader: number, isr: number[] }) => [p.leader, p.isr.length]), placement.map((p) => [p.leader, 3]), 'the console shows leaders and ISR')

  // A follower dies: the leaders of partitions it followed report them under-replicated once it leaves the ISR.
  const victim = [1, 2, 3].find((n) => placement.every((p) => p.leader !== n)) ?? 3
  await cluster.kill(victim)
  const alive = [1, 2, 3].filter((n) => n !== victim)
  await cluster.waitPlacement(alive[0], 'rf3', 'the dead follower out of the ISR', (p) => p.every((x) => !x.isr.includes(victim)))
  let under = 0
  while (under !== 2) {
    under = 0
    for (const n of alive) under += samples(await scrape(n), 'rog_under_replicated_partitions').get('') ?? 0
  }
  t.equal(under, 2, 'both partitions under-replicated, each counted by its leader')
})

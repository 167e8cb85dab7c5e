import { performance } from 'node:perf_hooks'
import { ClusterNode } from '../lib/cluster/cluster-node'
import { launchEtcd } from '../test/helpers/etcd'
import { waitFor } from '../test/helpers/wait'

/**
 * The coordination side of issue 12's scale point: 3 cluster nodes in this
 * process on one etcd member, LOGS x PARTITIONS partitions at replication
 * factor 3, then a node's lease left to expire (as after a SIGKILL) and the
 * controller's lease too. Prints how long until every partition has its new
 * leader and ISR, and the etcd write transactions per partition change.
 *
 *   npm run build && node dist/bench/cluster-failover.js [etcd data parent dir, default /dev/shm]
 */

const LOGS = 4
const PARTITIONS = 250
const TTL_MS = 2000

async function main (): Promise<void> {
  const stops: Array<() => Promise<void>> = []
  const etcd = await launchEtcd((stop) => stops.push(stop), process.argv[2])
  const nodes: ClusterNode[] = []
  try {
    for (const id of [1, 2, 3]) {
      nodes.push(await ClusterNode.start({ nodeId: id, address: `127.0.0.1:${7000 + id}`, endpoints: etcd.endpoints, clusterName: 'scale', sessionTtlMs: TTL_MS }))
    }
    const [a, b, c] = nodes
    await waitFor('all nodes seen', () => a.nodes().length === 3)
    const total = LOGS * PARTITIONS
    const createdAt = performance.now()
    const writesBeforeCreate = a.meta.writes
    for (let i = 0; i < LOGS; i++) await a.controller?.createLog(`log${i}`, PARTITIONS, 3)
    await waitFor('every partition seen', () => b.view.partitions().length === total, 30_000)
    console.log(`created ${total} partitions (RF 3) in ${ms(performance.now() - createdAt)} with ${a.meta.writes - writesBeforeCreate} write txns`)

    const led = (id: number): number => b.view.partitions().filter((r) => r.state.leader === id).length
    console.log(`leaders: node1 ${led(1)}, node2 ${led(2)}, node3 ${led(3)}`)
    await failover('node 3 (a follower node) lease expiry', c, b, a, 3, total)
    await failover('node 1 (the controller) lease expiry', a, b, b, 1, total)
  } finally {
    for (const node of nodes) await node.stop().catch(() => {})
    for (const stop of stops) await stop()
  }
}

/** Abandons `victim` and times until `observer` sees every partition rid of it; `writer` is whoever will be controller. */
async function failover (what: string, victim: ClusterNode, observer: ClusterNode, writer: ClusterNode, id: number, total: number): Promise<void> {
  const counting = [writer, observer].filter((n, i, all) => all.indexOf(n) === i)
  const writesBefore = counting.reduce((sum, n) => sum + n.meta.writes, 0)
  const leading = observer.view.partitions().filter((r) => r.state.leader === id).length
  const start = performance.now()
  let leftAt = 0
  observer.view.once('node-left', () => { leftAt = performance.now() })
  await victim.abandon()
  await waitFor(`${what}: every partition rid of node ${id}`, () => leftAt > 0 && observer.view.partitions().every((r) => r.state.leader !== id && !r.state.isr.includes(id)), 60_000)
  const done = performance.now()
  const writes = counting.reduce((sum, n) => sum + n.meta.writes, 0) - writesBefore
  console.log(`${what}: ${leading} leaders moved, ${total} ISRs shrunk; node-left seen ${ms(leftAt - start)} after the last keep-alive stopped (TTL ${TTL_MS} ms), ` +
    `all ${total} partitions updated ${ms(done - leftAt)} after that (${ms(done - start)} in all); ${writes} write txns (${(writes / total).toFixed(3)} per partition change)`)
}

const ms = (n: number): string => `${Math.round(n)} ms`

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { RogClient } from '../lib/client/client'
import { ClusterClient } from '../lib/client/cluster-client'
import type { PartitionPlacement } from '../lib/protocol/commands'
import { launchEtcd } from '../test/helpers/etcd'
import { withNode } from './cluster-side'
import { startRogServer, stopProcess, type Server } from './processes'

/**
 * The documented scale run of issue 12 (docs/cluster.md): 3 real `rog
 * server` processes, 4 logs x 250 partitions at replication factor 3 (1,000
 * partitions), all in sync; then SIGKILL of one node, timing how long until
 * every partition it led has a new leader and takes a publish again.
 *
 * `node dist/bench/cluster-scale.js [logs] [partitions per log]`
 */
const LOGS = Number(process.argv[2] ?? 4)
const PER_LOG = Number(process.argv[3] ?? 250)
const TTL_MS = 2000
const LIMIT_MS = 120_000

async function placements (port: number): Promise<Map<string, PartitionPlacement>> {
  const all = new Map<string, PartitionPlacement>()
  for (let l = 0; l < LOGS; l++) {
    for (const p of await withNode(port, 20_000, async (c) => await c.logPlacement(`scale${l}`))) all.set(`scale${l}/${p.partition}`, p)
  }
  return all
}

async function until (what: string, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - started
    if (Date.now() - started > LIMIT_MS) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function main (): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-scale-'))
  const stops: Array<() => Promise<void>> = []
  try {
    const etcd = await launchEtcd((stop) => stops.push(stop))
    const nodes: Server[] = []
    for (const id of [1, 2, 3]) {
      const server = await startRogServer({
        dataDir: path.join(dir, `n${id}`),
        fsync: 'interval',
        segmentBytes: 1024 * 1024,
        extraArgs: ['--etcd', etcd.endpoints[0], '--node-id', String(id), '--cluster-name', 'scale', '--session-ttl-ms', String(TTL_MS)]
      })
      stops.push(async () => await stopProcess(server.child, 15_000))
      nodes.push(server)
    }
    await until('3 live nodes', async () => (await withNode(nodes[0].port, 20_000, async (c) => await c.clusterInfo())).nodes.filter((n) => n.alive).length === 3)
    const created = Date.now()
    const client = await RogClient.connect(`127.0.0.1:${nodes[0].port}`, { requestTimeoutMs: 60_000 })
    for (let l = 0; l < LOGS; l++) await client.createLog(`scale${l}`, PER_LOG, { replicationFactor: 3 })
    client.destroy()
    const inSync = await until('every partition with 3 in sync', async () => [...(await placements(nodes[0].port)).values()].every((p) => p.isr.length === 3))
    process.stdout.write(`created ${LOGS * PER_LOG} partitions (RF 3) and all 3 replicas in sync in ${Date.now() - created} ms (${inSync} ms waiting for the ISRs)\n`)
    const before = await placements(nodes[0].port)
    const victim = 2
    const led = [...before.entries()].filter(([, p]) => p.leader === victim).map(([key]) => key)
    const killedAt = Date.now()
    nodes[victim - 1].child.kill('SIGKILL')
    const moved = await until('new leaders for the dead node\'s partitions', async () => {
      const now = await placements(nodes[0].port)
      return led.every((key) => { const p = now.get(key); return p !== undefined && p.leader > 0 && p.leader !== victim })
    })
    // A publish to each of them, through the cluster client (to each new leader, retried until it takes it): writes are taken again.
    const writer = await ClusterClient.connect(nodes.filter((_, i) => i !== victim - 1).map((n) => `127.0.0.1:${n.port}`), { requestTimeoutMs: 20_000, retryMs: LIMIT_MS })
    await until('a publish to every one of them', async () => {
      await Promise.all(led.map(async (key) => { const [log, p] = key.split('/'); await writer.publish(log, Number(p), 'after') }))
      return true
    })
    writer.destroy()
    const writable = Date.now() - killedAt
    process.stdout.write(`SIGKILL of node ${victim} (leader of ${led.length} partitions): all had a new leader ${moved} ms after the kill, and took a publish ${writable} ms after it (session TTL ${TTL_MS} ms)\n`)
    const rss = nodes.filter((_, i) => i !== victim - 1).map((n) => { try { return Math.round(Number(fs.readFileSync(`/proc/${n.pid}/statm`, 'utf8').split(' ')[1]) * 4096 / 1048576) } catch { return -1 } })
    process.stdout.write(`RSS of the live nodes: ${rss.join(' MB, ')} MB\n`)
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: Error) => {
  process.stderr.write(`cluster-scale: ${err.message}\n`)
  process.exitCode = 1
})

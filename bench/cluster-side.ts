import * as fs from 'node:fs'
import * as path from 'node:path'
import { RogClient } from '../lib/client/client'
import { ClusterClient } from '../lib/client/cluster-client'
import { launchEtcd } from '../test/helpers/etcd'
import type { PartitionPlacement } from '../lib/protocol/commands'
import { atStop, cpuSeconds, startRogServer, stopProcess, type Server } from './processes'
import type { IsrFigures } from './report'
import { emptyFiles } from './empty-files'

export interface ClusterNodeProcess { id: number, server: Server, port: number }

const POLL_MS = 200
const READY_MS = 30_000

/**
 * Three `rog server` processes on this machine joined to one etcd (started
 * here, with launchEtcd), and one log of one partition at replication factor
 * 3. Everything it starts is stopped by `stop`, by PID.
 */
export class ClusterSide {
  readonly nodes: ClusterNodeProcess[] = []
  readonly log: string
  private readonly dir: string
  private readonly stops: Array<() => Promise<void>> = []
  private placement: PartitionPlacement | null = null
  private etcdPid = 0
  /** The cluster client the side watches the cluster through (made once the nodes are up). */
  private client: ClusterClient | null = null

  private constructor (dir: string, log: string) {
    this.dir = dir
    this.log = log
  }

  /** Starts etcd and the nodes (`--fsync` `fsync`), creates `log`, and waits until its ISR holds all three. */
  static async start (options: { dir: string, fsync: string, segmentBytes: number, log: string, minInsync: number, sessionTtlMs: number, cpuProfDir?: string }): Promise<ClusterSide> {
    const side = new ClusterSide(options.dir, options.log)
    const forget = atStop(async () => await side.stop())
    side.stops.push(async () => forget())
    try {
      fs.mkdirSync(options.dir, { recursive: true })
      const etcd = await launchEtcd((stop) => side.stops.push(stop))
      side.etcdPid = etcd.pid
      const name = `bench-${path.basename(options.dir)}`
      for (const id of [1, 2, 3]) {
        const server = await startRogServer({
          dataDir: path.join(options.dir, `n${id}`),
          fsync: options.fsync,
          segmentBytes: options.segmentBytes,
          cpuProfDir: options.cpuProfDir,
          extraArgs: ['--etcd', etcd.endpoints.join(','), '--node-id', String(id), '--cluster-name', name,
            '--session-ttl-ms', String(options.sessionTtlMs), '--min-insync-replicas', String(options.minInsync)]
        })
        side.stops.push(async () => await stopProcess(server.child, 15_000))
        side.nodes.push({ id, server, port: server.port })
      }
      await side.until('all 3 nodes alive', async () => {
        const info = await withNode(side.nodes[0].port, 2000, async (c) => await c.clusterInfo())
        const alive = info.nodes.filter((n) => n.alive && n.address !== null)
        if (alive.length < 3) return false
        // Clients reach a node at the address the cluster gives for it.
        for (const n of side.nodes) n.port = Number(alive.find((a) => a.id === n.id)?.address?.split(':').pop() ?? n.port)
        return true
      })
      const client = await ClusterClient.connect(side.addresses, { requestTimeoutMs: 10_000 })
      side.client = client
      side.stops.push(async () => client.destroy())
      await (await client.any()).createLog(options.log, 1, { replicationFactor: 3 })
      await side.until('the ISR to hold all 3 replicas', async () => {
        const p = await side.partition()
        if (p === undefined || p.isr.length < 3 || p.leader <= 0) return false
        side.placement = p
        return true
      })
      return side
    } catch (err) {
      await side.stop()
      throw err
    }
  }

  /** Every node, as -a takes them: host:port,host:port,host:port. */
  get addresses (): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')
  }

  get leader (): ClusterNodeProcess {
    const id = this.placement?.leader
    const node = this.nodes.find((n) => n.id === id)
    if (node === undefined) throw new Error('no leader known')
    return node
  }

  /** A node that is not the leader: a reference publish (command 1, what the "forwarded" row sends) is forwarded there; commands 4 and up are answered NOT_LEADER. */
  get follower (): ClusterNodeProcess {
    const node = this.nodes.find((n) => n.id !== this.leader.id)
    if (node === undefined) throw new Error('no follower')
    return node
  }

  /** Polls the partition's placement through the cluster client until the returned function is called. */
  watchIsr (): () => Promise<IsrFigures> {
    const replicas = this.placement?.replicas.length ?? 3
    const figures: IsrFigures = { samples: 0, unanswered: 0, minIsr: replicas, replicas, shrunkSamples: 0, firstShrinkMs: null, epochs: [] }
    const started = Date.now()
    let stopped = false
    const sample = async (): Promise<void> => {
      try {
        const p = await this.partition()
        if (p === undefined) throw new Error('no partition 0')
        figures.samples++
        figures.minIsr = Math.min(figures.minIsr, p.isr.length)
        if (p.isr.length < replicas) {
          figures.shrunkSamples++
          figures.firstShrinkMs ??= Date.now() - started
        }
        if (!figures.epochs.includes(p.epoch)) figures.epochs.push(p.epoch)
      } catch {
        figures.unanswered++
      }
    }
    const loop = (async () => {
      while (!stopped) {
        await sample()
        await new Promise((resolve) => setTimeout(resolve, POLL_MS))
      }
      await sample()
    })()
    return async () => {
      stopped = true
      await loop
      return figures
    }
  }

  /** CPU seconds (user and system) each node and etcd has used so far, named "node N (leader)", "node N", "etcd". */
  cpuSeconds (): Map<string, number> {
    const leader = this.placement?.leader
    const named: Array<[string, number]> = [...this.nodes.map((n): [string, number] => [`node ${n.id}${n.id === leader ? ' (leader)' : ''}`, n.server.pid]), ['etcd', this.etcdPid]]
    return new Map(named.map(([name, pid]) => [name, cpuSeconds(pid)]))
  }

  /** Stops every node and etcd (by PID) and empties their files (the run removes them at its end); safe to call twice. */
  async stop (): Promise<void> {
    const stops = this.stops.splice(0).reverse()
    for (const stop of stops) await stop().catch(() => {})
    emptyFiles(this.dir)
  }

  /** Partition 0's placement, asked again of a node that answers (the cluster client's choice). */
  private async partition (): Promise<PartitionPlacement | undefined> {
    if (this.client === null) throw new Error('the cluster client is not made yet')
    return (await this.client.placement(this.log, true))?.find((p) => p.partition === 0)
  }

  private async until (what: string, ok: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + READY_MS
    let last = 'no answer yet'
    for (;;) {
      try {
        if (await ok()) return
        last = 'not yet'
      } catch (err) {
        last = err instanceof Error ? err.message : String(err)
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${READY_MS} ms waiting for ${what} (${last})`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/** One question to the node on `port`, on a connection of its own (connect and answer within `timeoutMs`). */
export async function withNode<T> (port: number, timeoutMs: number, ask: (client: RogClient) => Promise<T>): Promise<T> {
  const client = await RogClient.connect({ host: '127.0.0.1', port }, { connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs })
  try {
    return await ask(client)
  } finally {
    client.destroy()
  }
}

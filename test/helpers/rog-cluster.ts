import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type { Test } from 'tap'
import { RogClient } from '../../lib/client/client'
import type { PartitionPlacement } from '../../lib/protocol/commands'
import { Store } from '../../lib/storage/store'
import type { EtcdMember } from './etcd'
import { FaultProxy } from './fault-proxy'
import { deadPort } from './tcp'
import { exitOf, spawnServer, type ServerProcess } from './process'

export type Placement = PartitionPlacement

/**
 * Three (or n) `rog server` processes joined to one etcd, each with its own
 * data directory and a fixed port once first started (so a restarted node
 * comes back at the same address).
 */
export class RogCluster {
  readonly dirs: string[]
  readonly ports: number[] = []
  readonly procs: Array<ServerProcess | null> = []
  /** With `proxied`: the fault proxy in front of each node, which every other node reaches it through (its advertised address). */
  readonly proxies: FaultProxy[] = []
  private readonly t: Test
  private readonly etcd: Pick<EtcdMember, 'endpoints'>
  readonly name: string
  private readonly extra: string[]

  constructor (t: Test, etcd: Pick<EtcdMember, 'endpoints'>, size: number, extra: string[] = []) {
    this.t = t
    this.etcd = etcd
    this.extra = extra
    this.name = `t${process.pid}-${Math.random().toString(36).slice(2, 8)}`
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-cluster-'))
    t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
    this.dirs = Array.from({ length: size }, (_, i) => path.join(root, `n${i + 1}`))
  }

  address (node: number): string {
    return `127.0.0.1:${this.ports[node - 1]}`
  }

  async start (node: number): Promise<void> {
    const port = this.ports[node - 1] ?? 0
    const proxy = this.proxies[node - 1]
    const advertise = proxy === undefined ? [] : ['--advertise', `127.0.0.1:${proxy.port}`]
    const proc = await spawnServer(this.t, ['--port', String(port), '--data-dir', this.dirs[node - 1], '--etcd', this.etcd.endpoints.join(','), '--node-id', String(node), '--cluster-name', this.name, ...advertise, ...this.extra])
    this.ports[node - 1] = proc.port
    this.procs[node - 1] = proc
  }

  async startAll (options: { proxied?: boolean } = {}): Promise<void> {
    if (options.proxied === true) {
      for (let n = 1; n <= this.dirs.length; n++) {
        this.ports[n - 1] = await deadPort()
        const proxy = await FaultProxy.start(this.ports[n - 1])
        this.t.teardown(async () => await proxy.close())
        this.proxies[n - 1] = proxy
      }
    }
    for (let n = 1; n <= this.dirs.length; n++) await this.start(n)
  }

  signal (node: number, signal: NodeJS.Signals): void {
    const proc = this.procs[node - 1]
    if (proc?.child.pid !== undefined) process.kill(proc.child.pid, signal)
  }

  async kill (node: number): Promise<void> {
    const proc = this.procs[node - 1]
    if (proc === null || proc === undefined) return
    this.signal(node, 'SIGKILL')
    await exitOf(proc.child)
    this.procs[node - 1] = null
  }

  async stopAll (): Promise<void> {
    for (let n = 1; n <= this.dirs.length; n++) {
      const proc = this.procs[n - 1]
      if (proc === null || proc === undefined) continue
      this.signal(n, 'SIGCONT')
      this.signal(n, 'SIGTERM')
      await exitOf(proc.child)
      this.procs[n - 1] = null
    }
  }

  async placement (node: number, log: string): Promise<Placement[]> {
    const client = await RogClient.connect(this.address(node), { connectTimeoutMs: 2000, requestTimeoutMs: 5000 })
    try {
      return await client.logPlacement(log)
    } finally {
      client.destroy()
    }
  }

  /** Polls a live node until the placement of `log` satisfies `ok` (bounded by `timeoutMs`). */
  async waitPlacement (node: number, log: string, what: string, ok: (p: Placement[]) => boolean, timeoutMs = 30_000): Promise<Placement[]> {
    const deadline = Date.now() + timeoutMs
    let last: Placement[] | string = 'nothing yet'
    for (;;) {
      try {
        const p = await this.placement(node, log)
        if (ok(p)) return p
        last = p
      } catch (err) {
        last = (err as Error).message
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last placement: ${JSON.stringify(last)}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** Every message of a partition as a stopped node's data directory holds it. */
  async readReplica (node: number, log: string, partition: number): Promise<string[]> {
    const store = await Store.open({ dataDir: this.dirs[node - 1], log: () => {} })
    try {
      const p = store.partition(log, partition)
      const out: string[] = []
      for (let offset = p.firstOffset; offset < p.endOffset;) {
        const got = await p.read(offset, 100_000, 64 * 1024 * 1024, p.endOffset)
        if (got.length === 0) break
        for (const m of got) out.push(m.data.toString())
        offset = got[got.length - 1].offset + 1
      }
      return out
    } finally {
      await store.close()
    }
  }
}

/**
 * A producer of the original clients' kind: reference publishes (command
 * 1) through one node, `window` in flight, each message `name:seq`. When its
 * node fails it moves to the next live one. Records what was acknowledged
 * and when.
 */
export class ReferenceProducer {
  readonly acked: Array<{ seq: number, at: number }> = []
  failed = 0
  private seq = 0
  private stopped = false
  private readonly name: string
  private readonly cluster: RogCluster
  private node: number
  private readonly log: string
  private readonly window: number

  constructor (name: string, cluster: RogCluster, node: number, log: string, window = 8) {
    this.name = name
    this.cluster = cluster
    this.node = node
    this.log = log
    this.window = window
  }

  message (seq: number): string {
    return `${this.name}:${seq}`
  }

  async run (untilMs: number): Promise<void> {
    while (!this.stopped && Date.now() < untilMs) {
      let client: RogClient
      try {
        client = await RogClient.connect(this.cluster.address(this.node), { connectTimeoutMs: 1000, requestTimeoutMs: 10_000 })
      } catch {
        this.node = this.node % this.cluster.dirs.length + 1
        await new Promise((resolve) => setTimeout(resolve, 50))
        continue
      }
      await new Promise<void>((resolve) => {
        let inflight = 0
        let broken = false
        const pump = (): void => {
          while (!broken && !this.stopped && inflight < this.window && Date.now() < untilMs) {
            const seq = this.seq++
            inflight++
            client.send({ command: 'publish', log: this.log, partition: 0, data: Buffer.from(this.message(seq)), reply: 'ok' }, (err) => {
              inflight--
              if (err === null) this.acked.push({ seq, at: Date.now() })
              else {
                this.failed++
                if (err.code === 'CONNECTION' || err.code === 'TIMEOUT') broken = true
              }
              if (inflight === 0 && (broken || this.stopped || Date.now() >= untilMs)) return resolve()
              // Errors such as NOT_ENOUGH_REPLICAS during a failover: go on, a little slower.
              if (err !== null && !broken) setTimeout(pump, 20)
              else pump()
            })
          }
          if (inflight === 0) resolve()
        }
        pump()
      })
      client.destroy()
      if (!this.stopped && Date.now() < untilMs) this.node = this.node % this.cluster.dirs.length + 1
    }
  }

  stop (): void {
    this.stopped = true
  }
}

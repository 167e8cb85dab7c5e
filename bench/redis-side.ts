import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import Redis from 'ioredis'
import { payload } from './payload'
import { PeakRss, runDriver, startRedis, stopProcess, type Server } from './processes'
import { redisBenchmarkXadd } from './redis-tools'
import { measured, type Measured } from './report'

export type Persistence = 'none' | 'aof'

/** One Redis Streams load matching a Rog row. */
export interface RedisLoad {
  persistence: Persistence
  label: string
  /** xadd: redis-benchmark XADD, `clients` x `pipeline`; drain: XREADGROUP COUNT `pipeline` + XACK. */
  kind: 'xadd' | 'drain'
  clients: number
  pipeline: number
  messages: number
}

const SETTLE_TIMEOUT_MS = 60_000

export function persistenceLabel (p: Persistence): string {
  return p === 'none' ? 'no persistence' : 'AOF everysec'
}

/**
 * The two redis-servers of a run (one without persistence, one with
 * `--appendonly yes --appendfsync everysec`), started on 127.0.0.1 on free
 * ports and kept idle between loads, so each Rog row is followed at once by
 * its Redis counterpart and both see the same machine.
 */
export class RedisSide {
  private readonly servers = new Map<Persistence, { server: Server, admin: Redis }>()
  private readonly payloadBytes: number
  private readonly tmp: string
  private readonly log: (line: string) => void

  private constructor (tmp: string, payloadBytes: number, log: (line: string) => void) {
    this.tmp = tmp
    this.payloadBytes = payloadBytes
    this.log = log
  }

  static async start (tmp: string, payloadBytes: number, log: (line: string) => void): Promise<RedisSide> {
    const side = new RedisSide(tmp, payloadBytes, log)
    try {
      for (const persistence of ['none', 'aof'] as const) {
        const dir = path.join(tmp, `redis-${persistence}`)
        fs.mkdirSync(dir, { recursive: true })
        const server = await startRedis({ dir, aof: persistence === 'aof' })
        const admin = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true, protocol: 2, maxRetriesPerRequest: 1 })
        side.servers.set(persistence, { server, admin })
        await admin.connect()
      }
    } catch (err) {
      await side.stop()
      throw err
    }
    return side
  }

  describe (): string {
    return [...this.servers].map(([p, s]) => `${persistenceLabel(p)} (pid ${s.server.pid}, port ${s.server.port})`).join(', ')
  }

  async measure (load: RedisLoad): Promise<Measured> {
    const entry = this.servers.get(load.persistence)
    if (entry === undefined) throw new Error('redis-server is not running')
    const { server, admin } = entry
    await admin.flushall()
    const rss = new PeakRss(server.pid)
    rss.start()
    try {
      if (load.kind === 'xadd') {
        const b = await redisBenchmarkXadd({
          port: server.port,
          key: 'bench',
          clients: load.clients,
          pipeline: load.pipeline,
          requests: load.messages,
          payload: payload(this.payloadBytes).toString('latin1'),
          timeoutMs: 120_000
        })
        return measured(b.requests, b.seconds, this.payloadBytes, b.latency, rss.stop(), false, 0)
      }
      const timeLimitMs = 15_000
      const r = await runDriver({
        kind: 'redis-drain', port: server.port, key: 'drain', group: 'g', batch: load.pipeline, messages: load.messages, timeLimitMs, payloadBytes: this.payloadBytes
      }, 240_000)
      return measured(r.messages, r.seconds, this.payloadBytes, r.latency, rss.stop(), r.capped, r.errors)
    } finally {
      rss.stop()
      await admin.flushall().catch(() => {})
      if (load.persistence === 'aof') {
        await this.settle(admin, SETTLE_TIMEOUT_MS).catch((err: unknown) => this.log(`    redis did not settle: ${err instanceof Error ? err.message : String(err)}`))
      }
    }
  }

  /**
   * After a load on the AOF server: waits until Redis has no AOF rewrite in
   * progress or scheduled (it starts one by itself once the file has grown to
   * twice its last rewritten size), then syncs the filesystem, so that the
   * Rog row after it does not share the disk with Redis' background writes.
   * Polls every 50 ms, for at most `timeoutMs` in all.
   */
  private async settle (admin: Redis, timeoutMs: number): Promise<void> {
    const start = performance.now()
    const deadline = start + timeoutMs
    let rewrites = 0
    let busy = true
    for (let polls = 0; polls < Math.ceil(timeoutMs / 50) && performance.now() < deadline; polls++) {
      const info = await admin.info('persistence')
      busy = /aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(info)
      if (!busy) break
      rewrites++
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const left = Math.max(1000, Math.round(deadline - performance.now()))
    const sync = spawnSync('sync', ['-f', this.tmp], { stdio: 'ignore', timeout: left })
    const ms = (performance.now() - start).toFixed(0)
    const rewrite = rewrites === 0 ? 'no AOF rewrite running' : busy ? 'an AOF rewrite still running at the time limit' : 'its AOF rewrite finished'
    this.log(`    redis settled in ${ms} ms: ${rewrite}, filesystem ${sync.status === 0 ? 'synced' : `sync failed (${sync.status ?? sync.signal ?? sync.error?.message ?? '?'})`}`)
  }

  async stop (): Promise<void> {
    for (const { server, admin } of this.servers.values()) {
      admin.disconnect()
      await stopProcess(server.child)
    }
    this.servers.clear()
  }
}

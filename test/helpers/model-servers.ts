import type { Test } from 'tap'
import { RogServer } from '../../lib/server/server'
import type { FsyncPolicy } from '../../lib/storage/segment-writer'
import { exitOf, spawnServer, type ServerProcess } from './process'
import type { RestartKind, ServerControl } from './model-harness'
import { SimulatedDisk, type FaultPlan } from './simulated-disk'

export interface ServerSettings {
  dataDir: string
  fsync: FsyncPolicy
  segmentBytes: number
  /** With fsync 'interval'. */
  fsyncIntervalMs?: number
}

const LOG_LINES = 40

/** A small deterministic generator (mulberry32), for choices made while running. */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * An in-process server over a SimulatedDisk: restarts are a clean close, or
 * a power loss (the disk keeps only what was synced, and a torn part of the
 * rest).
 */
export class InProcessServer implements ServerControl {
  readonly disk = new SimulatedDisk()
  private server: RogServer | null = null
  private readonly settings: ServerSettings
  private lines: string[] = []

  private constructor (settings: ServerSettings) {
    this.settings = settings
  }

  static async start (settings: ServerSettings): Promise<InProcessServer> {
    const s = new InProcessServer(settings)
    await s.open()
    return s
  }

  private async open (): Promise<void> {
    this.disk.baseline(this.settings.dataDir)
    this.server = await RogServer.start({
      port: 0,
      dataDir: this.settings.dataDir,
      fsync: this.settings.fsync,
      fsyncIntervalMs: this.settings.fsyncIntervalMs ?? 5,
      segmentBytes: this.settings.segmentBytes,
      io: this.disk.io,
      log: (line) => {
        this.lines.push(line)
        if (this.lines.length > 4 * LOG_LINES) this.lines = this.lines.slice(-LOG_LINES)
      }
    })
  }

  get port (): number {
    if (this.server === null) throw new Error('not running')
    return this.server.address().port
  }

  async restart (kind: RestartKind, seed: number): Promise<{ lossAllowed: boolean }> {
    if (kind !== 'close' && kind !== 'power-loss') throw new Error(`an in-process server cannot restart by ${kind}`)
    const server = this.server
    this.server = null
    this.disk.disarm()
    if (kind === 'power-loss') this.disk.cut()
    await server?.close()
    if (kind === 'power-loss') {
      const random = seeded(seed)
      const torn = this.disk.settle(this.settings.dataDir, (n) => random() < 0.5 ? 0 : Math.floor(random() * (n + 1)))
      this.lines.push(`(power loss: ${torn.map((f) => `${f.file.slice(this.settings.dataDir.length + 1)} ${f.size} -> ${f.kept}`).join(', ') || 'everything was synced'})`)
    }
    await this.open()
    return { lossAllowed: kind === 'power-loss' && this.settings.fsync !== 'always' }
  }

  fault (plan: FaultPlan | null): void {
    if (plan === null) this.disk.disarm()
    else this.disk.arm(plan)
  }

  faultsArmed (): boolean {
    return this.disk.armed
  }

  async stop (): Promise<void> {
    const server = this.server
    this.server = null
    await server?.close()
  }

  logTail (): string {
    return `server log (last lines):\n  ${this.lines.slice(-LOG_LINES).join('\n  ')}`
  }
}

/** `rog server` as a child process: restarts are SIGTERM (graceful) or SIGKILL. */
export class ChildServer implements ServerControl {
  private child: ServerProcess | null = null
  private readonly t: Test
  private readonly args: string[]
  private stderrBefore = ''

  private constructor (t: Test, settings: ServerSettings, extra: string[]) {
    this.t = t
    this.args = ['--data-dir', settings.dataDir, '--fsync', settings.fsync, '--segment-bytes', String(settings.segmentBytes), '--fsync-interval-ms', String(settings.fsyncIntervalMs ?? 5), ...extra]
  }

  static async start (t: Test, settings: ServerSettings, extra: string[] = []): Promise<ChildServer> {
    const s = new ChildServer(t, settings, extra)
    s.child = await spawnServer(t, s.args)
    return s
  }

  get port (): number {
    if (this.child === null) throw new Error('not running')
    return this.child.port
  }

  get pid (): number | undefined {
    return this.child?.child.pid
  }

  async restart (kind: RestartKind): Promise<{ lossAllowed: boolean }> {
    if (kind !== 'SIGTERM' && kind !== 'SIGKILL') throw new Error(`a child process server cannot restart by ${kind}`)
    await this.kill(kind)
    this.child = await spawnServer(this.t, this.args)
    return { lossAllowed: false }
  }

  private async kill (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.child
    if (child === null) return
    this.child = null
    child.child.kill(signal)
    const exit = await exitOf(child.child)
    this.stderrBefore += child.stderr()
    if (signal === 'SIGTERM' && exit.code !== 0) throw new Error(`the server exited with ${JSON.stringify(exit)} on SIGTERM:\n${child.stderr()}`)
  }

  async stop (): Promise<void> {
    await this.kill('SIGTERM')
  }

  logTail (): string {
    const all = (this.stderrBefore + (this.child?.stderr() ?? '')).split('\n')
    return `server stderr (last lines):\n  ${all.slice(-LOG_LINES).join('\n  ')}`
  }
}

import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import type { DriverReply, Job, LoadResult } from './jobs'

/**
 * Every process the bench starts is registered here, and stopped by its PID
 * (SIGTERM, then SIGKILL after a grace period) when it is done with, or when
 * the bench ends early (error, SIGINT).
 */
const live = new Map<number, { child: ChildProcess, name: string }>()
/** What stops processes the bench does not spawn itself (etcd, through launchEtcd). */
const cleanups = new Set<() => Promise<void>>()
let closed = false

/** Runs `cleanup` when the bench stops early; the returned function forgets it. */
export function atStop (cleanup: () => Promise<void>): () => void {
  cleanups.add(cleanup)
  return () => { cleanups.delete(cleanup) }
}

export function track (child: ChildProcess, name: string): ChildProcess {
  const pid = child.pid
  if (pid === undefined) throw new Error(`${name} did not start`)
  if (closed) {
    process.kill(pid, 'SIGKILL')
    throw new Error(`${name} not started: the bench is stopping`)
  }
  live.set(pid, { child, name })
  child.once('exit', () => live.delete(pid))
  return child
}

function exited (child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

export async function stopProcess (child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.pid === undefined || exited(child)) return
  const gone = once(child, 'exit')
  try {
    process.kill(child.pid, 'SIGTERM')
  } catch {
    return
  }
  const timer = setTimeout(() => { if (!exited(child) && child.pid !== undefined) process.kill(child.pid, 'SIGKILL') }, graceMs)
  await gone
  clearTimeout(timer)
}

/** Stops every process started so far; later starts are refused. */
export async function stopAll (): Promise<void> {
  closed = true
  await Promise.all([
    ...[...cleanups].map(async (cleanup) => await cleanup().catch(() => {})),
    ...[...live.values()].map(async ({ child }) => await stopProcess(child, 5000))
  ])
}

/** Lines a child wrote, kept short for error messages. */
function collect (stream: NodeJS.ReadableStream | null, into: string[]): void {
  stream?.on('data', (chunk: Buffer) => {
    into.push(chunk.toString())
    if (into.length > 50) into.shift()
  })
}

/** Resolves with the first match of `pattern` in `child`'s stdout. */
async function waitForLine (child: ChildProcess, pattern: RegExp, what: string, timeoutMs: number, stderr: string[]): Promise<RegExpMatchArray> {
  let seen = ''
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${what} did not start within ${timeoutMs} ms`)), timeoutMs)
    const fail = (err: Error): void => {
      clearTimeout(timer)
      child.stdout?.removeListener('data', onData)
      reject(new Error(`${err.message}${stderr.length > 0 ? `: ${stderr.join('').trim().slice(-500)}` : ''}`))
    }
    const onData = (chunk: Buffer): void => {
      seen = (seen + chunk.toString()).slice(-4096)
      const m = seen.match(pattern)
      if (m === null) return
      clearTimeout(timer)
      child.stdout?.removeListener('data', onData)
      child.stdout?.resume()
      resolve(m)
    }
    child.stdout?.on('data', onData)
    child.once('exit', (code, signal) => fail(new Error(`${what} exited (${signal ?? code ?? '?'}) before it was ready`)))
  })
}

export interface Server { child: ChildProcess, pid: number, port: number, stderr: string[], /** The console's URL (null with --no-http). */ httpUrl: string | null }

export const ROG_BIN = path.join(__dirname, '..', 'bin', 'rog.js')

export async function startRogServer (options: { dataDir: string, fsync: string, segmentBytes: number, cpuProfDir?: string, extraArgs?: string[] }): Promise<Server> {
  const nodeArgs = options.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir]
  const extra = options.extraArgs ?? []
  // HTTP on (as by default) but on a port of its own, unless the caller says otherwise.
  const http = extra.includes('--no-http') || extra.includes('--http-port') ? [] : ['--http-port', '0']
  const serverArgs = ['server', '--port', '0', '--data-dir', options.dataDir, '--fsync', options.fsync, '--segment-bytes', String(options.segmentBytes), ...http, ...extra]
  const child = track(spawn(process.execPath, [...nodeArgs, ROG_BIN, ...serverArgs], {
    stdio: ['ignore', 'pipe', 'pipe']
  }), 'rog server')
  const stderr: string[] = []
  collect(child.stderr, stderr)
  const m = await waitForLine(child, /listening on [^\s:]+:(\d+)[^\n]*\n/, 'rog server', 20_000, stderr)
  const httpUrl = /, console at (http:\/\/\S+)/.exec(m.input ?? '')?.[1] ?? null
  return { child, pid: child.pid as number, port: Number(m[1]), stderr, httpUrl }
}

export async function freePort (): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

export async function startRedis (options: { dir: string, aof: boolean }): Promise<Server> {
  const port = await freePort()
  const persistence = options.aof ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']
  const child = track(spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence,
    '--dir', options.dir, '--daemonize', 'no', '--protected-mode', 'yes'
  ], { stdio: ['ignore', 'pipe', 'pipe'] }), 'redis-server')
  const stderr: string[] = []
  collect(child.stderr, stderr)
  await waitForLine(child, /Ready to accept connections/, 'redis-server', 20_000, stderr)
  return { child, pid: child.pid as number, port, stderr, httpUrl: null }
}

/** Forks bench/driver.js, hands it `job`, and returns its result. */
export async function runDriver (job: Job, timeoutMs: number): Promise<LoadResult> {
  const child = track(fork(path.join(__dirname, 'driver.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), 'driver')
  try {
    const reply = await new Promise<DriverReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`driver did not finish within ${timeoutMs} ms`)), timeoutMs)
      child.once('message', (m: DriverReply) => { clearTimeout(timer); resolve(m) })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`driver exited (${code ?? '?'}) without a result`)) })
      child.send(job)
    })
    if (!reply.ok) throw new Error(reply.error)
    return reply.result
  } finally {
    await stopProcess(child, 2000)
  }
}

/** Linux's USER_HZ: /proc/PID/stat counts CPU time in these ticks a second. */
const TICKS_PER_SECOND = 100

/** CPU seconds (user and system) process `pid` has used so far, from /proc (NaN when it cannot be read). */
export function cpuSeconds (pid: number): number {
  try {
    // The fields after the command name's closing parenthesis start at field 3; utime and stime are fields 14 and 15.
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return NaN
  }
}

/**
 * Peak resident memory of a process over a window: the kernel's high-water
 * mark (VmHWM, reset at the start through /proc/PID/clear_refs where that is
 * allowed) and VmRSS sampled every 50 ms, whichever is higher.
 */
export class PeakRss {
  private readonly pid: number
  private sampled = 0
  private timer: NodeJS.Timeout | null = null
  private hwmValid = false

  constructor (pid: number) {
    this.pid = pid
  }

  start (): void {
    try {
      fs.writeFileSync(`/proc/${this.pid}/clear_refs`, '5')
      this.hwmValid = true
    } catch {
      this.hwmValid = false
    }
    this.sampled = this.read('VmRSS')
    this.timer = setInterval(() => { this.sampled = Math.max(this.sampled, this.read('VmRSS')) }, 50)
  }

  /** Megabytes (MiB). */
  stop (): number {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    const hwm = this.hwmValid ? this.read('VmHWM') : 0
    return Math.max(hwm, this.sampled, this.read('VmRSS')) / 1024
  }

  private read (field: 'VmRSS' | 'VmHWM'): number {
    try {
      const m = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`))
      return m === null ? 0 : Number(m[1])
    } catch {
      return 0
    }
  }
}

import { spawn, spawnSync } from 'node:child_process'
import { stopProcess, track } from './processes'
import type { LatencySummary } from './latency'

export function redisInstalled (): boolean {
  return ['redis-server', 'redis-benchmark'].every((cmd) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0)
}

/**
 * Makes redis-server and redis-benchmark available: already installed, or
 * installed from Debian with apt-get when running as root. Returns the reason
 * when they are not.
 */
export function ensureRedis (log: (line: string) => void): string | null {
  if (redisInstalled()) return null
  if (process.getuid?.() !== 0) return 'redis-server/redis-benchmark are not installed and the bench is not running as root to install them'
  log('installing redis-server and redis-tools with apt-get ...')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const update = spawnSync('apt-get', ['update'], { stdio: 'ignore', env, timeout: 180_000 })
  if (update.status !== 0) return `apt-get update failed (${update.status ?? update.signal ?? update.error?.message ?? '?'})`
  const install = spawnSync('apt-get', ['install', '-y', 'redis-server', 'redis-tools'], { stdio: 'ignore', env, timeout: 300_000 })
  if (install.status !== 0) return `apt-get install redis-server redis-tools failed (${install.status ?? install.signal ?? install.error?.message ?? '?'})`
  return redisInstalled() ? null : 'redis-server/redis-benchmark still missing after apt-get install'
}

export interface RedisBenchmarkResult {
  requests: number
  seconds: number
  rps: number
  latency: LatencySummary
}

/**
 * One `redis-benchmark ... XADD key * f <payload>` run: `clients` connections,
 * `pipeline` commands per burst (-P), `requests` in all (-n). Parses the CSV
 * line: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
 * "p95_latency_ms","p99_latency_ms","max_latency_ms".
 */
export async function redisBenchmarkXadd (options: {
  port: number
  key: string
  clients: number
  pipeline: number
  requests: number
  payload: string
  timeoutMs: number
}): Promise<RedisBenchmarkResult> {
  const args = [
    '-h', '127.0.0.1', '-p', String(options.port),
    '-c', String(options.clients), '-P', String(options.pipeline), '-n', String(options.requests),
    '-q', '--csv', 'XADD', options.key, '*', 'f', options.payload
  ]
  const child = track(spawn('redis-benchmark', args, { stdio: ['ignore', 'pipe', 'pipe'] }), 'redis-benchmark')
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    void stopProcess(child, 2000)
  }, options.timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  if (timedOut) throw new Error(`redis-benchmark did not finish within ${options.timeoutMs} ms`)
  const row = out.split('\n').find((l) => l.startsWith('"XADD'))
  if (code !== 0 || row === undefined) throw new Error(`redis-benchmark failed (${code ?? '?'}): ${(err + out).trim().slice(-300)}`)
  const fields = row.match(/"([^"]*)"/g)?.map((f) => f.slice(1, -1)) ?? []
  const num = (i: number): number => Number(fields[i])
  const rps = num(1)
  if (!Number.isFinite(rps) || rps <= 0) throw new Error(`cannot read redis-benchmark output: ${row}`)
  return {
    requests: options.requests,
    seconds: options.requests / rps,
    rps,
    latency: { samples: options.requests, p50Ms: num(4), p99Ms: num(6), maxMs: num(7) }
  }
}

import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { once } from 'node:events'
import type { Test } from 'tap'
import { deadPort } from './tcp'

/**
 * Why tests that need etcd are skipped here, or false when an `etcd` binary
 * answers `--version` (Debian's etcd-server; .ci/run installs it).
 */
export const etcdSkip: string | false = (() => {
  const probe = spawnSync('etcd', ['--version'], { stdio: 'pipe', timeout: 10_000 })
  return probe.status === 0 ? false : 'etcd is not installed (apt-get install etcd-server); skipping the tests that need it'
})()

export interface EtcdMember {
  endpoints: string[]
  pid: number
  /** Ends the member (SIGKILL by its PID) and removes its data directory; safe to call twice. */
  stop: () => Promise<void>
}

const READY = /ready to serve client requests/
const START_MS = 15_000

/** A single-member etcd for a test, stopped at teardown whatever the test's outcome. */
export async function startEtcd (t: Test): Promise<EtcdMember> {
  return await launchEtcd((stop) => t.teardown(stop))
}

/**
 * A single-member etcd on 127.0.0.1 with free ports and a temporary data
 * directory (in /dev/shm when there is one: the tests measure coordination,
 * not the disk; `base` chooses another parent); `onStart` gets its stop
 * function as soon as the process runs.
 */
export async function launchEtcd (onStart: (stop: () => Promise<void>) => void, base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()): Promise<EtcdMember> {
  // A port found free can be taken before etcd binds it: try again on new ports, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(onStart, base)
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test(String(err))) throw err
    }
  }
}

async function startOnce (onStart: (stop: () => Promise<void>) => void, base: string): Promise<EtcdMember> {
  const layout = await newLayout(base)
  let member: EtcdProcess | null = null
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    await member?.kill()
    layout.remove()
  }
  onStart(stop)
  try {
    const { pid } = await spawnMember(layout, (spawned) => { member = spawned })
    return { endpoints: [layout.client], pid, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** An etcd member that a test kills (SIGKILL) and starts again on the same data and ports: an etcd outage. */
export interface RestartableEtcd {
  endpoints: string[]
  /** SIGKILL, data kept. */
  kill: () => Promise<void>
  /** Starts the member again on its data and ports; resolves once it serves. */
  restart: () => Promise<void>
}

/** A single-member etcd that the test can kill and restart; stopped (and its data removed) at teardown. */
export async function startRestartableEtcd (t: Test, base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()): Promise<RestartableEtcd> {
  const layout = await newLayout(base)
  let current: EtcdProcess | null = null
  t.teardown(async () => {
    await current?.kill()
    layout.remove()
  })
  const start = async (): Promise<void> => { await spawnMember(layout, (spawned) => { current = spawned }) }
  await start()
  return {
    endpoints: [layout.client],
    kill: async () => { await current?.kill() },
    restart: async () => {
      await current?.kill()
      await start()
    }
  }
}

interface EtcdLayout { dir: string, client: string, peer: string, remove: () => void }
interface EtcdProcess { pid: number, kill: () => Promise<void> }

/** A new temporary data directory under `base`, and free ports. */
async function newLayout (base: string): Promise<EtcdLayout> {
  const dir = fs.mkdtempSync(path.join(base, 'rog-etcd-'))
  return { dir, client: `http://127.0.0.1:${await deadPort()}`, peer: `http://127.0.0.1:${await deadPort()}`, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/**
 * Starts etcd on `layout` (its data directory and URLs) and resolves once it
 * serves, to the process. `onSpawn` gets it as soon as it runs, so that a teardown
 * during the start can kill it; the directory goes if this process exits first.
 */
async function spawnMember (layout: EtcdLayout, onSpawn: (member: EtcdProcess) => void): Promise<EtcdProcess> {
  const child = spawn('etcd', [
    '--name', 'rog-test',
    '--data-dir', path.join(layout.dir, 'data'),
    '--listen-client-urls', layout.client,
    '--advertise-client-urls', layout.client,
    '--listen-peer-urls', layout.peer,
    '--initial-advertise-peer-urls', layout.peer,
    '--initial-cluster', `rog-test=${layout.peer}`,
    '--initial-cluster-state', 'new'
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  const pid = child.pid
  // A test file that times out exits without its teardowns: neither etcd nor its directory may outlive it.
  const killNow = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    layout.remove()
  }
  process.once('exit', killNow)
  let killed = false
  const kill = async (): Promise<void> => {
    if (killed) return
    killed = true
    process.off('exit', killNow)
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      process.kill(pid, 'SIGKILL')
      await exited
    }
  }
  onSpawn({ pid: pid ?? -1, kill })
  let log = ''
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`etcd did not become ready within ${START_MS} ms:\n${log}`)), START_MS)
      child.stderr?.on('data', (c: Buffer) => {
        log = (log + c.toString()).slice(-20_000)
        if (READY.test(log)) { clearTimeout(timer); resolve() }
      })
      child.once('error', (err) => { clearTimeout(timer); reject(err) })
      child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`etcd exited (${code ?? signal}) before it was ready:\n${log}`)) })
    })
  } catch (err) {
    await kill()
    throw err
  }
  child.stderr?.removeAllListeners('data')
  child.stderr?.resume()
  if (pid === undefined) throw new Error('etcd started without a PID')
  return { pid, kill }
}

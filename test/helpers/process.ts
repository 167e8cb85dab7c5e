import { spawn, type ChildProcess } from 'node:child_process'
import * as path from 'node:path'
import { once } from 'node:events'
import type { Test } from 'tap'

export const ROG_BIN = path.join(__dirname, '..', '..', 'dist', 'bin', 'rog.js')

export interface ServerProcess { child: ChildProcess, port: number, line: string, stderr: () => string }

/** Spawns the compiled `rog server` on port 0 (without HTTP unless `args` give --http-port) and waits for its listening line; killed at teardown if still running. */
export async function spawnServer (t: Test, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  // Servers of parallel tests must not race for the default HTTP port: none unless the test asks for it.
  const http = args.some((a) => a === '--http-port' || a.startsWith('--http-port=')) ? [] : ['--no-http']
  const child = spawn(process.execPath, [ROG_BIN, 'server', '--port', '0', ...http, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const kill = (): void => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }
  // A test that times out exits without its teardowns: the server must not outlive it.
  process.once('exit', kill)
  child.once('exit', () => process.off('exit', kill))
  t.teardown(() => {
    process.off('exit', kill)
    kill()
  })
  let err = ''
  child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  let out = ''
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('\n')) resolve(out.split('\n')[0])
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)))
  })
  const port = Number(/:(\d+),/.exec(line)?.[1])
  return { child, port, line, stderr: () => err }
}

export async function exitOf (child: ChildProcess): Promise<{ code: number | null, signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode }
  const [code, signal] = await once(child, 'exit') as [number | null, string | null]
  return { code, signal }
}

import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import type { Test } from 'tap'
import { connect, type RogClient } from '../../lib/client/client'
import type { RogServer } from '../../lib/server/server'
import { startServer } from '../helpers/server'

/** The built CLI (`npm run build`). */
export const ROG = path.resolve(__dirname, '../../dist/bin/rog.js')

if (!fs.existsSync(ROG)) throw new Error(`${ROG} is missing: run npm run build first`)

export interface Finished { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** A running `rog` (or a shell pipeline around it) with its output collected. */
export class RogProcess {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly done: Promise<Finished>
  private readonly changed = new Set<() => void>()

  /** `rog args`, talking to the server on `port` through ROG_ADDRESS. */
  constructor (args: string[], options: SpawnOptions & { port?: number, shell?: string } = {}) {
    // No config file of the machine's user: a test that wants one sets ROG_CONFIG.
    const env: NodeJS.ProcessEnv = { ...process.env, ROG_CONFIG: '', ...options.env }
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k]
    if (options.port !== undefined) env.ROG_ADDRESS = `127.0.0.1:${options.port}`
    else if (options.env?.ROG_ADDRESS === undefined) delete env.ROG_ADDRESS
    this.child = options.shell !== undefined
      ? spawn('bash', ['-c', options.shell], { ...options, shell: false, env })
      : spawn(process.execPath, [ROG, ...args], { ...options, shell: false, env })
    this.child.stdout?.setEncoding('utf8').on('data', (s: string) => { this.stdout += s; this.notify() })
    this.child.stderr?.setEncoding('utf8').on('data', (s: string) => { this.stderr += s; this.notify() })
    this.done = new Promise((resolve) => {
      this.child.on('close', (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr }))
    })
  }

  /** Resolves once `condition` holds, checked whenever output arrives; rejects if the process ends first. */
  async until (condition: (p: RogProcess) => boolean): Promise<void> {
    let ended = false
    void this.done.then(() => { ended = true; this.notify() })
    while (!condition(this)) {
      if (ended) throw new Error(`rog ended before the condition held; stdout: ${this.stdout.slice(-500)} stderr: ${this.stderr}`)
      await new Promise<void>((resolve) => this.changed.add(resolve))
    }
  }

  private notify (): void {
    const waiting = [...this.changed]
    this.changed.clear()
    for (const w of waiting) w()
  }
}

/** `bash -c script`, with "$ROG" in it running the CLI. */
export function shell (script: string, port: number): RogProcess {
  return new RogProcess([], { port, shell: script.replaceAll('$ROG', `"${process.execPath}" "${ROG}"`) })
}

/** Runs `rog args` to the end, `input` on its stdin. */
export async function rog (port: number | undefined, args: string[], input?: string | Buffer): Promise<Finished> {
  const p = new RogProcess(args, { port, stdio: ['pipe', 'pipe', 'pipe'] })
  p.child.stdin?.on('error', () => {})
  p.child.stdin?.end(input)
  return await p.done
}

/** Polls `check` (a few dozen times a second) until it holds or `timeoutMs` passes. */
export async function eventually (check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** A server on port 0 and a client connected to it, both closed at teardown. */
export async function serverAndClient (t: Test): Promise<{ server: RogServer, port: number, client: RogClient }> {
  const server = await startServer(t)
  const port = server.address().port
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.destroy())
  return { server, port, client }
}

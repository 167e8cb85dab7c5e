import * as fs from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { ROG_BIN, stopProcess, track } from './processes'
import { payload } from './payload'

/**
 * Scenario 6, end to end through the real CLI:
 *
 *   rog -a 127.0.0.1:PORT publish LOG -            < file of N lines
 *   rog -a 127.0.0.1:PORT fetch LOG -p 0 -g G --follow --max N   > file
 *
 * Each is timed from spawn to exit, so process start-up is included.
 */

/** Null when the CLI has both commands; otherwise why scenario 6 is skipped. */
export function cliMissing (): string | null {
  const help = spawnSync(process.execPath, [ROG_BIN, '--help'], { encoding: 'utf8', timeout: 30_000 })
  const text = `${help.stdout ?? ''}${help.stderr ?? ''}`
  const missing = ['publish', 'fetch'].filter((c) => !new RegExp(`^\\s+${c}\\b`, 'm').test(text))
  if (missing.length === 0) return null
  return `the CLI has no ${missing.map((c) => `"rog ${c}"`).join(' or ')} command yet (rog --help lists none)`
}

/** Writes `lines` lines of `bytes` bytes each (plus the newline): a line number, then payload. */
export function writeLinesFile (file: string, lines: number, bytes: number): void {
  const body = payload(bytes)
  const perChunk = 10_000
  const line = bytes + 1
  const chunk = Buffer.allocUnsafe(perChunk * line)
  const fd = fs.openSync(file, 'w')
  try {
    for (let done = 0; done < lines; done += perChunk) {
      const n = Math.min(perChunk, lines - done)
      for (let i = 0; i < n; i++) {
        const at = i * line
        body.copy(chunk, at)
        chunk.write(String(done + i).padStart(10, '0'), at, 'latin1')
        chunk[at + bytes] = 0x0a
      }
      fs.writeSync(fd, chunk, 0, n * line)
    }
  } finally {
    fs.closeSync(fd)
  }
}

export interface CliRun { seconds: number, lines: number, capped: boolean, error: string | null }

async function runCli (args: string[], stdin: number | 'ignore', stdout: number | 'ignore', timeoutMs: number): Promise<{ seconds: number, code: number | null, stderr: string, timedOut: boolean }> {
  const start = performance.now()
  const child = track(spawn(process.execPath, [ROG_BIN, ...args], { stdio: [stdin, stdout, 'pipe'] }), `rog ${args.join(' ')}`)
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-2000) })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    void stopProcess(child, 2000)
  }, timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { seconds: (performance.now() - start) / 1000, code, stderr: stderr.trim(), timedOut }
}

export async function cliPublish (port: number, log: string, file: string, lines: number, timeoutMs: number): Promise<CliRun> {
  const fd = fs.openSync(file, 'r')
  try {
    const r = await runCli(['-a', `127.0.0.1:${port}`, 'publish', log, '-'], fd, 'ignore', timeoutMs)
    const error = r.timedOut ? null : r.code === 0 ? null : `rog publish exited ${r.code ?? '?'}: ${r.stderr.slice(-300)}`
    return { seconds: r.seconds, lines: r.code === 0 ? lines : 0, capped: r.timedOut, error }
  } finally {
    fs.closeSync(fd)
  }
}

export async function cliFollow (port: number, log: string, group: string, max: number, outFile: string, timeoutMs: number): Promise<CliRun> {
  const fd = fs.openSync(outFile, 'w')
  let r
  try {
    r = await runCli(['-a', `127.0.0.1:${port}`, 'fetch', log, '-p', '0', '-g', group, '--follow', '--max', String(max)], 'ignore', fd, timeoutMs)
  } finally {
    fs.closeSync(fd)
  }
  const lines = countLines(outFile)
  const error = r.timedOut ? null : r.code !== 0 ? `rog fetch exited ${r.code ?? '?'}: ${r.stderr.slice(-300)}` : lines < max ? `rog fetch wrote ${lines} lines, expected ${max}` : null
  return { seconds: r.seconds, lines, capped: r.timedOut, error }
}

function countLines (file: string): number {
  const fd = fs.openSync(file, 'r')
  const buf = Buffer.allocUnsafe(1 << 20)
  let lines = 0
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      let at = buf.indexOf(0x0a, 0)
      while (at !== -1 && at < n) {
        lines++
        at = buf.indexOf(0x0a, at + 1)
      }
    }
  } finally {
    fs.closeSync(fd)
  }
  return lines
}

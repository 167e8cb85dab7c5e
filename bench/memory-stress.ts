import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Command as Program, InvalidArgumentError } from 'commander'
import type { Command, Response } from '../lib/protocol/commands'
import { encodeCommand } from '../lib/protocol/request-writer'
import { ResponseReader, expectFor } from '../lib/protocol/response-reader'
import { PeakRss, ROG_BIN, stopProcess, track } from './processes'

/**
 * `node dist/bench/memory-stress.js`: the memory bound of issue 8 against a
 * real `rog server` (default flags unless given after `--`). All at once:
 *
 * - 100 connections, each pipelining 40 fetch-batches of 8 MiB (1 KiB
 *   messages) and never reading an answer;
 * - 5,000 long polls (fetch-batch, 60 s wait) whose clients reset them, 250 at a time;
 * - 10 publish-batches of 1,000,000 empty messages (4 MB each), and 10 of
 *   100,000 (the most a batch may hold).
 *
 * Then a fresh client must still be answered. Prints the server's peak RSS
 * (VmHWM and VmRSS sampled every 50 ms) and fails (exit 1) over --max-rss-mb.
 * Bounded in time: every phase has a deadline.
 */

const MiB = 1024 * 1024

interface Flags { rog: string, maxRssMb: number, connections: number, polls: number, batches: number, keep: boolean }

function count (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got "${value}"`)
  return n
}

let started = Date.now()
const log = (line: string): void => { process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}\n`) }

async function connect (port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  return socket
}

/** Sends `commands` on a new connection and collects their answers (or fails after `timeoutMs`). */
async function exchange (port: number, commands: Command[] | { bytes: Buffer, expect: Command[] }, timeoutMs = 120_000): Promise<Response[]> {
  const list = Array.isArray(commands) ? commands : commands.expect
  const bytes = Array.isArray(commands) ? Buffer.concat(commands.map(encodeCommand)) : commands.bytes
  const reader = new ResponseReader()
  for (const c of list) reader.expect(expectFor(c))
  const socket = await connect(port)
  socket.write(bytes)
  const out: Response[] = []
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within ${timeoutMs} ms (${out.length} of ${list.length})`)) }, timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      out.push(...reader.feed(chunk))
      if (out.length === list.length) {
        clearTimeout(timer)
        socket.destroy()
        resolve(out)
      }
    })
    socket.on('close', () => { clearTimeout(timer); reject(new Error(`connection closed after ${out.length} of ${list.length} answers`)) })
  })
}

/** A publish-batch frame of `count` empty messages, built directly (4 bytes a message). */
function emptyBatch (log: string, count: number): Buffer {
  const name = Buffer.from(log)
  const frame = Buffer.alloc(5 + 2 + name.length + 4 + 4 * count)
  frame[0] = 5
  frame.writeUInt32BE(frame.length - 5, 1)
  frame[6] = name.length
  name.copy(frame, 7)
  frame.writeUInt32BE(count, 7 + name.length)
  return frame
}

function rssMb (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Math.round(Number(m[1]) / 1024)
}

async function main (): Promise<void> {
  const program = new Program('memory-stress')
    .option('--rog <path>', 'the rog.js to run', ROG_BIN)
    .option('--max-rss-mb <n>', 'fail above this peak RSS', count, 300)
    .option('--connections <n>', 'connections that never read', count, 100)
    .option('--polls <n>', 'reset long polls', count, 5000)
    .option('--batches <n>', 'publish-batches of 1,000,000 empty messages (and as many of 100,000)', count, 10)
    .option('--keep', 'keep the data directory', false)
    .allowExcessArguments(true)
    .parse()
  const flags = program.opts<Flags>()
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-memory-'))
  const child = track(spawn(process.execPath, [flags.rog, 'server', '--port', '0', '--no-http', '--data-dir', dataDir, '--fsync', 'never', ...program.args], { stdio: ['ignore', 'pipe', 'inherit'] }), 'rog server')
  try {
    const [line] = await once(child.stdout!, 'data') as [Buffer]
    const port = Number(/:(\d+),/.exec(line.toString())?.[1])
    log(line.toString().trim())

    const kib = Buffer.alloc(1024, 0x61)
    await exchange(port, [{ command: 'create', log: 'big', partitions: 1 }, { command: 'create', log: 'quiet', partitions: 1 }, { command: 'create', log: 'empty', partitions: 1 }])
    await exchange(port, Array.from({ length: 16 }, (): Command => ({ command: 'publish-batch', log: 'big', partition: 0, messages: new Array<Buffer>(1024).fill(kib) })))
    log('16 MiB of 1 KiB messages in log big')

    const peak = new PeakRss(child.pid as number)
    peak.start()
    started = Date.now()
    const timeline: number[] = []
    const sampler = setInterval(() => timeline.push(rssMb(child.pid as number)), 1000)

    const fetch = encodeCommand({ command: 'fetch-batch', log: 'big', partition: 0, group: 'g', offset: 0, maxMessages: 100_000, maxBytes: 8 * MiB, waitMs: 0 })
    const stalled = await Promise.all(Array.from({ length: flags.connections }, async () => {
      const s = await connect(port)
      s.pause()
      s.write(Buffer.alloc(fetch.length * 40).fill(fetch))
      return s
    }))
    log(`${stalled.length} connections each sent 40 fetch-batches of 8 MiB and read nothing`)

    const polls = (async () => {
      const poll = encodeCommand({ command: 'fetch-batch', log: 'quiet', partition: 0, group: 'g', offset: null, maxMessages: 100, maxBytes: 1 << 20, waitMs: 60_000 })
      for (let done = 0; done < flags.polls; done += 250) {
        await Promise.all(Array.from({ length: Math.min(250, flags.polls - done) }, async () => {
          const s = await connect(port)
          s.write(poll)
          // Long enough for the server to have read the poll; then the client resets.
          await new Promise((resolve) => setTimeout(resolve, 20))
          s.resetAndDestroy()
        }))
      }
      log(`${flags.polls} long polls sent and reset`)
    })()

    const batch = async (frame: Buffer, what: string): Promise<void> => {
      const answers = await Promise.all(Array.from({ length: flags.batches }, async () =>
        await exchange(port, { bytes: frame, expect: [{ command: 'publish-batch', log: 'empty', partition: 0, messages: [] }] })))
      const texts = answers.map(([r]) => r.response === 'error' ? r.message : r.response === 'batch-published' ? `stored ${r.count}` : r.response)
      log(`${flags.batches} batches of ${what} empty messages: ${[...new Set(texts)].map((t) => `${texts.filter((x) => x === t).length} x "${t}"`).join(', ')}`)
    }
    const batches = Promise.all([batch(emptyBatch('empty', 1_000_000), '1,000,000'), batch(emptyBatch('empty', 100_000), '100,000')])

    await Promise.all([polls, batches])
    const [fresh] = await exchange(port, [{ command: 'fetch-batch', log: 'big', partition: 0, group: 'g', offset: 0, maxMessages: 100_000, maxBytes: 8 * MiB, waitMs: 0 }], 30_000)
    log(`a fresh client's 8 MiB fetch-batch: ${fresh.response === 'messages' ? `${fresh.messages.length} messages` : JSON.stringify(fresh)}`)
    const [published] = await exchange(port, [{ command: 'publish', log: 'quiet', partition: 0, data: Buffer.from('hello'), reply: 'offset' }], 30_000)
    log(`a fresh client's publish: ${JSON.stringify(published)}`)
    const rss = peak.stop()
    clearInterval(sampler)
    log(`server RSS (MB) each second: ${timeline.join(' ')}`)
    for (const s of stalled) s.destroy()
    const seconds = (Date.now() - started) / 1000
    process.stdout.write(`peak server RSS ${rss.toFixed(0)} MB over ${seconds.toFixed(1)} s (limit ${flags.maxRssMb} MB): ${rss <= flags.maxRssMb ? 'MET' : 'NOT MET'}\n`)
    if (rss > flags.maxRssMb) process.exitCode = 1
  } finally {
    await stopProcess(child, 5000)
    if (!flags.keep) fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`memory-stress: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})

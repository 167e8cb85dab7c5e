import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import t, { type Test } from 'tap'
import { connect, type RogClient } from '../../lib/client/client'
import type { RogServer } from '../../lib/server/server'
import { startServer } from '../helpers/server'
import { RogProcess, eventually, rog, shell } from './rog-process'

async function setup (t: Test): Promise<{ server: RogServer, port: number, client: RogClient }> {
  const server = await startServer(t)
  const port = server.address().port
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.destroy())
  return { server, port, client }
}

async function committed (client: RogClient, log: string, group: string): Promise<number | undefined> {
  const { partitions } = await client.describe(log)
  return partitions[0].groups.find((g) => g.group === group)?.offset
}

/** Fetches waiting on the server for a publish to partition 0 of `log` (a look inside the storage layer). */
function waitingFetches (server: RogServer, log: string): number {
  const partition = server.store.partition(log, 0) as unknown as { waiters?: unknown[] }
  if (!Array.isArray(partition.waiters)) throw new Error('Partition has no `waiters` list any more: update this probe')
  return partition.waiters.length
}

async function publishLines (client: RogClient, log: string, lines: string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 10_000) await client.publishBatch(log, 0, lines.slice(i, i + 10_000))
}

t.test('--follow waits for publishes and --max stops it; the group\'s lag is then 0', async (t) => {
  const { server, port, client } = await setup(t)
  await client.createLog('live', 1)
  await client.publish('live', 0, 'before')
  const p = new RogProcess(['fetch', 'live', '-g', 'g', '--follow', '--max', '4'], { port, stdio: ['ignore', 'pipe', 'pipe'] })
  await p.until((p) => p.stdout === 'before\n')
  await eventually(async () => waitingFetches(server, 'live') === 1)
  await client.publish('live', 0, 'while waiting')
  await p.until((p) => p.stdout === 'before\nwhile waiting\n')
  await eventually(async () => waitingFetches(server, 'live') === 1)
  await client.publishBatch('live', 0, ['batch 1', 'batch 2', 'beyond --max'])
  const r = await p.done
  t.same(r, { code: 0, signal: null, stdout: 'before\nwhile waiting\nbatch 1\nbatch 2\n', stderr: '' })
  t.equal(await committed(client, 'live', 'g'), 4, 'everything printed is committed')
  t.equal((await rog(port, ['fetch', 'live', '-g', 'g'])).stdout, 'beyond --max\n', 'the group resumes after the last message printed')
  await client.commit('live', 0, 'g', 5)
  t.equal((await rog(port, ['describe', 'live'])).stdout, [
    'PARTITION  FIRST  NEXT  GROUP  COMMITTED  LAG',
    '        0      0     5  g              5    0',
    ''
  ].join('\n'))
})

t.test('--follow | head -n 5, with all of the output fitting in the pipe', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('few', 1)
  const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`)
  await client.publishBatch('few', 0, lines)
  // The subshell lets go of the pipe before saying head has exited, so the next write fails for certain.
  const p = shell('$ROG fetch few -g h --follow | (head -n 5; exec 0<&-; echo head-exited >&2); exit ${PIPESTATUS[0]}', port)
  await p.until((p) => p.stderr.includes('head-exited'))
  t.equal(await committed(client, 'few', 'h'), undefined, 'what the pipe took in is not taken as delivered')
  await client.publish('few', 0, 'one more')
  const r = await p.done
  t.same(r, { code: 0, signal: null, stdout: 'line 0\nline 1\nline 2\nline 3\nline 4\n', stderr: 'head-exited\n' }, 'rog ends quietly with exit 0 once it finds head gone')
  const next = await rog(port, ['fetch', 'few', '-g', 'h'])
  t.ok(lines.slice(0, 6).includes(next.stdout.trimEnd()), `the group resumes at ${next.stdout.trimEnd()}`)
})

t.test('--follow | head -n 5, with more output than a pipe holds', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('many', 1)
  const lines = Array.from({ length: 100_000 }, (_, i) => `line ${i}`)
  await publishLines(client, 'many', lines)
  const r = await shell('$ROG fetch many -g h --follow | head -n 5; exit ${PIPESTATUS[0]}', port).done
  t.same(r, { code: 0, signal: null, stdout: 'line 0\nline 1\nline 2\nline 3\nline 4\n', stderr: '' }, 'rog ends quietly with exit 0 when its reader goes away')
  const offset = await committed(client, 'many', 'h')
  t.ok(offset === undefined || offset <= 5, `committed offset ${String(offset)} is at most 5`)
  const next = await rog(port, ['fetch', 'many', '-g', 'h'])
  t.ok(lines.slice(0, 6).includes(next.stdout.trimEnd()), `the group resumes at ${next.stdout.trimEnd()}`)
})

t.test('SIGINT ends --follow with exit 0; to a file, everything written is committed', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('tofile', 1)
  const lines = Array.from({ length: 25_000 }, (_, i) => `entry ${i}`)
  await publishLines(client, 'tofile', lines)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-follow-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'out.txt')
  const fd = fs.openSync(file, 'w')
  const p = new RogProcess(['fetch', 'tofile', '-g', 'g', '--follow'], { port, stdio: ['ignore', fd, 'pipe'] })
  fs.closeSync(fd)
  await eventually(async () => await committed(client, 'tofile', 'g') === lines.length)
  p.child.kill('SIGINT')
  const r = await p.done
  t.same(r, { code: 0, signal: null, stdout: '', stderr: '' })
  t.equal(fs.readFileSync(file, 'utf8'), lines.join('\n') + '\n')
  t.match((await rog(port, ['describe', 'tofile'])).stdout, /\n\s+0\s+0\s+25000\s+g\s+25000\s+0\n$/, 'lag 0')
})

t.test('SIGINT ends --follow with exit 0; to a pipe, commits trail what was written', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('topipe', 1)
  const lines = Array.from({ length: 60_000 }, (_, i) => `entry ${i}`)
  await publishLines(client, 'topipe', lines)
  const p = new RogProcess(['fetch', 'topipe', '-g', 'g', '--follow'], { port, stdio: ['ignore', 'pipe', 'pipe'] })
  await p.until((p) => p.stdout.length === lines.join('\n').length + 1)
  p.child.kill('SIGINT')
  const r = await p.done
  t.equal(r.code, 0)
  t.equal(r.stdout, lines.join('\n') + '\n')
  const offset = await committed(client, 'topipe', 'g') ?? 0
  t.ok(offset > 0 && offset < lines.length, `committed ${offset}: more than nothing, less than all`)
  const resumed = new RogProcess(['fetch', 'topipe', '-g', 'g', '--follow', '--max', '1'], { port, stdio: ['ignore', 'pipe', 'pipe'] })
  t.equal((await resumed.done).stdout, `entry ${offset}\n`, 'a new follow resumes at the committed offset')
})

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import t from 'tap'
import type { RogClient } from '../../lib/client/client'
import type { RogServer } from '../../lib/server/server'
import { RogProcess, eventually, rog, serverAndClient, shell } from './rog-process'

const setup = serverAndClient

async function committed (client: RogClient, log: string, group: string): Promise<number | undefined> {
  const { partitions } = await client.describe(log)
  return partitions[0].groups.find((g) => g.group === group)?.offset
}

/** Fetches waiting on the server for a publish to a partition of `log` (a look inside the storage layer). */
function waitingFetches (server: RogServer, log: string, p = 0): number {
  const partition = server.store.partition(log, p) as unknown as { waiters?: unknown[] }
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
  t.match((await rog(port, ['describe', 'live'])).stdout, /^PARTITION  FIRST  NEXT  BYTES  GROUP  COMMITTED  LAG  LOST\n\s+0\s+0\s+5\s+\d+\s+g\s+5\s+0\s+-\n$/m)
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
  t.match((await rog(port, ['describe', 'tofile'])).stdout, /\n\s+0\s+0\s+25000\s+\d+\s+g\s+25000\s+0\s+-\n$/, 'lag 0')
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

async function groupOffsets (client: RogClient, log: string, group: string): Promise<Array<number | undefined>> {
  const { partitions } = await client.describe(log)
  return partitions.map((p) => p.groups.find((g) => g.group === group)?.offset)
}

t.test('--follow reads every partition, waiting on each; -p picks some; --max counts them all', async (t) => {
  const { server, port, client } = await setup(t)
  await client.createLog('three', 3)
  for (const p of [0, 1, 2]) await client.publishBatch('three', p, [`p${p} a`, `p${p} b`])
  // To a file, so that what is written is committed at once.
  const file = path.join(t.testdir(), 'out.txt')
  const fd = fs.openSync(file, 'w')
  const all = new RogProcess(['fetch', 'three', '-g', 'g', '--follow'], { port, stdio: ['ignore', fd, 'pipe'] })
  fs.closeSync(fd)
  await eventually(async () => (await groupOffsets(client, 'three', 'g')).join() === '2,2,2')
  t.same(fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').sort(), ['p0 a', 'p0 b', 'p1 a', 'p1 b', 'p2 a', 'p2 b'])
  await eventually(async () => [0, 1, 2].every((p) => waitingFetches(server, 'three', p) === 1))
  await client.publish('three', 2, 'late to 2')
  await eventually(async () => (await groupOffsets(client, 'three', 'g')).join() === '2,2,3')
  t.ok(fs.readFileSync(file, 'utf8').endsWith('late to 2\n'))
  all.child.kill('SIGINT')
  t.same(await all.done, { code: 0, signal: null, stdout: '', stderr: '' }, 'SIGINT ends it at once, though it waits on three partitions')

  const some = await rog(port, ['fetch', 'three', '-g', 'h', '-p', '2', '-p', '0', '--follow', '--max', '3'])
  t.equal(some.stdout.split('\n').length, 4)
  t.notOk(some.stdout.includes('p1'), 'none of partition 1')
  const h = await groupOffsets(client, 'three', 'h')
  t.equal(h[1], undefined)
  t.equal((h[0] ?? 0) + (h[2] ?? 0), 3, 'what was printed, and only that, is committed')
})

t.test('-e stops at the end of every partition: with a group, and with read; | head -n 5 on a quiet log returns', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('quiet', 2)
  await client.publishBatch('quiet', 0, ['a0', 'a1', 'a2', 'a3'])
  await client.publishBatch('quiet', 1, ['b0', 'b1', 'b2', 'b3'])

  const grouped = await rog(port, ['fetch', 'quiet', '-g', 'g', '-e'])
  t.equal(grouped.code, 0)
  t.same(grouped.stdout.split('\n').filter((l) => l !== '').sort(), ['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3'])
  t.same(await groupOffsets(client, 'quiet', 'g'), [4, 4], 'all of it committed')
  t.equal((await rog(port, ['fetch', 'quiet', '-g', 'g', '-e'])).stdout, '', 'nothing left: prints nothing and exits')

  const headed = await shell('$ROG fetch quiet -g h -e | head -n 5; exit ${PIPESTATUS[0]}', port).done
  t.equal(headed.code, 0)
  t.equal(headed.stdout.split('\n').length, 6)
  const read = await shell('$ROG read quiet -e | head -n 5; exit ${PIPESTATUS[0]}', port).done
  t.equal(read.code, 0)
  t.equal(read.stdout.split('\n').length, 6)
  t.same(await groupOffsets(client, 'quiet', 'rog read'), [undefined, undefined], 'read commits nothing')
})

t.test('read: --from beginning, end, an offset, -N; it follows unless -e; --max', async (t) => {
  const { server, port, client } = await setup(t)
  await client.createLog('r', 2)
  await client.publishBatch('r', 0, ['a0', 'a1', 'a2', 'a3', 'a4'])
  await client.publishBatch('r', 1, ['b0', 'b1'])
  const lines = (out: string): string[] => out.split('\n').filter((l) => l !== '').sort()
  t.same(lines((await rog(port, ['read', 'r', '-e'])).stdout), ['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1'], 'from the beginning by default')
  t.same(lines((await rog(port, ['read', 'r', '-e', '--from', 'beginning', '-p', '1'])).stdout), ['b0', 'b1'])
  t.same(lines((await rog(port, ['read', 'r', '-e', '--from', '1'])).stdout), ['a1', 'a2', 'a3', 'a4', 'b1'], 'an offset, in every partition')
  t.same(lines((await rog(port, ['read', 'r', '-e', '--from', '-3'])).stdout), ['a2', 'a3', 'a4', 'b0', 'b1'], '-3: the last 3 of each')
  t.same((await rog(port, ['read', 'r', '-e', '--from', 'end'])).stdout, '')
  t.match((await rog(port, ['read', 'r', '-e', '--from', '4'])).stderr, /Offset 4 is past the end of the partition \(2\)/)
  t.equal(lines((await rog(port, ['read', 'r', '--max', '6'])).stdout).length, 6, '--max stops it')

  await client.createLog('live', 2)
  await client.publish('live', 1, 'old')
  const live = new RogProcess(['read', 'live', '--from', 'end'], { port, stdio: ['ignore', 'pipe', 'pipe'] })
  await eventually(async () => waitingFetches(server, 'live', 0) === 1 && waitingFetches(server, 'live', 1) === 1)
  await client.publish('live', 1, 'new')
  await live.until((p) => p.stdout === 'new\n')
  live.child.kill('SIGTERM')
  t.same(await live.done, { code: 0, signal: null, stdout: 'new\n', stderr: '' })
  t.same((await client.describe('r')).partitions.map((p) => p.groups), [[], []], 'no group appears')
  t.same((await client.describe('live')).partitions.map((p) => p.groups), [[], []])
})

import t from 'tap'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command, Response } from '../../lib/protocol/commands'
import { ConnectionMemory } from '../../lib/server/connection-memory'
import { Executor } from '../../lib/server/executor'
import { MemoryBudget } from '../../lib/server/memory-budget'
import { Store } from '../../lib/storage/store'
import { commandWeight } from '../../lib/protocol/command-weight'
import { RequestStats } from '../../lib/observe/request-stats'

async function answer (executor: Executor, command: Command): Promise<Response> {
  executor.write([command])
  const [responses] = await once(executor, 'data') as [Response[]]
  t.equal(responses.length, 1)
  return responses[0]
}

function fetchBatch (offset: number, waitMs: number): Command {
  return { command: 'fetch-batch', log: 'r', partition: 0, group: 'g', offset, maxMessages: 100, maxBytes: 1 << 20, waitMs }
}

t.test('a replicated partition: a fetch-batch past its high watermark but within its log waits; past its log end it is refused', async (t) => {
  const store = await Store.open({ dataDir: t.testdir(), fsync: 'never', log: () => {} })
  t.teardown(() => store.close())
  await store.createLog('r', 1)
  const p = store.partition('r', 0)
  const messages = Array.from({ length: 10 }, (_, i) => Buffer.from(`m${i}`))
  await new Promise<void>((resolve, reject) => p.append(messages, (err) => err === null ? resolve() : reject(err)))
  // A newly elected leader: it holds offsets 0-9, and the high watermark it last heard of is 5.
  p.replicate({ refusal: () => null, whenReplicated: (_end, cb) => cb(null), groupWritten: (_g, _o, cb) => cb(null) })
  p.setHighWatermark(5)
  t.equal(p.highWatermark(), 5)
  t.equal(p.endOffset, 10)

  const executor = new Executor(store, new ConnectionMemory(new MemoryBudget(64 << 20)), { log: () => {} })
  t.teardown(() => executor.destroy())

  const refused = await answer(executor, fetchBatch(11, 0))
  t.match(refused, { response: 'error', message: 'Offset 11 is past the end of the partition (5)' }, 'past the log end: refused')

  const waiting = answer(executor, fetchBatch(7, 3_600_000))
  t.equal((p as unknown as { waiters: unknown[] }).waiters.length, 1, 'offset 7, within the log: a long poll')
  p.setHighWatermark(10)
  const r = await waiting
  if (r.response !== 'messages') return t.fail(`expected messages, got ${JSON.stringify(r)}`)
  t.same(r.messages.map((m) => [m.offset, m.data.toString()]), [[7, 'm7'], [8, 'm8'], [9, 'm9']], 'answered once the high watermark passed it')
  t.equal(r.endOffset, 10)
})

t.test('a fetch-batch past a trailing high watermark is answered once the high watermark reaches its offset, not only once it passes it', async (t) => {
  const store = await Store.open({ dataDir: t.testdir(), fsync: 'never', log: () => {} })
  t.teardown(() => store.close())
  await store.createLog('r', 1)
  const p = store.partition('r', 0)
  await new Promise<void>((resolve, reject) => p.append(Array.from({ length: 10 }, (_, i) => Buffer.from(`m${i}`)), (err) => err === null ? resolve() : reject(err)))
  p.replicate({ refusal: () => null, whenReplicated: (_end, cb) => cb(null), groupWritten: (_g, _o, cb) => cb(null) })
  p.setHighWatermark(5)
  const executor = new Executor(store, new ConnectionMemory(new MemoryBudget(64 << 20)), { log: () => {} })
  t.teardown(() => executor.destroy())
  const waiting = answer(executor, fetchBatch(7, 3_600_000))
  p.setHighWatermark(6)
  t.equal((p as unknown as { waiters: unknown[] }).waiters.length, 1, 'still waiting at 6')
  p.setHighWatermark(7)
  t.equal((p as unknown as { waiters: unknown[] }).waiters.length, 0, 'released at 7')
  if ((p as unknown as { waiters: unknown[] }).waiters.length > 0) return
  const r = await waiting
  t.match(r, { response: 'messages', endOffset: 7, messages: [] }, 'answered at 7: the end, nothing to read yet')
})

t.test('a connection at its memory bound with an answer outstanding starts no other fetch, however soon that answer was ready', async (t) => {
  const store = await Store.open({ dataDir: t.testdir(), fsync: 'never', log: () => {} })
  t.teardown(() => store.close())
  await store.createLog('r', 1)
  const p = store.partition('r', 0)
  await new Promise<void>((resolve, reject) => p.append(Array.from({ length: 10 }, (_, i) => Buffer.from(`m${i}`)), (err) => err === null ? resolve() : reject(err)))
  const budget = new MemoryBudget(1 << 20)
  new ConnectionMemory(budget).reserve(1 << 20)
  t.ok(budget.exhausted, 'another connection holds the whole budget')
  const memory = new ConnectionMemory(budget)
  const executor = new Executor(store, memory, { log: () => {} })
  t.teardown(() => executor.destroy())
  const answers: Response[][] = []
  executor.on('data', (responses: Response[]) => answers.push(responses))
  const fetches = [0, 1, 2].map((offset) => fetchBatch(offset, 0))
  for (const c of fetches) memory.reserve(commandWeight(c))
  executor.write(fetches)

  // Nothing calls memory.written(): no answer is ever taken by a socket. Wait until the second fetch
  // either waits for room or is answered (reads finish on I/O turns, so each step yields to them).
  const waiting = (): number => (memory as unknown as { waiters: unknown[] }).waiters.length
  for (let i = 0; i < 100_000 && answers.length < 2 && !(answers.length === 1 && waiting() > 0); i++) await new Promise(setImmediate)
  t.equal(answers.length, 1, 'one answer: the first fetch, which may go ahead with none outstanding')
  t.match(answers[0], [{ response: 'messages', messages: [{ offset: 0 }] }], 'of one message, as the budget is exhausted')
  t.equal(waiting(), 1, 'the second waits for the first to be taken')
})

t.test('a run of publishes with commits among them, whose append is stored only in part: each answer says what happened to its own request, in order', async (t) => {
  const dir = t.testdir()
  const store = await Store.open({ dataDir: dir, fsync: 'never', segmentBytes: 4096, log: () => {} })
  t.teardown(() => store.close())
  await store.createLog('r', 1)
  const p = store.partition('r', 0)
  const msg = (i: number): Buffer => Buffer.alloc(100, i)
  // 128 bytes an entry: 32 fit in a segment. The roll at offset 32 meets a file that is not the log's, and fails.
  await new Promise<void>((resolve, reject) => p.append(Array.from({ length: 30 }, (_, i) => msg(i)), (err) => err === null ? resolve() : reject(err)))
  writeFileSync(join(dir, 'r', '0', '32.log'), 'not ours')

  const publish = (i: number): Command => ({ command: 'publish', log: 'r', partition: 0, data: msg(i), reply: 'ok' })
  const commit = (offset: number): Command => ({ command: 'commit', log: 'r', partition: 0, group: 'g', offset })
  const run = [publish(30), publish(31), commit(32), publish(32), publish(33), commit(33), publish(34)]
  const memory = new ConnectionMemory(new MemoryBudget(64 << 20))
  for (const c of run) memory.reserve(commandWeight(c))
  const executor = new Executor(store, memory, { log: () => {} })
  t.teardown(() => executor.destroy())
  const answers: string[] = []
  executor.on('data', (responses: Response[]) => {
    for (const r of responses) {
      if (r.response === 'oks') answers.push(...Array.from({ length: r.count }, () => 'ok'))
      else answers.push(r.response === 'error' ? r.message : r.response === 'offset' ? `offset ${r.offset}` : r.response)
    }
  })
  executor.write(run)
  for (let i = 0; i < 100_000 && answers.length < run.length; i++) await new Promise(setImmediate)
  t.match(answers, ['ok', 'ok', 'offset 32', /starting a new segment/, /starting a new segment/, /Offset 33 is past the end/, /starting a new segment/],
    'the two publishes stored and the commit of their offsets succeed; the publishes not stored, and the commit of an offset they took, fail')
  t.equal(p.groups.get('g'), 32, 'the group is at the offset its successful commit gave')
  t.equal(p.endOffset, 32)
})

t.test('the request stats count each commit of a run once, failures as errors, and one past 2^53 the general way', async (t) => {
  const store = await Store.open({ dataDir: t.testdir(), fsync: 'never', log: () => {} })
  t.teardown(() => store.close())
  await store.createLog('r', 1)
  const stats = new RequestStats()
  const publish = (i: number): Command => ({ command: 'publish', log: 'r', partition: 0, data: Buffer.alloc(10, i), reply: 'offset' })
  const commit = (offset: number, offsetText?: string): Command => ({ command: 'commit', log: 'r', partition: 0, group: 'g', offset, ...(offsetText === undefined ? {} : { offsetText }) })
  // Two runs: commits of offsets the run's publishes took (ok), past them (an error), and one too large for a number (an error).
  const runs = [
    [publish(0), commit(1), publish(1), commit(5), commit(Infinity, '18446744073709551615'), publish(2), commit(3)],
    [publish(3), commit(4)]
  ]
  const memory = new ConnectionMemory(new MemoryBudget(64 << 20))
  for (const c of runs.flat()) memory.reserve(commandWeight(c))
  const executor = new Executor(store, memory, { log: () => {}, stats })
  t.teardown(() => executor.destroy())
  let answered = 0
  executor.on('data', (responses: Response[]) => { answered += responses.length })
  for (const run of runs) {
    const before = answered
    executor.write(run)
    for (let i = 0; i < 100_000 && answered < before + run.length; i++) await new Promise(setImmediate)
  }
  t.equal(answered, 9)
  const commits = stats.commandTotals().get('commit')
  t.same({ ok: commits?.ok, error: commits?.error }, { ok: 3, error: 2 })
  t.equal([...(commits?.buckets ?? [])].reduce((a, b) => a + b, 0), 5, 'each counted once in the duration histogram')
  t.same({ ok: stats.commandTotals().get('publish')?.ok, error: stats.commandTotals().get('publish')?.error }, { ok: 4, error: 0 })
  t.equal(store.partition('r', 0).groups.get('g'), 4)
})

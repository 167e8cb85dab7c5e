import t from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { RogServer } from '../../lib/server/server'
import type { Command, Response } from '../../lib/protocol/commands'
import { BATCHES_PER_PRODUCER } from '../../lib/storage/producer-state'
import { exchange, pipelined, request, startServer } from '../helpers/server'
import { exitOf, spawnServer } from '../helpers/process'

function batch (producerId: number, sequence: number, ...texts: string[]): Command {
  return { command: 'idempotent-publish', log: 'p', partition: 0, producerId, sequence, messages: texts.map((m) => Buffer.from(m)) }
}

async function readAll (port: number, log = 'p'): Promise<string[]> {
  const r = await request(port, { command: 'fetch-batch', log, partition: 0, group: 'g', offset: 0, maxMessages: 100_000, maxBytes: 8 << 20, waitMs: 0 })
  return r.response === 'messages' ? r.messages.map((m) => m.data.toString()) : []
}

function code (r: Response): string | null {
  if (r.response !== 'error') return null
  return /^(Out of order sequence|Duplicate sequence)/.exec(r.message)?.[1] ?? r.message
}

t.test('init producer (22) answers a fresh id in [1, 2^53) each time', async (t) => {
  const { port } = (await startServer(t)).address()
  const ids = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const r = await request(port, { command: 'init-producer' })
    t.equal(r.response, 'json')
    const { producerId } = JSON.parse(r.response === 'json' ? r.body.toString() : '{}') as { producerId: number }
    t.ok(Number.isSafeInteger(producerId) && producerId >= 1, `${producerId} is an id`)
    ids.add(producerId)
  }
  t.equal(ids.size, 20, 'no id handed out twice')
})

t.test('the sequence rules, pipelined on one connection', async (t) => {
  const { port } = (await startServer(t)).address()
  await request(port, { command: 'create', log: 'p', partitions: 1 })
  const answers = await pipelined(port, [
    batch(7, 0, 'a0', 'a1', 'a2'),
    batch(9, 500, 'b500'), // an unknown producer starts anywhere
    batch(7, 3, 'a3', 'a4'),
    batch(7, 0, 'a0', 'a1', 'a2'), // a retry of a stored batch
    batch(7, 3, 'a3', 'a4'),
    batch(7, 9, 'a9'), // a gap after 5
    batch(7, 5, 'a5'),
    batch(9, 501, 'b501'),
    batch(7, 3, 'a3') // the same first sequence, another size
  ])
  t.same(answers.slice(0, 5), [
    { response: 'batch-published', firstOffset: 0, count: 3 },
    { response: 'batch-published', firstOffset: 3, count: 1 },
    { response: 'batch-published', firstOffset: 4, count: 2 },
    { response: 'batch-published', firstOffset: 0, count: 3 },
    { response: 'batch-published', firstOffset: 4, count: 2 }
  ], 'retries answered with their original offsets')
  t.equal(code(answers[5]), 'Out of order sequence')
  t.match(answers[5], { message: 'Out of order sequence 9 from producer 7 for partition 0 of log p: expected 5' })
  t.same(answers[6], { response: 'batch-published', firstOffset: 6, count: 1 }, 'the missing batch is taken once sent')
  t.same(answers[7], { response: 'batch-published', firstOffset: 7, count: 1 })
  t.equal(code(answers[8]), 'Duplicate sequence')
  t.same(await readAll(port), ['a0', 'a1', 'a2', 'b500', 'a3', 'a4', 'a5', 'b501'], 'each message stored once, in order')
})

t.test('a retry pipelined right behind its original (still in flight) gets the same answer, and the batch is stored once', async (t) => {
  const { port } = (await startServer(t)).address()
  await request(port, { command: 'create', log: 'p', partitions: 1 })
  await request(port, { command: 'publish', log: 'p', partition: 0, data: Buffer.from('before'), reply: 'ok' })
  const answers = await pipelined(port, [batch(3, 0, 'x', 'y'), batch(3, 0, 'x', 'y'), batch(3, 2, 'z'), batch(3, 0, 'x', 'y')])
  t.same(answers, [
    { response: 'batch-published', firstOffset: 1, count: 2 },
    { response: 'batch-published', firstOffset: 1, count: 2 },
    { response: 'batch-published', firstOffset: 3, count: 1 },
    { response: 'batch-published', firstOffset: 1, count: 2 }
  ])
  t.same(await readAll(port), ['before', 'x', 'y', 'z'])
})

t.test(`a batch older than the last ${BATCHES_PER_PRODUCER} of its producer is a duplicate it can no longer answer`, async (t) => {
  const { port } = (await startServer(t)).address()
  await request(port, { command: 'create', log: 'p', partitions: 1 })
  const sends = Array.from({ length: BATCHES_PER_PRODUCER + 1 }, (_, i) => batch(5, i, `m${i}`))
  const answers = await pipelined(port, [...sends, batch(5, 1, 'm1'), batch(5, 0, 'm0')])
  t.same(answers[BATCHES_PER_PRODUCER + 1], { response: 'batch-published', firstOffset: 1, count: 1 }, 'the oldest remembered one is answered')
  t.equal(code(answers[BATCHES_PER_PRODUCER + 2]), 'Duplicate sequence', 'the one before it is not')
  t.equal((await readAll(port)).length, BATCHES_PER_PRODUCER + 1)
})

t.test('sequences wrap at 2^32', async (t) => {
  const { port } = (await startServer(t)).address()
  await request(port, { command: 'create', log: 'p', partitions: 1 })
  const answers = await pipelined(port, [batch(4, 2 ** 32 - 2, 'a', 'b'), batch(4, 0, 'c'), batch(4, 2 ** 32 - 2, 'a', 'b'), batch(4, 2 ** 32 - 5, 'old')])
  t.same(answers.slice(0, 3), [
    { response: 'batch-published', firstOffset: 0, count: 2 },
    { response: 'batch-published', firstOffset: 2, count: 1 },
    { response: 'batch-published', firstOffset: 0, count: 2 }
  ])
  t.equal(code(answers[3]), 'Duplicate sequence', 'behind the next sequence, across the wrap')
})

t.test('errors of command 23: unknown log, bad partition, malformed frames; the server stays up', async (t) => {
  const { port } = (await startServer(t)).address()
  await request(port, { command: 'create', log: 'p', partitions: 1 })
  t.match(await request(port, { ...batch(1, 0, 'x'), log: 'nope' } as Command), { response: 'error' })
  t.match(await request(port, { ...batch(1, 0, 'x'), partition: 3 } as Command), { response: 'error' })
  const zeroId = Buffer.from('1700000014' + '0001' + '70' + '0000000000000000' + '00000000' + '00000001' + '00000000', 'hex')
  const answer = await exchange(port, zeroId)
  t.equal(answer[0], 1, 'an error answer')
  t.match(answer.subarray(9).toString(), /producer id 0 is not one command 22 gives/)
  const cut = Buffer.from('170000000e' + '0001' + '70' + '0000000000000001' + '000000', 'hex')
  t.match((await exchange(port, cut)).subarray(9).toString(), /Malformed request/)
  t.same(await request(port, batch(1, 0, 'ok')), { response: 'batch-published', firstOffset: 0, count: 1 }, 'still serving')
})

t.test('after a restart a retried batch is still recognised', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-test-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  let server = await RogServer.start({ port: 0, dataDir, fsync: 'never', log: () => {} })
  let port = server.address().port
  await request(port, { command: 'create', log: 'p', partitions: 1 })
  t.same(await pipelined(port, [batch(11, 0, 'a', 'b'), batch(11, 2, 'c')]), [
    { response: 'batch-published', firstOffset: 0, count: 2 },
    { response: 'batch-published', firstOffset: 2, count: 1 }
  ])
  await server.close()
  server = await RogServer.start({ port: 0, dataDir, fsync: 'never', log: () => {} })
  t.teardown(() => server.close())
  port = server.address().port
  t.same(await pipelined(port, [batch(11, 0, 'a', 'b'), batch(11, 2, 'c'), batch(11, 3, 'd'), batch(11, 5, 'f')]).then((a) => a.slice(0, 3)), [
    { response: 'batch-published', firstOffset: 0, count: 2 },
    { response: 'batch-published', firstOffset: 2, count: 1 },
    { response: 'batch-published', firstOffset: 3, count: 1 }
  ])
  t.same(await readAll(port), ['a', 'b', 'c', 'd'])
})

t.test('after SIGKILL of a server process (--fsync never: only the page cache has the writes) a retried batch is still recognised', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-test-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const first = await spawnServer(t, ['--data-dir', dataDir, '--fsync', 'never'])
  await request(first.port, { command: 'create', log: 'p', partitions: 1 })
  const sends = Array.from({ length: 200 }, (_, i) => batch(21, i * 2, `m${i * 2}`, `m${i * 2 + 1}`))
  const answers = await pipelined(first.port, sends)
  t.ok(answers.every((a, i) => a.response === 'batch-published' && a.firstOffset === i * 2), 'all stored')
  first.child.kill('SIGKILL')
  t.equal((await exitOf(first.child)).signal, 'SIGKILL')
  const second = await spawnServer(t, ['--data-dir', dataDir, '--fsync', 'never'])
  const retries = await pipelined(second.port, [...sends.slice(-BATCHES_PER_PRODUCER), batch(21, 400, 'm400')])
  t.same(retries.slice(0, -1), sends.slice(-BATCHES_PER_PRODUCER).map((_, i) => ({ response: 'batch-published', firstOffset: 2 * (200 - BATCHES_PER_PRODUCER + i), count: 2 })), 'the last batches are answered with their offsets')
  t.same(retries[retries.length - 1], { response: 'batch-published', firstOffset: 400, count: 1 }, 'and the next one is appended')
  t.equal((await readAll(second.port)).length, 401)
  second.child.kill('SIGTERM')
  await exitOf(second.child)
})

import t from 'tap'
import * as fs from 'node:fs'
import fc from 'fast-check'
import { exchange, pipelined, request, startServer } from '../helpers/server'
import { nodeFileIo, type FileIo } from '../../lib/storage/file-io'
import { RogServer } from '../../lib/server/server'
import { Segment } from '../../lib/storage/segment'
import { anyCommand } from '../helpers/arbitraries'
import { encodeCommand } from '../../lib/protocol/request-writer'
import type { Command, Response } from '../../lib/protocol/commands'

t.test('a live server survives random bytes from many clients and keeps serving', async (t) => {
  const server = await startServer(t, { maxMessageBytes: 2048 })
  const { port } = server.address()
  await request(port, { command: 'create', log: 'fz', partitions: 1 })
  await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 3000 }), async (bytes) => {
    await exchange(port, Buffer.from(bytes))
    const r = await request(port, { command: 'list-logs' })
    return r.response === 'logs' && r.logs.some((l) => l.log === 'fz')
  }), { numRuns: 60 })
  t.ok(fs.readdirSync(server.store.dataDir).every((name) => name === 'fz' || /^[A-Za-z0-9._-]+$/.test(name)), 'no stray files')
})

t.test('a disk error on append is an error answer, and the partition stays consistent', async (t) => {
  let fail = false
  const io: FileIo = {
    ...nodeFileIo,
    writev (fd, buffers, position) {
      if (fail) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
      nodeFileIo.writev(fd, buffers, position)
    }
  }
  const server = await startServer(t, { io })
  const { port } = server.address()
  await request(port, { command: 'create', log: 'io', partitions: 1 })
  const publish = (s: string): Command => ({ command: 'publish', log: 'io', partition: 0, data: Buffer.from(s), reply: 'offset' })
  t.same(await request(port, publish('a')), { response: 'offset', offset: 0 })
  fail = true
  t.match(await request(port, publish('b')), { response: 'error', message: /^Storage error while appending: EIO/ })
  const reference: Command = { command: 'publish', log: 'io', partition: 0, data: Buffer.from('x'), reply: 'ok' }
  const failedRun = await pipelined(port, [reference, reference, reference])
  t.ok(failedRun.every((r) => r.response === 'error' && /EIO/.test(r.message)), 'each publish of a failed run gets the error')
  t.match(await request(port, { command: 'ack', log: 'io', partition: 0, group: 'g' }), { response: 'error', message: /Storage error/ }, 'an ack that fails to persist is an error')
  fail = false
  t.same(await request(port, publish('c')), { response: 'offset', offset: 1 }, 'no gap after the failure')
  t.same(await request(port, { command: 'fetch', log: 'io', partition: 0, group: 'g' }), { response: 'message', data: Buffer.from('a') }, 'the failed ack moved nothing')
  const r = await request(port, { command: 'fetch-batch', log: 'io', partition: 0, group: 'g', offset: 0, maxMessages: 10, maxBytes: 100, waitMs: 0 })
  t.same(r.response === 'messages' && r.messages.map((m) => m.data.toString()), ['a', 'c'])
})

t.test('many connections publishing to one partition get unique, gapless offsets in append order', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'cc', partitions: 1 })
  const connections = 8
  const each = 500
  const results = await Promise.all(Array.from({ length: connections }, async (_, c) => await pipelined(port,
    Array.from({ length: each }, (_, i): Command => ({ command: 'publish', log: 'cc', partition: 0, data: Buffer.from(`${c}:${i}`), reply: 'offset' })))))
  const offsets = results.flat().map((r) => r.response === 'offset' ? r.offset : -1)
  t.same([...offsets].sort((a, b) => a - b), Array.from({ length: connections * each }, (_, i) => i), 'unique and gapless')
  for (const rs of results) {
    const mine = rs.map((r) => r.response === 'offset' ? r.offset : -1)
    t.ok(mine.every((o, i) => i === 0 || o > mine[i - 1]), 'each connection\'s offsets increase in its send order')
  }
  const r = await request(port, { command: 'fetch-batch', log: 'cc', partition: 0, group: 'g', offset: 0, maxMessages: connections * each, maxBytes: 1 << 20, waitMs: 0 })
  const stored = r.response === 'messages' ? r.messages : []
  t.ok(stored.every((m) => {
    const [c, i] = m.data.toString().split(':').map(Number)
    return (results[c][i] as { offset: number }).offset === m.offset
  }), 'each message is stored at the offset it was answered with')
})

t.test('concurrent acks of one group never move it past the end or backwards', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'ak', partitions: 1 })
  await request(port, { command: 'publish-batch', log: 'ak', partition: 0, messages: Array.from({ length: 300 }, (_, i) => Buffer.from(`m${i}`)) })
  const acks = (n: number): Command[] => Array.from({ length: n }, () => ({ command: 'ack', log: 'ak', partition: 0, group: 'g' }))
  const answers: Response[] = (await Promise.all(Array.from({ length: 6 }, async () => await pipelined(port, acks(100))))).flat()
  t.equal(answers.filter((r) => r.response === 'ok').length, 300, 'exactly as many acks succeed as there are messages')
  t.ok(answers.filter((r) => r.response === 'error').every((r) => r.response === 'error' && r.message === 'No data left in the log to be read'))
  const info = await request(port, { command: 'describe', log: 'ak' })
  t.same(info.response === 'log-info' && info.partitions[0].groups, [{ group: 'g', offset: 300 }])
})

t.test('shutdown does not wait out long polls, even one queued behind another', async (t) => {
  const server = await RogServer.start({ port: 0, dataDir: t.testdir(), fsync: 'never', log: () => {} })
  const { port } = server.address()
  await request(port, { command: 'create', log: 'lp', partitions: 1 })
  const poll: Command = { command: 'fetch-batch', log: 'lp', partition: 0, group: 'g', offset: null, maxMessages: 10, maxBytes: 1000, waitMs: 60_000 }
  const answers = pipelined(port, [poll, poll])
  // Until both polls are read (the create's connection may linger: count bytes, not connections).
  const bytes = 2 * encodeCommand(poll).length
  for (let i = 0; i < 1_000_000 && !server.connectionStats().some((c) => c.bytesRead >= bytes); i++) await new Promise((resolve) => setImmediate(resolve))
  await server.close()
  // Had the close waited out its grace period instead, it would have cut the connection with both polls unanswered.
  t.same((await answers).map((r) => r.response === 'messages' && r.messages.length), [0, 0], 'both polls answered, empty, before the close cut the connection')
})

t.test('a failure to start a new segment (EMFILE, ENOSPC) is an error answer, not a crash', async (t) => {
  const server = await startServer(t, { segmentBytes: 4096 })
  const { port } = server.address()
  await request(port, { command: 'create', log: 'roll', partitions: 1 })
  const publish = (i: number): Command => ({ command: 'publish', log: 'roll', partition: 0, data: Buffer.from(`m${i}`.padEnd(100)), reply: 'offset' })
  const create = Segment.create
  t.teardown(() => { Segment.create = create })
  Segment.create = () => { throw Object.assign(new Error('EMFILE: too many open files, open'), { code: 'EMFILE' }) }
  const during = await pipelined(port, Array.from({ length: 100 }, (_, i) => publish(i)))
  Segment.create = create
  const stored = during.filter((r) => r.response === 'offset').length
  t.ok(stored > 0 && stored < 100, `${stored} fit in the first segment`)
  t.ok(during.slice(stored).every((r) => r.response === 'error' && /starting a new segment: EMFILE/.test(r.message)), 'the rest are refused with the reason')
  t.same(await request(port, publish(stored)), { response: 'offset', offset: stored }, 'the server is up; the next publish takes the next offset')
  const r = await request(port, { command: 'fetch-batch', log: 'roll', partition: 0, group: 'g', offset: 0, maxMessages: 1000, maxBytes: 1 << 20, waitMs: 0 })
  t.same(r.response === 'messages' && r.messages.map((m) => m.offset), Array.from({ length: stored + 1 }, (_, i) => i), 'no gaps')
})

t.test('a group name that grows past 64 KiB when decoded (invalid UTF-8) is refused, and nothing breaks', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'u', partitions: 1 })
  await request(port, { command: 'publish', log: 'u', partition: 0, data: Buffer.from('x'), reply: 'ok' })
  const group = Buffer.alloc(30_000, 0xff)
  const ack = Buffer.from([3, 0, 1, 0x75, 0, 0, 0, 0, 0, 0, 0, 0])
  ack.writeUInt32BE(group.length, 8)
  const answer = await exchange(port, Buffer.concat([ack, group]))
  t.match(answer.subarray(9).toString(), /^Group name of 90000 bytes \(as UTF-8\) exceeds 65535$/)
  t.same(await request(port, { command: 'describe', log: 'u' }), { response: 'log-info', log: 'u', partitions: [{ partition: 0, firstOffset: 0, nextOffset: 1, groups: [] }] }, 'nothing was stored for it; describe still answers')
  t.same(await request(port, { command: 'ack', log: 'u', partition: 0, group: 'ok' }), { response: 'ok' })
})

t.test('random well-formed commands against a live server are all answered, and it stays up', async (t) => {
  const server = await startServer(t, { maxMessageBytes: 4096 })
  const { port } = server.address()
  const names = ['a', 'b', 'c.d']
  await request(port, { command: 'create', log: 'a', partitions: 3 })
  await fc.assert(fc.asyncProperty(fc.array(anyCommand({ names, maxWaitMs: 20 }), { minLength: 1, maxLength: 30 }), async (commands) => {
    const answers = await pipelined(port, commands)
    return answers.length === commands.length && answers.every((r) => r.response !== 'error' || !r.message.startsWith('Internal error'))
  }), { numRuns: 80 })
  const logs = await request(port, { command: 'list-logs' })
  t.ok(logs.response === 'logs' && logs.logs.some((l) => l.log === 'a'), 'still serving')
})

t.test('a batch fetch answers with the committed offset it read from, even when an ack lands during the read', async (t) => {
  let held: (() => void) | null = null
  let hold = false
  const io: FileIo = {
    ...nodeFileIo,
    read (fd, buf, position, callback) {
      if (!hold) return nodeFileIo.read(fd, buf, position, callback)
      hold = false
      held = () => nodeFileIo.read(fd, buf, position, callback)
    }
  }
  const server = await startServer(t, { io })
  const { port } = server.address()
  await request(port, { command: 'create', log: 'fb', partitions: 1 })
  await request(port, { command: 'publish-batch', log: 'fb', partition: 0, messages: [Buffer.from('m0'), Buffer.from('m1')] })
  hold = true
  const fetched = request(port, { command: 'fetch-batch', log: 'fb', partition: 0, group: 'g', offset: null, maxMessages: 10, maxBytes: 1000, waitMs: 0 })
  for (let i = 0; i < 100_000 && held === null; i++) await new Promise((resolve) => setImmediate(resolve))
  t.same(await request(port, { command: 'ack', log: 'fb', partition: 0, group: 'g' }), { response: 'ok' }, 'an ack lands while the read is held')
  ;(held as unknown as () => void)()
  const r = await fetched
  t.ok(r.response === 'messages' && r.messages[0].offset === 0, 'the read started at the offset committed then')
  t.equal(r.response === 'messages' && r.committedOffset, 0, 'and the answer names that offset, where its messages start')
})

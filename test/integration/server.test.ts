import t from 'tap'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { exchange, pipelined, request, startServer } from '../helpers/server'
import { encodeCommand } from '../../lib/protocol/request-writer'
import { readEntryHeader } from '../../lib/storage/entry'
import type { Command, Response } from '../../lib/protocol/commands'

const vectors = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'protocol-vectors.json'), 'utf8')) as {
  pipelined: { hex: string }
  responses: Array<{ name: string, hex: string }>
}
const golden = (name: string): Buffer => Buffer.from(vectors.responses.find((r) => r.name === name)?.hex ?? '', 'hex')
const ok = (): Response => ({ response: 'ok' })

t.test('one request per connection: the reference commands and every reference error, byte for byte', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  const raw = async (c: Command): Promise<Buffer> => await exchange(port, encodeCommand(c))
  t.same(await raw({ command: 'create', log: 'events.log', partitions: 10 }), golden('ok'))
  t.same(await raw({ command: 'create', log: 'events.log', partitions: 10 }), golden('error-exists'))
  t.same(await raw({ command: 'create', log: 'other', partitions: 0 }), golden('error-partitions'))
  t.same(await raw({ command: 'fetch', log: 'events.log', partition: 3, group: 'g' }), golden('error-no-data'))
  t.same(await raw({ command: 'publish', log: 'nope', partition: 0, data: Buffer.from('x'), reply: 'ok' }), golden('error-no-log'))
  t.same(await raw({ command: 'ack', log: 'events.log', partition: 12, group: 'g' }), golden('error-partition-range'))
  t.same(await raw({ command: 'publish', log: 'events.log', partition: 3, data: Buffer.from('some data'), reply: 'ok' }), golden('ok'))
  t.same(await raw({ command: 'fetch', log: 'events.log', partition: 3, group: 'g' }), golden('fetch-ok'))
  t.same(await raw({ command: 'fetch', log: 'events.log', partition: 3, group: 'g' }), golden('fetch-ok'), 'fetch does not move the group')
  t.same(await raw({ command: 'fetch', log: 'events.log', partition: 3, group: 'other' }), golden('fetch-ok'), 'groups are independent')
  t.same(await raw({ command: 'ack', log: 'events.log', partition: 3, group: 'g' }), golden('ok'))
  t.same(await raw({ command: 'fetch', log: 'events.log', partition: 3, group: 'g' }), golden('error-no-data'))
  t.same(await raw({ command: 'ack', log: 'events.log', partition: 3, group: 'g' }), golden('error-no-data'), 'an ack past the end is an error')
  t.same(await raw({ command: 'publish', log: 'events.log', partition: 3, data: Buffer.from('next'), reply: 'ok' }), golden('ok'))
  t.same(await request(port, { command: 'fetch', log: 'events.log', partition: 3, group: 'g' }), { response: 'message', data: Buffer.from('next') }, 'the failed ack skipped nothing')

  const u64Group = Buffer.from('02030a6576656e74732e6c6f67000000000000000567726f7570', 'hex')
  t.same((await exchange(port, u64Group)).subarray(9).toString(), 'some data', 'the u64 group size form is accepted')
  t.match(await request(port, { command: 'create', log: '../escape', partitions: 1 }), { response: 'error', message: /Invalid log name/ })
  t.notOk(fs.existsSync(path.join(server.store.dataDir, '..', 'escape')))
})

t.test('the pipelined vector on one connection is answered in order', async (t) => {
  const server = await startServer(t)
  const got = await exchange(server.address().port, Buffer.from(vectors.pipelined.hex, 'hex'), 1 + 1 + 1 + 10 + 1)
  t.equal(got.toString('hex'), '00' + '00' + '00' + '00' + '0000000000000001' + '61' + '00')
})

t.test('20,000 pipelined publishes are answered in order and read back intact', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'many', partitions: 1 })
  const data = (i: number): Buffer => Buffer.from(`message number ${i} `.padEnd(40, '.'))
  const publishes: Command[] = Array.from({ length: 20_000 }, (_, i) => i % 2 === 0
    ? { command: 'publish', log: 'many', partition: 0, data: data(i), reply: 'ok' }
    : { command: 'publish', log: 'many', partition: 0, data: data(i), reply: 'offset' })
  const answers = await pipelined(port, publishes)
  t.ok(answers.every((r, i) => i % 2 === 0 ? r.response === 'ok' : r.response === 'offset' && r.offset === i), 'every answer, in order')
  const read: Buffer[] = []
  while (read.length < 20_000) {
    const [r] = await pipelined(port, [{ command: 'fetch-batch', log: 'many', partition: 0, group: 'g', offset: read.length, maxMessages: 7000, maxBytes: 1 << 20, waitMs: 0 }])
    if (r.response !== 'messages' || r.messages.length === 0) throw new Error(`unexpected ${JSON.stringify(r)}`)
    read.push(...r.messages.map((m) => m.data))
  }
  t.ok(read.every((m, i) => m.equals(data(i))), 'read back intact')
})

t.test('6 MB of 10 KB messages roll into 1 MiB segments named by their first id', async (t) => {
  const server = await startServer(t, { segmentBytes: 1024 * 1024 })
  const { port } = server.address()
  await request(port, { command: 'create', log: 'seg', partitions: 1 })
  const payload = (i: number): Buffer => Buffer.alloc(10_000, i % 256)
  const answers = await pipelined(port, Array.from({ length: 600 }, (_, i): Command => ({ command: 'publish', log: 'seg', partition: 0, data: payload(i), reply: 'ok' })))
  t.ok(answers.every((r) => r.response === 'ok'))
  const dir = path.join(server.store.dataDir, 'seg', '0')
  const segments = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort((a, b) => parseInt(a) - parseInt(b))
  t.ok(segments.length >= 6, `${segments.length} segments`)
  let next = 0
  for (const [i, name] of segments.entries()) {
    const buf = fs.readFileSync(path.join(dir, name))
    t.equal(name, `${next}.log`, 'named by the id of its first message')
    if (i < segments.length - 1) t.ok(buf.length >= 1024 * 1024 && buf.length < 1024 * 1024 + 10_100, `${name}: ${buf.length} bytes, about 1 MiB`)
    let at = 0
    while (at < buf.length) {
      const e = readEntryHeader(buf, at)
      if (e === null || e.id !== next || at + e.size > buf.length) throw new Error(`${name}: bad frame at ${at}`)
      next++
      at += e.size
    }
  }
  t.equal(next, 600, 'every message parses as an id/size/content frame')
})

t.test('hostile input gets an error (or a closed connection) and never takes the server down', async (t) => {
  const server = await startServer(t, { maxMessageBytes: 1024 })
  const { port } = server.address()
  await request(port, { command: 'create', log: 'h', partitions: 1 })
  const errorText = (b: Buffer): string => b[0] === 1 ? b.subarray(9).toString() : `not an error: ${b.toString('hex')}`

  t.equal(errorText(await exchange(port, Buffer.from([0x2a, 1, 2, 3]))), 'Unknown command 42')
  t.equal(errorText(await exchange(port, Buffer.concat([Buffer.from([1, 0, 1, 0x68]), Buffer.from('7fffffffffffffff', 'hex')]))),
    'Message of 9223372036854775807 bytes exceeds the limit of 1024 bytes (--max-message-bytes)')
  t.equal(errorText(await exchange(port, encodeCommand({ command: 'publish', log: 'h', partition: 0, data: Buffer.alloc(1025), reply: 'ok' }))),
    'Message of 1025 bytes exceeds the limit of 1024 bytes (--max-message-bytes)')
  const garbage = Buffer.alloc(64 * 1024)
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 256
  await exchange(port, garbage)

  const before = encodeCommand({ command: 'publish', log: 'h', partition: 0, data: Buffer.from('before'), reply: 'ok' })
  const got = await exchange(port, Buffer.concat([before, Buffer.from([0xee])]))
  t.equal(got[0], 0, 'requests before a bad frame are answered first')
  t.match(errorText(got.subarray(1)), /Unknown command 238/)

  const cut = net.connect(port, '127.0.0.1')
  await once(cut, 'connect')
  cut.end(encodeCommand({ command: 'publish', log: 'h', partition: 0, data: Buffer.alloc(800, 1), reply: 'ok' }).subarray(0, 400))
  await once(cut, 'close')

  t.same(await request(port, { command: 'fetch', log: 'h', partition: 0, group: 'g' }), { response: 'message', data: Buffer.from('before') }, 'the next client is served normally')
  t.same(await request(port, { command: 'ack', log: 'h', partition: 0, group: 'g' }), ok())
  t.match(await request(port, { command: 'fetch', log: 'h', partition: 0, group: 'g' }), { response: 'error' }, 'the cut-off publish stored nothing')
})

t.test('a client that never reads its answers stalls only its own socket', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'slow', partitions: 1 })
  await request(port, { command: 'publish', log: 'slow', partition: 0, data: Buffer.alloc(256 * 1024, 9), reply: 'ok' })
  const fetch = encodeCommand({ command: 'fetch', log: 'slow', partition: 0, group: 'g' })
  const socket = net.connect({ port, host: '127.0.0.1' })
  await once(socket, 'connect')
  socket.pause()
  // 16 MB of requests, far more than the kernel's socket buffers hold: 1.8 million fetches, 460 GB of answers.
  const burst = Buffer.alloc(fetch.length * Math.floor(16e6 / fetch.length)).fill(fetch)
  socket.write(burst)
  const baseline = process.memoryUsage().rss
  const serverRead = (): number => Math.max(...server.connectionStats().map((c) => c.bytesRead))
  let last = -1
  for (let i = 0; i < 100 && serverRead() !== last; i++) {
    last = serverRead()
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  t.ok(last > 0 && last < burst.length / 2, `the server stopped reading after ${last} of ${burst.length} request bytes`)
  t.ok(process.memoryUsage().rss - baseline < 400 * 1024 * 1024, 'server memory stays bounded')
  t.same(await request(port, { command: 'fetch', log: 'slow', partition: 0, group: 'other' }).then((r) => r.response), 'message', 'other clients are served meanwhile')
  socket.destroy()
})

t.test('rog commands beyond the reference: batches, commits, long poll, metadata', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'x', partitions: 2 })
  t.same(await request(port, { command: 'publish-batch', log: 'x', partition: 1, messages: [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')] }), { response: 'batch-published', firstOffset: 0, count: 3 })
  const page = await request(port, { command: 'fetch-batch', log: 'x', partition: 1, group: 'g', offset: null, maxMessages: 2, maxBytes: 1000, waitMs: 0 })
  t.same(page, { response: 'messages', committedOffset: 0, endOffset: 3, messages: [{ offset: 0, data: Buffer.from('a') }, { offset: 1, data: Buffer.from('b') }] })
  t.same(await request(port, { command: 'commit', log: 'x', partition: 1, group: 'g', offset: 2 }), { response: 'offset', offset: 2 })
  t.match(await request(port, { command: 'commit', log: 'x', partition: 1, group: 'g', offset: 4 }), { response: 'error', message: /past the end/ })
  t.match(await request(port, { command: 'fetch-batch', log: 'x', partition: 1, group: 'g', offset: 9, maxMessages: 2, maxBytes: 1000, waitMs: 0 }), { response: 'error', message: /past the end/ })

  const waiting = request(port, { command: 'fetch-batch', log: 'x', partition: 1, group: 'g', offset: 3, maxMessages: 10, maxBytes: 1000, waitMs: 30_000 })
  await new Promise((resolve) => setTimeout(resolve, 50))
  await request(port, { command: 'publish', log: 'x', partition: 1, data: Buffer.from('late'), reply: 'ok' })
  t.match(await waiting, { response: 'messages', messages: [{ offset: 3, data: Buffer.from('late') }] }, 'the long poll wakes when a publish lands')

  t.same(await request(port, { command: 'list-logs' }), { response: 'logs', logs: [{ log: 'x', partitions: 2 }] })
  t.same(await request(port, { command: 'describe', log: 'x' }), {
    response: 'log-info',
    log: 'x',
    partitions: [
      { partition: 0, firstOffset: 0, nextOffset: 0, groups: [] },
      { partition: 1, firstOffset: 0, nextOffset: 4, groups: [{ group: 'g', offset: 2 }] }
    ]
  })
})

t.test('commits pipelined among publishes see the publishes before them, not those after', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'm', partitions: 1 })
  const publish = (data: string): Command => ({ command: 'publish', log: 'm', partition: 0, data: Buffer.from(data), reply: 'offset' })
  const commit = (group: string, offset: number): Command => ({ command: 'commit', log: 'm', partition: 0, group, offset })
  // One write: the publishes and commits reach the server together and run as one append.
  const answers = await pipelined(port, [
    publish('a'), publish('b'), commit('g', 2), commit('h', 3), publish('c'), commit('h', 3), commit('g', 1),
    { command: 'fetch-batch', log: 'm', partition: 0, group: 'g', offset: null, maxMessages: 10, maxBytes: 1000, waitMs: 0 }
  ])
  t.match(answers.slice(0, 7), [
    { response: 'offset', offset: 0 },
    { response: 'offset', offset: 1 },
    { response: 'offset', offset: 2 },
    { response: 'error', message: /^Offset 3 is past the end of the partition/ },
    { response: 'offset', offset: 2 },
    { response: 'offset', offset: 3 },
    { response: 'offset', offset: 1 }
  ], 'a commit of an offset taken by a later publish is refused; one taken by an earlier publish, not yet written, is accepted')
  t.match(answers[7], { response: 'messages', committedOffset: 1, endOffset: 3, messages: [{ offset: 1 }, { offset: 2 }] }, 'the fetch after them sees the last commit of g')
  t.same(await request(port, { command: 'describe', log: 'm' }), {
    response: 'log-info',
    log: 'm',
    partitions: [{ partition: 0, firstOffset: 0, nextOffset: 3, groups: [{ group: 'g', offset: 1 }, { group: 'h', offset: 3 }] }]
  })
})

t.test('--max-connections refuses the extra clients with an error', async (t) => {
  const server = await startServer(t, { maxConnections: 1 })
  const { port } = server.address()
  const first = net.connect(port, '127.0.0.1')
  await once(first, 'connect')
  await new Promise((resolve) => setImmediate(resolve))
  const refused = await exchange(port, Buffer.alloc(0))
  t.match(refused.subarray(9).toString(), /Too many connections/)
  first.destroy()
  await once(first, 'close')
  for (let i = 0; i < 50 && server.connectionCount > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(await request(port, { command: 'list-logs' }), { response: 'logs', logs: [] }, 'served again once a slot is free')
})

t.test('a connection idle in the middle of a frame is closed after --idle-timeout-ms', async (t) => {
  const server = await startServer(t, { idleTimeoutMs: 100 })
  const socket = net.connect(server.address().port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(Buffer.from([1, 0]))
  socket.resume()
  await once(socket, 'close')
  t.pass('closed by the server')
})

t.test('offsets of 2^53 and more are answered exactly, never rounded', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'big', partitions: 1 })
  const max = Buffer.from('ffffffffffffffff', 'hex')
  const commit = encodeCommand({ command: 'commit', log: 'big', partition: 0, group: 'g', offset: 0 })
  max.copy(commit, commit.length - 8)
  const fetch = encodeCommand({ command: 'fetch-batch', log: 'big', partition: 0, group: 'g', offset: 0, maxMessages: 1, maxBytes: 1, waitMs: 0 })
  max.copy(fetch, fetch.length - 20)
  for (const frame of [commit, fetch]) {
    const answer = await exchange(port, frame)
    t.equal(answer[0], 1, 'an error answer')
    t.equal(answer.toString('utf8', 9), 'Offset 18446744073709551615 is past the end of the partition (0)')
  }
  t.same(await request(port, { command: 'commit', log: 'big', partition: 0, group: 'g', offset: 0 }), { response: 'offset', offset: 0 }, 'the connection and the group are unharmed')
})

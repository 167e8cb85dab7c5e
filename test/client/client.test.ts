import * as net from 'node:net'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { RogError } from '../../lib/errors'
import { RogClient, connect } from '../../lib/client/client'
import { encodeResponses } from '../../lib/protocol/encoder'
import { ResponseReader, type Expect } from '../../lib/protocol/response-reader'
import type { Response } from '../../lib/protocol/commands'
import { startServer } from '../helpers/server'
import { tcpServer as fakeServer } from '../helpers/tcp'
import { VERSION } from '../../lib/version'

async function client (t: Test, port: number): Promise<RogClient> {
  const c = await connect(`127.0.0.1:${port}`)
  t.teardown(() => c.destroy())
  return c
}

async function rejection (p: Promise<unknown>): Promise<RogError> {
  try {
    await p
  } catch (err) {
    if (err instanceof RogError) return err
    throw err
  }
  throw new Error('expected a rejection')
}

t.test('pipelined requests are all in flight at once and answered in order', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  await c.createLog('ordered', 2)
  const offsets: Array<Promise<number>> = []
  const peeks: Array<Promise<Buffer>> = []
  for (let i = 0; i < 500; i++) {
    offsets.push(c.publish('ordered', i % 2, `m${i}`))
    if (i % 100 === 99) peeks.push(c.fetch('ordered', 1, 'g'))
  }
  t.equal(c.pending, 505, 'nothing was waited for before sending the next request')
  const got = await Promise.all(offsets)
  t.same(got, Array.from({ length: 500 }, (_, i) => Math.floor(i / 2)), 'each answer reaches its own request')
  t.same((await Promise.all(peeks)).map(String), ['m1', 'm1', 'm1', 'm1', 'm1'], 'a fetch sees the publishes sent before it')

  const batch = await c.fetchBatch({ log: 'ordered', partition: 0, group: 'g', offset: 10, maxMessages: 3 })
  t.same(batch.messages.map((m) => [m.offset, m.data.toString()]), [[10, 'm20'], [11, 'm22'], [12, 'm24']])
  t.equal(batch.committedOffset, 0)
  t.equal(batch.endOffset, 250)
  t.same(await c.publishBatch('ordered', 0, ['a', Buffer.from('b')]), { firstOffset: 250, count: 2 })
  t.equal(c.pending, 0)
})

t.test('every command, through the promise API', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  await c.createLog('all', 1)
  await c.createLog('two', 2)
  t.same(await c.listLogs(), [{ log: 'all', partitions: 1 }, { log: 'two', partitions: 2 }])
  t.equal(await c.publish('all', 0, 'zero'), 0)
  t.equal(await c.publish('all', 0, Buffer.from('one')), 1)
  t.equal((await c.fetch('all', 0, 'g')).toString(), 'zero', 'fetch does not move the group')
  t.equal((await c.fetch('all', 0, 'g')).toString(), 'zero')
  await c.ack('all', 0, 'g')
  t.equal((await c.fetch('all', 0, 'g')).toString(), 'one')
  await c.commit('all', 0, 'h', 2)
  t.same(await c.describe('all'), {
    log: 'all',
    partitions: [{ partition: 0, firstOffset: 0, nextOffset: 2, groups: [{ group: 'g', offset: 1 }, { group: 'h', offset: 2 }] }]
  })
})

t.test('server errors carry the server text and a code; the connection stays usable', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  await c.createLog('e', 1)
  // All sent at once: the ones failing on the server do not disturb the others.
  const cases: Array<[Promise<RogError>, string, string]> = [
    [rejection(c.publish('nolog', 0, 'x')), 'NO_LOG', 'No log registered with name nolog'],
    [rejection(c.fetch('e', 0, 'g')), 'NO_DATA', 'No data left in the log to be read'],
    [rejection(c.ack('e', 0, 'g')), 'NO_DATA', 'No data left in the log to be read'],
    [rejection(c.createLog('e', 1)), 'LOG_EXISTS', 'Log e already exists'],
    [rejection(c.createLog('zero', 0)), 'BAD_PARTITION_COUNT', 'Number of partitions must be at least 1'],
    [rejection(c.fetchBatch({ log: 'e', partition: 3, group: 'g' })), 'BAD_PARTITION', 'Trying to access partition 3 but log e has 1 partitions'],
    [rejection(c.commit('e', 0, 'g', 5)), 'BAD_OFFSET', 'Offset 5 is past the end of the partition (0)'],
    [rejection(c.fetch('e', 0, '')), 'BAD_GROUP_NAME', 'A group name cannot be empty'],
    [rejection(c.publishBatch('e', 0, [])), 'BAD_FRAME', 'A batch needs at least one message']
  ]
  for (const [p, code, message] of cases) {
    const err = await p
    t.equal(err.code, code, message)
    t.equal(err.message, message)
  }
  t.equal(await c.publish('e', 0, 'still fine'), 0)
})

t.test('connection failures name the address', async (t) => {
  const closed = net.createServer().listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const port = (closed.address() as net.AddressInfo).port
  await new Promise((resolve) => closed.close(resolve))
  const refused = await rejection(connect(`127.0.0.1:${port}`))
  t.equal(refused.code, 'CONNECTION')
  t.equal(refused.message, `Cannot connect to 127.0.0.1:${port}: connection refused`)

  const bad = await rejection(connect('no-port-here'))
  t.equal(bad.code, 'BAD_ADDRESS')

  const hangUp = await fakeServer(t, (socket) => socket.once('data', () => socket.destroy()))
  const c = await client(t, hangUp)
  const inFlight = [c.listLogs(), c.describe('x')]
  for (const p of inFlight) {
    const err = await rejection(p)
    t.equal(err.code, 'CONNECTION')
    t.match(err.message, `Connection to 127.0.0.1:${hangUp} closed`)
  }
  t.equal((await rejection(c.listLogs())).code, 'CONNECTION', 'a failed client fails later requests too')
})

t.test('a refusal the server sends before any answer is reported as such', async (t) => {
  const full = await fakeServer(t, (socket) => {
    socket.resume()
    socket.end(encodeResponses([{ response: 'error', message: 'Too many connections (limit 1)' }]))
  })
  const c = await client(t, full)
  const err = await rejection(c.listLogs())
  t.equal(err.code, 'TOO_MANY_CONNECTIONS')
})

t.test('close() waits for the answers in flight', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  await c.createLog('c', 1)
  const published = c.publish('c', 0, 'last words')
  const closing = c.close()
  t.equal((await rejection(c.listLogs())).code, 'CONNECTION', 'no new requests once closing')
  t.equal(await published, 0)
  await closing
})

t.test('the response framer parses whatever way the bytes are cut', async (t) => {
  const responses: Array<[Expect, Response]> = [
    ['ok', { response: 'ok' }],
    ['message', { response: 'message', data: Buffer.from('hello') }],
    ['offset', { response: 'error', message: 'No data left in the log to be read' }],
    ['offset', { response: 'offset', offset: 2 ** 40 }],
    ['batch-published', { response: 'batch-published', firstOffset: 7, count: 3 }],
    ['messages', { response: 'messages', committedOffset: 1, endOffset: 9, messages: [{ offset: 1, data: Buffer.alloc(70_000, 1) }, { offset: 2, data: Buffer.from('') }] }],
    ['logs', { response: 'logs', logs: [{ log: 'a', partitions: 3 }] }],
    ['log-info', { response: 'log-info', log: 'a', partitions: [{ partition: 0, firstOffset: 0, nextOffset: 4, groups: [{ group: 'g', offset: 2 }] }] }],
    ['message', { response: 'message', data: Buffer.alloc(0) }]
  ]
  const bytes = encodeResponses(responses.map(([, r]) => r))
  const whole = new ResponseReader()
  for (const [kind] of responses) whole.expect(kind)
  const expected = whole.feed(bytes)
  t.equal(expected.length, responses.length)

  const cuts: Array<[string, number[]]> = [
    ['whole', [bytes.length]],
    ['one byte at a time', new Array<number>(bytes.length).fill(1)],
    ['in 7-byte pieces', new Array<number>(Math.ceil(bytes.length / 7)).fill(7)]
  ]
  for (let at = 1; at < 200; at++) cuts.push([`cut at ${at}`, [at, bytes.length - at]])
  for (const [name, sizes] of cuts) {
    const framer = new ResponseReader()
    for (const [kind] of responses) framer.expect(kind)
    const got: Response[] = []
    let at = 0
    for (const size of sizes) {
      got.push(...framer.feed(bytes.subarray(at, at + size)))
      at += size
    }
    t.same(got, expected, name)
    t.equal(framer.outstanding, 0, name)
  }

  const framer = new ResponseReader()
  framer.expect('ok')
  t.throws(() => framer.feed(Buffer.from([0, 0])), { code: 'PROTOCOL' }, 'bytes beyond the last request')
  const status = new ResponseReader()
  status.expect('ok')
  t.throws(() => status.feed(Buffer.from([7])), { code: 'PROTOCOL' }, 'an unknown status byte')
})

t.test('every error text the server words maps back to its code', async (t) => {
  const worded: RogError[] = [
    RogError.logExists('x'), RogError.badPartitionCount(), RogError.tooManyPartitions(), RogError.noData(), RogError.noLog('x'),
    RogError.badPartition(3, 'x', 2), RogError.badLogName('a/b'), RogError.groupNameTooLong(70_000, 65_535), RogError.badOffset(9, 3),
    RogError.messageTooLarge(10, 5), RogError.frameTooLarge(10, 5), RogError.badFrame('why'), RogError.unknownCommand(77),
    RogError.storage('appending', new Error('EIO')), RogError.tooManyConnections(1), RogError.shuttingDown()
  ]
  for (const e of worded) t.equal(RogError.fromServer(e.message).code, e.code, e.message)
  t.equal(RogError.fromServer('something new').code, 'SERVER_ERROR')
})

t.test('a command of Rog\'s own refused as unknown is not sent to that address again', async (t) => {
  const received: number[] = []
  const original = await fakeServer(t, (socket) => socket.once('data', (b: Buffer) => {
    received.push(b[0])
    socket.end(encodeResponses([{ response: 'error', message: 'Command not created yet' }]))
  }))
  const a = await client(t, original)
  t.notOk(a.original)
  const refused = await rejection(a.describe('x'))
  t.equal(refused.code, 'UNSUPPORTED')
  t.equal(refused.message, `127.0.0.1:${original} is an original Rog server, without describe log (command 9); it has only create log, publish, fetch and ack (commands 0-3)`)
  t.ok(a.original)
  t.ok(RogClient.isOriginal(`127.0.0.1:${original}`))
  const b = await client(t, original)
  t.equal((await rejection(b.listLogs())).code, 'UNSUPPORTED', 'another connection to the address')
  t.notOk(b.supports(8))
  t.ok(b.supports(2), 'the reference commands are still sent')
  t.same(received, [9], 'list logs was never sent')

  const older = await fakeServer(t, (socket) => socket.once('data', () => socket.end(encodeResponses([{ response: 'error', message: 'Unknown command 10' }]))))
  const c = await client(t, older)
  const noVersion = await rejection(c.version())
  t.equal(noVersion.code, 'UNSUPPORTED')
  t.equal(noVersion.message, `127.0.0.1:${older} does not know version (command 10): an older Rog server`)
  t.notOk(c.supports(10))
  t.ok(c.supports(9), 'only that command is refused')
  t.notOk(c.original)
})

t.test('request timeouts count from the answer before; a long poll gets its wait on top', async (t) => {
  const silent = await fakeServer(t, (socket) => socket.resume())
  const c = await connect(`127.0.0.1:${silent}`, { requestTimeoutMs: 50 })
  t.teardown(() => c.destroy())
  const poll = c.fetchBatch({ log: 'x', group: 'g', waitMs: 100 })
  const after = c.listLogs()
  const err = await rejection(poll)
  t.equal(err.code, 'TIMEOUT')
  t.equal(err.message, `No answer from 127.0.0.1:${silent} within 0.05 s`)
  t.equal((await rejection(after)).code, 'TIMEOUT', 'what was behind it fails too')

  const server = await startServer(t)
  const fast = await connect(`127.0.0.1:${server.address().port}`, { requestTimeoutMs: 5000 })
  t.teardown(() => fast.destroy())
  t.same(await fast.listLogs(), [], 'a server that answers in time')
  t.equal(await fast.version(), VERSION)
})

t.test('what is not a Rog server is named as such', async (t) => {
  const web = await fakeServer(t, (socket) => socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')))
  const c = await client(t, web)
  const err = await rejection(c.listLogs())
  t.equal(err.code, 'NOT_ROG_SERVER')
  t.equal(err.message, `127.0.0.1:${web} is not a Rog server (it answered "HTTP/1.1 400 Bad Request")`)
  const binary = await fakeServer(t, (socket) => socket.once('data', () => socket.end(Buffer.from([7, 0, 1]))))
  t.equal((await rejection((await client(t, binary)).listLogs())).message, `127.0.0.1:${binary} is not a Rog server (it answered bytes 070001)`)
})

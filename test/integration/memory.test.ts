import t from 'tap'
import * as net from 'node:net'
import { once } from 'node:events'
import { pipelined, request, startServer } from '../helpers/server'
import { encodeCommand } from '../../lib/protocol/request-writer'
import { MAX_CONNECTION_BYTES } from '../../lib/server/connection-memory'
import { MESSAGE_WEIGHT } from '../../lib/protocol/command-weight'
import { RogError } from '../../lib/errors'
import type { RogServer } from '../../lib/server/server'
import type { Command } from '../../lib/protocol/commands'

const MiB = 1024 * 1024

/** Polls `condition` every 10 ms; fails after `what` has not happened for 20 s. */
async function until (what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting until ${what}`)
}

/** A log `big` holding `mib` MiB of 64 KiB messages. */
async function fill (port: number, mib: number): Promise<void> {
  await request(port, { command: 'create', log: 'big', partitions: 1 })
  const messages = Array.from({ length: 16 }, (_, i) => Buffer.alloc(64 * 1024, i))
  await pipelined(port, Array.from({ length: mib }, (): Command => ({ command: 'publish-batch', log: 'big', partition: 0, messages })))
}

const bigFetch = encodeCommand({ command: 'fetch-batch', log: 'big', partition: 0, group: 'g', offset: 0, maxMessages: 100_000, maxBytes: 8 * MiB, waitMs: 0 })

/** A connection that sends `count` 8 MiB fetch-batches and never reads an answer. */
async function neverReads (port: number, count: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.pause()
  socket.write(Buffer.alloc(bigFetch.length * count).fill(bigFetch))
  return socket
}

async function closedAll (server: RogServer, sockets: net.Socket[]): Promise<void> {
  for (const s of sockets) s.destroy()
  await until('every connection is gone', () => server.connectionCount === 0)
}

t.test('a connection that pipelines 8 MiB fetch-batches and never reads: the server stops reading it and holds at most its bound', async (t) => {
  const server = await startServer(t, { maxBufferedBytes: 256 * MiB })
  const { port } = server.address()
  await fill(port, 12)
  // Requests weigh MESSAGE_WEIGHT each, so the connection's bound admits at most this many request bytes (and a read chunk).
  const readBound = MAX_CONNECTION_BYTES / MESSAGE_WEIGHT * bigFetch.length + MiB
  const requests = Math.ceil(4 * readBound / bigFetch.length)
  const socket = await neverReads(port, requests)
  await until('the connection is at its bound', () => server.budget.bytes >= MAX_CONNECTION_BYTES)
  const stalled = (): number => server.connectionStats()[0].bytesRead
  t.ok(stalled() < readBound, `the server read ${stalled()} of ${requests * bigFetch.length} request bytes`)
  t.ok(server.budget.bytes < MAX_CONNECTION_BYTES + 10 * MiB, `${server.budget.bytes} bytes held: its bound and one answer at most`)

  const other = await request(port, { command: 'fetch-batch', log: 'big', partition: 0, group: 'g', offset: 0, maxMessages: 100_000, maxBytes: 8 * MiB, waitMs: 0 })
  t.ok(other.response === 'messages' && other.messages.length === 128, 'another client gets its whole 8 MiB meanwhile')
  t.ok(stalled() < readBound, `the stalled socket is still not read (${stalled()} bytes)`)
  await closedAll(server, [socket])
  t.equal(server.budget.bytes, 0, 'everything is released once it has gone')
})

t.test('connections that never read fill the server-wide budget: sockets stop being read, fetches shrink, every client is still answered', async (t) => {
  const limit = 4 * MiB
  const server = await startServer(t, { maxBufferedBytes: limit })
  const { port } = server.address()
  await fill(port, 9)
  const stalled = await Promise.all([1, 2, 3].map(async () => await neverReads(port, 1000)))
  await until('the budget is exhausted', () => server.budget.exhausted)
  t.ok(server.budget.bytes < 2 * limit, `${server.budget.bytes} bytes held for a budget of ${limit}`)

  const r = await request(port, { command: 'fetch-batch', log: 'big', partition: 0, group: 'g', offset: 0, maxMessages: 100_000, maxBytes: 8 * MiB, waitMs: 0 })
  t.ok(r.response === 'messages' && r.messages.length >= 1 && r.messages.length < 128, `a fresh client is answered, shrunk to ${r.response === 'messages' ? r.messages.length : '?'} message(s)`)
  t.same(await request(port, { command: 'publish', log: 'big', partition: 0, data: Buffer.from('still'), reply: 'offset' }), { response: 'offset', offset: 9 * 16 }, 'publishes are served')
  t.ok(server.budget.bytes < 2 * limit, `still ${server.budget.bytes} bytes held`)
  await closedAll(server, stalled)
  t.equal(server.budget.bytes, 0)
})

t.test('a connection that leaves its answers unread is closed after --idle-timeout-ms', async (t) => {
  const server = await startServer(t, { idleTimeoutMs: 200 })
  const { port } = server.address()
  await fill(port, 9)
  const socket = await neverReads(port, 50)
  await until('the server closed it', () => server.connectionCount === 0)
  t.equal(server.budget.bytes, 0, 'and released what it held')
  socket.destroy()
})

t.test('a long poll whose client resets is released at once: no waiter, no memory left', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'quiet', partitions: 1 })
  const partition = server.store.partition('quiet', 0)
  const waiters = (): number => (partition as unknown as { waiters: unknown[] }).waiters.length
  const poll = encodeCommand({ command: 'fetch-batch', log: 'quiet', partition: 0, group: 'g', offset: null, maxMessages: 10, maxBytes: 1000, waitMs: 60_000 })
  const sockets = await Promise.all(Array.from({ length: 50 }, async () => {
    const s = net.connect(port, '127.0.0.1')
    s.on('error', () => {})
    await once(s, 'connect')
    s.write(poll)
    return s
  }))
  await until('all 50 wait', () => waiters() === 50)
  for (const s of sockets) s.resetAndDestroy()
  await until('every connection is gone', () => server.connectionCount === 0)
  t.equal(waiters(), 0, 'no waiter left behind')
  t.equal(server.budget.bytes, 0)
})

t.test('a batch of more than 100,000 messages is a request-level error; the connection carries on', async (t) => {
  const server = await startServer(t)
  const { port } = server.address()
  await request(port, { command: 'create', log: 'b', partitions: 1 })
  const empty = Buffer.alloc(0)
  const answers = await pipelined(port, [
    { command: 'publish-batch', log: 'b', partition: 0, messages: new Array<Buffer>(100_001).fill(empty) },
    { command: 'publish-batch', log: 'b', partition: 0, messages: new Array<Buffer>(100_000).fill(empty) },
    { command: 'publish', log: 'b', partition: 0, data: Buffer.from('x'), reply: 'offset' }
  ])
  t.same(answers, [
    { response: 'error', message: 'Batch of 100001 messages exceeds the limit of 100000 messages' },
    { response: 'batch-published', firstOffset: 0, count: 100_000 },
    { response: 'offset', offset: 100_000 }
  ])
  t.equal(RogError.fromServer('Batch of 100001 messages exceeds the limit of 100000 messages').code, 'BATCH_TOO_LARGE')
  await until('the connection is gone', () => server.connectionCount === 0)
  t.equal(server.budget.bytes, 0, 'entries are weighed and released')
})

import t from 'tap'
import * as net from 'node:net'
import { once } from 'node:events'
import { pipelined, request, startServer } from '../helpers/server'
import { encodeCommand } from '../../lib/protocol/request-writer'
import { RogError } from '../../lib/errors'

/** Polls `condition` every 10 ms; fails after `what` has not happened for 20 s. */
async function until (what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting until ${what}`)
}

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
})

import * as net from 'node:net'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t, { type Test } from 'tap'
import { RogError } from '../../lib/errors'
import { RogClient, connect } from '../../lib/client/client'
import { Decoder } from '../../lib/protocol/decoder'
import type { Command, FetchedMessage } from '../../lib/protocol/commands'
import { startServer } from '../helpers/server'
import { PartitionedProducer } from '../../lib/client/partitioned-producer'
import { roundRobin } from '../../lib/client/partitioner'

async function client (t: Test, port: number): Promise<RogClient> {
  const c = await connect(`127.0.0.1:${port}`)
  t.teardown(() => c.destroy())
  return c
}

async function committed (c: RogClient, log: string, group: string): Promise<number | undefined> {
  const { partitions } = await c.describe(log)
  return partitions[0].groups.find((g) => g.group === group)?.offset
}

t.test('producer: write() returns false once the window is full, and nothing more is sent', async (t) => {
  const received: Command[] = []
  let connected: () => void = () => {}
  const gotConnection = new Promise<void>((resolve) => { connected = resolve })
  // Reads and decodes requests, never answers.
  const silent = net.createServer((socket) => {
    socket.on('error', () => {})
    const decoder = new Decoder()
    decoder.on('data', (commands: Command[]) => received.push(...commands))
    socket.pipe(decoder)
    connected()
  })
  silent.listen(0, '127.0.0.1')
  await once(silent, 'listening')
  t.teardown(() => { silent.close() })
  const c = await client(t, (silent.address() as net.AddressInfo).port)
  await gotConnection

  const producer = c.producer({ log: 'p', batchMessages: 10, maxInFlight: 2, highWaterMark: 5 })
  producer.on('error', () => {})
  let writes = 0
  while (writes < 1000) {
    writes++
    if (!producer.write(`m${writes}`)) break
  }
  t.ok(writes < 1000, 'write() returned false')
  t.equal(producer.taken, 20, 'only the window\'s worth was taken into batches')
  t.ok(writes <= 20 + 5, `write() returned false within the high-water mark (after ${writes} writes)`)
  let drained = false
  producer.once('drain', () => { drained = true })
  while (received.length < 2) await new Promise((resolve) => setImmediate(resolve))
  t.equal(received.length, 2)
  t.same(received.map((r) => r.command === 'publish-batch' ? r.messages.map(String) : r), [
    Array.from({ length: 10 }, (_, i) => `m${i + 1}`),
    Array.from({ length: 10 }, (_, i) => `m${i + 11}`)
  ])
  t.equal(producer.acknowledged, 0)
  t.notOk(drained, 'no drain without answers')
  producer.destroy()
})

t.test('producer: a large stream is published in order, in batches, and then finishes', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  await c.createLog('stream', 1)
  const count = 25_000
  const producer = c.producer({ log: 'stream', batchMessages: 300, batchBytes: 4096, maxInFlight: 3 })
  let requests = 0
  const send = c.send.bind(c)
  c.send = (command, callback) => {
    requests++
    send(command, callback)
  }
  await pipeline(Readable.from((function * () {
    for (let i = 0; i < count; i++) yield i % 1000 === 0 ? Buffer.alloc(0) : `message ${i}`
  })(), { objectMode: true }), producer)
  t.equal(producer.acknowledged, count)
  t.equal(producer.lastOffset, count - 1)
  t.ok(requests >= Math.ceil(count / 300) && requests < count / 50, `batched: ${requests} requests for ${count} messages`)

  let i = 0
  let inOrder = true
  for await (const m of c.consumer({ log: 'stream', group: 'check', follow: false })) {
    const expected = i % 1000 === 0 ? '' : `message ${i}`
    if (m.offset !== i || m.data.toString() !== expected) inOrder = false
    i++
  }
  t.equal(i, count)
  t.ok(inOrder, 'every message at its offset')
})

t.test('producer: a failed request fails the stream, with the acknowledged count right', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  const producer = c.producer({ log: 'missing', batchMessages: 10 })
  const failed = once(producer, 'error')
  for (let i = 0; i < 35; i++) producer.write(`m${i}`)
  producer.end()
  const [err] = await failed as [RogError]
  t.equal(err.code, 'NO_LOG')
  t.equal(err.message, 'No log registered with name missing')
  t.equal(producer.acknowledged, 0)
  t.ok(producer.taken > 0)
})

t.test('consumer: batches, limit, and commits when the next batch is asked for', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  await c.createLog('c', 1)
  await c.publishBatch('c', 0, Array.from({ length: 23 }, (_, i) => `m${i}`))

  const consumer = c.consumer({ log: 'c', group: 'g', maxMessages: 5, limit: 12 })
  const sizes: number[] = []
  const seen: FetchedMessage[] = []
  for await (const batch of consumer.batches()) {
    sizes.push(batch.messages.length)
    seen.push(...batch.messages)
    t.equal(batch.endOffset, 23)
  }
  t.same(sizes, [5, 5, 2], 'the limit bounds the last fetch')
  t.same(seen.map((m) => m.offset), Array.from({ length: 12 }, (_, i) => i))
  t.equal(await committed(c, 'c', 'g'), 12, 'the iteration ending by itself commits everything')

  // A new consumer of the group goes on from its committed offset; breaking off commits what was handled before the message in hand.
  const again = c.consumer({ log: 'c', group: 'g', maxMessages: 5 })
  const offsets: number[] = []
  for await (const m of again) {
    offsets.push(m.offset)
    if (m.offset === 18) break
  }
  t.same(offsets, [12, 13, 14, 15, 16, 17, 18])
  await again.flushCommits()
  t.equal(await committed(c, 'c', 'g'), 18, 'up to m17, handled; m18, in hand at the break, is not')

  const rest = c.consumer({ log: 'c', group: 'g', follow: false })
  const tail: string[] = []
  for await (const m of rest) tail.push(m.data.toString())
  t.same(tail, ['m18', 'm19', 'm20', 'm21', 'm22'], 'follow: false ends at the end of the partition')
  t.equal(await committed(c, 'c', 'g'), 23)

  const manual = c.consumer({ log: 'c', group: 'manual', follow: false, autoCommit: false })
  for await (const batch of manual.batches()) t.equal(batch.messages.length, 23)
  t.equal(await committed(c, 'c', 'manual'), undefined, 'autoCommit: false commits nothing by itself')
  await manual.commit()
  t.equal(await committed(c, 'c', 'manual'), 23)
})

t.test('consumer: a long poll is answered by a publish, and close() ends a waiting iteration', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  const publisher = await client(t, server.address().port)
  await c.createLog('wait', 1)

  const consumer = c.consumer({ log: 'wait', group: 'g', waitMs: 60_000 })
  const it = consumer[Symbol.asyncIterator]()
  const first = it.next()
  t.equal(c.pending, 1, 'the fetch is waiting on the server')
  await publisher.publish('wait', 0, 'late')
  const got = await first
  t.equal(got.done, false)
  t.equal((got.value as FetchedMessage).data.toString(), 'late')

  const second = it.next()
  while (c.pending === 0) await new Promise((resolve) => setImmediate(resolve))
  consumer.close()
  t.same(await second, { done: true, value: undefined }, 'the pending next() ends at once')

  const controller = new AbortController()
  const aborted = c.consumer({ log: 'wait', group: 'g', from: 1, waitMs: 60_000, signal: controller.signal })
  const waiting = aborted.batches().next()
  controller.abort()
  t.same(await waiting, { done: true, value: undefined }, 'an abort signal ends it too')
  // Two long polls are still queued on this connection; the second would start after the server's
  // shutdown woke the waiters and hold its close for the grace period.
  c.destroy()
})

t.test('consumer: server errors end the iteration with the error', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  const consumer = c.consumer({ log: 'nolog', group: 'g' })
  await t.rejects(async () => {
    for await (const m of consumer) t.fail(`unexpected message ${m.offset}`)
  }, { code: 'NO_LOG', message: 'No log registered with name nolog' })
})

t.test('partitioned producer: messages spread in order per partition; a failing partition fails the stream', async (t) => {
  const server = await startServer(t)
  const c = await client(t, server.address().port)
  await c.createLog('pp', 3)
  const producer = new PartitionedProducer(c, { log: 'pp', partitioner: roundRobin(3, 1), batchMessages: 7, maxInFlight: 1, highWaterMark: 2 })
  await pipeline(Readable.from(Array.from({ length: 3000 }, (_, i) => `m${i}`)), producer)
  t.equal(producer.acknowledged, 3000)
  t.equal(producer.taken, 3000)
  const p1 = await c.fetchBatch({ log: 'pp', partition: 1, group: 'g', offset: 0, maxMessages: 3 })
  t.same(p1.messages.map((m) => m.data.toString()), ['m0', 'm3', 'm6'])
  t.equal((await c.describe('pp')).partitions.map((p) => p.nextOffset).join(), '1000,1000,1000')

  const empty = new PartitionedProducer(c, { log: 'pp', partitioner: roundRobin(3) })
  await pipeline(Readable.from([]), empty)
  t.equal(empty.acknowledged, 0, 'no input: finishes at once')

  const failing = new PartitionedProducer(c, { log: 'pp', partitioner: roundRobin(4) })
  const err = await pipeline(Readable.from(['a', 'b', 'c', 'd', 'e']), failing).catch((e: unknown) => e)
  t.ok(err instanceof RogError && err.code === 'BAD_PARTITION', 'partition 3 does not exist')
})

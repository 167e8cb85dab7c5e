import t from 'tap'
import { Consumer, type ConsumerRoute } from '../../lib/client/consumer'
import type { FetchBatchCommand, Response } from '../../lib/protocol/commands'

/** A route over a partition of `end` messages (offsets 0 to end - 1), answering `batch` at a time; it records what each fetch asked. */
function partitionRoute (end: number, batch: number, asked: Array<{ offset: number | null, reached: boolean }>): ConsumerRoute {
  return {
    fetch: async (command: FetchBatchCommand, reached: boolean): Promise<Response> => {
      asked.push({ offset: command.offset, reached })
      const from = command.offset ?? 0
      const messages = []
      for (let o = from; o < Math.min(end, from + batch); o++) messages.push({ offset: o, data: Buffer.from(`m${o}`) })
      return { response: 'messages', committedOffset: 0, endOffset: end, messages }
    },
    commit: async () => {},
    release: () => {}
  }
}

t.test('every fetch from an offset the consumer read up to says so, the fetch sent ahead of handing out a batch too', async (t) => {
  const asked: Array<{ offset: number | null, reached: boolean }> = []
  const consumer = new Consumer(partitionRoute(30, 10, asked), { log: 'l', group: 'g', follow: false })
  const read: string[] = []
  for await (const m of consumer) read.push(m.data.toString())
  t.equal(read.length, 30)
  t.same(asked, [
    { offset: null, reached: false },
    { offset: 10, reached: true },
    { offset: 20, reached: true }
  ], 'a leader that fails one of these over is retried from where this consumer read')
})

t.test('a fetch from an offset the consumer was given is not one it read up to', async (t) => {
  const asked: Array<{ offset: number | null, reached: boolean }> = []
  const consumer = new Consumer(partitionRoute(5, 10, asked), { log: 'l', group: 'g', follow: false, from: 3 })
  const read: string[] = []
  for await (const m of consumer) read.push(m.data.toString())
  t.same(read, ['m3', 'm4'])
  t.same(asked, [{ offset: 3, reached: false }])
})

t.test('an answer whose end is below the offset asked (a new leader\'s trailing high watermark) is not the end: the consumer asks again, waiting', async (t) => {
  const asked: Array<{ offset: number | null, waitMs: number }> = []
  const page = (from: number, to: number, end: number): Response => ({
    response: 'messages',
    committedOffset: 0,
    endOffset: end,
    messages: Array.from({ length: to - from }, (_, i) => ({ offset: from + i, data: Buffer.from(`m${from + i}`) }))
  })
  // The old leader answers 0-4 of 10; the new one first has a high watermark of 3, then of 10.
  const answers = [page(0, 5, 10), page(5, 5, 3), page(5, 10, 10)]
  const route: ConsumerRoute = {
    fetch: async (command: FetchBatchCommand): Promise<Response> => {
      asked.push({ offset: command.offset, waitMs: command.waitMs })
      const next = answers.shift()
      if (next === undefined) throw new Error('more fetches than scripted')
      return next
    },
    commit: async () => {},
    release: () => {}
  }
  const consumer = new Consumer(route, { log: 'l', group: 'g', follow: false, waitMs: 5000 })
  const read: string[] = []
  for await (const m of consumer) read.push(m.data.toString())
  t.same(read, Array.from({ length: 10 }, (_, i) => `m${i}`), 'all 10 read, none skipped')
  t.same(asked, [{ offset: null, waitMs: 0 }, { offset: 5, waitMs: 0 }, { offset: 5, waitMs: 5000 }], 'the fetch after the trailing answer waits')
})

t.test('leaving the loop early commits what was handled before the message in hand, before the loop is left', async (t) => {
  const commits: number[] = []
  const route = { ...partitionRoute(3, 10, []), commit: async (offset: number) => { commits.push(offset) } }
  const consumer = new Consumer(route, { log: 'l', group: 'g', follow: false })
  const read: string[] = []
  for await (const m of consumer) {
    read.push(m.data.toString())
    if (read.length === 2) break
  }
  t.same(read, ['m0', 'm1'])
  t.same(commits, [1], 'm0 was handled (m1 was asked for); m1, in hand at the break, is read again by the group')
})

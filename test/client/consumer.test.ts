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

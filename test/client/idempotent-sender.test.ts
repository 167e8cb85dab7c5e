import t from 'tap'
import { IdempotentSender, MAX_IDEMPOTENT_IN_FLIGHT } from '../../lib/client/idempotent-sender'
import type { ClusterClient } from '../../lib/client/cluster-client'
import type { RogClient } from '../../lib/client/client'
import type { Command, Response } from '../../lib/protocol/commands'
import type { RogError } from '../../lib/errors'

type Answer = (err: RogError | null, response: Response | null) => void

/** A leader connection that holds every request until the test answers it. */
function leader (): { client: RogClient, held: Array<{ command: Command, answer: Answer }> } {
  const held: Array<{ command: Command, answer: Answer }> = []
  const client = { address: '127.0.0.1:1', closed: false, send: (command: Command, answer: Answer) => held.push({ command, answer }) }
  return { client: client as unknown as RogClient, held }
}

t.test('at most MAX_IDEMPOTENT_IN_FLIGHT batches are in flight; the rest go, in order, as answers come', async (t) => {
  const { client, held } = leader()
  const cluster = { producerId: async () => 7, leader: async () => client } as unknown as ClusterClient
  const sender = new IdempotentSender(cluster, 'ev', 0)
  const stored: number[] = []
  for (let i = 0; i < 100; i++) sender.send([Buffer.from(`m${i}`)], (err, published) => { if (err === null) stored.push(published?.firstOffset ?? -1) })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(held.length, MAX_IDEMPOTENT_IN_FLIGHT, 'the leader remembers a producer\'s last 32 batches: no more are sent')
  for (let i = 0; i < 100; i++) {
    const { command, answer } = held[i]
    t.match(command, { command: 'idempotent-publish', producerId: 7, sequence: i })
    answer(null, { response: 'batch-published', firstOffset: i, count: 1 })
    t.ok(held.length <= i + 1 + MAX_IDEMPOTENT_IN_FLIGHT, `after ${i + 1} answers, ${held.length} sent`)
  }
  t.equal(held.length, 100)
  t.same(stored, Array.from({ length: 100 }, (_, i) => i), 'each answered in order')
})

t.test('close() fails every batch not yet acknowledged, those never sent too, and every later one', async (t) => {
  const { client, held } = leader()
  const cluster = { producerId: async () => 7, leader: async () => client } as unknown as ClusterClient
  const sender = new IdempotentSender(cluster, 'ev', 0)
  const outcomes: string[] = []
  for (let i = 0; i < 40; i++) sender.send([Buffer.from(`m${i}`)], (err) => outcomes.push(err === null ? 'ok' : err.code))
  await new Promise((resolve) => setImmediate(resolve))
  held[0].answer(null, { response: 'batch-published', firstOffset: 0, count: 1 })
  sender.close()
  t.same(outcomes, ['ok', ...new Array<string>(39).fill('CONNECTION')], 'the 31 in flight and the 8 queued fail at once, in order')
  held[1].answer(null, { response: 'batch-published', firstOffset: 1, count: 1 })
  sender.send([Buffer.from('late')], (err) => outcomes.push(err === null ? 'ok' : err.code))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(outcomes.length, 41, 'a late answer is ignored')
  t.equal(outcomes[40], 'CONNECTION', 'a send after close fails')
})

import t from 'tap'
import { pipelined, request, startServer } from '../helpers/server'
import { RogError } from '../../lib/errors'

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

import t from 'tap'
import { publishLoad } from '../../bench/rog-publish'
import { request, startServer } from '../helpers/server'

t.test('a mixed load commits, per connection, one past the highest offset it was answered with', async (t) => {
  const { port } = (await startServer(t)).address()
  const connections = 3
  const commitEvery = 8
  const requests = 6_001
  const result = await publishLoad({ kind: 'publish', port, log: 'mixed', payloadBytes: 20, timeLimitMs: 60_000, messages: requests, connections, window: 16, batch: 1, refill: 'sliding', reply: 'offset', commitEvery })
  t.equal(result.errors, 0, result.firstError ?? 'no error')
  t.equal(result.requests, requests)
  // Each connection's every commitEvery-th request is a commit: the rest are the messages stored.
  let commits = 0
  for (let c = 0; c < connections; c++) commits += Math.floor((Math.floor(requests / connections) + (c < requests % connections ? 1 : 0)) / commitEvery)
  t.equal(result.messages, requests - commits)
  const answer = await request(port, { command: 'describe-log', log: 'mixed' })
  if (answer.response !== 'log-details') throw new Error(`describe-log answered ${answer.response}`)
  const [partition] = answer.details.partitions
  t.equal(partition.endOffset, result.messages)
  t.equal(partition.groups.length, connections)
  for (const g of partition.groups) {
    t.match(g.group, /^mixed-committer-\d$/)
    // Commits go out with the window's refills: the last trails the end by at most a window or so, never past it.
    t.ok(g.offset > partition.endOffset / 2 && g.offset <= partition.endOffset, `${g.group} committed ${g.offset} of ${partition.endOffset}`)
  }
})

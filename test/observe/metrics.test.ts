import t from 'tap'
import { connect } from '../../lib/client/client'
import { pipelined } from '../helpers/server'
import { startObserved, samples } from '../helpers/http'

const FAMILIES = [
  'rog_messages_in_total', 'rog_bytes_in_total', 'rog_messages_out_total', 'rog_requests_total',
  'rog_request_duration_seconds_bucket', 'rog_request_duration_seconds_sum', 'rog_request_duration_seconds_count',
  'rog_fsync_duration_seconds_bucket', 'rog_fsync_duration_seconds_count',
  'rog_partition_end_offset', 'rog_partition_first_offset', 'rog_partition_bytes',
  'rog_group_committed_offset', 'rog_group_lag_messages', 'rog_group_lag_seconds',
  'rog_connections', 'rog_long_polls_waiting', 'rog_disk_free_bytes',
  'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds'
]

async function scrape (base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  if (!/^text\/plain; version=0\.0\.4/.test(res.headers.get('content-type') ?? '')) throw new Error('not the Prometheus text format')
  return await res.text()
}

t.test('after publishes and a commit: every family, with values that match the store and rog describe', async (t) => {
  const { base, port } = await startObserved(t, { fsync: 'always' })
  const before = Date.now()
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('ev', 2)
  for (let i = 0; i < 5; i++) await client.publish('ev', 1, Buffer.from(`message ${i}`))
  await client.commit('ev', 1, 'readers', 2)
  const batch = await client.fetchBatch({ log: 'ev', partition: 1, group: 'readers', offset: 2, maxMessages: 10 })
  t.equal(batch.messages.length, 3)
  const text = await scrape(base)
  for (const family of FAMILIES) t.ok(samples(text, family).size > 0, `${family} is there`)
  t.equal(samples(text, 'rog_messages_in_total').get('{log="ev"}'), 5)
  t.equal(samples(text, 'rog_bytes_in_total').get('{log="ev"}'), 5 * 'message 0'.length)
  t.equal(samples(text, 'rog_messages_out_total').get('{log="ev"}'), 3)
  t.equal(samples(text, 'rog_requests_total').get('{command="publish",result="ok"}'), 5)
  t.equal(samples(text, 'rog_requests_total').get('{command="commit",result="ok"}'), 1)
  t.equal(samples(text, 'rog_request_duration_seconds_count').get('{command="publish"}'), 5)
  t.equal(samples(text, 'rog_request_duration_seconds_bucket').get('{le="+Inf",command="publish"}'), 5)
  t.ok(samples(text, 'rog_request_duration_seconds_bucket').has('{le="0.00005",command="publish"}'), 'the first bucket is 50 µs')
  t.ok(samples(text, 'rog_request_duration_seconds_bucket').has('{le="10",command="publish"}'), 'the last is 10 s')
  t.ok((samples(text, 'rog_fsync_duration_seconds_count').get('') ?? 0) >= 5, 'every append was synced (--fsync always)')
  t.equal(samples(text, 'rog_partition_end_offset').get('{log="ev",partition="1"}'), 5)
  t.equal(samples(text, 'rog_partition_end_offset').get('{log="ev",partition="0"}'), 0)
  t.equal(samples(text, 'rog_partition_first_offset').get('{log="ev",partition="1"}'), 0)
  t.ok((samples(text, 'rog_partition_bytes').get('{log="ev",partition="1"}') ?? 0) > 5 * 'message 0'.length)
  t.equal(samples(text, 'rog_group_committed_offset').get('{log="ev",partition="1",group="readers"}'), 2)
  const described = await client.describe('ev')
  const p1 = described.partitions[1]
  const committed = p1.groups.find((g) => g.group === 'readers')?.offset ?? -1
  t.equal(samples(text, 'rog_group_lag_messages').get('{log="ev",partition="1",group="readers"}'), p1.nextOffset - committed, 'the lag rog describe shows')
  t.equal(samples(text, 'rog_group_lag_messages').get('{log="ev",partition="0",group="readers"}'), 0, 'a partition where the group has committed nothing has its lag too (from the start: 0 of 0 messages)')
  t.notOk(samples(text, 'rog_group_committed_offset').has('{log="ev",partition="0",group="readers"}'), 'and no committed offset')
  const lagSeconds = samples(text, 'rog_group_lag_seconds').get('{log="ev",partition="1",group="readers"}') ?? -1
  t.ok(lagSeconds >= 0 && lagSeconds <= (Date.now() - before) / 1000, `lag in seconds is the age of offset 2 (${lagSeconds})`)
  t.equal(samples(text, 'rog_connections').get(''), 1)
  t.equal(samples(text, 'rog_long_polls_waiting').get(''), 0)
  t.ok((samples(text, 'rog_disk_free_bytes').get('') ?? 0) > 0)
  t.notOk(text.includes('rog_is_controller'), 'the cluster families only in a cluster')

  await client.commit('ev', 1, 'readers', 5)
  const after = await scrape(base)
  t.equal(samples(after, 'rog_group_lag_messages').get('{log="ev",partition="1",group="readers"}'), 0, 'lag falls to 0 after a commit of the end')
  t.equal(samples(after, 'rog_group_lag_seconds').get('{log="ev",partition="1",group="readers"}'), 0)
})

t.test('errors are counted by command and result; a waiting long poll is counted', async (t) => {
  const { base, port } = await startObserved(t)
  const answers = await pipelined(port, [
    { command: 'create', log: 'w', partitions: 1 },
    { command: 'publish', log: 'nolog', partition: 0, data: Buffer.from('x'), reply: 'ok' },
    { command: 'fetch', log: 'w', partition: 0, group: 'g' }
  ])
  t.equal(answers[1].response, 'error')
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  const polling = client.fetchBatch({ log: 'w', partition: 0, group: 'g', offset: 0, maxMessages: 1, waitMs: 30_000 })
  let text = await scrape(base)
  // The poll reaches the server a little after it is sent: scrape until it shows (a condition, not a delay).
  while (samples(text, 'rog_long_polls_waiting').get('') !== 1) text = await scrape(base)
  t.equal(samples(text, 'rog_long_polls_waiting').get(''), 1)
  t.equal(samples(text, 'rog_requests_total').get('{command="publish",result="error"}'), 1)
  t.equal(samples(text, 'rog_requests_total').get('{command="fetch",result="error"}'), 1, 'nothing to read is an error answer')
  // From another connection: on the polling one the publish would wait behind the poll.
  const other = await connect(`127.0.0.1:${port}`)
  t.teardown(() => other.close())
  await other.publish('w', 0, Buffer.from('wake'))
  t.equal((await polling).messages.length, 1)
  t.equal(samples(await scrape(base), 'rog_long_polls_waiting').get(''), 0)
})

t.test('past --metrics-max-series: one series per log, and one warning', async (t) => {
  const { base, port, warnings } = await startObserved(t, {}, { metricsMaxSeries: 10 })
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('a', 3)
  await client.createLog('b', 2)
  for (let p = 0; p < 3; p++) await client.publish('a', p, Buffer.from('xx'))
  await client.commit('a', 0, 'g', 0)
  await client.commit('a', 1, 'g', 1)
  const text = await scrape(base)
  t.same([...samples(text, 'rog_partition_end_offset')], [['{log="a"}', 3], ['{log="b"}', 0]], 'end offsets summed per log')
  t.same([...samples(text, 'rog_group_lag_messages')], [['{log="a"}', 2], ['{log="b"}', 0]], 'lag summed over partitions and groups (partition 2, where g has committed nothing, from its start: as rog groups counts it)')
  t.equal(warnings.filter((w) => w.includes('--metrics-max-series')).length, 1)
  await scrape(base)
  t.equal(warnings.filter((w) => w.includes('--metrics-max-series')).length, 1, 'warned once')
})

t.test('a deleted log\'s series are gone', async (t) => {
  const { base, port } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('gone', 1)
  await client.publish('gone', 0, Buffer.from('x'))
  t.ok(samples(await scrape(base), 'rog_messages_in_total').has('{log="gone"}'))
  await client.deleteLog('gone')
  const text = await scrape(base)
  t.notOk(samples(text, 'rog_messages_in_total').has('{log="gone"}'))
  t.notOk(samples(text, 'rog_partition_end_offset').has('{log="gone",partition="0"}'))
})

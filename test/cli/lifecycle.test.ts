import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { connect } from '../../lib/client/client'
import { exitOf, spawnServer } from '../helpers/process'
import { eventually, rog } from './rog-process'

t.test('retention from the CLI: create-log with limits, alter-log, describe; a group left behind resumes at the first offset', async (t) => {
  const dataDir = t.testdir()
  const server = await spawnServer(t, ['--data-dir', dataDir, '--fsync', 'never', '--segment-bytes', '65536', '--retention-check-ms', '200'])
  const { port } = server
  t.same(await rog(port, ['create-log', 'kept', '--retention-bytes', '1048576']), { code: 0, signal: null, stdout: 'created log kept with 1 partition\n', stderr: '' })
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  const batch = Array.from({ length: 1000 }, () => Buffer.alloc(100, 7))
  let peak = 0
  const pdir = path.join(dataDir, 'kept', '0')
  for (let i = 0; i < 160; i++) {
    await client.publishBatch('kept', 0, batch)
    // A file retention removes between the listing and its stat counts as 0.
    peak = Math.max(peak, fs.readdirSync(pdir).reduce((n, f) => n + (fs.statSync(path.join(pdir, f), { throwIfNoEntry: false })?.size ?? 0), 0))
  }
  t.ok(peak < 1.2 * 1024 * 1024, `20 MB published, the partition directory peaked at ${peak} bytes (under 1.2 MiB)`)
  const described = JSON.parse((await rog(port, ['describe', 'kept', '--json'])).stdout)
  t.equal(described.retentionBytes, 1048576)
  t.equal(described.retentionMs, null)
  const first = described.partitions[0].firstOffset as number
  t.ok(first > 0, `the first offset moved up to ${first}`)
  t.match((await rog(port, ['describe', 'kept'])).stdout, /^retention: 1048576 bytes, no age limit\n/)

  // A group that committed 0 long ago: it lost what retention deleted, and resumes at the first offset.
  await client.commit('kept', 0, 'late', 0)
  const late = JSON.parse((await rog(port, ['describe', 'kept', '--json'])).stdout).partitions[0].groups[0]
  t.same(late, { group: 'late', offset: 0, lag: 160_000 - first, lost: first })
  t.match(JSON.parse((await rog(port, ['groups', 'kept', '--json'])).stdout), [{ group: 'late', lag: 160_000 - first }], 'rog groups counts the same lag')
  const below = await rog(port, ['reset-offsets', 'kept', '-g', 'zbelow', '--to', '5'])
  t.equal(below.code, 0)
  t.equal(below.stderr, `rog: partition 0: offset 5 is below the first offset ${first} (retention deleted what lies before it): the group resumes at ${first}\n`, 'reset-offsets says so when it moves a group below the first offset')
  t.equal((await rog(port, ['fetch', 'kept', '-g', 'late', '--ack'])).code, 0)
  t.equal((await client.describe('kept')).partitions[0].groups[0].offset, first + 1, 'the ack moved it past the first offset')
  const batchBelow = await client.fetchBatch({ log: 'kept', group: 'x', offset: 0, maxMessages: 1, detailed: true })
  t.same([batchBelow.messages[0].offset, batchBelow.detail], [first, { firstOffset: first, startOffset: first }], 'a read below the first offset says where it started')

  t.equal((await rog(port, ['alter-log', 'kept', '--retention-bytes', 'default', '--retention-ms', '2000', '-p', '3'])).stdout, 'altered log kept\n')
  t.same((await client.describe('kept')).partitions.length, 3, 'partitions added')
  t.match(JSON.parse((await rog(port, ['describe', 'kept', '--json'])).stdout), { retentionBytes: null, retentionMs: 2000 }, '"default" is the server\'s limit, not 0')
  t.match((await rog(port, ['alter-log', 'kept', '-p', '2'])).stderr, /^rog: Log kept has 3 partitions; partitions can be added, never removed\n$/)
  t.match((await rog(port, ['alter-log', 'kept'])).stderr, /nothing to change/)
  // Age: every sealed segment is older than 2 s soon; one check interval later it is gone.
  await eventually(async () => (await client.describe('kept')).partitions[0].firstOffset > first && fs.readdirSync(pdir).filter((f) => f.endsWith('.log')).length === 1, 30_000)
  t.pass('segments older than --retention-ms are deleted by the background check; the active one stays')

  server.child.kill('SIGTERM')
  t.same(await exitOf(server.child), { code: 0, signal: null })
  const again = await spawnServer(t, ['--data-dir', dataDir, '--fsync', 'never'])
  const after = JSON.parse((await rog(again.port, ['describe', 'kept', '--json'])).stdout)
  t.ok(after.partitions[0].firstOffset > first, 'the first offset survives a restart')
  t.equal(after.retentionMs, 2000, 'so do the settings')
  again.child.kill('SIGTERM')
  await exitOf(again.child)
})

t.test('delete-log answers long polls, then a log of the same name starts empty, also across a SIGKILL', async (t) => {
  const dataDir = t.testdir()
  const server = await spawnServer(t, ['--data-dir', dataDir])
  const { port } = server
  await rog(port, ['create-log', 'gone', '-p', '2'])
  await rog(port, ['publish', 'gone', '-p', '0', 'old'])
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  const poll = client.fetchBatch({ log: 'gone', partition: 1, group: 'g', waitMs: 60_000 }).then(() => null, (err: unknown) => err)
  t.same(await rog(port, ['delete-log', 'gone']), { code: 0, signal: null, stdout: 'deleted log gone\n', stderr: '' })
  t.match(await poll, { code: 'NO_LOG', message: 'No log registered with name gone' }, 'the long poll is answered at once')
  t.equal((await rog(port, ['fetch', 'gone', '-g', 'g'])).stderr, 'rog: No log registered with name gone\n')
  t.equal((await rog(port, ['delete-log', 'gone'])).stderr, 'rog: No log registered with name gone\n')
  await rog(port, ['create-log', 'gone'])
  t.equal((await rog(port, ['read', 'gone', '-e'])).stdout, '', 'the new log is empty')
  await rog(port, ['publish', 'gone', '-p', '0', 'new'])

  // SIGKILL between delete and create: what was deleted stays deleted.
  await rog(port, ['delete-log', 'gone'])
  server.child.kill('SIGKILL')
  await exitOf(server.child)
  const again = await spawnServer(t, ['--data-dir', dataDir])
  t.equal((await rog(again.port, ['logs', '--json'])).stdout, '[]\n')
  await rog(again.port, ['create-log', 'gone'])
  t.equal((await rog(again.port, ['read', 'gone', '-e'])).stdout, '')
  again.child.kill('SIGTERM')
  await exitOf(again.child)
})

t.test('reading by time: --from @T and reset-offsets --to @T start at the first message stamped at or after T', async (t) => {
  const server = await spawnServer(t, ['--data-dir', t.testdir(), '--fsync', 'never'])
  const { port } = server
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('timed', 1)
  for (let i = 0; i < 50; i++) await client.publishBatch('timed', 0, [`m${i}a`, `m${i}b`])
  const stored = (await client.fetchBatch({ log: 'timed', group: 'x', offset: 0, maxMessages: 1000, detailed: true })).messages
  const middle = stored[37].timestamp as number
  const expected = stored.filter((m) => (m.timestamp as number) >= middle)
  const iso = new Date(middle).toISOString()
  t.equal((await rog(port, ['read', 'timed', '-e', '--from', `@${middle}`, '--format', '%o\\n'])).stdout, expected.map((m) => `${m.offset}\n`).join(''), '@ms')
  t.equal((await rog(port, ['read', 'timed', '-e', '--from', `@${iso}`, '--format', '%o\\n'])).stdout, expected.map((m) => `${m.offset}\n`).join(''), '@ISO-8601')
  t.equal((await rog(port, ['read', 'timed', '-e', '--from', `@${(stored[99].timestamp as number) + 1}`])).stdout, '', 'after the last message: nothing')
  t.match((await rog(port, ['read', 'timed', '--from', '@yesterday'])).stderr, /expected @ and a time/)
  t.equal((await rog(port, ['reset-offsets', 'timed', '-g', 'g', '--to', `@${middle}`])).code, 0)
  t.equal((await client.describe('timed')).partitions[0].groups[0].offset, expected[0].offset)
  server.child.kill('SIGTERM')
  await exitOf(server.child)
})

t.test('delete-group removes a group from every partition, durably; an unknown one is an error', async (t) => {
  const dataDir = t.testdir()
  const server = await spawnServer(t, ['--data-dir', dataDir])
  const client = await connect(`127.0.0.1:${server.port}`)
  await client.createLog('dg', 2)
  for (const p of [0, 1]) await client.publishBatch('dg', p, ['a', 'b'])
  await client.commit('dg', 0, 'gone', 2)
  await client.commit('dg', 1, 'gone', 1)
  await client.commit('dg', 0, 'kept', 1)
  t.same(await rog(server.port, ['delete-group', 'dg', '-g', 'gone']), { code: 0, signal: null, stdout: 'deleted group gone of log dg\n', stderr: '' })
  t.same((await client.describe('dg')).partitions.map((p) => p.groups), [[{ group: 'kept', offset: 1 }], []])
  t.equal((await rog(server.port, ['delete-group', 'dg', '-g', 'gone'])).stderr, 'rog: No group "gone" in log dg\n')
  await client.close()
  server.child.kill('SIGTERM')
  await exitOf(server.child)
  const again = await spawnServer(t, ['--data-dir', dataDir])
  const c2 = await connect(`127.0.0.1:${again.port}`)
  t.same((await c2.describe('dg')).partitions.map((p) => p.groups), [[{ group: 'kept', offset: 1 }], []], 'still gone after a restart')
  t.equal((await rog(again.port, ['fetch', 'dg', '-p', '0', '-g', 'gone'])).stdout, 'a\n', 'used again, it starts from the beginning')
  await c2.close()
  again.child.kill('SIGTERM')
  await exitOf(again.child)
})

import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { once } from 'node:events'
import t from 'tap'
import { FaultProxy } from '../helpers/fault-proxy'
import { crc32 } from '@node-rs/crc32'
import type { RogClient } from '../../lib/client/client'
import { ROG, RogProcess, eventually, rog, serverAndClient } from './rog-process'
import { spawnSync } from 'node:child_process'

const FIXTURE = path.resolve(__dirname, '../../fixtures/cli/stdin-lines.txt')

const setup = serverAndClient

async function committed (client: RogClient, log: string, group: string, partition = 0): Promise<number | undefined> {
  const { partitions } = await client.describe(log)
  return partitions[partition].groups.find((g) => g.group === group)?.offset
}

t.test('create-log, publish DATA, fetch, fetch --ack, ack, logs, describe', async (t) => {
  const { port, client } = await setup(t)
  t.same(await rog(port, ['create-log', 'events', '--partitions', '2']), {
    code: 0, signal: null, stdout: 'created log events with 2 partitions\n', stderr: ''
  })
  t.same((await rog(port, ['publish', 'events', '-p', '0', 'hello'])).stdout, 'partition 0 offset 0\n', 'publish DATA prints the partition and offset')
  t.same((await rog(port, ['publish', 'events', '-p', '0', 'world'])).stdout, 'partition 0 offset 1\n')
  t.same((await rog(port, ['publish', 'events', '-p', '1', 'elsewhere'])).stdout, 'partition 1 offset 0\n')
  t.equal((await client.fetch('events', 1, 'x')).toString(), 'elsewhere')

  t.equal((await rog(port, ['fetch', 'events', '-g', 'g'])).stdout, 'hello\n')
  t.equal((await rog(port, ['fetch', 'events', '-p', '0', '-g', 'g'])).stdout, 'hello\n', 'fetch does not move the group')
  t.equal(await committed(client, 'events', 'g'), undefined)
  t.equal((await rog(port, ['fetch', 'events', '-g', 'g', '--ack'])).stdout, 'hello\n')
  t.equal(await committed(client, 'events', 'g'), 1, '--ack moves it past the message printed')
  t.equal((await rog(port, ['fetch', 'events', '-g', 'g'])).stdout, 'world\n')
  t.same(await rog(port, ['ack', 'events', '-g', 'g']), { code: 0, signal: null, stdout: '', stderr: '' })
  const empty = await rog(port, ['fetch', 'events', '-g', 'g'])
  t.equal(empty.code, 1)
  t.equal(empty.stderr, 'rog: No data left in the log to be read\n')
  const over = await rog(port, ['ack', 'events', '-g', 'g'])
  t.equal(over.code, 1)
  t.equal(over.stderr, 'rog: No data left in the log to be read\n')

  await rog(port, ['create-log', 'another'])
  t.equal((await rog(port, ['logs'])).stdout, [
    'LOG      PARTITIONS',
    'another           1',
    'events            2',
    ''
  ].join('\n'))
  await client.commit('events', 1, 'g', 1)
  await client.commit('events', 1, 'h', 0)
  // Bytes on disk: 28 bytes of entry header per message, plus the message.
  t.equal((await rog(port, ['describe', 'events'])).stdout, [
    'retention: no size limit, no age limit',
    'PARTITION  FIRST  NEXT  BYTES  GROUP  COMMITTED  LAG  LOST',
    '        0      0     2     66  g              2    0     -',
    '        1      0     1     37  g              1    0     -',
    '        1      0     1     37  h              0    1     -',
    ''
  ].join('\n'))
  t.equal((await rog(port, ['describe', 'another'])).stdout, [
    'retention: no size limit, no age limit',
    'PARTITION  FIRST  NEXT  BYTES  GROUP  COMMITTED  LAG  LOST',
    '        0      0     0      0  -              -    -     -',
    ''
  ].join('\n'))

  t.same(JSON.parse((await rog(port, ['logs', '--json'])).stdout), [{ log: 'another', partitions: 1 }, { log: 'events', partitions: 2 }])
  t.same(JSON.parse((await rog(port, ['describe', 'events', '--json'])).stdout), {
    log: 'events',
    retentionBytes: null,
    retentionMs: null,
    partitions: [
      { partition: 0, firstOffset: 0, nextOffset: 2, bytes: 66, groups: [{ group: 'g', offset: 2, lag: 0, lost: 0 }] },
      { partition: 1, firstOffset: 0, nextOffset: 1, bytes: 37, groups: [{ group: 'g', offset: 1, lag: 0, lost: 0 }, { group: 'h', offset: 0, lag: 1, lost: 0 }] }
    ]
  })
  t.equal((await rog(port, ['groups', 'events'])).stdout, 'GROUP  LAG\ng        0\nh        3\n', 'h has read nothing of partition 0 either')
  t.same(JSON.parse((await rog(port, ['groups', 'events', '--json'])).stdout), [
    { group: 'g', lag: 0, partitions: [{ partition: 0, offset: 2, lag: 0 }, { partition: 1, offset: 1, lag: 0 }] },
    { group: 'h', lag: 3, partitions: [{ partition: 0, offset: 0, lag: 2 }, { partition: 1, offset: 0, lag: 1 }] }
  ])
})

t.test('describe and groups align group names by their width on a terminal', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('wide', 1)
  await client.publish('wide', 0, 'x')
  for (const group of ['🎉party', '👨‍👩‍👧', 'grüße', '日本']) await client.commit('wide', 0, group, 1)
  t.equal((await rog(port, ['groups', 'wide'])).stdout, [
    'GROUP    LAG',
    'grüße      0',
    '日本       0',
    '🎉party    0',
    '👨‍👩‍👧         0',
    ''
  ].join('\n'))
  t.equal((await rog(port, ['describe', 'wide'])).stdout, [
    'retention: no size limit, no age limit',
    'PARTITION  FIRST  NEXT  BYTES  GROUP    COMMITTED  LAG  LOST',
    '        0      0     1     29  🎉party          1    0     -',
    '        0      0     1     29  👨‍👩‍👧               1    0     -',
    '        0      0     1     29  grüße            1    0     -',
    '        0      0     1     29  日本             1    0     -',
    ''
  ].join('\n'))
})

t.test('publish - sends each line of stdin as a message', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('lines', 1)
  const input = fs.readFileSync(FIXTURE)
  const expected = input.toString().split(/\r?\n/)
  const published = await rog(port, ['publish', 'lines', '-'], input)
  t.equal(published.code, 0, published.stderr)
  t.equal(published.stdout, '')
  t.match(published.stderr, new RegExp(`^published ${expected.length} messages in \\d+\\.\\d+ s \\(\\d+ messages/s\\)\\n$`), 'a one-line summary')
  const stored = await client.fetchBatch({ log: 'lines', group: 'g', maxMessages: 1000 })
  t.same(stored.messages.map((m) => m.data.toString()), expected, 'one message per line, empty lines included, CR of CRLF dropped')

  const count = 30_000
  const many = Array.from({ length: count }, (_, i) => `line ${i}`).join('\n') + '\n'
  const implicit = await rog(port, ['publish', 'lines'], many)
  t.equal(implicit.code, 0, 'no DATA reads stdin too')
  t.match(implicit.stderr, `published ${count} messages in`)
  const { partitions } = await client.describe('lines')
  t.equal(partitions[0].nextOffset, expected.length + count)
  const last = await client.fetchBatch({ log: 'lines', group: 'g', offset: expected.length + count - 2, maxMessages: 10 })
  t.same(last.messages.map((m) => m.data.toString()), [`line ${count - 2}`, `line ${count - 1}`])
})

t.test('publish spreads messages over the partitions in turn, or by --key, or to -p', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('spread', 3)
  const contents = async (): Promise<string[][]> => await Promise.all([0, 1, 2].map(async (partition) =>
    (await client.fetchBatch({ log: 'spread', partition, group: 'g', offset: 0, maxMessages: 10_000 })).messages.map((m) => m.data.toString())))

  const lines = Array.from({ length: 3000 }, (_, i) => `m${i}`)
  t.equal((await rog(port, ['publish', 'spread', '-'], lines.join('\n'))).code, 0)
  const spread = await contents()
  t.same(spread.map((p) => p.length), [1000, 1000, 1000], 'each partition gets its turn')
  const first = spread.findIndex((p) => p[0] === 'm0')
  t.same(spread[(first + 1) % 3].slice(0, 2), ['m1', 'm4'], 'one message to each partition in turn, in order within each')

  const single = await rog(port, ['publish', 'spread', 'alone'])
  const [, partition, offset] = /^partition (\d) offset (\d+)\n$/.exec(single.stdout) ?? []
  t.equal(offset, '1000', `a single message goes to one of them (${partition}) and says where`)

  const keyed = await Promise.all(['x', 'x'].map(async (data) => await rog(port, ['publish', 'spread', '--key', 'user-42', data])))
  t.equal(keyed[0].stdout.split(' ')[1], keyed[1].stdout.split(' ')[1], 'the same key, the same partition')
  t.equal(keyed[0].stdout.split(' ')[1], String(crc32('user-42') % 3), 'CRC-32 of the key modulo the partition count')
  await rog(port, ['publish', 'spread', '--key', 'user-42', '-'], 'k1\nk2\n')
  const p = crc32('user-42') % 3
  t.same((await contents())[p].slice(-2), ['k1', 'k2'], 'stdin lines with a key go to its partition')
  t.equal((await rog(port, ['publish', 'spread', '-p', '2', '-'], 'to 2\n')).code, 0)
  t.same((await contents())[2].slice(-1), ['to 2'])
  t.match((await rog(port, ['publish', 'spread', '-p', '1', '--key', 'k', 'x'])).stderr, /-p and --key both choose the partition/)
})

t.test('the original CLI\'s spellings', async (t) => {
  const { port, client } = await setup(t)
  const address = ['--address', `127.0.0.1:${port}`]
  t.equal((await rog(undefined, [...address, 'create-log', '--name', 'orig', '--partitions', '3'])).code, 0)
  t.equal((await rog(undefined, [...address, 'publish', '--log-name', 'orig', '--partition', '2', '--data', 'from the past'])).code, 0)
  t.equal((await rog(undefined, ['publish', '--log-name', 'orig', '--partition', '2', 'positional data', ...address])).code, 0)
  const fetched = await rog(undefined, [...address, 'fetch', '--log-name', 'orig', '--partition', '2', '--group', 'old'])
  t.same(fetched, { code: 0, signal: null, stdout: 'from the past\n', stderr: '' })
  t.equal((await rog(undefined, ['-a', `127.0.0.1:${port}`, 'ack', '--log-name', 'orig', '--partition', '2', '--group', 'old'])).code, 0)
  t.equal((await rog(undefined, ['fetch', 'orig', '-p', '2', '-g', 'old', '-a', `127.0.0.1:${port}`])).stdout, 'positional data\n', 'the global option after the command')

  t.equal((await rog(port, ['create-log', '-n', 'short', '-p', '2'])).stdout, 'created log short with 2 partitions\n', 'create-log -n NAME -p N')
  t.equal((await rog(port, ['publish', '-l', 'short', '-p', '1', '-d', 'one'])).stdout, 'partition 1 offset 0\n', 'publish -l LOG -p P -d DATA')
  t.equal((await rog(port, ['publish', '-l', 'short', '-p', '1', '-d', '-'], 'not read\n')).stdout, 'partition 1 offset 1\n', '--data - is the message "-"')
  t.equal((await rog(port, ['publish', 'short', '-p', '1', '-'], 'from stdin\n')).code, 0, 'the positional - reads stdin')
  t.equal((await rog(port, ['fetch', '-l', 'short', '-p', '1', '-g', 'g'])).stdout, 'one\n', 'fetch -l LOG -p P -g G')
  t.equal((await rog(port, ['ack', '-l', 'short', '-p', '1', '-g', 'g'])).code, 0, 'ack -l LOG -p P -g G')
  t.same((await client.fetchBatch({ log: 'short', partition: 1, group: 'g', maxMessages: 10 })).messages.map((m) => m.data.toString()), ['-', 'from stdin'])
})

t.test('errors: server errors, a refused connection, bad arguments', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('exists', 1)
  const noLog = 'rog: No log registered with name nolog\n'
  const unknown = [['publish', 'nolog', 'x'], ['fetch', 'nolog', '-g', 'g'], ['fetch', 'nolog', '-g', 'g', '--follow'], ['ack', 'nolog', '-g', 'g'], ['describe', 'nolog']]
  const answers = await Promise.all(unknown.map(async (args) => await rog(port, args)))
  unknown.forEach((args, i) => t.same(answers[i], { code: 1, signal: null, stdout: '', stderr: noLog }, args.join(' ')))
  t.same(await rog(port, ['create-log', 'exists']), { code: 1, signal: null, stdout: '', stderr: 'rog: Log exists already exists\n' })
  for (const args of [['fetch', 'exists', '-p', '4', '-g', 'g'], ['fetch', 'exists', '-p', '4', '-g', 'g', '-e'], ['read', 'exists', '-p', '4'], ['publish', 'exists', '-p', '4', 'x'], ['publish', 'exists', '-p', '4', '-']]) {
    t.same(await rog(port, args), { code: 1, signal: null, stdout: '', stderr: 'rog: Trying to access partition 4 but log exists has 1 partitions\n' }, args.join(' '))
  }

  const stdinToNowhere = await rog(port, ['publish', 'nolog', '-'], 'a\nb\nc\n')
  t.same(stdinToNowhere, { code: 1, signal: null, stdout: '', stderr: noLog }, 'the log is looked up before stdin is read')

  const closed = net.createServer().listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const deadPort = (closed.address() as net.AddressInfo).port
  await new Promise((resolve) => closed.close(resolve))
  for (const args of [['logs'], ['publish', 'x', '-']]) {
    t.same(await rog(deadPort, args, 'unread\n'), {
      code: 1, signal: null, stdout: '', stderr: `rog: Cannot connect to 127.0.0.1:${deadPort}: connection refused\n`
    }, `${args.join(' ')}: refused, with the address`)
  }

  const usage: Array<[string[], RegExp]> = [
    [['create-log', 'x', '--partitions', 'abc'], /--partitions <n>' argument 'abc' is invalid/],
    [['create-log', 'x', '--partitions', '256'], /expected a number from 1 to 255/],
    [['create-log', 'x', '-p', '0'], /expected a number from 1 to 255/],
    [['publish', 'x', 'a', '--data', 'b'], /the message is given twice/],
    [['publish', 'x', 'a', '--file', 'f'], /--file does not combine/],
    [['publish', 'x', 'a', '--binary'], /--binary and --delimiter apply to standard input/],
    [['fetch', 'exists', '-g', 'g', '--json'], /--json needs --follow or -e/],
    [['fetch', 'exists', '-g', 'g', '-p', '0', '-p', '1'], /give one partition/],
    [['fetch', 'exists', '-g', 'g', '-e', '--json', '--format', '%s'], /cannot be used with option '--json'/],
    [['read', 'exists', '--format', '%x'], /unknown field "%x"/],
    [['read', 'exists', '--from', 'soon'], /expected beginning, end, an offset, -N \(N before the end\) or @TIME/],
    [['read', 'exists', '-D', ''], /a delimiter cannot be empty/],
    [['read', 'exists', '-D', '\\q'], /unknown escape/],
    [['read', 'exists', '-D', '\\xZZ'], /"\\x" needs two hex digits/],
    [['read', 'exists', '-p', '300'], /expected a number from 0 to 254/],
    [['logs', '--timeout', 'never'], /expected seconds/],
    [['reset-offsets', 'exists', '-g', 'g'], /required option '--to <where>' not specified/],
    [['fetch', 'exists'], /required option '-g, --group <group>' not specified/],
    [['fetch', '-g', 'g'], /missing the log name/],
    [['fetch', 'exists', '-g', 'g', '--max', '3'], /--max needs --follow or -e/],
    [['fetch', 'exists', '-g', 'g', '--follow', '--ack'], /--ack does not combine with --follow/],
    [['fetch', 'exists', '-g', 'g', '-e', '--ack'], /--ack does not combine with --follow or -e/],
    [['publish', 'a', 'b', '-p', 'x'], /'-p, --partition <n>' argument 'x' is invalid/],
    [['publish', 'a', 'b', 'c'], /too many arguments|unexpected argument/],
    [['create-log', 'one', '--name', 'two'], /the log is named twice/],
    [['logs', '-a', 'not-an-address'], /Invalid address "not-an-address"/],
    [['nonsense'], /unknown command 'nonsense'/]
  ]
  const results = await Promise.all(usage.map(async ([args]) => await rog(port, args)))
  usage.forEach(([args, message], i) => {
    t.equal(results[i].code, 1, args.join(' '))
    t.match(results[i].stderr, message, args.join(' '))
  })
})

t.test('SIGINT while publishing stdin: what was read is published, then exit 130', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('endless', 1)
  const p = new RogProcess(['publish', 'endless', '-'], { port, stdio: ['pipe', 'pipe', 'pipe'] })
  p.child.stdin?.write('one\ntwo\nthree\n')
  await eventually(async () => (await client.describe('endless')).partitions[0].nextOffset === 3)
  p.child.kill('SIGINT')
  const r = await p.done
  p.child.stdin?.destroy()
  t.equal(r.code, 130)
  t.match(r.stderr, /^published 3 messages in [\d.]+ s \(\d+ messages\/s\)\nrog: interrupted: the rest of the input was not published\n$/)
  t.same((await client.fetchBatch({ log: 'endless', group: 'g' })).messages.map((m) => m.data.toString()), ['one', 'two', 'three'])
})

t.test('reset-offsets moves a group to the beginning, the end, an offset or N before the end', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('moves', 2)
  await client.publishBatch('moves', 0, ['a', 'b', 'c', 'd'])
  await client.publishBatch('moves', 1, ['e', 'f'])
  await client.commit('moves', 0, 'g', 3)
  const offsets = async (): Promise<Array<number | undefined>> => (await client.describe('moves')).partitions.map((p) => p.groups.find((g) => g.group === 'g')?.offset)
  t.equal((await rog(port, ['reset-offsets', 'moves', '-g', 'g', '--to', 'beginning'])).stdout, 'PARTITION  FROM  TO\n        0     3   0\n        1     0   0\n')
  t.same(await offsets(), [0, 0])
  t.equal((await rog(port, ['fetch', 'moves', '-g', 'g'])).stdout, 'a\n', 'the group reads from the beginning again')
  await rog(port, ['reset-offsets', 'moves', '-g', 'g', '--to', 'end'])
  t.same(await offsets(), [4, 2])
  await rog(port, ['reset-offsets', 'moves', '-g', 'g', '--to', '-1', '-p', '1'])
  t.same(await offsets(), [4, 1], '-p: that partition only')
  await rog(port, ['reset-offsets', 'moves', '-g', 'g', '--to', '2', '-p', '0'])
  t.same(await offsets(), [2, 1])
  t.same(await rog(port, ['reset-offsets', 'moves', '-g', 'g', '--to', '3']), {
    code: 1, signal: null, stdout: '', stderr: 'rog: Offset 3 is past the end of partition 1 (2); nothing was moved\n'
  })
  t.same(await offsets(), [2, 1], 'nothing was moved')
})

t.test('publish -: a server that stops answering is retried for --retry-ms, then rog says how many messages were acknowledged', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('stalls', 1)
  const proxy = await FaultProxy.start(port)
  t.teardown(async () => await proxy.close())
  const p = new RogProcess(['publish', 'stalls', '-', '--timeout', '0.5', '--retry-ms', '1000'], { port: proxy.port, stdio: ['pipe', 'pipe', 'pipe'] })
  p.child.stdin?.write('one\ntwo\nthree\n')
  await eventually(async () => (await client.describe('stalls')).partitions[0].nextOffset === 3)
  // No request reaches the server any more, on open connections or new ones: they wait past --timeout, again and again.
  proxy.drop('up')
  p.child.stdin?.end('four\n')
  const r = await p.done
  t.equal(r.code, 1)
  t.match(r.stderr, /^rog: No answer from 127\.0\.0\.1:\d+ within 0\.5 s \(still failing after [\d.]+ s of retries\) \(3 of 4 messages acknowledged\)\n$/)
  t.same((await client.fetchBatch({ log: 'stalls', group: 'g' })).messages.map((m) => m.data.toString()), ['one', 'two', 'three'], 'the fourth never reached the server')
})

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0

t.test('publish without a message, on a terminal, says it reads the terminal', { skip: hasScript ? false : 'no script(1) to give it a terminal' }, async (t) => {
  const r = spawnSync('script', ['-qec', `${process.execPath} ${ROG} -a 127.0.0.1:1 publish x`, '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
  t.match(r.stdout, /^rog: reading messages from the terminal, one a line; end with Ctrl-D \(or give the message after the log name\)\r?\n/)
  const piped = await rog(1, ['publish', 'x'], 'm\n')
  t.notMatch(piped.stderr, /reading messages from the terminal/, 'not when stdin is a pipe')
})

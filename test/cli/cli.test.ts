import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { connect, type RogClient } from '../../lib/client/client'
import { startServer } from '../helpers/server'
import { RogProcess, eventually, rog } from './rog-process'

const FIXTURE = path.resolve(__dirname, '../../fixtures/cli/stdin-lines.txt')

async function setup (t: Test): Promise<{ port: number, client: RogClient }> {
  const server = await startServer(t)
  const port = server.address().port
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.destroy())
  return { port, client }
}

async function committed (client: RogClient, log: string, group: string, partition = 0): Promise<number | undefined> {
  const { partitions } = await client.describe(log)
  return partitions[partition].groups.find((g) => g.group === group)?.offset
}

t.test('create-log, publish DATA, fetch, fetch --ack, ack, logs, describe', async (t) => {
  const { port, client } = await setup(t)
  t.same(await rog(port, ['create-log', 'events', '--partitions', '2']), {
    code: 0, signal: null, stdout: 'created log events with 2 partitions\n', stderr: ''
  })
  t.same((await rog(port, ['publish', 'events', 'hello'])).stdout, '0\n', 'publish DATA prints the offset')
  t.same((await rog(port, ['publish', 'events', 'world'])).stdout, '1\n')
  t.same((await rog(port, ['publish', 'events', '-p', '1', 'elsewhere'])).stdout, '0\n')
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
  t.equal((await rog(port, ['describe', 'events'])).stdout, [
    'PARTITION  FIRST  NEXT  GROUP  COMMITTED  LAG',
    '        0      0     2  g              2    0',
    '        1      0     1  g              1    0',
    '        1      0     1  h              0    1',
    ''
  ].join('\n'))
  t.equal((await rog(port, ['describe', 'another'])).stdout, [
    'PARTITION  FIRST  NEXT  GROUP  COMMITTED  LAG',
    '        0      0     0  -              -    -',
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

t.test('the original CLI\'s spellings', async (t) => {
  const { port } = await setup(t)
  const address = ['--address', `127.0.0.1:${port}`]
  t.equal((await rog(undefined, [...address, 'create-log', '--name', 'orig', '--partitions', '3'])).code, 0)
  t.equal((await rog(undefined, [...address, 'publish', '--log-name', 'orig', '--partition', '2', '--data', 'from the past'])).code, 0)
  t.equal((await rog(undefined, ['publish', '--log-name', 'orig', '--partition', '2', 'positional data', ...address])).code, 0)
  const fetched = await rog(undefined, [...address, 'fetch', '--log-name', 'orig', '--partition', '2', '--group', 'old'])
  t.same(fetched, { code: 0, signal: null, stdout: 'from the past\n', stderr: '' })
  t.equal((await rog(undefined, ['-a', `127.0.0.1:${port}`, 'ack', '--log-name', 'orig', '--partition', '2', '--group', 'old'])).code, 0)
  t.equal((await rog(undefined, ['fetch', 'orig', '-p', '2', '-g', 'old', '-a', `127.0.0.1:${port}`])).stdout, 'positional data\n', 'the global option after the command')
})

t.test('errors: server errors, a refused connection, bad arguments', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('exists', 1)
  const noLog = 'rog: No log registered with name nolog\n'
  const unknown = [['publish', 'nolog', 'x'], ['fetch', 'nolog', '-g', 'g'], ['fetch', 'nolog', '-g', 'g', '--follow'], ['ack', 'nolog', '-g', 'g'], ['describe', 'nolog']]
  const answers = await Promise.all(unknown.map(async (args) => await rog(port, args)))
  unknown.forEach((args, i) => t.same(answers[i], { code: 1, signal: null, stdout: '', stderr: noLog }, args.join(' ')))
  t.same(await rog(port, ['create-log', 'exists']), { code: 1, signal: null, stdout: '', stderr: 'rog: Log exists already exists\n' })
  t.same(await rog(port, ['create-log', 'none', '--partitions', '0']), { code: 1, signal: null, stdout: '', stderr: 'rog: Number of partitions must be at least 1\n' })
  t.same(await rog(port, ['fetch', 'exists', '-p', '4', '-g', 'g']), { code: 1, signal: null, stdout: '', stderr: 'rog: Trying to access partition 4 but log exists has 1 partitions\n' })

  const stdinToNowhere = await rog(port, ['publish', 'nolog', '-'], 'a\nb\nc\n')
  t.equal(stdinToNowhere.code, 1)
  t.match(stdinToNowhere.stderr, /^rog: No log registered with name nolog \(0 of 3 messages acknowledged\)\n$/)

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
    [['create-log', 'x', '--partitions', '256'], /expected a number from 0 to 255/],
    [['fetch', 'exists'], /required option '-g, --group <group>' not specified/],
    [['fetch', '-g', 'g'], /missing the log name/],
    [['fetch', 'exists', '-g', 'g', '--max', '3'], /--max needs --follow/],
    [['fetch', 'exists', '-g', 'g', '--follow', '--ack'], /--ack does not combine with --follow/],
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

import * as http from 'node:http'
import * as net from 'node:net'
import { once } from 'node:events'
import t from 'tap'
import { connect } from '../../lib/client/client'
import { encodeResponses } from '../../lib/protocol/encoder'
import { startOriginalServer } from '../helpers/original-server'
import { startServer } from '../helpers/server'
import { deadPort as freePort, tcpServer } from '../helpers/tcp'
import { rog } from './rog-process'

const FRAMED = (n: number): boolean => n >= 4

t.test('against an original server: publish, publish -, fetch, fetch --ack and ack fall back to commands 0-3', async (t) => {
  const original = await startOriginalServer(t)
  const port = original.port
  t.same(await rog(port, ['create-log', 'logA', '-p', '2']), { code: 0, signal: null, stdout: 'created log logA with 2 partitions\n', stderr: '' })

  const one = await rog(port, ['publish', 'logA', '-p', '1', 'hello'])
  t.same(one, { code: 0, signal: null, stdout: 'partition 1 offset - (the server does not say)\n', stderr: '' }, 'command 17 (the cluster client\'s first question) is refused, command 1 publishes')
  t.same(original.logs.get('logA')?.partitions[1].map(String), ['hello'])
  t.same(original.received.filter(FRAMED), [17, 17], 'one framed command a process (create-log, publish), refused; the rest were reference commands')

  const spread = await rog(port, ['publish', 'logA', 'somewhere'])
  t.match(spread.stdout, /^partition [01] offset - /, 'the partition count comes from the original server\'s error text')
  t.same(original.received.filter(FRAMED), [17, 17, 17], 'refused once per process; describe and 4 never sent')

  const before = original.connections
  const lines = await rog(port, ['publish', 'logA', '-p', '0', '-'], 'one\ntwo\nthree\n')
  t.equal(lines.code, 0, lines.stderr)
  t.match(lines.stderr, new RegExp(`^rog: 127\\.0\\.0\\.1:${port} is an original Rog server: each message goes on a connection of its own \\(slower\\)\\npublished 3 messages in `))
  t.same(original.logs.get('logA')?.partitions[0].filter((m) => m.toString() !== 'somewhere').map(String), ['one', 'two', 'three'], 'in order')
  t.ok(original.connections - before >= 4, 'a connection per message')
  const spreadLines = await rog(port, ['publish', 'logA', '--binary'], 'x\ny\n')
  t.equal(spreadLines.code, 0)
  t.equal(original.logs.get('logA')?.partitions.flat().length, 7, 'spread over both partitions')

  t.same(await rog(port, ['fetch', '-l', 'logA', '-p', '0', '-g', 'g']), { code: 0, signal: null, stdout: `${String(original.logs.get('logA')?.partitions[0][0])}\n`, stderr: '' })
  const acked = await rog(port, ['fetch', 'logA', '-p', '1', '-g', 'g', '--ack'])
  t.same(acked, { code: 0, signal: null, stdout: 'hello\n', stderr: '' })
  t.equal(original.logs.get('logA')?.groups.get('g')?.[1], 1, 'the ack went on a connection of its own and moved the group')
  t.equal((await rog(port, ['ack', 'logA', '-p', '0', '-g', 'g'])).code, 0)
  t.equal(original.logs.get('logA')?.groups.get('g')?.[0], 1)
  t.same(await rog(port, ['publish', 'nolog', 'x']), { code: 1, signal: null, stdout: '', stderr: 'rog: No log registered with name nolog\n' })
  t.same(original.received.filter(FRAMED), new Array(9).fill(17), 'each of the 9 rog processes sent one command of Rog\'s own, was refused, and sent no other')
})

t.test('against an original server: what cannot work says so', async (t) => {
  const original = await startOriginalServer(t)
  const port = original.port
  await rog(port, ['create-log', 'logA'])
  const without = (what: string): string => `rog: 127.0.0.1:${port} is an original Rog server, without ${what}; it has only create log, publish, fetch and ack (commands 0-3)\n`
  const cases: Array<[string[], string]> = [
    [['logs'], without('list logs (command 8)')],
    [['describe', 'logA'], without('describe log (command 9)')],
    [['groups', 'logA'], without('describe log (command 9)')],
    [['fetch', 'logA', '-g', 'g', '--follow'], without('describe log (command 9)')],
    [['read', 'logA', '-e'], without('describe log (command 9)')],
    [['reset-offsets', 'logA', '-g', 'g', '--to', 'end'], without('describe log (command 9)')]
  ]
  for (const [args, stderr] of cases) t.same(await rog(port, args), { code: 1, signal: null, stdout: '', stderr }, args.join(' '))
  const ping = await rog(port, ['ping'])
  t.match(ping.stdout, new RegExp(`^127\\.0\\.0\\.1:${port}: an original Rog server \\(no version command\\): time=[\\d.]+ ms\\n$`))
})

t.test('the original rog-cli\'s empty group name (-g \'\') is answered at once by a Rog server', async (t) => {
  const server = await startServer(t)
  const port = server.address().port
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.destroy())
  await client.createLog('logA', 1)
  await client.publish('logA', 0, 'x')
  // As rog-cli sends it: one write, then it waits for the answer without closing its side.
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(Buffer.concat([Buffer.from([2, 0, 4]), Buffer.from('logA'), Buffer.from([0])]))
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  await once(socket, 'end')
  socket.destroy()
  const answer = Buffer.concat(chunks)
  t.equal(answer[0], 1, 'an error answer')
  t.equal(answer.subarray(9).toString(), 'Malformed request: empty group name')
  t.same(await client.listLogs(), [{ log: 'logA', partitions: 1 }], 'and serves on')
})

t.test('group names over 255 bytes work for fetch and ack (the u64 form)', async (t) => {
  const server = await startServer(t)
  const port = server.address().port
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.destroy())
  await client.createLog('long', 1)
  await client.publishBatch('long', 0, ['first', 'second'])
  const group = 'g'.repeat(300)
  t.equal((await rog(port, ['fetch', 'long', '-g', group, '--ack'])).stdout, 'first\n')
  t.equal((await rog(port, ['fetch', 'long', '-g', group])).stdout, 'second\n')
  t.equal((await rog(port, ['ack', 'long', '-g', group])).code, 0)
  t.same((await client.describe('long')).partitions[0].groups, [{ group, offset: 2 }])
})

t.test('timeouts, and a server that does not speak Rog', async (t) => {
  const silent = await tcpServer(t, (socket) => socket.resume())
  const timedOut = await rog(silent, ['logs', '--timeout', '200ms'])
  t.same(timedOut, { code: 1, signal: null, stdout: '', stderr: `rog: No answer from 127.0.0.1:${silent} within 0.2 s\n` })

  const web = http.createServer((_req, res) => res.end('hello'))
  web.listen(0, '127.0.0.1')
  await once(web, 'listening')
  t.teardown(() => new Promise<void>((resolve) => web.close(() => resolve())))
  const webPort = (web.address() as net.AddressInfo).port
  t.same(await rog(webPort, ['logs']), {
    code: 1, signal: null, stdout: '', stderr: `rog: 127.0.0.1:${webPort} is not a Rog server (it answered "HTTP/1.1 400 Bad Request")\n`
  })

  const older = await tcpServer(t, (socket) => socket.once('data', () => socket.end(encodeResponses([{ response: 'error', message: 'Unknown command 10' }]))))
  t.match((await rog(older, ['ping'])).stdout, new RegExp(`^127\\.0\\.0\\.1:${older}: an older Rog server \\(no version command\\): time=`))

  const deadPort = await freePort()
  const rogPort = (await startServer(t)).address().port
  t.same(await rog(undefined, ['logs', '-a', `127.0.0.1:${deadPort}, 127.0.0.1:${rogPort}`]), { code: 0, signal: null, stdout: 'LOG  PARTITIONS\n', stderr: '' }, 'the next address of the list when one refuses')
  t.same(await rog(undefined, ['logs', '-a', `127.0.0.1:${deadPort},127.0.0.1:${deadPort}`]), {
    code: 1, signal: null, stdout: '', stderr: `rog: No server of 127.0.0.1:${deadPort}, 127.0.0.1:${deadPort} answered:\n  Cannot connect to 127.0.0.1:${deadPort}: connection refused\n  Cannot connect to 127.0.0.1:${deadPort}: connection refused\n`
  })
})

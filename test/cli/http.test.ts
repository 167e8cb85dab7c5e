import t from 'tap'
import * as net from 'node:net'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { exitOf, ROG_BIN, spawnServer } from '../helpers/process'
import { rog } from './rog-process'

t.test('--http-port 0: the listening line gives the console URL, which answers', async (t) => {
  const server = await spawnServer(t, ['--data-dir', t.testdir(), '--http-port', '0', '--log-format', 'json'])
  const url = /, console at (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(server.line)?.[1]
  t.ok(url !== undefined, server.line)
  const res = await fetch(`${url ?? ''}livez`)
  t.equal(res.status, 200)
  t.match(await (await fetch(url ?? '')).text(), /<title>Rog console<\/title>/)
  // A connection over TCP: one JSON line when it opens and one when it closes.
  const socket = net.connect(server.port, '127.0.0.1')
  await once(socket, 'connect')
  socket.end()
  await once(socket, 'close')
  const lines = (): Array<Record<string, unknown>> => server.stderr().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  while (!lines().some((l) => l.msg === 'connection closed')) await once(server.child.stderr as NodeJS.ReadableStream, 'data')
  const events = lines().filter((l) => typeof l.conn === 'number')
  t.match(events, [{ level: 'info', msg: 'connection opened', conn: 1, remote: /^127\.0\.0\.1:\d+$/ }, { level: 'info', msg: 'connection closed', conn: 1 }])
  server.child.kill('SIGTERM')
  t.equal((await exitOf(server.child)).code, 0)
})

t.test('an explicit --http-port, or a --port, that is taken: the server does not start, and says why', async (t) => {
  const holder = net.createServer().listen(0, '127.0.0.1')
  await once(holder, 'listening')
  t.teardown(() => holder.close())
  const taken = (holder.address() as net.AddressInfo).port
  for (const [args, said] of [
    [['--port', '0', '--http-port', String(taken)], `Cannot listen for HTTP on 127\\.0\\.0\\.1:${taken}: it is in use`],
    [['--port', String(taken), '--no-http'], `^rog: Cannot listen on 127\\.0\\.0\\.1:${taken}: it is in use \\(another rog server\\?\\); choose another with --port\\n$`]
  ] as const) {
    const child = spawn(process.execPath, [ROG_BIN, 'server', ...args, '--data-dir', t.testdir()], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const { code } = await exitOf(child)
    t.equal(code, 1)
    t.match(stderr, new RegExp(said))
  }
})

t.test('--no-http: no URL on the listening line', async (t) => {
  const server = await spawnServer(t, ['--data-dir', t.testdir()])
  t.notMatch(server.line, /console at/)
})

t.test('everyday CLI commands against a single node count no failed request in /metrics', async (t) => {
  const server = await spawnServer(t, ['--data-dir', t.testdir(), '--http-port', '0'])
  const url = /, console at (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(server.line)?.[1] ?? ''
  for (const args of [['create-log', 'ev'], ['publish', 'ev', 'x'], ['describe', 'ev'], ['groups', 'ev'], ['logs'], ['read', 'ev', '-e'], ['fetch', 'ev', '-g', 'g', '-e'], ['describe', 'ev', '--json']]) {
    const r = await rog(server.port, args)
    t.equal(r.code, 0, `rog ${args.join(' ')}: ${r.stderr}`)
  }
  const failed = (await (await fetch(`${url}metrics`)).text()).split('\n').filter((l) => /^rog_requests_total\{.*result="error"\} [1-9]/.test(l))
  t.same(failed, [], 'no command answered with an error')
  server.child.kill('SIGTERM')
  t.equal((await exitOf(server.child)).code, 0)
})

import t from 'tap'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { ROG_BIN, exitOf, spawnServer } from '../helpers/process'
import { request } from '../helpers/server'
import { encodeCommand } from '../../lib/protocol/request-writer'
import type { Command } from '../../lib/protocol/commands'

t.test('rog server: listening line, process title, graceful SIGTERM, data kept across restarts', async (t) => {
  const dataDir = path.join(t.testdir(), 'home')
  const first = await spawnServer(t, [], { ROG_HOME: dataDir })
  t.match(first.line, new RegExp(`^rog server listening on 127\\.0\\.0\\.1:\\d+, data in ${dataDir}$`))
  t.equal(fs.readFileSync(`/proc/${first.child.pid}/comm`, 'utf8').trim(), 'rog-server')
  const { port } = first
  t.same(await request(port, { command: 'create', log: 'keep', partitions: 2 }), { response: 'ok' })
  t.same(await request(port, { command: 'publish', log: 'keep', partition: 1, data: Buffer.from('one'), reply: 'ok' }), { response: 'ok' })
  t.same(await request(port, { command: 'publish', log: 'keep', partition: 1, data: Buffer.from('two'), reply: 'ok' }), { response: 'ok' })
  t.same(await request(port, { command: 'ack', log: 'keep', partition: 1, group: 'g' }), { response: 'ok' })

  const idle = net.connect(port, '127.0.0.1')
  await once(idle, 'connect')
  const idleClosed = once(idle, 'close')
  first.child.kill('SIGTERM')
  t.same(await exitOf(first.child), { code: 0, signal: null }, 'exit 0 on SIGTERM, with an idle client connected')
  await idleClosed

  const second = await spawnServer(t, ['--data-dir', dataDir])
  t.same(await request(second.port, { command: 'fetch', log: 'keep', partition: 1, group: 'g' }), { response: 'message', data: Buffer.from('two') }, 'messages and group offsets survive a restart')
  t.same(await request(second.port, { command: 'create', log: 'keep', partitions: 1 }), { response: 'error', message: 'Log keep already exists' })
  second.child.kill('SIGINT')
  t.same(await exitOf(second.child), { code: 0, signal: null }, 'exit 0 on SIGINT')
})

t.test('SIGTERM answers the requests already received before exiting', async (t) => {
  const dataDir = t.testdir()
  const server = await spawnServer(t, ['--data-dir', dataDir])
  await request(server.port, { command: 'create', log: 'f', partitions: 1 })
  const socket = net.connect(server.port, '127.0.0.1')
  await once(socket, 'connect')
  const n = 2000
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  const closed = once(socket, 'close')
  socket.write(Buffer.concat(Array.from({ length: n }, (_, i) => encodeCommand({ command: 'publish', log: 'f', partition: 0, data: Buffer.from(`m${i}`), reply: 'ok' }))), () => server.child.kill('SIGTERM'))
  await closed
  const answered = Buffer.concat(chunks)
  t.ok(answered.every((b) => b === 0), `${answered.length} success answers, no partial answer`)
  t.same(await exitOf(server.child), { code: 0, signal: null })
  const again = await spawnServer(t, ['--data-dir', dataDir])
  const [first] = [await request(again.port, { command: 'fetch-batch', log: 'f', partition: 0, group: 'g', offset: 0, maxMessages: n, maxBytes: 1 << 20, waitMs: 0 })]
  t.ok(first.response === 'messages' && first.messages.length >= answered.length, 'every answered publish is stored')
  again.child.kill('SIGTERM')
  await exitOf(again.child)
})

t.test('SIGKILL mid-stream loses no acknowledged message (fsync always)', async (t) => {
  const dataDir = t.testdir()
  const server = await spawnServer(t, ['--data-dir', dataDir, '--segment-bytes', '65536'])
  await request(server.port, { command: 'create', log: 'crash', partitions: 1 })
  const producers = 4
  const acked: number[][] = Array.from({ length: producers }, () => [])
  const body = (p: number, i: number): Buffer => Buffer.from(`producer ${p} message ${i} `.padEnd(100, '*'))
  const runs = Array.from({ length: producers }, async (_, p) => {
    const socket = net.connect(server.port, '127.0.0.1')
    socket.on('error', () => {})
    await once(socket, 'connect')
    let i = 0
    const sendNext = (): void => {
      // a window of 50 in flight per producer, at most 100,000 messages each
      while (i - acked[p].length < 50 && i < 100_000) socket.write(encodeCommand({ command: 'publish', log: 'crash', partition: 0, data: body(p, i++), reply: 'ok' }))
    }
    socket.on('data', (c: Buffer) => {
      for (const b of c) if (b === 0) acked[p].push(acked[p].length)
      sendNext()
    })
    sendNext()
    await new Promise((resolve) => socket.on('close', resolve))
  })
  for (let i = 0; i < 500 && acked.reduce((n, a) => n + a.length, 0) < 3000; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  server.child.kill('SIGKILL')
  await Promise.all(runs)
  const total = acked.reduce((n, a) => n + a.length, 0)
  t.ok(total >= 3000, `${total} publishes acknowledged before the kill`)

  const restarted = await spawnServer(t, ['--data-dir', dataDir, '--segment-bytes', '65536'])
  const stored: Buffer[] = []
  for (;;) {
    const r = await request(restarted.port, { command: 'fetch-batch', log: 'crash', partition: 0, group: 'g', offset: stored.length, maxMessages: 10_000, maxBytes: 4 << 20, waitMs: 0 })
    if (r.response !== 'messages') throw new Error(JSON.stringify(r))
    if (r.messages.length === 0) break
    stored.push(...r.messages.map((m) => m.data))
  }
  const seen = Array.from({ length: producers }, () => 0)
  let inOrder = true
  for (const m of stored) {
    const match = /^producer (\d) message (\d+) \**$/.exec(m.toString())
    if (match === null || m.length !== 100) { inOrder = false; break }
    const p = Number(match[1])
    if (Number(match[2]) !== seen[p]) inOrder = false
    seen[p]++
  }
  t.ok(inOrder, 'every stored message is intact and each producer\'s messages are in order, without gaps')
  for (let p = 0; p < producers; p++) t.ok(seen[p] >= acked[p].length, `producer ${p}: ${acked[p].length} acknowledged, ${seen[p]} stored`)
  if (process.env.ROG_KEEP !== undefined) fs.cpSync(dataDir, process.env.ROG_KEEP, { recursive: true })
  const next: Command = { command: 'publish', log: 'crash', partition: 0, data: Buffer.from('after'), reply: 'offset' }
  t.same(await request(restarted.port, next), { response: 'offset', offset: stored.length }, 'publishing continues at the next offset')
})

t.test('a second server on a data directory in use is refused; after a SIGKILL a restart takes the lock over', async (t) => {
  const dataDir = t.testdir()
  const first = await spawnServer(t, ['--data-dir', dataDir])
  await request(first.port, { command: 'create', log: 'l', partitions: 1 })
  t.same(await request(first.port, { command: 'publish', log: 'l', partition: 0, data: Buffer.from('kept'), reply: 'offset' }), { response: 'offset', offset: 0 })
  await t.rejects(spawnServer(t, ['--data-dir', dataDir]),
    new RegExp(`server exited with 1: rog: Data directory ${dataDir} is in use by process ${first.child.pid} on .*; is another rog server running on it\\?`))
  first.child.kill('SIGKILL')
  t.same(await exitOf(first.child), { code: null, signal: 'SIGKILL' })
  t.ok(fs.existsSync(path.join(dataDir, '.lock')), 'the killed server left its lock behind')
  const restarted = await spawnServer(t, ['--data-dir', dataDir])
  t.same(await request(restarted.port, { command: 'fetch', log: 'l', partition: 0, group: 'g' }), { response: 'message', data: Buffer.from('kept') })
  restarted.child.kill('SIGTERM')
  t.same(await exitOf(restarted.child), { code: 0, signal: null })
  t.notOk(fs.existsSync(path.join(dataDir, '.lock')), 'released on a clean stop')
})

t.test('a signal during start-up (here, the wait for etcd) ends the server with a line saying so; the next start takes the lock over', async (t) => {
  const dataDir = t.testdir()
  // A port nothing listens on: etcd there refuses every connection, and the server keeps trying.
  const probe = net.createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const closed = (probe.address() as net.AddressInfo).port
  probe.close()
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    const child = spawn(process.execPath, [ROG_BIN, 'server', '--port', '0', '--no-http', '--data-dir', dataDir, '--etcd', `http://127.0.0.1:${closed}`, '--node-id', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    let err = ''
    await new Promise<void>((resolve) => child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
      if (err.includes('trying for up to')) resolve()
    }))
    child.kill(signal)
    t.same(await exitOf(child), { code, signal: null }, `${signal}: exit code ${code}`)
    t.match(err, new RegExp(`rog server: ${signal} during start-up; stopped before serving`))
  }
  const restarted = await spawnServer(t, ['--data-dir', dataDir])
  restarted.child.kill('SIGTERM')
  t.same(await exitOf(restarted.child), { code: 0, signal: null }, 'a single node starts on the directory afterwards')
})

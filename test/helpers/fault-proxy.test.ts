import t from 'tap'
import * as net from 'node:net'
import { once } from 'node:events'
import type { Test } from 'tap'
import { FaultProxy, reset } from './fault-proxy'
import { deadPort, tcpServer } from './tcp'
import { waitFor } from './wait'

/** An echo target that also records every byte it received, and a proxy in front of it. */
async function setup (t: Test): Promise<{ proxy: FaultProxy, received: () => string, targetSockets: net.Socket[] }> {
  let received = ''
  const targetSockets: net.Socket[] = []
  const port = await tcpServer(t, (socket) => {
    targetSockets.push(socket)
    socket.on('data', (c: Buffer) => { received += c.toString(); socket.write(c) })
    socket.on('end', () => socket.end())
  })
  const proxy = await FaultProxy.start(port)
  t.teardown(() => proxy.close())
  return { proxy, received: () => received, targetSockets }
}

async function connect (t: Test, port: number): Promise<{ socket: net.Socket, got: () => string, until: (text: string) => Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  t.teardown(() => { socket.destroy() })
  await once(socket, 'connect')
  let got = ''
  const waiters: Array<() => void> = []
  socket.on('data', (c: Buffer) => { got += c.toString(); for (const w of waiters.splice(0)) w() })
  const until = async (text: string): Promise<void> => {
    const deadline = Date.now() + 5000
    while (!got.includes(text)) {
      if (Date.now() > deadline) throw new Error(`never received ${JSON.stringify(text)}; got ${JSON.stringify(got)}`)
      await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), closeOf(socket), new Promise((resolve) => setTimeout(resolve, 100))])
    }
  }
  return { socket, got: () => got, until }
}

/** Resolves when the socket closes, however (a reset included). */
async function closeOf (socket: net.Socket): Promise<void> {
  if (socket.closed) return
  await new Promise((resolve) => socket.once('close', resolve))
}

t.test('pass: bytes go both ways, unchanged, and an end is passed on', async (t) => {
  const { proxy } = await setup(t)
  const c = await connect(t, proxy.port)
  c.socket.write('hello')
  await c.until('hello')
  t.equal(proxy.connections, 1)
  c.socket.end()
  await once(c.socket, 'end')
  t.equal(c.got(), 'hello')
})

t.test('drop both ways keeps the connection open and discards what was sent meanwhile', async (t) => {
  const { proxy, received } = await setup(t)
  const c = await connect(t, proxy.port)
  proxy.drop()
  c.socket.write('lost')
  await waitFor('the proxy to see the bytes', () => proxy.dropped.up === 4)
  proxy.pass()
  c.socket.write('kept')
  await c.until('kept')
  t.equal(received(), 'kept', 'the target never saw the dropped bytes')
  t.equal(c.got(), 'kept')
  t.notOk(c.socket.destroyed, 'the connection stayed open')
})

t.test('one-way partition: the target hears the client, the client hears nothing back', async (t) => {
  const { proxy, received } = await setup(t)
  const c = await connect(t, proxy.port)
  proxy.drop('down')
  c.socket.write('ping')
  await waitFor('the echo to be dropped', () => proxy.dropped.down === 4)
  t.equal(received(), 'ping')
  t.equal(c.got(), '')
  proxy.pass()
  c.socket.write('again')
  await c.until('again')
  t.equal(c.got(), 'again', 'only what was sent after healing came back')
})

t.test('one-way partition the other way: nothing reaches the target', async (t) => {
  const { proxy, received, targetSockets } = await setup(t)
  const c = await connect(t, proxy.port)
  await waitFor('the target connection', () => targetSockets.length === 1)
  proxy.drop('up')
  c.socket.write('x')
  await waitFor('the bytes to be dropped', () => proxy.dropped.up === 1)
  targetSockets[0].write('from target')
  await c.until('from target')
  t.equal(received(), '', 'the client-to-target direction dropped')
})

t.test('delay holds each chunk, and keeps order when the delay shrinks', async (t) => {
  const { proxy } = await setup(t)
  const c = await connect(t, proxy.port)
  proxy.delay(300, 'up')
  const start = Date.now()
  c.socket.write('slow')
  await waitFor('the chunk to be held', () => proxy.held('up') === 4)
  proxy.delay(0)
  c.socket.write('fast')
  await c.until('slowfast')
  t.ok(Date.now() - start >= 300, 'nothing arrived before the delay')
  t.equal(c.got(), 'slowfast', 'the later, undelayed chunk did not overtake')
})

t.test('cut resets every open connection; new ones are proxied', async (t) => {
  const { proxy, targetSockets } = await setup(t)
  const a = await connect(t, proxy.port)
  const b = await connect(t, proxy.port)
  await waitFor('both target connections', () => targetSockets.length === 2 && proxy.connections === 2)
  const closed = Promise.all([a.socket, b.socket, ...targetSockets].map(closeOf))
  proxy.cut()
  await closed
  await waitFor('the links to be forgotten', () => proxy.connections === 0)
  const c = await connect(t, proxy.port)
  c.socket.write('after')
  await c.until('after')
  t.pass('a new connection works after the cut')
})

t.test('a target that is down: the client connection is closed', async (t) => {
  const proxy = await FaultProxy.start(await deadPort())
  t.teardown(() => proxy.close())
  const c = await connect(t, proxy.port)
  await closeOf(c.socket)
  t.equal(proxy.connections, 0)
})

t.test('a reset of a socket whose end is being sent closes it (libuv refuses the reset then; the handle left open would spin the process at exit)', async (t) => {
  const port = await tcpServer(t, (socket) => { socket.on('data', () => {}) })
  const socket = net.connect(port, '127.0.0.1')
  const errors: string[] = []
  socket.on('error', (err: NodeJS.ErrnoException) => errors.push(`${err.syscall ?? ''} ${err.code ?? ''}`))
  await once(socket, 'connect')
  await new Promise<void>((resolve) => socket.write('x', () => resolve()))
  const closed = once(socket, 'close')
  socket.end()
  // The shutdown starts once the end is processed; reset right then, while it is in flight.
  await waitFor('the shutdown to start', () => (socket as unknown as { _writableState: { finalCalled: boolean } })._writableState.finalCalled, 30_000, 0)
  reset(socket)
  await closed
  t.same(errors, [], 'no failed reset')
})

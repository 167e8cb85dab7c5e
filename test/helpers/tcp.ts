import * as net from 'node:net'
import { once } from 'node:events'
import type { Test } from 'tap'

/** A TCP server on a free port that does `onSocket` with every connection; closed at teardown. Resolves with its port. */
export async function tcpServer (t: Test, onSocket: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    onSocket(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as net.AddressInfo).port
}

/** A port nothing listens on (it was free a moment ago). */
export async function deadPort (): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

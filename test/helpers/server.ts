import * as net from 'node:net'
import { once } from 'node:events'
import type { Test } from 'tap'
import { RogServer, type ServerOptions } from '../../lib/server/server'
import type { Command, Response } from '../../lib/protocol/commands'
import { encodeCommand } from '../../lib/protocol/request-writer'
import { ResponseReader, expectFor } from '../../lib/protocol/response-reader'

/**
 * A real server on port 0 in a fresh test directory, closed at teardown
 * before the directory is removed (tap runs teardowns in the order they were
 * registered, and t.testdir() registers the removal).
 */
export async function startServer (t: Test, options: Partial<ServerOptions> = {}): Promise<RogServer> {
  let server: RogServer | null = null
  t.teardown(async () => { await server?.close() })
  server = await RogServer.start({ port: 0, dataDir: t.testdir(), fsync: 'never', log: () => {}, ...options })
  return server
}

/**
 * Sends raw bytes on a new connection, half-closes it, and collects what comes
 * back until the server ends the connection or `until` bytes arrived.
 */
export async function exchange (port: number, bytes: Buffer, until = Infinity): Promise<Buffer> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.end(bytes)
  const chunks: Buffer[] = []
  let total = 0
  return await new Promise((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      chunks.push(c)
      total += c.length
      if (total >= until) {
        socket.destroy()
        resolve(Buffer.concat(chunks))
      }
    })
    socket.on('end', () => { socket.destroy(); resolve(Buffer.concat(chunks)) })
    socket.on('error', reject)
  })
}

/** One request per connection, the way the reference clients talk. */
export async function request (port: number, c: Command): Promise<Response> {
  const reader = new ResponseReader()
  reader.expect(expectFor(c))
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(encodeCommand(c))
  return await new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      const [r] = reader.feed(chunk)
      if (r !== undefined) {
        socket.end()
        resolve(r)
      }
    })
    socket.on('error', reject)
    socket.on('end', () => reject(new Error('connection closed before the answer')))
  })
}

/** Many requests pipelined on one connection; the answers in order. */
export async function pipelined (port: number, commands: Command[]): Promise<Response[]> {
  const reader = new ResponseReader()
  for (const c of commands) reader.expect(expectFor(c))
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.end(Buffer.concat(commands.map(encodeCommand)))
  const out: Response[] = []
  return await new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      out.push(...reader.feed(chunk))
      if (out.length === commands.length) {
        socket.destroy()
        resolve(out)
      }
    })
    socket.on('error', reject)
    socket.on('end', () => reject(new Error(`connection closed after ${out.length} of ${commands.length} answers`)))
  })
}

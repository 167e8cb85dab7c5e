import * as net from 'node:net'
import { once } from 'node:events'
import type { Test } from 'tap'

/**
 * A stand-in for the original Rog server (eaneto/rog, src/bin/server.rs and
 * src/command.rs), in memory: it knows commands 0-3 only, reads one request
 * per connection, answers it and hangs up. Its answers are the original's:
 *
 * - any other command byte: `Command not created yet`, at once;
 * - create: `Number of partitions must be at least 1`, `Log <name> already exists`;
 * - publish: `No log registered with name <name>`,
 *   `Trying to access partition <p> but log <name> has <n> partitions`;
 * - fetch: the group's next message, or `No data left in the log to be read`;
 * - ack: moves the group on by one, with no check against the end (as the
 *   original did);
 * - the group size is one byte, and 0 is a group named '' (the original
 *   reads no u64 form).
 */
export interface OriginalServer {
  port: number
  /** The command byte of every request received, in order. */
  received: number[]
  /** Connections accepted. */
  connections: number
  logs: Map<string, OriginalLog>
}

export interface OriginalLog {
  partitions: Buffer[][]
  /** Per group, its offset in each partition. */
  groups: Map<string, number[]>
}

export const REFUSAL = 'Command not created yet'

export async function startOriginalServer (t: Test): Promise<OriginalServer> {
  const state: OriginalServer = { port: 0, received: [], connections: 0, logs: new Map() }
  const server = net.createServer((socket) => {
    state.connections++
    socket.on('error', () => {})
    let buf = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk])
      const answer = handle(state, buf)
      if (answer === null) return
      socket.removeListener('data', onData)
      socket.end(answer)
    }
    socket.on('data', onData)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  state.port = (server.address() as net.AddressInfo).port
  return state
}

/** The answer to the request in `buf`, or null while it is incomplete. */
function handle (state: OriginalServer, buf: Buffer): Buffer | null {
  const command = buf[0]
  if (command > 3) {
    state.received.push(command)
    return error(REFUSAL)
  }
  if (buf.length < 3) return null
  const nameEnd = 3 + buf[2]
  if (buf.length < nameEnd) return null
  const name = buf.toString('utf8', 3, nameEnd)
  const log = state.logs.get(name)
  if (command === 0) {
    state.received.push(command)
    if (buf[1] === 0) return error('Number of partitions must be at least 1')
    if (log !== undefined) return error(`Log ${name} already exists`)
    state.logs.set(name, { partitions: Array.from({ length: buf[1] }, () => []), groups: new Map() })
    return OK
  }
  if (command === 1) {
    if (buf.length < nameEnd + 8) return null
    const size = Number(buf.readBigUInt64BE(nameEnd))
    if (buf.length < nameEnd + 8 + size) return null
    state.received.push(command)
    if (log === undefined) return error(`No log registered with name ${name}`)
    const partition = buf[1]
    if (partition >= log.partitions.length) return error(`Trying to access partition ${partition} but log ${name} has ${log.partitions.length} partitions`)
    log.partitions[partition].push(Buffer.from(buf.subarray(nameEnd + 8, nameEnd + 8 + size)))
    return OK
  }
  if (buf.length < nameEnd + 1 || buf.length < nameEnd + 1 + buf[nameEnd]) return null
  state.received.push(command)
  const group = buf.toString('utf8', nameEnd + 1, nameEnd + 1 + buf[nameEnd])
  if (log === undefined) return error(`No log registered with name ${name}`)
  const offsets = log.groups.get(group) ?? log.partitions.map(() => 0)
  log.groups.set(group, offsets)
  const partition = buf[1]
  if (command === 3) {
    offsets[partition]++
    return OK
  }
  const message = log.partitions[partition]?.[offsets[partition]]
  if (message === undefined) return error('No data left in the log to be read')
  const head = Buffer.alloc(9)
  head.writeBigUInt64BE(BigInt(message.length), 1)
  return Buffer.concat([head, message])
}

const OK = Buffer.from([0])

function error (text: string): Buffer {
  const head = Buffer.alloc(9)
  head[0] = 1
  head.writeBigUInt64BE(BigInt(Buffer.byteLength(text)), 1)
  return Buffer.concat([head, Buffer.from(text)])
}

import t from 'tap'
import fc from 'fast-check'
import { Decoder, frameSize } from '../../lib/protocol/decoder'
import { encodeCommand } from '../../lib/protocol/request-writer'
import { protocolLimits } from '../../lib/protocol/limits'
import { LAST_COMMAND, type Command } from '../../lib/protocol/commands'
import { anyCommand } from '../helpers/arbitraries'
import { RogError } from '../../lib/errors'

const limits = protocolLimits(4096)
const command = anyCommand()
const NUM_RUNS = 300

/** Feeds `parts` to a fresh decoder; checks it never holds more than one whole frame's worth of bytes. */
function run (parts: Buffer[]): { commands: Command[], maxPending: number } {
  const decoder = new Decoder(limits)
  const commands: Command[] = []
  let maxPending = 0
  decoder.on('data', (cs: Command[]) => commands.push(...cs))
  for (const p of parts) {
    decoder.write(p)
    maxPending = Math.max(maxPending, decoder.pendingBytes)
  }
  return { commands, maxPending }
}

/** The most any single frame may make the decoder hold: the largest framed body plus its header and one read chunk. */
const BOUND = 5 + limits.maxFrameBytes + 64 * 1024

/** Splits a buffer at arbitrary points. */
function split (buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b)
  const parts: Buffer[] = []
  let at = 0
  for (const p of points) {
    parts.push(buf.subarray(at, p))
    at = p
  }
  parts.push(buf.subarray(at))
  return parts
}

t.test('random bytes never throw and never make the decoder hold more than one frame', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
    const { commands, maxPending } = run(split(Buffer.from(bytes), cuts))
    if (maxPending > BOUND) return false
    const fatal = commands.findIndex((c) => c.command === 'invalid' && c.error.fatal)
    return fatal === -1 || fatal === commands.length - 1
  }), { numRuns: NUM_RUNS })
  t.pass(`${NUM_RUNS} random inputs`)
})

t.test('any valid command sequence decodes to itself however the bytes are split', async (t) => {
  fc.assert(fc.property(fc.array(command, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (commands, cuts) => {
    const bytes = Buffer.concat(commands.map(encodeCommand))
    const decoded = run(split(bytes, cuts)).commands
    t.same(decoded.map(normalise), commands.map(normalise))
    return decoded.length === commands.length
  }), { numRuns: NUM_RUNS })
})

t.test('truncated frames wait for more bytes and emit nothing', async (t) => {
  fc.assert(fc.property(command, fc.nat(), (c, n) => {
    const bytes = encodeCommand(c)
    const cut = n % bytes.length
    return run([bytes.subarray(0, cut)]).commands.length === 0
  }), { numRuns: NUM_RUNS })
  t.pass()
})

t.test('absurd sizes are refused from the header, before any payload is buffered', async (t) => {
  fc.assert(fc.property(fc.bigInt({ min: 4097n, max: (1n << 64n) - 1n }), fc.constantFrom(4, 5, 6, 7, 8, 9, 22, 23), fc.bigInt({ min: BigInt(limits.maxFrameBytes) + 1n, max: 0xffffffffn }), (size, framedCommand, frameBytes) => {
    const head = Buffer.from([1, 0, 1, 0x78, 0, 0, 0, 0, 0, 0, 0, 0])
    head.writeBigUInt64BE(size, 4)
    const framed = Buffer.alloc(5)
    framed[0] = framedCommand
    framed.writeUInt32BE(Number(frameBytes), 1)
    for (const bytes of [head, framed]) {
      const { commands, maxPending } = run([bytes, Buffer.alloc(1000)])
      const [c] = commands
      if (commands.length !== 1 || c.command !== 'invalid' || maxPending !== 0) return false
      if (!['MESSAGE_TOO_LARGE', 'FRAME_TOO_LARGE'].includes(c.error.code)) return false
    }
    return true
  }), { numRuns: NUM_RUNS })
  t.pass()
})

t.test('unknown command bytes are framing errors', async (t) => {
  fc.assert(fc.property(fc.integer({ min: LAST_COMMAND + 1, max: 255 }), fc.uint8Array({ maxLength: 50 }), (byte, rest) => {
    let error: unknown
    try { frameSize(Buffer.from([byte, ...rest]), 0, limits) } catch (err) { error = err }
    return error instanceof RogError && error.code === 'UNKNOWN_COMMAND' && error.fatal
  }), { numRuns: NUM_RUNS })
  t.pass()
})

/** Strings survive UTF-8 round trips only when well-formed; compare what the wire can carry. */
function normalise (c: Command): unknown {
  return JSON.parse(JSON.stringify(c, (_k, v: unknown) => typeof v === 'string' ? Buffer.from(v).toString() : v))
}

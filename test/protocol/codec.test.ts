import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Decoder, type DecoderMemory } from '../../lib/protocol/decoder'
import { MESSAGE_WEIGHT, commandWeight } from '../../lib/protocol/command-weight'
import { Encoder, encodeResponses } from '../../lib/protocol/encoder'
import { encodeCommand } from '../../lib/protocol/request-writer'
import { ResponseReader, expectFor } from '../../lib/protocol/response-reader'
import { protocolLimits } from '../../lib/protocol/limits'
import type { Command, Response } from '../../lib/protocol/commands'

interface Decoded { command: string, partitions?: number, partition?: number, log: string, group?: string, dataHex?: string }
const vectors = JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', 'protocol-vectors.json'), 'utf8')) as {
  requests: Array<{ name: string, hex: string, decoded: Decoded }>
  pipelined: { hex: string, decoded: Decoded[] }
  incomplete: Array<{ name: string, hex: string }>
  responses: Array<{ name: string, hex: string, message?: string, error?: string }>
}

/** A command in the vectors' shape. */
function plain (c: Command): Decoded {
  switch (c.command) {
    case 'create': return { command: c.command, partitions: c.partitions, log: c.log }
    case 'publish': return { command: c.command, partition: c.partition, log: c.log, dataHex: c.data.toString('hex') }
    case 'fetch':
    case 'ack': return { command: c.command, partition: c.partition, log: c.log, group: c.group }
    default: throw new Error(`unexpected ${c.command}`)
  }
}

function decode (parts: Buffer[], limits = protocolLimits()): Command[] {
  const decoder = new Decoder(limits)
  const out: Command[] = []
  decoder.on('data', (cs: Command[]) => out.push(...cs))
  for (const p of parts) decoder.write(p)
  return out
}

function bytewise (buf: Buffer): Buffer[] {
  return [...buf].map((b) => Buffer.from([b]))
}

t.test('every request vector decodes whole, byte by byte, and split at every offset', async (t) => {
  for (const v of vectors.requests) {
    const bytes = Buffer.from(v.hex, 'hex')
    t.same(decode([bytes]).map(plain), [v.decoded], `${v.name} whole`)
    t.same(decode(bytewise(bytes)).map(plain), [v.decoded], `${v.name} one byte at a time`)
    for (let cut = 1; cut < bytes.length; cut++) {
      const got = decode([bytes.subarray(0, cut), bytes.subarray(cut)]).map(plain)
      if (got.length !== 1 || JSON.stringify(got[0]) !== JSON.stringify(v.decoded)) t.fail(`${v.name} split at ${cut}`)
    }
  }
})

t.test('the pipelined vector decodes to its five commands however it is split', async (t) => {
  const bytes = Buffer.from(vectors.pipelined.hex, 'hex')
  t.same(decode([bytes]).map(plain), vectors.pipelined.decoded)
  t.same(decode(bytewise(bytes)).map(plain), vectors.pipelined.decoded)
  for (let cut = 1; cut < bytes.length; cut++) {
    t.same(decode([bytes.subarray(0, cut), bytes.subarray(cut)]).map(plain), vectors.pipelined.decoded, `split at ${cut}`)
  }
})

t.test('incomplete frames emit nothing and wait for more bytes', async (t) => {
  for (const v of vectors.incomplete) {
    t.same(decode([Buffer.from(v.hex, 'hex')]), [], v.name)
    t.same(decode(bytewise(Buffer.from(v.hex, 'hex'))), [], `${v.name} byte by byte`)
  }
})

t.test('request writer produces the golden frames (one-byte group form)', async (t) => {
  for (const v of vectors.requests) {
    if (v.name.includes('u64-group')) continue
    const [command] = decode([Buffer.from(v.hex, 'hex')])
    t.equal(encodeCommand(command).toString('hex'), v.hex, v.name)
  }
})

t.test('encoder produces the golden response bytes', async (t) => {
  for (const v of vectors.responses) {
    const r: Response = v.error !== undefined
      ? { response: 'error', message: v.error }
      : v.message !== undefined ? { response: 'message', data: Buffer.from(v.message) } : { response: 'ok' }
    t.equal(encodeResponses([r]).toString('hex'), v.hex, v.name)
  }
})

const framed: Command[] = [
  { command: 'publish', log: 'ev', partition: 2, data: Buffer.from('hello'), reply: 'offset' },
  { command: 'publish-batch', log: 'ev', partition: 0, messages: [Buffer.from('a'), Buffer.alloc(0), Buffer.from('ccc')] },
  { command: 'fetch-batch', log: 'ev', partition: 1, group: 'grüße', offset: null, maxMessages: 10, maxBytes: 4096, waitMs: 250 },
  { command: 'fetch-batch', log: 'ev', partition: 1, group: 'g', offset: 2 ** 40 + 7, maxMessages: 1, maxBytes: 1, waitMs: 0 },
  { command: 'commit', log: 'ev', partition: 3, group: 'g', offset: 12345 },
  { command: 'list-logs' },
  { command: 'describe', log: 'ev' },
  { command: 'version' },
  { command: 'fetch-batch', log: 'ev', partition: 0, group: 'g', offset: 5, maxMessages: 2, maxBytes: 100, waitMs: 0, detailed: true },
  { command: 'create-with-settings', log: 'kept', partitions: 3, retentionBytes: 1 << 30, retentionMs: null },
  { command: 'create-with-settings', log: 'aged', partitions: 1, retentionBytes: null, retentionMs: 86_400_000 },
  { command: 'alter-log', log: 'kept', partitions: 4, retentionBytes: null, retentionMs: 2 ** 40 },
  { command: 'alter-log', log: 'kept', retentionBytes: 5 },
  { command: 'delete-log', log: 'gone' },
  { command: 'offset-for-time', log: 'ev', partition: 2, timestamp: 1_764_000_000_123 },
  { command: 'describe-log', log: 'ev' },
  { command: 'delete-group', log: 'ev', group: 'grüße' },
  { command: 'init-producer' },
  { command: 'idempotent-publish', log: 'ev', partition: 4, producerId: 2 ** 53 - 1, sequence: 2 ** 32 - 1, messages: [Buffer.from('a'), Buffer.alloc(0)] },
  { command: 'idempotent-publish', log: 'ev', partition: 0, producerId: 1, sequence: 0, messages: [Buffer.from('x')] }
]

t.test('a run of success answers encodes as that many zero bytes', async (t) => {
  t.equal(encodeResponses([{ response: 'oks', count: 3 }, { response: 'ok' }, { response: 'oks', count: 2 }]).toString('hex'), '000000000000')
})

t.test('the encoder reports a response it cannot encode as a stream error instead of throwing', async (t) => {
  const encoder = new Encoder()
  const failed = new Promise((resolve) => encoder.on('error', resolve))
  t.doesNotThrow(() => encoder.write([{ response: 'log-info', log: 'x', partitions: [{ partition: 0, firstOffset: 0, nextOffset: 0, groups: [{ group: 'g'.repeat(70_000), offset: 0 }] }] }]))
  t.match(await failed, RangeError)
})

t.test('framed commands round-trip through writer and decoder, whole and byte by byte', async (t) => {
  const bytes = Buffer.concat(framed.map(encodeCommand))
  t.same(decode([bytes]), framed)
  t.same(decode(bytewise(bytes)), framed)
})

t.test('framed responses round-trip through encoder and reader', async (t) => {
  const cases: Array<[Command, Response]> = [
    [framed[0], { response: 'offset', offset: 2 ** 35 }],
    [framed[1], { response: 'batch-published', firstOffset: 17, count: 3 }],
    [framed[2], { response: 'messages', committedOffset: 3, endOffset: 9, messages: [{ offset: 3, data: Buffer.from('x') }, { offset: 4, data: Buffer.alloc(0) }] }],
    [framed[5], { response: 'logs', logs: [{ log: 'a', partitions: 1 }, { log: 'bb', partitions: 255 }] }],
    [framed[6], { response: 'log-info', log: 'ev', partitions: [{ partition: 0, firstOffset: 0, nextOffset: 5, groups: [{ group: 'grüße', offset: 2 }] }, { partition: 1, firstOffset: 0, nextOffset: 0, groups: [] }] }],
    [{ command: 'fetch', log: 'ev', partition: 0, group: 'g' }, { response: 'message', data: Buffer.from('some data') }],
    [{ command: 'ack', log: 'ev', partition: 0, group: 'g' }, { response: 'error', message: 'No data left in the log to be read' }],
    [{ command: 'create', log: 'ev', partitions: 1 }, { response: 'ok' }],
    [framed[7], { response: 'version', version: '0.1.0' }],
    [framed[8], { response: 'messages', committedOffset: 0, endOffset: 9, messages: [{ offset: 5, timestamp: 1_764_000_000_123, data: Buffer.from('t') }], detail: { firstOffset: 5, startOffset: 5 } }],
    [framed[9], { response: 'done' }],
    [framed[14], { response: 'offset', offset: 77 }],
    [framed[16], { response: 'done' }],
    [framed[17], { response: 'json', body: Buffer.from('{"producerId":8123456789}') }],
    [framed[18], { response: 'batch-published', firstOffset: 2 ** 40, count: 2 }],
    [framed[15], { response: 'log-details', details: { log: 'ev', retentionBytes: 1024, retentionMs: null, partitions: [{ partition: 0, firstOffset: 3, endOffset: 9, bytes: 4096, groups: [{ group: 'grüße', offset: 4 }] }] } }]
  ]
  const reader = new ResponseReader()
  for (const [c] of cases) reader.expect(expectFor(c))
  const bytes = encodeResponses(cases.map(([, r]) => r))
  const got: Response[] = []
  for (const b of bytewise(bytes)) got.push(...reader.feed(b))
  t.same(got, cases.map(([, r]) => r))
  t.equal(reader.outstanding, 0)
})

t.test('a messages answer whose last message is cut short is a protocol error, not a shorter message', async (t) => {
  for (const detailed of [false, true]) {
    const whole = encodeResponses([{ response: 'messages', committedOffset: 0, endOffset: 2, messages: [{ offset: 0, timestamp: 5, data: Buffer.from('abc') }, { offset: 1, timestamp: 6, data: Buffer.from('de') }], ...(detailed ? { detail: { firstOffset: 0, startOffset: 0 } } : {}) }])
    // Every cut of the body that the announced size still covers: the frame says fewer bytes than the messages need.
    for (let missing = 1; missing <= (detailed ? 22 : 14); missing++) {
      const cut = Buffer.from(whole.subarray(0, whole.length - missing))
      cut.writeUInt32BE(cut.length - 5, 1)
      const reader = new ResponseReader()
      reader.expect(detailed ? 'messages-detailed' : 'messages')
      t.throws(() => reader.feed(cut), { code: 'PROTOCOL' }, `${detailed ? 'detailed' : 'plain'}, ${missing} bytes missing`)
    }
  }
})

t.test('framing errors become one invalid command after the good ones, then the stream ends', async (t) => {
  const limits = protocolLimits(1000)
  const good = encodeCommand({ command: 'create', log: 'x', partitions: 1 })
  const cases: Array<[string, Buffer, string]> = [
    ['unknown command byte', Buffer.from([0xff, 1, 2, 3]), 'UNKNOWN_COMMAND'],
    ['publish over the size limit', Buffer.concat([Buffer.from([1, 0, 1, 0x78]), Buffer.from('00000000000003e9', 'hex')]), 'MESSAGE_TOO_LARGE'],
    ['absurd u64 data size', Buffer.concat([Buffer.from([1, 0, 1, 0x78]), Buffer.from('ffffffffffffffff', 'hex')]), 'MESSAGE_TOO_LARGE'],
    ['empty u64 group', Buffer.concat([Buffer.from([2, 0, 1, 0x78]), Buffer.alloc(8)]), 'BAD_FRAME'],
    ['absurd u64 group size', Buffer.concat([Buffer.from([2, 0, 1, 0x78]), Buffer.from('00000000ffffffff', 'hex')]), 'BAD_FRAME'],
    ['framed body over the limit', Buffer.from([8, 0xff, 0xff, 0xff, 0xff]), 'FRAME_TOO_LARGE'],
    ['list-logs with a body', Buffer.from([8, 0, 0, 0, 1, 0]), 'BAD_FRAME'],
    ['batch with trailing bytes', Buffer.concat([Buffer.from([5, 0, 0, 0, 12, 0, 1, 0x78, 0, 0, 0, 1, 0, 0, 0, 0, 9])]), 'BAD_FRAME'],
    ['batch of zero messages', Buffer.from([5, 0, 0, 0, 7, 0, 1, 0x78, 0, 0, 0, 0]), 'BAD_FRAME'],
    ['batch message cut short', Buffer.from([5, 0, 0, 0, 11, 0, 1, 0x78, 0, 0, 0, 1, 0, 0, 0, 9]), 'BAD_FRAME'],
    ['fetch-batch body too short', Buffer.from([6, 0, 0, 0, 3, 0, 1, 0x78]), 'BAD_FRAME'],
    ['publish answered with its offset, body cut inside its log name', Buffer.from([4, 0, 0, 0, 3, 0, 2, 0x78]), 'BAD_FRAME'],
    ['publish answered with its offset, of a message over the limit', Buffer.concat([Buffer.from([4, 0, 0, 0x03, 0xec, 0, 1, 0x78]), Buffer.alloc(1001)]), 'MESSAGE_TOO_LARGE'],
    ['describe with an empty body', Buffer.from([9, 0, 0, 0, 0]), 'BAD_FRAME'],
    ['version with a body', Buffer.from([10, 0, 0, 0, 1, 0]), 'BAD_FRAME'],
    ['init-producer with a body', Buffer.from([22, 0, 0, 0, 1, 0]), 'BAD_FRAME'],
    ['idempotent publish with producer id 0', idempotentFrame(0n, 0, [Buffer.from('m')]), 'BAD_FRAME'],
    ['idempotent publish with producer id 2^53', idempotentFrame(1n << 53n, 0, [Buffer.from('m')]), 'BAD_FRAME'],
    ['idempotent publish of zero messages', idempotentFrame(7n, 0, []), 'BAD_FRAME'],
    ['idempotent publish cut before its count', Buffer.from([23, 0, 0, 0, 13, 0, 1, 0x78, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0]), 'BAD_FRAME'],
    ['idempotent publish message cut short', idempotentFrame(7n, 0, [Buffer.from('m')], -1), 'BAD_FRAME'],
    ['idempotent publish with trailing bytes', Buffer.concat([idempotentFrame(7n, 0, [Buffer.from('m')], 1)]), 'BAD_FRAME'],
    ['idempotent publish of a message over the limit', idempotentFrame(7n, 0, [Buffer.alloc(1001)]), 'MESSAGE_TOO_LARGE']
  ]
  for (const [name, bad, code] of cases) {
    const decoder = new Decoder(limits)
    const out: Command[] = []
    decoder.on('data', (cs: Command[]) => out.push(...cs))
    const ended = new Promise((resolve) => decoder.on('end', resolve))
    decoder.write(Buffer.concat([good, bad, good]))
    await ended
    t.equal(out.length, 2, `${name}: the good command, then the error`)
    t.equal(out[0].command, 'create')
    const last = out[1]
    t.equal(last.command === 'invalid' ? last.error.code : last.command, code, name)
    decoder.write(good)
    t.equal(out.length, 2, `${name}: later input is discarded`)
  }
})

t.test('a publish over the limit is rejected from its header, before its payload arrives', async (t) => {
  const decoder = new Decoder(protocolLimits(1024))
  const out: Command[] = []
  decoder.on('data', (cs: Command[]) => out.push(...cs))
  decoder.write(Buffer.concat([Buffer.from([1, 0, 1, 0x78]), Buffer.from('0000000040000000', 'hex')]))
  t.equal(out.length, 1)
  t.equal(out[0].command === 'invalid' && out[0].error.message, 'Message of 1073741824 bytes exceeds the limit of 1024 bytes (--max-message-bytes)')
  t.equal(decoder.pendingBytes, 0, 'nothing buffered')
})

t.test('a large publish split into many chunks decodes to the same bytes', async (t) => {
  const data = Buffer.alloc(300_000, 7)
  data[12345] = 1
  const bytes = encodeCommand({ command: 'publish', log: 'big', partition: 0, data, reply: 'ok' })
  const parts: Buffer[] = []
  for (let at = 0; at < bytes.length; at += 1000) parts.push(bytes.subarray(at, at + 1000))
  const [c] = decode(parts)
  t.ok(c.command === 'publish' && c.data.equals(data))
})

t.test('an empty group name in the one-byte form (the original rog-cli -g \'\') is answered, not left waiting', async (t) => {
  const frame = Buffer.from('020004', 'hex')
  const bytes = Buffer.concat([frame, Buffer.from('logA'), Buffer.from([0])])
  for (const [how, parts] of [['whole', [bytes]], ['one byte at a time', bytewise(bytes)]] as const) {
    const decoder = new Decoder()
    const out: Command[] = []
    decoder.on('data', (cs: Command[]) => out.push(...cs))
    const ended = new Promise((resolve) => decoder.on('end', resolve))
    for (const p of parts) decoder.write(p)
    t.equal(decoder.pendingBytes, bytes.length, `${how}: held while a u64 size may follow`)
    await ended
    t.equal(out.length, 1, how)
    const [c] = out
    t.equal(c.command === 'invalid' && c.error.message, 'Malformed request: empty group name', how)
    t.equal(c.command === 'invalid' && c.error.fatal, true)
  }

  const halfClosed = new Decoder()
  const out: Command[] = []
  halfClosed.on('data', (cs: Command[]) => out.push(...cs))
  halfClosed.end(Buffer.concat([Buffer.from([3]), bytes.subarray(1)]))
  await new Promise((resolve) => halfClosed.on('end', resolve))
  t.equal(out[0]?.command === 'invalid' && out[0].error.code, 'BAD_FRAME', 'an ack ending at that byte, then the end of input')

  const long = Buffer.concat([frame, Buffer.from('logA'), Buffer.from('0000000000000003', 'hex'), Buffer.from('grp')])
  t.same(decode(bytewise(long)), [{ command: 'fetch', log: 'logA', partition: 0, group: 'grp' }], 'the u64 form, byte by byte, still decodes')
  t.same(decode([long.subarray(0, 8), long.subarray(8)]), [{ command: 'fetch', log: 'logA', partition: 0, group: 'grp' }], 'and cut right after its first size byte')
})

t.test('fetch and ack of a group name over 255 bytes are written in the u64 size form', async (t) => {
  for (const command of ['fetch', 'ack'] as const) {
    const c: Command = { command, log: 'ev', partition: 1, group: 'g'.repeat(300) }
    const bytes = encodeCommand(c)
    t.equal(bytes.subarray(5, 13).toString('hex'), '000000000000012c', `${command}: eight size bytes, the first 0`)
    t.same(decode([bytes]), [c])
  }
  t.throws(() => encodeCommand({ command: 'fetch', log: 'ev', partition: 0, group: 'g'.repeat(65_536) }), { code: 'PROTOCOL' })
  // A retention limit that is not a whole number is refused, never sent as some other limit (0 deletes data).
  for (const bad of ['' as unknown as number, -1, 1.5, NaN]) {
    t.throws(() => encodeCommand({ command: 'alter-log', log: 'kept', retentionMs: bad }), { code: 'PROTOCOL' }, `alter-log ${String(bad)}`)
    t.throws(() => encodeCommand({ command: 'create-with-settings', log: 'kept', partitions: 1, retentionBytes: bad, retentionMs: null }), { code: 'PROTOCOL' })
  }
})

/** An idempotent publish frame of log 'x', partition 0, written by hand (not by the request writer), with `extra` zero bytes at the end (negative: that many bytes cut off). */
function idempotentFrame (producerId: bigint, sequence: number, messages: Buffer[], extra = 0): Buffer {
  const head = Buffer.alloc(5 + 3 + 16)
  head[0] = 23
  head.writeUInt8(1, 6)
  head[7] = 0x78
  head.writeBigUInt64BE(producerId, 8)
  head.writeUInt32BE(sequence, 16)
  head.writeUInt32BE(messages.length, 20)
  const parts: Buffer[] = [head]
  for (const m of messages) {
    const size = Buffer.alloc(4)
    size.writeUInt32BE(m.length)
    parts.push(size, m)
  }
  parts.push(Buffer.alloc(Math.max(extra, 0)))
  const whole = Buffer.concat(parts)
  const frame = extra < 0 ? whole.subarray(0, whole.length + extra) : whole
  frame.writeUInt32BE(frame.length - 5, 1)
  return frame
}

t.test('commands 22 and 23 have the documented bytes', async (t) => {
  t.equal(encodeCommand({ command: 'init-producer' }).toString('hex'), '1600000000')
  const frame = encodeCommand({ command: 'idempotent-publish', log: 'x', partition: 2, producerId: 0x0102030405, sequence: 9, messages: [Buffer.from('hi'), Buffer.alloc(0)] })
  t.equal(frame.toString('hex'), [
    '17', '0000001d', // command 23, body of 29 bytes
    '02', '01', '78', // partition 2, log name 'x'
    '0000000102030405', // producer id
    '00000009', // first sequence
    '00000002', '00000002', '6869', '00000000' // 2 messages: 'hi', ''
  ].join(''))
  t.same(decode([frame]), [{ command: 'idempotent-publish', log: 'x', partition: 2, producerId: 0x0102030405, sequence: 9, messages: [Buffer.from('hi'), Buffer.alloc(0)] }])
  t.same(decode([idempotentFrame(7n, 3, [Buffer.from('m')])]), [{ command: 'idempotent-publish', log: 'x', partition: 0, producerId: 7, sequence: 3, messages: [Buffer.from('m')] }], 'a hand-written frame decodes')
  t.equal(encodeResponses([{ response: 'batch-published', firstOffset: 5, count: 2 }]).toString('hex'), '000000000c' + '0000000000000005' + '00000002', 'answered as command 5 is')
})

t.test('an idempotent publish decodes whole, one byte at a time, and split at every offset', async (t) => {
  const c: Command = { command: 'idempotent-publish', log: 'logA', partition: 1, producerId: 123_456_789_012, sequence: 77, messages: [Buffer.from('one'), Buffer.from('two')] }
  const bytes = Buffer.concat([encodeCommand(c), encodeCommand({ command: 'list-logs' })])
  const want = [c, { command: 'list-logs' }]
  t.same(decode([bytes]), want)
  t.same(decode(bytewise(bytes)), want)
  for (let cut = 1; cut < bytes.length; cut++) {
    const got = decode([bytes.subarray(0, cut), bytes.subarray(cut)])
    if (JSON.stringify(got) !== JSON.stringify(want)) t.fail(`split at ${cut}`)
  }
  for (let cut = 0; cut < bytes.length - 5; cut++) {
    if (decode([bytes.subarray(0, cut)]).length !== 0) t.fail(`cut at ${cut}: emitted before the frame was whole`)
  }
})

/** A publish-batch frame stating `count` messages, with `body` arbitrary bytes after the count. */
function batchHeader (count: number, rest: Buffer): Buffer {
  const head = Buffer.from([5, 0, 0, 0, 0, 0, 1, 0x62, 0, 0, 0, 0])
  head.writeUInt32BE(count, 8)
  const frame = Buffer.concat([head, rest])
  frame.writeUInt32BE(frame.length - 5, 1)
  return frame
}

t.test('a batch of more than 100,000 messages is refused from its header; its body is skipped, the next request decodes', async (t) => {
  const after = encodeCommand({ command: 'list-logs' })
  const refused = batchHeader(100_001, Buffer.alloc(40, 0xee))
  const bytes = Buffer.concat([refused, after])
  const check = (out: Command[], how: string): void => {
    const [first, second] = out
    t.equal(out.length, 2, `${how}: the refusal, then the next command`)
    t.equal(first.command === 'invalid' && first.error.code, 'BATCH_TOO_LARGE', how)
    t.equal(first.command === 'invalid' && first.error.fatal, false, `${how}: not a framing error`)
    t.equal(second?.command, 'list-logs', how)
  }
  check(decode([bytes]), 'whole')
  check(decode(bytewise(bytes)), 'one byte at a time')
  for (let cut = 1; cut < bytes.length; cut++) check(decode([bytes.subarray(0, cut), bytes.subarray(cut)]), `split at ${cut}`)
  const ok = decode([batchHeader(100_000, Buffer.alloc(0))])
  t.match(ok, [{ command: 'invalid', error: { code: 'BAD_FRAME' } }], '100,000 is within the limit (this one is malformed: no messages follow)')

  const decoder = new Decoder()
  const out: Command[] = []
  decoder.on('data', (cs: Command[]) => out.push(...cs))
  const big = batchHeader(4_000_000, Buffer.alloc(0))
  big.writeUInt32BE(16_000_000, 1)
  decoder.write(big)
  let pending = 0
  for (let sent = big.length - 5; sent < 16_000_000; sent += 1 << 20) {
    decoder.write(Buffer.alloc(Math.min(1 << 20, 16_000_000 - sent)))
    pending = Math.max(pending, decoder.pendingBytes)
  }
  decoder.write(after)
  t.equal(pending, 0, 'nothing of the 16 MB body is kept')
  t.same(out.map((c) => c.command), ['invalid', 'list-logs'])
})

t.test('an idempotent publish of more than 100,000 messages is refused from its header too, its body skipped', async (t) => {
  const after = encodeCommand({ command: 'list-logs' })
  const refused = idempotentFrame(5n, 0, [])
  refused.writeUInt32BE(100_001, 20)
  const bytes = Buffer.concat([refused, Buffer.alloc(40, 0xee), after])
  bytes.writeUInt32BE(refused.length + 40 - 5, 1)
  const check = (out: Command[], how: string): void => {
    t.equal(out.length, 2, `${how}: the refusal, then the next command`)
    t.equal(out[0]?.command === 'invalid' && out[0].error.code, 'BATCH_TOO_LARGE', how)
    t.equal(out[0]?.command === 'invalid' && out[0].error.fatal, false, `${how}: not a framing error`)
    t.equal(out[1]?.command, 'list-logs', how)
  }
  check(decode([bytes]), 'whole')
  check(decode(bytewise(bytes)), 'one byte at a time')
  for (let cut = 1; cut < bytes.length; cut++) check(decode([bytes.subarray(0, cut), bytes.subarray(cut)]), `split at ${cut}`)

  let held = 0
  const memory: DecoderMemory = { reserve: (n) => { held += n }, release: (n) => { held -= n }, full: () => false, whenRoom: () => {} }
  const decoder = new Decoder(protocolLimits(), memory)
  const frame = encodeCommand({ command: 'idempotent-publish', log: 'm', partition: 0, producerId: 9, sequence: 0, messages: [Buffer.alloc(10), Buffer.alloc(20), Buffer.alloc(30)] })
  decoder.write(frame.subarray(0, frame.length - 1))
  t.equal(held, frame.length + 3 * MESSAGE_WEIGHT, 'a frame under way is reserved for the messages its header states')
})

t.test('with a DecoderMemory: a frame is reserved in full once its size is known, and input is held between frames while memory is full', async (t) => {
  let held = 0
  let full = false
  let wake: (() => void) | null = null
  const memory: DecoderMemory = {
    reserve: (n) => { held += n },
    release: (n) => { held -= n },
    full: () => full,
    whenRoom: (callback) => { wake = callback }
  }
  const decoder = new Decoder(protocolLimits(), memory)
  const out: Command[] = []
  decoder.on('data', (cs: Command[]) => out.push(...cs))
  const data = Buffer.alloc(100_000, 3)
  const publish = encodeCommand({ command: 'publish', log: 'm', partition: 0, data, reply: 'ok' })
  decoder.write(publish.subarray(0, 20))
  t.equal(held, publish.length + MESSAGE_WEIGHT, 'the whole frame is reserved from its header')
  full = true
  decoder.write(publish.subarray(20, 50_000))
  decoder.write(publish.subarray(50_000))
  t.equal(out.length, 1, 'a frame under way is always taken, even when memory is full')
  t.equal(held, commandWeight(out[0]), 'the frame reservation became the command weight')
  t.equal(commandWeight(out[0]), data.length + MESSAGE_WEIGHT)
  t.not(wake, null, 'at the frame boundary, full: the decoder waits for room')
  let written = false
  decoder.write(encodeCommand({ command: 'list-logs' }), () => { written = true })
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(written, 'the next chunk is not taken while memory is full')
  t.equal(out.length, 1)
  t.notOk(decoder.awaitingPeer, 'held for memory, not waiting for the peer')
  full = false
  ;(wake as (() => void) | null)?.()
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(written, 'taken once there is room')
  t.same(out.map((c) => c.command), ['publish', 'list-logs'])
  t.equal(held, data.length + 2 * MESSAGE_WEIGHT)
})

import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { crc32c } from '@node-rs/crc32'
import { Partition, type PartitionOptions } from '../../lib/storage/partition'
import { FilePool } from '../../lib/storage/data-file'
import { nodeFileIo, type FileIo } from '../../lib/storage/file-io'
import { BATCHES_PER_PRODUCER, PRODUCERS_FILE, ProducerState } from '../../lib/storage/producer-state'
import type { RogError } from '../../lib/errors'

interface Answer { err: RogError | null, firstOffset: number, stored: number }

function options (io: FileIo = nodeFileIo, lines: string[] = [], extra: Partial<PartitionOptions> = {}): PartitionOptions {
  return { segmentBytes: 1 << 20, fsync: 'never', pool: new FilePool(io), log: (l) => lines.push(l), label: 'Partition 0 of log t', where: { log: 't', partition: 0 }, ...extra }
}

async function open (dir: string, io?: FileIo, lines: string[] = [], extra: Partial<PartitionOptions> = {}): Promise<Partition> {
  if (!fs.existsSync(path.join(dir, '0.log'))) Partition.init(dir, new FilePool(nodeFileIo))
  return await Partition.open(dir, options(io, lines, extra))
}

function publish (p: Partition, producerId: number, sequence: number, ...texts: string[]): Promise<Answer> {
  return new Promise((resolve) => p.appendIdempotent(producerId, sequence, texts.map((m) => Buffer.from(m)), (err, firstOffset, stored) => resolve({ err, firstOffset, stored })))
}

function record (producerId: number, sequence: number, count: number, firstOffset: number): Buffer {
  const b = Buffer.alloc(28)
  b.writeBigUInt64BE(BigInt(producerId), 4)
  b.writeUInt32BE(sequence, 12)
  b.writeUInt32BE(count, 16)
  b.writeBigUInt64BE(BigInt(firstOffset), 20)
  b.writeUInt32BE(crc32c(b.subarray(4)), 0)
  return b
}

t.test('the journal holds one 28-byte record per batch, as documented', async (t) => {
  const dir = t.testdir()
  const p = await open(dir)
  t.same(await publish(p, 0x0102030405, 7, 'a', 'b'), { err: null, firstOffset: 0, stored: 2 })
  await p.close()
  const bytes = fs.readFileSync(path.join(dir, PRODUCERS_FILE))
  t.equal(bytes.toString('hex'), record(0x0102030405, 7, 2, 0).toString('hex'))
  t.equal(bytes.subarray(4).toString('hex'), '0000000102030405' + '00000007' + '00000002' + '0000000000000000')
})

t.test('a partition without idempotent producers has no journal, before or after a close', async (t) => {
  const dir = t.testdir()
  const p = await open(dir)
  await new Promise((resolve) => p.append([Buffer.from('plain')], resolve))
  await p.close()
  t.notOk(fs.existsSync(path.join(dir, PRODUCERS_FILE)))
})

t.test('after a restart: retries answered with their offsets, the next sequence appended, a gap refused', async (t) => {
  const dir = t.testdir()
  let p = await open(dir)
  await publish(p, 1, 0, 'a', 'b')
  await publish(p, 2, 10, 'c')
  await publish(p, 1, 2, 'd')
  await p.close()
  p = await open(dir)
  t.teardown(() => p.close())
  t.same(await publish(p, 1, 0, 'a', 'b'), { err: null, firstOffset: 0, stored: 2 })
  t.same(await publish(p, 2, 10, 'c'), { err: null, firstOffset: 2, stored: 1 })
  t.same(await publish(p, 1, 2, 'd'), { err: null, firstOffset: 3, stored: 1 })
  t.match(await publish(p, 1, 5, 'f'), { err: { code: 'OUT_OF_ORDER_SEQUENCE' }, stored: 0 })
  t.same(await publish(p, 1, 3, 'e'), { err: null, firstOffset: 4, stored: 1 })
  t.equal(p.endOffset, 5)
})

t.test('records of batches past the recovered log end, and a torn record, are dropped at open; the rest are kept', async (t) => {
  const dir = t.testdir()
  let p = await open(dir)
  await publish(p, 1, 0, 'a', 'b')
  await p.close()
  const file = path.join(dir, PRODUCERS_FILE)
  // A record written before its batch's messages, then the process killed: past the log end. Then half a record.
  fs.appendFileSync(file, Buffer.concat([record(1, 2, 3, 2), record(5, 0, 1, 5).subarray(0, 11)]))
  const lines: string[] = []
  p = await open(dir, undefined, lines)
  t.teardown(() => p.close())
  t.match(lines.join('\n'), /11 bytes of an incomplete record at the end/)
  t.match(lines.join('\n'), /1 records of batches past the log end 2/)
  t.equal(fs.statSync(file).size, 28, 'the journal is rewritten without them')
  t.same(await publish(p, 1, 2, 'c', 'd', 'e'), { err: null, firstOffset: 2, stored: 3 }, 'the batch whose messages never arrived is taken when retried')
  t.same(await publish(p, 1, 0, 'a', 'b'), { err: null, firstOffset: 0, stored: 2 })
})

t.test('a damaged record is reported and skipped, the journal as found is kept, and the records after it load', async (t) => {
  const dir = t.testdir()
  let p = await open(dir)
  await publish(p, 1, 0, 'a')
  await publish(p, 2, 0, 'b')
  await publish(p, 3, 0, 'c')
  await p.close()
  const file = path.join(dir, PRODUCERS_FILE)
  const bytes = fs.readFileSync(file)
  bytes[28 + 9] ^= 0xff
  fs.writeFileSync(file, bytes)
  const lines: string[] = []
  p = await open(dir, undefined, lines)
  t.teardown(() => p.close())
  t.match(lines.join('\n'), /damaged records \(28 bytes at 28\) skipped; the journal as found is kept in .*producers\.damaged-\d+/)
  const copies = fs.readdirSync(dir).filter((n) => n.startsWith('producers.damaged-'))
  t.equal(copies.length, 1)
  t.same(fs.readFileSync(path.join(dir, copies[0])), bytes, 'the copy is the journal as found')
  t.same(await publish(p, 1, 0, 'a'), { err: null, firstOffset: 0, stored: 1 })
  t.same(await publish(p, 3, 0, 'c'), { err: null, firstOffset: 2, stored: 1 })
  t.same(await publish(p, 2, 0, 'b'), { err: null, firstOffset: 3, stored: 1 }, 'producer 2 is unknown now: its retry is stored again (the damage is reported, not guessed at)')
})

t.test('a failed segment write takes the batch back: its retry is stored, and no record of the failed write survives a restart', async (t) => {
  const dir = t.testdir()
  const failing = { on: false }
  const io: FileIo = {
    ...nodeFileIo,
    writev (fd, buffers, position) {
      if (failing.on && buffers.some((b) => b.includes('poison'))) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
      nodeFileIo.writev(fd, buffers, position)
    }
  }
  let p = await open(dir, io)
  await publish(p, 1, 0, 'a')
  failing.on = true
  const [first, behind] = await Promise.all([publish(p, 1, 1, 'poison'), publish(p, 1, 2, 'next')])
  t.match(first, { err: { code: 'STORAGE' }, stored: 0 })
  t.match(behind, { err: { code: 'STORAGE' }, stored: 0 }, 'the batch queued behind it fails too')
  t.same(p.producers.batches(1).map((b) => b.sequence), [0], 'both are forgotten')
  failing.on = false
  // A plain publish takes offset 1 first: a stale record (1, 1, 1, 1) would now point at it.
  await new Promise((resolve) => p.append([Buffer.from('plain')], resolve))
  t.same(await publish(p, 1, 1, 'poison'), { err: null, firstOffset: 2, stored: 1 })
  await p.close()
  p = await open(dir)
  t.teardown(() => p.close())
  t.same(p.producers.batches(1).map((b) => [b.sequence, b.firstOffset]), [[0, 0], [1, 2]])
})

t.test('records queued behind a failed segment sync fail with it: none is written after the journal is repaired', async (t) => {
  const dir = t.testdir()
  const paths = new Map<number, string>()
  const held: Array<() => void> = []
  let hold = false
  const io: FileIo = {
    ...nodeFileIo,
    open (file, flags) {
      const fd = nodeFileIo.open(file, flags)
      paths.set(fd, file)
      return fd
    },
    fdatasync (fd, callback) {
      if (!hold) return nodeFileIo.fdatasync(fd, callback)
      const segment = paths.get(fd)?.endsWith('.log') === true
      held.push(() => segment ? callback(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })) : nodeFileIo.fdatasync(fd, callback))
    }
  }
  Partition.init(dir, new FilePool(nodeFileIo))
  let p = await Partition.open(dir, { ...options(io), fsync: 'always' })
  await publish(p, 1, 0, 'a')
  hold = true
  const failing = publish(p, 1, 1, 'b')
  for (let i = 0; i < 1000 && held.length === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(held.length > 0, 'the first write batch waits in its sync')
  const behind = publish(p, 1, 2, 'c')
  hold = false
  for (const release of held.splice(0)) release()
  t.match(await failing, { err: { code: 'STORAGE' }, stored: 0 })
  t.match(await behind, { err: { code: 'STORAGE' }, stored: 0 }, 'the batch queued behind fails too')
  for (let i = 1; i <= 3; i++) await new Promise((resolve) => p.append([Buffer.from(`plain${i}`)], resolve))
  await p.close()
  p = await open(dir)
  t.teardown(() => p.close())
  t.same(p.producers.batches(1).map((b) => [b.sequence, b.firstOffset]), [[0, 0]], 'no record of the failed batches, though offsets 1 to 3 exist again')
})

t.test('a retry while its original is being written gets the original\'s answer, failure included', async (t) => {
  const dir = t.testdir()
  const failing = { on: true }
  const io: FileIo = {
    ...nodeFileIo,
    writev (fd, buffers, position) {
      if (failing.on && buffers.some((b) => b.includes('x'))) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      nodeFileIo.writev(fd, buffers, position)
    }
  }
  const p = await open(dir, io)
  t.teardown(() => p.close())
  const [a, b] = await Promise.all([publish(p, 8, 0, 'x'), publish(p, 8, 0, 'x')])
  t.match(a, { err: { code: 'STORAGE' } })
  t.same(b, a, 'the same answer')
  failing.on = false
  const [c, d] = await Promise.all([publish(p, 8, 0, 'x'), publish(p, 8, 0, 'x')])
  t.same(c, { err: null, firstOffset: 0, stored: 1 })
  t.same(d, c)
  t.equal(p.endOffset, 1)
})

t.test('truncation drops the records of batches past the new end, in memory and in the journal', async (t) => {
  const dir = t.testdir()
  let p = await open(dir)
  await publish(p, 1, 0, 'a', 'b')
  await publish(p, 1, 2, 'c', 'd')
  await publish(p, 2, 0, 'e')
  await p.truncateTo(3)
  t.same(p.producers.batches(1).map((b) => [b.sequence, b.count]), [[0, 2], [2, 1]], 'the batch spanning the new end keeps its messages before it')
  t.same(p.producers.batches(2), [])
  await p.close()
  p = await open(dir)
  t.teardown(() => p.close())
  t.same(p.producers.batches(1).map((b) => [b.sequence, b.count]), [[0, 2], [2, 1]])
  t.same(await publish(p, 2, 0, 'e'), { err: null, firstOffset: 3, stored: 1 })
})

t.test('replication: records travel with the last entry of their batch, and a follower keeps only those that fit what it appended', async (t) => {
  const leaderDir = t.testdir({ l: {}, f: {} })
  const leader = await open(path.join(leaderDir, 'l'))
  const lines: string[] = []
  const follower = await open(path.join(leaderDir, 'f'), undefined, lines)
  t.teardown(async () => { await leader.close(); await follower.close() })
  await publish(leader, 1, 0, 'a', 'b', 'c')
  await publish(leader, 2, 0, 'd')
  await publish(leader, 1, 3, 'e', 'f')
  t.same(leader.producers.recordsEndingIn(0, 2), [], 'the first batch ends at offset 2: not within [0, 2)')
  t.same(leader.producers.recordsEndingIn(0, 3), [[1, 0, 3, 0]])
  t.same(leader.producers.recordsEndingIn(3, 6), [[2, 0, 1, 3], [1, 3, 2, 4]])
  t.same(leader.producers.recordsEndingIn(5, 6), [[1, 3, 2, 4]], 'a batch that started before the fetch offset travels with its last entry')
  const entries = (await leader.read(0, 10, 1 << 20, 6, true)).map((m) => m.data)
  await new Promise((resolve) => follower.appendReplica(entries.slice(0, 4), resolve, [...leader.producers.recordsEndingIn(0, 4), [9, 0, 1, 4], [0, 0, 1, 1]]))
  t.match(lines.join('\n'), /\[9,0,1,4\]\) is not kept: its batch ends at 5, outside the entries sent/)
  t.match(lines.join('\n'), /\[0,0,1,1\]\) is not kept: a field out of range/)
  await new Promise((resolve) => follower.appendReplica(entries.slice(4), resolve, leader.producers.recordsEndingIn(4, 6)))
  t.same(follower.producers.recordsEndingIn(0, 6), leader.producers.recordsEndingIn(0, 6))
  t.same(await publish(follower, 1, 3, 'e', 'f'), { err: null, firstOffset: 4, stored: 2 }, 'the follower (were it leader) answers the retry with the leader\'s offsets')
})

t.test('the bound: no more than maxProducers producers, least recently used forgotten first, and the journal stays bounded', async (t) => {
  const dir = t.testdir()
  const max = 1000
  let p = await open(dir, undefined, [], { maxProducers: max, producersCompactBytes: 64 * 1024 })
  let maxJournal = 0
  for (let round = 0; round < 10; round++) {
    const sends = []
    for (let i = 0; i < 1000; i++) sends.push(publish(p, 1 + round * 1000 + i, 0, 'm'))
    // Producer 1 keeps sending: it is never the least recently used.
    sends.push(publish(p, 1, round === 0 ? 1 : round + 1, 'keep'))
    const answers = await Promise.all(sends)
    t.ok(answers.every((a) => a.err === null), `round ${round}: all stored`)
    t.ok(p.producers.size <= max, `round ${round}: ${p.producers.size} producers remembered`)
    maxJournal = Math.max(maxJournal, fs.statSync(path.join(dir, PRODUCERS_FILE)).size)
  }
  t.ok(maxJournal <= Math.max(64 * 1024, 4 * max * BATCHES_PER_PRODUCER * 28) + 1001 * 28, `the journal peaked at ${maxJournal} bytes`)
  t.ok(p.producers.batches(1).length > 0, 'the producer in steady use is remembered')
  t.same(p.producers.batches(2), [], 'an old one was forgotten')
  t.ok(p.producers.batches(10_000).length > 0, 'a recent one is remembered')
  await p.close()
  p = await open(dir, undefined, [], { maxProducers: max })
  t.teardown(() => p.close())
  t.ok(p.producers.size <= max, `after a restart: ${p.producers.size} producers`)
  t.ok(p.producers.batches(1).length > 0)
})

t.test('per producer, only the last batches are remembered however many it sends', async (t) => {
  const p = await open(t.testdir())
  t.teardown(() => p.close())
  for (let i = 0; i < 3 * BATCHES_PER_PRODUCER; i++) await publish(p, 4, i, `m${i}`)
  t.equal(p.producers.batches(4).length, BATCHES_PER_PRODUCER)
  t.match(await publish(p, 4, 0, 'm0'), { err: { code: 'DUPLICATE_SEQUENCE' } })
})

t.test('invalidRecord refuses what a leader could not have sent', async (t) => {
  t.equal(ProducerState.invalidRecord([1, 0, 1, 5], 5, 6), null)
  t.equal(ProducerState.invalidRecord([1, 0, 0, 5], 5, 6), 'a field out of range')
  t.equal(ProducerState.invalidRecord([1, 2 ** 32, 1, 5], 5, 6), 'a field out of range')
  t.equal(ProducerState.invalidRecord('x', 5, 6), 'not four counts')
  t.equal(ProducerState.invalidRecord([1, 0, 1, -1], 5, 6), 'not four counts')
})

t.test('in a write batch, the producer records are written before the segment and the group journal', async (t) => {
  const dir = t.testdir()
  const order: string[] = []
  const io: FileIo = {
    ...nodeFileIo,
    writev (fd, buffers, position) {
      order.push(path.basename(fs.readlinkSync(`/proc/self/fd/${fd}`)))
      nodeFileIo.writev(fd, buffers, position)
    }
  }
  const p = await open(dir, io)
  t.teardown(() => p.close())
  await publish(p, 1, 0, 'warm')
  order.length = 0
  // One turn: a commit (groups journal), a plain append (segment), then an idempotent one (segment and producer record).
  const committed = new Promise<Error | null>((resolve) => p.commit('g', 1, resolve))
  const appended = new Promise<Error | null>((resolve) => p.append([Buffer.from('plain')], resolve))
  const answer = await publish(p, 1, 1, 'idempotent')
  t.same([await committed, await appended, answer.err], [null, null, null])
  t.same(order.filter((f) => f !== 'recovery-point'), [PRODUCERS_FILE, 'groups.offsets', '0.log'], 'one batch: producers first, then the others in the order they were appended')
})

import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Store } from '../../lib/storage/store'
import { Partition } from '../../lib/storage/partition'
import { nodeFileIo, type FileIo } from '../../lib/storage/file-io'
import { ENTRY_OVERHEAD, readEntryHeader } from '../../lib/storage/entry'
import { INDEX_INTERVAL } from '../../lib/storage/offset-index'
import { encodePoint } from '../../lib/storage/recovery-point'
import { RogError } from '../../lib/errors'
import type { Test } from 'tap'

function append (p: Partition, messages: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => p.append(messages, (err, first) => err === null ? resolve(first) : reject(err)))
}

function commit (p: Partition, group: string, offset: number): Promise<void> {
  return new Promise((resolve, reject) => p.commit(group, offset, (err) => err === null ? resolve() : reject(err)))
}

function ack (p: Partition, group: string): Promise<void> {
  return new Promise((resolve, reject) => p.ack(group, (err) => err === null ? resolve() : reject(err)))
}

function msg (i: number, size = 100): Buffer {
  const b = Buffer.alloc(size, i % 251)
  b.write(`m${i}:`)
  return b
}

/** A FileIo whose writes of segment entries (msg()'s, of 100 bytes) fail with EIO while `failing.on`. */
function failingEntryWrites (): { io: FileIo, failing: { on: boolean } } {
  const failing = { on: false }
  const io: FileIo = {
    ...nodeFileIo,
    writev (fd, buffers, position) {
      if (failing.on && buffers.some((b) => b.length >= ENTRY_OVERHEAD + 100)) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
      nodeFileIo.writev(fd, buffers, position)
    }
  }
  return { io, failing }
}

async function openStore (dir: string, extra: Partial<Parameters<typeof Store.open>[0]> = {}, lines: string[] = []): Promise<Store> {
  return await Store.open({ dataDir: dir, fsync: 'never', log: (l) => lines.push(l), ...extra })
}

/** Every entry of a segment file, parsed as PROTOCOL.md's id/size/content frames. */
function parseSegment (file: string): Array<{ id: number, size: number }> {
  const buf = fs.readFileSync(file)
  const out = []
  let at = 0
  while (at < buf.length) {
    const e = readEntryHeader(buf, at)
    if (e === null || at + e.size > buf.length) throw new Error(`cut short at ${at}`)
    out.push(e)
    at += e.size
  }
  return out
}

t.test('append and read back, across segments, by any offset', async (t) => {
  const dir = t.testdir()
  const store = await openStore(dir, { segmentBytes: 8192 })
  t.teardown(() => store.close())
  await store.createLog('ev', 2)
  const p = store.partition('ev', 1)
  t.equal(await append(p, [msg(0)]), 0)
  t.equal(await append(p, Array.from({ length: 999 }, (_, i) => msg(i + 1))), 1)
  t.equal(p.highWatermark(), 1000)
  t.ok(p.segments.length >= 10, `rolled into ${p.segments.length} segments`)
  for (const offset of [0, 1, 63, 64, 500, 998, 999]) {
    const [m] = await p.read(offset, 1, 1)
    t.ok(m.data.equals(msg(offset)), `offset ${offset}`)
    t.equal(m.offset, offset)
  }
  const all = await p.read(0, 5000, 1 << 30)
  t.equal(all.length, 1000)
  t.ok(all.every((m, i) => m.offset === i && m.data.equals(msg(i))), 'all messages in order, intact')
  t.same(await p.read(1000, 10, 1000), [], 'nothing past the end')
  const limited = await p.read(10, 100, 250)
  t.equal(limited.length, 2, 'maxBytes bounds a read')
  t.equal((await p.read(10, 100, 1)).length, 1, 'at least one message even when it is larger than maxBytes')
  t.equal(store.partition('ev', 0).highWatermark(), 0, 'partitions are independent')

  for (const s of p.segments) {
    const entries = parseSegment(s.logPath)
    t.equal(entries[0].id, s.base, `${path.basename(s.logPath)} is named after its first id`)
    t.ok(entries.every((e, i) => e.id === s.base + i && e.size === ENTRY_OVERHEAD + 100))
  }
})

t.test('errors name the log and partition the reference way', async (t) => {
  const store = await openStore(t.testdir())
  t.teardown(() => store.close())
  await store.createLog('ev', 3)
  await t.rejects(store.createLog('ev', 1), { code: 'LOG_EXISTS', message: 'Log ev already exists' })
  await t.rejects(store.createLog('zero', 0), { message: 'Number of partitions must be at least 1' })
  for (const bad of ['', '.', '..', 'a/b', 'x'.repeat(250), 'sp ace', 'ü']) {
    await t.rejects(store.createLog(bad, 1), { code: 'BAD_LOG_NAME' }, JSON.stringify(bad))
  }
  t.throws(() => store.partition('nope', 0), { message: 'No log registered with name nope' })
  t.throws(() => store.partition('ev', 3), { message: 'Trying to access partition 3 but log ev has 3 partitions' })
  t.same(fs.readdirSync(store.dataDir).sort(), ['ev'], 'nothing created for bad names')
  t.same(store.listLogs(), [{ log: 'ev', partitions: 3 }])
})

t.test('logs, segments, indexes and group offsets survive a reopen', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { segmentBytes: 4096 })
  await store.createLog('a', 1)
  await store.createLog('b', 4)
  let p = store.partition('a', 0)
  await append(p, Array.from({ length: 300 }, (_, i) => msg(i)))
  await commit(p, 'g1', 120)
  await ack(p, 'g2')
  await ack(p, 'g2')
  await commit(p, 'grüße, with spaces/and slashes', 7)
  await store.close()

  const lines: string[] = []
  store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.teardown(() => store.close())
  t.same(store.listLogs(), [{ log: 'a', partitions: 1 }, { log: 'b', partitions: 4 }])
  p = store.partition('a', 0)
  t.equal(p.highWatermark(), 300)
  t.equal(p.groups.get('g1'), 120)
  t.equal(p.groups.get('g2'), 2)
  t.equal(p.groups.get('grüße, with spaces/and slashes'), 7)
  t.equal(p.groups.get('never-seen'), 0)
  t.same(lines, [], 'a clean reopen reports nothing')
  t.equal(await append(p, [msg(300)]), 300, 'appends continue at the right offset')
  const read = await p.read(295, 10, 1 << 20)
  t.same(read.map((m) => m.offset), [295, 296, 297, 298, 299, 300])
  t.notOk(fs.readdirSync(path.join(dir, 'a', '0')).some((f) => f.includes('g1')), 'group names never become file names')
})

t.test('a missing or damaged offset index is rebuilt from its segment', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { segmentBytes: 1 << 20 })
  await store.createLog('ix', 1)
  await append(store.partition('ix', 0), Array.from({ length: 2000 }, (_, i) => msg(i)))
  await store.close()
  const indexPath = path.join(dir, 'ix', '0', '0.index')
  const good = fs.readFileSync(indexPath)
  t.ok(good.length >= 8 * (Math.floor((2000 * 128) / INDEX_INTERVAL) - 1), `sparse index of ${good.length / 8} entries`)

  const damages: Array<[string, () => void]> = [
    ['missing', () => fs.rmSync(indexPath)],
    ['truncated mid-entry', () => fs.writeFileSync(indexPath, good.subarray(0, good.length - 3))],
    ['out of order', () => { const b = Buffer.from(good); b.writeUInt32BE(1, 8); fs.writeFileSync(indexPath, b) }],
    ['pointing past the log', () => { const b = Buffer.from(good); b.writeUInt32BE(0x7fffffff, b.length - 4); fs.writeFileSync(indexPath, b) }],
    ['pointing at the wrong entry', () => { const b = Buffer.from(good); b.writeUInt32BE(b.readUInt32BE(b.length - 8) + 1, b.length - 8); fs.writeFileSync(indexPath, b) }]
  ]
  for (const [name, damage] of damages) {
    damage()
    const lines: string[] = []
    store = await openStore(dir, {}, lines)
    t.match(lines.join('\n'), /rebuilding/, `${name}: reported`)
    t.ok(fs.readFileSync(indexPath).equals(good), `${name}: rebuilt to the same index`)
    const p = store.partition('ix', 0)
    for (const offset of [0, 777, 1999]) t.ok((await p.read(offset, 1, 1))[0].data.equals(msg(offset)), `${name}: reads ${offset}`)
    await store.close()
  }
})

const tailDamages: Array<[string, (file: string) => void, number]> = [
  ['a header with no body', (f) => fs.appendFileSync(f, Buffer.from('00000000000000640000000000000070', 'hex')), 100],
  ['half a header', (f) => fs.appendFileSync(f, Buffer.from('0000000000', 'hex')), 100],
  ['a body with a wrong checksum', (f) => { const b = fs.readFileSync(f); b[b.length - 5] ^= 0xff; fs.writeFileSync(f, b) }, 99],
  ['an entry cut short', (f) => { const s = fs.statSync(f).size; fs.truncateSync(f, s - 30) }, 99],
  ['an absurd entry size', (f) => fs.appendFileSync(f, Buffer.from('0000000000000064ffffffffffffffff', 'hex')), 100]
]

async function damagedPartition (t: Test, damage: (file: string) => void, crash: boolean): Promise<{ dir: string, store: Store, p: Partition, lines: string[] }> {
  const dir = t.testdir()
  let store = await openStore(dir)
  await store.createLog('r', 1)
  const p = store.partition('r', 0)
  await append(p, Array.from({ length: 100 }, (_, i) => msg(i)))
  await commit(p, 'ahead', 100)
  await store.close()
  // A crash before anything was synced leaves no recovery point.
  if (crash) fs.rmSync(path.join(dir, 'r', '0', 'recovery-point'))
  damage(path.join(dir, 'r', '0', '0.log'))
  const lines: string[] = []
  store = await openStore(dir, {}, lines)
  return { dir, store, p: store.partition('r', 0), lines }
}

/** The index points a segment file should have: its first entry 4 KiB or more past the last point, [relative offset, position]. */
function expectedPoints (file: string, base: number): Array<[number, number]> {
  const points: Array<[number, number]> = []
  let position = 0
  let last = 0
  for (const e of parseSegment(file)) {
    if (position - last >= INDEX_INTERVAL) {
      points.push([e.id - base, position])
      last = position
    }
    position += e.size
  }
  return points
}

function indexPoints (file: string): Array<[number, number]> {
  const buf = fs.readFileSync(file)
  return Array.from({ length: buf.length / 8 }, (_, i) => [buf.readUInt32BE(i * 8), buf.readUInt32BE(i * 8 + 4)])
}

t.test('index points reach their files in batches, at a roll and at close; those a crash left unwritten are restored on open', async (t) => {
  const dir = path.join(t.testdir(), 'live')
  const store = await openStore(dir, { segmentBytes: 256 * 1024 })
  await store.createLog('hints', 1)
  const p = store.partition('hints', 0)
  // One append at a time: each adds at most one point, so they gather in memory between writes.
  for (let i = 0; i < 200; i++) await append(p, [msg(i, 1000)])
  const pdir = path.join(dir, 'hints', '0')
  const expected = expectedPoints(path.join(pdir, '0.log'), 0)
  const written = indexPoints(path.join(pdir, '0.index'))
  t.ok(written.length > 0 && written.length < expected.length && expected.length - written.length < 32, `${written.length} of ${expected.length} points written while appends go on`)
  t.same(written, expected.slice(0, written.length), 'those written are the first ones')
  const timePoints = fs.statSync(path.join(pdir, '0.timeindex')).size / 12
  t.ok(timePoints > 0 && timePoints < expected.length + 1, `${timePoints} of ${expected.length + 1} time points written`)

  // What a SIGKILL leaves: the files as they are now.
  const crashed = path.join(path.dirname(dir), 'crashed')
  fs.cpSync(dir, crashed, { recursive: true })
  const lines: string[] = []
  const after = await openStore(crashed, {}, lines)
  const q = after.partition('hints', 0)
  t.same(indexPoints(path.join(crashed, 'hints', '0', '0.index')), expected, 'the index file is completed on open')
  for (const offset of [0, 123, 199]) t.ok((await q.read(offset, 1, 1))[0].data.equals(msg(offset, 1000)), `reads ${offset}`)
  t.equal(await q.offsetForTime(0), 0, 'reading by time')
  t.equal(await append(q, [msg(200, 1000)]), 200, 'appends go on')
  await after.close()
  t.notMatch(lines.join('\n'), /damaged|rebuilding/, 'nothing reported as damage')

  for (let i = 200; i < 300; i++) await append(p, [msg(i, 1000)])
  t.equal(p.segments.length, 2, 'rolled')
  t.same(indexPoints(path.join(pdir, '0.index')), expectedPoints(path.join(pdir, '0.log'), 0), 'the rolled segment has every point written')
  t.equal(fs.statSync(path.join(pdir, '0.timeindex')).size, 12 * (expectedPoints(path.join(pdir, '0.log'), 0).length + 1), 'and every time point')
  const base = p.segments[1].base
  await store.close()
  t.same(indexPoints(path.join(pdir, `${base}.index`)), expectedPoints(path.join(pdir, `${base}.log`), base), 'close writes the active segment\'s points')
})

t.test('with no recovery point, a damaged tail with nothing intact after it is truncated as torn', async (t) => {
  for (const [name, damage, survivors] of tailDamages) {
    let { dir, store, p, lines } = await damagedPartition(t, damage, true)
    t.match(lines.join('\n'), /truncated \d+ bytes/, `${name}: reported with the byte count`)
    t.equal(p.highWatermark(), survivors, `${name}: ${survivors} intact messages`)
    const all = await p.read(0, 1000, 1 << 20)
    t.ok(all.length === survivors && all.every((m, i) => m.data.equals(msg(i))), `${name}: every intact message, nothing else`)
    t.ok(p.groups.get('ahead') <= survivors, `${name}: group offset clamped to the end`)
    t.equal(await append(p, [msg(survivors)]), survivors, `${name}: appends continue at ${survivors}`)
    await store.close()
    store = await openStore(dir, {}, lines)
    t.equal(store.partition('r', 0).highWatermark(), survivors + 1, `${name}: clean after the repair`)
    await store.close()
  }
})

t.test('damage before the recovery point is reported and left in place; what follows the point is truncated', async (t) => {
  for (const [name, damage, survivors] of tailDamages) {
    const { store, p, lines } = await damagedPartition(t, damage, false)
    const file = path.join(store.dataDir, 'r', '0', '0.log')
    const size = fs.statSync(file).size
    if (survivors === 100) {
      t.match(lines.join('\n'), /truncated \d+ bytes of a torn write/, `${name}: past the recovery point, so torn: truncated`)
      t.equal(p.highWatermark(), 100)
    } else {
      t.match(lines.join('\n'), /damaged bytes at position \d+ to the end of the file, left in place/, `${name}: reported`)
      t.notMatch(lines.join('\n'), /truncated \d+ bytes/, `${name}: nothing truncated`)
      t.equal(fs.statSync(file).size, size)
      t.equal(p.highWatermark(), 100, `${name}: the damaged offset is not reused`)
      const all = await p.read(0, 1000, 1 << 20)
      t.ok(all.length === 99 && all.every((m, i) => m.data.equals(msg(i))), `${name}: reads stop before the damage`)
      await t.rejects(p.read(99, 10, 1 << 20), { code: 'DAMAGED', message: 'Partition 0 of log r is damaged at offset 99: the data there failed its checks and is not served' })
      t.equal(p.groups.get('ahead'), 100, `${name}: the group keeps its offset`)
    }
    t.equal(await append(p, [msg(100)]), 100, `${name}: appends continue at 100`)
    t.ok((await p.read(100, 1, 1000))[0].data.equals(msg(100)))
    await store.close()
  }
})

t.test('a torn group offsets record is dropped, the earlier ones kept', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir)
  await store.createLog('g', 1)
  const p = store.partition('g', 0)
  await append(p, [msg(0), msg(1), msg(2)])
  await commit(p, 'keep', 2)
  await store.close()
  const file = path.join(dir, 'g', '0', 'groups.offsets')
  const record = fs.readFileSync(file)
  fs.appendFileSync(file, Buffer.concat([record.subarray(0, 6), Buffer.from('kee')]))
  const lines: string[] = []
  store = await openStore(dir, {}, lines)
  t.teardown(() => store.close())
  t.match(lines.join('\n'), /9 bytes of an incomplete record at the end/)
  t.equal(store.partition('g', 0).groups.get('keep'), 2)
})

t.test('ack stops at the end; commit is bounded by it', async (t) => {
  const store = await openStore(t.testdir())
  t.teardown(() => store.close())
  await store.createLog('a', 1)
  const p = store.partition('a', 0)
  await t.rejects(ack(p, 'g'), { code: 'NO_DATA' })
  await append(p, [msg(0)])
  await ack(p, 'g')
  await t.rejects(ack(p, 'g'), { code: 'NO_DATA' })
  t.equal(p.groups.get('g'), 1, 'a failed ack moves nothing')
  await t.rejects(commit(p, 'g', 2), { code: 'BAD_OFFSET' })
  await commit(p, 'g', 0)
  t.equal(p.groups.get('g'), 0)
})

t.test('many concurrent appends get unique, gapless offsets in call order', async (t) => {
  const store = await openStore(t.testdir(), { segmentBytes: 16384 })
  t.teardown(() => store.close())
  await store.createLog('c', 1)
  const p = store.partition('c', 0)
  const firsts = await Promise.all(Array.from({ length: 500 }, (_, i) => append(p, [msg(i * 2), msg(i * 2 + 1)])))
  t.same(firsts, Array.from({ length: 500 }, (_, i) => i * 2))
  const all = await p.read(0, 2000, 1 << 24)
  t.ok(all.length === 1000 && all.every((m, i) => m.offset === i && m.data.equals(msg(i))))
})

t.test('long poll wakes when a publish lands, or times out', async (t) => {
  const store = await openStore(t.testdir())
  t.teardown(() => store.close())
  await store.createLog('w', 1)
  const p = store.partition('w', 0)
  let woke = false
  const waiting = p.waitFor(0, 60_000).then(() => { woke = true })
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(woke)
  await append(p, [msg(0)])
  await waiting
  t.ok(woke, 'woken by the append')
  await p.waitFor(1, 10)
  t.equal(p.highWatermark(), 1, 'timed out with nothing new')
})

t.test('a disk error on append fails that publish and leaves the partition consistent', async (t) => {
  const dir = t.testdir()
  let failures = 0
  const io: FileIo = {
    ...nodeFileIo,
    writev (fd, buffers, position) {
      // The recovery point's writes (after syncs) are not what this test fails.
      if (failures > 0 && !fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith('recovery-point')) {
        failures--
        // A partial write, then the error: what a full disk looks like.
        fs.writeSync(fd, buffers[0].subarray(0, 7), 0, 7, position)
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      }
      nodeFileIo.writev(fd, buffers, position)
    }
  }
  let store = await openStore(dir, { io, segmentBytes: 4096 })
  await store.createLog('d', 1)
  const p = store.partition('d', 0)
  await append(p, Array.from({ length: 50 }, (_, i) => msg(i)))
  failures = 1
  const results = await Promise.allSettled([append(p, [msg(50)]), append(p, [msg(51)]), append(p, [msg(52)])])
  t.equal(results[0].status, 'rejected')
  t.match((results[0] as PromiseRejectedResult).reason, { code: 'STORAGE', message: /no space left/ })
  t.ok((results[0] as PromiseRejectedResult).reason instanceof RogError)
  t.equal(p.highWatermark(), 50, 'nothing of the failed appends is visible')
  t.equal(await append(p, [msg(50)]), 50, 'the next append takes the next offset: no gap')
  t.equal(await append(p, Array.from({ length: 60 }, (_, i) => msg(51 + i))), 51)

  failures = 1
  await t.rejects(commit(p, 'g', 10), { code: 'STORAGE' })
  t.equal(p.groups.get('g'), 0, 'a group offset that failed to persist is not moved')
  await commit(p, 'g', 10)
  await store.close()

  store = await openStore(dir)
  t.teardown(() => store.close())
  const all = await store.partition('d', 0).read(0, 1000, 1 << 24)
  t.ok(all.length === 111 && all.every((m, i) => m.offset === i && m.data.equals(msg(i))), 'reopened: every acknowledged message, in order, nothing else')
  t.equal(store.partition('d', 0).groups.get('g'), 10)
})

t.test('fsync policies: always syncs each write group, interval syncs on a timer', async (t) => {
  for (const fsync of ['always', 'interval', 'never'] as const) {
    let syncs = 0
    const io: FileIo = { ...nodeFileIo, fdatasync (fd, cb) { syncs++; nodeFileIo.fdatasync(fd, cb) } }
    const store = await openStore(t.testdir(), { io, fsync, fsyncIntervalMs: 5 })
    await store.createLog('f', 1)
    const p = store.partition('f', 0)
    // 300 concurrent appends of 64 messages each: their log and index writes interleave in the queue.
    await Promise.all(Array.from({ length: 300 }, () => append(p, Array.from({ length: 64 }, (_, i) => msg(i)))))
    if (fsync === 'always') t.ok(syncs >= 1 && syncs <= 30, `always: ${syncs} syncs for 300 concurrent appends (group commit)`)
    else t.equal(syncs, 0, `${fsync}: no sync before the answer`)
    await store.close()
  }
})

t.test('a log creation interrupted by a crash is cleaned up on start', async (t) => {
  const dir = t.testdir({ 'half~new': { 0: {} } })
  const lines: string[] = []
  const store = await openStore(dir, {}, lines)
  t.teardown(() => store.close())
  t.same(store.listLogs(), [])
  t.notOk(fs.existsSync(path.join(dir, 'half~new')))
  t.match(lines.join(), /did not finish/)
})

/** Writes log `name` of 100 messages in 4 KiB segments under `dir` and closes the store; returns the partition's directory. */
/** The base offsets of the segment files in `pdir`, in order. */
function logBases (pdir: string): number[] {
  return fs.readdirSync(pdir).filter((f) => f.endsWith('.log')).map((f) => parseInt(f)).sort((a, b) => a - b)
}

/** Empties every file of the segments `bases`: what the segments a write batch rolled to hold before it writes them. */
function emptySegments (pdir: string, bases: number[]): void {
  for (const b of bases) {
    for (const ext of ['log', 'index', 'timeindex']) if (fs.existsSync(path.join(pdir, `${b}.${ext}`))) fs.truncateSync(path.join(pdir, `${b}.${ext}`), 0)
  }
}

/**
 * A closed store with log `name` of one partition: 30 messages, then one
 * batch of 200 that rolled through segments 32, 64, ... 224 (4 KiB segments
 * of 128-byte entries, 32 to a segment). Returns the partition's directory.
 */
async function rolledBatch (dir: string, name: string): Promise<string> {
  const store = await openStore(dir, { segmentBytes: 4096 })
  await store.createLog(name, 1)
  await append(store.partition(name, 0), Array.from({ length: 30 }, (_, i) => msg(i)))
  await append(store.partition(name, 0), Array.from({ length: 200 }, (_, i) => msg(30 + i)))
  await store.close()
  return path.join(dir, name, '0')
}

async function hundredInSmallSegments (dir: string, name: string): Promise<string> {
  const store = await openStore(dir, { segmentBytes: 4096 })
  await store.createLog(name, 1)
  await append(store.partition(name, 0), Array.from({ length: 100 }, (_, i) => msg(i)))
  await store.close()
  return path.join(dir, name, '0')
}

t.test('a crash right after a roll (new segment empty, the last writes before it lost) leaves no gap', async (t) => {
  const dir = t.testdir()
  const pdir = await hundredInSmallSegments(dir, 'roll')
  const last = fs.readdirSync(pdir).filter((f) => f.endsWith('.log')).map((f) => parseInt(f)).sort((a, b) => b - a)[0]
  fs.writeFileSync(path.join(pdir, `${last + 5}.log`), '')
  fs.writeFileSync(path.join(pdir, `${last + 9}.log`), fs.readFileSync(path.join(pdir, `${last}.log`)))
  const lines: string[] = []
  const store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.teardown(() => store.close())
  const p = store.partition('roll', 0)
  t.match(lines.join('\n'), /follow a torn write \(offsets 100 to \d+ were never synced\); removing them/)
  t.equal(p.highWatermark(), 100)
  t.equal((await p.read(0, 1000, 1 << 20)).length, 100)
  t.equal(await append(p, [msg(100)]), 100)
})

t.test('a segment rolled to whose first entry was torn a few bytes in (a power loss) is recognised as the torn tail and removed, so a roll can take its name again', async (t) => {
  const dir = t.testdir()
  const pdir = await hundredInSmallSegments(dir, 'cut')
  // Offsets 100-102 were written to the segment before and lost with it; 103.log kept 10 bytes of its first entry.
  const header = Buffer.alloc(16)
  header.writeBigUInt64BE(103n, 0)
  header.writeBigUInt64BE(BigInt(12 + 100), 8)
  fs.writeFileSync(path.join(pdir, '103.log'), header.subarray(0, 10))
  // Past any id the torn writes could have reached: not Rog's, left alone.
  fs.writeFileSync(path.join(pdir, '100000.log'), Buffer.from('not ours'))
  const lines: string[] = []
  const store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.teardown(() => store.close())
  const p = store.partition('cut', 0)
  t.match(lines.join('\n'), /follow a torn write \(offsets 100 to 102 were never synced\); removing them: 103\.log/)
  t.notOk(fs.existsSync(path.join(pdir, '103.log')), 'the torn segment is gone')
  t.ok(fs.existsSync(path.join(pdir, '100000.log')), 'the stray is left alone')
  t.equal(p.highWatermark(), 100)
  t.equal(await append(p, [msg(100), msg(101), msg(102), msg(103)]), 100, 'appends go on from the end')
})

t.test('a torn write batch that had rolled through several segments: the empty segments it made go with it, and appends roll onto their bases again', async (t) => {
  const dir = t.testdir()
  const pdir = await rolledBatch(dir, 'multi')
  const bases = (): number[] => logBases(pdir)
  t.same(bases(), [0, 32, 64, 96, 128, 160, 192, 224])
  // A SIGKILL during that batch's write of segment 32: it is cut mid-entry, the segments made after it are still
  // empty, and the recovery point is at the start of 32. One more file lies past anything the batch could reach.
  fs.truncateSync(path.join(pdir, '32.log'), 1000)
  emptySegments(pdir, bases().slice(2))
  fs.writeFileSync(path.join(pdir, 'recovery-point'), encodePoint({ base: 32, position: 0 }))
  fs.writeFileSync(path.join(pdir, '100000.log'), '')
  const lines: string[] = []
  const store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.teardown(() => store.close())
  const p = store.partition('multi', 0)
  t.match(lines.join('\n'), /offsets 39 to 63 were never synced\); removing them: 64\.log, 96\.log, 128\.log, 160\.log, 192\.log, 224\.log\n/)
  t.match(lines.join('\n'), /100000\.log: lies past anything this log could have written; not part of it, left alone/)
  t.same(bases(), [0, 32, 100000])
  t.equal(p.endOffset, 39, 'the torn entry and what followed it are gone')
  t.equal(await append(p, Array.from({ length: 200 }, (_, i) => msg(39 + i))), 39, 'the same batch again rolls onto every base the torn one had made')
  t.same(bases(), [0, 32, 64, 96, 128, 160, 192, 224, 100000])
  const all = await p.read(0, 1000, 1 << 24)
  t.ok(all.length === 239 && all.every((m, i) => m.offset === i && m.data.equals(msg(i))), 'every message, in order')
})

t.test('a torn write batch after a recovery point whose segment retention deleted: the point counts as the start of the first segment left, and the empty segments the batch made go too', async (t) => {
  const dir = t.testdir()
  const pdir = await rolledBatch(dir, 'kept')
  const bases = (): number[] => logBases(pdir)
  // Retention deleted segment 0 while the recovery point was still in it; then a SIGKILL cut the batch's write
  // of segment 32 mid-entry, with the segments it had rolled to still empty.
  for (const ext of ['log', 'index', 'timeindex']) fs.rmSync(path.join(pdir, `0.${ext}`), { force: true })
  fs.writeFileSync(path.join(pdir, 'recovery-point'), encodePoint({ base: 0, position: 1000 }))
  fs.truncateSync(path.join(pdir, '32.log'), 1000)
  emptySegments(pdir, bases().slice(1))
  const lines: string[] = []
  const store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.teardown(() => store.close())
  const p = store.partition('kept', 0)
  t.match(lines.join('\n'), /32\.log: truncated 104 bytes of a torn write at position 896/)
  t.match(lines.join('\n'), /removing them: 64\.log, 96\.log, 128\.log, 160\.log, 192\.log, 224\.log$/m)
  t.notMatch(lines.join('\n'), /are missing before/, 'no gap is kept')
  t.same(bases(), [32])
  t.equal(p.firstOffset, 32)
  t.equal(p.endOffset, 39, 'the torn entry and what followed it are gone')
  const all = await p.read(32, 1000, 1 << 24)
  t.ok(all.length === 7 && all.every((m, i) => m.offset === 32 + i && m.data.equals(msg(32 + i))), 'every message from the first offset on, in order')
  t.equal(await append(p, [msg(39)]), 39, 'appends go on from the end')
})

t.test('empty segment files a torn batch made under a larger --segment-bytes are not in recovery\'s reach: a roll onto one takes its name', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { segmentBytes: 8192 })
  await store.createLog('big', 1)
  // 32-byte entries: 256 to a segment of 8 KiB, more than recovery reaches under 4 KiB segments.
  await append(store.partition('big', 0), Array.from({ length: 1100 }, (_, i) => msg(i, 4)))
  await store.close()
  const pdir = path.join(dir, 'big', '0')
  const bases = (): number[] => logBases(pdir)
  t.same(bases(), [0, 256, 512, 768, 1024])
  fs.truncateSync(path.join(pdir, '0.log'), 1000)
  emptySegments(pdir, bases().slice(1))
  fs.writeFileSync(path.join(pdir, 'recovery-point'), encodePoint({ base: 0, position: 0 }))
  const lines: string[] = []
  store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.teardown(() => store.close())
  const p = store.partition('big', 0)
  t.equal(p.endOffset, 31)
  t.match(lines.join('\n'), /256\.log: lies past anything this log could have written; not part of it, left alone/)
  t.equal(await append(p, Array.from({ length: 1100 }, (_, i) => msg(31 + i, 4))), 31, 'appends roll onto the empty files\' names')
  t.match(lines.join('\n'), /256\.log: an empty file of this segment's name was there \(made by a torn write\); replaced by the new segment/)
  const all = await p.read(0, 2000, 1 << 24)
  t.ok(all.length === 1131 && all.every((m, i) => m.offset === i && m.data.equals(msg(i, 4))), 'every message, in order')
})

t.test('a roll onto a file that is not part of the log fails, names the file, and leaves it alone', async (t) => {
  const dir = t.testdir()
  const lines: string[] = []
  const store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.teardown(() => store.close())
  await store.createLog('taken', 1)
  const p = store.partition('taken', 0)
  await append(p, Array.from({ length: 30 }, (_, i) => msg(i)))
  fs.writeFileSync(path.join(dir, 'taken', '0', '32.log'), 'not ours')
  const err = await append(p, Array.from({ length: 10 }, (_, i) => msg(30 + i))).catch((e: unknown) => e)
  t.match(err, { code: 'STORAGE', message: /the first 2 messages of the batch were stored|starting a new segment: EEXIST/ })
  t.match(lines.join('\n'), /could not start segment 32: .*a file of that name is there and is not part of this log: it is left alone, and appends here fail until it is moved away/)
  t.equal(fs.readFileSync(path.join(dir, 'taken', '0', '32.log'), 'utf8'), 'not ours')
  t.equal(p.endOffset, 32, 'what fitted before the roll is stored')
})

t.test('a read that retention overtakes ends where the deleted segments begin: an answer never skips offsets', async (t) => {
  const store = await openStore(t.testdir(), { segmentBytes: 4096 })
  t.teardown(() => store.close())
  await store.createLog('ret', 1)
  const p = store.partition('ret', 0)
  await append(p, Array.from({ length: 320 }, (_, i) => msg(i)))
  for (let round = 0; round < 5; round++) {
    const from = p.firstOffset
    const reading = p.read(from, 1000, 1 << 24)
    // Deletes all but the newest two segments while the read is under way.
    await p.enforceRetention(2 * 4096, null, Date.now())
    const got = await reading
    t.ok(got.length > 0 && got[0].offset === from && got.every((m, i) => m.offset === from + i), `round ${round}: ${got.length} messages from ${from}, none skipped`)
    await append(p, Array.from({ length: 96 }, (_, i) => msg(i)))
  }
})

t.test('rolls use files made ahead of time; none are left behind', async (t) => {
  const dir = t.testdir()
  const created: string[] = []
  const io: FileIo = {
    ...nodeFileIo,
    open (file, flags) {
      if ((flags & fs.constants.O_CREAT) !== 0) created.push(path.basename(file))
      return nodeFileIo.open(file, flags)
    }
  }
  let store = await openStore(dir, { segmentBytes: 4096, io })
  await store.createLog('sp', 1)
  const p = store.partition('sp', 0)
  for (let i = 0; i < 200; i++) {
    await append(p, [msg(i)])
    await new Promise((resolve) => setImmediate(resolve))
  }
  const pdir = path.join(dir, 'sp', '0')
  t.ok(p.segments.length >= 6)
  t.ok(p.segments.every((s, i) => i === 0 || s.base === p.segments[i - 1].nextOffset), 'contiguous segments')
  await store.close()
  // A roll finds its spare files ready or makes the segment's files then; either way all of them, the time index
  // too (one made then is created at its first write: the roll or close that writes its points).
  const made = (ext: string): string[] => created.filter((f) => f.endsWith(ext)).map((f) => f.slice(0, -ext.length))
  t.same(made('.timeindex'), made('.log'), 'no segment linked from spare files made its time index afterwards')
  t.notOk(fs.readdirSync(pdir).some((f) => f.startsWith('spare')), 'spare files removed at close')
  fs.writeFileSync(path.join(pdir, 'spare.log.next'), 'left by a crash')
  store = await openStore(dir, { segmentBytes: 4096 })
  t.teardown(() => store.close())
  t.notOk(fs.readdirSync(pdir).some((f) => f.startsWith('spare')), 'a stale spare is removed at start')
  t.equal((await store.partition('sp', 0).read(0, 1000, 1 << 20)).length, 200)
})

t.test('the group offsets journal is compacted while the server runs', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { groupsCompactBytes: 2000, fsync: 'always' })
  await store.createLog('j', 1)
  const p = store.partition('j', 0)
  await append(p, Array.from({ length: 10 }, (_, i) => msg(i)))
  const file = path.join(dir, 'j', '0', 'groups.offsets')
  let largest = 0
  for (let i = 0; i < 1000; i++) {
    await commit(p, `group-${i % 5}`, i % 11)
    largest = Math.max(largest, fs.statSync(file).size)
  }
  await Promise.all(Array.from({ length: 300 }, (_, i) => commit(p, `group-${i % 5}`, 10 - (i % 11))))
  t.ok(largest <= 2100, `1300 commits of 5 groups, the journal never past ${largest} bytes`)
  const expected = Array.from({ length: 5 }, (_, g) => p.groups.get(`group-${g}`))
  await store.close()
  store = await openStore(dir)
  t.teardown(() => store.close())
  t.same(Array.from({ length: 5 }, (_, g) => store.partition('j', 0).groups.get(`group-${g}`)), expected, 'every group\'s last offset survives')
  t.notOk(fs.existsSync(`${file}.tmp`))
})

t.test('an append that fails part way reports how many of its messages were stored', async (t) => {
  let failNewSegment = false
  let firstSegmentFd = -1
  const io: FileIo = {
    ...nodeFileIo,
    writev (fd, buffers, position) {
      const bytes = buffers.reduce((n, b) => n + b.length, 0)
      if (failNewSegment && fd !== firstSegmentFd && position === 0 && bytes > 1000) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
      nodeFileIo.writev(fd, buffers, position)
    }
  }
  const store = await openStore(t.testdir(), { io, segmentBytes: 4096 })
  t.teardown(() => store.close())
  await store.createLog('part', 1)
  const p = store.partition('part', 0)
  firstSegmentFd = p.segments[0].log.handle()
  failNewSegment = true
  const result = await new Promise<[RogError | null, number, number]>((resolve) => p.append(Array.from({ length: 100 }, (_, i) => msg(i)), (...args) => resolve(args)))
  failNewSegment = false
  t.match(result, [{ code: 'STORAGE' }, 0, 32], 'the first segment\'s 32 messages were stored, the rest failed')
  t.equal(p.highWatermark(), 32)
  t.equal(await append(p, [msg(32)]), 32, 'appends continue at 32')
})

t.test('a group offset written in the same batch as a failed segment write is answered as stored', async (t) => {
  const { io, failing } = failingEntryWrites()
  const dir = t.testdir()
  let store = await openStore(dir, { io })
  await store.createLog('mix', 1)
  const p = store.partition('mix', 0)
  await append(p, [msg(0), msg(1)])
  failing.on = true
  // One turn of the event loop: a group record, a segment append, another group record.
  const results = await Promise.allSettled([commit(p, 'g', 1), append(p, [msg(2)]), commit(p, 'g', 2)])
  failing.on = false
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'only the append whose file failed fails')
  t.equal(p.groups.get('g'), 2)
  await store.close()
  store = await openStore(dir)
  t.teardown(() => store.close())
  t.equal(store.partition('mix', 0).groups.get('g'), 2, 'what was answered is what is on disk')
})

t.test('a commit of an offset that appends in flight hold is written once they are, refused if they fail, in call order', async (t) => {
  const { io, failing } = failingEntryWrites()
  const dir = t.testdir()
  let store = await openStore(dir, { io })
  await store.createLog('held', 1)
  const p = store.partition('held', 0)
  await append(p, [msg(0), msg(1)])

  // Offset 3 is taken by the append in flight, which fails: the commit of 3 is refused; the commit
  // after it (of 2, already written) is written after that refusal, so it is the one that stands.
  failing.on = true
  const refused = await Promise.allSettled([append(p, [msg(2)]), commit(p, 'g', 3), commit(p, 'g', 2), commit(p, 'g', 4)])
  failing.on = false
  t.same(refused.map((r) => r.status), ['rejected', 'rejected', 'fulfilled', 'rejected'])
  t.match((refused[1] as PromiseRejectedResult).reason, { code: 'BAD_OFFSET' }, 'its offset was taken back')
  t.match((refused[3] as PromiseRejectedResult).reason, { code: 'BAD_OFFSET' }, 'past every offset taken')
  t.equal(p.groups.get('g'), 2)
  t.equal(p.nextOffset, 2, 'no offset taken by the failed append is left behind')

  // The same with a successful append: the commit of 3 waits for it; the later commit of 1 comes after it.
  const results = await Promise.allSettled([append(p, [msg(2)]), commit(p, 'g', 3), commit(p, 'h', 3), commit(p, 'g', 1)])
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
  t.equal(p.groups.get('g'), 1, 'the last commit made is the one that stands')
  t.equal(p.groups.get('h'), 3)
  await store.close()
  store = await openStore(dir)
  t.teardown(() => store.close())
  t.same([store.partition('held', 0).groups.get('g'), store.partition('held', 0).groups.get('h')], [1, 3], 'what was answered is what is on disk')
})

t.test('acks queued behind a commit that waits for appends in flight each move their group on by one', async (t) => {
  const store = await openStore(t.testdir())
  t.teardown(() => store.close())
  await store.createLog('queued', 1)
  const p = store.partition('queued', 0)
  await append(p, [msg(0), msg(1)])
  // The commit of 3 waits for the append in flight; the acks after it queue behind it, and the
  // second must start where the first leaves the group, not where the written record has it.
  const results = await Promise.allSettled([append(p, [msg(2)]), commit(p, 'g', 3), ack(p, 's'), ack(p, 's')])
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
  t.equal(p.groups.get('s'), 2, 'two acks answered, two offsets on')
  t.equal(p.groups.get('g'), 3)
})

t.test('opening a segment reads its first entry and its tail, not the whole file', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { segmentBytes: 4 << 20 })
  await store.createLog('big', 1)
  await append(store.partition('big', 0), Array.from({ length: 20000 }, (_, i) => msg(i)))
  await store.close()
  const size = fs.statSync(path.join(dir, 'big', '0', '0.log')).size
  // Counts what every read asks for while the store opens (segment.ts reads with fs.read).
  const nodeFs: { read: (...args: unknown[]) => void } = require('node:fs')
  const read = nodeFs.read
  let requested = 0
  nodeFs.read = (...args: unknown[]) => {
    requested += args[3] as number
    read(...args)
  }
  try {
    store = await openStore(dir)
  } finally {
    nodeFs.read = read
  }
  t.ok(requested < 64 * 1024, `opening a segment of ${size} bytes read ${requested} bytes`)
  t.equal(store.partition('big', 0).highWatermark(), 20000)
  await store.close()
})

t.test('a sync that fails for one segment fails the appends to the segment rolled after it in the same batch', async (t) => {
  let failSyncOf = ''
  const io: FileIo = {
    ...nodeFileIo,
    fdatasync (fd, callback) {
      if (failSyncOf !== '' && fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith(failSyncOf)) {
        failSyncOf = ''
        return process.nextTick(callback, Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
      }
      nodeFileIo.fdatasync(fd, callback)
    }
  }
  const dir = t.testdir()
  let store = await openStore(dir, { io, fsync: 'always', segmentBytes: 4096 })
  await store.createLog('sync', 1)
  const p = store.partition('sync', 0)
  await append(p, Array.from({ length: 31 }, (_, i) => msg(i)))
  t.equal(p.segments.length, 1)
  failSyncOf = '/0.log'
  // One batch: the first append fills segment 0, the second goes to the segment rolled after it.
  const results = await Promise.allSettled([append(p, [msg(31)]), append(p, [msg(32)])])
  t.equal(p.segments.length, 1, 'the segment rolled for the failed batch is gone')
  t.same(results.map((r) => r.status), ['rejected', 'rejected'], 'the append behind the failed one fails too')
  t.equal(p.highWatermark(), 31, 'nothing of the failed batch is visible')
  t.equal(await append(p, [msg(31)]), 31, 'the next append takes the next offset')
  t.equal(await append(p, [msg(32)]), 32)
  const all = await p.read(0, 1000, 1 << 20)
  t.ok(all.length === 33 && all.every((m, i) => m.offset === i && m.data.equals(msg(i))), 'gapless, every message where it was acknowledged')
  await store.close()
  store = await openStore(dir)
  t.teardown(() => store.close())
  const again = await store.partition('sync', 0).read(0, 1000, 1 << 20)
  t.ok(again.length === 33 && again.every((m, i) => m.offset === i && m.data.equals(msg(i))), 'the same after a reopen')
})

t.test('a crash before the first sync completes (empty recovery point) leaves a gapless prefix, whichever segment was torn', async (t) => {
  // No sync ever succeeds, so the recovery point file stays as it was made: empty.
  const io: FileIo = { ...nodeFileIo, fdatasync: (_fd, callback) => process.nextTick(callback, Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })) }
  const dir = path.join(t.testdir(), 'live')
  const store = await openStore(dir, { io, fsync: 'interval', segmentBytes: 4096 })
  t.teardown(() => store.close())
  await store.createLog('torn', 1)
  const p = store.partition('torn', 0)
  await append(p, Array.from({ length: 40 }, (_, i) => msg(i)))
  await commit(p, 'g', 40)
  t.equal(p.segments.length, 2)
  // The disk as a power loss may leave it: the first segment's unsynced tail torn, the second one's kept.
  const crashed = path.join(path.dirname(dir), 'crashed')
  fs.cpSync(dir, crashed, { recursive: true })
  const pdir = path.join(crashed, 'torn', '0')
  t.equal(fs.statSync(path.join(pdir, 'recovery-point')).size, 0)
  fs.truncateSync(path.join(pdir, '0.log'), 20 * ENTRY_OVERHEAD + 20 * 100 + 50)
  const lines: string[] = []
  const after = await openStore(crashed, {}, lines)
  t.teardown(() => after.close())
  const q = after.partition('torn', 0)
  t.equal(q.highWatermark(), 20, 'the log ends where the tear is')
  const all = await q.read(0, 1000, 1 << 20)
  t.ok(all.length === 20 && all.every((m, i) => m.offset === i && m.data.equals(msg(i))), 'every message before the tear, and no hole')
  t.match(lines.join('\n'), /truncated \d+ bytes of a torn write/)
  t.equal(q.groups.get('g'), 20, 'the group is clamped to the end')
  t.equal(await append(q, [msg(20)]), 20, 'appends continue at the end')
  t.same((await q.read(20, 10, 1 << 20)).map((m) => m.data.toString().slice(0, 4)), [msg(20).toString().slice(0, 4)])
})

t.test('the recovery point never passes a segment whose sync failed; the sync is retried', async (t) => {
  let failSyncOf = ''
  let calls = 0
  let done = 0
  const synced: string[] = []
  const io: FileIo = {
    ...nodeFileIo,
    fdatasync (fd, callback) {
      calls++
      const file = path.basename(fs.readlinkSync(`/proc/self/fd/${fd}`))
      const finish = (err: Error | null): void => {
        done++
        if (err === null) synced.push(file)
        callback(err)
      }
      if (failSyncOf !== '' && fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith(failSyncOf)) {
        failSyncOf = ''
        return process.nextTick(finish, Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
      }
      nodeFileIo.fdatasync(fd, finish)
    }
  }
  const settled = async (n: number): Promise<void> => {
    for (let i = 0; i < 100_000 && done < n; i++) await new Promise((resolve) => setImmediate(resolve))
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
  }
  const dir = path.join(t.testdir(), 'live')
  const store = await openStore(dir, { io, fsync: 'interval', fsyncIntervalMs: 3_600_000, segmentBytes: 4096 })
  t.teardown(() => store.close())
  await store.createLog('rp', 1)
  const p = store.partition('rp', 0)
  failSyncOf = '/0.log'
  // Two rolls: each asks for a sync of the segment it sealed; segment 0's fails.
  await append(p, Array.from({ length: 70 }, (_, i) => msg(i)))
  t.same(p.segments.map((s) => s.base), [0, 32, 64])
  await settled(2)
  t.same(synced, ['32.log'], 'both sealed segments were synced; segment 0\'s failed')
  const pdir = path.join(dir, 'rp', '0')
  const point = fs.readFileSync(path.join(pdir, 'recovery-point'))
  t.ok(point.length === 0 || point.readUInt32BE(8) === 0, 'the recovery point stays in segment 0')
  // What a power loss may leave: segment 0's unsynced tail torn, the synced segment 32 whole.
  const crashed = path.join(path.dirname(dir), 'crashed')
  fs.cpSync(dir, crashed, { recursive: true })
  fs.truncateSync(path.join(crashed, 'rp', '0', '0.log'), 20 * ENTRY_OVERHEAD + 20 * 100 + 50)
  const after = await openStore(crashed)
  const q = after.partition('rp', 0)
  t.equal(q.highWatermark(), 20, 'a gapless prefix: the log ends at the tear')
  t.equal((await q.read(0, 1000, 1 << 20)).length, 20)
  await after.close()
  p.syncDirty()
  await settled(calls + 2)
  t.same(synced.slice(1).sort(), ['0.log', '64.log'], 'the failed sync is retried at the next interval')
  t.equal(fs.readFileSync(path.join(pdir, 'recovery-point')).readUInt32BE(8), 64, 'then the recovery point moves on to the active segment')
})

t.test('the recovery point does not pass what a sync covered when appends land in the segment beside it', async (t) => {
  let hold: (() => void) | null = null
  let holding = false
  let syncEnded: () => void = () => {}
  const ended = new Promise<void>((resolve) => { syncEnded = resolve })
  const io: FileIo = {
    ...nodeFileIo,
    fdatasync (fd, callback) {
      if (!holding) return nodeFileIo.fdatasync(fd, callback)
      holding = false
      hold = () => nodeFileIo.fdatasync(fd, (err) => {
        callback(err)
        syncEnded()
      })
    }
  }
  const dir = t.testdir()
  const store = await openStore(dir, { io, fsync: 'interval', fsyncIntervalMs: 3_600_000, segmentBytes: 4096 })
  t.teardown(() => store.close())
  await store.createLog('rq', 1)
  const p = store.partition('rq', 0)
  await append(p, Array.from({ length: 20 }, (_, i) => msg(i)))
  holding = true
  p.syncDirty()
  for (let i = 0; i < 1000 && hold === null; i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(hold !== null, 'a sync of segment 0 is in flight')
  // Written while it runs, without waiting for it: the rest of segment 0, then a roll to segment 32.
  await append(p, Array.from({ length: 20 }, (_, i) => msg(20 + i)))
  t.same(p.segments.map((s) => s.base), [0, 32])
  ;(hold as unknown as () => void)()
  await ended
  const point = fs.readFileSync(path.join(dir, 'rq', '0', 'recovery-point'))
  t.equal(point.readUInt32BE(8), 0, 'the point stays in segment 0, whose last entries were not synced')
  t.equal(Number(point.readBigUInt64BE(12)), 20 * (ENTRY_OVERHEAD + 100), 'at what that sync covered')
})

t.test('under --fsync interval a due sync runs while appends keep coming, after at most one batch', async (t) => {
  let completed = 0
  let firstSyncAt = -1
  const io: FileIo = {
    ...nodeFileIo,
    fdatasync (fd, callback) {
      if (firstSyncAt < 0) firstSyncAt = completed
      nodeFileIo.fdatasync(fd, callback)
    }
  }
  const store = await openStore(t.testdir(), { io, fsync: 'interval', fsyncIntervalMs: 3_600_000 })
  t.teardown(() => store.close())
  await store.createLog('busy', 1)
  const p = store.partition('busy', 0)
  // Each append starts the next from its callback: the writer never finds its queue empty.
  await new Promise<void>((resolve) => {
    const next = (): void => p.append([msg(completed)], () => {
      completed++
      if (completed === 5) p.syncDirty()
      if (completed < 200) next()
      else resolve()
    })
    next()
  })
  t.ok(firstSyncAt >= 5 && firstSyncAt <= 7, `the sync asked for after 5 appends ran after ${firstSyncAt}, not once the load stopped`)
})

t.test('a flipped bit with intact entries after it is damage, never a torn tail: also after the recovery point, also when the recovery point is empty', async (t) => {
  for (const point of ['kept', 'empty', 'empty, the last entry of a sealed segment'] as const) {
    const dir = t.testdir()
    const pdir = await hundredInSmallSegments(dir, 'flip')
    const bases = fs.readdirSync(pdir).filter((f) => f.endsWith('.log')).map((f) => parseInt(f)).sort((a, b) => a - b)
    t.ok(bases.length >= 3, `${point}: ${bases.length} segments`)
    const sizes = bases.map((b) => fs.statSync(path.join(pdir, `${b}.log`)).size)
    if (point !== 'kept') fs.truncateSync(path.join(pdir, 'recovery-point'), 0)
    // One byte of the second segment's first entry (or of its last entry); under a kept recovery point, the first entry of the last segment.
    const segment = point === 'kept' ? bases[bases.length - 1] : bases[1]
    const file = path.join(pdir, `${segment}.log`)
    const bytes = fs.readFileSync(file)
    const lastEntry = point === 'empty, the last entry of a sealed segment'
    const damaged = lastEntry ? bases[2] - 1 : segment
    bytes[lastEntry ? bytes.length - 10 : 40] ^= 0x01
    fs.writeFileSync(file, bytes)
    const lines: string[] = []
    const store = await openStore(dir, { segmentBytes: 4096 }, lines)
    const p = store.partition('flip', 0)
    const log = lines.join('\n')
    t.notMatch(log, /truncated|removing/, `${point}: nothing truncated or removed`)
    t.match(log, new RegExp(`${segment}\\.log: \\d+ damaged bytes at position \\d+ (\\(offsets ${damaged} to ${damaged}\\)|to the end of the file), left in place`), `${point}: reported as damage`)
    t.same(bases.map((b) => fs.statSync(path.join(pdir, `${b}.log`)).size), sizes, `${point}: every segment file as it was`)
    t.equal(p.highWatermark(), 100, `${point}: the end is where it was`)
    await t.rejects(p.read(damaged, 1, 1 << 20), { code: 'DAMAGED' }, `${point}: the damaged offset answers DAMAGED`)
    t.ok((await p.read(damaged + 1, 1, 1 << 20))[0].data.equals(msg(damaged + 1)), `${point}: the entry after it is served`)
    t.equal(await append(p, [msg(100)]), 100, `${point}: appends continue at 100, no offset reused`)
    await store.close()
  }
})

t.test('segments gone though the recovery point names them: the ids they held are never given out again, groups keep their offsets', async (t) => {
  for (const gone of ['the last segment', 'every segment'] as const) {
    const dir = t.testdir()
    const pdir = await hundredInSmallSegments(dir, 'gone')
    let store = await openStore(dir, { segmentBytes: 4096 })
    await commit(store.partition('gone', 0), 'g', 100)
    await store.close()
    const bases = fs.readdirSync(pdir).filter((f) => f.endsWith('.log')).map((f) => parseInt(f)).sort((a, b) => a - b)
    const last = bases[bases.length - 1]
    for (const b of gone === 'every segment' ? bases : [last]) {
      for (const ext of ['log', 'index', 'timeindex']) fs.rmSync(path.join(pdir, `${b}.${ext}`), { force: true })
    }
    const lines: string[] = []
    store = await openStore(dir, { segmentBytes: 4096 }, lines)
    const p = store.partition('gone', 0)
    t.match(lines.join('\n'), new RegExp(`${last}\\.log is missing, though the recovery point says \\d+ bytes of it were synced`), `${gone}: reported`)
    t.ok(p.highWatermark() >= 100, `${gone}: the log goes on at ${p.highWatermark()}, past every offset given out`)
    t.equal(p.groups.get('g'), 100, `${gone}: the group keeps its offset`)
    t.ok(await append(p, [msg(100)]) >= 100, `${gone}: no offset reused`)
    if (gone === 'the last segment') t.ok((await p.read(0, 1, 1 << 20))[0].data.equals(msg(0)), 'the segments left are served')
    await store.close()
  }
})

t.test('a write failing batch after batch is logged once, then counted: the log does not grow with the request rate', async (t) => {
  const { io, failing } = failingEntryWrites()
  const lines: string[] = []
  const store = await openStore(t.testdir(), { io }, lines)
  await store.createLog('full', 2)
  failing.on = true
  for (let i = 0; i < 200; i++) {
    const results = await Promise.allSettled([append(store.partition('full', 0), [msg(i)]), append(store.partition('full', 1), [msg(i)])])
    t.ok(results.every((r) => r.status === 'rejected'), `batch ${i} failed`, { diagnostic: false })
  }
  failing.on = false
  // Each failed batch says two things: the file's write error, and the partition's append that failed.
  const failures = lines.filter((l) => l.includes('EIO'))
  t.equal(failures.length, 4, 'one line of each for each partition')
  t.ok(failures.some((l) => l.includes(`full${path.sep}0${path.sep}`)) && failures.some((l) => l.includes(`full${path.sep}1${path.sep}`)), 'each names its file')
  await store.close()
  const counted = lines.filter((l) => l.includes('EIO')).slice(4)
  t.equal(counted.length, 4, 'closing says what was counted')
  for (const l of counted) t.match(l, /\(199 more like it in \d+\.\d s, not logged one by one\)/)
})

import t, { type Test } from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Store, type StoreOptions } from '../../lib/storage/store'
import type { Partition } from '../../lib/storage/partition'
import { nodeFileIo, type FileIo } from '../../lib/storage/file-io'
import { verifyDataDir } from '../../lib/storage/verify'

function append (p: Partition, messages: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => p.append(messages, (err, first) => err === null ? resolve(first) : reject(err)))
}

function ack (p: Partition, group: string): Promise<void> {
  return new Promise((resolve, reject) => p.ack(group, (err) => err === null ? resolve() : reject(err)))
}

async function openStore (dir: string, extra: Partial<StoreOptions> = {}, lines: string[] = []): Promise<Store> {
  return await Store.open({ dataDir: dir, fsync: 'never', log: (l) => lines.push(l), ...extra })
}

function dirBytes (dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0)
}

t.test('retention by size keeps a partition within its limit plus the active segment, durably', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { segmentBytes: 65536 })
  await store.createLog('r', 1, { retentionBytes: 1024 * 1024 })
  let p = store.partition('r', 0)
  const batch = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(100, i % 251))
  let maxBytes = 0
  for (let i = 0; i < 160; i++) {
    await append(p, batch)
    maxBytes = Math.max(maxBytes, dirBytes(p.dir))
  }
  await store.close()
  store = await openStore(dir, { segmentBytes: 65536 })
  p = store.partition('r', 0)
  await new Promise((resolve) => setImmediate(resolve))
  const pdir = p.dir
  t.ok(maxBytes < 1.2 * 1024 * 1024 + 65536 * 2, `20 MB published; the partition directory peaked at ${maxBytes} bytes`)
  t.ok(dirBytes(pdir) < 1.2 * 1024 * 1024, `and holds ${dirBytes(pdir)} bytes`)
  const first = p.firstOffset
  t.ok(first > 100_000, `the first offset moved up to ${first} and survived a restart`)
  t.equal(p.highWatermark(), 160_000)
  const [m] = await p.read(0, 1, 1000)
  t.equal(m.offset, first, 'a read below the first offset starts at the first offset')
  t.equal(p.groups.get('late'), 0)
  await ack(p, 'late')
  t.equal(p.groups.get('late'), first + 1, 'a group left behind resumes at the first offset')
  t.same(store.describe('r').partitions[0], { partition: 0, firstOffset: first, endOffset: 160_000, bytes: p.sizeBytes, groups: [{ group: 'late', offset: first + 1 }] })
  t.equal(store.describe('r').retentionBytes, 1024 * 1024)
  await store.close()
})

t.test('retention by age deletes segments whose newest message is older than the limit; the active one is rolled first, once all of it is', async (t) => {
  const dir = t.testdir()
  const lines: string[] = []
  let store = await openStore(dir, { segmentBytes: 4096 }, lines)
  await store.createLog('a', 1)
  let p = store.partition('a', 0)
  for (let i = 0; i < 10; i++) await append(p, Array.from({ length: 40 }, () => Buffer.alloc(100)))
  const newest = Math.max(...(await p.read(0, 1000, 1 << 20)).map((m) => m.timestamp))
  // One message stamped later than all those, in the active segment.
  while (Date.now() <= newest) await new Promise((resolve) => setImmediate(resolve))
  t.equal(await append(p, [Buffer.from('late')]), 400)
  const segments = p.segments.length
  t.ok(segments > 5)
  t.equal(await p.enforceRetention(null, 2000, newest + 1000), 0, 'nothing is older than the limit yet')
  t.equal(await p.enforceRetention(null, 2000, newest + 2001), segments - 1, 'every sealed segment is, later')
  t.equal(p.segments.length, 1, 'the active segment stays: its newest message is not past the limit')
  t.equal(p.firstOffset, p.segments[0].base)

  // An append in flight keeps the active segment, however old the rest of it is.
  const inFlight = append(p, [Buffer.from('new')])
  t.equal(await p.enforceRetention(null, 2000, Date.now() + 60_000), 0, 'not rolled under an append not yet written')
  t.equal(await inFlight, 401)
  t.equal(p.segments.length, 1)

  t.equal(await p.enforceRetention(null, 2000, Date.now() + 60_000), 1, 'once all of it is past the limit, it is rolled and deleted')
  t.equal(p.segments.length, 1, 'a new, empty active segment')
  t.equal(p.firstOffset, 402)
  t.equal(p.highWatermark(), 402)
  t.same(await p.read(0, 10, 1 << 20), [], 'nothing left to read')
  t.equal(await p.enforceRetention(null, 2000, Date.now() + 60_000), 0, 'an empty active segment is left as it is')
  t.match(lines.filter((l) => l.includes('retention deleted')).at(-1), /segment \d+ \(age limit\); the first offset is now 402/)
  const pdir = p.dir
  await store.close()
  const bases = fs.readdirSync(pdir).filter((f) => /^\d+\.(log|index|timeindex)$/.test(f)).map((f) => parseInt(f))
  t.same([...new Set(bases)], [402], 'no file of a deleted segment is left or made again (its index points were still queued when it was deleted)')

  store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.teardown(() => store.close())
  p = store.partition('a', 0)
  t.equal(p.firstOffset, 402, 'after a restart the partition starts where retention left it')
  t.equal(await append(p, [Buffer.from('next')]), 402, 'and offsets go on')
  t.same((await p.read(0, 10, 1 << 20)).map((m) => m.data.toString()), ['next'])
})

t.test('a lookup by time while an append is queued does not make age retention take that append for old', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { fsync: 'always', segmentBytes: 4096 })
  await store.createLog('q', 1)
  await append(store.partition('q', 0), Array.from({ length: 50 }, () => Buffer.alloc(100, 1)))
  const newestA = Math.max(...(await store.partition('q', 0).read(0, 100, 1 << 20)).map((m) => m.timestamp))
  await store.close()

  // A slow disk: syncs wait until released, so the writer is busy while B is queued behind a commit.
  const held: Array<() => void> = []
  let holding = true
  const io: FileIo = { ...nodeFileIo, fdatasync: (fd, cb) => holding ? held.push(() => nodeFileIo.fdatasync(fd, cb)) : nodeFileIo.fdatasync(fd, cb) }
  store = await openStore(dir, { fsync: 'always', segmentBytes: 4096, io })
  t.teardown(() => store.close())
  const p = store.partition('q', 0)
  while (Date.now() <= newestA) await new Promise((resolve) => setImmediate(resolve))
  const committed = new Promise<void>((resolve, reject) => p.commit('g', 10, (err) => err === null ? resolve() : reject(err)))
  while (held.length === 0) await new Promise((resolve) => setImmediate(resolve))
  // The commit's batch is written and waits on its sync: B is queued behind it, reserved and not written.
  const b = append(p, [Buffer.from('B')])
  const active = p.segments[p.segments.length - 1]
  t.ok(active.log.size < active.appendSize, 'B is reserved and not written')
  t.equal(await p.offsetForTime(Date.now() + 1_000_000), 50, 'the lookup, while B is queued, finds nothing written after now')
  t.ok(active.log.size < active.appendSize, 'B is still not written after the lookup')
  holding = false
  for (const release of held.splice(0)) release()
  await committed
  t.equal(await b, 50)
  const deleted = await p.enforceRetention(null, 60_000, newestA + 60_001)
  t.ok(p.firstOffset <= 50, `B (offset 50, stamped after every message before it) is kept: ${deleted} segments deleted, first offset ${p.firstOffset}`)
  t.same((await p.read(50, 1, 1 << 20)).map((m) => m.data.toString()), ['B'])
})

t.test('alter-log changes retention and adds partitions; delete-log removes the log, and a new one takes its name', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { retentionMs: 60_000 })
  await store.createLog('x', 2)
  t.same(store.describe('x').retentionMs, 60_000, 'the server default')
  await store.alterLog('x', { retentionBytes: 5000, partitions: 4 })
  await t.rejects(store.alterLog('x', { partitions: 3 }), { code: 'BAD_PARTITION_COUNT' })
  await append(store.partition('x', 3), [Buffer.from('p3')])
  await store.close()
  store = await openStore(dir, { retentionMs: 60_000 })
  t.equal(store.partitions('x').length, 4, 'added partitions survive a restart')
  t.same([store.describe('x').retentionBytes, store.describe('x').retentionMs], [5000, 60_000], 'so do the settings')
  t.ok(fs.existsSync(path.join(dir, 'x', 'log.json')))

  const waiting = store.partition('x', 0).waitFor(0, 60_000)
  await store.deleteLog('x')
  await waiting
  t.throws(() => store.partition('x', 0), { code: 'NO_LOG', message: 'No log registered with name x' })
  t.notOk(fs.existsSync(path.join(dir, 'x')))
  await store.createLog('x', 1)
  t.equal(store.partition('x', 0).highWatermark(), 0, 'a new log of the same name is empty')
  await store.close()

  // A crash between the rename and the removal leaves `<log>~deleted`, removed on start.
  fs.mkdirSync(path.join(dir, 'y~deleted', '0'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'y~deleted', '0', '0.log'), 'x')
  const lines: string[] = []
  store = await openStore(dir, {}, lines)
  t.teardown(() => store.close())
  t.notOk(fs.existsSync(path.join(dir, 'y~deleted')))
  t.match(lines.join('\n'), /a log deletion that did not finish; removing it/)
  t.same(store.listLogs(), [{ log: 'x', partitions: 1 }])
})

t.test('the first offset at or after a time, checked against the stored timestamps, with a damaged time index too', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { segmentBytes: 8192 })
  await store.createLog('t', 1)
  let p = store.partition('t', 0)
  for (let i = 0; i < 300; i++) await append(p, [Buffer.alloc(50, i % 251), Buffer.alloc(50, i % 251)])
  const all = await p.read(0, 10_000, 1 << 24)
  const expected = (ts: number): number => all.find((m) => m.timestamp >= ts)?.offset ?? p.highWatermark()
  const probes = [all[0].timestamp - 1, all[0].timestamp, all[123].timestamp, all[all.length - 1].timestamp, all[all.length - 1].timestamp + 1, all[300].timestamp + 0.5]
  for (const ts of probes) t.equal(await p.offsetForTime(ts), expected(ts), `time ${ts}`)
  await store.close()
  for (const f of fs.readdirSync(p.dir).filter((f) => f.endsWith('.timeindex'))) fs.writeFileSync(path.join(p.dir, f), 'garbage')
  store = await openStore(dir, { segmentBytes: 8192 })
  t.teardown(() => store.close())
  p = store.partition('t', 0)
  for (const ts of probes) t.equal(await p.offsetForTime(ts), expected(ts), `rebuilt: time ${ts}`)
})

t.test('retention keeps within its limit under concurrent batches too: it runs once a batch\'s writes are in the files', async (t) => {
  for (const fsync of ['always', 'interval', 'never'] as const) {
    const store = await openStore(t.testdir(), { segmentBytes: 65536, fsync })
    await store.createLog('c', 1, { retentionBytes: 1024 * 1024 })
    const p = store.partition('c', 0)
    const batch = Array.from({ length: 50 }, () => Buffer.alloc(1000, 1))
    let peak = 0
    for (let round = 0; round < 50; round++) {
      await Promise.all(Array.from({ length: 8 }, async () => await append(p, batch)))
      peak = Math.max(peak, dirBytes(p.dir))
    }
    t.ok(peak < 1.2 * 1024 * 1024, `${fsync}: 20 MB in batches from 8 producers at once; the directory peaked at ${peak} bytes`)
    await store.close()
  }
})

t.test('a file with a segment name far past anything the log wrote is not taken for a torn tail: left alone', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { segmentBytes: 4096 })
  await store.createLog('f', 1)
  await append(store.partition('f', 0), Array.from({ length: 100 }, () => Buffer.alloc(100)))
  await store.close()
  const foreign = path.join(dir, 'f', '0', '100000.log')
  fs.writeFileSync(foreign, 'IMPORTANT FOREIGN DATA, not a Rog entry')
  const lines: string[] = []
  store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.equal(fs.readFileSync(foreign, 'utf8'), 'IMPORTANT FOREIGN DATA, not a Rog entry', 'untouched')
  t.match(lines.join('\n'), /100000\.log: lies past anything this log could have written; not part of it, left alone/)
  t.equal(store.partition('f', 0).highWatermark(), 100)
  t.equal(await append(store.partition('f', 0), [Buffer.from('next')]), 100)
  await store.close()
})

t.test('a stop in the middle of a retention deletion (the segment gone, its indexes left) starts cleanly, the first offset moved up', async (t) => {
  const dir = t.testdir()
  let store = await openStore(dir, { segmentBytes: 4096 })
  await store.createLog('k', 1)
  const p = store.partition('k', 0)
  for (let i = 0; i < 10; i++) await append(p, Array.from({ length: 40 }, () => Buffer.alloc(100)))
  const second = p.segments[1].base
  await store.close()
  // What a SIGKILL between the unlink of 0.log and those of its index files left behind while the log went first.
  fs.rmSync(path.join(p.dir, '0.log'))
  const lines: string[] = []
  store = await openStore(dir, { segmentBytes: 4096 }, lines)
  const q = store.partition('k', 0)
  t.equal(q.firstOffset, second, 'the first offset is the next segment\'s base')
  t.equal(q.highWatermark(), 400)
  t.equal((await q.read(0, 1000, 1 << 20))[0].offset, second, 'reads start there')
  t.equal(await append(q, [Buffer.from('x')]), 400, 'no offset reused')
  t.notMatch(lines.join('\n'), /truncated|removing/, 'nothing else is touched')
  await store.close()
})

t.test('retention may delete a segment not yet synced (interval, never); a crash then leaves a recovery point naming a gone segment, and recovery loses nothing', async (t) => {
  const root = t.testdir()
  const dir = path.join(root, 'live')
  const lines: string[] = []
  const { store, hold } = await heldSyncs(t, 'fdatasync', { fsync: 'interval', fsyncIntervalMs: 3_600_000 }, lines, dir)
  await store.createLog('gone', 1)
  const p = store.partition('gone', 0)
  await append(p, Array.from({ length: 10 }, (_, i) => Buffer.from(`m${i}`.padEnd(100, '.'))))
  p.syncDirty()
  const pointFile = path.join(p.dir, 'recovery-point')
  for (let i = 0; i < 10_000 && fs.statSync(pointFile).size === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(fs.readFileSync(pointFile).readUInt32BE(8), 0, 'the recovery point is in segment 0')
  hold(true)
  for (let b = 0; b < 8; b++) await append(p, Array.from({ length: 20 }, (_, i) => Buffer.from(`m${10 + b * 20 + i}`.padEnd(100, '.'))))
  t.ok(p.segments.length > 3, 'several segments, none synced since')
  t.ok(p.segments[0].log.synced < p.segments[0].log.size, 'segment 0 has writes not synced')
  const deleted = await p.enforceRetention(4096 * 2, null, Date.now())
  t.ok(deleted > 0, `retention deleted ${deleted} segments, segment 0 first`)
  t.equal(fs.readFileSync(pointFile).readUInt32BE(8), 0, 'the recovery point still names segment 0')
  // A crash now: the files as they are, page cache included.
  const image = path.join(root, 'image')
  fs.cpSync(dir, image, { recursive: true })
  const after: string[] = []
  const reopened = await openStore(image, {}, after)
  t.teardown(() => reopened.close())
  const q = reopened.partition('gone', 0)
  t.equal(q.firstOffset, p.firstOffset, 'the log starts where retention left it')
  t.equal(q.highWatermark(), 170, 'and ends where it did')
  const read = await q.read(q.firstOffset, 1000, 1 << 20)
  t.same(read.map((m) => m.data.toString().replace(/\.+$/, '')), Array.from({ length: 170 - q.firstOffset }, (_, i) => `m${q.firstOffset + i}`), 'every message retention kept')
  t.notOk(after.some((l) => /truncat/.test(l)), 'nothing truncated')
})

/**
 * A store whose syncs of one kind (`fdatasync` of appended data, or
 * `fsyncDirectory`: a new segment's first step to durability) are held while
 * `hold(true)` says so.
 */
async function heldSyncs (t: Test, call: 'fdatasync' | 'fsyncDirectory', options: Partial<StoreOptions>, lines: string[], dir = t.testdir()): Promise<{ store: Store, held: Array<() => void>, hold: (on: boolean) => void, closed: () => void }> {
  const held: Array<() => void> = []
  let holding = false
  let open = true
  const passOrHold = <A>(real: (target: A, callback: (err: Error | null) => void) => void) => (target: A, callback: (err: Error | null) => void): void => {
    if (holding) held.push(() => real.call(nodeFileIo, target, callback))
    else real.call(nodeFileIo, target, callback)
  }
  const io: FileIo = call === 'fdatasync'
    ? { ...nodeFileIo, fdatasync: passOrHold(nodeFileIo.fdatasync) }
    : { ...nodeFileIo, fsyncDirectory: passOrHold(nodeFileIo.fsyncDirectory) }
  const hold = (on: boolean): void => {
    holding = on
    if (!on) for (const release of held.splice(0)) release()
  }
  const store = await openStore(dir, { io, segmentBytes: 4096, ...options }, lines)
  t.teardown(async () => {
    hold(false)
    if (open) await store.close()
  })
  return { store, held, hold, closed: () => { open = false } }
}

t.test('under --fsync interval, a segment retention deletes before its sync started is skipped by that sync, not reported as an error', async (t) => {
  const lines: string[] = []
  const { store, held, hold, closed } = await heldSyncs(t, 'fsyncDirectory', { fsync: 'interval', fsyncIntervalMs: 3_600_000 }, lines)
  await store.createLog('s', 1)
  const p = store.partition('s', 0)
  hold(true)
  t.equal(await append(p, Array.from({ length: 1000 }, (_, i) => Buffer.from(`m${i}`.padEnd(100, '.')))), 0, 'answered before any sync')
  for (let i = 0; i < 10_000 && held.length === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(held.length > 0 && held.length < p.segments.length - 1, `${held.length} of ${p.segments.length - 1} sealed segments' syncs under way, the rest queued`)
  const deleted = await p.enforceRetention(4096, null, Date.now())
  t.ok(deleted > held.length, `retention deleted ${deleted} segments, some whose syncs had not started`)
  hold(false)
  const dirty = (): number => p.segments.filter((s) => s.log.dirty || s.log.syncing > 0).length
  for (let i = 0; i < 10_000 && dirty() > 1; i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(dirty() <= 1, 'every sealed segment kept is synced (the active one waits for the interval)')
  closed()
  await store.close()
  t.same(lines.filter((l) => /ENOENT|no such file/.test(l)), [], 'no sync reported a deleted file, through the close that syncs everything')
})

t.test('under --fsync always, retention that waited for a batch\'s syncs runs once they end, not only at the next roll or check', async (t) => {
  const lines: string[] = []
  const { store, hold } = await heldSyncs(t, 'fsyncDirectory', { fsync: 'always' }, lines)
  await store.createLog('s', 1, { retentionBytes: 8192 })
  const p = store.partition('s', 0)
  hold(true)
  const appended = append(p, Array.from({ length: 300 }, (_, i) => Buffer.from(`m${i}`.padEnd(100, '.'))))
  for (let i = 0; i < 10_000 && p.segments.length < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(p.segments.length >= 5, `one batch rolled through ${p.segments.length} segments, their syncs held`)
  hold(false)
  t.equal(await appended, 0)
  for (let i = 0; i < 10_000 && p.sizeBytes > 8192 + 2 * 4096; i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(p.sizeBytes <= 8192 + 2 * 4096, `the partition is back within its limit plus two segments (${p.sizeBytes} bytes) once synced`)
})

t.test('a retention pass still holding a deleted log\'s partition deletes nothing, not even the files of a new log of that name', async (t) => {
  const store = await openStore(t.testdir(), { segmentBytes: 4096 })
  t.teardown(() => store.close())
  const batch = Array.from({ length: 150 }, (_, i) => Buffer.from(`m${i}`.padEnd(100, '.')))
  await store.createLog('x', 1)
  const old = store.partition('x', 0)
  await append(old, batch)
  await store.deleteLog('x')
  await store.createLog('x', 1)
  const made = store.partition('x', 0)
  await append(made, batch)
  t.ok(made.segments.length > 2, 'the new log has segments of the old one\'s names')
  t.equal(await old.enforceRetention(1, null, Date.now()), 0, 'the old partition deletes nothing')
  t.same(fs.readdirSync(made.dir).filter((f) => f.endsWith('.log')).sort(), made.segments.map((s) => `${s.base}.log`).sort(), 'the new log\'s segments are all there')
  t.equal((await made.read(0, 1000, 1 << 20)).length, 150)
})

t.test('under --fsync always, retention leaves a segment alone until the batch that wrote it is answered (it waits for the syncs of every segment it wrote): the first offset never passes the end', async (t) => {
  const lines: string[] = []
  const { store, held, hold } = await heldSyncs(t, 'fsyncDirectory', { fsync: 'always' }, lines)
  await store.createLog('s', 1)
  const p = store.partition('s', 0)
  hold(true)
  const appended = append(p, Array.from({ length: 150 }, (_, i) => Buffer.from(`m${i}`.padEnd(100, '.'))))
  // Segment 0's directory was synced when the log was made: its own sync does not wait; the new segments' do.
  const first = p.segments[0].log
  for (let i = 0; i < 10_000 && (held.length === 0 || first.dirty || first.syncing > 0); i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(held.length > 0 && !first.dirty && first.syncing === 0, 'segment 0 is synced, the segments rolled to are not')
  t.equal(await p.enforceRetention(1, null, Date.now()), 0, 'segment 0 stays: its appends are not answered yet')
  t.ok(p.firstOffset <= p.endOffset, `first offset ${p.firstOffset}, end ${p.endOffset}`)
  hold(false)
  t.equal(await appended, 0, 'the batch is answered as stored')
  t.ok(await p.enforceRetention(4096, null, Date.now()) > 0, 'once it is, retention deletes its segments')
  t.equal(p.endOffset, 150)
  t.ok(p.firstOffset <= p.endOffset, `first offset ${p.firstOffset}, end ${p.endOffset}`)
  t.notOk(lines.some((l) => /ENOENT/.test(l)), 'no sync met a deleted file')
})

t.test('under --fsync interval and never, retention after one batch that rolled through many segments runs once its appends are answered', async (t) => {
  for (const fsync of ['interval', 'never'] as const) {
    const store = await openStore(t.testdir(), { fsync, segmentBytes: 4096 })
    t.teardown(() => store.close())
    await store.createLog('b', 1, { retentionBytes: 8192 })
    const p = store.partition('b', 0)
    t.equal(await append(p, Array.from({ length: 300 }, (_, i) => Buffer.from(`m${i}`.padEnd(100, '.')))), 0)
    for (let i = 0; i < 10_000 && p.sizeBytes > 8192 + 2 * 4096; i++) await new Promise((resolve) => setImmediate(resolve))
    t.ok(p.sizeBytes <= 8192 + 2 * 4096, `${fsync}: within its limit plus two segments (${p.sizeBytes} bytes, ${p.segments.length} segments)`)
  }
})

/** A closed store of one log of 80 messages in 4 KiB segments: its data dir, partition dir and segment bases. */
async function closedSegments (t: Test, log: string): Promise<{ dir: string, pdir: string, bases: number[] }> {
  const dir = t.testdir()
  const store = await openStore(dir, { segmentBytes: 4096 })
  await store.createLog(log, 1)
  const p = store.partition(log, 0)
  for (let i = 0; i < 4; i++) await append(p, Array.from({ length: 20 }, () => Buffer.alloc(100, 7)))
  const bases = p.segments.map((s) => s.base)
  await store.close()
  return { dir, pdir: p.dir, bases }
}

t.test('hint files of a segment whose log is gone (a kill while deleting it) are removed and reported on open, and rog check notes them', async (t) => {
  const { dir, pdir, bases } = await closedSegments(t, 'h')
  // The base the next roll takes: segments of equal messages hold as many each.
  const perSegment = bases[1] - bases[0]
  const end = bases[bases.length - 1] + perSegment
  // Below the first segment (retention's deletion, killed after the log went) and at the base the next roll takes.
  const first = bases[0]
  fs.rmSync(path.join(pdir, `${first}.log`))
  fs.writeFileSync(path.join(pdir, `${end}.index`), Buffer.alloc(16, 1))
  fs.writeFileSync(path.join(pdir, `${end}.timeindex`), Buffer.alloc(24, 1))
  const notes: string[] = []
  for await (const item of verifyDataDir(dir)) if (item.type === 'partition') notes.push(...item.report.notes)
  for (const name of [`${first}.index`, `${end}.index`, `${end}.timeindex`]) t.ok(notes.some((n) => n.startsWith(`h/0/${name}: a hint file of segment`)), `rog check notes ${name}`)
  const lines: string[] = []
  const store = await openStore(dir, { segmentBytes: 4096 }, lines)
  t.teardown(() => store.close())
  const p = store.partition('h', 0)
  for (const name of [`${first}.index`, `${first}.timeindex`, `${end}.index`, `${end}.timeindex`]) {
    t.notOk(fs.existsSync(path.join(pdir, name)), `${name} is removed`)
    t.ok(lines.some((l) => l.startsWith(path.join(pdir, name)) && l.includes('which is not here; removed')), `and reported: ${name}`)
  }
  // The roll to `end` makes that base's files again.
  await append(p, Array.from({ length: 2 * perSegment }, () => Buffer.alloc(100, 8)))
  t.ok(p.highWatermark() > end && fs.existsSync(path.join(pdir, `${end}.log`)), 'appends roll on through the base the stray index held')
})

t.test('a time index rebuilt while retention deletes its segment is not written back', async (t) => {
  const { dir, pdir } = await closedSegments(t, 'ti')
  fs.rmSync(path.join(pdir, '0.timeindex'))
  const store = await openStore(dir, { segmentBytes: 4096 })
  t.teardown(() => store.close())
  const p = store.partition('ti', 0)
  const segment = p.segments[0]
  // The seek scans the log to rebuild the index; the segment is deleted before the scan ends.
  const seek = segment.offsetForTime(0)
  segment.remove()
  t.equal(await seek, 0)
  t.notOk(fs.existsSync(path.join(pdir, '0.timeindex')), 'no .timeindex of a deleted segment')
  t.notOk(fs.existsSync(path.join(pdir, '0.log')))
})

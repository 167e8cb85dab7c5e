import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { BACKUP, IMPORTING, importOriginalLayout } from '../../lib/storage/original-layout'
import { FilePool } from '../../lib/storage/data-file'
import { Partition } from '../../lib/storage/partition'
import { Store } from '../../lib/storage/store'
import { nodeFileIo, type FileIo } from '../../lib/storage/file-io'
import { entrySize, stamp, writeEntry } from '../../lib/storage/entry'

const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'original')
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8')) as {
  startMs: number
  endMs: number
  messages: Record<string, string[]>
  groups: Record<string, Record<string, number>>
}

function copyFixture (dir: string): string {
  fs.cpSync(path.join(FIXTURE, 'data'), dir, { recursive: true })
  return dir
}

/** Every file and directory under `dir`, with file contents, for before/after comparisons. */
function snapshot (dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const rel of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    const full = path.join(dir, rel)
    out[rel] = fs.statSync(full).isDirectory() ? '<dir>' : fs.readFileSync(full).toString('hex')
  }
  return out
}

/** An entry as the original server writes it (see original-layout.ts). */
function originalEntry (id: number, data: Buffer, ms: number): Buffer {
  const buf = Buffer.alloc(16 + 8 + data.length + 12)
  buf.writeBigUInt64BE(BigInt(id), 0)
  buf.writeBigUInt64BE(BigInt(8 + data.length + 12), 8)
  buf.writeBigUInt64LE(BigInt(data.length), 16)
  data.copy(buf, 24)
  buf.writeBigUInt64LE(BigInt(Math.floor(ms / 1000)), 24 + data.length)
  buf.writeUInt32LE((ms % 1000) * 1e6 + 123, 32 + data.length)
  return buf
}

interface OriginalPartitionSpec { segments: Record<number, Buffer>, id?: Buffer, groups?: Record<string, Buffer> }

function u64le (n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(n))
  return b
}

function writeOriginal (dataDir: string, log: string, partitions: OriginalPartitionSpec[]): void {
  for (const [p, spec] of partitions.entries()) {
    const dir = path.join(dataDir, log, String(p))
    fs.mkdirSync(dir, { recursive: true })
    for (const [base, bytes] of Object.entries(spec.segments)) fs.writeFileSync(path.join(dir, `${base}.log`), bytes)
    fs.writeFileSync(path.join(dir, 'id'), spec.id ?? Buffer.alloc(0))
    for (const [group, bytes] of Object.entries(spec.groups ?? {})) fs.writeFileSync(path.join(dir, `${group}.offset`), bytes)
  }
}

function msg (i: number, size = 50): Buffer {
  return Buffer.alloc(size, i % 251)
}

/** Original segments of messages `from` to `to - 1`, timestamped 1700000000000 + id. */
function originalRun (from: number, to: number): Buffer {
  return Buffer.concat(Array.from({ length: to - from }, (_, i) => originalEntry(from + i, msg(from + i), 1_700_000_000_000 + from + i)))
}

async function openPartition (dir: string, lines: string[] = []): Promise<Partition> {
  return await Partition.open(dir, { segmentBytes: 1 << 20, fsync: 'never', pool: new FilePool(nodeFileIo), label: 'Partition 0 of log test', log: (l) => lines.push(l) })
}

async function importInto (dir: string, lines: string[] = [], io?: FileIo): ReturnType<typeof importOriginalLayout> {
  return await importOriginalLayout(dir, (l) => lines.push(l), io)
}

/** The timestamps (ms) of an original segment, decoded here independently of the importer. */
function originalTimestamps (file: string): number[] {
  const buf = fs.readFileSync(file)
  const out = []
  for (let at = 0; at < buf.length;) {
    const end = at + 16 + Number(buf.readBigUInt64BE(at + 8))
    out.push(Number(buf.readBigUInt64LE(end - 12)) * 1000 + Math.floor(buf.readUInt32LE(end - 4) / 1e6))
    at = end
  }
  return out
}

t.test('imports the fixture: every message at its offset with its timestamp, every group at its offset', async (t) => {
  const dir = copyFixture(t.testdir())
  const lines: string[] = []
  const report = await importInto(dir, lines)
  t.same(report.imported, [{ log: 'logA', dir: path.join(dir, 'logA'), backup: path.join(dir, `logA${BACKUP}`), partitions: 2, messages: 8, groups: 8 }])
  t.same(report.finished, [])
  t.same(fs.readdirSync(dir).sort(), ['bad name', 'logA', `logA${BACKUP}`, 'ünï'])
  t.same(snapshot(path.join(dir, `logA${BACKUP}`)), snapshot(path.join(FIXTURE, 'data', 'logA')), 'the backup is the original, byte for byte')
  t.match(lines.join('\n'), `logA: imported from the original Rog server (partitions: 2, messages: 8, group offsets: 8); its original files are kept in ${path.join(dir, `logA${BACKUP}`)}`)
  t.match(lines.join('\n'), /ahead\.offset: group "ahead" is at offset 4, past the end of the partition \(2\)/)

  for (const p of [0, 1]) {
    const key = `logA/${p}`
    const messages = expected.messages[key].map((hex) => Buffer.from(hex, 'hex'))
    const timestamps = originalTimestamps(path.join(FIXTURE, 'data', 'logA', String(p), '0.log'))
    t.equal(timestamps.length, messages.length)
    t.ok(timestamps.every((ms, i) => ms >= expected.startMs && ms <= expected.endMs && (i === 0 || ms >= timestamps[i - 1])), `${key}: timestamps from the run`)

    const pdir = path.join(dir, 'logA', String(p))
    const partitionLines: string[] = []
    const partition = await openPartition(pdir, partitionLines)
    t.teardown(() => partition.close())
    t.same(partitionLines.filter((l) => !/group "ahead" was past the end of the log; moved back to 2$/.test(l)), [], `${key}: Rog opens it without repairing anything but the group acked past the end`)
    t.equal(partition.highWatermark(), messages.length)
    const read = await partition.read(0, 100, 1 << 20)
    t.same(read.map((m) => m.offset), messages.map((_, i) => i), `${key}: every offset`)
    t.ok(read.every((m, i) => m.data.equals(messages[i])), `${key}: every message intact`)

    const rebuilt = Buffer.allocUnsafe(messages.reduce((n, m) => n + entrySize(m.length), 0))
    messages.reduce((at, m, i) => writeEntry(rebuilt, at, i, stamp(timestamps[i]), m), 0)
    t.ok(fs.readFileSync(path.join(pdir, '0.log')).equals(rebuilt), `${key}: each entry carries the original's timestamp`)

    for (const [group, offset] of Object.entries(expected.groups[key])) {
      t.equal(partition.groups.get(group), Math.min(offset, messages.length), `${key}: group ${group}`)
    }
  }

  for (const name of ['bad name', 'ünï']) {
    t.same(report.skipped.find((s) => s.dir === path.join(dir, name))?.reason, `"${name}" is not a valid Rog log name (1-249 bytes of A-Z a-z 0-9 . _ -)`)
    t.match(lines.join('\n'), `${path.join(dir, name)}: a log of the original Rog server, left as it is and not served`)
    t.same(snapshot(path.join(dir, name)), snapshot(path.join(FIXTURE, 'data', name)), `${name}: untouched`)
  }
})

t.test('a second run changes nothing', async (t) => {
  const dir = copyFixture(t.testdir())
  await importInto(dir)
  const before = snapshot(dir)
  const lines: string[] = []
  const report = await importInto(dir, lines)
  t.same(report.imported, [])
  t.same(report.finished, [])
  t.equal(report.skipped.length, 2, 'the logs Rog cannot serve are still reported')
  t.notMatch(lines.join('\n'), /logA/)
  t.same(snapshot(dir), before)
})

t.test('a stop at any point of the import is recovered by the next run', async (t) => {
  const root = t.testdir()
  const clean = copyFixture(path.join(root, 'clean'))
  await importInto(clean)
  const done = snapshot(clean)

  t.test('while building: a half-written ~import is built again', async (t) => {
    const dir = copyFixture(path.join(root, 'building'))
    fs.mkdirSync(path.join(dir, `logA${IMPORTING}`, '0'), { recursive: true })
    fs.writeFileSync(path.join(dir, `logA${IMPORTING}`, '0', '0.log'), fs.readFileSync(path.join(clean, 'logA', '0', '0.log')).subarray(0, 100))
    const lines: string[] = []
    const report = await importInto(dir, lines)
    t.equal(report.imported.length, 1)
    t.match(lines.join('\n'), `logA${IMPORTING}: removing an import that did not finish`)
    t.same(snapshot(dir), done)
  })

  t.test('between the renames: the next run finishes the swap', async (t) => {
    const dir = copyFixture(path.join(root, 'renaming'))
    fs.renameSync(path.join(dir, 'logA'), path.join(dir, `logA${BACKUP}`))
    fs.cpSync(path.join(clean, 'logA'), path.join(dir, `logA${IMPORTING}`), { recursive: true })
    const lines: string[] = []
    const report = await importInto(dir, lines)
    t.same(report.finished, ['logA'])
    t.same(report.imported, [])
    t.match(lines.join('\n'), 'logA: finished its import from the original Rog server, which a stop interrupted')
    t.same(snapshot(dir), done)
  })

  t.test('a write that fails midway leaves the original in place', async (t) => {
    const dir = copyFixture(path.join(root, 'failing'))
    let writes = 0
    const io: FileIo = {
      ...nodeFileIo,
      writev (fd, buffers, position) {
        if (++writes === 3) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
        nodeFileIo.writev(fd, buffers, position)
      }
    }
    await t.rejects(importInto(dir, [], io), { code: 'STORAGE', message: /no space left/ })
    t.ok(fs.existsSync(path.join(dir, `logA${IMPORTING}`)), 'the unfinished build is left')
    t.same(snapshot(path.join(dir, 'logA')), snapshot(path.join(FIXTURE, 'data', 'logA')), 'the original is untouched')
    await importInto(dir)
    t.same(snapshot(dir), done)
  })

  t.test('a failed sync fails the import before any rename', async (t) => {
    const dir = copyFixture(path.join(root, 'sync'))
    const io: FileIo = { ...nodeFileIo, fdatasync: (_fd, callback) => callback(new Error('EIO')) }
    await t.rejects(importInto(dir, [], io), { code: 'STORAGE' })
    t.same(snapshot(path.join(dir, 'logA')), snapshot(path.join(FIXTURE, 'data', 'logA')))
    t.notOk(fs.existsSync(path.join(dir, `logA${BACKUP}`)))
  })
})

t.test('anything unrecognised stops the import, names the path and changes nothing', async (t) => {
  const root = t.testdir()
  const cases: Array<[string, (dir: string) => string]> = [
    ['a file the original does not write', (d) => write(d, 'logA/0/notes.txt', 'hello')],
    ['a Rog file in an original log', (d) => write(d, 'logA/1/0.index', '')],
    ['a directory in a partition', (d) => mkdir(d, 'logA/0/more')],
    ['a file beside the partitions', (d) => write(d, 'logA/README', 'x')],
    ['a gap in the partitions', (d) => { fs.renameSync(path.join(d, 'logA/1'), path.join(d, 'logA/2')); return path.join(d, 'logA', '2') }],
    ['a partition that is not a number', (d) => mkdir(d, 'logA/01')],
    ['an id file of 5 bytes', (d) => write(d, 'logA/0/id', '12345')],
    ['a group offset of 3 bytes', (d) => write(d, 'logA/1/g1.offset', 'abc')],
    ['a group offset out of range', (d) => write(d, 'logA/1/g1.offset', Buffer.alloc(8, 0xff))],
    ['a segment not named by its first id', (d) => { fs.renameSync(path.join(d, 'logA/1/0.log'), path.join(d, 'logA/1/1.log')); return path.join(d, 'logA', '1', '1.log') }],
    ['a segment name with a leading zero', (d) => write(d, 'logA/1/01.log', '')],
    ['an entry out of sequence', (d) => patch(d, 'logA/1/0.log', (b) => b.writeBigUInt64BE(7n, 0))],
    ['an entry that is not bincode', (d) => patch(d, 'logA/1/0.log', (b) => b.writeBigUInt64LE(999n, 16))],
    ['an entry with an invalid timestamp', (d) => patch(d, 'logA/1/0.log', (b) => b.writeUInt32LE(2e9, 16 + Number(b.readBigUInt64BE(8)) - 4))],
    ['a backup already there', (d) => mkdir(d, `logA${BACKUP}`)]
  ]
  for (const [name, damage] of cases) {
    const dir = copyFixture(path.join(root, name.replace(/\W+/g, '-')))
    fs.mkdirSync(path.join(dir, `logA${IMPORTING}`))
    const culprit = damage(dir)
    const before = snapshot(dir)
    const lines: string[] = []
    const err = await importInto(dir, lines).then(() => null, (e: Error & { code?: string }) => e)
    t.equal(err?.code, 'ORIGINAL_LAYOUT', name)
    t.ok(err?.message.includes(culprit), `${name}: names ${culprit}: ${err?.message}`)
    t.same(snapshot(dir), before, `${name}: nothing changed, nothing deleted`)
  }

  function write (d: string, rel: string, data: string | Buffer): string {
    fs.writeFileSync(path.join(d, rel), data)
    return path.join(d, rel)
  }
  function mkdir (d: string, rel: string): string {
    fs.mkdirSync(path.join(d, rel))
    return path.join(d, rel)
  }
  function patch (d: string, rel: string, change: (b: Buffer) => void): string {
    const b = fs.readFileSync(path.join(d, rel))
    change(b)
    return write(d, rel, b)
  }
})

t.test('a Rog data directory is left untouched', async (t) => {
  const dir = t.testdir()
  const store = await Store.open({ dataDir: dir, fsync: 'never', log: () => {} })
  await store.createLog('events', 2)
  await new Promise<void>((resolve, reject) => store.partition('events', 0).append([msg(0), msg(1)], (err) => err === null ? resolve() : reject(err)))
  await new Promise<void>((resolve, reject) => store.partition('events', 0).commit('g', 1, (err) => err === null ? resolve() : reject(err)))
  await store.close()
  fs.writeFileSync(path.join(dir, 'a-file'), 'x')
  const before = snapshot(dir)
  const lines: string[] = []
  t.same(await importInto(dir, lines), { imported: [], finished: [], skipped: [] })
  t.same(lines, [])
  t.same(snapshot(dir), before)
  t.same(await importInto(path.join(dir, 'missing')), { imported: [], finished: [], skipped: [] }, 'a data directory not created yet')
})

t.test('segments: rolled ones are joined, a torn tail is skipped with a warning and kept in the backup', async (t) => {
  const dir = t.testdir()
  const whole = originalRun(5, 6)
  writeOriginal(dir, 'rolled', [
    // 0.log ends with the first half of message 5, which the original wrote again as the first of 5.log.
    { segments: { 0: Buffer.concat([originalRun(0, 5), whole.subarray(0, 30)]), 5: originalRun(5, 9) }, id: u64le(8), groups: { g: u64le(6), fresh: Buffer.alloc(0) } },
    // A stop cut the last message short, and zeros where the file grew.
    { segments: { 0: Buffer.concat([originalRun(0, 3), originalRun(3, 4).subarray(0, 10)]) }, id: u64le(2) },
    { segments: { 0: Buffer.concat([originalRun(0, 2), Buffer.alloc(40)]) }, id: u64le(1) },
    { segments: { 0: Buffer.concat([originalRun(0, 1), whole.subarray(0, 5)]) }, id: u64le(0) },
    // Created, never written; and an id file that lags (a stop between the write and its save).
    { segments: { 0: Buffer.alloc(0) } },
    { segments: { 0: originalRun(0, 4) }, id: u64le(2) }
  ])
  const lines: string[] = []
  const report = await importInto(dir, lines)
  t.same(report.imported.map((l) => [l.log, l.partitions, l.messages, l.groups]), [['rolled', 6, 9 + 3 + 2 + 1 + 0 + 4, 2]])
  const text = lines.join('\n')
  t.match(text, `${path.join(dir, 'rolled', '0', '0.log')}: skipped its last 30 bytes, an entry cut short`)
  t.match(text, `${path.join(dir, 'rolled', '1', '0.log')}: skipped its last 10 bytes`)
  t.match(text, `${path.join(dir, 'rolled', '2', '0.log')}: skipped its last 40 bytes`)
  t.match(text, `${path.join(dir, 'rolled', '3', '0.log')}: skipped its last 5 bytes`)
  t.match(text, `${path.join(dir, 'rolled', '5', 'id')}: says the last message written is 2, but the segments hold 4`)
  t.notMatch(text, /rolled.4/)
  t.equal(fs.statSync(path.join(dir, `rolled${BACKUP}`, '0', '0.log')).size, originalRun(0, 5).length + 30, 'the backup keeps the torn bytes')

  const counts = [9, 3, 2, 1, 0, 4]
  for (const [p, count] of counts.entries()) {
    const partition = await openPartition(path.join(dir, 'rolled', String(p)))
    t.teardown(() => partition.close())
    const read = await partition.read(0, 100, 1 << 20)
    t.same(read.map((m) => m.offset), Array.from({ length: count }, (_, i) => i), `partition ${p}: offsets`)
    t.ok(read.every((m) => m.data.equals(msg(m.offset))), `partition ${p}: messages`)
    if (p === 0) {
      t.equal(partition.groups.get('g'), 6)
      t.equal(partition.groups.get('fresh'), 0)
      const rebuilt = Buffer.allocUnsafe(count * entrySize(50))
      read.reduce((at, m) => writeEntry(rebuilt, at, m.offset, stamp(1_700_000_000_000 + m.offset), m.data), 0)
      t.ok(fs.readFileSync(path.join(dir, 'rolled', '0', '0.log')).equals(rebuilt), 'timestamps to the millisecond')
    }
  }
})

t.test('directories that are not for this importer are left and said', async (t) => {
  const dir = t.testdir()
  writeOriginal(dir, `named${IMPORTING}`, [{ segments: { 0: originalRun(0, 1) }, id: u64le(0) }])
  fs.mkdirSync(path.join(dir, `stray${IMPORTING}`, '0'), { recursive: true })
  writeOriginal(dir, `old${BACKUP}`, [{ segments: { 0: originalRun(0, 1) }, id: u64le(0) }])
  fs.writeFileSync(path.join(dir, `file${IMPORTING}`), '')
  const before = snapshot(dir)
  const lines: string[] = []
  const report = await importInto(dir, lines)
  t.same(report.imported, [])
  t.same(report.skipped.map((s) => s.dir), [path.join(dir, `named${IMPORTING}`)], 'an original log whose name ends like a build is the original\'s')
  t.match(lines.join('\n'), `${path.join(dir, `stray${IMPORTING}`)}: left as it is`)
  t.same(snapshot(dir), before)
})

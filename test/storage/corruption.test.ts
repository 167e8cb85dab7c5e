import t, { type Test } from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { execFileSync } from 'node:child_process'
import { crc32c } from '@node-rs/crc32'
import { Store, type StoreOptions } from '../../lib/storage/store'
import type { Partition } from '../../lib/storage/partition'
import { nodeFileIo, type FileIo } from '../../lib/storage/file-io'
import { MAX_ENTRY_BYTES, MAX_MESSAGE_BYTES, entrySize, plausibleSize } from '../../lib/storage/entry'
import { verifyDataDir, type Problem } from '../../lib/storage/verify'
import { RogError } from '../../lib/errors'

/*
 * The corruption matrix: every field of an entry, an index entry, a groups
 * journal record and the recovery point, damaged at the head, in the middle
 * of a sealed segment and at the tail. Positions come from the byte tables
 * (entry.ts, offset-index.ts, group-offsets.ts, recovery-point.ts); the data
 * set is laid out so that they are known without reading it back.
 */
const LOG = 'm'
const COUNT = 600
/** 100-byte messages make 128-byte entries: 128 to a 16 KiB segment, an index point at entries 32, 64 and 96 of each. */
const MESSAGE = 100
const ENTRY = 128
const PER_SEGMENT = 128
const SEGMENT_BYTES = PER_SEGMENT * ENTRY
/** Records of the journal, in order: the head record's group is written again later. */
const COMMITS: Array<[string, number]> = [['a', 10], ['b', 20], ['c', 30], ['a', 40], ['d', 50]]
const GROUPS = { a: 40, b: 20, c: 30, d: 50 }
const MAX_READS = 5000

function msg (i: number): Buffer {
  const b = Buffer.alloc(MESSAGE, i % 251)
  b.write(`message ${i}:`)
  return b
}

const segmentOf = (offset: number): number => offset - (offset % PER_SEGMENT)
const logFile = (offset: number): string => `${LOG}/0/${segmentOf(offset)}.log`
const positionOf = (offset: number): number => (offset % PER_SEGMENT) * ENTRY
const LAST_BASE = segmentOf(COUNT - 1)

function append (p: Partition, messages: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => p.append(messages, (err, first) => err === null ? resolve(first) : reject(err)))
}

function commit (p: Partition, group: string, offset: number): Promise<void> {
  return new Promise((resolve, reject) => p.commit(group, offset, (err) => err === null ? resolve() : reject(err)))
}

type Files = Map<string, Buffer>

function readFiles (dir: string): Files {
  const files: Files = new Map()
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[]) {
    if (e.isFile()) files.set(path.relative(dir, path.join(e.parentPath, e.name)), fs.readFileSync(path.join(e.parentPath, e.name)))
  }
  return files
}

function writeFiles (dir: string, files: Files): void {
  for (const [name, bytes] of files) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), bytes)
  }
}

/** A counting FileIo: a read that loops shows as a failed read, not a hung test. */
function boundedIo (): FileIo {
  let reads = 0
  return {
    ...nodeFileIo,
    read (fd, buf, position, callback) {
      if (++reads > MAX_READS) return callback(new Error(`more than ${MAX_READS} reads: a read that never ends`), 0)
      nodeFileIo.read(fd, buf, position, callback)
    }
  }
}

/** Tests close their stores themselves, not in a teardown: tap removes a test's directory before its teardowns run. */
async function openStore (dir: string, lines: string[], extra: Partial<StoreOptions> = {}): Promise<Store> {
  return await Store.open({ dataDir: dir, segmentBytes: SEGMENT_BYTES, fsync: 'always', io: boundedIo(), log: (l) => lines.push(l), ...extra })
}

let base: Promise<Files> | null = null

/** The clean data set: 600 messages in segments 0, 128, ... 512, five journal records, closed cleanly. */
function cleanFiles (): Promise<Files> {
  base ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-matrix-'))
    try {
      const store = await openStore(dir, [], { fsync: 'never' })
      await store.createLog(LOG, 1)
      const p = store.partition(LOG, 0)
      await append(p, Array.from({ length: COUNT }, (_, i) => msg(i)))
      for (const [group, offset] of COMMITS) await commit(p, group, offset)
      await store.close()
      return readFiles(dir)
    } finally {
      fs.rmSync(dir, { recursive: true })
    }
  })()
  return base
}

function flip (dir: string, file: string, position: number, mask = 0x01): void {
  const buf = fs.readFileSync(path.join(dir, file))
  if (position >= buf.length) throw new Error(`${file} has no byte ${position}`)
  buf[position] ^= mask
  fs.writeFileSync(path.join(dir, file), buf)
}

function writeU32 (dir: string, file: string, position: number, value: number): void {
  const buf = fs.readFileSync(path.join(dir, file))
  buf.writeUInt32BE(value, position)
  fs.writeFileSync(path.join(dir, file), buf)
}

/** A recovery point by its byte table: magic "RGRP", base u64, position u64, CRC-32C of those. */
function recoveryPoint (base: number, position: number): Buffer {
  const buf = Buffer.alloc(24)
  buf.write('RGRP', 0, 'latin1')
  buf.writeBigUInt64BE(BigInt(base), 4)
  buf.writeBigUInt64BE(BigInt(position), 12)
  buf.writeUInt32BE(crc32c(buf.subarray(0, 20)), 20)
  return buf
}

interface Walk { served: number[], refused: number[] }

/**
 * Reads the whole partition as a consumer that steps over damage: batches of
 * 50 from offset 0; a DAMAGED answer must name the offset asked for, which is
 * then skipped. Every message served must be the right one, in sequence.
 */
async function walk (t: Test, p: Partition, dir: string): Promise<Walk> {
  const out: Walk = { served: [], refused: [] }
  const end = p.highWatermark()
  let offset = 0
  while (offset < end) {
    let got
    try {
      got = await p.read(offset, 50, 1 << 20)
    } catch (err) {
      if (!(err instanceof RogError) || err.code !== 'DAMAGED') throw err
      t.equal(err.message, `Partition 0 of log ${LOG} is damaged at offset ${offset}: the data there failed its checks and is not served`, `a read from ${offset} is refused, naming it`)
      t.notOk(err.message.includes(dir), 'the answer names no path')
      out.refused.push(offset++)
      continue
    }
    if (got.length === 0) throw new Error(`a read from ${offset} returned nothing, before the end (${end})`)
    for (const [i, m] of got.entries()) {
      if (m.offset !== offset + i) throw new Error(`a read from ${offset} returned offset ${m.offset} at ${i}`)
      if (!m.data.equals(msg(m.offset))) throw new Error(`offset ${m.offset} holds another message`)
      out.served.push(m.offset)
    }
    offset += got.length
  }
  return out
}

function range (from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)
}

interface Case {
  name: string
  damage: (dir: string) => void
  /** Offsets that are damaged: their reads answer DAMAGED; every other offset below COUNT is served. */
  damaged?: number[]
  /** A torn tail that may be truncated: this .log file ends here afterwards, and offsets from `offset` on are gone. */
  torn?: { file: string, size: number, offset: number }
  groups?: Record<string, number>
  /** Files that may change (rebuilt indexes, a compacted journal). */
  rewritten?: RegExp
  /** What `rog check` must report: a problem in this file (relative to the data dir), of this kind, at this offset. */
  reported: { file: string, kind?: string, offset?: number }
}

async function problemsIn (dataDir: string): Promise<Problem[]> {
  const problems: Problem[] = []
  for await (const item of verifyDataDir(dataDir)) {
    if (item.type === 'partition') problems.push(...item.report.problems)
    else if (item.problem !== null) problems.push(item.problem)
  }
  return problems
}

async function runCase (t: Test, c: Case): Promise<string> {
  const dir = t.testdir()
  writeFiles(dir, await cleanFiles())
  c.damage(dir)
  const before = readFiles(dir)
  const problems = await problemsIn(dir)
  const { file, kind, offset } = c.reported
  t.ok(problems.some((p) => p.file === file && (kind === undefined || p.kind === kind) && (offset === undefined || p.offset === offset)), `rog check reports it: ${JSON.stringify(problems)}`)
  t.same(readFiles(dir), before, 'rog check writes nothing')
  const lines: string[] = []
  let store = await openStore(dir, lines)
  let p = store.partition(LOG, 0)
  const after = readFiles(dir)
  for (const [name, bytes] of before) {
    const now = after.get(name)
    if (c.torn !== undefined && name === c.torn.file) {
      t.ok(now !== undefined && now.length === c.torn.size && now.equals(bytes.subarray(0, c.torn.size)), `${name}: only the torn tail is truncated`)
    } else if (name.endsWith('.log') || c.rewritten?.test(name) !== true) {
      t.ok(now?.equals(bytes), `${name}: unchanged`)
    } else {
      t.ok(now !== undefined, `${name}: still there`)
    }
  }
  const damaged = c.damaged ?? []
  const end = c.torn?.offset ?? COUNT
  t.ok(p.highWatermark() >= end, `the end (${p.highWatermark()}) is not before ${end}`)
  const { served, refused } = await walk(t, p, dir)
  t.same(served, range(0, end).filter((o) => !damaged.includes(o)), 'every intact message is served')
  t.ok(damaged.every((o) => refused.includes(o)), `reads of ${damaged.join(', ') || 'nothing'} are refused`)
  t.ok(refused.every((o) => damaged.includes(o) || o >= end), `only damaged offsets are refused (${refused.join(', ')})`)
  for (const d of damaged) {
    if (d > 0 && !damaged.includes(d - 1)) t.same((await p.read(d - 1, 10, 1 << 20)).map((m) => m.offset), [d - 1], `a read from ${d - 1} stops before the damage`)
    if (d + 1 < end && !damaged.includes(d + 1)) t.equal((await p.read(d + 1, 1, 1))[0]?.offset, d + 1, `a read from ${d + 1} starts right after it`)
  }
  // Reads that start at an index point, or next to one, find their entry by the index.
  const probes = range(0, end).filter((o) => [31, 0, 1].includes(o % 32) && !damaged.includes(o))
  const misread = []
  for (const o of probes) if ((await p.read(o, 1, 1).catch(() => []))[0]?.offset !== o) misread.push(o)
  t.same(misread, [], 'a read from any index point starts at the offset asked for')
  if (damaged.some((d) => d < COUNT)) t.ok(lines.some((l) => l.includes(path.join(dir, logFile(damaged[0])))), 'the server log names the damaged file')
  const groups = c.groups ?? GROUPS
  t.same(Object.fromEntries(p.groups.entries().map((g) => [g.group, g.offset])), groups, 'group offsets')

  const next = await append(p, [msg(COUNT)])
  if (c.torn !== undefined) t.equal(next, c.torn.offset, 'after a torn tail, appends continue where it was cut')
  else t.ok(next >= COUNT, `an append after the damage gets offset ${next}, past every offset that existed`)
  await store.close()

  store = await openStore(dir, [])
  p = store.partition(LOG, 0)
  t.equal(p.highWatermark(), next + 1, 'reopened: the same end')
  t.same((await p.read(next, 10, 1 << 20)).map((m) => [m.offset, m.data.equals(msg(COUNT))]), [[next, true]], 'the appended message is at its offset')
  for (const d of damaged) await t.rejects(p.read(d, 1, 1 << 20), { code: 'DAMAGED' }, `reopened: ${d} still refused`)
  t.same(Object.fromEntries(p.groups.entries().map((g) => [g.group, g.offset])), groups, 'reopened: the same group offsets')
  await store.close()
  return dir
}

/** Fields of an entry, by the byte table: a byte in each, and the bit flipped there. */
const ENTRY_FIELDS: Array<[string, number, number]> = [
  ['id', 7, 0x01],
  ['size', 15, 0x08],
  ['crc', 16, 0x01],
  ['timestamp', 27, 0x01],
  ['message', 28 + 50, 0x01]
]

/** Where an entry is damaged; `torn` when recovery may truncate it as a torn tail. */
const ENTRY_PLACES: Array<{ name: string, offset: number, prepare?: (dir: string) => void, torn?: boolean }> = [
  { name: 'at the head (the first entry)', offset: 0 },
  { name: 'at the head of a sealed segment', offset: 256 },
  { name: 'in the middle of a sealed segment', offset: 128 + 70 },
  { name: 'at the end of a sealed segment (checked on start)', offset: 383 },
  { name: 'at the tail, covered by the recovery point', offset: COUNT - 1 },
  {
    name: 'at the tail, after the recovery point',
    offset: COUNT - 1,
    prepare: (dir) => fs.writeFileSync(path.join(dir, LOG, '0', 'recovery-point'), recoveryPoint(LAST_BASE, positionOf(COUNT - 1))),
    torn: true
  },
  { name: 'at the tail, with no recovery point', offset: COUNT - 1, prepare: (dir) => fs.rmSync(path.join(dir, LOG, '0', 'recovery-point')), torn: true }
]

t.test('the clean data set: rog check finds nothing', async (t) => {
  const dir = t.testdir()
  writeFiles(dir, await cleanFiles())
  t.same(await problemsIn(dir), [])
})

t.test('an entry: each field damaged at each place', async (t) => {
  for (const place of ENTRY_PLACES) {
    for (const [field, at, mask] of ENTRY_FIELDS) {
      const name = `${field} ${place.name}`
      await t.test(name, async (t) => { await runCase(t, {
        name,
        damage: (dir) => {
          place.prepare?.(dir)
          flip(dir, logFile(place.offset), positionOf(place.offset) + at, mask)
        },
        damaged: place.torn === true ? [] : [place.offset],
        torn: place.torn === true ? { file: logFile(place.offset), size: positionOf(place.offset), offset: place.offset } : undefined,
        rewritten: /\.index$|recovery-point$/,
        reported: { file: logFile(place.offset), offset: place.offset, kind: place.torn === true ? 'torn write' : undefined }
      }) })
    }
  }
})

/** Segment 128's index: points at entries 32, 64 and 96 (positions 4096, 8192, 12288). */
const INDEX = `${LOG}/0/128.index`

t.test('an index entry: each field damaged at each place', async (t) => {
  const damages: Array<[string, (dir: string) => void]> = []
  for (const [place, entry] of [['head', 0], ['middle', 1], ['tail', 2]] as const) {
    damages.push([`relative offset at the ${place}`, (dir) => flip(dir, INDEX, entry * 8 + 3)])
    damages.push([`position at the ${place}`, (dir) => flip(dir, INDEX, entry * 8 + 7)])
    damages.push([`position at the ${place}, pointing 5 entries further`, (dir) => writeU32(dir, INDEX, entry * 8 + 4, (entry + 1) * 32 * ENTRY + 5 * ENTRY)])
  }
  damages.push(['a partial entry', (dir) => fs.appendFileSync(path.join(dir, INDEX), Buffer.from([1, 2, 3]))])
  for (const [name, damage] of damages) {
    await t.test(name, async (t) => { await runCase(t, { name, damage, rewritten: /\.index$/, reported: { file: INDEX, kind: 'index' } }) })
  }
})

/** The journal's records by its byte table (crc u32, group size u16, group, offset u64); every group name is 1 byte. */
const JOURNAL = `${LOG}/0/groups.offsets`
const RECORD = 4 + 2 + 1 + 8

t.test('a groups journal record: each field damaged at each place loses only that record', async (t) => {
  const fields: Array<[string, number]> = [['crc', 0], ['group size', 5], ['group', 6], ['offset', 14]]
  // Record 0 is ("a", 10), written again later as ("a", 40); record 2 is ("c", 30); record 4 is ("d", 50).
  const places: Array<[string, number, Record<string, number>]> = [
    ['head', 0, { b: 20, c: 30, a: 40, d: 50 }],
    ['middle', 2, { a: 40, b: 20, d: 50 }],
    ['tail', 4, { a: 40, b: 20, c: 30 }]
  ]
  for (const [place, record, groups] of places) {
    for (const [field, at] of fields) {
      const name = `${field} at the ${place}`
      await t.test(name, async (t) => {
        const dir = await runCase(t, { name, damage: (dir) => flip(dir, JOURNAL, record * RECORD + at), groups, rewritten: /groups\.offsets$/, reported: { file: JOURNAL, kind: 'journal' } })
        t.ok(place === 'tail' || fs.readdirSync(path.join(dir, LOG, '0')).some((f) => f.startsWith('groups.offsets.damaged-')), 'damage before the end is kept in a copy')
      })
    }
  }
})

const POINT = `${LOG}/0/recovery-point`

t.test('the recovery point: each field damaged', async (t) => {
  for (const [field, at] of [['magic', 0], ['base', 11], ['position', 19], ['crc', 23]] as const) {
    const name = `its ${field}`
    await t.test(name, async (t) => { await runCase(t, { name, damage: (dir) => flip(dir, POINT, at), rewritten: /recovery-point$/, reported: { file: POINT, kind: 'recovery point' } }) })
  }
  await t.test('cut short', async (t) => { await runCase(t, { name: 'cut short', damage: (dir) => fs.truncateSync(path.join(dir, POINT), 10), rewritten: /recovery-point$/, reported: { file: POINT, kind: 'recovery point' } }) })
})

function writeU64 (dir: string, file: string, position: number, value: bigint): void {
  const buf = fs.readFileSync(path.join(dir, file))
  buf.writeBigUInt64BE(value, position)
  fs.writeFileSync(path.join(dir, file), buf)
}

t.test('a size field damaged in the middle of a sealed segment: every read ends, with data or an error', async (t) => {
  const offset = 128 + 70
  for (const size of [0n, 27n, 29n, 112n + 1000n, 112n - 64n, 1n << 40n, 0xffffffffffffffffn, BigInt(MAX_ENTRY_BYTES - 16)]) {
    const name = `size ${size}`
    await t.test(name, async (t) => {
      await runCase(t, { name, damage: (dir) => writeU64(dir, logFile(offset), positionOf(offset) + 8, size), damaged: [offset], rewritten: /\.index$/, reported: { file: logFile(offset), offset } })
    })
  }
})

t.test('an entry\'s id changed to 1: fetches never return offsets out of sequence', async (t) => {
  await runCase(t, { name: 'id 1', damage: (dir) => writeU64(dir, logFile(5), positionOf(5), 1n), damaged: [5], rewritten: /\.index$/, reported: { file: logFile(5), offset: 5, kind: 'out of sequence' } })
})

t.test('a bit flipped in the last 4 KiB of a sealed segment: 1,000 fsynced messages after it survive, the group is not clamped', async (t) => {
  const dir = t.testdir()
  const segmentBytes = 512 * ENTRY
  let store = await openStore(dir, [], { segmentBytes })
  await store.createLog(LOG, 1)
  let p = store.partition(LOG, 0)
  for (let i = 0; i < 1500; i += 100) await append(p, range(i, i + 100).map(msg))
  await commit(p, 'g', 1400)
  await store.close()
  const pdir = path.join(dir, LOG, '0')
  t.same(fs.readdirSync(pdir).filter((f) => f.endsWith('.log')).sort(), ['0.log', '1024.log', '512.log'])
  flip(dir, `${LOG}/0/0.log`, segmentBytes - 1000, 0x10)
  const damagedOffset = Math.floor((segmentBytes - 1000) / ENTRY)
  const before = readFiles(dir)

  const lines: string[] = []
  store = await openStore(dir, lines, { segmentBytes })
  p = store.partition(LOG, 0)
  for (const f of ['0.log', '512.log', '1024.log']) t.ok(fs.readFileSync(path.join(pdir, f)).equals(before.get(`${LOG}/0/${f}`) as Buffer), `${f} unchanged`)
  t.notMatch(lines.join('\n'), /truncated|removing/, 'nothing truncated or removed')
  t.match(lines.join('\n'), /damaged/, 'the damage is reported')
  t.equal(p.groups.get('g'), 1400, 'the group keeps its offset')
  const { served, refused } = await walk(t, p, dir)
  t.same(refused, [damagedOffset])
  t.same(served, range(0, 1500).filter((o) => o !== damagedOffset), 'every other message, the 1,000 after the segment included')
  t.equal(await append(p, [msg(1500)]), 1500, 'the next publish takes a new offset')
  await store.close()
})

t.test('stray names, directories and symlinks are left alone; nothing of them is deleted, created or followed', async (t) => {
  const root = t.testdir()
  const dir = path.join(root, 'data')
  const outside = path.join(root, 'outside')
  const segmentBytes = 512 * ENTRY
  let store = await openStore(dir, [], { segmentBytes })
  for (const log of [LOG, 'T', 'S', 'L']) await store.createLog(log, 1)
  await append(store.partition(LOG, 0), range(0, 1100).map(msg))
  for (const log of ['S', 'L']) await append(store.partition(log, 0), [msg(0), msg(1)])
  await store.close()

  const m = path.join(dir, LOG, '0')
  fs.writeFileSync(path.join(m, '00.log'), '')
  fs.writeFileSync(path.join(m, '600.log'), 'a file that is not a segment of this log')
  fs.mkdirSync(path.join(m, '7.log'))
  fs.writeFileSync(path.join(dir, 'T', '5'), 'not a partition')
  // Empty directories with partition names: not partitions (Rog never makes one empty).
  fs.mkdirSync(path.join(dir, 'T', '1'))
  fs.mkdirSync(path.join(dir, 'T', '3'))
  fs.mkdirSync(path.join(dir, 'backup'))
  fs.mkdirSync(outside)
  fs.renameSync(path.join(dir, 'S', '0'), path.join(outside, 'partition'))
  fs.symlinkSync(path.join(outside, 'partition'), path.join(dir, 'S', '0'))
  fs.renameSync(path.join(dir, 'L', '0', '0.log'), path.join(outside, 'segment.log'))
  fs.symlinkSync(path.join(outside, 'segment.log'), path.join(dir, 'L', '0', '0.log'))
  fs.mkdirSync(path.join(outside, 'log', '0'), { recursive: true })
  fs.symlinkSync(path.join(outside, 'log'), path.join(dir, 'linked'))
  const outsideBefore = readFiles(outside)
  const dataBefore = readFiles(dir)
  t.same((await problemsIn(dir)).map((p) => [p.file, p.kind]).sort(), [['L/0/0.log', 'symlink'], ['L/0/recovery-point', 'recovery point'], ['S/0', 'symlink'], [`${LOG}/0/600.log`, 'overlap']], 'rog check reports the symlinks and the segment inside another')

  for (const round of [1, 2]) {
    const lines: string[] = []
    store = await openStore(dir, lines, { segmentBytes })
    const p = store.partition(LOG, 0)
    t.same(store.listLogs(), [{ log: 'T', partitions: 1 }, { log: LOG, partitions: 1 }], `start ${round}: the logs, and nothing else`)
    t.same(store.unavailableLogs().map((u) => u.log).sort(), ['L', 'S'], `start ${round}: logs with a symlink inside are unavailable`)
    t.same(p.segments.map((s) => s.base), [0, 512, 1024], `start ${round}: the stray 600.log is not a segment`)
    const { served, refused } = await walk(t, p, dir)
    t.ok(served.length === 1100 && refused.length === 0, `start ${round}: every message`)
    t.same(readFiles(outside), outsideBefore, `start ${round}: the files outside the data dir are untouched, none created`)
    const dataNow = readFiles(dir)
    t.ok([...dataBefore].every(([name, bytes]) => name.endsWith('.index') || name.endsWith('recovery-point') || dataNow.get(name)?.equals(bytes)), `start ${round}: no file deleted or changed`)
    t.ok(fs.statSync(path.join(m, '7.log')).isDirectory() && fs.statSync(path.join(dir, 'backup')).isDirectory(), `start ${round}: stray directories stay`)
    t.ok(fs.lstatSync(path.join(dir, 'S', '0')).isSymbolicLink() && fs.lstatSync(path.join(dir, 'L', '0', '0.log')).isSymbolicLink(), `start ${round}: symlinks stay`)
    t.match(lines.join('\n'), /00\.log.*left alone/, `start ${round}: the stray names are reported`)
    t.match(lines.join('\n'), /T\/1: an empty directory, not a partition Rog made; left alone/, `start ${round}: the empty partition names are reported`)
    t.same([fs.readdirSync(path.join(dir, 'T', '1')), fs.readdirSync(path.join(dir, 'T', '3'))], [[], []], `start ${round}: and nothing is written into them`)
    await store.close()
  }
})

t.test('storage errors answered to a client name no path', async (t) => {
  await t.test('a roll onto a directory of the new segment\'s name', async (t) => {
    const dir = t.testdir()
    const segmentBytes = 512 * ENTRY
    const store = await openStore(dir, [], { segmentBytes })
    await store.createLog('R', 1)
    const p = store.partition('R', 0)
    const big = Buffer.alloc(9000, 7)
    const rollAt = Math.ceil(segmentBytes / entrySize(big.length))
    await append(p, Array.from({ length: rollAt }, () => big))
    fs.mkdirSync(path.join(dir, 'R', '0', `${rollAt}.log`))
    const err = await append(p, [big]).then(() => null, (e: unknown) => e)
    t.match(err, { code: 'STORAGE' }, 'the publish fails')
    t.notOk((err as Error).message.includes(dir), `naming no path: ${(err as Error).message}`)
    t.ok(fs.statSync(path.join(dir, 'R', '0', `${rollAt}.log`)).isDirectory(), 'the directory is left alone')
    await store.close()
  })

  await t.test('a segment file gone while the store runs', async (t) => {
    const dir = t.testdir()
    writeFiles(dir, await cleanFiles())
    const store = await openStore(dir, [], { maxOpenFiles: 1 })
    const p = store.partition(LOG, 0)
    t.equal((await p.read(0, 1, 1))[0].offset, 0)
    t.equal((await p.read(COUNT - 1, 1, 1))[0].offset, COUNT - 1, 'another file is used, so the first one\'s descriptor is closed')
    fs.rmSync(path.join(dir, LOG, '0', '0.log'))
    const err = await p.read(0, 1, 1).then(() => null, (e: unknown) => e)
    t.match(err, { code: 'STORAGE' }, 'an error answer')
    t.notOk((err as Error).message.includes(dir), `naming no path: ${(err as Error).message}`)
    await store.close()
  })
})

t.test('the largest message: recovery keeps an entry of the largest size; an 8 MiB message survives a restart', async (t) => {
  t.equal(entrySize(MAX_MESSAGE_BYTES), MAX_ENTRY_BYTES, 'the largest message makes the largest entry')
  t.ok(plausibleSize(MAX_ENTRY_BYTES), 'an entry of the largest size is one recovery keeps')
  t.notOk(plausibleSize(MAX_ENTRY_BYTES + 1), 'one byte more is not')
  t.ok(plausibleSize(entrySize(0)) && !plausibleSize(entrySize(0) - 1), 'an empty message is the smallest entry')
  const dir = t.testdir()
  const large = Buffer.alloc(8 * 1024 * 1024, 0xab)
  let store = await openStore(dir, [])
  await store.createLog('big', 1)
  t.equal(await append(store.partition('big', 0), [msg(0), large, msg(2)]), 0)
  await store.close()
  const lines: string[] = []
  store = await openStore(dir, lines)
  const p = store.partition('big', 0)
  t.same(lines, [], 'a clean start')
  t.equal(p.highWatermark(), 3)
  t.ok((await p.read(1, 1, 1))[0].data.equals(large), 'the large message, whole')
  t.same((await p.read(0, 10, 1 << 30)).map((m) => m.offset), [0, 1, 2])
  t.equal(await append(p, [msg(3)]), 3)
  await store.close()
  t.same(await problemsIn(dir), [], 'rog check reads the large entry whole')
})

const NOT_ROOT = process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : false

t.test('a full disk at start: the store opens and serves reads', { skip: NOT_ROOT }, async (t) => {
  // Not in t.testdir(): its removal would meet the mount.
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' })
  } catch (err) {
    fs.rmdirSync(mnt)
    t.plan(0, `cannot mount a tmpfs: ${(err as Error).message}`)
    return
  }
  t.teardown(() => {
    execFileSync('umount', ['-l', mnt])
    fs.rmdirSync(mnt)
  })
  const dir = path.join(mnt, 'data')
  let store = await openStore(dir, [])
  await store.createLog(LOG, 1)
  let p = store.partition(LOG, 0)
  await append(p, range(0, COUNT).map(msg))
  for (const [group, offset] of COMMITS) await commit(p, group, offset)
  await store.close()
  // Work for the start: an index to rebuild, a damaged journal record to keep a copy of.
  fs.rmSync(path.join(dir, LOG, '0', '0.index'))
  flip(dir, JOURNAL, 2 * RECORD)
  const filler = fs.openSync(path.join(mnt, 'filler'), 'w')
  try {
    for (;;) fs.writeSync(filler, Buffer.alloc(4096))
  } catch (err) {
    t.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', 'the disk is full')
  } finally {
    fs.closeSync(filler)
  }
  const lines: string[] = []
  store = await openStore(dir, lines)
  p = store.partition(LOG, 0)
  const { served } = await walk(t, p, dir)
  t.same(served, range(0, COUNT), 'every message is served')
  t.same(Object.fromEntries(p.groups.entries().map((g) => [g.group, g.offset])), { a: 40, b: 20, d: 50 }, 'the groups, but the damaged record')
  t.match(lines.join('\n'), /groups\.offsets.*could not keep a copy/, 'the server log names the file it could not write')
  const err = await append(p, [Buffer.alloc(256 * 1024)]).then(() => null, (e: unknown) => e)
  t.match(err, { code: 'STORAGE', message: /ENOSPC/ }, 'a publish fails with a storage error')
  t.notOk((err as Error).message.includes(mnt), 'naming no path')
  await store.close()
})

t.test('a segment file cut short by something else while the store runs: every read ends', async (t) => {
  const dir = t.testdir()
  writeFiles(dir, await cleanFiles())
  const store = await openStore(dir, [])
  const p = store.partition(LOG, 0)
  const cut = 128 + 40
  fs.truncateSync(path.join(dir, logFile(cut)), positionOf(cut))
  const answer = async (offset: number): Promise<number[] | string> => await p.read(offset, 200, 1 << 20).then((m) => m.map((x) => x.offset), (err: RogError) => err.code)
  t.same(await answer(100), range(100, cut), 'a read up to the cut returns what is there')
  t.equal(await answer(cut), 'DAMAGED', 'a read from the cut')
  t.equal(await answer(128 + 64), 'DAMAGED', 'a read from an index point past the cut')
  t.equal(await answer(128 + 100), 'DAMAGED', 'a read from past the last index point')
  t.same(await answer(256), range(256, 456), 'the next segment is served')
  await store.close()
})

t.test('the end of a segment lost though the recovery point says it was synced: its offsets are not reused, its group not clamped', async (t) => {
  const dir = t.testdir()
  writeFiles(dir, await cleanFiles())
  let store = await openStore(dir, [])
  await commit(store.partition(LOG, 0), 'end', COUNT)
  await store.close()
  fs.truncateSync(path.join(dir, logFile(COUNT - 1)), positionOf(COUNT - 2))
  t.match(await problemsIn(dir), [{ file: POINT, kind: 'recovery point', detail: /data known synced is missing/ }], 'rog check reports it')
  const lines: string[] = []
  store = await openStore(dir, lines)
  const p = store.partition(LOG, 0)
  t.match(lines.join('\n'), /missing/, 'the server log says so')
  t.equal(p.groups.get('end'), COUNT, 'the group keeps its offset')
  const { served, refused } = await walk(t, p, dir)
  t.same(served, range(0, COUNT - 2), 'every message still there is served')
  t.ok(refused.includes(COUNT - 2) && refused.includes(COUNT - 1), 'the lost ones are refused')
  const next = await append(p, [msg(COUNT)])
  t.ok(next >= COUNT, `the next append takes offset ${next}, none of the lost ones`)
  await store.close()
})

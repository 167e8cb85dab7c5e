import t, { type Test } from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { execFileSync } from 'node:child_process'
import { Store } from '../../lib/storage/store'

/*
 * fixtures/storage/ read with code written from the byte tables in the header
 * comments of lib/storage/ (entry.ts, offset-index.ts, group-offsets.ts,
 * recovery-point.ts), not with lib/'s readers: a change of format fails here.
 * Every integer is big-endian.
 */
const ROOT = path.resolve(__dirname, '../..')
const FIXTURES = path.join(ROOT, 'fixtures', 'storage')
const DATA = path.join(FIXTURES, 'data')

/** CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), bit by bit. */
function crc32c (...parts: Buffer[]): number {
  let crc = 0xffffffff
  for (const part of parts) {
    for (const byte of part) {
      crc ^= byte
      for (let k = 0; k < 8; k++) crc = (crc & 1) !== 0 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
    }
  }
  return (crc ^ 0xffffffff) >>> 0
}

/** What the fixtures hold: message i, and the time of the append that wrote it. */
function message (i: number): Buffer {
  if (i === 0) return Buffer.alloc(0)
  const length = (i * 37) % 200
  return Buffer.from(`message ${i} ` + '.-'.repeat(length >> 1).slice(0, length))
}
const time = (i: number): number => 1_700_000_000_000 + i * 1_000

interface Entry { position: number, id: number, size: number, crc: number, timestamp: number, data: Buffer }

/** A `.log`: id u64, entry size u64 (12 + message), crc32c u32, timestamp u64, message. */
function parseLog (buf: Buffer): Entry[] {
  const entries: Entry[] = []
  let at = 0
  while (at < buf.length) {
    if (buf.length - at < 28) throw new Error(`entry header cut short at ${at}`)
    const size = Number(buf.readBigUInt64BE(at + 8))
    if (at + 16 + size > buf.length) throw new Error(`entry at ${at} runs past the end`)
    entries.push({
      position: at,
      id: Number(buf.readBigUInt64BE(at)),
      size,
      crc: buf.readUInt32BE(at + 16),
      timestamp: Number(buf.readBigUInt64BE(at + 20)),
      data: buf.subarray(at + 28, at + 16 + size)
    })
    at += 16 + size
  }
  return entries
}

/** The checksum of entry `e` of `buf`: of id, size, timestamp and message; Rog 0.1's of timestamp and message. */
function entryCrc (buf: Buffer, e: Entry, legacy: boolean): number {
  const content = buf.subarray(e.position + 20, e.position + 16 + e.size)
  return legacy ? crc32c(content) : crc32c(buf.subarray(e.position, e.position + 16), content)
}

/** A `.index`: relative offset u32, position u32. */
function parseIndex (buf: Buffer): Array<[number, number]> {
  if (buf.length % 8 !== 0) throw new Error('index of partial entries')
  const out: Array<[number, number]> = []
  for (let at = 0; at < buf.length; at += 8) out.push([buf.readUInt32BE(at), buf.readUInt32BE(at + 4)])
  return out
}

/** A `.timeindex`: timestamp u64, relative offset u32. */
function parseTimeIndex (buf: Buffer): Array<[number, number]> {
  if (buf.length % 12 !== 0) throw new Error('time index of partial entries')
  const out: Array<[number, number]> = []
  for (let at = 0; at < buf.length; at += 12) out.push([Number(buf.readBigUInt64BE(at)), buf.readUInt32BE(at + 8)])
  return out
}

/** `groups.offsets`: crc32c u32 (of what follows), group size u16, group, offset u64. */
function parseJournal (buf: Buffer): Array<[string, number]> {
  const out: Array<[string, number]> = []
  let at = 0
  while (at < buf.length) {
    const size = buf.readUInt16BE(at + 4)
    const end = at + 14 + size
    if (crc32c(buf.subarray(at + 4, end)) !== buf.readUInt32BE(at)) throw new Error(`record at ${at} fails its checksum`)
    out.push([buf.toString('utf8', at + 6, at + 6 + size), Number(buf.readBigUInt64BE(at + 6 + size))])
    at = end
  }
  return out
}

/** `recovery-point`: magic u32 "RGRP", base u64, position u64, crc32c u32 of the 20 bytes before it. */
function parseRecoveryPoint (buf: Buffer): { base: number, position: number } {
  if (buf.length !== 24) throw new Error(`recovery point of ${buf.length} bytes`)
  if (buf.toString('latin1', 0, 4) !== 'RGRP') throw new Error('bad magic')
  if (crc32c(buf.subarray(0, 20)) !== buf.readUInt32BE(20)) throw new Error('recovery point fails its checksum')
  return { base: Number(buf.readBigUInt64BE(4)), position: Number(buf.readBigUInt64BE(12)) }
}

function filesUnder (dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort()
}

function read (...parts: string[]): Buffer {
  return fs.readFileSync(path.join(DATA, ...parts))
}

/** Checks a partition's segments against the byte tables; returns the messages found, in order. */
function checkSegments (t: Test, dir: string, bases: number[], legacy: boolean): Entry[] {
  const all: Entry[] = []
  for (const base of bases) {
    const buf = read(dir, `${base}.log`)
    const entries = parseLog(buf)
    const where = `${dir}/${base}.log`
    t.ok(entries.length > 0 && entries[0].id === base, `${where} is named after its first id`)
    t.ok(entries.every((e, i) => e.id === base + i), `${where}: ids in sequence`)
    t.ok(entries.every((e) => e.size === 12 + e.data.length), `${where}: entry size is 12 + message`)
    t.ok(entries.every((e) => e.crc === entryCrc(buf, e, legacy)), `${where}: every ${legacy ? 'legacy ' : ''}checksum holds`)
    if (!legacy) t.ok(entries.every((e) => e.crc !== entryCrc(buf, e, true)), `${where}: not the legacy checksum`)
    // An index point at the first entry 4096 bytes or more past the last point (or the start).
    const expected: Array<[number, number]> = []
    let last = 0
    for (const e of entries) {
      if (e.position - last >= 4096) {
        expected.push([e.id - base, e.position])
        last = e.position
      }
    }
    t.same(parseIndex(read(dir, `${base}.index`)), expected, `${dir}/${base}.index: a point every 4 KiB of log`)
    if (!legacy) {
      // A time point at the first entry and at each index point: the largest timestamp so far, and the entry's relative offset.
      const points = [entries[0], ...expected.map(([rel]) => entries[rel])]
      const times = points.map((p) => [Math.max(...entries.slice(0, p.id - base + 1).map((e) => e.timestamp)), p.id - base])
      t.same(parseTimeIndex(read(dir, `${base}.timeindex`)), times, `${dir}/${base}.timeindex: a point at the first entry and at each index point`)
    }
    all.push(...entries)
  }
  return all
}

t.test('a clean CRC-32C: the check value of "123456789"', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
})

t.test('the fixtures are what the script writes with the Rog built now, byte for byte', async (t) => {
  const out = t.testdir()
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'make-storage-fixtures.mjs'), out], { stdio: 'pipe' })
  const files = filesUnder(DATA)
  t.same(filesUnder(path.join(out, 'data')), files, 'the same files')
  for (const f of files) t.ok(fs.readFileSync(path.join(out, 'data', f)).equals(fs.readFileSync(path.join(DATA, f))), f)
  const total = files.reduce((n, f) => n + fs.statSync(path.join(DATA, f)).size, 0)
  t.ok(total < 100 * 1024, `${total} bytes of fixtures`)
})

t.test('events/0: three segments, their indexes, the groups journal and the recovery point, by the byte tables', async (t) => {
  const entries = checkSegments(t, 'events/0', [0, 89, 179], false)
  t.equal(entries.length, 220)
  t.ok(entries.every((e, i) => e.data.equals(message(i))), 'every message')
  t.ok(entries.every((e, i) => e.timestamp === time(i - (i % 10))), 'each append\'s time (batches of 10)')
  t.equal(entries[0].size, 12, 'an empty message is an entry of 28 bytes')
  t.same(parseJournal(read('events/0/groups.offsets')), [['g', 10], ['ünïcödé group', 42], ['h', 0], ['g', 120], ['last', 220]], 'one record per commit, in order')
  t.same(parseRecoveryPoint(read('events/0/recovery-point')), { base: 179, position: read('events/0/179.log').length }, 'synced to the end of the last segment at close')
})

t.test('events/1: one segment, no group', async (t) => {
  const entries = checkSegments(t, 'events/1', [0], false)
  t.ok(entries.length === 7 && entries.every((e, i) => e.data.equals(message(i)) && e.timestamp === time(i)))
  t.equal(read('events/1/groups.offsets').length, 0)
  t.same(parseRecoveryPoint(read('events/1/recovery-point')), { base: 0, position: read('events/1/0.log').length })
})

t.test('legacy/0: a segment as Rog 0.1 wrote it', async (t) => {
  const entries = checkSegments(t, 'legacy/0', [0], true)
  t.ok(entries.length === 40 && entries.every((e, i) => e.data.equals(message(i)) && e.timestamp === time(i)))
  t.same(parseJournal(read('legacy/0/groups.offsets')), [['old', 25]])
  t.notOk(fs.existsSync(path.join(DATA, 'legacy/0/recovery-point')), 'Rog 0.1 kept no recovery point')
})

t.test('Rog opens the fixtures, reports nothing, serves every message and group, and changes no segment', async (t) => {
  const dir = t.testdir()
  fs.cpSync(DATA, dir, { recursive: true })
  const lines: string[] = []
  const store = await Store.open({ dataDir: dir, fsync: 'never', log: (l) => lines.push(l) })
  t.same(lines, [], 'a clean open')
  t.same(store.listLogs(), [{ log: 'events', partitions: 2 }, { log: 'legacy', partitions: 1 }])
  for (const [log, partition, count, batch] of [['events', 0, 220, 10], ['events', 1, 7, 1], ['legacy', 0, 40, 1]] as const) {
    const p = store.partition(log, partition)
    t.equal(p.highWatermark(), count, `${log}/${partition}: ${count} messages`)
    const got = await p.read(0, 1000, 1 << 20)
    t.same(got.map((m) => m.offset), Array.from({ length: count }, (_, i) => i), `${log}/${partition}: every offset`)
    t.ok(got.every((m, i) => m.data.equals(message(i)) && m.timestamp === time(i - (i % batch))), `${log}/${partition}: every message and time`)
  }
  t.same(store.partition('events', 0).groups.entries(), [{ group: 'g', offset: 120 }, { group: 'ünïcödé group', offset: 42 }, { group: 'h', offset: 0 }, { group: 'last', offset: 220 }], 'the last record of a group wins')
  t.same(store.partition('legacy', 0).groups.entries(), [{ group: 'old', offset: 25 }])

  const legacy = store.partition('legacy', 0)
  const first = await new Promise<number>((resolve, reject) => legacy.append([Buffer.from('after the upgrade')], (err, offset) => err === null ? resolve(offset) : reject(err)))
  t.equal(first, 40, 'appends after a legacy segment continue its offsets')
  t.same(legacy.segments.map((s) => [s.base, s.legacy]), [[0, true], [40, false]], 'in a new segment of the current format')
  t.same((await legacy.read(38, 10, 1 << 20)).map((m) => m.offset), [38, 39, 40])
  for (const f of filesUnder(DATA).filter((f) => f.endsWith('.log'))) t.ok(fs.readFileSync(path.join(dir, f)).equals(read(f)), `${f} unchanged`)
  const appended = parseLog(fs.readFileSync(path.join(dir, 'legacy/0/40.log')))
  t.ok(appended.length === 1 && appended[0].id === 40 && appended[0].data.toString() === 'after the upgrade', 'the new segment by the byte table')
  // Closed here, not in a teardown: tap removes the test directory before teardowns run.
  await store.close()
})

import * as fs from 'node:fs'
import * as path from 'node:path'
import { entryIsIntact, plausibleSize, readEntryHeader } from './entry'
import { viewOf } from '../util/crc32c'
import { parseJournal, GROUPS_FILE } from './group-offsets'
import { INDEX_ENTRY } from './offset-index'
import { hintsWithoutLog, OWN_FILE, SEGMENT_NAME } from './partition'
import { PRODUCERS_FILE, scanProducerJournal } from './producer-state'
import { decodePoint, RECOVERY_POINT_FILE, startingPoint, type Point } from './recovery-point'
import { detectLegacy, findEntry } from './segment'
import { CREATING, isValidLogName, PARTITION_NAME } from './store'

/** A read-only open that never follows a symlink: the verifier never writes. */
const READ_ONLY = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW
const CHUNK = 256 * 1024

/** Something wrong, where: `file` is relative to the data directory. */
export interface Problem {
  file: string
  position: number
  /** The first offset it concerns, when it concerns messages. */
  offset?: number
  /** A stable short name: checksum mismatch, out of sequence, bad size, cut short, torn write, gap, overlap, index, journal, recovery point, group, symlink, partitions. */
  kind: string
  detail: string
}

export interface PartitionReport {
  log: string
  partition: number
  segments: number[]
  legacySegments: number[]
  /** Intact entries. */
  messages: number
  /** The base of the first segment. */
  firstOffset: number
  /** The last offset of an intact entry (-1 when there is none). */
  lastOffset: number
  groups: Array<{ group: string, offset: number }>
  recoveryPoint: Point | null
  problems: Problem[]
  /** Things Rog leaves alone, and what it repairs on its own. */
  notes: string[]
}

export type CheckItem =
  | { type: 'partition', report: PartitionReport }
  /** Something in the data directory, or a log directory, that is no partition Rog serves. */
  | { type: 'other', file: string, problem: Problem | null, note: string }

/**
 * Verifies a data directory the way Rog reads it, without writing anything
 * (`rog check`, like kafka-dump-log --verify): every entry of every segment
 * (checksum, id in sequence, size), how segments follow on from each other,
 * every offset index entry (in order, inside the log, at an entry with the
 * id it names), the groups journal (every record's checksum, offsets within
 * the partition) and the recovery point. Files are opened read-only and never
 * through a symlink; segments are read a chunk at a time, so memory stays
 * bounded whatever the data size (an index, a journal and one entry at most).
 * Yields one report per partition, in order.
 */
export async function * verifyDataDir (dataDir: string): AsyncGenerator<CheckItem> {
  for (const entry of sorted(fs.readdirSync(dataDir, { withFileTypes: true }))) {
    const name = entry.name
    if (name === '.lock') continue
    if (entry.isSymbolicLink()) {
      yield other(name, 'a symbolic link; Rog never follows links in its data directory, left alone')
    } else if (!entry.isDirectory()) {
      yield other(name, 'not a log, left alone')
    } else if (name.endsWith(CREATING) && isValidLogName(name.slice(0, -CREATING.length))) {
      yield other(name, 'a log creation that did not finish; Rog removes it on start if it holds only its own files')
    } else if (!isValidLogName(name)) {
      yield other(name, 'not a log name Rog serves, left alone')
    } else {
      yield * verifyLog(dataDir, name)
    }
  }
}

function other (file: string, note: string, problem: Problem | null = null): CheckItem {
  return { type: 'other', file, problem, note }
}

function sorted (entries: fs.Dirent[]): fs.Dirent[] {
  return entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

async function * verifyLog (dataDir: string, log: string): AsyncGenerator<CheckItem> {
  const partitions: number[] = []
  for (const entry of sorted(fs.readdirSync(path.join(dataDir, log), { withFileTypes: true }))) {
    const file = `${log}/${entry.name}`
    if (!PARTITION_NAME.test(entry.name)) {
      yield other(file, 'not a partition, left alone')
    } else if (entry.isSymbolicLink()) {
      yield other(file, 'a symbolic link', { file, position: 0, kind: 'symlink', detail: 'a partition directory that is a symbolic link: Rog does not follow it, and does not serve this log' })
    } else if (!entry.isDirectory()) {
      yield other(file, 'not a directory, left alone')
    } else if (fs.readdirSync(path.join(dataDir, file)).length === 0) {
      yield other(file, 'an empty directory, not a partition Rog made; left alone')
    } else {
      partitions.push(Number(entry.name))
    }
  }
  partitions.sort((a, b) => a - b)
  if (partitions.length === 0) {
    yield other(log, 'holds no partition directory: not a log, left alone')
    return
  }
  const missing = partitions.findIndex((p, i) => p !== i)
  if (missing >= 0) {
    yield other(log, 'partitions missing', { file: log, position: 0, kind: 'partitions', detail: `partition ${missing} is missing (found ${partitions.join(', ')}): Rog does not serve this log` })
  }
  for (const p of partitions) yield { type: 'partition', report: await verifyPartition(dataDir, log, p) }
}

/** A partition's check: its files, segments, journal and recovery point. */
async function verifyPartition (dataDir: string, log: string, partition: number): Promise<PartitionReport> {
  const rel = `${log}/${partition}`
  const dir = path.join(dataDir, log, String(partition))
  const report: PartitionReport = { log, partition, segments: [], legacySegments: [], messages: 0, firstOffset: 0, lastOffset: -1, groups: [], recoveryPoint: null, problems: [], notes: [] }
  const bases: number[] = []
  const files = new Set<string>()
  for (const entry of sorted(fs.readdirSync(dir, { withFileTypes: true }))) {
    const name = entry.name
    const canonical = SEGMENT_NAME.exec(name)
    if (canonical === null && !OWN_FILE.test(name)) {
      report.notes.push(`${rel}/${name}: not a file of Rog's, left alone`)
    } else if (entry.isSymbolicLink()) {
      report.problems.push({ file: `${rel}/${name}`, position: 0, kind: 'symlink', detail: 'a symbolic link where Rog keeps its own file: Rog does not follow it, and does not serve this log' })
    } else if (!entry.isFile()) {
      report.notes.push(`${rel}/${name}: not a regular file, left alone`)
    } else {
      files.add(name)
      if (canonical !== null && canonical[2] === 'log') bases.push(Number(canonical[1]))
      if (name.startsWith(`${GROUPS_FILE}.damaged-`)) report.notes.push(`${rel}/${name}: a copy of a damaged journal, kept by Rog when it repaired it`)
    }
  }
  bases.sort((a, b) => a - b)
  for (const hint of hintsWithoutLog(files, bases)) report.notes.push(`${rel}/${hint.name}: a hint file of segment ${hint.base}.log, which is not here; Rog removes it on start (it holds no messages)`)
  report.recoveryPoint = readRecoveryPoint(dir, rel, files, bases, report)
  const point = report.recoveryPoint
  let next: number | null = null
  for (const [i, base] of bases.entries()) {
    const file = `${rel}/${base}.log`
    if (i > 0 && next !== null && base < next) {
      report.problems.push({ file, position: 0, offset: base, kind: 'overlap', detail: `starts inside the segment before it (which ends at offset ${next}): not part of this log, Rog leaves it alone` })
      continue
    }
    if (i > 0 && next !== null && base > next) {
      report.problems.push({ file, position: 0, offset: next, kind: 'gap', detail: `offsets ${next} to ${base - 1} are missing before this segment` })
    }
    const last = i === bases.length - 1
    // What Rog may truncate as a torn write at start (see Partition.open): after the recovery point only.
    const tornFrom = point === null ? (last ? 'tail' : null) : base < point.base ? null : base === point.base ? point.position : 0
    const segment = await verifySegment(dir, rel, base, tornFrom, files.has(`${base}.index`), report)
    if (report.segments.length === 0) report.firstOffset = base
    report.segments.push(base)
    if (segment.legacy) report.legacySegments.push(base)
    next = segment.next
  }
  if (files.has(GROUPS_FILE)) verifyJournal(dir, rel, report, next)
  else report.notes.push(`${rel}/${GROUPS_FILE}: missing; Rog starts an empty one`)
  if (files.has(PRODUCERS_FILE)) verifyProducers(dir, rel, report, next)
  return report
}

function readRecoveryPoint (dir: string, rel: string, files: Set<string>, bases: number[], report: PartitionReport): Point | null {
  const file = `${rel}/${RECOVERY_POINT_FILE}`
  if (!files.has(RECOVERY_POINT_FILE)) return null
  const buf = readWhole(path.join(dir, RECOVERY_POINT_FILE))
  if (buf.length === 0) return null
  const point = decodePoint(buf)
  if (point === null) {
    report.problems.push({ file, position: 0, kind: 'recovery point', detail: 'damaged (its size, magic or checksum is wrong): Rog ignores it and checks the last segment instead' })
    return null
  }
  const start = startingPoint(point, false, bases)
  if (start === null) {
    report.problems.push({ file, position: 0, kind: 'recovery point', detail: `names segment ${point.base}.log, which is not there: Rog ignores it` })
    return null
  }
  if (start !== point) {
    report.notes.push(`${file}: names segment ${point.base}.log, before every segment left (deleted by retention before the point moved on): nothing left is known synced, and Rog checks every segment for a torn tail`)
    return start
  }
  const size = fs.lstatSync(path.join(dir, `${point.base}.log`)).size
  if (point.position > size) {
    report.problems.push({ file, position: 0, offset: point.base, kind: 'recovery point', detail: `says ${point.position} bytes of ${point.base}.log were synced, but it holds ${size}: data known synced is missing` })
  }
  return point
}

/** A whole small file (an index, the journal, the recovery point), read-only, not through a symlink. */
function readWhole (file: string): Buffer {
  const fd = fs.openSync(file, READ_ONLY)
  try {
    return fs.readFileSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Reads `length` bytes at `position` (fewer at the end of the file). */
function readAt (fd: number, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, length, position, (err, n) => err === null ? resolve(n < length ? buf.subarray(0, n) : buf) : reject(err)))
}

/**
 * Walks one segment a chunk at a time: each entry's size, id and checksum,
 * and each index point as the walk passes its position. Past damage, the
 * walk goes on at the next intact entry, as Rog's reads do. Returns one past
 * the last offset the segment holds, or null when damage runs to its end (its
 * last offsets are then unknown), and whether it is of the legacy format.
 */
async function verifySegment (dir: string, rel: string, base: number, tornFrom: number | 'tail' | null, hasIndex: boolean, report: PartitionReport): Promise<{ next: number | null, legacy: boolean }> {
  const file = `${rel}/${base}.log`
  const fd = fs.openSync(path.join(dir, `${base}.log`), READ_ONLY)
  try {
    const fileSize = fs.fstatSync(fd).size
    const legacy = await detectLegacy(fd, fileSize)
    const index = hasIndex ? readIndex(dir, rel, base, fileSize, report) : null
    if (!hasIndex && fileSize > 0) report.notes.push(`${rel}/${base}.index: missing; Rog rebuilds it on start`)
    const damaged: Array<[number, number]> = []
    let point = 0
    /** Checks the index points up to `position` against the entry there (of offset `id`). */
    const passIndex = (position: number, id: number | null): void => {
      while (index !== null && point < index.length && index[point][1] <= position) {
        const [relative, at] = index[point]
        if (at === position && id !== null && base + relative !== id) {
          indexProblem(report, rel, base, point, `names offset ${base + relative} at position ${at}, where the entry has offset ${id}`)
        } else if (at < position && !damaged.some(([from, to]) => at >= from && at < to)) {
          indexProblem(report, rel, base, point, `names offset ${base + relative} at position ${at}, where no entry starts`)
        }
        point++
      }
    }
    let position = 0
    let expected = base
    let want = CHUNK
    while (position < fileSize) {
      const length = Math.min(want, fileSize - position)
      const buf = await readAt(fd, position, length)
      const bufView = viewOf(buf)
      let at = 0
      let bad: [string, string] | null = null
      let size = 0
      for (;;) {
        const entry = readEntryHeader(buf, at)
        if (entry === null) break
        size = entry.size
        if (entry.id !== expected) bad = ['out of sequence', `the entry has offset ${buf.readBigUInt64BE(at)} where ${expected} follows`]
        else if (!plausibleSize(entry.size)) bad = ['bad size', `the entry claims ${Number.isFinite(entry.size) ? entry.size - 16 : '2^53 or more'} bytes of content, a size Rog never writes`]
        else if (position + at + entry.size > fileSize) bad = ['cut short', `an entry of ${entry.size} bytes runs past the end of the file`]
        else if (at + entry.size > buf.length) break
        else if (!entryIsIntact(buf, at, entry.size, legacy, bufView)) bad = ['checksum mismatch', 'the entry fails its CRC-32C']
        if (bad !== null) break
        passIndex(position + at, entry.id)
        report.messages++
        report.lastOffset = entry.id
        expected++
        at += entry.size
      }
      if (bad === null) {
        if (at > 0) {
          position += at
          want = CHUNK
          continue
        }
        // Not one whole entry in the chunk: one larger than it, or less than a header left.
        if (buf.length >= 16 && size > length) {
          want = size
          continue
        }
        bad = ['cut short', buf.length < length ? 'the file is shorter than it was a moment ago' : 'less than an entry header at the end of the file']
      }
      const from = position + at
      const after = await findEntry(fd, from + 1, fileSize, expected, legacy)
      const to = after?.position ?? fileSize
      damaged.push([from, to])
      if (tornFrom === 'tail' ? after === null : tornFrom !== null && from >= tornFrom) {
        report.problems.push({ file, position: from, offset: expected, kind: 'torn write', detail: `${bad[0]} (${bad[1]}); the ${fileSize - from} bytes from here were written after the recovery point: Rog truncates them on start (offsets from ${expected} on were never known synced)` })
        passIndex(Infinity, null)
        return { next: expected, legacy }
      }
      const lost = after === null ? `offsets from ${expected} to the end of the segment are` : after.id - 1 > expected ? `offsets ${expected} to ${after.id - 1} are` : `offset ${expected} is`
      report.problems.push({ file, position: from, offset: expected, kind: bad[0], detail: `${bad[1]}; ${to - from} damaged bytes, ${lost} not served` })
      if (after === null) {
        passIndex(Infinity, null)
        return { next: null, legacy }
      }
      position = after.position
      expected = after.id
      want = CHUNK
    }
    passIndex(Infinity, null)
    return { next: expected, legacy }
  } finally {
    fs.closeSync(fd)
  }
}

function indexProblem (report: PartitionReport, rel: string, base: number, entry: number, detail: string): void {
  report.problems.push({ file: `${rel}/${base}.index`, position: entry * INDEX_ENTRY, kind: 'index', detail: `entry ${entry} ${detail}; Rog checks index points on every read and goes back to an earlier one` })
}

/** The index points of a segment, or null (with the problem reported) when Rog would rebuild the whole index. */
function readIndex (dir: string, rel: string, base: number, logSize: number, report: PartitionReport): Array<[number, number]> | null {
  const file = `${rel}/${base}.index`
  const buf = readWhole(path.join(dir, `${base}.index`))
  const whole = (why: string): null => {
    report.problems.push({ file, position: 0, kind: 'index', detail: `${why}; Rog rebuilds it from the log on start` })
    return null
  }
  if (buf.length % INDEX_ENTRY !== 0) return whole(`${buf.length} bytes, not a whole number of ${INDEX_ENTRY}-byte entries`)
  const points: Array<[number, number]> = []
  for (let at = 0; at < buf.length; at += INDEX_ENTRY) {
    const point: [number, number] = [buf.readUInt32BE(at), buf.readUInt32BE(at + 4)]
    const previous = points[points.length - 1]
    if (previous !== undefined && (point[0] <= previous[0] || point[1] <= previous[1])) return whole(`entry ${at / INDEX_ENTRY} is out of order`)
    if (point[1] >= logSize) return whole(`entry ${at / INDEX_ENTRY} points past the end of the log`)
    points.push(point)
  }
  return points
}

/** Checks the producers journal (idempotent publishing); `end` is the end of the partition, when known. */
function verifyProducers (dir: string, rel: string, report: PartitionReport, end: number | null): void {
  const file = `${rel}/${PRODUCERS_FILE}`
  const buf = readWhole(path.join(dir, PRODUCERS_FILE))
  const { damage, tail, past } = scanProducerJournal(buf, end ?? Infinity, () => {})
  const lost = 'the batches they described are forgotten: a producer\'s retry of one of them would be stored again'
  for (const d of damage) {
    report.problems.push({ file, position: d.from, kind: 'journal', detail: `${d.to - d.from} bytes of damaged records: ${lost}; Rog keeps a copy of the journal and rewrites it on start` })
  }
  if (tail > 0) {
    report.problems.push({ file, position: buf.length - tail, kind: 'journal', detail: `${tail} bytes of an incomplete last record (a write cut short): Rog drops it on start` })
  }
  if (past > 0) report.notes.push(`${file}: ${past} record${past === 1 ? '' : 's'} of batches past the end of the partition (never written whole); Rog drops them on start`)
}

/** Checks the groups journal; `end` is the end of the partition, when known. */
function verifyJournal (dir: string, rel: string, report: PartitionReport, end: number | null): void {
  const file = `${rel}/${GROUPS_FILE}`
  const offsets = new Map<string, number>()
  const buf = readWhole(path.join(dir, GROUPS_FILE))
  const { damage, tail } = parseJournal(buf, offsets)
  for (const d of damage) {
    report.problems.push({ file, position: d.from, kind: 'journal', detail: `${d.to - d.from} bytes of damaged records: the group offsets they held are lost (each of those groups falls back to its record before)` })
  }
  if (tail > 0) {
    report.problems.push({ file, position: buf.length - tail, kind: 'journal', detail: `${tail} bytes of an incomplete or damaged last record: the group offset it held is lost` })
  }
  report.groups = [...offsets].map(([group, offset]) => ({ group, offset }))
  for (const g of report.groups) {
    if (end !== null && g.offset > end) {
      report.problems.push({ file, position: 0, kind: 'group', detail: `group ${JSON.stringify(g.group)} is at offset ${g.offset}, past the end of the partition (${end}): Rog moves it back` })
    }
  }
}

import * as fs from 'node:fs'
import * as path from 'node:path'
import { RogError } from '../errors'
import { MAX_ENTRY_BYTES, entrySize, stamp, writeEntry } from './entry'
import { nodeFileIo, type FileIo } from './file-io'
import { GROUPS_FILE, encodeRecord } from './group-offsets'
import { isValidLogName } from './log-name'

/**
 * Imports the data directory ($ROG_HOME) of the original Rust Rog server
 * (eaneto/rog) into Rog's layout. The original keeps, per log:
 *
 *     <log>/<partition>/<first id>.log   segments, a new one past 1 MiB
 *     <log>/<partition>/id               last id written: u64 LE, or empty before the first
 *     <log>/<partition>/<group>.offset   the group's next offset: u64 LE, or empty for 0
 *
 * A segment is a sequence of entries, ids from 0 with no gap:
 *
 * | field      | size  | meaning                                               |
 * |------------|-------|-------------------------------------------------------|
 * | id         | u64 BE| the message id (offset)                               |
 * | entry size | u64 BE| bytes that follow: 8 + data size + 12                 |
 * | data size  | u64 LE| bincode `Entry.data`: its length...                   |
 * | data       | n     | ...and the message bytes                              |
 * | secs       | u64 LE| bincode `Entry.timestamp` (SystemTime): seconds and   |
 * | nanos      | u32 LE| nanoseconds since the epoch, at publish               |
 *
 * A log is in the original layout when `<log>/0/id` is a file: Rog never
 * writes a file named `id`, so a Rog data directory costs one failed stat per
 * log. Rog's segments share the id/size framing but not the content, so Rog
 * must never open an original log as its own (its recovery would truncate it).
 *
 * Every original log is read and checked before anything is written; a file,
 * directory or entry the original would not have written stops the import
 * with ORIGINAL_LAYOUT naming it, and nothing changes. The one damage taken
 * as the original's own is a tail cut short at the end of a segment (a crash
 * mid-write): it is skipped with a warning.
 *
 * Each log is rebuilt in `<log>~import` (`0.log` holding every message with
 * its id and timestamp, an empty `0.index` that Rog rebuilds, the
 * `groups.offsets` journal), synced, then swapped in by two renames, each
 * synced: `<log>` -> `<log>~original-backup`, `<log>~import` -> `<log>`.
 * `~` is outside Rog's log names, so Rog serves neither. A stop at any point
 * leaves either the original in place (the build starts again) or the backup
 * and a complete build (the second rename is done on the next start).
 */
export interface ImportedLog {
  log: string
  dir: string
  /** Where the original files now are. */
  backup: string
  partitions: number
  messages: number
  groups: number
}

export interface ImportReport {
  imported: ImportedLog[]
  /** Logs whose import a stop interrupted after the first rename; finished by this call. */
  finished: string[]
  /** Original logs left where they are, not served by Rog, and why. */
  skipped: Array<{ dir: string, reason: string }>
}

export const IMPORTING = '~import'
export const BACKUP = '~original-backup'

const SEGMENT = /^(0|[1-9][0-9]*)\.log$/
const PARTITION = /^(0|[1-9][0-9]*)$/
const GROUP_SUFFIX = '.offset'
const MAX_PARTITIONS = 255

interface OriginalPartition {
  dir: string
  idFile: string
  /** The `id` file's value; null when it is empty or missing. */
  lastId: number | null
  segments: Array<{ base: number, file: string }>
  groups: Array<{ group: string, offset: number, file: string }>
}

interface OriginalLog { name: string, dir: string, partitions: OriginalPartition[] }

interface OriginalEntry { id: number, timestampMs: number, message: Buffer }

export async function importOriginalLayout (dataDir: string, log: (line: string) => void, io: FileIo = nodeFileIo): Promise<ImportReport> {
  const report: ImportReport = { imported: [], finished: [], skipped: [] }
  let names: string[]
  try {
    names = fs.readdirSync(dataDir).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return report
    throw RogError.storage(`reading ${dataDir}`, err)
  }
  const originals: string[] = []
  const builds: string[] = []
  for (const name of names) {
    const dir = path.join(dataDir, name)
    if (name.endsWith(BACKUP)) continue
    if (isOriginalLog(dir)) {
      if (isValidLogName(name)) originals.push(name)
      else report.skipped.push({ dir, reason: `"${name}" is not a valid Rog log name (1-249 bytes of A-Z a-z 0-9 . _ -)` })
    } else if (name.endsWith(IMPORTING) && fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() === true) {
      builds.push(name)
    }
  }
  for (const { dir, reason } of report.skipped) {
    log(`${dir}: a log of the original Rog server, left as it is and not served: ${reason}. Rename the directory to a valid name and restart to import it`)
  }
  try {
    const logs = originals.map((name) => readOriginalLog(dataDir, name))
    for (const name of builds) finishBuild(dataDir, name, originals, log, report)
    for (const original of logs) report.imported.push(await importLog(dataDir, original, log, io))
  } catch (err) {
    throw err instanceof RogError ? err : RogError.storage('importing the original Rog data', err)
  }
  return report
}

function isOriginalLog (dir: string): boolean {
  try {
    return fs.statSync(path.join(dir, '0', 'id')).isFile()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return false
    throw RogError.storage(`looking at ${dir}`, err)
  }
}

/** A `<log>~import` left by a stop: finished when its original is already in the backup. */
function finishBuild (dataDir: string, name: string, originals: string[], log: (line: string) => void, report: ImportReport): void {
  const logName = name.slice(0, -IMPORTING.length)
  const tmp = path.join(dataDir, name)
  const dir = path.join(dataDir, logName)
  if (originals.includes(logName)) return
  if (!fs.existsSync(dir) && fs.existsSync(dir + BACKUP) && isValidLogName(logName)) {
    fs.renameSync(tmp, dir)
    syncDir(dataDir)
    log(`${dir}: finished its import from the original Rog server, which a stop interrupted; the original files are in ${dir + BACKUP}`)
    report.finished.push(logName)
    return
  }
  log(`${tmp}: left as it is: not an import this server can finish (there is no original log ${dir}, or no ${dir + BACKUP})`)
}

function readOriginalLog (dataDir: string, name: string): OriginalLog {
  const dir = path.join(dataDir, name)
  if (fs.existsSync(dir + BACKUP)) throw RogError.originalLayout(dir, `${dir + BACKUP} exists already, from an earlier import`)
  const entries = fs.readdirSync(dir, { withFileTypes: true })
  for (const entry of entries) {
    if (!entry.isDirectory() || !PARTITION.test(entry.name) || Number(entry.name) >= entries.length) {
      throw RogError.originalLayout(path.join(dir, entry.name), `not one of the partition directories 0 to ${entries.length - 1}`)
    }
  }
  if (entries.length > MAX_PARTITIONS) throw RogError.originalLayout(dir, `${entries.length} partitions, more than ${MAX_PARTITIONS}`)
  const partitions = entries.map((_, p) => readPartition(path.join(dir, String(p))))
  // Decoding every entry here is what stops a damaged log before anything is written.
  for (const partition of partitions) for (const _ of decodePartition(partition)) continue
  return { name, dir, partitions }
}

function readPartition (dir: string): OriginalPartition {
  const partition: OriginalPartition = { dir, idFile: path.join(dir, 'id'), lastId: null, segments: [], groups: [] }
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (!entry.isFile()) throw RogError.originalLayout(file, 'not a regular file')
    if (entry.name === 'id') {
      partition.lastId = readCounter(file)
    } else if (entry.name.endsWith(GROUP_SUFFIX)) {
      partition.groups.push({ group: entry.name.slice(0, -GROUP_SUFFIX.length), offset: readCounter(file) ?? 0, file })
    } else if (SEGMENT.test(entry.name) && Number.isSafeInteger(Number(entry.name.slice(0, -4)))) {
      partition.segments.push({ base: Number(entry.name.slice(0, -4)), file })
    } else {
      throw RogError.originalLayout(file, 'a file the original server does not write')
    }
  }
  partition.segments.sort((a, b) => a.base - b.base)
  partition.groups.sort((a, b) => a.group < b.group ? -1 : a.group > b.group ? 1 : 0)
  return partition
}

/** A bincode usize as the original writes it: 8 bytes LE, or an empty file (never written). */
function readCounter (file: string): number | null {
  const buf = fs.readFileSync(file)
  if (buf.length === 0) return null
  if (buf.length !== 8) throw RogError.originalLayout(file, `${buf.length} bytes, not an 8-byte counter`)
  const value = buf.readBigUInt64LE(0)
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw RogError.originalLayout(file, `value ${value} is out of range`)
  return Number(value)
}

/** Each segment's entries, checked; `torn` is the bytes of a cut-short tail. */
function * decodePartition (partition: OriginalPartition): Generator<{ file: string, entries: OriginalEntry[], torn: number }> {
  let expected = 0
  for (const { base, file } of partition.segments) {
    if (base !== expected) throw RogError.originalLayout(file, `the segment starts at id ${base}, but the ids before it end at ${expected}`)
    const { entries, torn } = decodeSegment(file, fs.readFileSync(file), expected)
    expected += entries.length
    yield { file, entries, torn }
  }
}

function decodeSegment (file: string, buf: Buffer, expected: number): { entries: OriginalEntry[], torn: number } {
  const entries: OriginalEntry[] = []
  let at = 0
  // A stop mid-write leaves a prefix of the entry, or zeros where the file grew but the data did not land.
  const damage = (why: string): void => {
    if (!buf.subarray(at).every((b) => b === 0)) throw RogError.originalLayout(file, `the entry at byte ${at} ${why}`)
  }
  for (; at < buf.length; expected++) {
    const rest = buf.length - at
    if (rest >= 8 && buf.readBigUInt64BE(at) !== BigInt(expected)) {
      damage(`has id ${buf.readBigUInt64BE(at)}, not ${expected}`)
      break
    }
    if (rest < 16 || buf.readBigUInt64BE(at + 8) > BigInt(rest - 16)) break
    const size = Number(buf.readBigUInt64BE(at + 8))
    const end = at + 16 + size
    if (size < 20 || buf.readBigUInt64LE(at + 16) !== BigInt(size - 20)) {
      damage(`(id ${expected}) does not hold a bincode message and timestamp`)
      break
    }
    const nanos = buf.readUInt32LE(end - 4)
    const ms = buf.readBigUInt64LE(end - 12) * 1000n + BigInt(Math.floor(nanos / 1e6))
    if (nanos >= 1e9 || ms > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw RogError.originalLayout(file, `the entry at byte ${at} (id ${expected}) has an invalid timestamp`)
    }
    const message = buf.subarray(at + 24, end - 12)
    if (entrySize(message.length) > MAX_ENTRY_BYTES) {
      throw RogError.originalLayout(file, `message ${expected} of ${message.length} bytes is larger than a Rog segment entry may be`)
    }
    entries.push({ id: expected, timestampMs: Number(ms), message })
    at = end
  }
  return { entries, torn: buf.length - at }
}

async function importLog (dataDir: string, original: OriginalLog, log: (line: string) => void, io: FileIo): Promise<ImportedLog> {
  const { name, dir, partitions } = original
  const tmp = dir + IMPORTING
  const backup = dir + BACKUP
  if (fs.existsSync(tmp)) {
    log(`${tmp}: removing an import that did not finish; starting it again`)
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  fs.mkdirSync(tmp)
  let messages = 0
  let groups = 0
  for (const [p, partition] of partitions.entries()) {
    const pdir = path.join(tmp, String(p))
    fs.mkdirSync(pdir)
    const count = await writeSegment(path.join(pdir, '0.log'), partition, log, io)
    fs.closeSync(fs.openSync(path.join(pdir, '0.index'), 'w'))
    const records = partition.groups.map(({ group, offset }) => encodeRecord(group, offset))
    await writeFile(path.join(pdir, GROUPS_FILE), records, io)
    syncDir(pdir)
    if (count === 0 ? partition.lastId !== null : partition.lastId !== count - 1) {
      log(`${partition.idFile}: says ${partition.lastId === null ? 'no message was written' : `the last message written is ${partition.lastId}`}, but the segments hold ${count}; imported what the segments hold`)
    }
    for (const { group, offset, file } of partition.groups) {
      if (offset > count) log(`${file}: group "${group}" is at offset ${offset}, past the end of the partition (${count}); Rog moves it back to ${count}`)
    }
    messages += count
    groups += partition.groups.length
  }
  syncDir(tmp)
  syncDir(dataDir)
  fs.renameSync(dir, backup)
  syncDir(dataDir)
  fs.renameSync(tmp, dir)
  syncDir(dataDir)
  log(`${dir}: imported from the original Rog server (partitions: ${partitions.length}, messages: ${messages}, group offsets: ${groups}); its original files are kept in ${backup}, which Rog ignores: delete it once you will not go back`)
  return { log: name, dir, backup, partitions: partitions.length, messages, groups }
}

/** Writes every message of the partition, keeping ids and timestamps; returns how many. */
async function writeSegment (file: string, partition: OriginalPartition, log: (line: string) => void, io: FileIo): Promise<number> {
  const fd = fs.openSync(file, 'w')
  try {
    let position = 0
    let count = 0
    for (const { file: original, entries, torn } of decodePartition(partition)) {
      if (torn > 0) log(`${original}: skipped its last ${torn} bytes, an entry cut short (the original server stopped while writing it); the backup keeps them`)
      if (entries.length === 0) continue
      const buf = Buffer.allocUnsafe(entries.reduce((n, e) => n + entrySize(e.message.length), 0))
      let at = 0
      for (const e of entries) at = writeEntry(buf, at, e.id, stamp(e.timestampMs), e.message)
      io.writev(fd, [buf], position)
      position += buf.length
      count += entries.length
    }
    await fdatasync(io, fd)
    return count
  } finally {
    fs.closeSync(fd)
  }
}

async function writeFile (file: string, buffers: Buffer[], io: FileIo): Promise<void> {
  const fd = fs.openSync(file, 'w')
  try {
    io.writev(fd, buffers, 0)
    await fdatasync(io, fd)
  } finally {
    fs.closeSync(fd)
  }
}

async function fdatasync (io: FileIo, fd: number): Promise<void> {
  await new Promise<void>((resolve, reject) => io.fdatasync(fd, (err) => err === null ? resolve() : reject(err)))
}

function syncDir (dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
}

import * as fs from 'node:fs'
import * as path from 'node:path'
import { crc32c } from '../util/crc32c'
import { readU64, writeU32, writeU64 } from '../util/u64'
import { DataFile, type FilePool } from './data-file'
import { CREATE_NEW } from './file-io'
import type { Logger } from './segment'

export const GROUPS_FILE = 'groups.offsets'

/**
 * Committed offsets of every consumer group of one partition, in one
 * append-only journal `groups.offsets` (no file per group; group names never
 * become file names). Each update appends one record (updates of a group
 * whose record still waits for a write batch share it: QueuedGroupRecords);
 * the last record of a group wins:
 *
 * | field      | size       | meaning                                  |
 * |------------|------------|------------------------------------------|
 * | crc32c     | u32        | CRC-32C of the fields after it           |
 * | group size | u16        | bytes in the group name                  |
 * | group      | group size | the group name, UTF-8                    |
 * | offset     | u64        | the group's committed offset; all ones:  |
 * |            |            | the group was deleted                    |
 *
 * A record is written whole in one write. On load, a record cut short or
 * failing its checksum is skipped, and loading goes on at the next position
 * where an intact record starts, so damage loses only the records it hits.
 * Damage before the end of the journal is kept, in a copy named
 * `groups.offsets.damaged-<time>`, before the journal is rewritten.
 *
 * Two views: `get` is what is persisted (what reads and describe see),
 * `pending` includes records queued and not yet written (what the next ack
 * builds on). A failed write makes `rewind` drop the pending view.
 *
 * Compaction rewrites the journal as one record per group (a temporary file,
 * synced, renamed over, directory synced) once it has grown past
 * `compactBytes` and four times its live size. The partition's writer runs it
 * between batches, when no write or sync is in flight, so it happens under
 * any load: the file stays under `max(compactBytes, 4 x live)` plus one batch.
 */
export const DEFAULT_COMPACT_BYTES = 1024 * 1024

export class GroupOffsets {
  readonly file: DataFile
  private readonly committed: Map<string, number>
  private latest: Map<string, number>
  private readonly compactBytes: number
  private readonly log: Logger
  private compactAt: number
  /** Each committing group's record up to its offset, and the CRC of that much: a commit encodes and checksums only the offset. */
  private readonly prefixes = new Map<string, RecordPrefix>()

  private constructor (file: DataFile, offsets: Map<string, number>, compactBytes: number, log: Logger) {
    this.file = file
    this.committed = offsets
    this.latest = new Map(offsets)
    this.compactBytes = compactBytes
    this.log = log
    this.compactAt = this.bound()
  }

  /** An empty journal for a new partition. */
  static init (dir: string, pool: FilePool): void {
    pool.io.close(pool.io.open(path.join(dir, GROUPS_FILE), CREATE_NEW))
  }

  static open (dir: string, pool: FilePool, log: Logger, compactBytes = DEFAULT_COMPACT_BYTES): GroupOffsets {
    const file = path.join(dir, GROUPS_FILE)
    const offsets = new Map<string, number>()
    const stat = fs.lstatSync(file, { throwIfNoEntry: false })
    if (stat === undefined) GroupOffsets.init(dir, pool)
    const buf = stat === undefined ? Buffer.alloc(0) : fs.readFileSync(file)
    const { damage, tail } = parseJournal(buf, offsets)
    const journal = new GroupOffsets(new DataFile(pool, file, buf.length, { durable: true }), offsets, compactBytes, log)
    if (tail > 0) log(`${file}: ${tail} bytes of an incomplete record at the end (a write cut short), dropped at the next compaction`)
    if (damage.length > 0) {
      const copy = `${file}.damaged-${Date.now()}`
      const where = damage.map((d) => `${d.to - d.from} bytes at ${d.from}`).join(', ')
      try {
        fs.copyFileSync(file, copy, fs.constants.COPYFILE_EXCL)
        log(`${file}: damaged records (${where}) skipped; the journal as found is kept in ${copy}`)
        journal.compact()
      } catch (err) {
        log(`${file}: damaged records (${where}) skipped; could not keep a copy (${(err as Error).message}), so the journal is left as it is`)
      }
    } else if (journal.file.size > journal.compactAt) {
      journal.compact()
    }
    return journal
  }

  /** The persisted committed offset of `group` (0 when it has none). */
  get (group: string): number {
    return this.committed.get(group) ?? 0
  }

  /** The offset `group` will have once every queued update is written. */
  pending (group: string): number {
    return this.latest.get(group) ?? 0
  }

  /** Queues an update; returns the record to append. Call `applied` when it is written, `rewind` if it failed. */
  set (group: string, offset: number): Buffer {
    this.latest.set(group, offset)
    let prefix = this.prefixes.get(group)
    if (prefix === undefined) {
      prefix = recordPrefix(group)
      if (prefix.bytes.length <= PREFIX_CACHE_BYTES) {
        if (this.prefixes.size >= PREFIX_CACHE_GROUPS) this.prefixes.clear()
        this.prefixes.set(group, prefix)
      }
    }
    return recordOf(prefix, offset)
  }

  /** Rewrites `record`, one `set` returned for `group` and not yet written, to `offset`: the record `set(group, offset)` would return, in its place. */
  reset (record: Buffer, group: string, offset: number): void {
    this.latest.set(group, offset)
    const at = record.length - 8
    writeU64(record, offset, at)
    const prefix = this.prefixes.get(group)
    writeU32(record, prefix === undefined ? crc32c(record, 4) : crc32c(record, at, at + 8, prefix.crc), 0)
  }

  applied (group: string, offset: number): void {
    this.committed.set(group, offset)
  }

  has (group: string): boolean {
    return this.committed.has(group)
  }

  /** Queues the deletion of a group; returns its record (a tombstone). Call `removed` once it is written. */
  remove (group: string): Buffer {
    this.latest.delete(group)
    const record = encodeRecord(group, 0)
    record.fill(0xff, record.length - 8)
    record.writeUInt32BE(crc32c(record, 4), 0)
    return record
  }

  removed (group: string): void {
    this.committed.delete(group)
  }

  /** Queued updates failed: the pending view falls back to what is persisted. */
  rewind (): void {
    this.latest = new Map(this.committed)
  }

  entries (): Array<{ group: string, offset: number }> {
    return [...this.committed].map(([group, offset]) => ({ group, offset }))
  }

  /** Pulls every offset down to at most `end` (after a torn tail was truncated in recovery); returns the updates. */
  clamp (end: number): Array<{ group: string, offset: number, record: Buffer }> {
    const updates = []
    for (const [group, offset] of this.committed) {
      if (offset > end) updates.push({ group, offset: end, record: this.set(group, end) })
    }
    return updates
  }

  /** Compacts when the journal has outgrown its bound. Only while no write or sync of it is in flight. */
  compactIfDue (): void {
    if (this.file.size > this.compactAt) this.compact()
  }

  private bound (): number {
    let live = 0
    for (const group of this.committed.keys()) live += RECORD_OVERHEAD + Buffer.byteLength(group)
    return Math.max(this.compactBytes, 4 * live)
  }

  private compact (): void {
    const compacted = Buffer.concat([...this.committed].map(([group, offset]) => encodeRecord(group, offset)))
    try {
      this.file.replaceContents(compacted)
    } catch (err) {
      this.log(`${this.file.path}: compaction failed, the journal keeps growing: ${(err as Error).message}`, `compact ${this.file.path}`)
    }
    this.compactAt = this.bound()
  }

  close (): void {
    this.file.closeFd()
  }
}

const RECORD_OVERHEAD = 4 + 2 + 8
/** The cache of record prefixes: at most this many groups, of names short enough (about 60 KB a partition at most). */
const PREFIX_CACHE_GROUPS = 256
const PREFIX_CACHE_BYTES = 2 + 128

interface RecordPrefix { bytes: Buffer, crc: number }

/** A record's group size and group fields, and their CRC: what every record of the group starts with after its crc32c. */
function recordPrefix (group: string): RecordPrefix {
  const size = Buffer.byteLength(group)
  const bytes = Buffer.alloc(2 + size)
  bytes.writeUInt16BE(size, 0)
  bytes.write(group, 2)
  return { bytes, crc: crc32c(bytes) }
}

/** The record of `prefix`'s group at `offset`: its CRC continues the prefix's over the offset. */
function recordOf (prefix: RecordPrefix, offset: number): Buffer {
  const at = 4 + prefix.bytes.length
  const buf = Buffer.allocUnsafe(at + 8)
  buf.set(prefix.bytes, 4)
  writeU64(buf, offset, at)
  writeU32(buf, crc32c(buf, at, at + 8, prefix.crc), 0)
  return buf
}

export function encodeRecord (group: string, offset: number): Buffer {
  return recordOf(recordPrefix(group), offset)
}

/** The end of the intact record at `at`, or -1. */
function recordEnd (buf: Buffer, at: number): number {
  if (buf.length - at < RECORD_OVERHEAD) return -1
  const end = at + RECORD_OVERHEAD + buf.readUInt16BE(at + 4)
  if (end > buf.length || crc32c(buf, at + 4, end) !== buf.readUInt32BE(at)) return -1
  return end
}

/** Loads every intact record; returns the damaged ranges before the end, and the bytes of a torn last record. */
export function parseJournal (buf: Buffer, into: Map<string, number>): { damage: Array<{ from: number, to: number }>, tail: number } {
  const damage: Array<{ from: number, to: number }> = []
  let at = 0
  while (at < buf.length) {
    const end = recordEnd(buf, at)
    if (end >= 0) {
      const size = buf.readUInt16BE(at + 4)
      const group = buf.toString('utf8', at + 6, at + 6 + size)
      if (buf.readUInt32BE(at + 6 + size) === 0xffffffff && buf.readUInt32BE(at + 10 + size) === 0xffffffff) into.delete(group)
      else into.set(group, readU64(buf, at + 6 + size))
      at = end
      continue
    }
    let next = at + 1
    while (next < buf.length && recordEnd(buf, next) < 0) next++
    if (next >= buf.length) return { damage, tail: buf.length - at }
    damage.push({ from: at, to: next })
    at = next
  }
  return { damage, tail: 0 }
}

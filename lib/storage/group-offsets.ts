import * as fs from 'node:fs'
import * as path from 'node:path'
import { crc32c } from '@node-rs/crc32'
import { readU64, writeU64 } from '../protocol/u64'
import type { Logger } from './segment'
import type { AppendTarget } from './segment-writer'

export const GROUPS_FILE = 'groups.offsets'

/**
 * Committed offsets of every consumer group of one partition, in one
 * append-only journal `groups.offsets` (no file per group; group names never
 * become file names). Each update appends one record; the last record of a
 * group wins:
 *
 * | field      | size       | meaning                                  |
 * |------------|------------|------------------------------------------|
 * | crc32c     | u32        | CRC-32C of the fields after it           |
 * | group size | u16        | bytes in the group name                  |
 * | group      | group size | the group name, UTF-8                    |
 * | offset     | u64        | the group's committed offset             |
 *
 * A record is written whole in one write, so an update is atomic: a record
 * cut short or failing its checksum (a crash mid-write) ends the journal and
 * is truncated on load. The journal is compacted to one record per group
 * (written to a temporary file, synced, renamed over) on open, and whenever it
 * has grown past `compactBytes` and four times its live size while none of its
 * appends is queued or in flight, so no write or sync holds the old file.
 */
export const DEFAULT_COMPACT_BYTES = 1024 * 1024

export class GroupOffsets {
  readonly file: AppendTarget
  private readonly path: string
  private readonly offsets: Map<string, number>
  private readonly compactBytes: number
  private readonly log: Logger
  private compactAt = 0
  /** Records handed out by `set` whose append has not finished. */
  private pending = 0

  private constructor (file: string, offsets: Map<string, number>, compactBytes: number, log: Logger) {
    this.path = file
    this.offsets = offsets
    this.compactBytes = compactBytes
    this.log = log
    this.file = { fd: -1, size: 0, durable: true }
    this.compact()
  }

  static open (dir: string, log: Logger, compactBytes = DEFAULT_COMPACT_BYTES): GroupOffsets {
    const file = path.join(dir, GROUPS_FILE)
    const offsets = new Map<string, number>()
    if (fs.existsSync(file)) {
      const buf = fs.readFileSync(file)
      const end = parseJournal(buf, offsets)
      if (end < buf.length) log(`${file}: dropped ${buf.length - end} bytes of an incomplete or damaged record`)
    }
    return new GroupOffsets(file, offsets, compactBytes, log)
  }

  get (group: string): number {
    return this.offsets.get(group) ?? 0
  }

  /** Sets the value in memory; returns the record to append for it. Call `settled()` when that append is done. */
  set (group: string, offset: number): Buffer {
    const record = encodeRecord(group, offset)
    this.offsets.set(group, offset)
    this.pending++
    return record
  }

  /** An append of a record from `set` has finished (written or failed). */
  settled (): void {
    if (--this.pending === 0 && this.file.size > this.compactAt) this.compact()
  }

  private compact (): void {
    const compacted = GroupOffsets.encodeAll(this.offsets)
    const tmp = `${this.path}.tmp`
    try {
      const fd = fs.openSync(tmp, 'w+')
      fs.writeSync(fd, compacted, 0, compacted.length, 0)
      fs.fsyncSync(fd)
      fs.renameSync(tmp, this.path)
      if (this.file.fd >= 0) fs.closeSync(this.file.fd)
      this.file.fd = fd
      this.file.size = compacted.length
      this.file.dirty = false
    } catch (err) {
      if (this.file.fd < 0) throw err
      this.log(`${this.path}: compaction failed, the journal keeps growing: ${(err as Error).message}`)
    }
    this.compactAt = Math.max(this.compactBytes, 4 * compacted.length)
  }

  /** Undoes a `set` whose record failed to persist, unless a later update came after it. */
  revert (group: string, attempted: number, previous: number): void {
    if (this.offsets.get(group) === attempted) this.offsets.set(group, previous)
  }

  entries (): Array<{ group: string, offset: number }> {
    return [...this.offsets].map(([group, offset]) => ({ group, offset }))
  }

  /** Pulls every offset down to at most `end` (after a log was truncated in recovery); returns what changed. */
  clamp (end: number): Buffer[] {
    const records: Buffer[] = []
    for (const [group, offset] of this.offsets) {
      if (offset > end) records.push(this.set(group, end))
    }
    return records
  }

  close (): void {
    fs.closeSync(this.file.fd)
  }

  private static encodeAll (offsets: Map<string, number>): Buffer {
    return Buffer.concat([...offsets].map(([group, offset]) => encodeRecord(group, offset)))
  }
}

function encodeRecord (group: string, offset: number): Buffer {
  const size = Buffer.byteLength(group)
  const buf = Buffer.allocUnsafe(4 + 2 + size + 8)
  buf.writeUInt16BE(size, 4)
  buf.write(group, 6)
  writeU64(buf, offset, 6 + size)
  buf.writeUInt32BE(crc32c(buf.subarray(4)), 0)
  return buf
}

function parseJournal (buf: Buffer, into: Map<string, number>): number {
  let at = 0
  while (buf.length - at >= 6) {
    const size = buf.readUInt16BE(at + 4)
    const end = at + 6 + size + 8
    if (end > buf.length) break
    if (crc32c(buf.subarray(at + 4, end)) !== buf.readUInt32BE(at)) break
    into.set(buf.toString('utf8', at + 6, at + 6 + size), readU64(buf, at + 6 + size))
    at = end
  }
  return at
}

import * as fs from 'node:fs'
import * as path from 'node:path'
import { crc32c } from '../util/crc32c'
import { readU64, writeU64 } from '../util/u64'
import { CREATE_NEW, OPEN_EXISTING, type FileIo } from './file-io'
import type { Logger } from './segment'

export const RECOVERY_POINT_FILE = 'recovery-point'
const MAGIC = 0x52475250 // "RGRP"
const SIZE = 24

export interface Point { base: number, position: number }

/** The bytes of a recovery-point file holding `point`. */
export function encodePoint (point: Point): Buffer {
  const buf = Buffer.allocUnsafe(SIZE)
  buf.writeUInt32BE(MAGIC, 0)
  writeU64(buf, point.base, 4)
  writeU64(buf, point.position, 12)
  buf.writeUInt32BE(crc32c(buf, 0, 20), 20)
  return buf
}

/**
 * The point recovery works from, given the one the file holds (`value`),
 * whether the file says nothing was synced yet, and the segments found: the
 * point itself when its segment is there; the start of the first segment
 * when nothing is synced yet or the point names a segment before every one
 * left (retention deleted it before the point moved on), since then nothing
 * left is known synced; otherwise none.
 */
export function startingPoint (value: Point | null, nothingSynced: boolean, bases: readonly number[]): Point | null {
  if (value !== null && bases.includes(value.base)) return value
  if (bases.length > 0 && (nothingSynced || (value !== null && value.base < bases[0]))) return { base: bases[0], position: 0 }
  return null
}

/** The point a recovery-point file holds, or null when it is damaged. */
export function decodePoint (buf: Buffer): Point | null {
  if (buf.length !== SIZE || buf.readUInt32BE(0) !== MAGIC || crc32c(buf, 0, 20) !== buf.readUInt32BE(20)) return null
  return { base: readU64(buf, 4), position: readU64(buf, 12) }
}

/**
 * A partition's recovery point (Kafka's recovery-point checkpoint): every
 * segment before `base` and the first `position` bytes of segment `base`
 * are known synced. Only what lies after it can have been torn by a crash,
 * so only that may be truncated at start. File `recovery-point`, rewritten
 * in place (one sector, so a write lands whole or fails its checksum):
 *
 * | field    | size | meaning                                    |
 * |----------|------|--------------------------------------------|
 * | magic    | u32  | 0x52475250 ("RGRP")                        |
 * | base     | u64  | base id of the segment                     |
 * | position | u64  | bytes of that segment known synced         |
 * | crc32c   | u32  | CRC-32C of the fields before it            |
 *
 * It is written after each sync, without a sync of its own (a crash may
 * leave an older point, which only widens what recovery checks), and synced
 * at close. The file is made empty with its partition: empty, it says that
 * nothing is known synced yet (`nothingSynced`), so all of the partition may
 * be a torn write. A missing or damaged file means no point is known.
 */
export class RecoveryPoint {
  private readonly file: string
  private readonly io: FileIo
  private readonly log: Logger
  /** The file is as its partition was made: empty. */
  readonly nothingSynced: boolean
  private point: Point | null
  private failed = false

  private constructor (file: string, io: FileIo, log: Logger, point: Point | null, nothingSynced: boolean) {
    this.file = file
    this.io = io
    this.log = log
    this.point = point
    this.nothingSynced = nothingSynced
  }

  /** The file of a new partition, empty until its first sync. */
  static init (dir: string, io: FileIo): void {
    io.close(io.open(path.join(dir, RECOVERY_POINT_FILE), CREATE_NEW))
  }

  static read (dir: string, io: FileIo, log: Logger): RecoveryPoint {
    const file = path.join(dir, RECOVERY_POINT_FILE)
    let point: Point | null = null
    const stat = fs.lstatSync(file, { throwIfNoEntry: false })
    if (stat?.isFile() === true && stat.size > 0) {
      point = decodePoint(fs.readFileSync(file))
      if (point === null) log(`${file}: damaged, ignored (recovery checks the last segment instead)`)
    }
    return new RecoveryPoint(file, io, log, point, stat?.isFile() === true && stat.size === 0)
  }

  get value (): Point | null {
    return this.point
  }

  /** Moves the point forward (never back). */
  advance (point: Point): void {
    const p = this.point
    if (p !== null && (point.base < p.base || (point.base === p.base && point.position <= p.position))) return
    this.point = point
    this.write(false)
  }

  /** Moves the point back (the log was truncated before it by replication) and syncs it. */
  moveBack (point: Point): void {
    if (this.point !== null && (this.point.base < point.base || (this.point.base === point.base && this.point.position <= point.position))) return
    this.point = point
    this.write(true)
  }

  /** Writes the point and syncs it (at close, once everything before it is synced). */
  sync (): void {
    this.write(true)
  }

  private write (sync: boolean): void {
    if (this.point === null) return
    const buf = encodePoint(this.point)
    let fd = -1
    try {
      const exists = fs.lstatSync(this.file, { throwIfNoEntry: false }) !== undefined
      fd = this.io.open(this.file, exists ? OPEN_EXISTING : CREATE_NEW)
      this.io.writev(fd, [buf], 0)
      if (sync) this.io.fsyncPath(this.file)
      this.failed = false
    } catch (err) {
      if (!this.failed) this.log(`${this.file}: could not write the recovery point: ${(err as Error).message}`)
      this.failed = true
    } finally {
      if (fd >= 0) this.io.close(fd)
    }
  }
}

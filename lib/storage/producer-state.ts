import * as fs from 'node:fs'
import * as path from 'node:path'
import { crc32c } from '../util/crc32c'
import { readU64, writeU64 } from '../util/u64'
import { DataFile, type FilePool } from './data-file'
import type { Logger } from './segment'

export const PRODUCERS_FILE = 'producers'
/** Batches remembered per producer: at least any client's in-flight window. */
export const BATCHES_PER_PRODUCER = 32
/** Producers remembered per partition; past it the least recently used is forgotten. */
export const DEFAULT_MAX_PRODUCERS = 10_000
export const DEFAULT_PRODUCERS_COMPACT_BYTES = 1024 * 1024

const RECORD = 28
const SEQUENCES = 2 ** 32

/** One stored batch of an idempotent producer: its sequences `sequence` .. `sequence + count - 1` are offsets `firstOffset` .. `end - 1`. */
export interface ProducerBatch {
  readonly producerId: number
  readonly sequence: number
  count: number
  readonly firstOffset: number
  /** Still remembered (false once evicted, trimmed away or rolled back). */
  live: boolean
}

/** What to do with a batch of `producerId` numbered `sequence`, `count` messages. */
export type SequenceCheck =
  | { kind: 'append' }
  /** Stored already: answer with its offsets. */
  | { kind: 'stored', batch: ProducerBatch }
  /** A batch this state remembers with the same first sequence but another size (a partial write): it cannot be answered as sent. */
  | { kind: 'mismatch', batch: ProducerBatch }
  /** Older than every batch remembered for the producer. */
  | { kind: 'duplicate' }
  /** Leaves a gap after the producer's last batch: an earlier one is missing. */
  | { kind: 'out-of-order', expected: number }

export interface ProducerStateOptions {
  maxProducers?: number
  compactBytes?: number
}

/** A producer record as replication carries it: producer id, first sequence, count, first offset. */
export type ProducerRecord = [number, number, number, number]

/**
 * The idempotent producers of one partition: per producer id, its last
 * BATCHES_PER_PRODUCER batches, for at most `maxProducers` producers (the
 * least recently used forgotten first; a forgotten producer is new again).
 *
 * Journal `producers`, one 28-byte record per batch, in the order stored:
 *
 * | field          | size | meaning                                       |
 * |----------------|------|-----------------------------------------------|
 * | crc32c         | u32  | CRC-32C of the 24 bytes after it              |
 * | producer id    | u64  | from command 22, 1 to 2^53 - 1                |
 * | first sequence | u32  | the batch's first sequence number             |
 * | count          | u32  | messages in the batch, at least 1             |
 * | first offset   | u64  | the offset of the batch's first message       |
 *
 * A batch's record is queued on the partition's writer with its messages,
 * and the writer writes this journal before the segments of a batch of
 * writes: a process killed between the two leaves a record whose batch ends
 * past the log end, never a stored batch without its record. On load,
 * records whose batch ends past the recovered log end are dropped (their
 * messages never reached the log), and the journal is rewritten without
 * them. A record that starts before the end of the record before it means
 * the offsets from its start were taken back and written again: the earlier
 * records from there are forgotten. A record cut short at the end (a torn write) is dropped the
 * same way. A record failing its checksum, or intact but impossible (count
 * 0, offsets out of range), is reported and skipped; the journal as found is
 * kept in `producers.damaged-<time>` before it is rewritten.
 *
 * The journal is rewritten from memory (a temporary file, synced, renamed
 * over, directory synced): when it has grown past `compactBytes` and four
 * times its live size, after a failed write of it or of the segments
 * (records of batches taken back), and after a truncation. The partition's
 * writer runs it between batches, when nothing is in flight.
 */
export class ProducerState {
  readonly file: DataFile
  private readonly log: Logger
  private readonly maxProducers: number
  private readonly compactBytes: number
  /** Least recently used first (a Map keeps insertion order; a use moves a producer to the end). */
  private readonly producers = new Map<number, ProducerBatch[]>()
  /** Every batch remembered, by offset (batches are stored in offset order); entries no longer live are skipped and swept out. */
  private byOffset: ProducerBatch[] = []
  private deadInIndex = 0
  private rewriteDue = false

  private constructor (file: DataFile, log: Logger, options: ProducerStateOptions) {
    this.file = file
    this.log = log
    this.maxProducers = Math.max(1, options.maxProducers ?? DEFAULT_MAX_PRODUCERS)
    this.compactBytes = options.compactBytes ?? DEFAULT_PRODUCERS_COMPACT_BYTES
  }

  /** Loads the journal of a partition whose recovered log ends at `logEnd` (see the class comment for what is dropped). */
  static open (dir: string, pool: FilePool, log: Logger, logEnd: number, options: ProducerStateOptions = {}): ProducerState {
    const file = path.join(dir, PRODUCERS_FILE)
    const stat = fs.lstatSync(file, { throwIfNoEntry: false })
    if (stat !== undefined && !stat.isFile()) throw new Error(`${file} is not a regular file`)
    const buf = stat === undefined ? Buffer.alloc(0) : fs.readFileSync(file)
    const state = new ProducerState(new DataFile(pool, file, buf.length, { durable: true, create: true, ...(stat === undefined ? { createdIn: dir } : {}) }), log, options)
    const { damage, tail, past } = state.load(buf, logEnd)
    if (tail > 0) log(`${file}: ${tail} bytes of an incomplete record at the end (a write cut short), dropped`)
    if (past > 0) log(`${file}: ${past} records of batches past the log end ${logEnd} (their messages were never written), dropped`)
    if (damage.length > 0) {
      const copy = `${file}.damaged-${Date.now()}`
      const where = damage.map((d) => `${d.to - d.from} bytes at ${d.from}`).join(', ')
      try {
        fs.copyFileSync(file, copy, fs.constants.COPYFILE_EXCL)
        log(`${file}: damaged records (${where}) skipped; the journal as found is kept in ${copy}`)
        state.rewrite()
      } catch (err) {
        log(`${file}: damaged records (${where}) skipped; could not keep a copy (${(err as Error).message}), so the journal is left as it is`)
      }
    } else if (tail > 0 || past > 0) {
      state.rewrite()
    } else {
      state.compactIfDue()
    }
    return state
  }

  /** Whether the journal is on disk: it is created by its first write, so a partition without idempotent producers has none. */
  get exists (): boolean {
    return this.file.size > 0 || this.file.createdIn === null
  }

  /** How many producers are remembered. */
  get size (): number {
    return this.producers.size
  }

  /** The batches remembered for a producer, oldest first. */
  batches (producerId: number): readonly ProducerBatch[] {
    return this.producers.get(producerId) ?? []
  }

  /** What the sequence rules say of a batch (see README, command 23). */
  check (producerId: number, sequence: number, count: number): SequenceCheck {
    const batches = this.producers.get(producerId)
    if (batches === undefined) return { kind: 'append' }
    this.touch(producerId, batches)
    const last = batches[batches.length - 1]
    const expected = (last.sequence + last.count) % SEQUENCES
    if (sequence === expected) return { kind: 'append' }
    for (let i = batches.length - 1; i >= 0; i--) {
      const b = batches[i]
      if (b.sequence === sequence) return b.count === count ? { kind: 'stored', batch: b } : { kind: 'mismatch', batch: b }
    }
    // Sequences wrap at 2^32: ahead of the expected one by less than half the space is a gap, otherwise the past.
    return (sequence - expected + SEQUENCES) % SEQUENCES < SEQUENCES / 2 ? { kind: 'out-of-order', expected } : { kind: 'duplicate' }
  }

  /** Remembers a batch being stored now (its journal record, `record(batch)`, is written with its messages). */
  remember (producerId: number, sequence: number, count: number, firstOffset: number): ProducerBatch {
    const batch: ProducerBatch = { producerId, sequence, count, firstOffset, live: true }
    this.add(batch)
    return batch
  }

  /** A batch's journal record. */
  record (batch: ProducerBatch): Buffer {
    const buf = Buffer.allocUnsafe(RECORD)
    writeRecord(buf, 0, batch)
    return buf
  }

  /**
   * Forgets every batch from `offset` on, and cuts one that spans it down to
   * its messages before it (appends from there failed, or the log was
   * truncated there). The journal is rewritten before the next write.
   */
  rollBack (offset: number): void {
    let changed = false
    while (this.byOffset.length > 0) {
      const b = this.byOffset[this.byOffset.length - 1]
      if (!b.live) {
        this.byOffset.pop()
        this.deadInIndex--
        continue
      }
      if (b.firstOffset + b.count <= offset) break
      changed = true
      const batches = this.producers.get(b.producerId) ?? []
      if (b.firstOffset < offset) {
        b.count = offset - b.firstOffset
        break
      }
      this.byOffset.pop()
      b.live = false
      batches.splice(batches.indexOf(b), 1)
      if (batches.length === 0) this.producers.delete(b.producerId)
    }
    if (changed) this.rewriteDue = true
  }

  /** A write of the journal failed: what it holds no longer matches memory, so it is rewritten before the next write. */
  writeFailed (): void {
    this.rewriteDue = true
  }

  /** Records of the batches whose last message lies in [from, to), for a follower fetching those offsets. */
  recordsEndingIn (from: number, to: number): ProducerRecord[] {
    const out: ProducerRecord[] = []
    let lo = 0
    let hi = this.byOffset.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const b = this.byOffset[mid]
      if (b.firstOffset + b.count <= from) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < this.byOffset.length; i++) {
      const b = this.byOffset[i]
      if (b.firstOffset + b.count > to) break
      if (b.live) out.push([b.producerId, b.sequence, b.count, b.firstOffset])
    }
    return out
  }

  /** Checks a record a leader sent (its batch must end in [from, to)); the reason it is refused, or null. */
  static invalidRecord (r: unknown, from: number, to: number): string | null {
    if (!Array.isArray(r) || r.length !== 4 || !r.every((v) => Number.isSafeInteger(v) && v >= 0)) return 'not four counts'
    const [producerId, sequence, count, firstOffset] = r as ProducerRecord
    if (producerId === 0 || sequence >= SEQUENCES || count === 0 || count >= SEQUENCES) return 'a field out of range'
    if (firstOffset + count <= from || firstOffset + count > to) return `its batch ends at ${firstOffset + count}, outside the entries sent`
    return null
  }

  /** Rewrites the journal if it is due (grown past its bound, or out of step with memory). Only while no write or sync of it is in flight. */
  compactIfDue (): void {
    if (this.rewriteDue || this.file.size > this.bound()) this.rewrite()
  }

  /** Rewrites the journal from memory now (after a truncation). */
  rewrite (): void {
    const live = this.byOffset.filter((b) => b.live)
    const buf = Buffer.allocUnsafe(live.length * RECORD)
    live.forEach((b, i) => writeRecord(buf, i * RECORD, b))
    try {
      this.file.replaceContents(buf)
      this.rewriteDue = false
      this.byOffset = live
      this.deadInIndex = 0
    } catch (err) {
      this.rewriteDue = true
      this.log(`${this.file.path}: rewrite failed, tried again before the next write: ${(err as Error).message}`, `rewrite ${this.file.path}`)
    }
  }

  close (): void {
    this.file.closeFd()
  }

  private bound (): number {
    return Math.max(this.compactBytes, 4 * (this.byOffset.length - this.deadInIndex) * RECORD)
  }

  private touch (producerId: number, batches: ProducerBatch[]): void {
    this.producers.delete(producerId)
    this.producers.set(producerId, batches)
  }

  private add (batch: ProducerBatch): void {
    let batches = this.producers.get(batch.producerId)
    if (batches === undefined) {
      batches = []
      if (this.producers.size >= this.maxProducers) this.evictOldest()
    }
    this.touch(batch.producerId, batches)
    batches.push(batch)
    if (batches.length > BATCHES_PER_PRODUCER) this.forget(batches.shift() as ProducerBatch)
    this.byOffset.push(batch)
  }

  private evictOldest (): void {
    for (const [producerId, batches] of this.producers) {
      this.producers.delete(producerId)
      for (const b of batches) this.forget(b)
      return
    }
  }

  private forget (b: ProducerBatch): void {
    b.live = false
    this.deadInIndex++
    if (this.deadInIndex > 1024 && this.deadInIndex > this.byOffset.length / 2) {
      this.byOffset = this.byOffset.filter((x) => x.live)
      this.deadInIndex = 0
    }
  }

  /** Loads every intact, sensible record of a batch ending at or before `logEnd`. */
  private load (buf: Buffer, logEnd: number): JournalScan {
    return scanProducerJournal(buf, logEnd, (batch, rollBack, past) => {
      // A record before the end of the one before it: the offsets from there were taken back (a failed write, a truncation) and written again.
      if (rollBack) this.rollBack(batch.firstOffset)
      if (!past) this.add(batch)
    })
  }
}

/** What a walk of a producers journal found: damaged ranges, the bytes of an incomplete last record, records of batches past the log end. */
export interface JournalScan { damage: Array<{ from: number, to: number }>, tail: number, past: number }

/**
 * Walks a producers journal in file order: `record` gets each intact
 * record, whether it starts before the end of the one before it
 * (`rollBack`), and whether its batch ends past `logEnd` (`past`). Past a
 * damaged record the walk resynchronises on the next intact one.
 */
export function scanProducerJournal (buf: Buffer, logEnd: number, record: (batch: ProducerBatch, rollBack: boolean, past: boolean) => void): JournalScan {
  const damage: Array<{ from: number, to: number }> = []
  let past = 0
  let at = 0
  let lastEnd = -1
  while (at + RECORD <= buf.length) {
    const batch = readRecord(buf, at)
    if (batch !== null) {
      at += RECORD
      const rollBack = batch.firstOffset < lastEnd
      lastEnd = batch.firstOffset + batch.count
      if (lastEnd > logEnd) past++
      record(batch, rollBack, lastEnd > logEnd)
      continue
    }
    let next = at + 1
    while (next + RECORD <= buf.length && readRecord(buf, next) === null) next++
    if (next + RECORD > buf.length) return { damage: [...damage, ...(at < buf.length ? [{ from: at, to: buf.length }] : [])], tail: 0, past }
    damage.push({ from: at, to: next })
    at = next
  }
  return { damage, tail: buf.length - at, past }
}

function writeRecord (buf: Buffer, at: number, b: ProducerBatch): void {
  writeU64(buf, b.producerId, at + 4)
  buf.writeUInt32BE(b.sequence, at + 12)
  buf.writeUInt32BE(b.count, at + 16)
  writeU64(buf, b.firstOffset, at + 20)
  buf.writeUInt32BE(crc32c(buf, at + 4, at + RECORD), at)
}

/** The batch of the intact record at `at`, or null (checksum, or a field no batch can have). */
function readRecord (buf: Buffer, at: number): ProducerBatch | null {
  if (crc32c(buf, at + 4, at + RECORD) !== buf.readUInt32BE(at)) return null
  const producerId = readU64(buf, at + 4)
  const count = buf.readUInt32BE(at + 16)
  const firstOffset = readU64(buf, at + 20)
  if (producerId === 0 || !Number.isFinite(producerId) || count === 0 || !Number.isSafeInteger(firstOffset + count)) return null
  return { producerId, sequence: buf.readUInt32BE(at + 12), count, firstOffset, live: true }
}

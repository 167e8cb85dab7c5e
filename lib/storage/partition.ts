import * as fs from 'node:fs'
import * as path from 'node:path'
import { RogError } from '../errors'
import { MAX_GROUP_BYTES } from '../util/limits'
import { writeU64 } from '../util/u64'
import { ENTRY_OVERHEAD, entryIsIntact, readEntryHeader, stamp, type Stamp } from './entry'
import { withoutPath } from './file-io'
import { GroupOffsets, GROUPS_FILE } from './group-offsets'
import { QueuedGroupRecords } from './queued-group-records'
import { LEADER_EPOCHS_FILE, LeaderEpochs } from './leader-epochs'
import { PRODUCERS_FILE, ProducerState, type ProducerBatch, type ProducerRecord } from './producer-state'
import { RECOVERY_POINT_FILE, RecoveryPoint, startingPoint } from './recovery-point'
import { idsAfter, removeSegmentFiles, Segment, SPARE_INDEX, SPARE_LOG, SPARE_TIME_INDEX, type Logger, type SegmentContext, type SpareFiles, type StoredMessage, type Truncatable } from './segment'
import { SegmentWriter, type FsyncPolicy, type Stream } from './segment-writer'
import type { DataFile, FilePool } from './data-file'
import { WriteArena } from './write-arena'


export interface PartitionOptions {
  segmentBytes: number
  fsync: FsyncPolicy
  pool: FilePool
  /** Where appends' bytes are put together (shared by a store's partitions); a partition's own when not given. */
  arena?: WriteArena
  log: Logger
  /** How clients are told about this partition, e.g. "Partition 0 of log events". */
  label: string
  /** The group offsets journal is compacted once past this size (and 4x its live size). */
  groupsCompactBytes?: number
  /** Called after a segment roll, and once appends retention waited for are answered (retention is checked then). */
  rolled?: (partition: Partition) => void
  /** The log and partition number, for the errors of idempotent publishes. */
  where?: { log: string, partition: number }
  /** Idempotent producers remembered (least recently used forgotten first). */
  maxProducers?: number
  /** The producer journal is compacted once past this size (and 4x its live size). */
  producersCompactBytes?: number
}

/** `stored` messages from `firstOffset` on were written (all of them when `err` is null). */
export type AppendCallback = (err: RogError | null, firstOffset: number, stored: number) => void
export type DoneCallback = (err: RogError | null) => void

/**
 * What a replicated partition's writes wait for (set by the replication
 * layer on the partition's leader and followers; null on a single node).
 */
export interface ReplicationGate {
  /** Null when this node may take client writes for the partition now; otherwise why not. */
  refusal (): RogError | null
  /** Calls back once the in-sync replicas hold every offset below `end`, or with why they will not. */
  whenReplicated (end: number, callback: DoneCallback): void
  /** A group's offset was written here (null: the group was deleted); calls back once the in-sync replicas have it. */
  groupWritten (group: string, offset: number | null, callback: DoneCallback): void
  /** Messages were written to the log here (a leader's followers may fetch them). */
  written? (): void
}

interface Waiter { offset: number, wake: () => void }
/**
 * A commit of an offset appends still in flight hold: its record is written
 * once they are. Commits, acks and deletions made after it wait behind it, in
 * order (a deletion's offset is 0: it waits for nothing else).
 */
interface GroupWait { group: string, offset: number, ack: boolean, write: () => void, fail: DoneCallback }
/** A commit answered by the write of its group's queued record. */
interface GroupWaiter { offset: number, callback: DoneCallback }

/** What a commit or ack answers when its group record's write failed. */
function groupWriteError (err: Error): RogError {
  return RogError.storage('saving the group offset', withoutPath(err))
}

export const SEGMENT_NAME = /^(0|[1-9]\d{0,15})\.(log|index|timeindex)$/
/** The hint files (.index, .timeindex) among a partition directory's file `names` whose segment's log (of `bases`) is not there. */
export function hintsWithoutLog (names: Iterable<string>, bases: number[]): Array<{ name: string, base: number }> {
  const logs = new Set(bases)
  const orphans: Array<{ name: string, base: number }> = []
  for (const name of names) {
    const canonical = SEGMENT_NAME.exec(name)
    if (canonical !== null && canonical[2] !== 'log' && !logs.has(Number(canonical[1]))) orphans.push({ name, base: Number(canonical[1]) })
  }
  return orphans
}

/** Files of Rog's own in a partition directory besides segments. */
export const OWN_FILE = /^(groups\.offsets(\.tmp|\.damaged-\d+)?|producers(\.tmp|\.damaged-\d+)?|recovery-point|spare\.(log|index|timeindex)\.next|leader-epochs(\.tmp)?)$/

/** Whether a segment file is empty, its first entry has id `base`, or it holds the start of that entry cut short (what a roll to it would have written, torn). */
function startsWithId (file: string, base: number): boolean {
  const head = Buffer.alloc(16)
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  try {
    const n = fs.readSync(fd, head, 0, 16, 0)
    if (n === 16) return readEntryHeader(head, 0)?.id === base
    // Shorter than an entry header: a first write torn after n bytes, if they are the start of that header's id.
    const id = Buffer.alloc(8)
    writeU64(id, base, 0)
    return head.subarray(0, Math.min(n, 8)).equals(id.subarray(0, Math.min(n, 8)))
  } finally {
    fs.closeSync(fd)
  }
}

/** Whether `name` is one Rog writes in a partition directory. */
export function isPartitionFile (name: string): boolean {
  return SEGMENT_NAME.test(name) || OWN_FILE.test(name)
}

/**
 * One partition: an ordered list of segments, the last of them active, and
 * its consumer groups' committed offsets.
 *
 * Offsets: `nextOffset` is the next id to assign (appends queued included);
 * `endOffset` (the log end offset) is one past the last entry written;
 * `highWatermark()` is what consumers may read up to. With one node they are
 * the same; a replicated partition will hold the high watermark back to what
 * its in-sync replicas have.
 *
 * Appends take their ids synchronously, in call order, and are written by
 * the partition's SegmentWriter in that order. If a write fails, the appends
 * queued behind it fail too and ids restart at the log end offset, so ids
 * stay gapless. A partition decides which segment an append goes to and when
 * to roll; the segment encodes, reserves and reads its entries.
 */
export class Partition {
  readonly dir: string
  readonly groups: GroupOffsets
  readonly producers: ProducerState
  private readonly segmentList: Segment[]
  private readonly options: PartitionOptions
  private readonly ctx: SegmentContext
  private readonly writer: SegmentWriter
  private readonly recoveryPoint: RecoveryPoint
  private nextId: number
  private end: number
  private waiters: Waiter[] = []
  /** Commits waiting for the appends below their offset, in the order they were made. */
  private groupWaits: GroupWait[] = []
  /** Commits whose offset a failed append took back: answered when that append is. */
  private doomedWaits: GroupWait[] = []
  private readonly queuedGroups = new QueuedGroupRecords<GroupWaiter>()
  /** Set at shutdown: long polls answer at once instead of waiting. */
  private draining = false
  /** A segment rolled: retention runs once the writes that filled it are in the files (their sizes on disk), before their sync. */
  private rolledSinceWrite = false
  /** Retention stopped at a segment whose appends are not all answered yet: it runs again once appends are. */
  private retainAfterAnswers = false
  /** Set when the log is deleted: every later request answers it. */
  private gone: RogError | null = null
  private spare: SpareFiles | null = null
  /** Segments before this index are synced whole. */
  private syncedThrough = 0
  private preparingSpare: Promise<void> | null = null
  /** Replicated: what client writes wait for, and the high watermark (null: a single node's, the log end). */
  private gate: ReplicationGate | null = null
  private hw: number | null = null
  private epochs: LeaderEpochs | null = null
  /** Idempotent batches being stored: the answers owed to retries of them that arrived meanwhile. */
  private readonly storing = new Map<ProducerBatch, AppendCallback[]>()
  private readonly arena: WriteArena

  private constructor (dir: string, segments: Segment[], groups: GroupOffsets, producers: ProducerState, recoveryPoint: RecoveryPoint, options: PartitionOptions, ctx: SegmentContext) {
    this.dir = dir
    this.segmentList = segments
    this.groups = groups
    this.producers = producers
    this.recoveryPoint = recoveryPoint
    this.options = options
    this.arena = options.arena ?? new WriteArena()
    this.ctx = ctx
    this.writer = new SegmentWriter(options.fsync, {
      beforeBatch: () => {
        this.groups.compactIfDue()
        this.producers.compactIfDue()
      },
      failed: (stream, err, first) => this.failed(stream, err, first.firstId ?? this.end),
      synced: () => this.synced(),
      written: () => {
        if (!this.rolledSinceWrite || this.options.rolled === undefined) return
        this.rolledSinceWrite = false
        this.options.rolled(this)
      },
      log: options.log
    })
    const last = segments[segments.length - 1]
    this.nextId = last.nextOffset
    this.end = last.nextOffset
    // What lies past the recovery point was written by an earlier run and may never have been synced.
    const unsynced = segments.filter((seg) => seg.log.synced < seg.log.size).map((seg) => seg.log)
    if (unsynced.length > 0) this.writer.requestSync(unsynced)
  }

  /** Creates the files of a new, empty partition in `dir` (which exists). */
  static init (dir: string, pool: FilePool): void {
    Segment.create({ pool, log: () => {}, label: dir }, dir, 0).close()
    GroupOffsets.init(dir, pool)
    RecoveryPoint.init(dir, pool.io)
  }

  /**
   * Opens a partition and recovers it. Only canonical names are data:
   * `<base>.log` and `<base>.index` (base in decimal, no leading zeros),
   * regular files. Anything else is left alone with a warning; a symlink with
   * a canonical name refuses the partition. Segments must follow on from
   * each other; one inside another's range is not part of the log (warned,
   * left alone). Only what lies after the recovery point may be truncated or
   * removed as a torn tail; other damage is reported and contained.
   */
  static async open (dir: string, options: PartitionOptions): Promise<Partition> {
    const ctx: SegmentContext = { pool: options.pool, log: options.log, label: options.label }
    const bases: number[] = []
    const names: string[] = []
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const name = entry.name
      const file = path.join(dir, name)
      const canonical = SEGMENT_NAME.exec(name)
      if (canonical === null && !OWN_FILE.test(name)) {
        options.log(`${file}: not a file of Rog's, left alone`)
        continue
      }
      if (entry.isSymbolicLink()) throw new Error(`${file} is a symbolic link; Rog never follows links in its data directory`)
      if (!entry.isFile()) {
        options.log(`${file}: not a regular file, left alone`)
        continue
      }
      names.push(name)
      if (canonical !== null && canonical[2] === 'log') bases.push(Number(canonical[1]))
    }
    bases.sort((a, b) => a - b)
    // Left by a process killed while it deleted their segment (the log went first, before removeSegmentFiles).
    // They hold no messages, and one in the way would fail a roll to its base.
    for (const hint of hintsWithoutLog(names, bases)) {
      const file = path.join(dir, hint.name)
      options.log(`${file}: a hint file of segment ${hint.base}.log, which is not here; removed (it holds no messages)`)
      fs.rmSync(file, { force: true })
    }
    Segment.removeSpare(dir, null)
    const recoveryPoint = RecoveryPoint.read(dir, options.pool.io, options.log)
    const point = startingPoint(recoveryPoint.value, recoveryPoint.nothingSynced, bases)
    const truncatable = (base: number, last: boolean): Truncatable => {
      if (point === null) return last ? 'tail' : null
      return base < point.base ? null : base === point.base ? point.position : 0
    }
    const segments: Segment[] = []
    const leftAlone = (base: number): void => options.log(`${path.join(dir, `${base}.log`)}: lies past anything this log could have written; not part of it, left alone`)
    let tornIds = 0
    for (let i = 0; i < bases.length; i++) {
      const base = bases[i]
      const previous = segments[segments.length - 1]
      if (previous !== undefined && base < previous.nextOffset) {
        options.log(`${path.join(dir, `${base}.log`)}: starts inside the segment before it (which ends at offset ${previous.nextOffset}), so it is not part of this log; left alone`)
        continue
      }
      if (previous !== undefined && base > previous.nextOffset) {
        // After the recovery point, following a torn tail: written after anything known synced, if it is
        // a segment Rog could have rolled to (its base within the ids the torn bytes could have held, its
        // first entry, if any, carrying that base). Anything else is not Rog's and is left alone.
        if (truncatable(base, false) === 0) {
          // One write batch may roll through several segments, each made before the batch writes it: each
          // starts at most a segment's worth of ids past the one before it.
          const ours: number[] = []
          let reach = previous.nextOffset + tornIds
          for (const b of bases.slice(i)) {
            if (b > reach || !startsWithId(path.join(dir, `${b}.log`), b)) break
            ours.push(b)
            reach = b + Math.ceil(options.segmentBytes / ENTRY_OVERHEAD)
          }
          if (ours.length === 0) {
            leftAlone(base)
            continue
          }
          options.log(`${dir}: segments from ${base}.log on follow a torn write (offsets ${previous.nextOffset} to ${base - 1} were never synced); removing them: ${ours.map((b) => `${b}.log`).join(', ')}`)
          for (const later of ours) removeSegmentFiles(dir, later)
          for (const stray of bases.slice(i + ours.length)) leftAlone(stray)
          break
        }
        options.log(`${dir}: offsets ${previous.nextOffset} to ${base - 1} are missing before ${base}.log; reads of them answer an error`)
      }
      const last = i === bases.length - 1
      const { segment, recovery } = await Segment.open(ctx, dir, base, truncatable(base, last), last ? undefined : bases[i + 1])
      // A segment rolled to after this one starts at most this many ids past where this one now ends.
      tornIds = Math.ceil(Math.max(recovery.truncated, options.segmentBytes) / ENTRY_OVERHEAD)
      segments.push(segment)
    }
    // The recovery point names a segment past the last one found: that segment (and any after it) is gone, and
    // the ids its synced bytes held are never given out again.
    const from = segments[segments.length - 1]?.nextOffset ?? 0
    const lost = recoveryPoint.value !== null && !bases.includes(recoveryPoint.value.base) && recoveryPoint.value.base >= from ? recoveryPoint.value : null
    if (lost !== null) {
      const next = idsAfter(lost.base, lost.position)
      const skipped = next > from ? `offsets ${from} to ${next - 1} are not served or reused, and the log goes on at ${next}` : `the log goes on at ${from}`
      options.log(`${path.join(dir, `${lost.base}.log`)} is missing, though the recovery point says ${lost.position} bytes of it were synced; ${skipped}`)
      segments.push(Segment.create(ctx, dir, Math.max(next, from)))
    }
    if (segments.length === 0) {
      const base = 0
      options.log(`${dir}: no segment found, starting an empty one at offset ${base}`)
      segments.push(Segment.create(ctx, dir, base))
    }
    // Known synced: what lies before the recovery point (without one, all but the last segment).
    for (const [i, seg] of segments.entries()) {
      seg.log.synced = point === null ? (i < segments.length - 1 ? seg.log.size : 0)
        : seg.base < point.base ? seg.log.size : seg.base === point.base ? Math.min(point.position, seg.log.size) : 0
    }
    const groups = GroupOffsets.open(dir, options.pool, options.log, options.groupsCompactBytes)
    const producers = ProducerState.open(dir, options.pool, options.log, segments[segments.length - 1].nextOffset, { maxProducers: options.maxProducers, compactBytes: options.producersCompactBytes })
    const partition = new Partition(dir, segments, groups, producers, recoveryPoint, options, ctx)
    partition.clampGroups()
    return partition
  }

  get segments (): readonly Segment[] {
    return this.segmentList
  }

  get firstOffset (): number {
    return this.segmentList[0].base
  }

  /** The next id to assign. */
  get nextOffset (): number {
    return this.nextId
  }

  /** One past the last entry written. */
  get endOffset (): number {
    return this.end
  }

  highWatermark (): number {
    return this.hw ?? this.end
  }

  /** Makes this partition replicated (its writes wait for `gate`, reads stop at the high watermark), or single again (null). */
  replicate (gate: ReplicationGate | null): void {
    this.gate = gate
    if (gate === null) this.hw = null
    // Not the log end: what this node holds past the last high watermark it was told may be a tail no other replica has.
    else this.hw ??= this.firstOffset
    this.wake()
  }

  /** A replicated partition's high watermark moved (at most the log end). */
  setHighWatermark (offset: number): void {
    const hw = Math.min(offset, this.end)
    if (this.hw !== null && hw <= this.hw) return
    this.hw = hw
    this.wake()
    this.settleGroupWaits()
  }

  /** The partition's leader epochs (a file of its own, opened on first use). */
  leaderEpochs (): LeaderEpochs {
    this.epochs ??= LeaderEpochs.open(this.dir, this.options.pool.io, this.options.log)
    return this.epochs
  }

  /** Appends messages; `callback` gets the first id once all are written (and synced, per policy). */
  append (messages: Buffer[], callback: AppendCallback): void {
    const refusal = this.gone ?? this.gate?.refusal() ?? null
    if (refusal !== null) return process.nextTick(callback, refusal, this.nextId, 0)
    this.writeAcknowledged(messages, callback)
  }

  /**
   * An idempotent producer's batch (command 23), under the sequence rules:
   * appended when it is the producer's next (or the producer is unknown), and
   * remembered at once, so the next batch pipelined behind it is checked
   * against it; answered with its original offsets when it was stored
   * already (once acknowledged as a publish is, or, still in flight, with
   * its original's answer); refused when it is older than what is
   * remembered or leaves a gap.
   */
  appendIdempotent (producerId: number, sequence: number, messages: Buffer[], callback: AppendCallback): void {
    const refusal = this.gone ?? this.gate?.refusal() ?? null
    if (refusal !== null) return process.nextTick(callback, refusal, this.nextId, 0)
    const check = this.producers.check(producerId, sequence, messages.length)
    const where = this.options.where ?? { log: this.options.label, partition: -1 }
    switch (check.kind) {
      case 'stored':
        return this.answerStored(check.batch, callback)
      case 'mismatch':
        return process.nextTick(callback, new RogError('DUPLICATE_SEQUENCE', `Duplicate sequence ${sequence} from producer ${producerId} for partition ${where.partition} of log ${where.log}: stored as a batch of ${check.batch.count} messages, not ${messages.length}`), this.nextId, 0)
      case 'duplicate':
        return process.nextTick(callback, RogError.duplicateSequence(producerId, where.partition, where.log, sequence), this.nextId, 0)
      case 'out-of-order':
        return process.nextTick(callback, RogError.outOfOrderSequence(producerId, where.partition, where.log, sequence, check.expected), this.nextId, 0)
    }
    const first = this.nextId
    const batch = this.producers.remember(producerId, sequence, messages.length, first)
    const retries: AppendCallback[] = []
    this.storing.set(batch, retries)
    const queued = this.writeAcknowledged(messages, (err, firstOffset, stored) => {
      this.storing.delete(batch)
      callback(err, firstOffset, stored)
      for (const r of retries) r(err, firstOffset, stored)
    })
    if (queued < messages.length) this.producers.rollBack(first + queued)
    // A failed write of the record is the journal's to repair (see ProducerState.writeFailed); the batch's answer is its messages'.
    if (batch.live) this.enqueue(this.producers.file, 'producers', this.producers.record(batch), undefined, () => {})
  }

  /** A retry of a batch stored already: its original offsets, acknowledged as a publish's are. */
  private answerStored (batch: ProducerBatch, callback: AppendCallback): void {
    const retries = this.storing.get(batch)
    if (retries !== undefined) return void retries.push(callback)
    const { firstOffset, count } = batch
    if (this.gate === null) return process.nextTick(callback, null, firstOffset, count)
    this.gate.whenReplicated(firstOffset + count, (err) => callback(err, firstOffset, err === null ? count : 0))
  }

  /** Writes messages and calls back once they are acknowledged (replicated, when gated); returns how many were queued. */
  private writeAcknowledged (messages: Buffer[], callback: AppendCallback): number {
    const gate = this.gate
    if (gate === null) return this.write(messages, stamp(Date.now()), callback)
    return this.write(messages, stamp(Date.now()), (err, first, stored) => {
      if (stored === 0) return callback(err, first, stored)
      // Acknowledged only once every in-sync replica has them.
      gate.whenReplicated(first + stored, (notReplicated) => {
        if (notReplicated !== null) callback(notReplicated, first, 0)
        else callback(err, first, stored)
      })
    })
  }

  /**
   * A follower's append of the entries its leader sent, byte for byte (ids,
   * timestamps and checksums as the leader wrote them), not gated. Every
   * entry must be intact and the ids must follow on from this log's next;
   * otherwise nothing is appended.
   */
  appendReplica (entries: Buffer[], callback: AppendCallback, records: readonly ProducerRecord[] = []): void {
    if (this.gone !== null) return process.nextTick(callback, this.gone, this.nextId, 0)
    if (entries.length === 0) return process.nextTick(callback, null, this.nextId, 0)
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]
      const head = readEntryHeader(e, 0)
      const problem = head === null || head.size !== e.length ? 'an entry cut short'
        : head.id !== this.nextId + i ? `offset ${head.id} sent where ${this.nextId + i} is next`
          : !entryIsIntact(e, 0, e.length) ? `the entry of offset ${head.id} fails its checksum` : null
      if (problem !== null) return process.nextTick(callback, RogError.storage('replicating', new Error(problem)), this.nextId, 0)
    }
    const from = this.nextId
    const queued = this.write(entries, null, callback)
    for (const r of records) {
      const invalid = ProducerState.invalidRecord(r, from, from + queued)
      if (invalid !== null) {
        this.options.log(`${this.dir}: a producer record from the leader (${JSON.stringify(r)}) is not kept: ${invalid}`)
        continue
      }
      const [producerId, sequence, count, firstOffset] = r
      this.enqueue(this.producers.file, 'producers', this.producers.record(this.producers.remember(producerId, sequence, count, firstOffset)), undefined, () => {})
    }
  }

  /** Appends `messages` stamped `timestamp`, or (null) whole entries as they are; returns how many were queued (the rest failed). */
  private write (messages: Buffer[], timestamp: Stamp | null, callback: AppendCallback): number {
    const first = this.nextId
    let pending = 0
    let stored = 0
    let failed: RogError | null = null
    const done = (err: Error | null, count: number): void => {
      if (err !== null && failed === null) failed = err instanceof RogError ? err : RogError.storage('appending', withoutPath(err))
      if (err === null) stored += count
      if (--pending === 0) callback(failed, first, stored)
    }
    const limit = this.options.segmentBytes
    let i = 0
    while (i < messages.length) {
      let segment = this.active()
      if (segment.sealed || (segment.appendSize >= limit && !segment.empty)) {
        try {
          segment = this.roll()
        } catch (err) {
          // The messages before this one are queued and keep their offsets; the rest are not appended.
          failed = RogError.storage('starting a new segment', withoutPath(err))
          const taken = (err as NodeJS.ErrnoException).code === 'EEXIST' ? `; a file of that name is there and is not part of this log: it is left alone, and appends here fail until it is moved away` : ''
          this.options.log(`${this.dir}: could not start segment ${this.nextId}: ${(err as Error).message}${taken}`, `roll ${this.dir}`)
          break
        }
      }
      if (segment.appendSize >= limit / 2) this.prepareSpare()
      const { data, index, timeIndex, count } = segment.reserve(this.nextId, messages, i, timestamp, limit, this.arena)
      i += count
      this.nextId += count
      const last = this.nextId
      pending++
      this.enqueue(segment.log, 'segments', data, last - count, (err) => {
        this.arena.release(data)
        if (err === null) {
          segment.written(last)
          this.end = last
          if (this.retainAfterAnswers) this.retainAgain()
          // Writes that land in a segment already rolled past are synced too (the flush on roll came before them).
          if (segment !== this.active() && segment.log.dirty && this.options.fsync !== 'always') this.writer.requestSync([segment.log])
        }
        done(err, count)
      })
      this.writeHints(segment, index, timeIndex)
    }
    if (pending === 0) process.nextTick(callback, failed, first, 0)
    return i
  }

  /**
   * Reads from `offset` up to the high watermark. A read that starts at a
   * damaged or missing offset answers DAMAGED; one that reaches such an
   * offset, in any segment, returns what came before it.
   */
  async read (offset: number, maxMessages: number, maxBytes: number, end = this.highWatermark(), raw = false): Promise<StoredMessage[]> {
    if (this.gone !== null) throw this.gone
    const out: StoredMessage[] = []
    let bytes = 0
    while (out.length < maxMessages) {
      // Found again on each step: retention may remove segments while a read waits. Mid-read, what it removed
      // ends the answer (which holds no gap); the next read starts at the first offset, and says so.
      if (offset < this.firstOffset) {
        if (out.length > 0) break
        offset = this.firstOffset
      }
      if (offset >= end) break
      const index = this.segmentFor(offset)
      const segment = this.segmentList[index]
      if (offset >= segment.nextOffset) {
        // Between this segment's last entry and the next segment's base: offsets recovery found missing.
        if (out.length > 0 || index === this.segmentList.length - 1) break
        throw RogError.damaged(this.options.label, offset)
      }
      let got: StoredMessage[]
      try {
        got = await segment.read(offset, end, maxMessages - out.length, maxBytes - bytes, out.length === 0, raw)
      } catch (err) {
        if (out.length > 0 && err instanceof RogError && err.code === 'DAMAGED') break
        if (err instanceof RogError) throw err
        this.options.log(`${segment.logPath}: read failed: ${(err as Error).message}`)
        throw RogError.storage('reading', withoutPath(err))
      }
      for (const m of got) {
        out.push(m)
        bytes += m.data.length
      }
      if (got.length === 0) break
      offset = got[got.length - 1].offset + 1
      if (offset < Math.min(segment.nextOffset, end)) break
    }
    return out
  }

  /** The first offset whose message is stamped at or after `timestamp` (ms), or the end offset when none is. */
  async offsetForTime (timestamp: number): Promise<number> {
    for (let s = 0; s < this.segmentList.length; s++) {
      const segment = this.segmentList[s]
      if ((await segment.maxTimestamp()) < timestamp) continue
      const found = await segment.offsetForTime(timestamp)
      if (found !== null) return Math.max(found, this.firstOffset)
    }
    return this.end
  }

  /** Bytes of every segment file. */
  get sizeBytes (): number {
    let n = 0
    for (const s of this.segmentList) n += s.log.size
    return n
  }

  /** Retention, once the appends answered with this one are too (the writer answers a batch's appends in one go). */
  private retainAgain (): void {
    this.retainAfterAnswers = false
    const rolled = this.options.rolled
    if (rolled !== undefined) process.nextTick(() => rolled(this))
  }

  /**
   * Deletes whole sealed segments, oldest first, while the partition would
   * still hold at least `bytes` without it, or while its newest message is
   * older than `ms` before `now` (Kafka's retention.bytes and retention.ms).
   * The active segment is never deleted; once every sealed one is and its
   * own newest message is past the age limit, it is rolled (sealed, a new
   * empty one active at the next offset) and deleted as they are, as Kafka
   * does, so a log written slowly still ages out. Returns how many were.
   */
  async enforceRetention (bytes: number | null, ms: number | null, now: number): Promise<number> {
    let deleted = 0
    let size = this.sizeBytes
    // A deleted log's files are gone, and its paths may name a new log's: a pass still holding this partition stops.
    while (this.segmentList.length > 1 && this.gone === null) {
      const oldest = this.segmentList[0]
      // Never a segment with writes still queued or, under --fsync always, not yet synced or being synced (their
      // appends are unanswered, and a sync that found the file gone would fail them). One merely not synced yet under
      // interval or never may go: what it holds was to go anyway, a sync in flight keeps its descriptor until it
      // ends, and one not yet started skips it. A crash before the recovery point moves on leaves a point whose
      // segment is gone, which recovery reads as a point at the start of the first segment left.
      if (oldest.log.size < oldest.appendSize) break
      const bySize = bytes !== null && size - oldest.log.size >= bytes
      const byAge = ms !== null && !bySize && (await oldest.maxTimestamp()) < now - ms
      if ((!bySize && !byAge) || oldest !== this.segmentList[0] || this.segmentList.length <= 1 || this.gone !== null) break
      // Nor one whose appends are not all answered yet (under always, a batch's answers wait for the syncs of every
      // segment it wrote): the first offset would pass the end.
      if (this.segmentList[1].base > this.end || (this.options.fsync === 'always' && (oldest.log.dirty || oldest.log.syncing > 0))) {
        this.retainAfterAnswers = true
        break
      }
      this.segmentList.shift()
      this.syncedThrough = Math.max(0, this.syncedThrough - 1)
      size -= oldest.log.size
      oldest.remove()
      deleted++
      this.options.log(`${this.dir}: retention deleted segment ${oldest.base} (${bySize ? 'size' : 'age'} limit); the first offset is now ${this.firstOffset}`)
    }
    if (ms !== null && this.segmentList.length === 1 && await this.activeExpired(ms, now)) {
      try {
        this.roll()
      } catch (err) {
        this.options.log(`${this.dir}: could not roll the active segment, all of it past the age limit: ${(err as Error).message}`, `retention roll ${this.dir}`)
        return deleted
      }
      return deleted + await this.enforceRetention(bytes, ms, now)
    }
    if (deleted > 0 && this.options.fsync !== 'never') {
      try {
        this.options.pool.io.fsyncPath(this.dir)
      } catch (err) {
        this.options.log(`${this.dir}: fsync after retention failed: ${(err as Error).message}`)
      }
    }
    return deleted
  }

  /** Whether the active segment holds messages, all written, all older than `ms` before `now`. */
  private async activeExpired (ms: number, now: number): Promise<boolean> {
    const active = this.active()
    const size = active.appendSize
    if (active.empty || active.log.size < size || this.gone !== null) return false
    const newest = await active.maxTimestamp()
    return newest < now - ms && active === this.active() && active.appendSize === size && this.gone === null
  }

  /** Long polls waiting for this partition's high watermark to move. */
  get waiting (): number {
    return this.waiters.length
  }

  /** Resolves once the high watermark passes `offset`, after `ms`, or when `signal` aborts. */
  waitFor (offset: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.highWatermark() > offset || ms <= 0 || this.draining || signal?.aborted === true) return Promise.resolve()
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', abort)
        resolve()
      }
      const waiter: Waiter = { offset, wake: finish }
      const abort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        finish()
      }
      const timer = setTimeout(abort, ms)
      signal?.addEventListener('abort', abort, { once: true })
      this.waiters.push(waiter)
    })
  }

  /** Moves a group's committed offset by one; an error when it has read everything. */
  ack (group: string, callback: DoneCallback): void {
    if (this.gone !== null) return callback(this.gone)
    const refusal = this.gate?.refusal() ?? null
    if (refusal !== null) return callback(refusal)
    // A group left behind by retention resumes at the first offset (Kafka's auto.offset.reset=earliest).
    const current = Math.max(this.pendingOffset(group), this.firstOffset)
    if (current >= this.highWatermark()) return callback(RogError.noData())
    this.commit(group, current + 1, callback, Infinity, true)
  }

  /**
   * Sets a group's committed offset, at most the next offset: an offset that
   * appends already made (still in flight) hold is written once those appends
   * are, and refused if they fail (`reservedEnd`: the offsets taken when the
   * commit was made, for one made after an append that took more). Commits
   * are written in the order they are made. It becomes visible once written;
   * if the write fails, nothing of it does.
   */
  commit (group: string, offset: number, callback: DoneCallback, reservedEnd = Infinity, ack = false): void {
    if (this.gone !== null) return callback(this.gone)
    const refusal = this.gate?.refusal() ?? null
    if (refusal !== null) return callback(refusal)
    const groupBytes = Buffer.byteLength(group)
    if (groupBytes > MAX_GROUP_BYTES) {
      return callback(RogError.groupNameTooLong(groupBytes, MAX_GROUP_BYTES))
    }
    if (offset > Math.min(this.nextId, reservedEnd) || offset < 0) {
      return callback(RogError.badOffset(offset, this.highWatermark()))
    }
    if (this.groupWaits.length === 0 && offset <= this.highWatermark()) return this.writeGroup(group, offset, callback)
    this.groupWaits.push({ group, offset, ack, write: () => this.writeGroup(group, offset, callback), fail: callback })
  }

  /** Queues a commit's record; `callback` once it is written (and, in a cluster, replicated as the gate requires). */
  private writeGroup (group: string, offset: number, callback: DoneCallback): void {
    const sharing = this.queuedGroups.find(group, this.writer.generation)
    if (sharing !== null) {
      this.groups.reset(sharing.record, group, offset)
      sharing.waiters.push({ offset, callback })
      return
    }
    const record = this.groups.set(group, offset)
    const waiters: GroupWaiter[] = [{ offset, callback }]
    const queued = { record, waiters }
    const generation = this.enqueue(this.groups.file, 'groups', record, undefined, (err) => {
      this.queuedGroups.written(group, queued)
      for (const w of waiters) {
        if (err !== null) {
          w.callback(groupWriteError(err))
          continue
        }
        this.groups.applied(group, w.offset)
        if (this.gate === null) w.callback(null)
        else this.gate.groupWritten(group, w.offset, w.callback)
      }
    })
    this.queuedGroups.add(group, generation, queued)
  }

  /**
   * The offset `group` will have once every commit made so far is written:
   * the last one waiting for its offset to be written, else the last one
   * queued. An ack moves on from here, so that acks made one after the other
   * each move the group by one, also while they wait behind a commit.
   */
  private pendingOffset (group: string): number {
    for (let i = this.groupWaits.length - 1; i >= 0; i--) {
      if (this.groupWaits[i].group === group) return this.groupWaits[i].offset
    }
    return this.groups.pending(group)
  }

  /**
   * A follower applies a group offset its leader sent (null: the group was
   * deleted), without the client checks: at most this log's end.
   */
  applyReplicaGroup (group: string, offset: number | null, callback: DoneCallback): void {
    if (this.gone !== null) return callback(this.gone)
    if (offset !== null && offset > this.end) return callback(RogError.badOffset(offset, this.end))
    const record = offset === null ? this.groups.remove(group) : this.groups.set(group, offset)
    this.queuedGroups.forget(group)
    this.enqueue(this.groups.file, 'groups', record, undefined, (err) => {
      if (err !== null) return callback(groupWriteError(err))
      if (offset === null) this.groups.removed(group)
      else this.groups.applied(group, offset)
      callback(null)
    })
  }

  /**
   * Removes every entry from `offset` on: a follower's divergent tail, once
   * its leader has said where their logs part (KIP-101). Only the
   * replication layer calls it, on a partition that takes no client writes.
   * Returns how many offsets were removed.
   */
  async truncateTo (offset: number): Promise<number> {
    await this.writer.idle()
    offset = Math.max(offset, this.firstOffset)
    if (offset >= this.end) return 0
    const removed = this.end - offset
    while (this.segmentList.length > 1 && this.active().base >= offset) this.segmentList.pop()?.remove()
    const segment = this.active()
    const cut = await segment.truncateTo(offset)
    this.nextId = offset
    this.end = offset
    if (this.hw !== null && this.hw > offset) this.hw = offset
    this.syncedThrough = Math.min(this.syncedThrough, this.segmentList.length - 1)
    this.recoveryPoint.moveBack({ base: segment.base, position: segment.log.synced })
    this.leaderEpochs().truncateFrom(offset)
    this.producers.rollBack(offset)
    this.producers.rewrite()
    this.options.pool.io.fsyncPath(this.dir)
    this.options.log(`${this.dir}: truncated offsets ${offset} to ${offset + removed - 1} (${cut} bytes cut from segment ${segment.base}, which keeps ${segment.log.size}), which the partition's leader does not have`)
    this.clampGroups()
    return removed
  }

  /** Groups past the log end (after recovery or a truncation) move back to it. */
  private clampGroups (): void {
    for (const u of this.groups.clamp(this.end)) {
      this.options.log(`${this.dir}: group ${JSON.stringify(u.group)} was past the end of the log; moved back to ${u.offset}`)
      this.queuedGroups.forget(u.group)
      this.enqueue(this.groups.file, 'groups', u.record, undefined, (err) => { if (err === null) this.groups.applied(u.group, u.offset) })
    }
  }

  /** Deletes a group's committed offset (it no longer shows, and reads from 0 / the first offset again). */
  deleteGroup (group: string, callback: DoneCallback): void {
    if (this.gone !== null) return callback(this.gone)
    // Made after commits that wait for appends in flight: written after them, in the order made.
    if (this.groupWaits.length > 0) return void this.groupWaits.push({ group, offset: 0, ack: false, write: () => this.writeDeletion(group, callback), fail: callback })
    this.writeDeletion(group, callback)
  }

  private writeDeletion (group: string, callback: DoneCallback): void {
    this.queuedGroups.forget(group)
    this.enqueue(this.groups.file, 'groups', this.groups.remove(group), undefined, (err) => {
      if (err !== null) return callback(RogError.storage('deleting the group offset', withoutPath(err)))
      this.groups.removed(group)
      if (this.gate === null) callback(null)
      else this.gate.groupWritten(group, null, callback)
    })
  }

  /** Asks for an fdatasync of every file written since the last (the 'interval' policy). */
  syncDirty (): void {
    this.writer.requestSync(this.durableFiles().filter((f) => f.dirty))
  }

  /** Queues index points for the segment's hint files (failures fail no request: reads check every point). */
  private writeHints (segment: Segment, index: Buffer | null, timeIndex: Buffer | null): void {
    if (index !== null) this.enqueue(segment.indexFile, 'index', index, undefined, () => {})
    if (timeIndex !== null) this.enqueue(segment.timeIndexFile, 'index', timeIndex, undefined, () => {})
  }

  /** Queues every index point of the segment not yet written (at a roll, at close). */
  private writeUnwrittenHints (segment: Segment): void {
    const { index, timeIndex } = segment.takeHints()
    this.writeHints(segment, index, timeIndex)
  }

  /** Writes what is queued, syncs everything, records the recovery point there and closes. */
  async close (): Promise<void> {
    this.wakeAll()
    this.writeUnwrittenHints(this.active())
    await this.writer.idle()
    this.writer.requestSync(this.durableFiles().filter((f) => f.dirty || f.createdIn !== null))
    await this.writer.idle()
    this.synced()
    this.recoveryPoint.sync()
    await this.preparingSpare
    Segment.removeSpare(this.dir, this.spare)
    this.spare = null
    for (const s of this.segmentList) s.close()
    this.groups.close()
    this.producers.close()
  }

  /** The files whose writes the fsync policy covers (indexes are rebuilt, not synced). */
  private durableFiles (): DataFile[] {
    const producers = this.producers.exists ? [this.producers.file] : []
    return [this.groups.file, ...producers, ...this.segmentList.map((s) => s.log)]
  }

  /** Returns the writer's queue generation it was queued in. */
  private enqueue (file: DataFile, stream: Stream, data: Buffer, firstId: number | undefined, done: (err: Error | null) => void): number {
    return this.writer.append({
      file,
      stream,
      data,
      firstId,
      done: (err) => {
        done(err)
        if (stream !== 'segments') return
        if (err === null) {
          this.wake()
          this.gate?.written?.()
        }
        this.settleGroupWaits()
      }
    })
  }

  /** Refuses the commits a failed append took the offset of, and writes those whose offset is now written, in order. */
  private settleGroupWaits (): void {
    const doomed = this.doomedWaits
    this.doomedWaits = []
    for (const w of doomed) w.fail(this.gone ?? RogError.badOffset(w.offset, this.highWatermark()))
    let n = 0
    while (n < this.groupWaits.length && this.groupWaits[n].offset <= this.highWatermark()) n++
    if (n === 0) return
    const ready = this.groupWaits.slice(0, n)
    this.groupWaits = this.groupWaits.slice(n)
    for (const w of ready) w.write()
  }

  /** The log was deleted: long polls answer now, and every later request gets `reason`. */
  markDeleted (reason: RogError): void {
    this.gone = reason
    this.doomedWaits.push(...this.groupWaits)
    this.groupWaits = []
    this.wakeAll()
    this.settleGroupWaits()
  }

  /** Answers every waiting long poll now, and any later one at once (shutdown). */
  wakeAll (): void {
    this.draining = true
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w.wake()
  }

  private wake (): void {
    if (this.waiters.length === 0) return
    const end = this.highWatermark()
    const ready = this.waiters.filter((w) => w.offset < end)
    if (ready.length === 0) return
    this.waiters = this.waiters.filter((w) => w.offset >= end)
    for (const w of ready) w.wake()
  }

  /** A write failed: everything of its stream queued behind it fails too, so roll back what they reserved. */
  private failed (stream: Stream, err: Error, firstFailedId: number): void {
    if (stream === 'groups') {
      this.groups.rewind()
      return this.doomAcksBuiltOnFailed(groupWriteError(err))
    }
    if (stream === 'producers') return this.producers.writeFailed()
    if (stream !== 'segments') return
    this.options.log(`${this.dir}: append failed (${err.message}); appends queued behind it fail too, ids restart at ${firstFailedId}`, `append ${this.dir}`)
    this.nextId = firstFailedId
    this.producers.rollBack(firstFailedId)
    // Commits of offsets taken back are refused (when the failed append is answered), before new appends take those offsets again.
    this.doomedWaits.push(...this.groupWaits.filter((w) => w.offset > firstFailedId))
    this.groupWaits = this.groupWaits.filter((w) => w.offset <= firstFailedId)
    // Segments rolled for appends that were never written: empty files this process created.
    while (this.segmentList.length > 1 && this.active().base > firstFailedId) this.segmentList.pop()?.remove()
    this.active().rewind(firstFailedId)
  }

  /**
   * Group records failed and the pending view went back to what is written:
   * a waiting ack made on top of one of them, no longer one past where its
   * group will be when its turn comes, fails too (as acks queued behind them
   * in the writer do), and so does every ack made on top of that ack.
   */
  private doomAcksBuiltOnFailed (error: RogError): void {
    const expected = new Map<string, number>()
    const keep: GroupWait[] = []
    for (const w of this.groupWaits) {
      const before = expected.get(w.group) ?? this.groups.pending(w.group)
      if (w.ack && w.offset !== Math.max(before, this.firstOffset) + 1) {
        this.doomedWaits.push({ ...w, fail: () => w.fail(error) })
        continue
      }
      expected.set(w.group, w.offset)
      keep.push(w)
    }
    this.groupWaits = keep
  }

  /**
   * Moves the recovery point to the end of what is synced without a gap: it
   * passes a segment only once all of it, appends still queued included, is
   * synced (a sealed segment whose sync failed holds it back until a retry
   * succeeds).
   */
  private synced (): void {
    const last = this.segmentList.length - 1
    let i = Math.min(this.syncedThrough, last)
    while (i < last && this.segmentList[i].log.synced >= this.segmentList[i].appendSize) i++
    this.syncedThrough = i
    const segment = this.segmentList[i]
    this.recoveryPoint.advance({ base: segment.base, position: Math.min(segment.log.synced, segment.log.size) })
  }

  private active (): Segment {
    return this.segmentList[this.segmentList.length - 1]
  }

  private prepareSpare (): void {
    if (this.spare !== null || this.preparingSpare !== null) return
    this.preparingSpare = new Promise((resolve) => Segment.prepareSpare(this.dir, (err, spare) => {
      this.preparingSpare = null
      if (err !== null) this.options.log(`${this.dir}: could not create the next segment's files ahead of time: ${err.message}`)
      this.spare = spare
      resolve()
    }))
  }

  /** Starts a new active segment at the next id; the one before is synced soon after (Kafka's flush on roll). */
  private roll (): Segment {
    const spare = this.spare ?? undefined
    this.spare = null
    let segment: Segment
    try {
      segment = Segment.create(this.ctx, this.dir, this.nextId, spare)
    } catch (err) {
      if (spare !== undefined) Segment.removeSpare(this.dir, spare)
      throw err
    }
    const sealed = this.active()
    this.writeUnwrittenHints(sealed)
    this.segmentList.push(segment)
    if (this.options.fsync !== 'always' && !sealed.empty) this.writer.requestSync([sealed.log])
    this.rolledSinceWrite = true
    return segment
  }

  private segmentFor (offset: number): number {
    let lo = 0
    let hi = this.segmentList.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (this.segmentList[mid].base <= offset) lo = mid
      else hi = mid - 1
    }
    return lo
  }
}

export { GROUPS_FILE, RECOVERY_POINT_FILE, SPARE_INDEX, SPARE_LOG, SPARE_TIME_INDEX }

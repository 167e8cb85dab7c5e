import * as fs from 'node:fs'
import { once } from 'node:events'
import type { FetchedMessage } from '../protocol/commands'
import { RogError } from '../errors'
import { MAX_GROUP_BYTES } from '../protocol/limits'
import { entrySize, stamp, writeEntry } from './entry'
import { INDEX_INTERVAL, OffsetIndex } from './offset-index'
import { GroupOffsets } from './group-offsets'
import { Segment, type Logger, type SpareFiles } from './segment'
import { SegmentWriter, type Append, type AppendTarget, type FsyncPolicy } from './segment-writer'
import type { FileIo } from './file-io'

export interface PartitionOptions {
  segmentBytes: number
  fsync: FsyncPolicy
  io: FileIo
  log: Logger
  /** The group offsets journal is compacted once past this size (and 4x its live size). */
  groupsCompactBytes?: number
}

/** `stored` messages from `firstOffset` on were written (all of them when `err` is null). */
export type AppendCallback = (err: RogError | null, firstOffset: number, stored: number) => void
export type DoneCallback = (err: RogError | null) => void

interface Waiter { offset: number, wake: () => void }

/**
 * One partition: an ordered list of segments, the last of them active, and
 * its consumer groups' committed offsets.
 *
 * Offsets: `nextOffset` is the next id to assign (appends queued included);
 * `endOffset` (the log end offset) is one past the last entry written to its
 * segment file; `highWatermark()` is what consumers may read up to. With one
 * node they are the same; a replicated partition will hold the high watermark
 * back to what its in-sync replicas have.
 *
 * Appends take their ids synchronously, in call order, and are written by the
 * partition's SegmentWriter in that order. If a write fails, the appends
 * queued after it are cancelled and ids restart at the log end offset, so ids
 * stay gapless.
 */
export class Partition {
  readonly dir: string
  readonly segments: Segment[]
  readonly groups: GroupOffsets
  nextOffset: number
  endOffset: number
  private readonly options: PartitionOptions
  private readonly writer: SegmentWriter
  private readonly queued: Append[] = []
  private waiters: Waiter[] = []
  /** Set at shutdown: long polls answer at once instead of waiting. */
  private draining = false
  private spare: SpareFiles | null = null
  private preparingSpare: Promise<void> | null = null

  private constructor (dir: string, segments: Segment[], groups: GroupOffsets, options: PartitionOptions) {
    this.dir = dir
    this.segments = segments
    this.groups = groups
    this.options = options
    this.writer = new SegmentWriter(options.io, options.fsync)
    const last = segments[segments.length - 1]
    this.nextOffset = last.nextOffset
    this.endOffset = last.nextOffset
  }

  /** Creates the files of a new, empty partition in `dir` (which exists). */
  static init (dir: string): void {
    Segment.create(dir, 0).close()
  }

  static async open (dir: string, options: PartitionOptions): Promise<Partition> {
    const bases = fs.readdirSync(dir)
      .filter((f) => /^\d+\.log$/.test(f))
      .map((f) => Number(f.slice(0, -4)))
      .sort((a, b) => a - b)
    const segments: Segment[] = []
    for (const base of bases) {
      const previous = segments[segments.length - 1]
      if (previous !== undefined && previous.nextOffset !== base) {
        // A crash after a roll can leave a new segment whose predecessor's last writes never landed.
        options.log(`${dir}: segment ${base}.log does not follow on from id ${previous.nextOffset}; removing it and the ${bases.length - segments.length - 1} after it`)
        for (const later of bases.slice(segments.length)) {
          fs.rmSync(`${dir}/${later}.log`, { force: true })
          fs.rmSync(`${dir}/${later}.index`, { force: true })
        }
        break
      }
      segments.push(await Segment.open(dir, base, options.log))
    }
    if (segments.length === 0) segments.push(Segment.create(dir, 0))
    Segment.removeSpare(dir, null)
    const groups = GroupOffsets.open(dir, options.log, options.groupsCompactBytes)
    const partition = new Partition(dir, segments, groups, options)
    const end = partition.endOffset
    for (const record of groups.clamp(end)) partition.enqueue(groups.file, record, () => groups.settled())
    return partition
  }

  get firstOffset (): number {
    return this.segments[0].base
  }

  highWatermark (): number {
    return this.endOffset
  }

  /** Appends messages; `callback` gets the first id once all are written (and synced, per policy). */
  append (messages: Buffer[], callback: AppendCallback): void {
    const first = this.nextOffset
    const timestamp = stamp(Date.now())
    let pending = 0
    let stored = 0
    let failed: RogError | null = null
    const done = (err: Error | null, count: number): void => {
      if (err !== null && failed === null) failed = err instanceof RogError ? err : RogError.storage('appending', err)
      if (err === null) stored += count
      if (--pending === 0) callback(failed, first, stored)
    }
    let i = 0
    while (i < messages.length) {
      let segment = this.active()
      if (segment.appendSize >= this.options.segmentBytes && segment.appendNext > segment.base) {
        try {
          segment = this.roll()
        } catch (err) {
          // The messages before this one are queued and keep their offsets; the rest are not appended.
          failed = RogError.storage('starting a new segment', err)
          break
        }
      }
      if (segment.appendSize >= this.options.segmentBytes / 2) this.prepareSpare()
      let bytes = 0
      let n = i
      do bytes += entrySize(messages[n++].length)
      while (n < messages.length && segment.appendSize + bytes < this.options.segmentBytes)
      const buf = Buffer.allocUnsafe(bytes)
      let indexEntries: Buffer[] | null = null
      let at = 0
      const count = n - i
      for (; i < n; i++) {
        const position = segment.appendSize + at
        if (position - segment.lastIndexed >= INDEX_INTERVAL) {
          segment.index.add(this.nextOffset - segment.base, position)
          segment.lastIndexed = position
          ;(indexEntries ??= []).push(OffsetIndex.encodeEntry(this.nextOffset - segment.base, position))
        }
        at = writeEntry(buf, at, this.nextOffset++, timestamp, messages[i])
      }
      segment.appendSize += bytes
      segment.appendNext = this.nextOffset
      const last = this.nextOffset
      pending++
      this.enqueue(segment.log, buf, (err, cancelled) => {
        if (err === null) {
          segment.nextOffset = last
          this.endOffset = last
        } else if (!cancelled) {
          this.rewind(err)
        }
        done(err, count)
      })
      if (indexEntries !== null) this.enqueue(segment.indexFile, Buffer.concat(indexEntries), () => {})
    }
    if (pending === 0) process.nextTick(callback, failed, first, 0)
  }

  /** Reads from `offset` up to the high watermark. */
  async read (offset: number, maxMessages: number, maxBytes: number): Promise<FetchedMessage[]> {
    const end = this.highWatermark()
    if (offset < this.firstOffset) offset = this.firstOffset
    const out: FetchedMessage[] = []
    let bytes = 0
    for (let s = this.segmentFor(offset); s < this.segments.length && offset < end && out.length < maxMessages; s++) {
      const segment = this.segments[s]
      const got = await segment.read(offset, end, maxMessages - out.length, maxBytes - bytes, out.length === 0)
      for (const m of got) {
        out.push(m)
        bytes += m.data.length
      }
      if (got.length > 0) offset = got[got.length - 1].offset + 1
      if (offset < Math.min(segment.nextOffset, end)) break
      if (s + 1 < this.segments.length) offset = Math.max(offset, this.segments[s + 1].base)
    }
    return out
  }

  /** Resolves once the high watermark passes `offset`, or after `ms`, or at once when `signal` aborts (the waiter and its timer are dropped). */
  waitFor (offset: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.highWatermark() > offset || ms <= 0 || this.draining || signal?.aborted === true) return Promise.resolve()
    return new Promise((resolve) => {
      const waiter: Waiter = { offset, wake: () => { clearTimeout(timer); signal?.removeEventListener('abort', drop); resolve() } }
      const drop = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        waiter.wake()
      }
      const timer = setTimeout(drop, ms)
      signal?.addEventListener('abort', drop, { once: true })
      this.waiters.push(waiter)
    })
  }

  /** Moves a group's committed offset by one; an error when it has read everything. */
  ack (group: string, callback: DoneCallback): void {
    const current = this.groups.get(group)
    if (current >= this.highWatermark()) return callback(RogError.noData())
    this.commit(group, current + 1, callback)
  }

  /** Sets a group's committed offset, at most the high watermark. */
  commit (group: string, offset: number, callback: DoneCallback): void {
    const groupBytes = Buffer.byteLength(group)
    if (groupBytes > MAX_GROUP_BYTES) {
      return callback(RogError.groupNameTooLong(groupBytes, MAX_GROUP_BYTES))
    }
    if (offset > this.highWatermark() || offset < 0) {
      return callback(RogError.badOffset(offset, this.highWatermark()))
    }
    const previous = this.groups.get(group)
    const record = this.groups.set(group, offset)
    this.enqueue(this.groups.file, record, (err) => {
      this.groups.settled()
      if (err === null) return callback(null)
      this.groups.revert(group, offset, previous)
      callback(RogError.storage('saving the group offset', err))
    })
  }

  /** fdatasync of every file written since the last call (the 'interval' policy). */
  syncDirty (): void {
    for (const t of this.durableFiles()) {
      if (t.dirty !== true) continue
      t.dirty = false
      fs.fdatasync(t.fd, (err) => { if (err !== null) this.options.log(`fdatasync failed in ${this.dir}: ${err.message}`) })
    }
  }

  async close (): Promise<void> {
    this.writer.end()
    if (!this.writer.writableFinished) await once(this.writer, 'finish')
    for (const t of this.durableFiles()) {
      if (t.dirty === true) fs.fdatasyncSync(t.fd)
    }
    this.wakeAll()
    await this.preparingSpare
    Segment.removeSpare(this.dir, this.spare)
    this.spare = null
    for (const s of this.segments) s.close()
    this.groups.close()
  }

  /** The files whose writes the fsync policy covers (indexes are rebuilt, not synced). */
  private durableFiles (): AppendTarget[] {
    return [this.groups.file, ...this.segments.map((s) => s.log)]
  }

  private enqueue (target: AppendTarget, data: Buffer, done: (err: Error | null, cancelled: boolean) => void): void {
    const append: Append = {
      target,
      data,
      done: (err) => {
        this.queued.shift()
        done(err, append.cancelled !== undefined)
        if (err === null && target !== this.groups.file) this.wake()
      }
    }
    this.queued.push(append)
    this.writer.append(append)
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

  /** After a failed write: cancel the segment appends queued behind it and reassign ids from the log end. */
  private rewind (err: Error): void {
    for (const a of this.queued) {
      if (a.target !== this.groups.file) a.cancelled = err
    }
    this.nextOffset = this.endOffset
    while (this.segments.length > 1 && this.active().base > this.endOffset) {
      const dropped = this.segments.pop()
      dropped?.remove()
    }
    const segment = this.active()
    segment.appendSize = segment.log.size
    segment.appendNext = segment.nextOffset
    segment.index.truncateTo(segment.log.size)
    segment.lastIndexed = segment.index.last()[1]
    segment.indexFile.size = segment.index.length * 8
  }

  private active (): Segment {
    return this.segments[this.segments.length - 1]
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

  private roll (): Segment {
    const spare = this.spare ?? undefined
    this.spare = null
    let segment: Segment
    try {
      segment = Segment.create(this.dir, this.nextOffset, spare)
    } catch (err) {
      if (spare !== undefined) Segment.removeSpare(this.dir, spare)
      throw err
    }
    this.segments.push(segment)
    return segment
  }

  private segmentFor (offset: number): number {
    let lo = 0
    let hi = this.segments.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (this.segments[mid].base <= offset) lo = mid
      else hi = mid - 1
    }
    return lo
  }
}

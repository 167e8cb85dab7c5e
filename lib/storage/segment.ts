import * as fs from 'node:fs'
import * as path from 'node:path'
import { RogError } from '../errors'
import { BufferViews } from '../util/buffer-views'
import { viewOf } from '../util/crc32c'
import { ENTRY_HEADER, ENTRY_OVERHEAD, entryFormat, entryIsIntact, entryMessage, entrySize, entryTimestamp, plausibleSize, readEntryHeader, writeEntry, type Stamp } from './entry'
import { INDEX_ENTRY, INDEX_INTERVAL, OffsetIndex } from './offset-index'
import { TIME_INDEX_ENTRY, TimeIndex } from './time-index'
import { DataFile, type FilePool } from './data-file'
import { CREATE_NEW } from './file-io'
import type { WriteArena } from './write-arena'

const READ_CHUNK = 256 * 1024
/** Index points gathered before they are written to the hint files: a scan of at most 32 x 4 KiB on open after a crash. */
const HINT_BATCH = 32

/** A line for the server log; `repeat` keys a line that may come once per request or write batch, which is then rate-limited (RepeatLimiter). */
export type Logger = (line: string, repeat?: string) => void

/** A message as stored: its offset, append time (ms since the epoch) and bytes. */
export interface StoredMessage { offset: number, timestamp: number, data: Buffer }

/** Files made ahead of a roll, linked into place by it (creating a file costs ~40x a link). */
export const SPARE_LOG = 'spare.log.next'
export const SPARE_INDEX = 'spare.index.next'
export const SPARE_TIME_INDEX = 'spare.timeindex.next'
/** Spare files in the order a roll links them: log, index, time index. */
const SPARE_NAMES = [SPARE_LOG, SPARE_INDEX, SPARE_TIME_INDEX]
export interface SpareFiles { fds: number[] }

export interface SegmentContext {
  pool: FilePool
  log: Logger
  /** How clients are told where damage is, e.g. "Partition 0 of log events". */
  label: string
}

/**
 * Which damage at open may be truncated as a torn tail, always only a tail
 * with no intact entry after it: one from a byte position on (after the
 * partition's recovery point), one anywhere in the file ('tail', when there is
 * no recovery point), or none.
 */
export type Truncatable = number | 'tail' | null

/** What recovery found in a segment. */
export interface Recovery {
  /** Bytes truncated as a torn tail (0 when none). */
  truncated: number
  /** Damage left in place: the position of each bad entry and the offset expected there. */
  damage: Array<{ position: number, offset: number }>
}

/**
 * A segment: the entries of one partition from id `base` on, in `<base>.log`,
 * with its sparse index in `<base>.index` (see entry.ts and offset-index.ts
 * for the byte layouts).
 *
 * Invariants: `log.size` bytes of the file hold entries with ids base,
 * base+1, ... nextOffset-1, and readers never look past `log.size`. Appends
 * are encoded here (`reserve`) and written by the partition's writer; the
 * reserved size and next id run ahead of the written ones until `written`
 * (or `rewind`, after a failure) settles them. The index only names positions
 * inside the log, and every read checks the entry it points at.
 *
 * A segment with damage, or of the legacy entry format, is sealed: it is
 * read, never appended to.
 */
export class Segment {
  readonly base: number
  readonly logPath: string
  readonly indexPath: string
  readonly log: DataFile
  readonly indexFile: DataFile
  readonly timeIndexPath: string
  readonly timeIndexFile: DataFile
  readonly legacy: boolean
  private readonly index: OffsetIndex
  private readonly ctx: SegmentContext
  private next: number
  private reservedSize: number
  private reservedNext: number
  private lastIndexed: number
  /**
   * Index and time index points held in memory and not yet written to their
   * files (the last ones of each): written HINT_BATCH at a time, and by
   * `takeHints` on a roll and at close, not with every batch. A hint file
   * that lags after a crash is completed by the scan on open.
   */
  private unwrittenPoints = 0
  private unwrittenTimePoints = 0
  private isSealed: boolean
  /** Null until built (from its file, or by a scan of the log on the first lookup by time). */
  private timeIndex: TimeIndex | null
  /** The largest timestamp written here; null until known (read on demand). */
  private maxTs: number | null

  private constructor (ctx: SegmentContext, dir: string, base: number, log: DataFile, indexFile: DataFile, index: OffsetIndex, nextOffset: number, legacy: boolean, sealed: boolean, timeIndex: TimeIndex | null, timeIndexFd?: number) {
    this.ctx = ctx
    this.base = base
    this.logPath = path.join(dir, `${base}.log`)
    this.indexPath = path.join(dir, `${base}.index`)
    this.log = log
    this.indexFile = indexFile
    this.timeIndexPath = path.join(dir, `${base}.timeindex`)
    this.timeIndexFile = new DataFile(ctx.pool, this.timeIndexPath, timeIndex === null ? 0 : timeIndex.length * TIME_INDEX_ENTRY, { durable: false, create: true, fd: timeIndexFd })
    this.timeIndex = timeIndex
    this.maxTs = nextOffset === base ? -Infinity : null
    this.index = index
    this.next = nextOffset
    this.reservedSize = log.size
    this.reservedNext = nextOffset
    this.lastIndexed = index.last()[1]
    this.legacy = legacy
    this.isSealed = sealed || legacy
  }

  /** One past the last id written. */
  get nextOffset (): number {
    return this.next
  }

  /** Bytes written plus bytes reserved by appends in flight. */
  get appendSize (): number {
    return this.reservedSize
  }

  /** Whether any entry is written or reserved. */
  get empty (): boolean {
    return this.reservedNext === this.base
  }

  get sealed (): boolean {
    return this.isSealed
  }

  /**
   * A new, empty segment; from `spare` files when given. Its files are linked
   * into place, never renamed over: a file already there of that name is not
   * part of this log and is left alone (the roll fails instead), unless every
   * file of the segment's names there is empty (see clearEmpty).
   */
  static create (ctx: SegmentContext, dir: string, base: number, spare?: SpareFiles): Segment {
    const names = [path.join(dir, `${base}.log`), path.join(dir, `${base}.index`), path.join(dir, `${base}.timeindex`)]
    let fds: Array<number | undefined>
    try {
      fds = Segment.place(ctx, dir, names, spare)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !Segment.clearEmpty(ctx, names)) throw err
      fds = Segment.place(ctx, dir, names, spare)
    }
    const [logFd, indexFd, timeIndexFd] = fds
    const log = new DataFile(ctx.pool, names[0], 0, { durable: true, fd: logFd, createdIn: dir })
    const indexFile = new DataFile(ctx.pool, names[1], 0, { durable: false, fd: indexFd })
    return new Segment(ctx, dir, base, log, indexFile, new OffsetIndex(), base, false, false, new TimeIndex(), timeIndexFd)
  }

  /** Makes a segment's files under `names` (log, index, time index), linked from `spare` or created; returns their descriptors. */
  private static place (ctx: SegmentContext, dir: string, names: string[], spare?: SpareFiles): Array<number | undefined> {
    if (spare !== undefined) {
      const linked: string[] = []
      try {
        for (const [i, target] of names.entries()) {
          fs.linkSync(path.join(dir, SPARE_NAMES[i]), target)
          linked.push(target)
        }
      } catch (err) {
        for (const f of linked) fs.unlinkSync(f)
        throw err
      }
      for (const name of SPARE_NAMES) fs.unlinkSync(path.join(dir, name))
      return spare.fds
    }
    const logFd = ctx.pool.io.open(names[0], CREATE_NEW)
    try {
      return [logFd, ctx.pool.io.open(names[1], CREATE_NEW), undefined]
    } catch (err) {
      ctx.pool.io.close(logFd)
      fs.unlinkSync(names[0])
      throw err
    }
  }

  /**
   * Files of a segment's names that are all empty regular files hold nothing
   * (a torn write batch made them, under another --segment-bytes than
   * recovery knew): they are removed, so that a roll can take their names.
   * Returns false, removing nothing, when anything else is there.
   */
  private static clearEmpty (ctx: SegmentContext, files: string[]): boolean {
    const found = files.map((f) => ({ f, st: fs.lstatSync(f, { throwIfNoEntry: false }) })).filter((x) => x.st !== undefined)
    if (found.length === 0 || !found.every((x) => x.st?.isFile() === true && x.st.size === 0)) return false
    for (const { f } of found) fs.unlinkSync(f)
    ctx.log(`${files[0]}: an empty file of this segment's name was there (made by a torn write); replaced by the new segment`)
    return true
  }

  /** Creates spare segment files (log, index, time index) in the background. */
  static prepareSpare (dir: string, callback: (err: Error | null, spare: SpareFiles | null) => void): void {
    // Opened at once, not one after another: each open waits for a free thread and then for a turn of the event loop.
    const fds: number[] = new Array(SPARE_NAMES.length).fill(-1)
    let pending = SPARE_NAMES.length
    let failure: Error | null = null
    for (const [i, name] of SPARE_NAMES.entries()) {
      fs.open(path.join(dir, name), CREATE_NEW, (err, fd) => {
        if (err === null) fds[i] = fd
        else failure ??= err
        if (--pending > 0) return
        if (failure === null) return callback(null, { fds })
        for (const [j, made] of fds.entries()) {
          if (made < 0) continue
          fs.closeSync(made)
          fs.rmSync(path.join(dir, SPARE_NAMES[j]), { force: true })
        }
        callback(failure, null)
      })
    }
  }

  /** Removes spare files: Rog's own names, made by an earlier run or this one. */
  static removeSpare (dir: string, spare: SpareFiles | null): void {
    if (spare !== null) for (const fd of spare.fds) fs.closeSync(fd)
    for (const name of SPARE_NAMES) {
      const file = path.join(dir, name)
      if (fs.lstatSync(file, { throwIfNoEntry: false })?.isFile() === true) fs.rmSync(file)
    }
  }

  /**
   * Opens an existing segment and recovers it (`nextBase`: the next segment's
   * base, if any). Its index is checked (and
   * rebuilt from the log when missing or damaged); entries from the last index
   * point on, and from `truncatable` on, are checked. Damage that `truncatable`
   * allows is truncated away as a torn tail; any other damage is left in place
   * and reported, and seals the segment, as does a file shorter than the
   * recovery point says was synced. Entries past damage are found again by
   * their checksums, so `nextOffset` never falls back onto an id in use.
   */
  static async open (ctx: SegmentContext, dir: string, base: number, truncatable: Truncatable, nextBase?: number): Promise<{ segment: Segment, recovery: Recovery }> {
    const logPath = path.join(dir, `${base}.log`)
    const indexPath = path.join(dir, `${base}.index`)
    const log = new DataFile(ctx.pool, logPath, 0, { durable: true })
    const fd = log.pin()
    try {
      const fileSize = fs.fstatSync(fd).size
      log.size = fileSize
      const legacy = await detectLegacy(fd, fileSize)
      const indexStat = fs.lstatSync(indexPath, { throwIfNoEntry: false })
      let index: OffsetIndex | null = null
      if (indexStat?.isFile() === true) index = OffsetIndex.decode(fs.readFileSync(indexPath), fileSize)
      if (index !== null && index.length > 0 && !(await indexPointIsRight(fd, fileSize, base, index.last()))) index = null
      let indexChanged = false
      if (index === null) {
        if (fileSize > 0) ctx.log(`${indexPath}: offset index missing or damaged, rebuilding it`)
        index = new OffsetIndex()
        indexChanged = true
      }
      let [rel, from] = index.last()
      if (typeof truncatable === 'number' && truncatable < from) {
        [rel, from] = index.atOrBeforePosition(truncatable)
        if (!(await indexPointIsRight(fd, fileSize, base, [rel, from]))) [rel, from] = [0, 0]
      }
      const scan = await scanEntries(fd, fileSize, from, base + rel, legacy, index, base)
      const recovery: Recovery = { truncated: 0, damage: [] }
      let nextOffset = scan.nextOffset
      let end = scan.end
      /** Where the ids given out so far end: past the end of the file when its last entry is cut short. */
      let accounted = fileSize
      while (end < fileSize) {
        const after = await findEntry(fd, end + 1, fileSize, nextOffset, legacy)
        const head = readEntryHeader(await readRange(fd, end, 16), 0)
        // A whole entry in sequence whose checksum fails: one message lost, found again right after it.
        const single = head !== null && head.id === nextOffset && plausibleSize(head.size) &&
          (after === null ? end + head.size >= fileSize : after.position === end + head.size && after.id === nextOffset + 1)
        // Torn: bad bytes with no intact entry after them. A crash never tears the middle of what it wrote, so
        // intact entries past bad ones (a flipped bit, say) are damage, also after the recovery point; so is
        // the whole last entry of a segment rolled from (a tear cuts it short; it was written before the roll).
        const torn = after === null && !(single && end + head.size === fileSize && nextBase !== undefined)
        if (torn && (truncatable === 'tail' || (typeof truncatable === 'number' && end >= truncatable))) {
          recovery.truncated = fileSize - end
          ctx.log(`${logPath}: truncated ${fileSize - end} bytes of a torn write at position ${end} (written after the last point known synced; offsets from ${nextOffset} on were never synced)`)
          ctx.pool.io.ftruncate(log.handle(), end)
          log.size = end
          index.truncateTo(end)
          indexChanged = true
          break
        }
        recovery.damage.push({ position: end, offset: nextOffset })
        if (after === null) {
          // Damage to the end of the file: ids it may have held are never given out again.
          const next = single ? nextOffset + 1 : idsAfter(nextOffset, fileSize - end, nextBase)
          if (single) accounted = end + head.size
          ctx.log(`${logPath}: ${fileSize - end} damaged bytes at position ${end} to the end of the file, left in place; offsets ${nextOffset} to ${next - 1} are not served or reused`)
          nextOffset = next
          break
        }
        ctx.log(`${logPath}: ${after.position - end} damaged bytes at position ${end} (offsets ${nextOffset} to ${after.id - 1}), left in place; reads of them answer an error`)
        const more = await scanEntries(fd, fileSize, after.position, after.id, legacy, index, base)
        nextOffset = more.nextOffset
        end = more.end
      }
      if (typeof truncatable === 'number' && truncatable > accounted) {
        // Bytes known synced are gone (cut by something else): ids they held are never given out again.
        const next = idsAfter(nextOffset, truncatable - accounted, nextBase)
        ctx.log(`${logPath}: ${truncatable - fileSize} bytes known synced (the recovery point says ${truncatable}) are missing from the end of the file; offsets ${nextOffset} to ${next - 1} are not served or reused`)
        recovery.damage.push({ position: fileSize, offset: nextOffset })
        nextOffset = next
      }
      if (indexChanged || (indexStat?.isFile() === true && indexStat.size !== index.length * INDEX_ENTRY)) writeIndex(ctx, indexPath, index)
      const indexSize = fs.lstatSync(indexPath, { throwIfNoEntry: false })?.size ?? 0
      const indexFile = new DataFile(ctx.pool, indexPath, indexSize, { durable: false })
      const segment = new Segment(ctx, dir, base, log, indexFile, index, nextOffset, legacy, recovery.damage.length > 0, readTimeIndex(path.join(dir, `${base}.timeindex`), nextOffset - base))
      return { segment, recovery }
    } finally {
      log.unpin()
    }
  }

  /**
   * Encodes as many of `messages` from `from` as fit under `maxBytes` (at
   * least one), with ids from `firstId` (which must be this segment's next
   * reserved id), and reserves their space. Returns the log bytes, the index
   * bytes to append (or null), and how many messages it took.
   */
  reserve (firstId: number, messages: Buffer[], from: number, stamp: Stamp | null, maxBytes: number, arena: WriteArena): { data: Buffer, index: Buffer | null, timeIndex: Buffer | null, count: number } {
    if (firstId !== this.reservedNext) throw new Error(`segment ${this.logPath}: append of id ${firstId} where ${this.reservedNext} is next`)
    // stamp null: `messages` are whole entries a leader sent (checked, ids in sequence), copied as they are.
    const sizeOf = stamp === null ? rawSize : entrySize
    let bytes = 0
    let n = from
    do bytes += sizeOf(messages[n++].length)
    while (n < messages.length && this.reservedSize + bytes + sizeOf(messages[n].length) <= maxBytes)
    const data = arena.take(bytes)
    let dataView: DataView | undefined
    const points = this.index.length
    const timePoints = this.timeIndex?.length ?? 0
    let at = 0
    let id = firstId
    let maxMs = stamp?.ms ?? -Infinity
    for (let i = from; i < n; i++) {
      const position = this.reservedSize + at
      const ms = stamp?.ms ?? entryTimestamp(messages[i], 0)
      if (ms > maxMs) maxMs = ms
      if (position - this.lastIndexed >= INDEX_INTERVAL || (id === this.base && this.timeIndex?.length === 0)) {
        if (position - this.lastIndexed >= INDEX_INTERVAL) {
          this.index.add(id - this.base, position)
          this.lastIndexed = position
        }
        this.timeIndex?.add(ms, id - this.base)
      }
      if (stamp === null) {
        at += messages[i].copy(data, at)
        id++
      } else {
        at = writeEntry(data, at, id++, stamp, messages[i], dataView ??= viewOf(data))
      }
    }
    this.reservedSize += bytes
    this.reservedNext = id
    if (this.maxTs !== null) this.maxTs = Math.max(this.maxTs, maxMs)
    this.unwrittenPoints += this.index.length - points
    this.unwrittenTimePoints += (this.timeIndex?.length ?? 0) - timePoints
    const hints = this.unwrittenPoints >= HINT_BATCH || this.unwrittenTimePoints >= HINT_BATCH ? this.takeHints() : { index: null, timeIndex: null }
    return { data, ...hints, count: n - from }
  }

  /** The bytes of the index points not yet written to the two hint files (null: none), now taken as written. */
  takeHints (): { index: Buffer | null, timeIndex: Buffer | null } {
    const index = this.unwrittenPoints === 0 ? null : this.index.encode(this.index.length - this.unwrittenPoints)
    const timeIndex = this.timeIndex === null || this.unwrittenTimePoints === 0 ? null : this.timeIndex.encode(this.timeIndex.length - this.unwrittenTimePoints)
    this.unwrittenPoints = 0
    this.unwrittenTimePoints = 0
    return { index, timeIndex }
  }

  /** The writer wrote the reserved entries up to `nextOffset`. */
  written (nextOffset: number): void {
    this.next = nextOffset
  }

  /** After a failed write: what is reserved falls back to what is written, the next id to `nextId`. */
  rewind (nextId: number): void {
    this.reservedSize = this.log.size
    this.reservedNext = nextId
    const points = this.index.length
    this.index.truncateTo(this.log.size)
    this.unwrittenPoints = Math.max(0, this.unwrittenPoints - (points - this.index.length))
    this.lastIndexed = this.index.last()[1]
    const timePoints = this.timeIndex?.length ?? 0
    this.timeIndex?.truncateTo(nextId - this.base)
    this.unwrittenTimePoints = Math.max(0, this.unwrittenTimePoints - (timePoints - (this.timeIndex?.length ?? 0)))
    this.maxTs = null
  }

  /**
   * Removes the entries from `offset` on (a follower's divergent tail, which
   * the leader has shown it does not have); nothing may be queued here.
   * Returns the bytes removed.
   */
  async truncateTo (offset: number): Promise<number> {
    if (offset >= this.next) return 0
    let position = 0
    if (offset > this.base) {
      const [rel, from] = this.index.lookup(offset - this.base)
      const fd = this.log.pin()
      try {
        const scan = await scanEntries(fd, this.log.size, from, this.base + rel, this.legacy, new OffsetIndex(), this.base, (id) => id < offset)
        if (scan.nextOffset !== offset) throw new Error(`${this.logPath}: offset ${offset} not found (scan ended at ${scan.nextOffset})`)
        position = scan.end
      } finally {
        this.log.unpin()
      }
    }
    const removed = this.log.size - position
    const io = this.ctx.pool.io
    io.ftruncate(this.log.handle(), position)
    this.log.size = position
    this.log.synced = Math.min(this.log.synced, position)
    this.next = offset
    this.rewind(offset)
    // The hint files are cut to what the indexes kept and had written, so later entries append after valid ones.
    const written = this.index.length - this.unwrittenPoints
    io.ftruncate(this.indexFile.handle(), written * INDEX_ENTRY)
    this.indexFile.size = written * INDEX_ENTRY
    const timeEntries = (this.timeIndex?.length ?? 0) - this.unwrittenTimePoints
    if (this.timeIndexFile.size > timeEntries * TIME_INDEX_ENTRY) {
      io.ftruncate(this.timeIndexFile.handle(), timeEntries * TIME_INDEX_ENTRY)
      this.timeIndexFile.size = timeEntries * TIME_INDEX_ENTRY
    }
    io.fsyncPath(this.logPath)
    return removed
  }

  /** The largest timestamp of the entries written here (-Infinity when none). */
  async maxTimestamp (): Promise<number> {
    if (this.maxTs !== null) return this.maxTs
    let max = -Infinity
    // The scan reads what is written: an append reserved and not yet written, or reserved during the scan, is not in it
    // (nor, with no cached value, counted by reserve), so the value is cached only when there was none.
    const scanned = this.reservedSize
    const complete = this.log.size === scanned
    const fd = this.log.pin()
    try {
      await scanEntries(fd, this.log.size, this.index.last()[1], this.base + this.index.last()[0], this.legacy, new OffsetIndex(), this.base, (id, timestamp) => { max = Math.max(max, timestamp) })
    } finally {
      this.log.unpin()
    }
    if (this.timeIndex !== null && this.timeIndex.length > 0) max = Math.max(max, this.timeIndex.timestamps[this.timeIndex.length - 1])
    if (complete && this.reservedSize === scanned) this.maxTs ??= max
    return max
  }

  /**
   * The first id here stamped at or after `timestamp`, or null when none is.
   * Builds the time index from the log on first use when its file was
   * missing or damaged.
   */
  async offsetForTime (timestamp: number): Promise<number | null> {
    const fd = this.log.pin()
    try {
      if (this.timeIndex === null) {
        const rebuilt = new TimeIndex()
        let lastIndexed = -INDEX_INTERVAL
        await scanEntries(fd, this.log.size, 0, this.base, this.legacy, new OffsetIndex(), this.base, (id, ts, position) => {
          if (position - lastIndexed >= INDEX_INTERVAL) {
            rebuilt.add(ts, id - this.base)
            lastIndexed = position
          }
        })
        if (this.timeIndex === null) {
          this.timeIndex = rebuilt
          // Retention may have deleted the segment during the scan: its time index would be made again, of nothing.
          if (!this.timeIndexFile.removed) writeHint(this.ctx, this.timeIndexPath, rebuilt.encode(), 'time index')
          this.timeIndexFile.size = rebuilt.length * TIME_INDEX_ENTRY
          this.unwrittenTimePoints = 0
        }
      }
      const [rel, position] = this.index.lookup(this.timeIndex.scanFrom(timestamp))
      let found: number | null = null
      await scanEntries(fd, this.log.size, position, this.base + rel, this.legacy, new OffsetIndex(), this.base, (id, ts) => {
        if (found === null && ts >= timestamp) found = id
        return found === null
      })
      return found
    } finally {
      this.log.unpin()
    }
  }

  /**
   * Messages with ids in [offset, endOffset), at most `maxMessages` and about
   * `maxBytes` of message bytes (but with `atLeastOne`, the first message
   * whatever its size). Every entry read is checked: its id follows on from
   * the one before (or is the one its index point names: a point that leads
   * elsewhere is dropped, and an earlier one used), its size is one
   * Rog writes, and its checksum holds, whether it is returned or stepped over
   * on the way (the checksum covers the size that leads to the next entry,
   * and past damage the next intact entry is searched for). An entry that fails
   * ends the read with what came before it, or, when it comes first, with a
   * DAMAGED error naming the offset.
   */
  /**
   * `raw`: each message's `data` is its whole entry as stored, and checksums
   * are left to the receiver (a follower checks every entry it is sent).
   */
  async read (offset: number, endOffset: number, maxMessages: number, maxBytes: number, atLeastOne: boolean, raw = false): Promise<StoredMessage[]> {
    const out: StoredMessage[] = []
    const limit = Math.min(endOffset, this.next)
    if (offset >= limit || maxMessages <= 0) return out
    let [rel, position] = this.index.lookup(offset - this.base)
    let expected = this.base + rel
    /** Whether reading starts at an index point not yet seen to lead to the entry it names. */
    let unchecked = position > 0
    const fileEnd = this.log.size
    let bytes = 0
    const fd = this.log.pin()
    try {
      let want = Math.min(READ_CHUNK, Math.max(4096, maxBytes + INDEX_INTERVAL))
      while (expected < limit && out.length < maxMessages) {
        const length = Math.min(want, fileEnd - position)
        const buf = length > 0 ? Buffer.allocUnsafe(length) : Buffer.alloc(0)
        const bytesRead = length > 0 ? await readAt(this.ctx, this.log, fd, buf, position) : 0
        const view = bytesRead < length ? buf.subarray(0, bytesRead) : buf
        const messages = new BufferViews(view)
        const checked = raw ? null : messages.dataView
        let at = 0
        let bad = false
        for (;;) {
          const entry = readEntryHeader(view, at)
          if (entry === null) {
            bad = position + at + 16 > fileEnd
            break
          }
          if (entry.id !== expected || !plausibleSize(entry.size) || position + at + entry.size > fileEnd) {
            bad = true
            break
          }
          unchecked = false
          if (at + entry.size > view.length) {
            if (at === 0) want = entry.size
            break
          }
          if (checked !== null && !entryIsIntact(view, at, entry.size, this.legacy, checked)) {
            bad = true
            break
          }
          if (entry.id >= offset) {
            const data = raw ? messages.view(at, at + entry.size) : entryMessage(messages, at, entry.size)
            if ((out.length > 0 || !atLeastOne) && bytes + data.length > maxBytes) return out
            out.push({ offset: entry.id, timestamp: entryTimestamp(view, at), data })
            bytes += data.length
          }
          expected++
          at += entry.size
          if (expected >= limit || out.length >= maxMessages) return out
        }
        // Nothing whole where the file should hold more: it is shorter than written (cut by something else).
        if (at === 0 && bytesRead < length) bad = true
        if (bad && unchecked) {
          [rel, position] = this.dropIndexPoint(rel, position, offset)
          expected = this.base + rel
          unchecked = position > 0
          continue
        }
        if (bad) {
          if (out.length > 0) return out
          const found = offset > expected ? await findEntry(fd, position + at + 1, fileEnd, expected + 1, this.legacy) : null
          if (found === null || found.id > offset) throw this.damaged(offset > expected ? offset : expected, position + at)
          position = found.position
          expected = found.id
          continue
        }
        position += at
        if (at > 0) want = Math.min(READ_CHUNK, Math.max(4096, maxBytes - bytes + INDEX_INTERVAL))
      }
    } finally {
      this.log.unpin()
    }
    return out
  }

  /**
   * An index point that leads to no entry of the id it names is a wrong hint,
   * not damaged data: it is dropped (the file keeps it; reads check it again)
   * and the read goes from the point before it. Returns that point.
   */
  private dropIndexPoint (rel: number, position: number, offset: number): [number, number] {
    this.ctx.log(`${this.indexPath}: the point for offset ${this.base + rel} (position ${position}) leads to no entry of that offset; ignored`)
    if (this.index.offsets.indexOf(rel) >= this.index.length - this.unwrittenPoints) this.unwrittenPoints--
    this.index.drop(rel)
    return this.index.lookup(offset - this.base)
  }

  private damaged (offset: number, position: number): RogError {
    this.ctx.log(`${this.logPath}: damaged entry at position ${position}, read of offset ${offset} refused`, `damaged ${this.logPath}`)
    return RogError.damaged(this.ctx.label, offset)
  }

  close (): void {
    this.log.closeFd()
    this.indexFile.closeFd()
    this.timeIndexFile.closeFd()
  }

  /** Deletes this segment's files: only for a segment this process created and never wrote, or an unsynced tail. */
  remove (): void {
    this.log.removed = true
    this.indexFile.removed = true
    this.timeIndexFile.removed = true
    this.close()
    removeSegmentFiles(path.dirname(this.logPath), this.base)
  }
}

/**
 * Deletes a segment's files, its hint files first: a process killed part way
 * leaves a log without hints (rebuilt on open) or nothing, never hints of a
 * log that is gone.
 */
export function removeSegmentFiles (dir: string, base: number): void {
  fs.rmSync(path.join(dir, `${base}.timeindex`), { force: true })
  fs.rmSync(path.join(dir, `${base}.index`), { force: true })
  fs.rmSync(path.join(dir, `${base}.log`), { force: true })
}

/**
 * The next id to give out after `bytes` that held ids from `first` on and
 * cannot be read: the next segment's base when there is one, else as many
 * ids as entries of the smallest size could have held.
 */
export function idsAfter (first: number, bytes: number, nextBase?: number): number {
  return nextBase !== undefined && nextBase >= first ? nextBase : first + Math.ceil(bytes / ENTRY_OVERHEAD)
}

function readAt (ctx: SegmentContext, file: DataFile, fd: number, buf: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => file.io.read(fd, buf, position, (err, n) => {
    if (err === null) return resolve(n)
    ctx.log(`${file.path}: read at position ${position} failed: ${err.message}`, `read ${file.path}`)
    reject(RogError.storage('reading', err))
  }))
}

function readRange (fd: number, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, length, position, (err, n) => err === null ? resolve(n < length ? buf.subarray(0, n) : buf) : reject(err)))
}

/**
 * Legacy segments (Rog before 0.2) are recognised by their first intact
 * entry: the first one of the file, read alone, unless it is damaged.
 */
export async function detectLegacy (fd: number, fileSize: number): Promise<boolean> {
  if (fileSize === 0) return false
  const head = readEntryHeader(await readRange(fd, 0, ENTRY_HEADER), 0)
  if (head !== null && plausibleSize(head.size) && head.size <= fileSize) {
    const format = entryFormat(await readRange(fd, 0, head.size), 0, head.size)
    if (format !== null) return format === 'legacy'
  }
  const found = await findEntry(fd, 0, fileSize, 0, null)
  return found?.format === 'legacy'
}

async function indexPointIsRight (fd: number, fileSize: number, base: number, [rel, position]: [number, number]): Promise<boolean> {
  if (position === 0 && rel === 0) return true
  const head = await readRange(fd, position, 16)
  const entry = readEntryHeader(head, 0)
  return entry !== null && entry.id === base + rel && position + entry.size <= fileSize
}

/**
 * Walks entries from `from` (the entry with id `expected`), adding index
 * points as appends do past the index's last; stops at the first entry that
 * is out of sequence, implausible, cut short or fails its checksum, or when
 * `onEntry` returns false.
 */
async function scanEntries (fd: number, fileSize: number, from: number, expected: number, legacy: boolean, index: OffsetIndex, base: number, onEntry?: (id: number, timestamp: number, position: number) => boolean | undefined | void): Promise<{ end: number, nextOffset: number }> {
  let position = from
  let lastIndexed = index.last()[1]
  let want = READ_CHUNK
  while (position < fileSize) {
    const buf = await readRange(fd, position, Math.min(want, fileSize - position))
    const bufView = viewOf(buf)
    let at = 0
    for (;;) {
      const entry = readEntryHeader(buf, at)
      if (entry === null) break
      if (entry.id !== expected || !plausibleSize(entry.size) || position + at + entry.size > fileSize) return { end: position + at, nextOffset: expected }
      if (at + entry.size > buf.length) break
      if (!entryIsIntact(buf, at, entry.size, legacy, bufView)) return { end: position + at, nextOffset: expected }
      if (onEntry !== undefined && onEntry(entry.id, entryTimestamp(buf, at), position + at) === false) return { end: position + at, nextOffset: expected }
      if (position + at - lastIndexed >= INDEX_INTERVAL && position + at > index.last()[1]) {
        index.add(entry.id - base, position + at)
        lastIndexed = position + at
      }
      expected++
      at += entry.size
    }
    if (at === 0) {
      const entry = readEntryHeader(buf, 0)
      if (entry === null) return { end: position, nextOffset: expected }
      want = entry.size
      continue
    }
    position += at
    want = READ_CHUNK
  }
  return { end: position, nextOffset: expected }
}

/**
 * The first intact entry at or after byte `from` whose id is at least `minId`
 * (any id when `legacy` is null, which also accepts either checksum), found
 * by trying every position: how reads and recovery find their footing again
 * past damage. A checksum over id and size makes a false match a 1 in 2^32 event.
 */
export async function findEntry (fd: number, from: number, fileSize: number, minId: number, legacy: boolean | null): Promise<{ position: number, id: number, format: 'current' | 'legacy' } | null> {
  const window = 1024 * 1024
  for (let start = from; start + ENTRY_OVERHEAD <= fileSize; start += window) {
    const buf = await readRange(fd, start, Math.min(window + 16, fileSize - start))
    const stop = Math.min(window, buf.length - 16 + 1)
    for (let at = 0; at < stop; at++) {
      const entry = readEntryHeader(buf, at)
      if (entry === null || entry.id < minId || !plausibleSize(entry.size) || start + at + entry.size > fileSize) continue
      const whole = at + entry.size <= buf.length ? buf : await readRange(fd, start + at, entry.size)
      const offset = whole === buf ? at : 0
      const format = legacy === null ? entryFormat(whole, offset, entry.size) : entryIsIntact(whole, offset, entry.size, legacy) ? (legacy ? 'legacy' : 'current') : null
      if (format !== null) return { position: start + at, id: entry.id, format }
    }
  }
  return null
}

function writeIndex (ctx: SegmentContext, indexPath: string, index: OffsetIndex): void {
  writeHint(ctx, indexPath, index.encode(), 'offset index')
}

/** Rewrites a hint file (an index) whole; a failure is logged, the hint stays in memory. */
function writeHint (ctx: SegmentContext, indexPath: string, encoded: Buffer, what: string): void {
  let fd = -1
  try {
    const exists = fs.lstatSync(indexPath, { throwIfNoEntry: false })
    fd = exists === undefined ? ctx.pool.io.open(indexPath, CREATE_NEW) : ctx.pool.io.open(indexPath, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW)
    ctx.pool.io.writev(fd, [encoded], 0)
    ctx.pool.io.ftruncate(fd, encoded.length)
  } catch (err) {
    ctx.log(`${indexPath}: could not write the ${what} (${(err as Error).message}); it is kept in memory`, `hint ${indexPath}`)
  } finally {
    if (fd >= 0) ctx.pool.io.close(fd)
  }
}

/** A segment's time index from its file, or null when missing or damaged (rebuilt on first use). */
function readTimeIndex (file: string, entries: number): TimeIndex | null {
  if (fs.lstatSync(file, { throwIfNoEntry: false })?.isFile() !== true) return entries === 0 ? new TimeIndex() : null
  return TimeIndex.decode(fs.readFileSync(file), entries)
}

function rawSize (entryBytes: number): number {
  return entryBytes
}

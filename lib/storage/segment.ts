import * as fs from 'node:fs'
import * as path from 'node:path'
import { promisify } from 'node:util'
import type { FetchedMessage } from '../protocol/commands'
import { RogError } from '../errors'
import { ENTRY_OVERHEAD, entryIsIntact, entryMessage, readEntryHeader } from './entry'
import { INDEX_ENTRY, INDEX_INTERVAL, OffsetIndex } from './offset-index'
import type { AppendTarget } from './segment-writer'

const read = promisify(fs.read)
const READ_CHUNK = 256 * 1024
/** No entry is larger than this; a header claiming more is damage. */
export const MAX_ENTRY_BYTES = 256 * 1024 * 1024

export type Logger = (line: string) => void

/** Files made ahead of a roll, renamed into place by it (creating a file costs ~40x a rename). */
export const SPARE_LOG = 'spare.log.next'
export const SPARE_INDEX = 'spare.index.next'
export interface SpareFiles { logFd: number, indexFd: number }

/**
 * A segment: the entries of one partition from id `base` on, in `<base>.log`,
 * with its sparse index in `<base>.index` (see entry.ts and offset-index.ts
 * for the byte layouts).
 *
 * Invariants: `log.size` bytes of the file hold whole, intact entries with ids
 * base, base+1, ... nextOffset-1, and readers never look past `log.size`.
 * `appendSize`/`appendNext` run ahead of them by the appends queued on the
 * partition's writer. The index only names positions inside the log.
 */
export class Segment {
  readonly base: number
  readonly logPath: string
  readonly indexPath: string
  readonly log: AppendTarget
  readonly indexFile: AppendTarget
  readonly index: OffsetIndex
  nextOffset: number
  appendSize: number
  appendNext: number
  lastIndexed: number

  private constructor (dir: string, base: number, logFd: number, indexFd: number, index: OffsetIndex, size: number, nextOffset: number, durable: boolean) {
    this.base = base
    this.logPath = path.join(dir, `${base}.log`)
    this.indexPath = path.join(dir, `${base}.index`)
    this.log = { fd: logFd, size, durable }
    this.indexFile = { fd: indexFd, size: index.length * INDEX_ENTRY, durable: false }
    this.index = index
    this.nextOffset = nextOffset
    this.appendSize = size
    this.appendNext = nextOffset
    this.lastIndexed = index.last()[1]
  }

  /** A new, empty segment; from `spare` files when given (they are renamed to its names). */
  static create (dir: string, base: number, spare?: SpareFiles): Segment {
    if (spare !== undefined) {
      fs.renameSync(path.join(dir, SPARE_LOG), path.join(dir, `${base}.log`))
      fs.renameSync(path.join(dir, SPARE_INDEX), path.join(dir, `${base}.index`))
      return new Segment(dir, base, spare.logFd, spare.indexFd, new OffsetIndex(), 0, base, true)
    }
    const logFd = fs.openSync(path.join(dir, `${base}.log`), 'w+')
    const indexFd = fs.openSync(path.join(dir, `${base}.index`), 'w+')
    return new Segment(dir, base, logFd, indexFd, new OffsetIndex(), 0, base, true)
  }

  /** Creates spare segment files in the background. */
  static prepareSpare (dir: string, callback: (err: Error | null, spare: SpareFiles | null) => void): void {
    fs.open(path.join(dir, SPARE_LOG), 'w+', (err, logFd) => {
      if (err !== null) return callback(err, null)
      fs.open(path.join(dir, SPARE_INDEX), 'w+', (err2, indexFd) => {
        if (err2 !== null) {
          fs.closeSync(logFd)
          return callback(err2, null)
        }
        callback(null, { logFd, indexFd })
      })
    })
  }

  static removeSpare (dir: string, spare: SpareFiles | null): void {
    if (spare !== null) {
      fs.closeSync(spare.logFd)
      fs.closeSync(spare.indexFd)
    }
    fs.rmSync(path.join(dir, SPARE_LOG), { force: true })
    fs.rmSync(path.join(dir, SPARE_INDEX), { force: true })
  }

  /**
   * Opens an existing segment and recovers it: a damaged or missing index is
   * rebuilt from the log; entries from the last index point on are checked,
   * and the first one cut short, failing its checksum or out of sequence is
   * truncated away with everything after it.
   */
  static async open (dir: string, base: number, log: Logger): Promise<Segment> {
    const logPath = path.join(dir, `${base}.log`)
    const indexPath = path.join(dir, `${base}.index`)
    const logFd = fs.openSync(logPath, 'r+')
    const fileSize = fs.fstatSync(logFd).size
    let index: OffsetIndex | null = null
    if (fs.existsSync(indexPath)) index = OffsetIndex.decode(fs.readFileSync(indexPath), fileSize)
    if (index !== null && index.length > 0) {
      const [rel, position] = index.last()
      const head = Buffer.alloc(16)
      fs.readSync(logFd, head, 0, 16, position)
      if (readEntryHeader(head, 0)?.id !== base + rel) index = null
    }
    const rebuilt = index === null
    if (index === null) {
      log(`segment ${logPath}: offset index missing or damaged, rebuilding it`)
      index = new OffsetIndex()
    }
    const [rel, from] = index.last()
    const { end, nextOffset } = await scan(logFd, fileSize, from, base + rel, index, base)
    if (end < fileSize) {
      log(`segment ${logPath}: truncated ${fileSize - end} bytes of damaged or incomplete entries at position ${end}`)
      fs.ftruncateSync(logFd, end)
    }
    const indexFd = fs.openSync(indexPath, fs.existsSync(indexPath) ? 'r+' : 'w+')
    const encoded = index.encode()
    if (rebuilt || fs.fstatSync(indexFd).size !== encoded.length) {
      fs.writeSync(indexFd, encoded, 0, encoded.length, 0)
      fs.ftruncateSync(indexFd, encoded.length)
    }
    return new Segment(dir, base, logFd, indexFd, index, end, nextOffset, true)
  }

  /**
   * Messages with ids in [offset, endOffset), at most `maxMessages` and about
   * `maxBytes` of message bytes (but with `atLeastOne`, the first message whatever its size).
   */
  async read (offset: number, endOffset: number, maxMessages: number, maxBytes: number, atLeastOne: boolean): Promise<FetchedMessage[]> {
    const out: FetchedMessage[] = []
    const limit = Math.min(endOffset, this.nextOffset)
    if (offset >= limit || maxMessages <= 0) return out
    let position = this.index.lookup(offset - this.base)[1]
    const fileEnd = this.log.size
    let bytes = 0
    let want = Math.min(READ_CHUNK, Math.max(4096, maxBytes + INDEX_INTERVAL))
    while (position < fileEnd && out.length < maxMessages) {
      const length = Math.min(want, fileEnd - position)
      const buf = Buffer.allocUnsafe(length)
      const { bytesRead } = await read(this.log.fd, buf, 0, length, position)
      let at = 0
      let entry = readEntryHeader(buf, at)
      if (entry === null || entry.size > bytesRead) {
        if (entry === null || bytesRead < length) throw this.corrupt(position)
        want = entry.size
        continue
      }
      while (entry !== null && at + entry.size <= bytesRead) {
        if (entry.id >= limit) return out
        if (entry.id >= offset) {
          if (!entryIsIntact(buf, at, entry.size)) throw this.corrupt(position + at)
          const data = entryMessage(buf, at, entry.size)
          if ((out.length > 0 || !atLeastOne) && bytes + data.length > maxBytes) return out
          out.push({ offset: entry.id, data })
          bytes += data.length
          if (out.length >= maxMessages) return out
        }
        at += entry.size
        entry = readEntryHeader(buf, at)
      }
      position += at
      want = Math.min(READ_CHUNK, Math.max(4096, maxBytes - bytes + INDEX_INTERVAL))
    }
    return out
  }

  private corrupt (position: number): RogError {
    return new RogError('STORAGE', `Segment ${this.logPath} is damaged at position ${position}`)
  }

  close (): void {
    fs.closeSync(this.log.fd)
    fs.closeSync(this.indexFile.fd)
  }

  remove (): void {
    this.close()
    fs.rmSync(this.logPath, { force: true })
    fs.rmSync(this.indexPath, { force: true })
  }
}

/** Walks entries from `from` (the entry with id `expected`), indexing as appends do; stops at the first bad one. */
async function scan (fd: number, fileSize: number, from: number, expected: number, index: OffsetIndex, base: number): Promise<{ end: number, nextOffset: number }> {
  let position = from
  let lastIndexed = index.last()[1]
  let want = READ_CHUNK
  while (position < fileSize) {
    const length = Math.min(want, fileSize - position)
    const buf = Buffer.allocUnsafe(length)
    const { bytesRead } = await read(fd, buf, 0, length, position)
    let at = 0
    for (;;) {
      const entry = readEntryHeader(buf.subarray(0, bytesRead), at)
      if (entry === null) break
      if (entry.id !== expected || entry.size > MAX_ENTRY_BYTES || entry.size < ENTRY_OVERHEAD) return { end: position + at, nextOffset: expected }
      if (at + entry.size > bytesRead) break
      if (!entryIsIntact(buf, at, entry.size)) return { end: position + at, nextOffset: expected }
      if (position + at - lastIndexed >= INDEX_INTERVAL) {
        index.add(entry.id - base, position + at)
        lastIndexed = position + at
      }
      expected++
      at += entry.size
    }
    if (at === 0) {
      const entry = readEntryHeader(buf.subarray(0, bytesRead), 0)
      if (entry === null || position + entry.size > fileSize) return { end: position, nextOffset: expected }
      want = entry.size
      continue
    }
    position += at
    want = READ_CHUNK
  }
  return { end: position, nextOffset: expected }
}

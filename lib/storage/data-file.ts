import * as fs from 'node:fs'
import { OPEN_EXISTING, replaceFile, type FileIo } from './file-io'

/** Descriptors are cheap but finite; past `max` open, the least recently used idle one is closed. */
export const DEFAULT_MAX_OPEN_FILES = 1000

/**
 * The descriptors of every DataFile of a store: at most `max` open at once
 * (more only while that many are pinned by I/O in flight), the least recently
 * used idle one closed first, and any file reopened on its next use.
 */
export class FilePool {
  readonly io: FileIo
  readonly max: number
  /** Files with an open descriptor, each with the count of uses at its last use. */
  private readonly lastUse = new Map<DataFile, number>()
  private uses = 0

  constructor (io: FileIo, max = DEFAULT_MAX_OPEN_FILES) {
    this.io = io
    this.max = Math.max(1, max)
  }

  get openCount (): number {
    return this.lastUse.size
  }

  /**
   * Called by a file when it opens or uses its descriptor: a use only updates
   * its entry (a write batch uses each of its files), and past `max` the
   * idle files used longest ago are found by a scan.
   */
  touched (file: DataFile): void {
    this.lastUse.set(file, ++this.uses)
    while (this.lastUse.size > this.max) {
      let oldest: DataFile | null = null
      let oldestUse = Infinity
      for (const [other, use] of this.lastUse) {
        if (use < oldestUse && other !== file && other.idle) {
          oldest = other
          oldestUse = use
        }
      }
      if (oldest === null) return
      oldest.closeFd()
    }
  }

  /** Called by a file when it closes its descriptor. */
  closed (file: DataFile): void {
    this.lastUse.delete(file)
  }
}

/**
 * One file of a partition (a segment's log or index, the groups journal),
 * opened on demand through the pool. `size` is the end of what is known to be
 * written: appends land there, readers never look past it. Only the
 * partition's writer moves it.
 */
export class DataFile {
  readonly path: string
  readonly durable: boolean
  size: number
  /** Written since its last sync, or its last sync failed. */
  dirty = false
  /** Syncs of it under way (a sync clears `dirty` as it starts, so that writes meanwhile set it again). */
  syncing = 0
  /** Deleted on purpose (retention, a log deleted): a sync still queued for it has nothing left to make durable. */
  removed = false
  /** Bytes known to be on stable storage (what a recovery point may cover). Only the writer moves it. */
  synced = 0
  /** The directory of a file just created, which must be synced before the file's data counts as durable. */
  createdIn: string | null
  private readonly pool: FilePool
  private fd: number
  private pins = 0
  /** Closed while pinned: the descriptor is closed once the last I/O on it ends. */
  private closeWhenIdle = false

  private readonly openFlags: number

  /** `create`: the file is made on first use if missing (a hint file such as a time index). */
  constructor (pool: FilePool, path: string, size: number, options: { durable: boolean, fd?: number, createdIn?: string, create?: boolean }) {
    this.pool = pool
    this.openFlags = options.create === true ? OPEN_EXISTING | fs.constants.O_CREAT : OPEN_EXISTING
    this.path = path
    this.size = size
    this.durable = options.durable
    this.fd = options.fd ?? -1
    this.createdIn = options.createdIn ?? null
    if (this.fd >= 0) pool.touched(this)
  }

  get io (): FileIo {
    return this.pool.io
  }

  get idle (): boolean {
    return this.pins === 0 && this.fd >= 0
  }

  /** The descriptor, opened if needed, for synchronous use now. */
  handle (): number {
    if (this.fd < 0) this.fd = this.pool.io.open(this.path, this.openFlags)
    this.pool.touched(this)
    return this.fd
  }

  /** The descriptor, kept open until `unpin()`: for asynchronous I/O. */
  pin (): number {
    const fd = this.handle()
    this.pins++
    return fd
  }

  unpin (): void {
    if (--this.pins === 0 && this.closeWhenIdle) this.closeFd()
  }

  /** Replaces the file's contents with `data` atomically (see replaceFile); on failure it is as it was and the error is thrown. */
  replaceContents (data: Buffer): void {
    this.replaced(replaceFile(this.pool.io, this.path, data), data.length)
    this.createdIn = null
    this.synced = data.length
  }

  /** The file at `path` was replaced (renamed over): use `fd`, of `size` bytes, from now on. */
  replaced (fd: number, size: number): void {
    this.closeFd()
    this.fd = fd
    this.size = size
    this.dirty = false
    this.pool.touched(this)
  }

  /** Closes the descriptor now, or, while I/O on it is in flight, when that ends. */
  closeFd (): void {
    if (this.fd < 0) return
    if (this.pins > 0) {
      this.closeWhenIdle = true
      return
    }
    this.closeWhenIdle = false
    const fd = this.fd
    this.fd = -1
    this.pool.closed(this)
    this.pool.io.close(fd)
  }
}

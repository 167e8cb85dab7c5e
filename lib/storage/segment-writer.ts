import type { DataFile } from './data-file'
import type { Logger } from './segment'

export type FsyncPolicy = 'always' | 'interval' | 'never'

/**
 * What a write belongs to. A failed write fails everything of its stream that
 * is queued behind it (ids were taken in order, and nothing may land after a
 * hole); other streams go on. Index writes are hints: a failed one fails no
 * request (the index is checked on every read and rebuilt on open).
 * 'producers' records describe segment appends: in a batch they are written
 * before the segments (a process killed in between leaves a record past the
 * log end, which recovery drops, never an append without its record), and
 * those queued behind a failed segment write fail with it.
 */
export type Stream = 'segments' | 'groups' | 'index' | 'producers'

export interface Append {
  file: DataFile
  stream: Stream
  data: Buffer
  /** The first id a segment append holds (what ids restart from if it fails). */
  firstId?: number
  done: (err: Error | null) => void
}

export interface WriterHooks {
  /** Runs when no write or sync is in flight, before each batch (journal compaction). */
  beforeBatch: () => void
  /** A write of `stream` failed, `first` the earliest append that fails with it: runs before any callback. */
  failed: (stream: Stream, err: Error, first: Append) => void
  /** A batch's writes reached the files (before any sync of them). */
  written: () => void
  /** A sync completed: the `synced` sizes of durable files moved (the recovery point may move). */
  synced: () => void
  log: Logger
}

/**
 * SegmentWriter: the single writer of one partition's files, and the owner of
 * its queue of appends.
 *
 * Appends queue in call order. A drain, scheduled with `setImmediate` so that
 * the appends of one turn of the event loop travel together, takes the whole
 * queue as one batch: one `writev` per file and, under `--fsync always`, one
 * `fdatasync` per durable file (group commit). Appends made while a batch is
 * in flight, including those made from its own callbacks, go into a new queue
 * that the next drain takes: nothing queued is ever dropped or reordered,
 * whether a batch completes synchronously or not.
 *
 * A failed write is truncated back to the file's last good size. Under the
 * 'interval' policy, `requestSync()` asks for one fdatasync of every file
 * written since the last: it starts after the next batch at the latest, so
 * a steady stream of appends cannot put it off, and runs beside the batches
 * that follow, which no answer of it waits for.
 */
export class SegmentWriter {
  private readonly fsync: FsyncPolicy
  private readonly hooks: WriterHooks
  private queue: Append[] = []
  private busy = false
  /** A sync asked for by `requestSync` is in flight. */
  private syncing = false
  private scheduled = false
  private syncWanted: DataFile[] = []
  private batchesSinceSyncWanted = 0
  private idleWaiters: Array<() => void> = []
  /** Moves on whenever a batch takes the queue or a failure prunes it: an append made in the current generation is still queued, unwritten. */
  private queueGeneration = 0

  constructor (fsync: FsyncPolicy, hooks: WriterHooks) {
    this.fsync = fsync
    this.hooks = hooks
  }

  get policy (): FsyncPolicy {
    return this.fsync
  }

  /** Queues `append`; returns the generation it was queued in. */
  append (append: Append): number {
    this.queue.push(append)
    this.schedule()
    return this.queueGeneration
  }

  /** While this is the generation an append was queued in, no batch has taken it: its data may still change. */
  get generation (): number {
    return this.queueGeneration
  }

  /** Syncs these files between batches. */
  requestSync (files: DataFile[]): void {
    for (const f of files) if (!this.syncWanted.includes(f)) this.syncWanted.push(f)
    if (this.syncWanted.length > 0) this.schedule()
  }

  /** Resolves once nothing is queued or in flight. */
  idle (): Promise<void> {
    if (!this.busy && !this.syncing && !this.scheduled && this.queue.length === 0 && this.syncWanted.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private schedule (): void {
    if (this.scheduled || this.busy) return
    this.scheduled = true
    setImmediate(() => this.drain())
  }

  private drain (): void {
    this.scheduled = false
    if (this.busy) return
    // A sync waits for at most one batch (the one holding what it was asked for), however busy the queue.
    if (!this.syncing && this.syncWanted.length > 0 && (this.queue.length === 0 || this.batchesSinceSyncWanted > 0)) this.startSync()
    if (this.queue.length > 0) {
      if (this.syncWanted.length > 0) this.batchesSinceSyncWanted++
      this.busy = true
      // Compaction replaces the groups file: never under a sync in flight (the next batch without one runs it).
      if (!this.syncing) {
        try {
          this.hooks.beforeBatch()
        } catch (err) {
          this.hooks.log(`before a write batch: ${(err as Error).message}`, 'before a write batch')
        }
      }
      const batch = this.queue
      this.queue = []
      this.queueGeneration++
      this.writeBatch(batch, () => this.finished())
    } else if (!this.syncing && this.syncWanted.length === 0) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }

  /**
   * Syncs what `requestSync` asked for beside the write batches (one such
   * sync at a time): a write never waits for a sync that no answer waits for.
   */
  private startSync (): void {
    this.syncing = true
    const files = this.syncWanted
    this.syncWanted = []
    this.batchesSinceSyncWanted = 0
    this.syncFiles(files, (errors) => {
      this.syncing = false
      if (errors.size < files.length) this.hooks.synced()
      this.schedule()
    })
  }

  private finished (): void {
    this.busy = false
    this.scheduled = true
    setImmediate(() => this.drain())
  }

  /**
   * Writes each file's appends with one writev, files in the order they first
   * appear (producer records first); then syncs the durable ones per policy. Callbacks run in append
   * order, after every write and sync of the batch.
   */
  private writeBatch (appends: Append[], callback: () => void): void {
    // A batch touches a few files: a list searched from the last one found costs less than a Map per batch.
    const writes: FileWrite[] = []
    let last: FileWrite | null = null
    for (const a of appends) {
      let w: FileWrite | null = last !== null && last.file === a.file ? last : null
      if (w === null) {
        for (const x of writes) if (x.file === a.file) { w = x; break }
      }
      if (w === null) {
        w = { file: a.file, stream: a.stream, buffers: [] }
        writes.push(w)
      }
      w.buffers.push(a.data)
      last = w
    }
    // The producer records first (a partition has one such file); the rest keep their order. Not a sort: it costs a batch more than its writes' grouping.
    for (let i = 1; i < writes.length; i++) {
      if (writes[i].stream === 'producers') {
        writes.unshift(...writes.splice(i, 1))
        break
      }
    }
    const failedFiles = new Map<DataFile, Error>()
    const failedStreams = new Map<Stream, Error>()
    const toSync: FileWrite[] = []
    for (const w of writes) {
      const { file, stream } = w
      const earlier = failedStreams.get(stream)
      if (earlier !== undefined) {
        failedFiles.set(file, earlier)
        continue
      }
      // A segment retention deleted while its index points were queued: they point into nothing, and writing them would make the file again.
      if (stream === 'index' && file.removed) continue
      const err = this.writeFile(file, w.buffers)
      if (err !== null) {
        failedFiles.set(file, err)
        if (stream !== 'index') failedStreams.set(stream, err)
        continue
      }
      if (!file.durable) continue
      file.dirty = true
      if (this.fsync === 'always') toSync.push(w)
    }
    const complete = (syncErrors: Map<DataFile, Error>): void => {
      for (const w of toSync) {
        const err = syncErrors.get(w.file)
        if (err === undefined) continue
        this.truncate(w.file, w.file.size - bytesOf(w.buffers))
        failedFiles.set(w.file, err)
        failedStreams.set(w.stream, err)
      }
      // Within a stream, ids run in file order: a file written after one whose sync failed
      // (the segment rolled to) holds appends behind the failure, so they fail and are taken back.
      const failedBefore = new Set<Stream>()
      for (const { file, stream, buffers } of writes) {
        if (failedFiles.has(file)) {
          failedBefore.add(stream)
        } else if (failedBefore.has(stream) && stream !== 'index') {
          this.truncate(file, file.size - bytesOf(buffers))
          failedFiles.set(file, failedStreams.get(stream) as Error)
        }
      }
      // Appends queued behind a failure of their stream took ids (or offsets) after it: they fail too.
      let behind: Append[] = []
      if (failedStreams.size > 0) {
        const keep: Append[] = []
        const fails = (stream: Stream): boolean => failedStreams.has(stream) || (stream === 'producers' && failedStreams.has('segments'))
        for (const a of this.queue) (fails(a.stream) ? behind : keep).push(a)
        this.queue = keep
        this.queueGeneration++
        for (const [stream, err] of failedStreams) {
          const first = appends.find((a) => a.stream === stream && failedFiles.has(a.file)) as Append
          this.hooks.failed(stream, err, first)
        }
      }
      if (toSync.some((w) => !failedFiles.has(w.file))) this.hooks.synced()
      for (const a of appends) a.done(failedFiles.get(a.file) ?? null)
      for (const a of behind) a.done(failedStreams.get(a.stream) ?? failedStreams.get('segments') as Error)
      behind = []
      callback()
    }
    this.hooks.written()
    if (toSync.length === 0) return complete(new Map())
    this.syncFiles(toSync.map((w) => w.file), complete)
  }

  /** Appends `buffers` at the file's end; on failure truncates back and returns the error. */
  private writeFile (file: DataFile, buffers: Buffer[]): Error | null {
    try {
      file.io.writev(file.handle(), buffers, file.size)
    } catch (err) {
      this.truncate(file, file.size)
      return this.failure(err, file)
    }
    file.size += bytesOf(buffers)
    return null
  }

  private truncate (file: DataFile, size: number): void {
    try {
      file.io.ftruncate(file.handle(), size)
      file.size = size
      file.synced = Math.min(file.synced, size)
    } catch (err) {
      this.hooks.log(`could not truncate ${file.path} back to ${size} bytes after a failed write: ${(err as Error).message}`, `truncate ${file.path}`)
    }
  }

  /** The server log names the file; the error itself (which clients see worded) does not. */
  private failure (err: unknown, file: DataFile): Error {
    const e = err instanceof Error ? err : new Error(String(err))
    this.hooks.log(`${file.path}: ${e.message}`, `write ${file.path} ${(e as NodeJS.ErrnoException).code ?? e.message}`)
    return e
  }

  /**
   * fdatasync of each file (and, for a new file, of its directory first), at
   * most SYNC_CONCURRENCY at a time, so the descriptors they pin stay bounded.
   */
  private syncFiles (files: DataFile[], callback: (errors: Map<DataFile, Error>) => void): void {
    const errors = new Map<DataFile, Error>()
    if (files.length === 0) return callback(errors)
    let next = 0
    let running = 0
    const start = (): void => {
      while (running < SYNC_CONCURRENCY && next < files.length) {
        const file = files[next++]
        running++
        this.syncFile(file, (err) => {
          if (err !== null) errors.set(file, err)
          running--
          if (next < files.length) start()
          else if (running === 0) callback(errors)
        })
      }
    }
    start()
  }

  /**
   * A file synced moves its `synced` size to what it held when the sync
   * began; one that failed stays dirty, so the next sync retries it. A file
   * deleted on purpose before its sync reached it is skipped: there is
   * nothing of it left to make durable.
   */
  private syncFile (file: DataFile, done: (err: Error | null) => void): void {
    if (file.removed) return done(null)
    file.dirty = false
    file.syncing++
    const finish = (err: Error | null): void => {
      file.syncing--
      if (err !== null && !file.removed) {
        file.dirty = true
        return done(this.failure(err, file))
      }
      done(null)
    }
    const dir = file.createdIn
    if (dir === null) return this.syncData(file, finish)
    file.io.fsyncDirectory(dir, (err) => {
      if (err !== null) return finish(err)
      file.createdIn = null
      this.syncData(file, finish)
    })
  }

  private syncData (file: DataFile, finish: (err: Error | null) => void): void {
    if (file.removed) return finish(null)
    const size = file.size
    let fd: number
    try {
      fd = file.pin()
    } catch (err) {
      return finish(err as Error)
    }
    file.io.fdatasync(fd, (err) => {
      file.unpin()
      if (err === null) file.synced = Math.max(file.synced, Math.min(size, file.size))
      finish(err)
    })
  }
}

const SYNC_CONCURRENCY = 16

/** One file's part of a write batch: its appends' bytes, in order. */
interface FileWrite { file: DataFile, stream: Stream, buffers: Buffer[] }

function bytesOf (buffers: Buffer[]): number {
  let n = 0
  for (const b of buffers) n += b.length
  return n
}


import { Writable } from 'node:stream'
import type { FileIo } from './file-io'

export type FsyncPolicy = 'always' | 'interval' | 'never'

/** A file that only grows at `size`, the end of what is known to be written. */
export interface AppendTarget {
  fd: number
  size: number
  /** Whether appends here are fsynced under the 'always' policy (an index is not: it is rebuilt). */
  durable: boolean
  dirty?: boolean
}

export interface Append {
  target: AppendTarget
  data: Buffer
  /** Set by the owner when an earlier failure made this append void; it is then skipped. */
  cancelled?: Error
  done: (err: Error | null) => void
}

/**
 * SegmentWriter: the single writer of a partition's files. Appends made in
 * one turn of the event loop (the stream is corked until `setImmediate`), or
 * while an fdatasync is in flight, reach `_writev` together: one `writev` per
 * file and, under `--fsync always`, one `fdatasync` per file for all of them
 * (group commit).
 *
 * A failed write is truncated back to the target's last good size and fails
 * every append of that write; the stream itself stays usable.
 */
export class SegmentWriter extends Writable {
  private readonly io: FileIo
  private readonly fsync: FsyncPolicy

  constructor (io: FileIo, fsync: FsyncPolicy) {
    super({ objectMode: true, highWaterMark: 1024 })
    this.io = io
    this.fsync = fsync
  }

  /** Queues an append; appends queued in this turn of the event loop are written together. */
  append (append: Append): void {
    if (!this.writableCorked) {
      this.cork()
      setImmediate(() => this.uncork())
    }
    this.write(append)
  }

  override _write (append: Append, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.writeBatch([append], callback)
  }

  override _writev (chunks: Array<{ chunk: Append }>, callback: (err?: Error | null) => void): void {
    this.writeBatch(chunks.map((c) => c.chunk), callback)
  }

  /**
   * One writev (and, per policy, one fdatasync) per file for the whole batch,
   * files in the order they first appear (a segment before its index, an older
   * segment before a newer one). After a failure no further file is written:
   * the appends to that file and to every file after it fail with that error;
   * an append to a file already written succeeds. Callbacks run in append
   * order (the partition cancels appends queued behind a failed one).
   */
  private writeBatch (appends: Append[], callback: (err?: Error | null) => void): void {
    const targets: AppendTarget[] = []
    const buffers = new Map<AppendTarget, Buffer[]>()
    for (const a of appends) {
      if (a.cancelled !== undefined) continue
      let list = buffers.get(a.target)
      if (list === undefined) {
        list = []
        buffers.set(a.target, list)
        targets.push(a.target)
      }
      list.push(a.data)
    }
    const failed = new Map<AppendTarget, Error>()
    const finish = (): void => {
      for (const a of appends) a.done(a.cancelled ?? failed.get(a.target) ?? null)
      callback()
    }
    const next = (i: number): void => {
      if (i === targets.length) return finish()
      const target = targets[i]
      this.writeTarget(target, buffers.get(target) ?? [], (err) => {
        if (err === null) return next(i + 1)
        for (let j = i; j < targets.length; j++) failed.set(targets[j], err)
        finish()
      })
    }
    next(0)
  }

  private writeTarget (target: AppendTarget, buffers: Buffer[], done: (err: Error | null) => void): void {
    let bytes = 0
    for (const b of buffers) bytes += b.length
    const fail = (err: Error): void => {
      try { this.io.ftruncate(target.fd, target.size) } catch {}
      done(err)
    }
    try {
      this.io.writev(target.fd, buffers, target.size)
    } catch (err) {
      return fail(err as Error)
    }
    const written = (): void => {
      target.size += bytes
      done(null)
    }
    if (!target.durable || this.fsync === 'never') return written()
    if (this.fsync === 'interval') {
      target.dirty = true
      return written()
    }
    this.io.fdatasync(target.fd, (err) => err === null ? written() : fail(err))
  }
}

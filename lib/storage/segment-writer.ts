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
 * SegmentWriter: the single writer of a partition's files. Appends written
 * while a write is in flight queue in the stream's buffer and reach `_writev`
 * together: one `writev` per file and, under `--fsync always`, one
 * `fdatasync` per file for all of them (group commit). Appends to different
 * files keep their order.
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

  override _write (append: Append, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.writeGroup([append], 0, callback)
  }

  override _writev (chunks: Array<{ chunk: Append }>, callback: (err?: Error | null) => void): void {
    this.writeGroup(chunks.map((c) => c.chunk), 0, callback)
  }

  /** Writes appends[from...] one run of consecutive same-target appends at a time. */
  private writeGroup (appends: Append[], from: number, callback: (err?: Error | null) => void): void {
    while (from < appends.length && appends[from].cancelled !== undefined) {
      const a = appends[from++]
      a.done(a.cancelled ?? null)
    }
    if (from >= appends.length) return callback()
    const target = appends[from].target
    let end = from
    const buffers: Buffer[] = []
    let bytes = 0
    while (end < appends.length && appends[end].target === target && appends[end].cancelled === undefined) {
      buffers.push(appends[end].data)
      bytes += appends[end].data.length
      end++
    }
    const finish = (err: Error | null): void => {
      if (err === null) target.size += bytes
      for (let i = from; i < end; i++) appends[i].done(err)
      this.writeGroup(appends, end, callback)
    }
    this.io.writev(target.fd, buffers, target.size, (err) => {
      if (err !== null) return this.io.ftruncate(target.fd, target.size, () => finish(err))
      if (!target.durable || this.fsync === 'never') return finish(null)
      if (this.fsync === 'interval') {
        target.dirty = true
        return finish(null)
      }
      this.io.fdatasync(target.fd, (syncErr) => {
        if (syncErr !== null) return this.io.ftruncate(target.fd, target.size, () => finish(syncErr))
        finish(null)
      })
    })
  }
}

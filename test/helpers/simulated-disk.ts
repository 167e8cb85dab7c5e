import * as fs from 'node:fs'
import * as path from 'node:path'
import { nodeFileIo, type FileIo } from '../../lib/storage/file-io'

export type FaultOp = 'writev' | 'fdatasync'
export interface FaultPlan { op: FaultOp, after: number, count: number, code: 'EIO' | 'ENOSPC' }

function ioError (code: string, call: string): Error {
  return Object.assign(new Error(`${code}: injected fault, ${call}`), { code })
}

/**
 * A FileIo over the real file system for an in-process server, with two
 * powers over it:
 *
 * - faults: after `after` more calls of `op`, the next `count` calls fail;
 * - power loss: from `cut()` on every write and sync fails, and `settle()`
 *   then takes each durable file back to what was synced (plus, at random, a
 *   torn part of what was not), as a machine losing its page cache would.
 *
 * What was synced is tracked by inode (a file renamed over another keeps what
 * was synced of it): the size a file had when an fdatasync started counts
 * once that fdatasync succeeds; fsyncPath counts the whole file.
 */
export class SimulatedDisk {
  readonly io: FileIo
  private plan: FaultPlan | null = null
  private dead = false
  private synced = new Map<number, number>()

  constructor () {
    const self = this
    this.io = {
      ...nodeFileIo,
      writev (fd, buffers, position) {
        if (self.dead) throw ioError('EIO', 'write after power loss')
        const code = self.planCode()
        if (self.trip('writev')) throw ioError(code, 'write')
        nodeFileIo.writev(fd, buffers, position)
      },
      fdatasync (fd, callback) {
        if (self.dead) return process.nextTick(callback, ioError('EIO', 'sync after power loss'))
        const code = self.planCode()
        if (self.trip('fdatasync')) {
          const err = ioError(code, 'fdatasync')
          return process.nextTick(callback, err)
        }
        let ino = -1
        let size = 0
        try {
          const st = fs.fstatSync(fd)
          ino = st.ino
          size = st.size
        } catch {}
        nodeFileIo.fdatasync(fd, (err) => {
          if (err === null && self.dead) err = ioError('EIO', 'sync finished after power loss')
          if (err === null && ino >= 0) self.synced.set(ino, Math.max(self.synced.get(ino) ?? 0, size))
          callback(err)
        })
      },
      fsyncPath (file) {
        if (self.dead) throw ioError('EIO', 'fsync after power loss')
        nodeFileIo.fsyncPath(file)
        const st = fs.lstatSync(file)
        if (st.isFile()) self.synced.set(st.ino, st.size)
      },
      fsyncDirectory (dir, callback) {
        if (self.dead) return process.nextTick(callback, ioError('EIO', 'fsync after power loss'))
        nodeFileIo.fsyncDirectory(dir, callback)
      },
      ftruncate (fd, size) {
        if (self.dead) throw ioError('EIO', 'truncate after power loss')
        nodeFileIo.ftruncate(fd, size)
      }
    }
  }

  /** Arms a fault plan (replacing any other). */
  arm (plan: FaultPlan): void {
    this.plan = { ...plan }
  }

  disarm (): void {
    this.plan = null
  }

  get armed (): boolean {
    return this.plan !== null
  }

  private planCode (): string {
    return this.plan?.code ?? 'EIO'
  }

  private trip (op: FaultOp): boolean {
    const p = this.plan
    if (p === null || p.op !== op) return false
    if (p.after > 0) {
      p.after--
      return false
    }
    if (--p.count === 0) this.plan = null
    return true
  }

  /** Everything now on disk counts as synced (a fresh start). */
  baseline (dir: string): void {
    this.dead = false
    this.plan = null
    this.synced = new Map()
    for (const file of walk(dir)) {
      const st = fs.lstatSync(file)
      this.synced.set(st.ino, st.size)
    }
  }

  /** The power fails: no write or sync lands from now on. */
  cut (): void {
    this.dead = true
  }

  /**
   * After `cut()` and once the server is gone: each durable file (segment
   * logs and group journals; indexes and the recovery point are checked,
   * never trusted, so they stay) keeps what was synced, plus a torn prefix of
   * the rest, `torn(n)` choosing how many of the n unsynced bytes.
   */
  settle (dir: string, torn: (unsynced: number) => number): Array<{ file: string, size: number, kept: number }> {
    const changed = []
    for (const file of walk(dir)) {
      const name = path.basename(file)
      if (!/\.log$|^groups\.offsets/.test(name)) continue
      const st = fs.lstatSync(file)
      const synced = Math.min(this.synced.get(st.ino) ?? 0, st.size)
      if (synced === st.size) continue
      const kept = synced + Math.max(0, Math.min(st.size - synced, torn(st.size - synced)))
      fs.truncateSync(file, kept)
      changed.push({ file, size: st.size, kept })
    }
    return changed
  }
}

function * walk (dir: string): Generator<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) yield * walk(file)
    else if (entry.isFile()) yield file
  }
}

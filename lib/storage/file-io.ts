import * as fs from 'node:fs'
import * as path from 'node:path'

/**
 * The file-system seam of storage: every byte Rog writes to a data file, every
 * sync and every descriptor it opens goes through these calls, so tests can
 * replace any of them to inject disk faults.
 *
 * Writes are synchronous: they copy into the page cache in microseconds, far
 * less than handing them to the thread pool costs. Syncs of appended data are
 * asynchronous: they wait for the disk, and appends that arrive meanwhile are
 * gathered for the next one (group commit). Reads are asynchronous.
 */
export interface FileIo {
  /** Opens without following a symlink; throws on failure. */
  open (path: string, flags: number): number
  close (fd: number): void
  /** Writes every byte of `buffers` at `position`; throws on failure. */
  writev (fd: number, buffers: Buffer[], position: number): void
  fdatasync (fd: number, callback: (err: Error | null) => void): void
  /** A synchronous fsync of a small file or of a directory (by path); throws on failure. */
  fsyncPath (path: string): void
  /** An fsync of a directory (by path) off the event loop: what makes a file just created in it durable. */
  fsyncDirectory (path: string, callback: (err: Error | null) => void): void
  /** Throws on failure. */
  ftruncate (fd: number, size: number): void
  read (fd: number, buf: Buffer, position: number, callback: (err: Error | null, bytesRead: number) => void): void
}

const IOV_MAX = 1024
export const OPEN_EXISTING = fs.constants.O_RDWR | fs.constants.O_NOFOLLOW
export const CREATE_NEW = fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW

export const nodeFileIo: FileIo = {
  open (path, flags) {
    return fs.openSync(path, flags, 0o644)
  },
  close (fd) {
    fs.closeSync(fd)
  },
  writev (fd, buffers, position) {
    let rest = buffers
    while (rest.length > 0) {
      const batch = rest.length > IOV_MAX ? rest.slice(0, IOV_MAX) : rest
      const written = fs.writevSync(fd, batch, position)
      position += written
      rest = dropBytes(rest, written)
    }
  },
  fdatasync (fd, callback) {
    fs.fdatasync(fd, (err) => callback(err))
  },
  fsyncPath (path) {
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
    try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
  },
  fsyncDirectory (path, callback) {
    fs.open(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW, (err, fd) => {
      if (err !== null) return callback(err)
      fs.fsync(fd, (syncErr) => fs.close(fd, (closeErr) => callback(syncErr ?? closeErr)))
    })
  },
  ftruncate (fd, size) {
    fs.ftruncateSync(fd, size)
  },
  read (fd, buf, position, callback) {
    fs.read(fd, buf, 0, buf.length, position, (err, bytesRead) => callback(err, bytesRead))
  }
}

/**
 * A file-system error as a client may be told it: Node's messages name the
 * path ("ENOENT: no such file or directory, open '/srv/rog/ev/0/5.log'"),
 * which only the server log may show. Keeps the code, the reason and the call.
 */
export function withoutPath (err: unknown): Error {
  const e: NodeJS.ErrnoException & { dest?: string } = err instanceof Error ? err : new Error(String(err))
  if (typeof e.syscall !== 'string' || (e.path === undefined && e.dest === undefined)) return e
  const call = `, ${e.syscall} `
  const at = e.message.indexOf(call)
  if (at < 0) return new Error(`${e.code ?? 'error'}: ${e.syscall} failed`)
  return Object.assign(new Error(e.message.slice(0, at + call.length - 1)), { code: e.code })
}

/** The buffers left once the first `n` bytes are written (the kernel may write fewer than asked). */
function dropBytes (buffers: Buffer[], n: number): Buffer[] {
  let i = 0
  while (i < buffers.length && n >= buffers[i].length) n -= buffers[i++].length
  const rest = buffers.slice(i)
  if (n > 0) rest[0] = rest[0].subarray(n)
  return rest
}

/**
 * Replaces `file`'s contents with `data` atomically: a temporary file
 * (`<file>.tmp`, a stale one removed first), synced, renamed over, its
 * directory synced. Returns the new file's open descriptor, for the caller
 * to keep or close. On failure `file` is as it was, the temporary file is
 * removed, and the error thrown.
 */
export function replaceFile (io: FileIo, file: string, data: Buffer): number {
  const tmp = `${file}.tmp`
  let fd = -1
  try {
    if (fs.lstatSync(tmp, { throwIfNoEntry: false })?.isFile() === true) fs.rmSync(tmp)
    fd = io.open(tmp, CREATE_NEW)
    io.writev(fd, [data], 0)
    io.fsyncPath(tmp)
    fs.renameSync(tmp, file)
    io.fsyncPath(path.dirname(file))
    return fd
  } catch (err) {
    if (fd >= 0) io.close(fd)
    fs.rmSync(tmp, { force: true })
    throw err
  }
}

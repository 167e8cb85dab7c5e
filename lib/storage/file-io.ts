import * as fs from 'node:fs'

/**
 * The file-writing seam of storage: every byte Rog writes to a data file goes
 * through these calls, so tests can replace them to inject disk faults.
 *
 * Writes are synchronous: they copy into the page cache in microseconds, far
 * less than handing them to the thread pool costs. Syncs are asynchronous:
 * they wait for the disk, and appends that arrive meanwhile are gathered for
 * the next one (group commit).
 */
export interface FileIo {
  /** Writes every byte of `buffers` at `position`; throws on failure. */
  writev (fd: number, buffers: Buffer[], position: number): void
  fdatasync (fd: number, callback: (err: Error | null) => void): void
  /** Throws on failure. */
  ftruncate (fd: number, size: number): void
}

const IOV_MAX = 1024

export const nodeFileIo: FileIo = {
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
  ftruncate (fd, size) {
    fs.ftruncateSync(fd, size)
  }
}

/** The buffers left once the first `n` bytes are written (the kernel may write fewer than asked). */
function dropBytes (buffers: Buffer[], n: number): Buffer[] {
  let i = 0
  while (i < buffers.length && n >= buffers[i].length) n -= buffers[i++].length
  const rest = buffers.slice(i)
  if (n > 0) rest[0] = rest[0].subarray(n)
  return rest
}

import * as fs from 'node:fs'

/**
 * The file-writing seam of storage: every byte Rog writes to a data file goes
 * through these calls, so tests can replace them to inject disk faults.
 */
export interface FileIo {
  writev (fd: number, buffers: Buffer[], position: number, callback: (err: Error | null) => void): void
  fdatasync (fd: number, callback: (err: Error | null) => void): void
  ftruncate (fd: number, size: number, callback: (err: Error | null) => void): void
}

export const nodeFileIo: FileIo = {
  writev (fd, buffers, position, callback) {
    writeAll(fd, buffers, position, callback)
  },
  fdatasync (fd, callback) {
    fs.fdatasync(fd, (err) => callback(err))
  },
  ftruncate (fd, size, callback) {
    fs.ftruncate(fd, size, (err) => callback(err))
  }
}

/** writev until every byte is written (the kernel may write fewer, and takes at most IOV_MAX buffers a call). */
function writeAll (fd: number, buffers: Buffer[], position: number, callback: (err: Error | null) => void): void {
  const IOV_MAX = 1024
  const batch = buffers.length > IOV_MAX ? buffers.slice(0, IOV_MAX) : buffers
  let total = 0
  for (const b of batch) total += b.length
  fs.writev(fd, batch, position, (err, written) => {
    if (err !== null) return callback(err)
    if (written === total && batch.length === buffers.length) return callback(null)
    const rest = dropBytes(buffers, written)
    if (rest.length === 0) return callback(null)
    writeAll(fd, rest, position + written, callback)
  })
}

function dropBytes (buffers: Buffer[], n: number): Buffer[] {
  let i = 0
  while (i < buffers.length && n >= buffers[i].length) n -= buffers[i++].length
  const rest = buffers.slice(i)
  if (n > 0) rest[0] = rest[0].subarray(n)
  return rest
}

import type { FileIo } from '../storage/file-io'

/**
 * The storage's FileIo with every fdatasync of appended data and fsync of a
 * directory off the event loop timed: `observe(seconds)` is called as each
 * completes (failed ones included, they waited on the disk too).
 */
export function timedFileIo (io: FileIo, observe: (seconds: number) => void): FileIo {
  return {
    ...io,
    fdatasync (fd, callback) {
      const began = performance.now()
      io.fdatasync(fd, (err) => {
        observe((performance.now() - began) / 1000)
        callback(err)
      })
    },
    fsyncDirectory (path, callback) {
      const began = performance.now()
      io.fsyncDirectory(path, (err) => {
        observe((performance.now() - began) / 1000)
        callback(err)
      })
    }
  }
}

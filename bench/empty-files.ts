import * as fs from 'node:fs'
import * as path from 'node:path'

/**
 * Frees the disk space of a finished row's data by truncating every file
 * under `dir` to 0 bytes, and leaves the files themselves to the run's
 * final removal of its temporary directory. On an ext4 without a journal
 * (this machine's /), making a file skips, at a cost, every inode freed in
 * the last 60 to 360 seconds: deleting a row's thousands of segment files
 * would slow every segment roll of the rows after it (docs/benchmark.md).
 * A file that cannot be truncated is left as it is.
 */
export function emptyFiles (dir: string): void {
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return
  }
  for (const entry of entries) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) emptyFiles(file)
    else if (entry.isFile()) {
      try {
        fs.truncateSync(file, 0)
      } catch {}
    }
  }
}

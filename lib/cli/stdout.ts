import * as fs from 'node:fs'

/** Writes to stdout; resolves false when the reader has gone away (EPIPE), true once written. */
export function writeOut (data: string | Buffer, out: NodeJS.WritableStream = process.stdout): Promise<boolean> {
  return new Promise((resolve, reject) => {
    out.write(data, (err) => {
      if (err === null || err === undefined) resolve(true)
      else if ((err as NodeJS.ErrnoException).code === 'EPIPE') resolve(false)
      else reject(err)
    })
  })
}

/**
 * Whether a file descriptor is a pipe or a socket: there, a completed write
 * only means the kernel holds the bytes, not that the reader took them.
 */
export function isPipe (fd: number): boolean {
  try {
    const stat = fs.fstatSync(fd)
    return stat.isFIFO() || stat.isSocket()
  } catch {
    return false
  }
}

/** The reader of stdout going away is not an error of ours: commands end quietly. Any other write error is fatal. */
export function ignoreEpipe (stream: NodeJS.WritableStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return
    process.stderr.write(`rog: cannot write the output: ${err.message}\n`)
    process.exit(1)
  })
}

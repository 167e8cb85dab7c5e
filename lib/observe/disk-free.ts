import * as fs from 'node:fs'

/** Bytes an unprivileged writer may still use on the file system holding `dir` (statfs: available blocks times block size). */
export async function diskFree (dir: string): Promise<number> {
  const s = await fs.promises.statfs(dir)
  return s.bavail * s.bsize
}

import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type { Test } from 'tap'

/**
 * A tmpfs of `size` (e.g. '2m'), and of at most `inodes` files when given,
 * mounted for this test, as a real full disk;
 * unmounted and removed at teardown. Null (with the reason) when not root or
 * the mount fails: the caller skips.
 */
export function mountTmpfs (t: Test, size: string, inodes?: number): { dir: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'mounting a tmpfs needs root' }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-tmpfs-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${inodes === undefined ? '' : `,nr_inodes=${inodes}`}`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch (err) {
    fs.rmdirSync(dir)
    return { skip: `mount -t tmpfs failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}` }
  }
  t.teardown(() => {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' })
    } catch {
      // Still busy (a server that did not stop): detach it now, it goes when the last file closes.
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
    }
    fs.rmdirSync(dir)
  })
  return { dir }
}

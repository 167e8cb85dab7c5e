import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { RogError } from '../errors'

/** The lock file in the data directory's root (no log is named with a leading dot and no suffix like this). */
export const LOCK_FILE = '.lock'

/**
 * Who holds a lock: one JSON line. `start` is the process's start time in
 * clock ticks since boot (/proc/<pid>/stat field 22) and `boot` the kernel's
 * boot id, so a PID reused by another process, or a lock surviving a reboot,
 * is told from the process that wrote it.
 */
interface Holder { pid: number, start: string | null, boot: string | null, host: string }

/**
 * DataDirLock: an exclusive lock on a data directory, as Kafka's `.lock`,
 * held by the server from before its store opens until after it is closed.
 *
 * Node has no flock(), so the lock is a file: written whole under a temporary
 * name, then link()ed to `.lock`, which fails if `.lock` exists (link, like
 * O_EXCL, is atomic, and no reader ever sees a half-written lock).
 *
 * A lock whose holder is gone (no such PID, or a PID now belonging to a
 * process with another start time, or written before the last boot) is stale
 * and taken over, so a SIGKILLed server does not block its restart. To take
 * it over, a starter renames `.lock` to a name of its own (atomic: of several
 * starters racing, one gets it), checks that what it moved is the stale lock
 * it judged (and puts it back if it moved a fresh one instead), removes it,
 * and links its own lock into place as above. (What this cannot undo: a
 * third starter linking its lock in the instant a fresh lock was moved aside
 * by mistake, so that two servers hold one; it needs three starters over a
 * stale lock within microseconds.) A lock written on another host is never
 * judged stale (its PID cannot be checked): remove it by hand.
 */
export class DataDirLock {
  readonly file: string
  private readonly content: string
  /** On a full disk: the lock's second name, which says who holds it. */
  private readonly holderName: string | null
  private released = false

  private constructor (file: string, content: string, holderName: string | null) {
    this.file = file
    this.content = content
    this.holderName = holderName
  }

  /** Takes the lock on `dir` (created if missing), or throws DATA_DIR_LOCKED naming the holder. */
  static acquire (dir: string): DataDirLock {
    fs.mkdirSync(dir, { recursive: true })
    const file = path.join(dir, LOCK_FILE)
    const me = self()
    const tmp = path.join(dir, holderFileName(me))
    // Creating an empty file needs no data block: on a full disk the lock is taken empty, and its
    // holder is told by its second name (the temporary one, kept as a hard link to it).
    let content = JSON.stringify(me) + '\n'
    try {
      const fd = fs.openSync(tmp, 'wx')
      try {
        fs.writeSync(fd, content)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err
        content = ''
      } finally {
        fs.closeSync(fd)
      }
    } catch (err) {
      fs.rmSync(tmp, { force: true })
      throw new Error(`cannot take the data directory lock ${file}: ${noInode(err) ?? (err as Error).message}`)
    }
    let keep = false
    try {
      // Each round either takes the lock, throws, or removes a stale lock someone else could have taken first.
      for (let round = 0; round < 10; round++) {
        if (link(tmp, file)) {
          keep = content === ''
          return new DataDirLock(file, content, keep ? tmp : null)
        }
        const held = read(file)
        if (held === null) continue
        const twin = held === '' ? holderOfEmpty(dir, file) : null
        const holder = twin !== null ? twin.holder : parse(held)
        if (holder === null || !isStale(holder)) throw RogError.dataDirLocked(dir, describe(holder, held))
        removeIfUnchanged(file, held)
        if (twin !== null) fs.rmSync(twin.file, { force: true })
      }
      throw RogError.dataDirLocked(dir, 'another process (the lock kept changing hands)')
    } finally {
      if (!keep) fs.rmSync(tmp, { force: true })
    }
  }

  /** Removes the lock file if it is still this lock's. */
  release (): void {
    if (this.released) return
    this.released = true
    if (read(this.file) === this.content) fs.rmSync(this.file, { force: true })
    if (this.holderName !== null) fs.rmSync(this.holderName, { force: true })
  }
}

/** `.lock.holder.<pid>.<start>.<boot>.<random>`: the holder, readable from the name alone. */
function holderFileName (h: Holder): string {
  return `${LOCK_FILE}.holder.${h.pid}.${h.start ?? '-'}.${h.boot ?? '-'}.${randomBytes(6).toString('hex')}`
}

/** The holder of an empty lock (taken on a full disk): the `.lock.holder.*` name that is the same file. */
function holderOfEmpty (dir: string, file: string): { holder: Holder, file: string } | null {
  const ino = fs.statSync(file, { throwIfNoEntry: false })?.ino
  if (ino === undefined) return null
  for (const name of fs.readdirSync(dir)) {
    const m = /^\.lock\.holder\.(\d+)\.([^.]+)\.([^.]+)\.[0-9a-f]+$/.exec(name)
    if (m === null || fs.statSync(path.join(dir, name), { throwIfNoEntry: false })?.ino !== ino) continue
    return { holder: { pid: Number(m[1]), start: m[2] === '-' ? null : m[2], boot: m[3] === '-' ? null : m[3], host: os.hostname() }, file: path.join(dir, name) }
  }
  return null
}

function self (): Holder {
  return { pid: process.pid, start: startTime(process.pid), boot: bootId(), host: os.hostname() }
}

function link (from: string, to: string): boolean {
  try {
    fs.linkSync(from, to)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    const why = noInode(err)
    if (why !== null) throw new Error(`cannot take the data directory lock ${to}: ${why}`)
    throw err
  }
}

/** What to say when a file or link cannot be made for want of space: the lock needs an inode (and, on tmpfs, another for its second name). */
function noInode (err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException).code
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return null
  return `the file system has no free inode for the lock file (${code}); free some (\`df -i\` shows them)`
}

function read (file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

function parse (content: string): Holder | null {
  try {
    const h = JSON.parse(content) as Partial<Holder>
    if (typeof h.pid !== 'number' || typeof h.host !== 'string') return null
    return { pid: h.pid, start: h.start ?? null, boot: h.boot ?? null, host: h.host }
  } catch {
    return null
  }
}

function describe (holder: Holder | null, content: string): string {
  if (holder === null) return `an unreadable lock (${JSON.stringify(content.slice(0, 100))}); remove ${LOCK_FILE} if no server uses the directory`
  return `process ${holder.pid} on ${holder.host}`
}

function isStale (h: Holder): boolean {
  if (h.host !== os.hostname()) return false
  const boot = bootId()
  if (h.boot !== null && boot !== null && h.boot !== boot) return true
  if (!isAlive(h.pid) || isZombie(h.pid)) return true
  const start = startTime(h.pid)
  return h.start !== null && start !== null && h.start !== start
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/**
 * Whether the process has exited and waits for its parent to reap it: it
 * still answers kill(pid, 0), but holds nothing (a server SIGKILLed under a
 * parent that has not yet called wait()).
 */
function isZombie (pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat[stat.lastIndexOf(')') + 2]
    return state === 'Z' || state === 'X'
  } catch {
    return false
  }
}

/** Moves the stale lock aside and removes it, unless what was moved is not `stale` (then it goes back). */
function removeIfUnchanged (file: string, stale: string): void {
  const aside = `${file}.stale.${process.pid}.${randomBytes(6).toString('hex')}`
  try {
    fs.renameSync(file, aside)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (read(aside) !== stale) link(aside, file)
  fs.rmSync(aside, { force: true })
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks after boot (null where there is no /proc). */
function startTime (pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2, the command name, is in parentheses and may hold spaces or parentheses itself.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[22 - 3] ?? null
  } catch {
    return null
  }
}

function bootId (): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return null
  }
}

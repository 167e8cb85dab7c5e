import t, { type Test } from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { DataDirLock, LOCK_FILE } from '../../lib/storage/data-dir-lock'
import { RogError } from '../../lib/errors'
import { mountTmpfs } from '../helpers/tmpfs'

/** A PID that belonged to a process that has exited. */
function deadPid (): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  return Number(child.stdout)
}

function writeLock (dir: string, holder: object): void {
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(holder) + '\n')
}

function locked (t: Test, dir: string, holder: RegExp): void {
  let error: unknown = null
  try {
    DataDirLock.acquire(dir).release()
  } catch (err) {
    error = err
  }
  t.ok(error instanceof RogError && error.code === 'DATA_DIR_LOCKED', 'DATA_DIR_LOCKED')
  t.match((error as Error).message, `Data directory ${dir} is in use by `)
  t.match((error as Error).message, holder)
}

t.test('one holder at a time; released on release(), and only its own lock', async (t) => {
  const dir = path.join(t.testdir(), 'data')
  const lock = DataDirLock.acquire(dir)
  const held = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { pid: number, host: string }
  t.equal(held.pid, process.pid)
  t.equal(held.host, os.hostname())
  locked(t, dir, new RegExp(`in use by process ${process.pid} on `))
  t.same(fs.readdirSync(dir), [LOCK_FILE], 'no temporary file left behind')
  lock.release()
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)))
  const again = DataDirLock.acquire(dir)
  writeLock(dir, { pid: 1, start: null, boot: null, host: os.hostname() })
  again.release()
  t.ok(fs.existsSync(path.join(dir, LOCK_FILE)), 'a lock that is no longer ours is left alone')
})

t.test('a stale lock is taken over: its process is gone, its PID was reused, or it was written before this boot', async (t) => {
  const dir = t.testdir()
  const host = os.hostname()
  const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  const stale = [
    { pid: deadPid(), start: '1', boot: bootId, host },
    { pid: process.pid, start: '1', boot: bootId, host },
    { pid: process.pid, start: null, boot: 'another-boot', host }
  ]
  for (const holder of stale) {
    writeLock(dir, holder)
    DataDirLock.acquire(dir).release()
    t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), `taken over and released: ${JSON.stringify(holder)}`)
  }
  writeLock(dir, { pid: deadPid(), start: null, boot: null, host: 'elsewhere.example' })
  locked(t, dir, /in use by process \d+ on elsewhere\.example/)
  fs.writeFileSync(path.join(dir, LOCK_FILE), 'garbage')
  locked(t, dir, /unreadable lock \("garbage"\); remove \.lock if no server uses the directory/)
})

t.test('a lock of a process that has exited but is not yet reaped (a zombie, as a SIGKILL under a slow parent leaves it) is stale', async (t) => {
  const dir = t.testdir()
  // sh starts a child that exits shortly, then becomes `sleep`, which never reaps it.
  const parent = spawn('/bin/sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => { parent.kill('SIGKILL') })
  const [chunk] = await once(parent.stdout, 'data') as [Buffer]
  const zombie = Number(chunk.toString().trim())
  const state = (): string => { const stat = fs.readFileSync(`/proc/${zombie}/stat`, 'utf8'); return stat[stat.lastIndexOf(')') + 2] }
  for (let i = 0; i < 500 && state() !== 'Z'; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(state(), 'Z', `process ${zombie} is a zombie`)
  const stat = fs.readFileSync(`/proc/${zombie}/stat`, 'utf8')
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3]
  const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  writeLock(dir, { pid: zombie, start, boot: bootId, host: os.hostname() })
  DataDirLock.acquire(dir).release()
  t.notOk(fs.existsSync(path.join(dir, LOCK_FILE)), 'taken over and released')
})

t.test('of several processes racing for a stale lock, exactly one gets it', async (t) => {
  const dir = t.testdir()
  writeLock(dir, { pid: deadPid(), start: null, boot: null, host: os.hostname() })
  const module = path.join(__dirname, '..', '..', 'dist', 'lib', 'storage', 'data-dir-lock.js')
  // Each racer says it is ready, and all are told to go at once.
  const script = `
    const { DataDirLock } = require(${JSON.stringify(module)})
    let lock = null
    process.stdin.once('data', () => {
      try { lock = DataDirLock.acquire(${JSON.stringify(dir)}); process.stdout.write('got') } catch (err) { process.stdout.write(err.code) }
      process.stdin.on('end', () => lock?.release())
    })
    process.stdout.write('ready')`
  const racers = Array.from({ length: 8 }, () => spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }))
  const said = async (child: typeof racers[number]): Promise<string> => {
    const [chunk] = await once(child.stdout, 'data') as [Buffer]
    return chunk.toString()
  }
  await Promise.all(racers.map(said))
  const answers = racers.map(said)
  for (const child of racers) child.stdin.write('go')
  const results = await Promise.all(answers)
  for (const child of racers) child.stdin.end()
  await Promise.all(racers.map(async (child) => await once(child, 'exit')))
  t.equal(results.filter((r) => r === 'got').length, 1, results.join(' '))
  t.equal(results.filter((r) => r === 'DATA_DIR_LOCKED').length, 7)
  t.same(fs.readdirSync(dir), [], 'released, and nothing else left behind')
})

t.test('on a full disk the lock is taken empty, its holder named by its second name; a stale one is taken over', async (t) => {
  const mounted = mountTmpfs(t, '64k')
  if ('skip' in mounted) return t.plan(0, mounted.skip)
  const dir = path.join(mounted.dir, 'data')
  fs.mkdirSync(dir)
  const filler = path.join(mounted.dir, 'filler')
  const fd = fs.openSync(filler, 'w')
  try {
    for (;;) fs.writeSync(fd, Buffer.alloc(4096))
  } catch (err) {
    t.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', 'the disk is full')
  } finally {
    fs.closeSync(fd)
  }
  const lock = DataDirLock.acquire(dir)
  t.equal(fs.statSync(path.join(dir, LOCK_FILE)).size, 0, 'an empty lock')
  t.throws(() => DataDirLock.acquire(dir), { code: 'DATA_DIR_LOCKED', message: new RegExp(`in use by process ${process.pid} on `) }, 'still refuses a second holder, naming this one')
  lock.release()
  t.same(fs.readdirSync(dir), [], 'released: both names gone')

  // A dead process's empty lock (as a SIGKILL on a full disk leaves it) does not block the next start.
  const child = spawnSync(process.execPath, ['-e', 'process.exit(0)'])
  t.equal(child.status, 0)
  const dead = path.join(dir, `${LOCK_FILE}.holder.${child.pid}.-.-.abcdef`)
  fs.writeFileSync(dead, '')
  fs.linkSync(dead, path.join(dir, LOCK_FILE))
  const taken = DataDirLock.acquire(dir)
  t.notOk(fs.existsSync(dead), 'the stale lock\'s second name is gone too')
  taken.release()
})

t.test('with no free inode the lock cannot be made, and the error says so', async (t) => {
  const mounted = mountTmpfs(t, '1m', 16)
  if ('skip' in mounted) return t.plan(0, mounted.skip)
  const dir = path.join(mounted.dir, 'data')
  fs.mkdirSync(dir)
  for (let i = 0; ; i++) {
    try {
      fs.writeFileSync(path.join(mounted.dir, `f${i}`), '')
    } catch (err) {
      t.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', `no inode left after ${i} files`)
      break
    }
  }
  t.throws(() => DataDirLock.acquire(dir), { message: /^cannot take the data directory lock .*\.lock: the file system has no free inode for the lock file \(ENOSPC\); free some/ })
  t.same(fs.readdirSync(dir), [], 'nothing left behind')
})

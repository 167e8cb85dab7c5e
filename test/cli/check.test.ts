import t from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { execFileSync } from 'node:child_process'
import { crc32c } from '@node-rs/crc32'
import { rog, type Finished } from './rog-process'
import { encodePoint } from '../../lib/storage/recovery-point'

/*
 * `rog check` run as a process on the golden data directory
 * (fixtures/storage/data: a current log of three segments with groups and a
 * recovery point, and a log of Rog 0.1), clean and with each kind of damage.
 */
const FIXTURE = path.resolve(__dirname, '../../fixtures/storage/data')
const P0 = 'events/0'

function copyFixture (dir: string): string {
  fs.cpSync(FIXTURE, dir, { recursive: true })
  return dir
}

function flip (file: string, position: number, mask = 0x01): void {
  const buf = fs.readFileSync(file)
  buf[position] ^= mask
  fs.writeFileSync(file, buf)
}

/** Every file under `dir` with its bytes and modification time, and every directory. */
function state (dir: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[]) {
    const file = path.join(e.parentPath, e.name)
    const stat = fs.lstatSync(file)
    out.set(path.relative(dir, file), e.isFile() ? `${stat.mtimeMs} ${fs.readFileSync(file).toString('base64')}` : `${stat.mtimeMs} ${e.isDirectory() ? 'dir' : 'other'}`)
  }
  return out
}

const check = async (dir: string): Promise<Finished> => await rog(undefined, ['check', '--data-dir', dir])

/** Writes a producers journal as Rog does: producer 7's batches of 10 from each offset given, one 28-byte record each. */
function producers (file: string, firstOffsets: number[]): void {
  const buf = Buffer.alloc(28 * firstOffsets.length)
  for (const [i, first] of firstOffsets.entries()) {
    const at = i * 28
    buf.writeBigUInt64BE(7n, at + 4)
    buf.writeUInt32BE(i, at + 12)
    buf.writeUInt32BE(10, at + 16)
    buf.writeBigUInt64BE(BigInt(first), at + 20)
    buf.writeUInt32BE(crc32c(buf.subarray(at + 4, at + 28)), at)
  }
  fs.writeFileSync(file, buf)
}

t.test('a clean data directory: exit 0, a report per partition', async (t) => {
  const dir = copyFixture(t.testdir())
  const before = state(dir)
  const r = await check(dir)
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '')
  t.equal(r.stdout, [
    `rog check: ${dir}`,
    'events/0: clean',
    '  messages: 220 intact, offsets 0 to 219, in 3 segments',
    '  groups: "g" at 120, "ünïcödé group" at 42, "h" at 0, "last" at 220',
    '  recovery point: 179.log position 5502',
    'events/1: clean',
    '  messages: 7 intact, offsets 0 to 6, in 1 segment',
    '  groups: none',
    '  recovery point: 0.log position 830',
    'legacy/0: clean',
    '  messages: 40 intact, offsets 0 to 39, in 1 segment (in the format of Rog 0.1: 0.log)',
    '  groups: "old" at 25',
    '  recovery point: none',
    '3 partitions checked: 3 clean, 0 damaged; no damage found',
    ''
  ].join('\n'))
  t.same(state(dir), before, 'nothing written: every file\'s bytes and modification time as they were')
})

/** Each kind of damage, made on a copy of the fixtures, and what the report must say about it. */
const DAMAGE: Array<[string, (dir: string) => void, RegExp]> = [
  ['an entry\'s checksum', (d) => flip(path.join(d, P0, '89.log'), 2000), /damaged: events\/0\/89\.log position \d+, offset \d+: checksum mismatch: the entry fails its CRC-32C; \d+ damaged bytes, offset \d+ is not served/],
  ['an entry\'s id', (d) => flip(path.join(d, P0, '89.log'), 7), /damaged: events\/0\/89\.log position 0, offset 89: out of sequence: the entry has offset 88 where 89 follows/],
  ['an entry\'s size', (d) => flip(path.join(d, P0, '0.log'), 15, 0x80), /damaged: events\/0\/0\.log position 0, offset 0: checksum mismatch/],
  ['an absurd entry size', (d) => flip(path.join(d, P0, '0.log'), 8, 0x40), /damaged: events\/0\/0\.log position 0, offset 0: bad size/],
  ['a Rog 0.1 entry', (d) => flip(path.join(d, 'legacy/0/0.log'), 3000), /damaged: legacy\/0\/0\.log position \d+, offset \d+: checksum mismatch/],
  ['a torn write after the recovery point', (d) => fs.appendFileSync(path.join(d, P0, '179.log'), Buffer.from('0000000000000101', 'hex')), /damaged: events\/0\/179\.log position 5502, offset 220: torn write: cut short .*Rog truncates them on start/],
  ['a missing segment', (d) => { fs.rmSync(path.join(d, P0, '89.log')); fs.rmSync(path.join(d, P0, '89.index')) }, /damaged: events\/0\/179\.log position 0, offset 89: gap: offsets 89 to 178 are missing/],
  ['a segment inside another', (d) => fs.copyFileSync(path.join(d, P0, '89.log'), path.join(d, P0, '100.log')), /damaged: events\/0\/100\.log position 0, offset 100: overlap/],
  ['an index entry', (d) => flip(path.join(d, P0, '89.index'), 3), /damaged: events\/0\/89\.index position 0: index: entry 0 names offset \d+ at position \d+, where the entry has offset \d+/],
  ['an index out of order', (d) => fs.appendFileSync(path.join(d, P0, '0.index'), Buffer.alloc(8)), /damaged: events\/0\/0\.index position 0: index: entry 2 is out of order/],
  ['a journal record', (d) => flip(path.join(d, P0, 'groups.offsets'), 20), /damaged: events\/0\/groups\.offsets position 15: journal: 31 bytes of damaged records/],
  ['the last journal record', (d) => flip(path.join(d, P0, 'groups.offsets'), 90), /damaged: events\/0\/groups\.offsets position 76: journal: 18 bytes of an incomplete or damaged last record/],
  ['a producers journal record', (d) => { producers(path.join(d, P0, 'producers'), [0, 10]); flip(path.join(d, P0, 'producers'), 5) }, /damaged: events\/0\/producers position 0: journal: 28 bytes of damaged records: the batches they described are forgotten/],
  ['the last producers record cut short', (d) => { producers(path.join(d, P0, 'producers'), [0, 10]); fs.truncateSync(path.join(d, P0, 'producers'), 50) }, /damaged: events\/0\/producers position 28: journal: 22 bytes of an incomplete last record \(a write cut short\): Rog drops it on start/],
  ['the recovery point', (d) => flip(path.join(d, P0, 'recovery-point'), 12), /damaged: events\/0\/recovery-point position 0: recovery point: damaged/],
  ['a group past the end', (d) => fs.rmSync(path.join(d, P0, '179.log')), /group "last" is at offset 220, past the end of the partition \(179\)/],
  ['a symbolic link', (d) => { fs.renameSync(path.join(d, 'legacy/0/0.log'), path.join(d, '..', 'elsewhere.log')); fs.symlinkSync(path.join(d, '..', 'elsewhere.log'), path.join(d, 'legacy/0/0.log')) }, /damaged: legacy\/0\/0\.log position 0: symlink/],
  ['a missing partition', (d) => fs.renameSync(path.join(d, 'events/1'), path.join(d, 'events/2')), /events: DAMAGED\n {2}damaged: events position 0: partitions: partition 1 is missing/]
]

t.test('each kind of damage: exit 1, the report names the file, the position, the offset and the kind', async (t) => {
  const root = t.testdir()
  const runs = DAMAGE.map(([name, damage, expected], i) => {
    const dir = path.join(root, String(i), 'data')
    fs.mkdirSync(dir, { recursive: true })
    damage(copyFixture(dir))
    return { name, dir, expected, before: state(dir) }
  })
  const results = await Promise.all(runs.map(async (r) => await check(r.dir)))
  for (const [i, r] of runs.entries()) {
    const { code, stdout, stderr } = results[i]
    t.equal(code, 1, `${r.name}: exit 1 ${stderr}`)
    t.match(stdout, r.expected, `${r.name}: reported`)
    t.match(stdout, /\d+ problems? found\n$/, `${r.name}: counted`)
    t.same(state(r.dir), r.before, `${r.name}: nothing written`)
  }
})

t.test('a producers journal: intact records are clean; records of batches past the end are a note', async (t) => {
  const dir = copyFixture(t.testdir())
  producers(path.join(dir, P0, 'producers'), [0, 10, 215])
  const r = await check(dir)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /events\/0: clean\n/)
  t.match(r.stdout, /events\/0\/producers: 1 record of batches past the end of the partition \(never written whole\); Rog drops them on start/)
})

t.test('a recovery point naming a segment retention deleted (before every one left) is a note, not damage', async (t) => {
  const dir = copyFixture(t.testdir())
  for (const f of fs.readdirSync(path.join(dir, P0))) if (/^0\.(log|index|timeindex)$/.test(f)) fs.rmSync(path.join(dir, P0, f))
  fs.writeFileSync(path.join(dir, P0, 'recovery-point'), encodePoint({ base: 0, position: 100 }))
  const r = await check(dir)
  t.equal(r.code, 0, r.stdout)
  t.match(r.stdout, /events\/0: clean\n {2}messages: 131 intact, offsets 89 to 219, in 2 segments\n/)
  t.match(r.stdout, /events\/0\/recovery-point: names segment 0\.log, before every segment left \(deleted by retention before the point moved on\)/)
})

t.test('never writes: checks a read-only copy the same way', async (t) => {
  const dir = copyFixture(path.join(t.testdir(), 'data'))
  flip(path.join(dir, P0, '89.log'), 2000)
  fs.appendFileSync(path.join(dir, P0, '179.log'), Buffer.from('00', 'hex'))
  const writable = await check(dir)
  t.equal(writable.code, 1)
  if (process.getuid?.() === 0) {
    // Root writes through file modes: a read-only bind mount is what refuses it.
    const ro = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-ro-'))
    try {
      execFileSync('mount', ['--bind', dir, ro], { stdio: 'pipe' })
    } catch (err) {
      fs.rmdirSync(ro)
      t.comment(`cannot bind-mount (${(err as Error).message}); compared bytes only`)
      return
    }
    try {
      try {
        execFileSync('mount', ['-o', 'remount,ro,bind', ro], { stdio: 'pipe' })
      } catch (err) {
        t.comment(`cannot make the mount read-only (${(err as Error).message}); compared bytes only`)
        return
      }
      t.throws(() => fs.writeFileSync(path.join(ro, 'x'), ''), { code: 'EROFS' }, 'the mount refuses writes')
      const r = await check(ro)
      t.same([r.code, r.stderr, r.stdout], [1, '', writable.stdout.replace(dir, ro)], 'on a read-only mount: the same report')
    } finally {
      execFileSync('umount', ['-l', ro])
      fs.rmdirSync(ro)
    }
  } else {
    execFileSync('chmod', ['-R', 'a-w', dir])
    try {
      const r = await check(dir)
      t.same([r.code, r.stderr, r.stdout], [1, '', writable.stdout], 'on a read-only copy: the same report')
    } finally {
      // Before the test ends: tap removes its directory before teardowns run.
      execFileSync('chmod', ['-R', 'u+w', dir])
    }
  }
})

t.test('usage errors exit 2', async (t) => {
  const missing = path.join(t.testdir(), 'nowhere')
  const r = await check(missing)
  t.same([r.code, r.stdout], [2, ''])
  t.equal(r.stderr, `rog check: no data directory at ${missing}\n`)
  t.equal((await rog(undefined, ['check', '--no-such-flag'])).code, 2, 'an unknown option')
  t.equal((await rog(undefined, ['check', '--data-dir'])).code, 2, 'a missing value')
  const help = await rog(undefined, ['check', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /--data-dir <dir>/)
})

import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Store } from '../../lib/storage/store'
import type { Partition } from '../../lib/storage/partition'
import { nodeFileIo, type FileIo } from '../../lib/storage/file-io'
import type { RogError } from '../../lib/errors'
import type { Test } from 'tap'

/** A commit's or ack's outcome: null, or the error's code. */
type Outcome = string | null

function commit (p: Partition, group: string, offset: number): Promise<Outcome> {
  return new Promise((resolve) => p.commit(group, offset, (err) => resolve(err?.code ?? null)))
}

function ack (p: Partition, group: string): Promise<Outcome> {
  return new Promise((resolve) => p.ack(group, (err) => resolve(err?.code ?? null)))
}

function deleteGroup (p: Partition, group: string): Promise<Outcome> {
  return new Promise((resolve) => p.deleteGroup(group, (err: RogError | null) => resolve(err?.code ?? null)))
}

/** Bytes of one journal record of a group of `name.length` ASCII bytes (crc32c, u16 size, name, u64 offset). */
function recordBytes (name: string): number {
  return 4 + 2 + name.length + 8
}

async function withPartition (t: Test, io: FileIo = nodeFileIo): Promise<{ dir: string, store: Store, p: Partition, journal: () => number }> {
  const dir = t.testdir()
  const store = await Store.open({ dataDir: dir, fsync: 'never', io, log: () => {} })
  await store.createLog('q', 1)
  const p = store.partition('q', 0)
  await new Promise<void>((resolve, reject) => p.append(Array.from({ length: 10 }, () => Buffer.from('m')), (err) => err === null ? resolve() : reject(err)))
  return { dir, store, p, journal: () => fs.statSync(path.join(dir, 'q', '0', 'groups.offsets')).size }
}

async function reopened (dir: string, groups: string[]): Promise<Array<number | undefined>> {
  const store = await Store.open({ dataDir: dir, fsync: 'never', log: () => {} })
  try {
    const p = store.partition('q', 0)
    return groups.map((g) => p.groups.has(g) ? p.groups.get(g) : undefined)
  } finally {
    await store.close()
  }
}

t.test('commits and acks of a group made in one turn are written as one record, each answered as its own', async (t) => {
  const { dir, store, p, journal } = await withPartition(t)
  const before = journal()
  const outcomes = await Promise.all([commit(p, 'g', 1), commit(p, 'g', 7), commit(p, 'h', 2), commit(p, 'g', 4), ack(p, 'a'), ack(p, 'a'), ack(p, 'a')])
  t.same(outcomes, [null, null, null, null, null, null, null], 'every one answered as stored')
  t.equal(journal() - before, recordBytes('g') + recordBytes('h') + recordBytes('a'), 'one record for each group')
  t.same([p.groups.get('g'), p.groups.get('h'), p.groups.get('a')], [4, 2, 3], 'the last commit of each stands; three acks moved on by three')
  // A commit past the end is refused on its own; it neither joins nor spoils the record queued before it.
  t.same(await Promise.all([commit(p, 'g', 5), commit(p, 'g', 11), commit(p, 'g', 6)]), [null, 'BAD_OFFSET', null])
  t.equal(p.groups.get('g'), 6)
  await store.close()
  t.same(await reopened(dir, ['g', 'h', 'a']), [6, 2, 3], 'what was answered is what is on disk')
})

t.test('a commit made once the batch has taken its group\'s record is written in a record of its own', async (t) => {
  const { dir, store, p, journal } = await withPartition(t)
  const before = journal()
  const second = await new Promise<Outcome>((resolve) => p.commit('g', 3, () => { void commit(p, 'g', 5).then(resolve) }))
  t.equal(second, null)
  t.equal(journal() - before, 2 * recordBytes('g'), 'two records: the first was already being written')
  await store.close()
  t.same(await reopened(dir, ['g']), [5])
})

t.test('a deletion between commits of a group keeps its place among them', async (t) => {
  const { dir, store, p } = await withPartition(t)
  t.same(await Promise.all([commit(p, 'kept', 1), deleteGroup(p, 'kept'), commit(p, 'kept', 2)]), [null, null, null])
  t.same(await Promise.all([commit(p, 'gone', 1), commit(p, 'gone', 2), deleteGroup(p, 'gone')]), [null, null, null])
  t.same([p.groups.get('kept'), p.groups.has('gone')], [2, false])
  await store.close()
  t.same(await reopened(dir, ['kept', 'gone']), [2, undefined], 'the commit after the deletion stands; the deletion after the commits stands')
})

t.test('a failed journal write fails every commit its record would have answered, and none of them shows', async (t) => {
  const failing = { on: false }
  const io: FileIo = {
    ...nodeFileIo,
    writev (fd, buffers, position) {
      // Group records are the only writes this small.
      if (failing.on && buffers.every((b) => b.length < 40)) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
      nodeFileIo.writev(fd, buffers, position)
    }
  }
  const { dir, store, p } = await withPartition(t, io)
  t.equal(await commit(p, 'g', 2), null)
  failing.on = true
  t.same(await Promise.all([commit(p, 'g', 5), ack(p, 'g'), commit(p, 'g', 8)]), ['STORAGE', 'STORAGE', 'STORAGE'])
  failing.on = false
  t.equal(p.groups.get('g'), 2, 'the group is where it was')
  t.equal(await ack(p, 'g'), null)
  t.equal(p.groups.get('g'), 3, 'and an ack moves on from there')
  await store.close()
  t.same(await reopened(dir, ['g']), [3])
})

t.test('a deletion made after a commit that waits for appends in flight is written after it', async (t) => {
  const { dir, store, p } = await withPartition(t)
  t.equal(await commit(p, 'g', 1), null)
  const appended = new Promise<void>((resolve) => p.append([Buffer.from('n'), Buffer.from('o')], () => resolve()))
  const outcomes = Promise.all([commit(p, 'g', 12), deleteGroup(p, 'g'), appended])
  t.same((await outcomes).slice(0, 2), [null, null])
  t.equal(p.groups.has('g'), false, 'the deletion, made last, stands')
  await store.close()
  t.same(await reopened(dir, ['g']), [undefined])
})

t.test('an ack that waits its turn, made on top of a commit whose write then fails, fails too: acks queued behind a failed write fail', async (t) => {
  const armed = { on: false }
  const io: FileIo = {
    ...nodeFileIo,
    writev (fd, buffers, position) {
      // The first group record written once armed fails; entries (11 bytes and up with their header) and later records go through.
      if (armed.on && buffers.every((b) => b.length < 20)) {
        armed.on = false
        throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
      }
      nodeFileIo.writev(fd, buffers, position)
    }
  }
  const { dir, store, p } = await withPartition(t, io)
  t.equal(await commit(p, 'c', 1), null)
  armed.on = true
  // One turn: c's commit of 2 is queued at once (its record fails); z's commit of 11 waits for the append in flight;
  // the ack of c, made behind z's, waits too, and was made when c was to be at 2.
  const appended = new Promise<void>((resolve) => p.append([Buffer.from('n')], () => resolve()))
  const outcomes = await Promise.all([commit(p, 'c', 2), commit(p, 'z', 11), ack(p, 'c'), appended])
  t.same(outcomes.slice(0, 3), ['STORAGE', null, 'STORAGE'], 'the commit of 2 failed, and the ack made on it; z\'s commit was written')
  t.same([p.groups.get('c'), p.groups.get('z')], [1, 11], 'c is where it was')
  t.equal(await ack(p, 'c'), null)
  t.equal(p.groups.get('c'), 2, 'and the next ack moves on from there')
  await store.close()
  t.same(await reopened(dir, ['c', 'z']), [2, 11])
})

t.test('a record is let go once written: commits of many groups in one turn hold nothing after their answers', async (t) => {
  const { store, p } = await withPartition(t)
  t.teardown(() => store.close())
  const outcomes = await Promise.all(Array.from({ length: 5000 }, (_, i) => commit(p, `group-${i}`, i % 10)))
  t.ok(outcomes.every((o) => o === null))
  const held = (p as unknown as { queuedGroups: { byGroup: Map<string, unknown> } }).queuedGroups.byGroup
  t.equal(held.size, 0)
})

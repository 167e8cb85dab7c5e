// Writes fixtures/storage/: golden storage files, made by Rog itself (the built
// dist/) from fixed messages at fixed times, plus a segment in the format of
// Rog 0.1, written here by hand. Run `npm run build` first, then
// `node scripts/make-storage-fixtures.mjs [out dir]` from the repository root.
// test/storage/golden.test.ts runs it again into a temporary directory and
// compares every byte, so a change of format shows up as a failing test and,
// once regenerated, as a diff of fixtures/storage/.
//
// fixtures/storage/data/ is a data directory:
//   events/0/   three segments (rolled at 12 KiB, so each has an index),
//               groups.offsets with five records (group "g" committed twice),
//               recovery-point at the end of the last segment
//   events/1/   one short segment, no group
//   legacy/0/   0.log in the entry format of Rog 0.1 (CRC-32C of timestamp and
//               message only), its 0.index and groups.offsets; no recovery-point
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { dirname, join, resolve } from 'node:path'
import * as fs from 'node:fs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { crc32c } = require('@node-rs/crc32')
const { Store } = require(join(root, 'dist/lib/storage/store.js'))
const { OffsetIndex, INDEX_INTERVAL } = require(join(root, 'dist/lib/storage/offset-index.js'))
const { encodeRecord } = require(join(root, 'dist/lib/storage/group-offsets.js'))

/** Message `i` of a fixture: text of 0 to 230 bytes (message 0 is empty). */
export function message (i) {
  if (i === 0) return Buffer.alloc(0)
  const text = `message ${i} `
  return Buffer.from(text + '.-'.repeat(((i * 37) % 200) >> 1).slice(0, (i * 37) % 200))
}

/** Append `i` of a fixture happened at this time (ms since the epoch). */
export function timestamp (i) {
  return 1_700_000_000_000 + i * 1_000
}

export const EVENTS_0 = { count: 220, batch: 10 }
export const EVENTS_1 = { count: 7, batch: 1 }
export const EVENTS_GROUPS = [['g', 10], ['ünïcödé group', 42], ['h', 0], ['g', 120], ['last', 220]]
export const LEGACY = { count: 40 }
export const LEGACY_GROUPS = [['old', 25]]
export const SEGMENT_BYTES = 12 * 1024

function call (fn) {
  return new Promise((resolve, reject) => fn((err, value) => err === null ? resolve(value) : reject(err)))
}

async function writeEvents (dataDir) {
  const store = await Store.open({ dataDir, segmentBytes: SEGMENT_BYTES, fsync: 'never', log: (line) => { if (!/: log events created with 2 partitions$/.test(line)) throw new Error(line) } })
  await store.createLog('events', 2)
  const realNow = Date.now
  try {
    for (const [partition, { count, batch }] of [[0, EVENTS_0], [1, EVENTS_1]]) {
      const p = store.partition('events', partition)
      for (let first = 0; first < count; first += batch) {
        Date.now = () => timestamp(first)
        const messages = []
        for (let i = first; i < Math.min(count, first + batch); i++) messages.push(message(i))
        await call((cb) => p.append(messages, (err, offset) => cb(err, offset)))
      }
    }
    const p = store.partition('events', 0)
    for (const [group, offset] of EVENTS_GROUPS) await call((cb) => p.commit(group, offset, cb))
  } finally {
    Date.now = realNow
  }
  await store.close()
}

/** A partition as Rog 0.1 left it: legacy entries, an index, the journal; no recovery point. */
function writeLegacy (dataDir) {
  const dir = join(dataDir, 'legacy', '0')
  fs.mkdirSync(dir, { recursive: true })
  const entries = []
  const index = new OffsetIndex()
  let position = 0
  for (let id = 0; id < LEGACY.count; id++) {
    const data = message(id)
    const entry = Buffer.alloc(28 + data.length)
    entry.writeBigUInt64BE(BigInt(id), 0)
    entry.writeBigUInt64BE(BigInt(12 + data.length), 8)
    entry.writeBigUInt64BE(BigInt(timestamp(id)), 20)
    data.copy(entry, 28)
    entry.writeUInt32BE(crc32c(entry.subarray(20)), 16)
    if (position - index.last()[1] >= INDEX_INTERVAL) index.add(id, position)
    entries.push(entry)
    position += entry.length
  }
  fs.writeFileSync(join(dir, '0.log'), Buffer.concat(entries))
  fs.writeFileSync(join(dir, '0.index'), index.encode())
  fs.writeFileSync(join(dir, 'groups.offsets'), Buffer.concat(LEGACY_GROUPS.map(([g, o]) => encodeRecord(g, o))))
}

export async function makeStorageFixtures (out) {
  const dataDir = join(out, 'data')
  fs.rmSync(dataDir, { recursive: true, force: true })
  await writeEvents(dataDir)
  writeLegacy(dataDir)
  return dataDir
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? join(root, 'fixtures', 'storage'))
  const dataDir = await makeStorageFixtures(out)
  const files = []
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name < b.name ? -1 : 1)) {
      if (e.isDirectory()) walk(join(dir, e.name))
      else files.push(`${join(dir, e.name).slice(dataDir.length + 1)} ${fs.statSync(join(dir, e.name)).size}`)
    }
  }
  walk(dataDir)
  console.log(files.join('\n'))
}

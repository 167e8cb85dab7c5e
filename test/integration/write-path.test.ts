import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { ModelHarness, type ServerControl } from '../helpers/model-harness'
import { ChildServer, InProcessServer } from '../helpers/model-servers'
import { mountTmpfs } from '../helpers/tmpfs'
import { WindowConnection } from '../helpers/window-connection'
import { request } from '../helpers/server'

// The repros of issue 8, each checked against the LogModel: every request
// answered, every acknowledged message readable at its offset before and after
// a restart, no hole, groups at their last successful commit. A stall (no
// answer for ROG_MODEL_STALL_MS, default 20 s) fails with how far each
// connection got.

async function withHarness (control: ServerControl, options: { connections: number, window: number, faulty?: boolean }, body: (h: ModelHarness) => Promise<void>): Promise<ModelHarness> {
  const h = await ModelHarness.start(control, { partitions: 1, ...options })
  try {
    await body(h)
  } finally {
    await h.close()
  }
  return h
}

for (const fsync of ['interval', 'never'] as const) {
  t.test(`repro A, fsync ${fsync}: one connection pipelines 20,000 publishes with offsets; all are answered and kept`, async (t) => {
    const server = await ChildServer.start(t, { dataDir: t.testdir(), fsync, segmentBytes: 1 << 20, fsyncIntervalMs: 5 })
    const h = await withHarness(server, { connections: 1, window: 20_000 }, async (h) => {
      await h.publish(0, 0, Array.from({ length: 20_000 }, (_, i) => i % 50), 'offset')
      await h.verify()
      await h.restart('SIGTERM', 0)
    })
    t.equal(h.model.stats.acked, 20_000, 'every publish acknowledged, then found after a restart')
  })
}

t.test('repro B, fsync interval: 4 connections each pipeline 2,000 x [commit, publish]; none stalls, nothing is lost across SIGTERM', async (t) => {
  const server = await ChildServer.start(t, { dataDir: t.testdir(), fsync: 'interval', segmentBytes: 1 << 20, fsyncIntervalMs: 5 })
  const h = await withHarness(server, { connections: 4, window: 4000 }, async (h) => {
    for (let i = 0; i < 2000; i++) {
      for (let c = 0; c < 4; c++) {
        // Commit the messages this connection published before: always within the log.
        await h.commit(c, 0, 0, 'at', i)
        await h.publish(c, 0, [20 + (i % 30)], 'ok')
      }
    }
    await h.verify()
    await h.restart('SIGTERM', 0)
  })
  t.equal(h.model.stats.acked, 8000, 'every publish acknowledged, then found after the restart, with each group at its last commit')
})

t.test('repro C, fsync always, data on a 1 MiB tmpfs: 4 connections x 300 x [commit, 3 KB publish] are all answered; what was acknowledged is kept', async (t) => {
  const mount = mountTmpfs(t, '1m')
  if ('skip' in mount) return t.plan(0, mount.skip)
  const server = await ChildServer.start(t, { dataDir: path.join(mount.dir, 'data'), fsync: 'always', segmentBytes: 1 << 20 })
  const h = await withHarness(server, { connections: 4, window: 600, faulty: true }, async (h) => {
    for (let i = 0; i < 300; i++) {
      for (let c = 0; c < 4; c++) {
        await h.commit(c, 0, 0, 'at', i)
        await h.publish(c, 0, [3000], 'ok')
      }
    }
    await h.verify()
    await h.restart('SIGTERM', 0)
    await h.publish(0, 0, [10], 'offset')
    await h.verify()
  })
  const { acked, failed } = h.model.stats
  t.ok(acked > 0 && failed > 0, `${acked} publishes acknowledged, ${failed} refused when the disk was full`)
})

t.test('groups.offsets stays under 4 x its live size + 1 MiB while 8 connections commit steadily', async (t) => {
  const dataDir = t.testdir()
  const server = await InProcessServer.start({ dataDir, fsync: 'never', segmentBytes: 1 << 20 })
  t.teardown(() => server.stop())
  await request(server.port, { command: 'create', log: 'g', partitions: 1 })
  await request(server.port, { command: 'publish', log: 'g', partition: 0, data: Buffer.from('m'), reply: 'ok' })
  const file = path.join(dataDir, 'g', '0', 'groups.offsets')
  const groups = 200
  const name = (c: number, k: number): string => `connection ${c} group ${k} `.padEnd(120, '.')
  const live = 8 * groups * (14 + 120)
  const limit = 4 * live + (1 << 20)
  const commitsEach = 4000
  let largest = 0
  let failures = 0
  const conns = await Promise.all(Array.from({ length: 8 }, async () => await WindowConnection.open(server.port, 64)))
  for (const [c, conn] of conns.entries()) {
    for (let i = 0; i < commitsEach; i++) {
      conn.send({
        build: () => ({ command: 'commit', log: 'g', partition: 0, group: name(c, i % groups), offset: i % 2 }),
        done: (o) => {
          if (o.answer?.response !== 'offset') failures++
          if (i % 100 === 0) largest = Math.max(largest, fs.statSync(file).size)
        }
      })
    }
  }
  await Promise.all(conns.map(async (c) => await c.idle()))
  for (const c of conns) c.destroy()
  t.equal(failures, 0, `${8 * commitsEach} commits answered`)
  t.ok(8 * commitsEach * (14 + 120) > 2 * limit, 'more was committed than the bound twice over')
  t.ok(largest > 0 && largest < limit, `the journal peaked at ${largest} bytes, under ${limit} (4 x ${live} live + 1 MiB)`)
})

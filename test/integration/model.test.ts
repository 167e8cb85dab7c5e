import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { runModel } from '../helpers/model-run'
import { InProcessServer } from '../helpers/model-servers'
import { mountTmpfs } from '../helpers/tmpfs'
import type { FsyncPolicy } from '../../lib/storage/segment-writer'

// The model of issue 8 against an in-process server whose writes and syncs
// fail at random moments, restarted cleanly and by simulated power loss.
// ROG_MODEL_RUNS and ROG_MODEL_COMMANDS run it longer (see helpers/model-commands.ts).
const modes: FsyncPolicy[] = ['always', 'interval', 'never']

for (const fsync of modes) {
  t.test(`model: fsync ${fsync}, in-process server, injected write and sync faults, clean restarts and power loss`, async (t) => {
    await runModel(t, {
      root: t.testdir(),
      restarts: ['close', 'power-loss'],
      faults: true,
      runs: 10,
      commands: 300,
      server: async (dataDir) => await InProcessServer.start({ dataDir, fsync, segmentBytes: 16 * 1024, fsyncIntervalMs: 5 })
    })
  })
}

t.test('model: fsync always, data on a 2 MiB tmpfs (a real full disk), in-process server, clean restarts and power loss', async (t) => {
  const mount = mountTmpfs(t, '2m')
  if ('skip' in mount) return t.plan(0, mount.skip)
  // Ballast: each run (its directory removed after it) finds a few hundred KiB free, and fills them.
  fs.writeFileSync(path.join(mount.dir, 'ballast'), Buffer.alloc(1920 * 1024))
  await runModel(t, {
    root: mount.dir,
    restarts: ['close', 'power-loss'],
    faults: false,
    faulty: true,
    removeRuns: true,
    runs: 6,
    commands: 300,
    server: async (dataDir) => await InProcessServer.start({ dataDir, fsync: 'always', segmentBytes: 64 * 1024 })
  })
})

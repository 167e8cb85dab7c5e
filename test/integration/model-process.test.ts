import t from 'tap'
import { runModel } from '../helpers/model-run'
import { ChildServer } from '../helpers/model-servers'
import type { FsyncPolicy } from '../../lib/storage/segment-writer'

// The model of issue 8 against `rog server` as a child process, restarted by
// SIGTERM (graceful) and SIGKILL in the middle of the traffic. The process
// dies, the page cache does not: in every fsync mode nothing acknowledged may
// be lost (README, Durability). ROG_MODEL_RUNS and ROG_MODEL_COMMANDS run it
// longer (see helpers/model-commands.ts).
const modes: FsyncPolicy[] = ['always', 'interval', 'never']

for (const fsync of modes) {
  t.test(`model: fsync ${fsync}, rog server process, SIGTERM and SIGKILL restarts`, async (t) => {
    await runModel(t, {
      root: t.testdir(),
      restarts: ['SIGTERM', 'SIGKILL'],
      faults: false,
      runs: 3,
      commands: 300,
      server: async (dataDir) => await ChildServer.start(t, { dataDir, fsync, segmentBytes: 16 * 1024, fsyncIntervalMs: 5 })
    })
  })
}

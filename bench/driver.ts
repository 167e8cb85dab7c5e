import { produceLoad } from './cluster-produce'
import type { DriverReply, Job, LoadResult } from './jobs'
import { drainLoad } from './rog-drain'
import { publishLoad } from './rog-publish'
import { redisDrainLoad } from './redis-drain'

/**
 * The load-generating process: forked by the runner (bench/run.ts), it takes
 * one Job over IPC, runs it, sends back a DriverReply and exits. Keeping the
 * load in its own process means the server and the client never share an
 * event loop.
 */
async function runJob (job: Job): Promise<LoadResult> {
  switch (job.kind) {
    case 'publish': return await publishLoad(job)
    case 'drain': return await drainLoad(job)
    case 'redis-drain': return await redisDrainLoad(job)
    case 'produce': return await produceLoad(job)
  }
}

process.once('message', (job: Job) => {
  runJob(job).then(
    (result): DriverReply => ({ ok: true, result }),
    (err: unknown): DriverReply => ({ ok: false, error: err instanceof Error ? err.message : String(err) })
  ).then((reply) => {
    process.send?.(reply, () => process.exit(0))
  }, () => process.exit(1))
})

import fc from 'fast-check'
import * as fs from 'node:fs'
import * as path from 'node:path'
import type { Test } from 'tap'
import { ModelHarness, type HarnessOptions, type ServerControl } from './model-harness'
import { modelSteps, runSettings, type StepOptions } from './model-commands'

export interface ModelRunOptions extends StepOptions {
  /** Where each run gets a fresh data directory. */
  root: string
  /** Starts a server for one run on the data directory given. */
  server: (dataDir: string) => Promise<ServerControl>
  runs: number
  commands: number
  /** The disk is full or fills up: storage errors may answer any write. */
  faulty?: boolean
  /** Remove each run's data directory after it (a small disk). */
  removeRuns?: boolean
}

/** How many connections, how deep each one's window, how many partitions. */
const shape: fc.Arbitrary<HarnessOptions> = fc.record({
  connections: fc.integer({ min: 2, max: 5 }),
  window: fc.constantFrom(1, 2, 4, 16, 64),
  partitions: fc.integer({ min: 1, max: 3 })
})

/**
 * Runs the model of issue 8 with fast-check: each run starts a server, plays
 * a random sequence of steps against it (requests over sliding-window
 * connections, settles, checks, restarts, faults) and checks everything at
 * the end. On failure fast-check shrinks it for up to ROG_MODEL_SHRINK_MS and
 * reports the seed and path to replay it with (see runSettings).
 */
export async function runModel (t: Test, options: ModelRunOptions): Promise<void> {
  const settings = runSettings({ runs: options.runs, commands: options.commands })
  const totals = { runs: 0, sent: 0, acked: 0, failed: 0, unanswered: 0, verifications: 0 }
  let firstFailure: number | null = null
  let run = 0
  const property = fc.asyncProperty(shape, fc.commands(modelSteps(options), { maxCommands: settings.commands, size: 'max', replayPath: settings.replay }), async (config, steps) => {
    // Past the shrinking budget every further candidate passes, so the smallest failure so far is reported.
    if (firstFailure !== null && Date.now() - firstFailure > settings.shrinkMs) return
    const dataDir = path.join(options.root, `run-${run++}`)
    fs.mkdirSync(dataDir, { recursive: true })
    const control = await options.server(dataDir)
    let harness: ModelHarness | null = null
    try {
      harness = await ModelHarness.start(control, { ...config, faulty: options.faulty })
      const h = harness
      await fc.asyncModelRun(() => ({ model: h.model, real: h }), steps)
      await h.verify()
      totals.runs++
      for (const k of ['sent', 'acked', 'failed', 'unanswered', 'verifications'] as const) totals[k] += h.model.stats[k]
    } catch (err) {
      firstFailure ??= Date.now()
      throw err
    } finally {
      if (harness !== null) await harness.close()
      else await control.stop()
      if (options.removeRuns === true) fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })
  const started = Date.now()
  const details = await fc.check(property, {
    numRuns: settings.runs,
    seed: settings.seed,
    path: settings.path,
    endOnFailure: settings.shrinkMs <= 0
  })
  const elapsed = Date.now() - started
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
    const counterexample = fc.stringify(details.counterexample)
    const replay = /replayPath="([^"]*)"/.exec(counterexample)?.[1] ?? ''
    t.fail(`model run failed; replay with ROG_MODEL_SEED=${details.seed} ROG_MODEL_PATH=${details.counterexamplePath ?? ''} ROG_MODEL_REPLAY='${replay}'`, {
      counterexample,
      error,
      shrunk: details.numShrinks
    })
    return
  }
  t.pass(`${totals.runs} runs in ${elapsed} ms: ${totals.sent} requests, ${totals.acked} publishes acknowledged, ${totals.failed} failed, ${totals.unanswered} unanswered at restarts, ${totals.verifications} partition verifications (seed ${details.seed})`)
}

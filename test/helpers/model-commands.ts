import fc from 'fast-check'
import type { LogModel } from './log-model'
import type { CommitTarget, GroupRef, ModelHarness, RestartKind } from './model-harness'
import type { FaultPlan } from './simulated-disk'

type Cmd = fc.AsyncCommand<LogModel, ModelHarness>

/** One step of a model run: a request queued on a connection, or a settle, check, restart or fault. */
class Step implements Cmd {
  constructor (readonly name: string, readonly action: (h: ModelHarness) => Promise<void>) {}
  check (): boolean {
    return true
  }

  async run (_m: LogModel, h: ModelHarness): Promise<void> {
    await this.action(h)
  }

  toString (): string {
    return this.name
  }
}

export interface StepOptions {
  /** Restarts the server can do (none: no restart steps). */
  restarts: RestartKind[]
  /** Whether the server's disk can be told to fail writes. */
  faults: boolean
}

const conn = fc.nat(7)
const partition = fc.nat(3)
/** Mostly small messages, some large enough to roll small segments. */
const size = fc.oneof({ arbitrary: fc.nat(48), weight: 8 }, { arbitrary: fc.integer({ min: 49, max: 600 }), weight: 3 }, { arbitrary: fc.integer({ min: 2000, max: 9000 }), weight: 1 })
const owned = fc.nat(2)
const groupRef: fc.Arbitrary<GroupRef> = fc.oneof(owned.map((n) => ({ owned: n })), fc.nat(1).map((n) => ({ shared: n })))
const refName = (r: GroupRef): string => 'owned' in r ? `g${r.owned}` : `s${r.shared}`

/** The steps of a model run, weighted towards publishes. */
export function modelSteps (options: StepOptions): Array<fc.Arbitrary<Cmd>> {
  const steps: Array<fc.Arbitrary<Cmd>> = [
    fc.tuple(conn, partition, fc.array(size, { minLength: 1, maxLength: 24 }), fc.constantFrom('ok' as const, 'offset' as const))
      .map(([c, p, sizes, reply]) => new Step(`publish(c${c}, p${p}, ${sizes.length} x ${reply})`, async (h) => await h.publish(c, p, sizes, reply))),
    fc.tuple(conn, partition, fc.array(size, { minLength: 1, maxLength: 12 }))
      .map(([c, p, sizes]) => new Step(`publishBatch(c${c}, p${p}, ${sizes.length})`, async (h) => await h.publishBatch(c, p, sizes))),
    fc.tuple(conn, partition, owned, fc.constantFrom<CommitTarget>('zero', 'end', 'next', 'any', 'past'), fc.nat())
      .map(([c, p, g, target, pick]) => new Step(`commit(c${c}, p${p}, g${g}, ${target})`, async (h) => await h.commit(c, p, g, target, pick))),
    fc.tuple(conn, partition, groupRef, fc.integer({ min: 1, max: 6 }))
      .map(([c, p, g, n]) => new Step(`ack(c${c}, p${p}, ${refName(g)}, ${n}x)`, async (h) => { for (let i = 0; i < n; i++) await h.ack(c, p, g) })),
    fc.tuple(conn, partition, owned)
      .map(([c, p, g]) => new Step(`fetch(c${c}, p${p}, g${g})`, async (h) => await h.fetch(c, p, g))),
    fc.tuple(conn, partition, groupRef, fc.constantFrom('group' as const, 'start' as const, 'end' as const, 'past' as const), fc.constantFrom(0, 1, 5, 100, 10_000), fc.constantFrom(1, 200, 1 << 20), fc.constantFrom(0, 0, 0, 5, 20))
      .map(([c, p, g, from, max, bytes, wait]) => new Step(`fetchBatch(c${c}, p${p}, ${refName(g)}, ${from}, ${max}, ${bytes}, ${wait}ms)`, async (h) => await h.fetchBatch(c, p, g, from, max, bytes, wait)))
  ]
  const weighted: Array<fc.WeightedArbitrary<Cmd>> = [
    { arbitrary: steps[0], weight: 10 },
    { arbitrary: steps[1], weight: 4 },
    { arbitrary: steps[2], weight: 6 },
    { arbitrary: steps[3], weight: 4 },
    { arbitrary: steps[4], weight: 2 },
    { arbitrary: steps[5], weight: 3 },
    { arbitrary: fc.constant(new Step('settle', async (h) => await h.settle())), weight: 1 },
    { arbitrary: fc.constant(new Step('verify', async (h) => await h.verify())), weight: 1 }
  ]
  if (options.restarts.length > 0) {
    weighted.push({
      arbitrary: fc.tuple(fc.constantFrom(...options.restarts), fc.nat()).map(([kind, seed]) => new Step(`restart(${kind}, ${seed})`, async (h) => await h.restart(kind, seed))),
      weight: 1
    })
  }
  if (options.faults) {
    const plan: fc.Arbitrary<FaultPlan> = fc.record({ op: fc.constantFrom('writev' as const, 'fdatasync' as const), after: fc.nat(40), count: fc.integer({ min: 1, max: 3 }), code: fc.constantFrom('EIO' as const, 'ENOSPC' as const) })
    weighted.push({ arbitrary: plan.map((p) => new Step(`fault(${p.op} fails ${p.count}x after ${p.after}, ${p.code})`, async (h) => h.fault(p))), weight: 2 })
    weighted.push({ arbitrary: fc.constant(new Step('faults off', async (h) => h.fault(null))), weight: 1 })
  }
  return [fc.oneof(...weighted)]
}

export interface RunSettings {
  runs: number
  commands: number
  seed?: number
  path?: string
  /** The commands' own replay path, printed with a failure. */
  replay?: string
  /** Time for shrinking a failure, after which the smallest failure found so far is reported. */
  shrinkMs: number
}

/**
 * Run counts and replay settings from the environment: ROG_MODEL_RUNS (runs
 * per configuration), ROG_MODEL_COMMANDS (most steps per run), and, to replay a
 * failure, the ROG_MODEL_SEED, ROG_MODEL_PATH and ROG_MODEL_REPLAY it printed;
 * ROG_MODEL_SHRINK_MS bounds shrinking (0: none).
 */
export function runSettings (defaults: { runs: number, commands: number }): RunSettings {
  const env = process.env
  const number = (name: string): number | undefined => env[name] === undefined || env[name] === '' ? undefined : Number(env[name])
  return {
    runs: number('ROG_MODEL_RUNS') ?? defaults.runs,
    commands: number('ROG_MODEL_COMMANDS') ?? defaults.commands,
    seed: number('ROG_MODEL_SEED'),
    path: env.ROG_MODEL_PATH,
    replay: env.ROG_MODEL_REPLAY,
    shrinkMs: number('ROG_MODEL_SHRINK_MS') ?? 20_000
  }
}

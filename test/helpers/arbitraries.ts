import fc from 'fast-check'
import type { Command } from '../../lib/protocol/commands'

/**
 * Well-formed commands of every kind with arbitrary fields. `names` narrows
 * log names to a few (so commands find logs that exist) and `waitMs` caps
 * long polls, for use against a live server.
 */
export function anyCommand (options: { names?: string[], maxWaitMs?: number } = {}): fc.Arbitrary<Command> {
  const log = options.names === undefined ? fc.string({ maxLength: 40 }) : fc.constantFrom(...options.names)
  const group = fc.oneof(fc.string({ minLength: 1, maxLength: 60 }), fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b).toString()))
  const waitMs = options.maxWaitMs === undefined ? fc.nat() : fc.nat({ max: options.maxWaitMs })
  return fc.oneof(
    fc.record({ command: fc.constant('create' as const), log, partitions: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ command: fc.constant('publish' as const), log, partition: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a)), reply: fc.constantFrom('ok' as const, 'offset' as const) }),
    fc.record({ command: fc.constantFrom('fetch' as const, 'ack' as const), log, partition: fc.integer({ min: 0, max: 255 }), group: group.filter((g) => Buffer.byteLength(g) <= 255) }),
    fc.record({ command: fc.constant('publish-batch' as const), log, partition: fc.integer({ min: 0, max: 255 }), messages: fc.array(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), { minLength: 1, maxLength: 20 }) }),
    fc.record({ command: fc.constant('fetch-batch' as const), log, partition: fc.integer({ min: 0, max: 255 }), group, offset: fc.option(fc.maxSafeNat(), { nil: null }), maxMessages: fc.nat(), maxBytes: fc.nat(), waitMs }),
    fc.record({ command: fc.constant('commit' as const), log, partition: fc.integer({ min: 0, max: 255 }), group, offset: fc.oneof(fc.maxSafeNat(), fc.nat({ max: 20 })) }),
    fc.constant({ command: 'list-logs' as const }),
    fc.constant({ command: 'version' as const }),
    fc.record({ command: fc.constant('describe' as const), log }),
    fc.constant({ command: 'cluster-info' as const }),
    fc.record({ command: fc.constant('log-placement' as const), log }),
    fc.record({ command: fc.constant('epoch-end' as const), log, partition: fc.integer({ min: 0, max: 255 }), epoch: fc.nat() }),
    fc.record({ command: fc.constant('reassign' as const), log, partition: fc.integer({ min: 0, max: 255 }), replicas: fc.array(fc.nat({ max: 1000 }), { maxLength: 5 }) }),
    fc.record({
      command: fc.constant('replica-fetch' as const),
      replica: fc.nat(),
      waitMs,
      maxBytes: fc.nat(),
      partitions: fc.array(fc.record({ log, partition: fc.integer({ min: 0, max: 255 }), offset: fc.maxSafeNat(), epoch: fc.nat(), groupsVersion: fc.nat() }), { maxLength: 4 })
    }),
    anyProducerCommand(options)
  )
}

/** Commands 22 and 23 with arbitrary fields. */
export function anyProducerCommand (options: { names?: string[] } = {}): fc.Arbitrary<Command> {
  const log = options.names === undefined ? fc.string({ maxLength: 40 }) : fc.constantFrom(...options.names)
  return fc.oneof(
    fc.constant({ command: 'init-producer' as const }),
    fc.record({
      command: fc.constant('idempotent-publish' as const),
      log,
      partition: fc.integer({ min: 0, max: 255 }),
      producerId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      sequence: fc.nat({ max: 2 ** 32 - 1 }),
      messages: fc.array(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), { minLength: 1, maxLength: 20 })
    })
  )
}

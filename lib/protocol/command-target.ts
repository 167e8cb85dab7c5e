import type { Command } from './commands'

/** The partition a command acts on (in a cluster it goes to that partition's leader), or null for one that acts on no single partition. */
export function partitionOf (c: Command): { log: string, partition: number } | null {
  switch (c.command) {
    case 'publish':
    case 'publish-batch':
    case 'idempotent-publish':
    case 'fetch':
    case 'ack':
    case 'commit':
    case 'fetch-batch':
    case 'offset-for-time':
      return { log: c.log, partition: c.partition }
    default:
      return null
  }
}

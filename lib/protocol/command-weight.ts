import type { Command } from './commands'

/**
 * What one message costs in memory beyond its bytes: a Buffer view (about
 * 100 bytes of heap in Node 20) and the object or array slot that holds it.
 * An empty message is not free: a batch of 100,000 of them weighs 12.5 MiB.
 */
export const MESSAGE_WEIGHT = 128

/** The memory a decoded command is counted for until it is answered: its message bytes, plus MESSAGE_WEIGHT per message (or per command). */
export function commandWeight (c: Command): number {
  switch (c.command) {
    case 'publish':
      return c.data.length + MESSAGE_WEIGHT
    case 'publish-batch':
    case 'idempotent-publish': {
      let bytes = 0
      for (const m of c.messages) bytes += m.length
      return bytes + MESSAGE_WEIGHT * c.messages.length
    }
    default:
      return MESSAGE_WEIGHT
  }
}

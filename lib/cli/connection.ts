import { Option, type Command } from 'commander'
import { DEFAULT_ADDRESS } from '../client/address'
import { duration } from './options'
import { Session } from './session'

export const DEFAULT_TIMEOUT_MS = 10_000

/**
 * The global `-a, --address host:port[,host:port...]` (also ROG_ADDRESS) and
 * `--timeout`, checked when a command connects.
 */
export function globalOptions (): Option[] {
  return [
    new Option('-a, --address <host:port>', 'the server to talk to; a comma-separated list is tried in order until one accepts').env('ROG_ADDRESS').default(DEFAULT_ADDRESS),
    new Option('--timeout <seconds>', 'give up when the server does not accept the connection, or answer a request, within this long (250ms also works; long polls wait longer)')
      .argParser(duration).default(DEFAULT_TIMEOUT_MS, '10')
  ]
}

/** Runs `work` with the command line's servers; every connection it made is closed afterwards (requests in flight dropped). */
export async function withSession (command: Command, work: (session: Session) => Promise<void>): Promise<void> {
  const { address, timeout } = command.optsWithGlobals<{ address: string, timeout: number }>()
  const session = new Session({ addresses: address.split(',').map((a) => a.trim()).filter((a) => a !== ''), timeoutMs: timeout })
  try {
    await work(session)
  } finally {
    session.close()
  }
}

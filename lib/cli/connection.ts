import { Option, type Command } from 'commander'
import { DEFAULT_ADDRESS, formatAddress, parseAddressList } from '../client/address'
import { DEFAULT_RETRY_MS } from '../client/cluster-client'
import { duration, integer } from './options'
import { Session } from './session'

export const DEFAULT_TIMEOUT_MS = 10_000

/**
 * The global `-a, --address host:port[,host:port...]` (also ROG_ADDRESS),
 * `--timeout` and `--retry-ms`, checked when a command connects.
 */
export function globalOptions (): Option[] {
  return [
    new Option('-a, --address <host:port>', 'the server to talk to; a comma-separated list (host:port,host:port,...) is tried in order until one answers: in a cluster any live node will do').env('ROG_ADDRESS').default(DEFAULT_ADDRESS),
    new Option('--timeout <seconds>', 'give up when the server does not accept the connection, or answer a request, within this long (250ms also works; long polls wait longer)')
      .argParser(duration).default(DEFAULT_TIMEOUT_MS, '10'),
    new Option('--retry-ms <ms>', 'in a cluster, keep retrying a publish or a fetch that failed because its leader moved, died or stopped answering for this long (milliseconds; 0: no retries)')
      .argParser(integer(0, 2 ** 31 - 1)).default(DEFAULT_RETRY_MS)
  ]
}

/** Runs `work` with the command line's servers; every connection it made is closed afterwards (requests in flight dropped). */
export async function withSession (command: Command, work: (session: Session) => Promise<void>): Promise<void> {
  const { address, timeout, retryMs } = command.optsWithGlobals<{ address: string, timeout: number, retryMs: number }>()
  const session = new Session({ addresses: parseAddressList(address).map(formatAddress), timeoutMs: timeout, retryMs })
  try {
    await work(session)
  } finally {
    session.close()
  }
}

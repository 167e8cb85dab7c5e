import { Option, type Command } from 'commander'
import { DEFAULT_ADDRESS } from '../client/address'
import { RogClient } from '../client/client'

/** The global `-a, --address host:port`, also read from ROG_ADDRESS; checked when a command connects. */
export function addressOption (): Option {
  return new Option('-a, --address <host:port>', 'the server to talk to').env('ROG_ADDRESS').default(DEFAULT_ADDRESS)
}

/** Runs `work` with a connection to the command line's address, closed afterwards whatever happens (requests in flight dropped). */
export async function withClient (command: Command, work: (client: RogClient) => Promise<void>): Promise<void> {
  const { address } = command.optsWithGlobals<{ address: string }>()
  const client = await RogClient.connect(address)
  try {
    await work(client)
  } finally {
    client.destroy()
  }
}

import type { Command } from 'commander'
import { withSession } from './connection'
import { logName } from './log-name'
import { integer } from './options'

interface Flags { logName?: string, partition: number, group: string }

export function ackCommand (program: Command): void {
  program.command('ack')
    .description('move a consumer group past its next message')
    .argument('[log]', 'the log')
    .option('-l, --log-name <log>', 'the log (the original spelling)')
    .option('-p, --partition <n>', 'the partition', integer(0, 254), 0)
    .requiredOption('-g, --group <group>', 'the consumer group')
    .action(async (log: string | undefined, flags: Flags, command: Command) => {
      const name = logName(command, log, flags.logName, '--log-name')
      await withSession(command, async (session) => {
        await (await session.anyNode()).ack(name, flags.partition, flags.group)
      })
    })
}

import type { Command } from 'commander'
import { withClient } from './connection'
import { follow } from './follow'
import { logName } from './log-name'
import { integer } from './options'
import { writeOut } from './stdout'

interface Flags { logName?: string, partition: number, group: string, ack?: boolean, follow?: boolean, max?: number }

export function fetchCommand (program: Command): void {
  program.command('fetch')
    .description('print the group\'s next message (the group does not move unless --ack); with --follow, stream every message from the group\'s committed offset on, one per line')
    .argument('[log]', 'the log')
    .option('--log-name <log>', 'the log (the original spelling)')
    .option('-p, --partition <n>', 'the partition', integer(0, 254), 0)
    .requiredOption('-g, --group <group>', 'the consumer group')
    .option('--ack', 'also move the group past the message once it is printed')
    .option('-f, --follow', 'keep printing messages as they arrive, committing the group\'s offset as they are written, until interrupted')
    .option('--max <n>', 'with --follow: stop after this many messages', integer(1))
    .action(async (log: string | undefined, flags: Flags, command: Command) => {
      const name = logName(command, log, flags.logName, '--log-name')
      if (flags.follow === true && flags.ack === true) command.error('error: --ack does not combine with --follow, which commits as it goes')
      if (flags.max !== undefined && flags.follow !== true) command.error('error: --max needs --follow')
      await withClient(command, async (client) => {
        if (flags.follow === true) {
          await follow(client, { log: name, partition: flags.partition, group: flags.group, max: flags.max })
          return
        }
        const data = await client.fetch(name, flags.partition, flags.group)
        const printed = await writeOut(Buffer.concat([data, NEWLINE]))
        if (printed && flags.ack === true) await client.ack(name, flags.partition, flags.group)
      })
    })
}

const NEWLINE = Buffer.from('\n')

import type { Command } from 'commander'
import { withClient } from './connection'
import { logName } from './log-name'
import { integer } from './options'
import { writeOut } from './stdout'

interface Flags { name?: string, partitions: number }

export function createLogCommand (program: Command): void {
  program.command('create-log')
    .description('create a log')
    .argument('[name]', 'the log\'s name')
    .option('--name <name>', 'the log\'s name (the original spelling)')
    .option('--partitions <n>', 'how many partitions (1-255)', integer(0, 255), 1)
    .action(async (name: string | undefined, flags: Flags, command: Command) => {
      const log = logName(command, name, flags.name, '--name')
      await withClient(command, async (client) => {
        await client.createLog(log, flags.partitions)
        await writeOut(`created log ${log} with ${flags.partitions} partition${flags.partitions === 1 ? '' : 's'}\n`)
      })
    })
}

import type { Command } from 'commander'
import { withClient } from './connection'
import { writeOut } from './stdout'
import { formatTable } from './table'

export function logsCommand (program: Command): void {
  program.command('logs')
    .description('list the logs and their partition counts')
    .action(async (_flags: unknown, command: Command) => {
      await withClient(command, async (client) => {
        const logs = await client.listLogs()
        const rows = logs.map((l) => [l.log, String(l.partitions)])
        await writeOut(formatTable(['LOG', 'PARTITIONS'], ['left', 'right'], rows))
      })
    })
}

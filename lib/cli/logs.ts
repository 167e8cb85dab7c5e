import type { Command } from 'commander'
import { withSession } from './connection'
import { writeOut } from './stdout'
import { formatTable } from './table'

export function logsCommand (program: Command): void {
  program.command('logs')
    .description('list the logs and their partition counts')
    .option('--json', 'print JSON: [{"log": ..., "partitions": ...}, ...]')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withSession(command, async (session) => {
        const logs = await (await session.anyNode()).listLogs()
        if (flags.json === true) {
          await writeOut(JSON.stringify(logs) + '\n')
          return
        }
        const rows = logs.map((l) => [l.log, String(l.partitions)])
        await writeOut(formatTable(['LOG', 'PARTITIONS'], ['left', 'right'], rows))
      })
    })
}

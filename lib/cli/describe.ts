import type { Command } from 'commander'
import { withClient } from './connection'
import { writeOut } from './stdout'
import { formatTable } from './table'

export function describeCommand (program: Command): void {
  program.command('describe')
    .description('show a log\'s partitions (first and next offset) and each consumer group\'s committed offset and lag')
    .argument('<log>', 'the log')
    .action(async (log: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client) => {
        const { partitions } = await client.describe(log)
        const rows: string[][] = []
        for (const p of partitions) {
          const offsets = [String(p.partition), String(p.firstOffset), String(p.nextOffset)]
          if (p.groups.length === 0) rows.push([...offsets, '-', '-', '-'])
          for (const g of p.groups) rows.push([...offsets, g.group, String(g.offset), String(p.nextOffset - g.offset)])
        }
        await writeOut(formatTable(
          ['PARTITION', 'FIRST', 'NEXT', 'GROUP', 'COMMITTED', 'LAG'],
          ['right', 'right', 'right', 'left', 'right', 'right'],
          rows
        ))
      })
    })
}

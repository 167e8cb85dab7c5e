import type { Command } from 'commander'
import { withSession } from './connection'
import { writeOut } from './stdout'
import { formatTable } from './table'

export function describeCommand (program: Command): void {
  program.command('describe')
    .description('show a log\'s partitions (first and next offset) and each consumer group\'s committed offset and lag')
    .argument('<log>', 'the log')
    .option('--json', 'print JSON: {"log", "partitions": [{"partition", "firstOffset", "nextOffset", "groups": [{"group", "offset", "lag"}]}]}')
    .action(async (log: string, flags: { json?: boolean }, command: Command) => {
      await withSession(command, async (session) => {
        const { partitions } = await (await session.client()).describe(log)
        if (flags.json === true) {
          const described = partitions.map((p) => ({ ...p, groups: p.groups.map((g) => ({ ...g, lag: p.nextOffset - g.offset })) }))
          await writeOut(JSON.stringify({ log, partitions: described }) + '\n')
          return
        }
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

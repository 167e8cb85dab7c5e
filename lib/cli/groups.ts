import type { Command } from 'commander'
import type { PartitionInfo } from '../protocol/commands'
import { withSession } from './connection'
import { writeOut } from './stdout'
import { formatTable } from './table'
import { groupStanding } from '../util/group-standing'

export interface GroupLag {
  group: string
  /** Messages the group has still to read, in all partitions (see groupStanding). */
  lag: number
  /** Every partition of the log: the group's committed offset there (0 where it has committed nothing) and its lag. */
  partitions: Array<{ partition: number, offset: number, lag: number }>
}

/** The groups that have committed on any partition of the log, by name. */
export function groupLags (partitions: PartitionInfo[]): GroupLag[] {
  const names = [...new Set(partitions.flatMap((p) => p.groups.map((g) => g.group)))].sort()
  return names.map((group) => {
    const each = partitions.map((p) => {
      const offset = p.groups.find((g) => g.group === group)?.offset ?? 0
      return { partition: p.partition, offset, lag: groupStanding(p.firstOffset, p.nextOffset, offset).lag }
    })
    return { group, lag: each.reduce((sum, p) => sum + p.lag, 0), partitions: each }
  })
}

export function groupsCommand (program: Command): void {
  program.command('groups')
    .description('list the consumer groups of a log with their lag (messages still to read, in all partitions)')
    .argument('<log>', 'the log')
    .option('--json', 'print JSON: [{"group", "lag", "partitions": [{"partition", "offset", "lag"}]}, ...]')
    .action(async (log: string, flags: { json?: boolean }, command: Command) => {
      await withSession(command, async (session) => {
        const groups = groupLags((await (await session.anyNode()).describe(log)).partitions)
        if (flags.json === true) {
          await writeOut(JSON.stringify(groups) + '\n')
          return
        }
        await writeOut(formatTable(['GROUP', 'LAG'], ['left', 'right'], groups.map((g) => [g.group, String(g.lag)])))
      })
    })
}

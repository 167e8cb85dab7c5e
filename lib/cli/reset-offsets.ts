import { Option, type Command } from 'commander'
import { RogError } from '../errors'
import { withSession } from './connection'
import { chosenPartitions } from './streaming'
import { partitionList } from './options'
import { parseFrom, startOffset, type From } from './read'
import { writeOut } from './stdout'
import { formatTable } from './table'

interface Flags { group: string, to: From, partition?: number[] }

export function resetOffsetsCommand (program: Command): void {
  program.command('reset-offsets')
    .description('move a consumer group: its next message in each partition becomes the one at --to')
    .argument('<log>', 'the log')
    .requiredOption('-g, --group <group>', 'the consumer group')
    .addOption(new Option('--to <where>', 'beginning, end, an offset, -N (N before the end), or @TIME (the first message stamped at or after TIME: ms since the epoch or ISO-8601)').argParser(parseFrom).makeOptionMandatory())
    .option('-p, --partition <n>', 'move it in this partition (repeatable, or a list: -p 0,2), not in all of them', partitionList)
    .action(async (log: string, flags: Flags, command: Command) => {
      await withSession(command, async (session) => {
        const { partitions, info } = await chosenPartitions(await session.anyNode(), log, flags.partition)
        const cluster = await session.cluster()
        const moves = await Promise.all(partitions.map(async (partition) => {
          const p = info.partitions[partition]
          return { partition, from: p.groups.find((g) => g.group === flags.group)?.offset ?? 0, to: await startOffset(cluster, log, flags.to, p) }
        }))
        // Checked before moving anything, so that a bad offset moves no partition.
        for (const m of moves) {
          const end = info.partitions[m.partition].nextOffset
          if (m.to > end) throw new RogError('BAD_OFFSET', `Offset ${m.to} is past the end of partition ${m.partition} (${end}); nothing was moved`)
        }
        await Promise.all(moves.map(async (m) => { await cluster.commit(log, m.partition, flags.group, m.to) }))
        await writeOut(formatTable(['PARTITION', 'FROM', 'TO'], ['right', 'right', 'right'], moves.map((m) => [String(m.partition), String(m.from), String(m.to)])))
        for (const m of moves) {
          const first = info.partitions[m.partition].firstOffset
          if (m.to < first) process.stderr.write(`rog: partition ${m.partition}: offset ${m.to} is below the first offset ${first} (retention deleted what lies before it): the group resumes at ${first}\n`)
        }
      })
    })
}

import { InvalidArgumentError, Option, type Command } from 'commander'
import type { PartitionInfo } from '../protocol/commands'
import { withSession } from './connection'
import { chosenPartitions, stream, streamOptions, type StreamFlags } from './streaming'

/** Where a group-less read starts in each partition. */
export type From = { at: 'beginning' | 'end' } | { at: 'offset', offset: number } | { at: 'before-end', count: number }

export function parseFrom (value: string): From {
  if (value === 'beginning' || value === 'end') return { at: value }
  const match = /^(-?)(\d+)$/.exec(value.trim())
  if (match === null) throw new InvalidArgumentError(`expected beginning, end, an offset or -N (N before the end), got "${value}"`)
  return match[1] === '-' ? { at: 'before-end', count: Number(match[2]) } : { at: 'offset', offset: Number(match[2]) }
}

export function startOffset (from: From, p: PartitionInfo): number {
  switch (from.at) {
    case 'beginning': return p.firstOffset
    case 'end': return p.nextOffset
    case 'offset': return from.offset
    case 'before-end': return Math.max(p.firstOffset, p.nextOffset - from.count)
  }
}

interface Flags extends StreamFlags { from: From }

export function readCommand (program: Command): void {
  const command = program.command('read')
    .description('print a log\'s messages without a consumer group (nothing is committed), like kcat -C: every partition from the beginning, then wait for more (-e: stop at the end)')
    .argument('<log>', 'the log')
    .addOption(new Option('--from <where>', 'where to start in each partition: beginning, end, an offset, or -N (the last N messages)').argParser(parseFrom).default({ at: 'beginning' }, 'beginning'))
  streamOptions(command, 'read this partition (repeatable, or a list: -p 0,2), not all of them')
    .action(async (log: string, flags: Flags, command: Command) => {
      await withSession(command, async (session) => {
        const { partitions, info } = await chosenPartitions(await session.client(), log, flags.partition)
        const starts = partitions.map((partition) => ({ partition, from: startOffset(flags.from, info.partitions[partition]) }))
        await stream(session, log, null, starts, flags)
      })
    })
}

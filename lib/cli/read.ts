import { InvalidArgumentError, Option, type Command } from 'commander'
import type { PartitionInfo } from '../protocol/commands'
import type { ClusterClient } from '../client/cluster-client'
import { withSession } from './connection'
import { chosenPartitions, stream, streamOptions, type StreamFlags } from './streaming'

/** Where a group-less read starts in each partition. */
export type From = { at: 'beginning' | 'end' } | { at: 'offset', offset: number } | { at: 'before-end', count: number } | { at: 'time', timestamp: number }

export function parseFrom (value: string): From {
  if (value === 'beginning' || value === 'end') return { at: value }
  if (value.startsWith('@')) return { at: 'time', timestamp: parseTime(value.slice(1)) }
  const match = /^(-?)(\d+)$/.exec(value.trim())
  if (match === null) throw new InvalidArgumentError(`expected beginning, end, an offset, -N (N before the end) or @TIME, got "${value}"`)
  if (!Number.isSafeInteger(Number(match[2]))) throw new InvalidArgumentError(`${match[2]} is past any offset Rog gives out (at most ${Number.MAX_SAFE_INTEGER})`)
  return match[1] === '-' ? { at: 'before-end', count: Number(match[2]) } : { at: 'offset', offset: Number(match[2]) }
}

/** `@` times: milliseconds since the epoch, or an ISO-8601 date and time (UTC unless it says). */
function parseTime (value: string): number {
  if (/^\d+$/.test(value)) return Number(value)
  const ms = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(value) || !value.includes(':') ? value : `${value}Z`) : NaN
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`expected @ and a time: milliseconds since the epoch or ISO-8601 (e.g. @2026-11-25T10:00:00Z), got "@${value}"`)
  return ms
}

/** The offset of partition `p` where `from` points: for a time, the first message stamped at or after it (asked of the partition's leader). */
export async function startOffset (client: ClusterClient, log: string, from: From, p: PartitionInfo): Promise<number> {
  switch (from.at) {
    case 'beginning': return p.firstOffset
    case 'end': return p.nextOffset
    case 'offset': return from.offset
    case 'before-end': return Math.max(p.firstOffset, p.nextOffset - from.count)
    case 'time': return await client.offsetForTime(log, p.partition, from.timestamp)
  }
}

interface Flags extends StreamFlags { from: From }

export function readCommand (program: Command): void {
  const command = program.command('read')
    .description('print a log\'s messages without a consumer group (nothing is committed), like kcat -C: every partition from the beginning, then wait for more (-e: stop at the end)')
    .argument('<log>', 'the log')
    .addOption(new Option('--from <where>', 'where to start in each partition: beginning, end, an offset, -N (the last N messages), or @TIME (the first message stamped at or after TIME: ms since the epoch or ISO-8601)').argParser(parseFrom).default({ at: 'beginning' }, 'beginning'))
  streamOptions(command, 'read this partition (repeatable, or a list: -p 0,2), not all of them')
    .action(async (log: string, flags: Flags, command: Command) => {
      await withSession(command, async (session) => {
        const { partitions, info } = await chosenPartitions(await session.anyNode(), log, flags.partition)
        const cluster = await session.cluster()
        const starts = await Promise.all(partitions.map(async (partition) => ({ partition, from: await startOffset(cluster, log, flags.from, info.partitions[partition]) })))
        await stream(session, log, null, starts, flags)
      })
    })
}

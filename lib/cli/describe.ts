import type { Command } from 'commander'
import type { RogClient } from '../client/client'
import { RogError } from '../errors'
import type { LogDetails, PartitionPlacement } from '../protocol/commands'
import { withSession } from './connection'
import { writeOut } from './stdout'
import { formatTable } from './table'
import { groupStanding } from '../util/group-standing'

/** Command 15 where the server has it; an older server's describe (9) otherwise, without settings and sizes. */
async function details (client: RogClient, log: string): Promise<LogDetails & { sized: boolean }> {
  try {
    return { ...(await client.describeLog(log)), sized: true }
  } catch (err) {
    if (!(err instanceof RogError) || err.code !== 'UNSUPPORTED') throw err
    const { partitions } = await client.describe(log)
    return { log, retentionBytes: null, retentionMs: null, sized: false, partitions: partitions.map((p) => ({ ...p, endOffset: p.nextOffset, bytes: 0 })) }
  }
}

/** Each partition's leader, replicas and ISR when the server is part of a cluster; null from a single node. */
async function placement (client: RogClient, log: string): Promise<Map<number, PartitionPlacement> | null> {
  if (!client.supports(18)) return null
  try {
    return new Map((await client.logPlacement(log)).map((p) => [p.partition, p]))
  } catch (err) {
    if (err instanceof RogError && (err.code === 'UNSUPPORTED' || err.code === 'UNKNOWN_COMMAND')) return null
    throw err
  }
}

export function describeCommand (program: Command): void {
  program.command('describe')
    .description('show a log\'s retention, its partitions (first and next offset, bytes on disk) and each consumer group\'s committed offset, lag, and messages it lost to retention')
    .argument('<log>', 'the log')
    .option('--json', 'print JSON: {"log", "retentionBytes", "retentionMs", "partitions": [{"partition", "firstOffset", "nextOffset", "bytes", "groups": [{"group", "offset", "lag", "lost"}]}]}; in a cluster each partition also has "leader", "replicas", "isr" and "epoch"')
    .action(async (log: string, flags: { json?: boolean }, command: Command) => {
      await withSession(command, async (session) => {
        const client = await session.anyNode()
        const d = await details(client, log)
        // A single node has no placement to give (asking it would count as a failed request in its metrics).
        const placed = d.sized && (await session.cluster()).clustered ? await placement(client, log) : null
        const partitions = d.partitions.map((p) => ({
          partition: p.partition,
          firstOffset: p.firstOffset,
          nextOffset: p.endOffset,
          bytes: p.bytes,
          groups: p.groups.map((g) => ({ ...g, ...groupStanding(p.firstOffset, p.endOffset, g.offset) })),
          ...placementFields(placed?.get(p.partition))
        }))
        if (flags.json === true) {
          await writeOut(JSON.stringify({ log, retentionBytes: d.retentionBytes, retentionMs: d.retentionMs, partitions: d.sized ? partitions : partitions.map(({ bytes, ...p }) => p) }) + '\n')
          return
        }
        const head = d.sized ? `retention: ${d.retentionBytes === null ? 'no size limit' : `${d.retentionBytes} bytes`}, ${d.retentionMs === null ? 'no age limit' : `${d.retentionMs} ms`}\n` : ''
        const rows: string[][] = []
        const cluster = placed === null ? [] : ['LEADER', 'REPLICAS', 'ISR']
        for (const p of partitions) {
          const where = placed === null ? [] : [p.leader === undefined || p.leader < 0 ? 'none' : String(p.leader), p.replicas?.join(',') ?? '-', p.isr?.join(',') ?? '-']
          const offsets = [String(p.partition), ...where, String(p.firstOffset), String(p.nextOffset), ...(d.sized ? [String(p.bytes)] : [])]
          if (p.groups.length === 0) rows.push([...offsets, '-', '-', '-', '-'])
          for (const g of p.groups) rows.push([...offsets, g.group, String(g.offset), String(g.lag), g.lost > 0 ? String(g.lost) : '-'])
        }
        await writeOut(head + formatTable(
          ['PARTITION', ...cluster, 'FIRST', 'NEXT', ...(d.sized ? ['BYTES'] : []), 'GROUP', 'COMMITTED', 'LAG', 'LOST'],
          ['right', ...cluster.map(() => 'left' as const), 'right', 'right', ...(d.sized ? ['right' as const] : []), 'left', 'right', 'right', 'right'],
          rows
        ))
      })
    })
}

function placementFields (p: PartitionPlacement | undefined): { leader?: number, replicas?: number[], isr?: number[], epoch?: number } {
  return p === undefined ? {} : { leader: p.leader, replicas: p.replicas, isr: p.isr, epoch: p.epoch }
}

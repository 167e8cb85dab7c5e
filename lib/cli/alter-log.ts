import { InvalidArgumentError, type Command } from 'commander'
import { withSession } from './connection'
import { integer } from './options'
import { writeOut } from './stdout'

interface Flags { partitions?: number, retentionBytes?: Limit, retentionMs?: Limit }

type Limit = number | typeof DEFAULT

/** What `default` parses to: commander takes an option parser's null for no value at all. */
const DEFAULT = 'default'

/** A limit, or `default` for the server's. */
function limit (value: string): Limit {
  if (value === DEFAULT) return DEFAULT
  try {
    return integer(0)(value)
  } catch {
    throw new InvalidArgumentError(`expected a whole number of 0 or more, or "default", got "${value}"`)
  }
}

export function alterLogCommand (program: Command): void {
  program.command('alter-log')
    .description('change a live log: add partitions (never removes any), or change its retention')
    .argument('<name>', 'the log')
    .option('-p, --partitions <n>', 'the new number of partitions (more than today, at most 255)', integer(1, 255))
    .option('--retention-bytes <n>', 'size limit per partition, or "default" for the server\'s', limit)
    .option('--retention-ms <ms>', 'age limit, or "default" for the server\'s', limit)
    .action(async (log: string, flags: Flags, command: Command) => {
      if (flags.partitions === undefined && flags.retentionBytes === undefined && flags.retentionMs === undefined) {
        command.error('rog: nothing to change: give --partitions, --retention-bytes or --retention-ms')
      }
      await withSession(command, async (session) => {
        const server = (value: Limit | undefined): number | null | undefined => value === DEFAULT ? null : value
        await (await session.anyNode()).alterLog(log, { partitions: flags.partitions, retentionBytes: server(flags.retentionBytes), retentionMs: server(flags.retentionMs) })
        await writeOut(`altered log ${log}\n`)
      })
    })
}

export function deleteLogCommand (program: Command): void {
  program.command('delete-log')
    .description('delete a log and all its data; waiting consumers are answered at once')
    .argument('<name>', 'the log')
    .action(async (log: string, _flags: unknown, command: Command) => {
      await withSession(command, async (session) => {
        await (await session.anyNode()).deleteLog(log)
        await writeOut(`deleted log ${log}\n`)
      })
    })
}

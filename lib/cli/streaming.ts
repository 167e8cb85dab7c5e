import { Option, type Command } from 'commander'
import { RogError } from '../errors'
import type { LogDescription, RogClient } from '../client/client'
import { consume } from './consume'
import { delimiter, ESCAPES_HELP, integer, partitionList } from './options'
import { compileFormat, renderer, type Format } from './render'
import type { Session } from './session'

/** The flags `fetch --follow` and `read` share. */
export interface StreamFlags {
  partition?: number[]
  exitAtEnd?: boolean
  max?: number
  format?: Format
  json?: boolean
  delimiter?: Buffer
}

/** Adds the partition choice, stop conditions and output options of a streaming read. */
export function streamOptions (command: Command, partitionHelp: string): Command {
  return command
    .option('-p, --partition <n>', partitionHelp, partitionList)
    .option('-e, --exit-at-end', 'stop once every partition read is read to its end')
    .option('--max <n>', 'stop after this many messages', integer(1))
    .addOption(new Option('--format <format>', `print each message as FORMAT: %p partition, %o offset, %T timestamp (ms since the epoch), %s message, %S its size, %t log, %% a percent sign; escapes ${ESCAPES_HELP}`).argParser(compileFormat).conflicts('json'))
    .option('--json', 'print one JSON object a line: log, partition, offset, timestamp, message (as UTF-8, or base64 when it is not valid UTF-8: see "encoding")')
    .addOption(new Option('-D, --delimiter <delim>', `print this after each message instead of a newline: escapes ${ESCAPES_HELP} allowed`).argParser(delimiter).conflicts(['json', 'format']))
}

/** The partitions of `log` a read covers: those given, checked against the log, or all of them. */
export async function chosenPartitions (client: RogClient, log: string, given: number[] | undefined): Promise<{ partitions: number[], info: LogDescription }> {
  const info = await client.describe(log)
  const count = info.partitions.length
  const partitions = given ?? info.partitions.map((p) => p.partition)
  for (const p of partitions) {
    if (p >= count) throw RogError.badPartition(p, log, count)
  }
  return { partitions, info }
}

/** Streams the chosen partitions to stdout, each from its start (null: the group's committed offset). */
export async function stream (session: Session, log: string, group: string | null, starts: Array<{ partition: number, from: number | null }>, flags: StreamFlags): Promise<void> {
  await consume(session, {
    log,
    starts,
    group,
    follow: flags.exitAtEnd !== true,
    max: flags.max,
    render: renderer({ log, format: flags.format, json: flags.json, delimiter: flags.delimiter }),
    timestamps: (flags.json === true || flags.format?.includes('T') === true) && await serverSendsTimestamps(session)
  })
}

/** Timestamps come with detailed batch fetches, which servers that know command 10 (version) have. */
async function serverSendsTimestamps (session: Session): Promise<boolean> {
  try {
    await (await session.anyNode()).version()
    return true
  } catch (err) {
    if (err instanceof RogError && err.code === 'UNSUPPORTED') return false
    throw err
  }
}

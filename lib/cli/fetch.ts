import type { Command } from 'commander'
import { withSession } from './connection'
import { logName } from './log-name'
import { chosenPartitions, stream, streamOptions, type StreamFlags } from './streaming'
import { writeOut } from './stdout'

interface Flags extends StreamFlags { logName?: string, group: string, ack?: boolean, follow?: boolean }

export function fetchCommand (program: Command): void {
  const command = program.command('fetch')
    .description('print the group\'s next message (the group does not move unless --ack); with --follow or -e, stream every message from the group\'s committed offsets on, one per line, committing as they are written')
    .argument('[log]', 'the log')
    .option('-l, --log-name <log>', 'the log (the original spelling)')
    .requiredOption('-g, --group <group>', 'the consumer group')
    .option('--ack', 'also move the group past the message once it is printed')
    .option('-f, --follow', 'keep printing messages as they arrive, committing the group\'s offsets as they are written, until interrupted')
  streamOptions(command, 'the partition (default 0); with --follow or -e: read this one (repeatable, or a list: -p 0,2), not all of them')
    .action(async (log: string | undefined, flags: Flags, command: Command) => {
      const name = logName(command, log, flags.logName, '--log-name')
      const streaming = flags.follow === true || flags.exitAtEnd === true
      if (streaming && flags.ack === true) command.error('error: --ack does not combine with --follow or -e, which commit as they go')
      if (!streaming) {
        for (const [option, set] of [['--max', flags.max], ['--format', flags.format], ['--json', flags.json], ['--delimiter', flags.delimiter]] as const) {
          if (set !== undefined) command.error(`error: ${option} needs --follow or -e`)
        }
        if ((flags.partition?.length ?? 0) > 1) command.error('error: give one partition (-p) to fetch from, or stream several with --follow or -e')
      }
      await withSession(command, async (session) => {
        if (streaming) {
          const { partitions } = await chosenPartitions(await session.anyNode(), name, flags.partition)
          return await stream(session, name, flags.group, partitions.map((partition) => ({ partition, from: null })), flags)
        }
        const partition = flags.partition?.[0] ?? 0
        const data = await (await session.anyNode()).fetch(name, partition, flags.group)
        const printed = await writeOut(Buffer.concat([data, NEWLINE]))
        // The original server answers one request per connection: the ack goes on one of its own.
        if (printed && flags.ack === true) await session.alone(async (c) => { await c.ack(name, partition, flags.group) })
      })
    })
}

const NEWLINE = Buffer.from('\n')

import type { Command } from 'commander'
import { withSession } from './connection'
import { writeOut } from './stdout'

export function deleteGroupCommand (program: Command): void {
  program.command('delete-group')
    .description('delete a consumer group from every partition of a log: it no longer shows, and reads from the beginning if used again')
    .argument('<log>', 'the log')
    .requiredOption('-g, --group <group>', 'the consumer group')
    .action(async (log: string, flags: { group: string }, command: Command) => {
      await withSession(command, async (session) => {
        await (await session.anyNode()).deleteGroup(log, flags.group)
        await writeOut(`deleted group ${flags.group} of log ${log}\n`)
      })
    })
}

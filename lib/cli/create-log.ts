import type { Command } from 'commander'
import { withSession } from './connection'
import { logName } from './log-name'
import { integer } from './options'
import { writeOut } from './stdout'

interface Flags { name?: string, partitions: number, retentionBytes?: number, retentionMs?: number, replicationFactor?: number }

export function createLogCommand (program: Command): void {
  program.command('create-log')
    .description('create a log')
    .argument('[name]', 'the log\'s name')
    .option('-n, --name <name>', 'the log\'s name (the original spelling)')
    .option('-p, --partitions <n>', 'how many partitions (1-255)', integer(1, 255), 1)
    .option('--retention-bytes <n>', 'delete the oldest segments of a partition once it holds more than this (default: the server\'s)', integer(0))
    .option('--retention-ms <ms>', 'delete segments whose newest message is older than this (default: the server\'s)', integer(0))
    .option('--replication-factor <n>', 'in a cluster: copies of each partition, on that many nodes (default: the cluster\'s default)', integer(1, 255))
    .action(async (name: string | undefined, flags: Flags, command: Command) => {
      const log = logName(command, name, flags.name, '--name')
      await withSession(command, async (session) => {
        await (await session.anyNode()).createLog(log, flags.partitions, { retentionBytes: flags.retentionBytes, retentionMs: flags.retentionMs, replicationFactor: flags.replicationFactor })
        await writeOut(`created log ${log} with ${flags.partitions} partition${flags.partitions === 1 ? '' : 's'}\n`)
      })
    })
}

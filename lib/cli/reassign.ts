import { InvalidArgumentError, Option, type Command } from 'commander'
import { RogError } from '../errors'
import { withSession } from './connection'
import { duration, integer } from './options'
import { writeOut } from './stdout'

function nodeList (value: string): number[] {
  const ids = value.split(',').map((s) => integer(0, 1_000_000)(s))
  if (new Set(ids).size !== ids.length) throw new InvalidArgumentError(`a node id is repeated in "${value}"`)
  return ids
}

export function reassignCommand (program: Command): void {
  program.command('reassign')
    .description('move a partition\'s replicas to the given nodes (a cluster): new replicas copy the log, then the old ones leave; waits until the new set is in sync')
    .argument('<log>', 'the log')
    .requiredOption('-p, --partition <n>', 'the partition', integer(0, 254))
    .requiredOption('--replicas <ids>', 'the node ids to hold the partition, comma-separated; the first is the preferred leader', nodeList)
    .addOption(new Option('--wait <seconds>', 'give up waiting for the move after this long (it carries on in the cluster)').argParser(duration).default(300_000, '300'))
    .action(async (log: string, flags: { partition: number, replicas: number[], wait: number }, command: Command) => {
      await withSession(command, async (session) => {
        const client = await session.anyNode()
        await client.request({ command: 'reassign', log, partition: flags.partition, replicas: flags.replicas })
        await writeOut(`moving partition ${flags.partition} of log ${log} to nodes ${flags.replicas.join(',')}\n`)
        const deadline = Date.now() + flags.wait
        for (;;) {
          const p = (await client.logPlacement(log))[flags.partition]
          const done = p !== undefined && p.replicas.length === flags.replicas.length && flags.replicas.every((id) => p.replicas.includes(id) && p.isr.includes(id))
          if (done) {
            await writeOut(`done: replicas ${p.replicas.join(',')}, in sync ${p.isr.join(',')}, leader ${p.leader} (epoch ${p.epoch})\n`)
            return
          }
          if (Date.now() > deadline) throw new RogError('TIMEOUT', `The move is not finished after ${flags.wait} ms (replicas ${p?.replicas.join(',') ?? '?'}, in sync ${p?.isr.join(',') ?? '?'}); it carries on in the cluster`)
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
      })
    })
}

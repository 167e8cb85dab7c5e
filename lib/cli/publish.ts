import { once } from 'node:events'
import type { Readable } from 'node:stream'
import type { Command } from 'commander'
import split2 from 'split2'
import { RogError } from '../errors'
import type { RogClient } from '../client/client'
import { withClient } from './connection'
import { logName } from './log-name'
import { integer } from './options'
import { Progress, rateLine } from './progress'
import { writeOut } from './stdout'

interface Flags { logName?: string, data?: string, partition: number }

export function publishCommand (program: Command): void {
  program.command('publish')
    .description('publish DATA as one message (prints its offset), or each line of standard input as a message (DATA "-" or none)')
    .argument('[log]', 'the log')
    .argument('[data]', 'the message; "-" or nothing: the lines of standard input')
    .option('--log-name <log>', 'the log (the original spelling)')
    .option('--data <data>', 'the message (the original spelling)')
    .option('-p, --partition <n>', 'the partition', integer(0, 254), 0)
    .action(async (first: string | undefined, second: string | undefined, flags: Flags, command: Command) => {
      // With --log-name, a lone argument is the data.
      const args = [first, second].filter((a) => a !== undefined)
      const log = logName(command, flags.logName === undefined ? args.shift() : undefined, flags.logName, '--log-name')
      const data = flags.data ?? args.shift()
      if (args.length > 0) command.error(`error: unexpected argument "${args[0]}"`)
      await withClient(command, async (client) => {
        if (data === undefined || data === '-') {
          await publishLines(client, log, flags.partition, process.stdin, process.stderr)
        } else {
          const offset = await client.publish(log, flags.partition, data)
          await writeOut(`${offset}\n`)
        }
      })
    })
}

/**
 * Each line of `input` is one message, sent in publish-batch requests with a
 * bounded window, so input of any size streams through in constant memory.
 * Resolves only when every line read was acknowledged.
 */
export async function publishLines (client: RogClient, log: string, partition: number, input: Readable, stderr: NodeJS.WriteStream): Promise<void> {
  const producer = client.producer({ log, partition })
  const lines = split2()
  const progress = new Progress(stderr, 'published', () => producer.acknowledged)
  let interrupted = false
  const stopReading = (): void => {
    input.unpipe(lines)
    lines.unpipe(producer)
    input.destroy()
  }
  const interrupt = (): void => {
    interrupted = true
    stopReading()
    producer.end()
  }
  process.once('SIGINT', interrupt)
  input.on('error', (err) => producer.destroy(err))
  lines.on('error', (err) => producer.destroy(err))
  lines.pipe(producer)
  input.pipe(lines)
  try {
    await once(producer, 'finish')
  } catch (err) {
    stopReading()
    const message = `${(err as Error).message} (${producer.acknowledged} of ${producer.taken} messages acknowledged)`
    throw err instanceof RogError ? new RogError(err.code, message, { cause: err }) : new Error(message, { cause: err })
  } finally {
    process.removeListener('SIGINT', interrupt)
    progress.stop()
  }
  stderr.write(`published ${rateLine(producer.acknowledged, progress.seconds)}\n`)
  if (interrupted) {
    stderr.write('rog: interrupted: the rest of the input was not published\n')
    process.exitCode = 130
  }
}

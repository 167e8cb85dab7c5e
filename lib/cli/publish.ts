import * as fs from 'node:fs'
import { once } from 'node:events'
import type { Readable, Transform, Writable } from 'node:stream'
import type { Command } from 'commander'
import split2 from 'split2'
import { RogError } from '../errors'
import { fixedPartition, keyPartition, roundRobin, type Partitioner } from '../client/partitioner'
import { withSession } from './connection'
import { logName } from './log-name'
import { delimiter, ESCAPES_HELP, integer } from './options'
import { Progress, rateLine } from './progress'
import { logPartitions, publishOne, ReferencePublisher } from './reference'
import type { Session } from './session'
import { SplitBytes } from './split-bytes'
import { writeOut } from './stdout'

interface Flags { logName?: string, data?: string, partition?: number, key?: string, file?: string, binary?: boolean, delimiter?: Buffer }

/** The most any server takes in one message (its --max-message-bytes at most). */
const MAX_FILE_BYTES = 256 * 1024 * 1024

export function publishCommand (program: Command): void {
  program.command('publish')
    .description('publish DATA (or a file) as one message and print its partition and offset, or each line of standard input as a message (DATA "-" or none); messages go to the partitions in turn unless -p or --key says which')
    .argument('[log]', 'the log')
    .argument('[data]', 'the message; "-" or nothing: standard input, a message per line')
    .option('-l, --log-name <log>', 'the log (the original spelling)')
    .option('-d, --data <data>', 'the message (the original spelling; "-" is the message "-")')
    .option('-p, --partition <n>', 'the partition (default: each message to the next partition in turn)', integer(0, 254))
    .option('-k, --key <key>', 'the partition is the key\'s CRC-32 modulo the partition count (the key is not stored)')
    .option('--file <path>', 'publish the whole file as one message')
    .option('--binary', 'standard input is bytes: split on newline bytes (or -D), nothing decoded or dropped')
    .option('-D, --delimiter <delim>', `split standard input on this instead of newlines: escapes ${ESCAPES_HELP} allowed (implies --binary)`, delimiter)
    .action(async (first: string | undefined, second: string | undefined, flags: Flags, command: Command) => {
      // With --log-name, a lone argument is the data.
      const args = [first, second].filter((a) => a !== undefined)
      const log = logName(command, flags.logName === undefined ? args.shift() : undefined, flags.logName, '--log-name')
      const positional = args.shift()
      if (args.length > 0) command.error(`error: unexpected argument "${args[0]}"`)
      if (flags.data !== undefined && positional !== undefined) command.error('error: the message is given twice (DATA and --data)')
      const data = flags.data ?? (positional === '-' ? undefined : positional)
      if (flags.file !== undefined && data !== undefined) command.error('error: --file does not combine with a message given as DATA or --data')
      const fromStdin = data === undefined && flags.file === undefined
      if (!fromStdin && (flags.binary === true || flags.delimiter !== undefined)) command.error('error: --binary and --delimiter apply to standard input')
      if (flags.key !== undefined && flags.partition !== undefined) command.error('error: -p and --key both choose the partition: give one')
      await withSession(command, async (session) => {
        if (fromStdin) {
          // A terminal: someone who left out the message would otherwise see nothing happen.
          if (process.stdin.isTTY === true) process.stderr.write('rog: reading messages from the terminal, one a line; end with Ctrl-D (or give the message after the log name)\n')
          return await publishInput(session, log, flags, process.stdin, process.stderr)
        }
        const message = flags.file !== undefined ? readMessageFile(flags.file) : Buffer.from(data as string)
        const partition = flags.partition ?? partitioner((await logPartitions(session, log)).count, flags.key)()
        const offset = await publishOne(session, log, partition, message)
        await writeOut(`partition ${partition} offset ${offset ?? '- (the server does not say)'}\n`)
      })
    })
}

function readMessageFile (file: string): Buffer {
  try {
    const size = fs.statSync(file).size
    if (size > MAX_FILE_BYTES) throw new RogError('MESSAGE_TOO_LARGE', `${file} is ${size} bytes; a message is at most ${MAX_FILE_BYTES} bytes`)
    return fs.readFileSync(file)
  } catch (err) {
    if (err instanceof RogError) throw err
    throw new Error(`cannot read ${file}: ${(err as Error).message}`)
  }
}

/** --key's partition, else each message to the next partition, from a random one on (so that single publishes spread too). */
function partitioner (count: number, key: string | undefined): Partitioner {
  if (key !== undefined) return fixedPartition(keyPartition(key, count))
  return roundRobin(count, Math.floor(Math.random() * count))
}

/** A Writable of messages that counts what it took and what the server confirmed. */
type Sink = Writable & { readonly taken: number, readonly acknowledged: number }

/**
 * Each line (or delimited piece) of `input` is one message, published in
 * batches with a bounded window, so input of any size streams through in
 * constant memory: to each partition's leader, as an idempotent producer
 * whose batches are retried across a failover (--retry-ms) and stored once,
 * in order. On an original Rog server, each goes with command 1 on a
 * connection of its own, in turn (slower). Resolves only when every message
 * read was acknowledged.
 */
export async function publishInput (session: Session, log: string, flags: Flags, input: Readable, stderr: NodeJS.WriteStream): Promise<void> {
  const { count, original } = await logPartitions(session, log)
  if (flags.partition !== undefined && flags.partition >= count) throw RogError.badPartition(flags.partition, log, count)
  const choose = flags.partition !== undefined ? fixedPartition(flags.partition) : partitioner(count, flags.key)
  let sink: Sink
  if (original) {
    stderr.write(`rog: ${session.address} is an original Rog server: each message goes on a connection of its own (slower)\n`)
    sink = new ReferencePublisher(session, log, choose)
  } else if (flags.partition !== undefined || flags.key !== undefined || count === 1) {
    sink = (await session.cluster()).producer({ log, partition: choose() })
  } else {
    sink = (await session.cluster()).partitionedProducer({ log, partitioner: choose })
  }
  const split: Transform = flags.binary === true || flags.delimiter !== undefined ? new SplitBytes(flags.delimiter ?? NEWLINE) : split2()
  await pump(input, split, sink, stderr)
}

const NEWLINE = Buffer.from('\n')

async function pump (input: Readable, split: Transform, sink: Sink, stderr: NodeJS.WriteStream): Promise<void> {
  const progress = new Progress(stderr, 'published', () => sink.acknowledged)
  let interrupted = false
  const stopReading = (): void => {
    input.unpipe(split)
    split.unpipe(sink)
    input.destroy()
  }
  const interrupt = (): void => {
    interrupted = true
    stopReading()
    sink.end()
  }
  process.once('SIGINT', interrupt)
  input.on('error', (err) => sink.destroy(err))
  split.on('error', (err) => sink.destroy(err))
  split.pipe(sink)
  input.pipe(split)
  try {
    await once(sink, 'finish')
  } catch (err) {
    stopReading()
    const message = `${(err as Error).message} (${sink.acknowledged} of ${sink.taken} messages acknowledged)`
    throw err instanceof RogError ? new RogError(err.code, message, { cause: err }) : new Error(message, { cause: err })
  } finally {
    process.removeListener('SIGINT', interrupt)
    progress.stop()
  }
  stderr.write(`published ${rateLine(sink.acknowledged, progress.seconds)}\n`)
  if (interrupted) {
    stderr.write('rog: interrupted: the rest of the input was not published\n')
    process.exitCode = 130
  }
}

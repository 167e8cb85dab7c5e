import type { Writable } from 'node:stream'
import type { Consumer } from '../client/consumer'
import { OutputCommits } from './output-commits'
import type { Render } from './render'
import type { Session } from './session'
import { isPipe } from './stdout'

export interface ConsumeOptions {
  log: string
  /** The partitions to read, each from an offset, or (null) from the group's committed offset. */
  starts: Array<{ partition: number, from: number | null }>
  /** The group whose offsets are committed as the output is delivered; null: commit nothing. */
  group: string | null
  /** Wait for more at the end of the partitions; false: stop once each is read to its end. */
  follow: boolean
  /** Stop after this many messages in all. */
  max?: number
  render: Render
  /** Fetch each message's timestamp too (for %T and --json). */
  timestamps?: boolean
}

/** How far commits trail the output when stdout is a pipe or socket (see OutputCommits). */
export const PIPE_TRAIL_BYTES = 256 * 1024
const FETCH_MESSAGES = 10_000
const FETCH_BYTES = 1024 * 1024
const WAIT_MS = 30_000
/** A paused leader is noticed when a request waits past --timeout, a long poll's wait on top: shorter polls in a cluster. */
const CLUSTER_WAIT_MS = 5000
/** A batch fetch names a group even when it reads from a given offset; a group-less read commits nothing to it. */
const READ_GROUP = 'rog read'

type Stop = 'signal' | 'epipe' | 'error' | 'max'

const noop = (): void => {}

/**
 * Streams partitions of a log to `out`, a whole fetched batch per write, the
 * partitions interleaved as their batches arrive (each in order). With a
 * group, offsets are committed only for what has been written
 * (OutputCommits), at-least-once. Ends after `max` messages (committing all
 * written), once every partition is read to its end unless following, or
 * cleanly on SIGINT/SIGTERM or when the reader of `out` goes away
 * (committing what is known delivered).
 *
 * Each partition is fetched from its leader on a connection of its own
 * (through the session's cluster client; a single node is its own leader),
 * so long polls hold up nothing else; commits go on the shared connections,
 * never behind a long poll. After a failover each partition goes on from the
 * offset after the last message written, at its new leader.
 */
export async function consume (session: Session, options: ConsumeOptions, out: Writable & { fd?: number } = process.stdout): Promise<void> {
  const cluster = await session.cluster()
  const consumers: Consumer[] = options.starts.map((s) => cluster.consumer({
    log: options.log,
    partition: s.partition,
    group: options.group ?? READ_GROUP,
    from: s.from ?? undefined,
    follow: options.follow,
    limit: options.starts.length === 1 ? options.max : undefined,
    maxMessages: FETCH_MESSAGES,
    maxBytes: FETCH_BYTES,
    waitMs: cluster.clustered ? CLUSTER_WAIT_MS : WAIT_MS,
    autoCommit: false,
    timestamps: options.timestamps
  }))

  const pendingCommits = new Set<Promise<void>>()
  let commitError: unknown = null
  const group = options.group
  const commits = group === null
    ? null
    : new OutputCommits(out.fd !== undefined && isPipe(out.fd) ? PIPE_TRAIL_BYTES : 0, (partition, offset) => {
      const done: Promise<void> = cluster.commit(options.log, partition, group, offset).catch((err: unknown) => { commitError ??= err })
        .finally(() => pendingCommits.delete(done))
      pendingCommits.add(done)
    })

  let remaining = options.max ?? Infinity
  let writing = 0
  let stopped: Stop | null = null
  let failure: unknown = null
  let writeError: Error | null = null
  const waiters = new Set<() => void>()
  const wake = (): void => {
    const all = [...waiters]
    waiters.clear()
    for (const w of all) w()
  }
  const until = async (condition: () => boolean): Promise<void> => {
    while (!condition()) await new Promise<void>((resolve) => waiters.add(resolve))
  }
  const stop = (why: Stop): void => {
    stopped ??= why
    for (const c of consumers) c.close()
    wake()
  }
  const onSignal = (): void => {
    if (stopped !== null) process.exit(130)
    stop('signal')
  }
  const onError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') writeError ??= err
    stop(err.code === 'EPIPE' ? 'epipe' : 'error')
  }

  const read = async (consumer: Consumer): Promise<void> => {
    for await (const batch of consumer.batches()) {
      if (stopped !== null) break
      let messages = batch.messages
      let nextOffset = batch.nextOffset
      if (messages.length >= remaining) {
        messages = messages.slice(0, remaining)
        nextOffset = messages[messages.length - 1].offset + 1
      }
      remaining -= messages.length
      const chunk = options.render(consumer.partition, messages)
      writing++
      const flowing = out.write(chunk, (err) => {
        writing--
        if (err === null || err === undefined) commits?.delivered(consumer.partition, nextOffset, chunk.length)
        wake()
      })
      if (remaining === 0) return stop('max')
      if (!flowing) await until(() => stopped !== null || !out.writableNeedDrain)
      // At the end of the partition the next fetch waits for a publish: let this batch's commit go first.
      if (commits !== null && nextOffset >= batch.endOffset) await until(() => stopped !== null || writing === 0)
      if (stopped !== null) break
    }
  }

  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  out.on('error', onError)
  out.on('drain', wake)
  try {
    await Promise.all(consumers.map(async (c) => await read(c).catch((err: unknown) => {
      failure ??= err
      stop('error')
    })))
    await until(() => writing === 0)
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    out.removeListener('drain', wake)
  }
  if (stopped === null || stopped === 'max') commits?.complete()
  while (pendingCommits.size > 0) await Promise.all(pendingCommits).catch(noop)
  if (writeError !== null) throw writeError
  if (failure !== null) throw failure
  if (commitError !== null) throw commitError
}

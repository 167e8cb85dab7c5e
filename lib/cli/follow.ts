import type { Writable } from 'node:stream'
import type { RogClient } from '../client/client'
import type { FetchedMessage } from '../protocol/commands'
import { OutputCommits } from './output-commits'
import { isPipe } from './stdout'

export interface FollowOptions {
  log: string
  partition: number
  group: string
  /** Stop after this many messages. */
  max?: number
}

/** How far commits trail the output when stdout is a pipe or socket (see OutputCommits). */
export const PIPE_TRAIL_BYTES = 256 * 1024
const FETCH_MESSAGES = 10_000
const FETCH_BYTES = 1024 * 1024
const WAIT_MS = 30_000

type Stop = 'signal' | 'epipe' | 'error'

/**
 * Streams the partition from the group's committed offset to `out`, one
 * message per line, a whole fetched batch per write. Offsets are committed
 * only for what has been written (OutputCommits), at-least-once. Ends after
 * `max` messages (committing all written), or cleanly on SIGINT/SIGTERM or
 * when the reader of `out` goes away (committing what is known delivered).
 */
export async function follow (client: RogClient, options: FollowOptions, out: Writable & { fd?: number } = process.stdout): Promise<void> {
  const consumer = client.consumer({
    log: options.log,
    partition: options.partition,
    group: options.group,
    limit: options.max,
    maxMessages: FETCH_MESSAGES,
    maxBytes: FETCH_BYTES,
    waitMs: WAIT_MS,
    autoCommit: false
  })
  const commits = new OutputCommits(out.fd !== undefined && isPipe(out.fd) ? PIPE_TRAIL_BYTES : 0, (offset) => {
    consumer.commit(offset).catch(() => {})
  })

  let writing = 0
  let stopped: Stop | null = null
  let writeError: Error | null = null
  let waiter: (() => void) | null = null
  const wake = (): void => {
    const w = waiter
    waiter = null
    w?.()
  }
  const until = async (condition: () => boolean): Promise<void> => {
    while (!condition()) await new Promise<void>((resolve) => { waiter = resolve })
  }
  const stop = (why: Stop): void => {
    stopped ??= why
    consumer.close()
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
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  out.on('error', onError)
  out.on('drain', wake)
  try {
    for await (const batch of consumer.batches()) {
      const chunk = lines(batch.messages)
      const nextOffset = batch.nextOffset
      writing++
      const flowing = out.write(chunk, (err) => {
        writing--
        if (err === null || err === undefined) commits.delivered(nextOffset, chunk.length)
        wake()
      })
      if (!flowing) await until(() => stopped !== null || !out.writableNeedDrain)
      // At the end of the partition the next fetch waits for a publish: let this batch's commit go first.
      if (nextOffset >= batch.endOffset) await until(() => stopped !== null || writing === 0)
      if (stopped !== null) break
    }
    await until(() => writing === 0)
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    out.removeListener('drain', wake)
  }
  if (stopped === null) commits.complete()
  await consumer.flushCommits()
  if (writeError !== null) throw writeError
}

/** The messages, each followed by a newline, in one buffer. */
function lines (messages: FetchedMessage[]): Buffer {
  let size = messages.length
  for (const m of messages) size += m.data.length
  const buf = Buffer.allocUnsafe(size)
  let at = 0
  for (const m of messages) {
    at += m.data.copy(buf, at)
    buf[at++] = 0x0a
  }
  return buf
}

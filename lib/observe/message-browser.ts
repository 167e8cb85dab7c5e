import { RogError } from '../errors'
import type { FetchedMessage, Response } from '../protocol/commands'
import type { CommandSession } from './command-session'

/** Most messages scanned (and bytes read) by one filtered page: the filter's scan budget. */
export const SCAN_MESSAGES = 20_000
export const SCAN_BYTES = 32 * 1024 * 1024
export const MAX_PAGE = 200
/** Bytes of each message a page carries; the rest is left out (the export has it whole). */
export const PREVIEW_BYTES = 64 * 1024
const READ_BYTES = 1024 * 1024
/** The group name fetches of the console carry: they read at explicit offsets and commit nothing. */
const BROWSER_GROUP = 'rog-console'

export interface MessageView {
  offset: number
  timestamp: number | null
  size: number
  /** Base64 of the message (its first PREVIEW_BYTES when `truncated`). */
  data: string
  truncated: boolean
}

export interface Page {
  firstOffset: number
  endOffset: number
  /** Where the page's scan began (the partition's first offset when asked for less). */
  startOffset: number
  messages: MessageView[]
  /** Where the next page begins. */
  nextOffset: number
  scanned: number
  /** The scan budget ran out before the page filled: `nextOffset` continues the scan. */
  budgetExhausted: boolean
}

export interface Batch { messages: FetchedMessage[], firstOffset: number, endOffset: number, startOffset: number }

/** One fetch-batch at an explicit offset through the session: the path a TCP client's read takes. */
export async function readBatch (session: CommandSession, log: string, partition: number, offset: number, maxMessages: number, waitMs = 0): Promise<Batch> {
  const r = await session.run({ command: 'fetch-batch', log, partition, group: BROWSER_GROUP, offset, maxMessages, maxBytes: READ_BYTES, waitMs, detailed: true })
  if (r.response !== 'messages') throw errorOf(r)
  return { messages: r.messages, firstOffset: r.detail?.firstOffset ?? 0, endOffset: r.endOffset, startOffset: r.detail?.startOffset ?? offset }
}

/** A page of up to `limit` messages from `offset` on, only those holding `filter` (bytes) when given, scanning within the budget. */
export async function browse (session: CommandSession, log: string, partition: number, offset: number, limit: number, filter: Buffer | null): Promise<Page> {
  const out: MessageView[] = []
  let at = offset
  let scanned = 0
  let scannedBytes = 0
  let first = 0
  let end = 0
  let start: number | null = null
  for (;;) {
    const batch = await readBatch(session, log, partition, at, filter === null ? limit - out.length : 1000)
    first = batch.firstOffset
    end = batch.endOffset
    start ??= batch.startOffset
    at = Math.max(at, batch.startOffset)
    for (const m of batch.messages) {
      scanned++
      scannedBytes += m.data.length
      at = m.offset + 1
      if (filter === null || m.data.includes(filter)) out.push(view(m))
      if (out.length >= limit || scanned >= SCAN_MESSAGES || scannedBytes >= SCAN_BYTES) break
    }
    if (batch.messages.length === 0 || out.length >= limit || scanned >= SCAN_MESSAGES || scannedBytes >= SCAN_BYTES || at >= end) break
  }
  return { firstOffset: first, endOffset: end, startOffset: start ?? offset, messages: out, nextOffset: at, scanned, budgetExhausted: out.length < limit && at < end }
}

export function view (m: FetchedMessage): MessageView {
  const truncated = m.data.length > PREVIEW_BYTES
  return { offset: m.offset, timestamp: m.timestamp ?? null, size: m.data.length, data: (truncated ? m.data.subarray(0, PREVIEW_BYTES) : m.data).toString('base64'), truncated }
}

/** The RogError of a server answer that is not the one asked for. */
export function errorOf (r: Response): RogError {
  if (r.response === 'error') return RogError.fromServer(r.message)
  return new RogError('SERVER_ERROR', `Unexpected answer ${r.response}`)
}

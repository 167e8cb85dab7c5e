import type { RogError } from '../errors'

/**
 * Command bytes. 0-3 are the reference protocol (PROTOCOL.md) and keep its
 * framing byte for byte. 4 and up are Rog's own; each of their frames is
 * `u8 command, u32 body size, body`, so a reader always knows where the next
 * request starts.
 */
export const CommandByte = {
  create: 0,
  publish: 1,
  fetch: 2,
  ack: 3,
  publishOffset: 4,
  publishBatch: 5,
  fetchBatch: 6,
  commit: 7,
  listLogs: 8,
  describe: 9
} as const

export const FIRST_FRAMED_COMMAND = 4
export const LAST_COMMAND = 9

export interface CreateCommand { command: 'create', log: string, partitions: number }
/** `reply: 'ok'` is the reference one-byte answer; 'offset' answers with the offset assigned. */
export interface PublishCommand { command: 'publish', log: string, partition: number, data: Buffer, reply: 'ok' | 'offset' }
export interface PublishBatchCommand { command: 'publish-batch', log: string, partition: number, messages: Buffer[] }
export interface FetchCommand { command: 'fetch', log: string, partition: number, group: string }
export interface AckCommand { command: 'ack', log: string, partition: number, group: string }
/** `offset: null` reads from the group's committed offset. */
export interface FetchBatchCommand {
  command: 'fetch-batch'
  log: string
  partition: number
  group: string
  offset: number | null
  maxMessages: number
  maxBytes: number
  waitMs: number
}
export interface CommitCommand { command: 'commit', log: string, partition: number, group: string, offset: number }
export interface ListLogsCommand { command: 'list-logs' }
export interface DescribeCommand { command: 'describe', log: string }
/** A frame the decoder could not accept; answered with the error, then, when `error.fatal` (a framing error), the connection ends. */
export interface InvalidCommand { command: 'invalid', error: RogError }

export type Command =
  | CreateCommand
  | PublishCommand
  | PublishBatchCommand
  | FetchCommand
  | AckCommand
  | FetchBatchCommand
  | CommitCommand
  | ListLogsCommand
  | DescribeCommand
  | InvalidCommand

export interface FetchedMessage { offset: number, data: Buffer }
export interface PartitionInfo {
  partition: number
  firstOffset: number
  nextOffset: number
  groups: Array<{ group: string, offset: number }>
}
export interface LogInfo { log: string, partitions: number }

export type Response =
  | { response: 'ok' }
  /** `count` reference success answers in a row (a run of publishes): `count` zero bytes. */
  | { response: 'oks', count: number }
  | { response: 'message', data: Buffer }
  | { response: 'error', message: string, fatal?: boolean }
  | { response: 'offset', offset: number }
  | { response: 'batch-published', firstOffset: number, count: number }
  | { response: 'messages', committedOffset: number, endOffset: number, messages: FetchedMessage[] }
  | { response: 'logs', logs: LogInfo[] }
  | { response: 'log-info', log: string, partitions: PartitionInfo[] }

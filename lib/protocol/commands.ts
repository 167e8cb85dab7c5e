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
  describe: 9,
  version: 10,
  createWithSettings: 11,
  alterLog: 12,
  deleteLog: 13,
  offsetForTime: 14,
  describeLog: 15,
  deleteGroup: 16,
  clusterInfo: 17,
  logPlacement: 18,
  replicaFetch: 19,
  epochEnd: 20,
  reassign: 21,
  initProducer: 22,
  idempotentPublish: 23
} as const

export const FIRST_FRAMED_COMMAND = 4
export const LAST_COMMAND = 23

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
  /** Flag bit 1: answer with each message's timestamp, the partition's first offset and where the read began. */
  detailed?: boolean
  /** The offset sent, in decimal, when it is 2^53 or more (`offset` is then Infinity): past any partition's end. */
  offsetText?: string
}
/** `offsetText`: the offset sent, in decimal, when it is 2^53 or more (`offset` is then Infinity). */
export interface CommitCommand { command: 'commit', log: string, partition: number, group: string, offset: number, offsetText?: string }
export interface ListLogsCommand { command: 'list-logs' }
export interface DescribeCommand { command: 'describe', log: string }
/** The server's version (the answer is its text). */
export interface VersionCommand { command: 'version' }
/** Create with retention settings (null: the server's default). */
export interface CreateWithSettingsCommand { command: 'create-with-settings', log: string, partitions: number, retentionBytes: number | null, retentionMs: number | null, replicationFactor?: number }
/** Alter a live log: a field left out is unchanged; a retention of null goes back to the server's default. */
export interface AlterLogCommand { command: 'alter-log', log: string, partitions?: number, retentionBytes?: number | null, retentionMs?: number | null }
export interface DeleteLogCommand { command: 'delete-log', log: string }
/** The first offset whose message is stamped at or after `timestamp` (ms since the epoch). */
export interface OffsetForTimeCommand { command: 'offset-for-time', log: string, partition: number, timestamp: number }
/** Describe with settings and sizes (command 15). */
export interface DescribeLogCommand { command: 'describe-log', log: string }
/** Delete a consumer group from every partition of a log. */
export interface DeleteGroupCommand { command: 'delete-group', log: string, group: string }
/** The cluster's nodes and controller (command 17). */
export interface ClusterInfoCommand { command: 'cluster-info' }
/** Each partition's leader, replicas, in-sync replicas and leader epoch (command 18). */
export interface LogPlacementCommand { command: 'log-placement', log: string }
/**
 * One partition a follower fetches: from `offset`, at the leader epoch it
 * knows, with the group offsets it has applied up to `groupsVersion` of the
 * leader instance `groupsOf` (versions count from 1 in each instance: one of
 * another instance, or none, means the follower needs them all).
 */
export interface ReplicaFetchPartition { log: string, partition: number, offset: number, epoch: number, groupsVersion: number, groupsOf?: string }
/** A follower's fetch from its leader, for every partition it follows there (command 19; between nodes). */
export interface ReplicaFetchCommand { command: 'replica-fetch', replica: number, waitMs: number, maxBytes: number, partitions: ReplicaFetchPartition[] }
/** Where the leader's log ends for a leader epoch (command 20; between nodes). */
export interface EpochEndCommand { command: 'epoch-end', log: string, partition: number, epoch: number }
/** Move a partition's replicas to `replicas` (command 21; answered once the controller has started the move). */
export interface ReassignCommand { command: 'reassign', log: string, partition: number, replicas: number[] }
/** A new producer id for idempotent publishing (command 22; answered as JSON `{"producerId"}`). */
export interface InitProducerCommand { command: 'init-producer' }
/**
 * A publish-batch numbered by its producer (command 23): the batch's messages
 * carry sequences `sequence` .. `sequence + count - 1` of `producerId` for
 * this partition. A batch the leader already stored is answered with its
 * original offsets instead of being stored again.
 */
export interface IdempotentPublishCommand { command: 'idempotent-publish', log: string, partition: number, producerId: number, sequence: number, messages: Buffer[] }
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
  | VersionCommand
  | CreateWithSettingsCommand
  | AlterLogCommand
  | DeleteLogCommand
  | OffsetForTimeCommand
  | DescribeLogCommand
  | DeleteGroupCommand
  | ClusterInfoCommand
  | LogPlacementCommand
  | ReplicaFetchCommand
  | EpochEndCommand
  | ReassignCommand
  | InitProducerCommand
  | IdempotentPublishCommand
  | InvalidCommand

export interface FetchedMessage { offset: number, data: Buffer, timestamp?: number }
export interface LogDetails {
  log: string
  retentionBytes: number | null
  retentionMs: number | null
  partitions: Array<{ partition: number, firstOffset: number, endOffset: number, bytes: number, groups: Array<{ group: string, offset: number }> }>
}
export interface PartitionInfo {
  partition: number
  firstOffset: number
  nextOffset: number
  groups: Array<{ group: string, offset: number }>
}
export interface LogInfo { log: string, partitions: number }
/** A cluster's nodes (command 17's answer); `cluster` null from a single node. */
export interface ClusterInfo { cluster: string | null, node?: number, controller: number | null, nodes: Array<{ id: number, address: string | null, alive: boolean }> }
/** Where a partition lives (command 18's answer, per partition); leader -1: none. */
export interface PartitionPlacement { partition: number, leader: number, epoch: number, replicas: number[], isr: number[] }

export type Response =
  | { response: 'ok' }
  /** `count` reference success answers in a row (a run of publishes): `count` zero bytes. */
  | { response: 'oks', count: number }
  | { response: 'message', data: Buffer }
  | { response: 'error', message: string, fatal?: boolean }
  | { response: 'offset', offset: number }
  | { response: 'batch-published', firstOffset: number, count: number }
  | { response: 'messages', committedOffset: number, endOffset: number, messages: FetchedMessage[], detail?: { firstOffset: number, startOffset: number } }
  /** A framed success with an empty body. */
  | { response: 'done' }
  | { response: 'log-details', details: LogDetails }
  | { response: 'logs', logs: LogInfo[] }
  | { response: 'log-info', log: string, partitions: PartitionInfo[] }
  | { response: 'version', version: string }
  /** A framed answer whose body is JSON text (commands 17, 18, 20). */
  | { response: 'json', body: Buffer }
  /** A replica fetch's answer: a JSON header (per partition: its state and how many of `messages` are its), then the messages, each `data` a whole segment entry. */
  | { response: 'replica-data', header: Buffer, messages: FetchedMessage[] }

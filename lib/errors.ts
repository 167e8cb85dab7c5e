import { getSystemErrorMap } from 'node:util'

/**
 * The one error class of Rog. `code` is stable and is what programs test;
 * `message` is for people, except the reference texts of PROTOCOL.md, which
 * existing clients match to the letter.
 */
export type RogErrorCode =
  | 'LOG_EXISTS'
  | 'BAD_PARTITION_COUNT'
  | 'NO_DATA'
  | 'NO_LOG'
  | 'BAD_PARTITION'
  | 'BAD_LOG_NAME'
  | 'BAD_GROUP_NAME'
  | 'BAD_OFFSET'
  | 'MESSAGE_TOO_LARGE'
  | 'FRAME_TOO_LARGE'
  | 'BAD_FRAME'
  | 'BATCH_TOO_LARGE'
  | 'UNKNOWN_COMMAND'
  | 'STORAGE'
  /** Stored data failed its checks; the server log names the file and position. */
  | 'DAMAGED'
  /** A log found on disk that cannot be served; the server log says why. */
  | 'LOG_UNAVAILABLE'
  /** A consumer group that has committed nothing in the log. */
  | 'NO_GROUP'
  | 'TOO_MANY_CONNECTIONS'
  | 'IDLE_TIMEOUT'
  | 'SHUTTING_DOWN'
  | 'DATA_DIR_LOCKED'
  | 'CONNECTION'
  /** An HTTP request the console API cannot take (bad parameter or body). */
  | 'BAD_REQUEST'
  /** An HTTP request's method is not one its path takes (405, with an Allow header). */
  | 'METHOD_NOT_ALLOWED'
  /** No such HTTP endpoint. */
  | 'NOT_FOUND'
  /** A bounded HTTP resource (live tails, exports) is in full use; try again later. */
  | 'BUSY'
  /** The HTTP port given with --http-port cannot be bound. */
  | 'HTTP_LISTEN'
  /** The client port (--port) cannot be bound. */
  | 'LISTEN'
  /** A starting cluster node could not reach etcd. */
  | 'ETCD_UNAVAILABLE'
  | 'BAD_ADDRESS'
  | 'PROTOCOL'
  /** Data of the original (Rust) Rog server that the importer cannot account for. */
  | 'ORIGINAL_LAYOUT'
  /** The server took longer than the client's timeout to answer. */
  | 'TIMEOUT'
  /** What answered does not speak the Rog protocol. */
  | 'NOT_ROG_SERVER'
  /** The server refused a command as unknown (an original Rog server, or an older one). */
  | 'UNSUPPORTED'
  /** A server error text the client does not recognise. */
  | 'SERVER_ERROR'
  /** This node does not lead the partition; the text names the leader. */
  | 'NOT_LEADER'
  /** Fewer in-sync replicas than --min-insync-replicas: the write is refused or not acknowledged. */
  | 'NOT_ENOUGH_REPLICAS'
  /** The partition has no live leader (no in-sync replica is up). */
  | 'NO_LEADER'
  /** A request made at a leader epoch the partition has moved past (or not reached). */
  | 'FENCED'
  /** The server has not joined its cluster yet. */
  | 'STARTING'
  /** Another live node is registered under this node id. */
  | 'NODE_ID_TAKEN'
  /** A value under the cluster's etcd prefix that Rog did not write (or an older Rog). */
  | 'CLUSTER_META'
  /** A replication factor below 1 or above the live nodes. */
  | 'BAD_REPLICATION_FACTOR'
  /** A replica list with unknown or repeated node ids. */
  | 'BAD_REPLICAS'
  /** A controller operation on a node that is not (or no longer) the controller. */
  | 'NOT_CONTROLLER'
  /** A compare-and-swap kept losing to other writers. */
  | 'CONFLICT'
  /** An idempotent batch whose sequence leaves a gap after the producer's last stored batch: an earlier batch is missing. */
  | 'OUT_OF_ORDER_SEQUENCE'
  /** An idempotent batch older than the batches the leader remembers for its producer, so its offsets cannot be given. */
  | 'DUPLICATE_SEQUENCE'

export class RogError extends Error {
  readonly code: RogErrorCode
  /** A framing error: answered, then the connection ends. */
  readonly fatal: boolean

  constructor (code: RogErrorCode, message: string, options: { fatal?: boolean, cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'RogError'
    this.code = code
    this.fatal = options.fatal ?? false
  }

  static logExists (log: string): RogError {
    return new RogError('LOG_EXISTS', `Log ${log} already exists`)
  }

  static badPartitionCount (): RogError {
    return new RogError('BAD_PARTITION_COUNT', 'Number of partitions must be at least 1')
  }

  static noData (): RogError {
    return new RogError('NO_DATA', 'No data left in the log to be read')
  }

  static noLog (log: string): RogError {
    return new RogError('NO_LOG', `No log registered with name ${log}`)
  }

  static badPartition (partition: number, log: string, count: number): RogError {
    return new RogError('BAD_PARTITION', `Trying to access partition ${partition} but log ${log} has ${count} partitions`)
  }

  static badLogName (log: string): RogError {
    return new RogError('BAD_LOG_NAME', `Invalid log name ${JSON.stringify(log)}: use 1-249 bytes of A-Z a-z 0-9 . _ - (not "." or "..")`)
  }

  static messageTooLarge (size: number | bigint, limit: number): RogError {
    return new RogError('MESSAGE_TOO_LARGE', `Message of ${size} bytes exceeds the limit of ${limit} bytes (--max-message-bytes)`, { fatal: true })
  }

  static frameTooLarge (size: number, limit: number): RogError {
    return new RogError('FRAME_TOO_LARGE', `Request of ${size} bytes exceeds the limit of ${limit} bytes`, { fatal: true })
  }

  static unknownCommand (byte: number): RogError {
    return new RogError('UNKNOWN_COMMAND', `Unknown command ${byte}`, { fatal: true })
  }

  static badFrame (why: string): RogError {
    return new RogError('BAD_FRAME', `Malformed request: ${why}`, { fatal: true })
  }

  /** Refused from the batch's header; its body is skipped and the connection stays open. */
  static batchTooLarge (count: number, limit: number): RogError {
    return new RogError('BATCH_TOO_LARGE', `Batch of ${count} messages exceeds the limit of ${limit} messages`)
  }

  /** `offset` as the exact decimal text when it is past 2^53 (a JS number would round it). */
  static badOffset (offset: number | string, end: number): RogError {
    return new RogError('BAD_OFFSET', `Offset ${offset} is past the end of the partition (${end})`)
  }

  static groupNameTooLong (bytes: number, limit: number): RogError {
    return new RogError('BAD_GROUP_NAME', `Group name of ${bytes} bytes (as UTF-8) exceeds ${limit}`)
  }

  static partitionsOnlyGrow (log: string, count: number): RogError {
    return new RogError('BAD_PARTITION_COUNT', `Log ${log} has ${count} partitions; partitions can be added, never removed`)
  }

  static tooManyPartitions (): RogError {
    return new RogError('BAD_PARTITION_COUNT', 'Number of partitions must be at most 255')
  }

  static tooManyConnections (limit: number): RogError {
    return new RogError('TOO_MANY_CONNECTIONS', `Too many connections (limit ${limit})`)
  }

  static starting (): RogError {
    return new RogError('STARTING', 'Server is starting: it has not joined its cluster yet; try again')
  }

  static shuttingDown (): RogError {
    return new RogError('SHUTTING_DOWN', 'Server is shutting down')
  }

  static dataDirLocked (dir: string, holder: string): RogError {
    return new RogError('DATA_DIR_LOCKED', `Data directory ${dir} is in use by ${holder}; is another rog server running on it?`)
  }

  static nodeIdTaken (id: number, holder: string): RogError {
    return new RogError('NODE_ID_TAKEN', `Node id ${id} is held by the live node at ${holder}; choose another --node-id or stop that node`)
  }

  static clusterMeta (why: string): RogError {
    return new RogError('CLUSTER_META', `Cluster metadata in etcd: ${why}`)
  }

  static badReplicationFactor (factor: number, live: number): RogError {
    return new RogError('BAD_REPLICATION_FACTOR', `Replication factor ${factor} is not possible with ${live} live node${live === 1 ? '' : 's'}: it must be between 1 and the number of live nodes`)
  }

  static badReplicas (replicas: number[], why: string): RogError {
    return new RogError('BAD_REPLICAS', `Replicas ${replicas.join(',')} are not valid: ${why}`)
  }

  static notController (epoch: number | null): RogError {
    return new RogError('NOT_CONTROLLER', epoch === null ? 'This node is not the cluster controller' : `The controller of epoch ${epoch} has been replaced: this node is no longer the cluster controller`)
  }

  static conflict (what: string, attempts: number): RogError {
    return new RogError('CONFLICT', `${what} lost to concurrent changes ${attempts} times in a row; try again`)
  }

  /**
   * The error a client gets for a server's error answer, which carries text
   * only: the code is recovered from the texts the factories above word.
   */
  static fromServer (message: string): RogError {
    for (const [pattern, code] of SERVER_TEXTS) {
      if (pattern.test(message)) return new RogError(code, message)
    }
    return new RogError('SERVER_ERROR', message)
  }

  static notLeader (partition: number, log: string, leader: number, address: string | null): RogError {
    const where = leader < 0 ? 'it has no leader now' : `its leader is node ${leader}${address === null ? '' : ` at ${address}`}`
    return new RogError('NOT_LEADER', `This node does not lead partition ${partition} of log ${log}: ${where}`)
  }

  /** This node's etcd session is lost: it leads nothing, whatever its copy of the metadata says, until it has joined again. */
  static sessionLost (partition: number, log: string): RogError {
    return new RogError('NOT_LEADER', `This node does not lead partition ${partition} of log ${log}: it lost its etcd session, and leads nothing until it has joined the cluster again`)
  }

  /** A partition this node's copy of the metadata says it leads, refused here: for its lost session, or (session alive) for no leader now. */
  static notLeaderHere (partition: number, log: string, sessionAlive: boolean): RogError {
    return sessionAlive ? RogError.notLeader(partition, log, -1, null) : RogError.sessionLost(partition, log)
  }

  static outOfOrderSequence (producerId: number, partition: number, log: string, sequence: number, expected: number): RogError {
    return new RogError('OUT_OF_ORDER_SEQUENCE', `Out of order sequence ${sequence} from producer ${producerId} for partition ${partition} of log ${log}: expected ${expected}`)
  }

  static duplicateSequence (producerId: number, partition: number, log: string, sequence: number): RogError {
    return new RogError('DUPLICATE_SEQUENCE', `Duplicate sequence ${sequence} from producer ${producerId} for partition ${partition} of log ${log}: stored, but too long ago to give its offsets`)
  }

  static notEnoughReplicas (partition: number, log: string, isr: number, required: number, after = false): RogError {
    const what = after ? 'the write is stored on the leader but not acknowledged' : 'the write was refused'
    return new RogError('NOT_ENOUGH_REPLICAS', `Not enough in-sync replicas for partition ${partition} of log ${log}: ${isr} of ${required} required; ${what}`)
  }

  static noLeader (partition: number, log: string): RogError {
    return new RogError('NO_LEADER', `Partition ${partition} of log ${log} has no leader: none of its in-sync replicas is up`)
  }

  static fenced (partition: number, log: string, epoch: number, current: number): RogError {
    return new RogError('FENCED', `Leader epoch ${epoch} for partition ${partition} of log ${log} does not match this node's ${current}`)
  }

  static notInCluster (what: string): RogError {
    return new RogError('UNSUPPORTED', `${what} is not supported in a cluster yet: it would change one node's copy only`)
  }

  static notClustered (): RogError {
    return new RogError('UNSUPPORTED', 'This server is not part of a cluster (it runs without --etcd)')
  }

  static noGroup (log: string, group: string): RogError {
    return new RogError('NO_GROUP', `No group ${JSON.stringify(group)} in log ${log}`)
  }

  static logUnavailable (log: string): RogError {
    return new RogError('LOG_UNAVAILABLE', `Log ${log} is unavailable: its files could not be opened; the server log says why`)
  }

  static originalLayout (path: string, why: string): RogError {
    return new RogError('ORIGINAL_LAYOUT', `Cannot import ${path}, data of the original Rog server: ${why}. Nothing was changed; move it aside or repair it, then start again`)
  }

  static damaged (where: string, offset: number): RogError {
    return new RogError('DAMAGED', `${where} is damaged at offset ${offset}: the data there failed its checks and is not served`)
  }

  /**
   * A file-system failure, worded for clients: the error code and its
   * meaning, never a path (the server log names the file).
   */
  static storage (what: string, cause: unknown): RogError {
    return new RogError('STORAGE', `Storage error while ${what}: ${systemReason(cause)}`, { cause })
  }
}

function systemReason (cause: unknown): string {
  const errno = (cause as { errno?: unknown } | null)?.errno
  const known = typeof errno === 'number' ? getSystemErrorMap().get(errno) : undefined
  if (known !== undefined) return `${known[0]}: ${known[1]}`
  const message = cause instanceof Error ? cause.message : String(cause)
  // Paths are for the server log only.
  return message.replace(/\s*'\/[^']*'/g, '').replace(/\s*\/\S*/g, '').trim()
}

/** The server's error texts (worded by the factories of RogError), matched back to their codes. */
const SERVER_TEXTS: Array<[RegExp, RogErrorCode]> = [
  [/^No data left in the log to be read$/, 'NO_DATA'],
  [/^No log registered with name /, 'NO_LOG'],
  [/^Log .* already exists$/, 'LOG_EXISTS'],
  [/^Number of partitions must be at (least|most) \d+$|^Log .* has \d+ partitions; partitions can be added/, 'BAD_PARTITION_COUNT'],
  [/^Trying to access partition \d+ but log .* has \d+ partitions$/, 'BAD_PARTITION'],
  [/^Invalid log name /, 'BAD_LOG_NAME'],
  [/^Group name of \d+ bytes/, 'BAD_GROUP_NAME'],
  [/^Offset \d+ is past the end of the partition/, 'BAD_OFFSET'],
  [/^Message of \d+ bytes exceeds the limit/, 'MESSAGE_TOO_LARGE'],
  [/^Request of \d+ bytes exceeds the limit/, 'FRAME_TOO_LARGE'],
  [/^Malformed request: /, 'BAD_FRAME'],
  [/^Batch of \d+ messages exceeds the limit/, 'BATCH_TOO_LARGE'],
  [/^Unknown command /, 'UNKNOWN_COMMAND'],
  [/^Storage error /, 'STORAGE'],
  [/^Log .* is unavailable: /, 'LOG_UNAVAILABLE'],
  [/^No group ".*" in log /, 'NO_GROUP'],
  [/^Partition \d+ of log .* is damaged at offset \d+/, 'DAMAGED'],
  [/^Too many connections/, 'TOO_MANY_CONNECTIONS'],
  [/^Server is shutting down/, 'SHUTTING_DOWN'],
  [/^This node does not lead partition /, 'NOT_LEADER'],
  [/^Not enough in-sync replicas /, 'NOT_ENOUGH_REPLICAS'],
  [/^Partition \d+ of log .* has no leader/, 'NO_LEADER'],
  [/^Leader epoch \d+ for partition /, 'FENCED'],
  [/^Server is starting: /, 'STARTING'],
  [/^The partition's leader at \S+ (cannot be reached|did not answer)/, 'NOT_LEADER'],
  [/^This server is not part of a cluster/, 'UNSUPPORTED'],
  [/^[a-z-]+ is not supported in a cluster yet/, 'UNSUPPORTED'],
  [/^Replication factor \d+ /, 'BAD_REPLICATION_FACTOR'],
  [/^Out of order sequence \d+ from producer /, 'OUT_OF_ORDER_SEQUENCE'],
  [/^Duplicate sequence \d+ from producer /, 'DUPLICATE_SEQUENCE']
]

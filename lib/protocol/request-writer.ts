import { RogError } from '../errors'
import { CommandByte, type Command } from './commands'
import { ALTER_PARTITIONS, CREATE_REPLICATION, ALTER_RESET_BYTES, ALTER_RESET_MS, ALTER_SET_BYTES, ALTER_SET_MS, FETCH_DETAILED, FETCH_FROM_OFFSET } from './decoder'
import { writeU32, writeU64 } from '../util/u64'

/**
 * Request bytes, the decoder's layouts in reverse (see the README's tables).
 * Reference commands use their reference framing with the one-byte group size;
 * framed commands are `u8 command, u32 body size, body`.
 */
export function encodeCommand (c: Command): Buffer {
  switch (c.command) {
    case 'create': {
      const log = shortString(c.log, 'log name')
      return Buffer.concat([Buffer.from([CommandByte.create, c.partitions, log.length]), log])
    }
    case 'publish': {
      const log = shortString(c.log, 'log name')
      if (c.reply === 'offset') {
        return framed(CommandByte.publishOffset, [Buffer.from([c.partition, log.length]), log, c.data])
      }
      const head = Buffer.allocUnsafe(3 + log.length + 8)
      head[0] = CommandByte.publish
      head[1] = c.partition
      head[2] = log.length
      log.copy(head, 3)
      writeU64(head, c.data.length, 3 + log.length)
      return Buffer.concat([head, c.data])
    }
    case 'fetch':
    case 'ack': {
      const log = shortString(c.log, 'log name')
      const group = groupName(c.group, 0xffff)
      const byte = c.command === 'fetch' ? CommandByte.fetch : CommandByte.ack
      // A name of over 255 bytes takes the u64 size form (whose first byte is 0); the original server reads only the u8 form.
      const size = Buffer.alloc(group.length <= 0xff ? 1 : 8)
      if (size.length === 1) size[0] = group.length
      else writeU64(size, group.length, 0)
      return Buffer.concat([Buffer.from([byte, c.partition, log.length]), log, size, group])
    }
    case 'publish-batch':
      return framed(CommandByte.publishBatch, [target(c.partition, c.log), batchBody(c.messages)])
    case 'idempotent-publish': {
      const producer = Buffer.allocUnsafe(12)
      writeU64(producer, c.producerId, 0)
      producer.writeUInt32BE(c.sequence, 8)
      return framed(CommandByte.idempotentPublish, [target(c.partition, c.log), producer, batchBody(c.messages)])
    }
    case 'init-producer':
      return framed(CommandByte.initProducer, [])
    case 'fetch-batch': {
      const tail = Buffer.allocUnsafe(21)
      tail[0] = (c.offset === null ? 0 : FETCH_FROM_OFFSET) | (c.detailed === true ? FETCH_DETAILED : 0)
      writeU64(tail, c.offset ?? 0, 1)
      tail.writeUInt32BE(c.maxMessages, 9)
      tail.writeUInt32BE(c.maxBytes, 13)
      tail.writeUInt32BE(c.waitMs, 17)
      return framed(CommandByte.fetchBatch, [target(c.partition, c.log), longString(c.group), tail])
    }
    case 'commit': {
      const tail = Buffer.allocUnsafe(8)
      writeU64(tail, c.offset, 0)
      return framed(CommandByte.commit, [target(c.partition, c.log), longString(c.group), tail])
    }
    case 'list-logs':
      return framed(CommandByte.listLogs, [])
    case 'version':
      return framed(CommandByte.version, [])
    case 'describe': {
      const log = shortString(c.log, 'log name')
      return framed(CommandByte.describe, [Buffer.from([log.length]), log])
    }
    case 'create-with-settings': {
      const log = shortString(c.log, 'log name')
      const tail = Buffer.alloc(c.replicationFactor === undefined ? 17 : 18)
      tail[0] = (c.retentionBytes === null ? 0 : 1) | (c.retentionMs === null ? 0 : 2) | (c.replicationFactor === undefined ? 0 : CREATE_REPLICATION)
      writeU64(tail, limit(c.retentionBytes ?? 0, 'retention bytes'), 1)
      writeU64(tail, limit(c.retentionMs ?? 0, 'retention ms'), 9)
      if (c.replicationFactor !== undefined) tail[17] = c.replicationFactor
      return framed(CommandByte.createWithSettings, [Buffer.from([c.partitions, log.length]), log, tail])
    }
    case 'alter-log': {
      const log = shortString(c.log, 'log name')
      const tail = Buffer.alloc(18)
      let flags = 0
      if (c.partitions !== undefined) { flags |= ALTER_PARTITIONS; tail[1] = c.partitions }
      if (c.retentionBytes === null) flags |= ALTER_RESET_BYTES
      else if (c.retentionBytes !== undefined) { flags |= ALTER_SET_BYTES; writeU64(tail, limit(c.retentionBytes, 'retention bytes'), 2) }
      if (c.retentionMs === null) flags |= ALTER_RESET_MS
      else if (c.retentionMs !== undefined) { flags |= ALTER_SET_MS; writeU64(tail, limit(c.retentionMs, 'retention ms'), 10) }
      tail[0] = flags
      return framed(CommandByte.alterLog, [Buffer.from([log.length]), log, tail])
    }
    case 'delete-log':
    case 'describe-log': {
      const log = shortString(c.log, 'log name')
      return framed(c.command === 'delete-log' ? CommandByte.deleteLog : CommandByte.describeLog, [Buffer.from([log.length]), log])
    }
    case 'delete-group': {
      const log = shortString(c.log, 'log name')
      return framed(CommandByte.deleteGroup, [Buffer.from([log.length]), log, longString(c.group)])
    }
    case 'offset-for-time': {
      const time = Buffer.allocUnsafe(8)
      writeU64(time, c.timestamp, 0)
      return framed(CommandByte.offsetForTime, [target(c.partition, c.log), time])
    }
    case 'cluster-info':
      return framed(CommandByte.clusterInfo, [])
    case 'log-placement': {
      const log = shortString(c.log, 'log name')
      return framed(CommandByte.logPlacement, [Buffer.from([log.length]), log])
    }
    case 'replica-fetch': {
      const { replica, waitMs, maxBytes, partitions } = c
      return framed(CommandByte.replicaFetch, [Buffer.from(JSON.stringify({ replica, waitMs, maxBytes, partitions }))])
    }
    case 'epoch-end':
      return framed(CommandByte.epochEnd, [Buffer.from(JSON.stringify({ log: c.log, partition: c.partition, epoch: c.epoch }))])
    case 'reassign':
      return framed(CommandByte.reassign, [Buffer.from(JSON.stringify({ log: c.log, partition: c.partition, replicas: c.replicas }))])
    case 'invalid':
      throw c.error
  }
}

/** `u32 count`, count × (`u32 size`, message). */
function batchBody (messages: Buffer[]): Buffer {
  if (messages.length === 0) throw new RogError('BAD_FRAME', 'A batch needs at least one message')
  let size = 4
  for (const m of messages) size += 4 + m.length
  const body = Buffer.allocUnsafe(size)
  let at = writeU32(body, messages.length, 0)
  for (const m of messages) {
    at = writeU32(body, m.length, at)
    at += m.copy(body, at)
  }
  return body
}

function framed (command: number, parts: Buffer[]): Buffer {
  let size = 0
  for (const p of parts) size += p.length
  const head = Buffer.allocUnsafe(5)
  head[0] = command
  head.writeUInt32BE(size, 1)
  return Buffer.concat([head, ...parts], 5 + size)
}

function target (partition: number, log: string): Buffer {
  const name = shortString(log, 'log name')
  return Buffer.concat([Buffer.from([partition, name.length]), name])
}

/** A retention limit: anything but a whole number would go out as some other limit. */
function limit (value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RogError('PROTOCOL', `The ${what} is ${JSON.stringify(value)}; expected a whole number of 0 or more`)
  return value
}

function shortString (s: string, what: string): Buffer {
  const buf = Buffer.from(s)
  if (buf.length > 0xff) throw new RogError('PROTOCOL', `The ${what} is ${buf.length} bytes; at most 255 fit`)
  return buf
}

/** A group name is never empty: a zero size byte would read as the start of the u64 size form. */
function groupName (s: string, max: number): Buffer {
  const buf = Buffer.from(s)
  if (buf.length === 0) throw new RogError('BAD_GROUP_NAME', 'A group name cannot be empty')
  if (buf.length > max) throw new RogError('PROTOCOL', `The group name is ${buf.length} bytes; at most ${max} fit`)
  return buf
}

function longString (s: string): Buffer {
  const buf = groupName(s, 0xffff)
  const head = Buffer.allocUnsafe(2)
  head.writeUInt16BE(buf.length, 0)
  return Buffer.concat([head, buf])
}

import { isUtf8 } from 'node:buffer'
import { InvalidArgumentError } from 'commander'
import type { FetchedMessage } from '../protocol/commands'
import { escapes } from './options'

/** The bytes printed for a batch of messages read from one partition. */
export type Render = (partition: number, messages: FetchedMessage[]) => Buffer

/** A compiled --format: literal bytes and fields. */
export type Format = Array<Buffer | 'p' | 'o' | 's' | 'S' | 't' | 'T'>

const FIELDS = new Set(['p', 'o', 's', 'S', 't', 'T'])

/**
 * Parses a kcat-style format: %p partition, %o offset, %T timestamp (ms since
 * the epoch, -1 from a server that does not send them), %s message, %S its
 * size in bytes, %t the log, %% a percent sign; backslash escapes as -D has.
 */
export function compileFormat (format: string): Format {
  const out: Format = []
  const parts = format.split(/(%.?)/s)
  for (const part of parts) {
    if (part === '') continue
    if (part[0] !== '%') {
      out.push(escapes(part))
    } else if (part === '%%') {
      out.push(Buffer.from('%'))
    } else if (FIELDS.has(part[1])) {
      out.push(part[1] as 'p' | 'o' | 's' | 'S' | 't' | 'T')
    } else {
      throw new InvalidArgumentError(`unknown field "${part}" (use %p %o %T %s %S %t, or %% for a percent sign)`)
    }
  }
  return out
}

export interface RenderOptions {
  log: string
  /** Each message followed by this (default: a newline). */
  delimiter?: Buffer
  format?: Format
  /** One JSON object per line. */
  json?: boolean
}

export function renderer (options: RenderOptions): Render {
  if (options.json === true) return (partition, messages) => json(options.log, partition, messages)
  if (options.format !== undefined) {
    const format = options.format
    const log = Buffer.from(options.log)
    return (partition, messages) => formatted(format, log, partition, messages)
  }
  const delimiter = options.delimiter ?? NEWLINE
  return (_partition, messages) => delimited(messages, delimiter)
}

const NEWLINE = Buffer.from('\n')

/** The messages, each followed by the delimiter, in one buffer. */
function delimited (messages: FetchedMessage[], delimiter: Buffer): Buffer {
  let size = messages.length * delimiter.length
  for (const m of messages) size += m.data.length
  const buf = Buffer.allocUnsafe(size)
  let at = 0
  for (const m of messages) {
    at += m.data.copy(buf, at)
    if (delimiter.length === 1) buf[at++] = delimiter[0]
    else at += delimiter.copy(buf, at)
  }
  return buf
}

function formatted (format: Format, log: Buffer, partition: number, messages: FetchedMessage[]): Buffer {
  const parts: Buffer[] = []
  const p = Buffer.from(String(partition))
  for (const m of messages) {
    for (const f of format) {
      if (typeof f !== 'string') parts.push(f)
      else if (f === 's') parts.push(m.data)
      else if (f === 'p') parts.push(p)
      else if (f === 'o') parts.push(Buffer.from(String(m.offset)))
      else if (f === 'S') parts.push(Buffer.from(String(m.data.length)))
      else if (f === 'T') parts.push(Buffer.from(String(m.timestamp ?? -1)))
      else parts.push(log)
    }
  }
  return Buffer.concat(parts)
}

/**
 * One object a line: log, partition, offset, timestamp (ms since the epoch,
 * when the server sends it), the message as text when it is
 * valid UTF-8 ("encoding": "utf8") or else base64 ("encoding": "base64").
 * JSON escapes newlines, NULs and any delimiter inside a message.
 */
function json (log: string, partition: number, messages: FetchedMessage[]): Buffer {
  let text = ''
  for (const m of messages) {
    const utf8 = isUtf8(m.data)
    text += JSON.stringify({
      log,
      partition,
      offset: m.offset,
      ...(m.timestamp === undefined ? {} : { timestamp: m.timestamp }),
      message: m.data.toString(utf8 ? 'utf8' : 'base64'),
      encoding: utf8 ? 'utf8' : 'base64'
    }) + '\n'
  }
  return Buffer.from(text)
}

import pino from 'pino'
import { SafeOutput } from './safe-output'

export type LogFormat = 'json' | 'text'
import type { LOG_LEVELS } from './defaults'

export type LogLevel = typeof LOG_LEVELS[number]

export type LogFields = Record<string, string | number | boolean | null>

export interface LoggerOptions {
  format: LogFormat
  level: LogLevel
  /** Where lines go (default: stderr, written synchronously so nothing is lost at exit; a line it cannot take is dropped, see SafeOutput). */
  destination?: { write: (line: string) => unknown }
}

/**
 * The server's log: pino underneath, one line per event. JSON lines carry
 * `time`, `level` (as a word), `msg` and the event's fields; text lines are
 * the message followed by `key=value` fields, with `warning:` or `error:`
 * in front when the level says so. Lines of events, never of requests.
 */
export class RogLogger {
  private readonly pino: pino.Logger
  /** A line of the storage and cluster layers (their Logger type): an info event without fields. */
  readonly line = (msg: string): void => this.pino.info(msg)

  constructor (options: LoggerOptions) {
    const out = options.destination ?? SafeOutput.stdio().stderr
    const destination = options.format === 'json' ? out : { write: (s: string) => out.write(textLine(s)) }
    this.pino = pino({
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) }
    }, destination)
  }

  debug (msg: string, fields: LogFields = {}): void {
    this.pino.debug(fields, msg)
  }

  info (msg: string, fields: LogFields = {}): void {
    this.pino.info(fields, msg)
  }

  warn (msg: string, fields: LogFields = {}): void {
    this.pino.warn(fields, msg)
  }

  error (msg: string, fields: LogFields = {}): void {
    this.pino.error(fields, msg)
  }

  /** Whether events of `level` are written (so callers can skip building them). */
  enabled (level: LogLevel): boolean {
    return this.pino.isLevelEnabled(level)
  }
}

const PREFIX: Record<string, string> = { warn: 'warning: ', error: 'error: ', fatal: 'error: ' }

/** A pino JSON line as a readable one: the message, then its fields as key=value. */
function textLine (json: string): string {
  const record = JSON.parse(json) as Record<string, unknown>
  const { level, time: _time, msg, ...fields } = record
  let line = `${PREFIX[String(level)] ?? ''}${String(msg ?? '')}`
  for (const [k, v] of Object.entries(fields)) line += ` ${k}=${typeof v === 'string' && !/\s|"/.test(v) && v !== '' ? v : JSON.stringify(v)}`
  return `${line}\n`
}

import { RogError, type RogErrorCode } from '../errors'

/**
 * The server answers errors with text only; the codes are recovered from the
 * texts the server words (lib/errors.ts), the reference ones to the letter.
 */
const PATTERNS: Array<[RegExp, RogErrorCode]> = [
  [/^No data left in the log to be read$/, 'NO_DATA'],
  [/^No log registered with name /, 'NO_LOG'],
  [/^Log .* already exists$/, 'LOG_EXISTS'],
  [/^Number of partitions must be at (least|most) \d+$/, 'BAD_PARTITION_COUNT'],
  [/^Trying to access partition \d+ but log .* has \d+ partitions$/, 'BAD_PARTITION'],
  [/^Invalid log name /, 'BAD_LOG_NAME'],
  [/^Offset \d+ is past the end of the partition/, 'BAD_OFFSET'],
  [/^Message of \d+ bytes exceeds the limit/, 'MESSAGE_TOO_LARGE'],
  [/^Request of \d+ bytes exceeds the limit/, 'FRAME_TOO_LARGE'],
  [/^Malformed request: /, 'BAD_FRAME'],
  [/^Unknown command /, 'UNKNOWN_COMMAND'],
  [/^Storage error |^Segment .* is damaged/, 'STORAGE'],
  [/^Too many connections/, 'TOO_MANY_CONNECTIONS'],
  [/^Server is shutting down/, 'SHUTTING_DOWN']
]

export function serverError (message: string): RogError {
  for (const [pattern, code] of PATTERNS) {
    if (pattern.test(message)) return new RogError(code, message)
  }
  return new RogError('SERVER_ERROR', message)
}

import { InvalidArgumentError } from 'commander'

/** commander argument parser for a whole number in [min, max]. */
export function integer (min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a whole number, got "${value}"`)
    const n = Number(value)
    if (n < min || n > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}, got ${n}`)
    return n
  }
}

/** A repeatable `-p` flag: the partitions in the order given, each once. A list from the config file (frozen) is replaced, not added to. */
export function partitionList (value: string, previous: number[] | undefined): number[] {
  const list = previous === undefined || Object.isFrozen(previous) ? [] : previous
  for (const part of value.split(',')) {
    const p = integer(0, 254)(part)
    if (!list.includes(p)) list.push(p)
  }
  return list
}

/** Seconds, fractions allowed ("10", "0.5"), or milliseconds with "ms" ("250ms"): returns milliseconds. */
export function duration (value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)?\s*$/.exec(value)
  if (match === null) throw new InvalidArgumentError(`expected seconds (e.g. 10 or 0.5) or milliseconds (250ms), got "${value}"`)
  const ms = Number(match[1]) * (match[2] === 'ms' ? 1 : 1000)
  if (ms < 1 || ms > 2 ** 31 - 1) throw new InvalidArgumentError(`expected from 1 ms to 24 days, got "${value}"`)
  return Math.round(ms)
}

/**
 * The bytes of a string with backslash escapes: \n \r \t \0 \\ and \xHH
 * (any byte); other characters stand for their UTF-8 bytes.
 */
export function escapes (value: string): Buffer {
  const parts: Buffer[] = []
  let text = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (c !== '\\') {
      text += c
      continue
    }
    const next = value[++i]
    const simple = ESCAPES[next]
    if (simple !== undefined) {
      text += simple
      continue
    }
    if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      parts.push(Buffer.from(text), Buffer.from([parseInt(value.slice(i + 1, i + 3), 16)]))
      text = ''
      i += 2
      continue
    }
    const what = next === 'x' ? `"\\x" needs two hex digits` : `unknown escape "\\${next ?? ''}"`
    throw new InvalidArgumentError(`${what} in "${value}" (use \\n \\r \\t \\0 \\\\ or \\xHH)`)
  }
  parts.push(Buffer.from(text))
  return Buffer.concat(parts)
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', 0: '\0', '\\': '\\' }

/** The escapes `escapes` takes, as help texts list them. */
export const ESCAPES_HELP = '\\n \\r \\t \\0 \\\\ \\xHH'

/** commander parser for a delimiter: escapes allowed, never empty. */
export function delimiter (value: string): Buffer {
  const bytes = escapes(value)
  if (bytes.length === 0) throw new InvalidArgumentError('a delimiter cannot be empty')
  return bytes
}

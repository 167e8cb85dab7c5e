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

/**
 * The message body every scenario sends: printable ASCII without spaces or
 * newlines, so the same bytes can go on a redis-benchmark command line and in
 * a line-per-message file for the CLI.
 */
export function payload (bytes: number): Buffer {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
  const out = Buffer.allocUnsafe(bytes)
  let x = 2463534242
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = alphabet.charCodeAt((x >>> 0) % alphabet.length)
  }
  return out
}

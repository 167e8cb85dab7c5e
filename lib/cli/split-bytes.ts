import { Transform, type TransformCallback } from 'node:stream'

/**
 * Splits bytes on a delimiter, decoding nothing: a Transform from bytes to
 * one Buffer per piece. An empty piece (two delimiters in a row) is an empty
 * message; a delimiter at the very end ends the last piece and starts none.
 *
 * `held` keeps the bytes after the last delimiter seen, as they came; they
 * are joined once, when the delimiter that ends their piece arrives, so a
 * long piece costs one copy. Each chunk is searched with the last
 * `delimiter.length - 1` held bytes before it, for a delimiter cut in two.
 */
export class SplitBytes extends Transform {
  private readonly delimiter: Buffer
  private held: Buffer[] = []
  private heldBytes = 0

  constructor (delimiter: Buffer) {
    super({ readableObjectMode: true, readableHighWaterMark: 1000 })
    this.delimiter = delimiter
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const d = this.delimiter
    const tail = Math.min(this.heldBytes, d.length - 1)
    const buf = tail > 0 ? Buffer.concat([lastBytes(this.held, tail), chunk]) : chunk
    let at = buf.indexOf(d)
    if (at === -1) {
      this.hold(chunk)
      return callback()
    }
    if (this.heldBytes > 0) {
      const before = Buffer.concat(this.held, this.heldBytes).subarray(0, this.heldBytes - tail)
      this.push(Buffer.concat([before, buf.subarray(0, at)]))
      this.held = []
      this.heldBytes = 0
    } else {
      this.push(buf.subarray(0, at))
    }
    let start = at + d.length
    at = buf.indexOf(d, start)
    while (at !== -1) {
      this.push(buf.subarray(start, at))
      start = at + d.length
      at = buf.indexOf(d, start)
    }
    if (start < buf.length) this.hold(buf.subarray(start))
    callback()
  }

  override _flush (callback: TransformCallback): void {
    if (this.heldBytes > 0) this.push(Buffer.concat(this.held, this.heldBytes))
    this.held = []
    this.heldBytes = 0
    callback()
  }

  private hold (bytes: Buffer): void {
    this.held.push(bytes)
    this.heldBytes += bytes.length
  }
}

/** The last `n` bytes of `parts` (which hold at least n). */
function lastBytes (parts: Buffer[], n: number): Buffer {
  const out: Buffer[] = []
  let need = n
  for (let i = parts.length - 1; need > 0; i--) {
    const take = Math.min(need, parts[i].length)
    out.unshift(parts[i].subarray(parts[i].length - take))
    need -= take
  }
  return Buffer.concat(out, n)
}

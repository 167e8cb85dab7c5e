/**
 * The last name decoded, kept with its bytes: frames that repeat a name (a
 * run of publishes to one log, a consumer's commits of one group) get the
 * same string again without decoding it, and maps keyed by it find its hash
 * already computed.
 */
export class NameCache {
  private bytes = Buffer.alloc(0)
  private name = ''

  /** The UTF-8 text of buf[start, end). */
  get (buf: Buffer, start: number, end: number): string {
    let same = end - start === this.bytes.length
    for (let i = start; same && i < end; i++) same = buf[i] === this.bytes[i - start]
    if (!same) {
      this.bytes = Buffer.from(buf.subarray(start, end))
      this.name = this.bytes.toString('utf8')
    }
    return this.name
  }
}

/** Names kept: the groups of a few consumers committing on connections at once, with their logs. */
const SLOTS = 8

/**
 * The last names decoded, kept with their bytes: frames that repeat a name
 * (a run of publishes to one log, the commits of consumers on several
 * connections, each of its own group) get the same string again without
 * decoding it, and maps keyed by it find its hash already computed. A name
 * not kept replaces the oldest.
 */
export class NameCache {
  private readonly bytes: Buffer[] = Array.from({ length: SLOTS }, () => Buffer.alloc(0))
  private readonly names: string[] = new Array<string>(SLOTS).fill('')
  private last = 0
  private next = 0

  /** The UTF-8 text of buf[start, end). */
  get (buf: Buffer, start: number, end: number): string {
    if (matches(this.bytes[this.last], buf, start, end)) return this.names[this.last]
    for (let k = 0; k < SLOTS; k++) {
      if (k !== this.last && matches(this.bytes[k], buf, start, end)) {
        this.last = k
        return this.names[k]
      }
    }
    const k = this.next
    this.next = (k + 1) % SLOTS
    this.bytes[k] = Buffer.from(buf.subarray(start, end))
    this.names[k] = this.bytes[k].toString('utf8')
    this.last = k
    return this.names[k]
  }
}

function matches (kept: Buffer, buf: Buffer, start: number, end: number): boolean {
  if (end - start !== kept.length) return false
  for (let i = start; i < end; i++) if (buf[i] !== kept[i - start]) return false
  return true
}

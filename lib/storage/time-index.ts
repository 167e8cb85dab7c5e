import { readU64, writeU64 } from '../util/u64'

/**
 * Sparse time index of one segment (Kafka's `.timeindex`): a point at each
 * offset-index point, mapping the largest timestamp appended so far in the
 * segment to the relative offset of the entry that holds it from there on,
 * so "the first offset whose timestamp is at least T" is a binary search
 * plus a scan of about 4 KiB.
 *
 * File `<base>.timeindex`, a sequence of 12-byte entries:
 *
 * | field           | size | meaning                                          |
 * |-----------------|------|--------------------------------------------------|
 * | timestamp       | u64  | largest append time (ms) of the segment up to    |
 * |                 |      | and including this entry                          |
 * | relative offset | u32  | the entry's id minus the segment's base id        |
 *
 * Timestamps never decrease and offsets strictly increase. It is a hint:
 * `decode` rejects a file that breaks either rule or names an offset past the
 * segment, and the segment then rebuilds it from the log.
 */
export const TIME_INDEX_ENTRY = 12

export class TimeIndex {
  readonly timestamps: number[] = []
  readonly offsets: number[] = []

  get length (): number {
    return this.offsets.length
  }

  add (timestamp: number, relativeOffset: number): void {
    const n = this.offsets.length
    if (n > 0 && relativeOffset <= this.offsets[n - 1]) return
    this.timestamps.push(n > 0 ? Math.max(timestamp, this.timestamps[n - 1]) : timestamp)
    this.offsets.push(relativeOffset)
  }

  /** Keeps only points below `relativeOffset`. */
  truncateTo (relativeOffset: number): void {
    let n = this.offsets.length
    while (n > 0 && this.offsets[n - 1] >= relativeOffset) n--
    this.offsets.length = n
    this.timestamps.length = n
  }

  /** The relative offset from which to scan for the first entry stamped at or after `timestamp`. */
  scanFrom (timestamp: number): number {
    let lo = 0
    let hi = this.offsets.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.timestamps[mid] < timestamp) {
        found = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return found < 0 ? 0 : this.offsets[found]
  }

  /** The file bytes of the points from the `from`-th on (all by default). */
  encode (from = 0): Buffer {
    const buf = Buffer.allocUnsafe((this.offsets.length - from) * TIME_INDEX_ENTRY)
    for (let i = from; i < this.offsets.length; i++) {
      writeU64(buf, this.timestamps[i], (i - from) * TIME_INDEX_ENTRY)
      buf.writeUInt32BE(this.offsets[i], (i - from) * TIME_INDEX_ENTRY + 8)
    }
    return buf
  }

  /** Parses a time index; null when it is damaged for a segment of `entries` entries. */
  static decode (buf: Buffer, entries: number): TimeIndex | null {
    if (buf.length % TIME_INDEX_ENTRY !== 0) return null
    const index = new TimeIndex()
    for (let at = 0; at < buf.length; at += TIME_INDEX_ENTRY) {
      const timestamp = readU64(buf, at)
      const offset = buf.readUInt32BE(at + 8)
      const n = index.length
      if (offset >= entries || !Number.isFinite(timestamp)) return null
      if (n > 0 && (offset <= index.offsets[n - 1] || timestamp < index.timestamps[n - 1])) return null
      index.timestamps.push(timestamp)
      index.offsets.push(offset)
    }
    return index
  }
}

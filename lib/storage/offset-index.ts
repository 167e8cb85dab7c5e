/**
 * Sparse offset index of one segment (Kafka's `.index`): an entry every
 * INDEX_INTERVAL bytes of log, mapping a message id to the file position of
 * its entry, so a read starts at most one interval before its target.
 *
 * File `<base>.index`, a sequence of 8-byte entries:
 *
 * | field           | size | meaning                                  |
 * |-----------------|------|------------------------------------------|
 * | relative offset | u32  | message id minus the segment's base id   |
 * | position        | u32  | byte position of that entry in `.log`    |
 *
 * Both columns strictly increase. The index is a hint that is checked, never
 * trusted: `decode` rejects one that is out of order or points past the log,
 * and the segment then rebuilds it from the log; its last point is checked
 * against the log on open, and every read checks that the entry a point leads
 * to has the id it claims (a point that fails is dropped, and the read goes
 * from the one before).
 */
export const INDEX_INTERVAL = 4096
export const INDEX_ENTRY = 8

export class OffsetIndex {
  readonly offsets: number[] = []
  readonly positions: number[] = []

  get length (): number {
    return this.offsets.length
  }

  add (relativeOffset: number, position: number): void {
    this.offsets.push(relativeOffset)
    this.positions.push(position)
  }

  /** Keeps only entries below `position`. */
  truncateTo (position: number): void {
    let n = this.positions.length
    while (n > 0 && this.positions[n - 1] >= position) n--
    this.offsets.length = n
    this.positions.length = n
  }

  /** Forgets the point of `relativeOffset`, found not to lead to its entry. */
  drop (relativeOffset: number): void {
    const i = this.offsets.indexOf(relativeOffset)
    if (i < 0) return
    this.offsets.splice(i, 1)
    this.positions.splice(i, 1)
  }

  /** The last indexed point at or before `relativeOffset`: [relative offset, position]. */
  lookup (relativeOffset: number): [number, number] {
    let lo = 0
    let hi = this.offsets.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.offsets[mid] <= relativeOffset) {
        found = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return found < 0 ? [0, 0] : [this.offsets[found], this.positions[found]]
  }

  /** The last indexed point at or before byte `position`: [relative offset, position]. */
  atOrBeforePosition (position: number): [number, number] {
    let n = this.positions.length
    while (n > 0 && this.positions[n - 1] > position) n--
    return n === 0 ? [0, 0] : [this.offsets[n - 1], this.positions[n - 1]]
  }

  last (): [number, number] {
    const n = this.offsets.length
    return n === 0 ? [0, 0] : [this.offsets[n - 1], this.positions[n - 1]]
  }

  /** The file bytes of the entries from the `from`-th on (all by default). */
  encode (from = 0): Buffer {
    const buf = Buffer.allocUnsafe((this.offsets.length - from) * INDEX_ENTRY)
    for (let i = from; i < this.offsets.length; i++) {
      buf.writeUInt32BE(this.offsets[i], (i - from) * INDEX_ENTRY)
      buf.writeUInt32BE(this.positions[i], (i - from) * INDEX_ENTRY + 4)
    }
    return buf
  }

  /** Parses an index file; null when it is damaged for a log of `logSize` bytes. */
  static decode (buf: Buffer, logSize: number): OffsetIndex | null {
    if (buf.length % INDEX_ENTRY !== 0) return null
    const index = new OffsetIndex()
    for (let at = 0; at < buf.length; at += INDEX_ENTRY) {
      const offset = buf.readUInt32BE(at)
      const position = buf.readUInt32BE(at + 4)
      const [lastOffset, lastPosition] = index.last()
      if (index.length > 0 && (offset <= lastOffset || position <= lastPosition)) return null
      if (position >= logSize) return null
      index.add(offset, position)
    }
    return index
  }
}

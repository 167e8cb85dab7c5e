/** The size of a slab; a buffer larger than a quarter of it is not carved, but a buffer of its own. */
export const SLAB_BYTES = 1 << 20

/**
 * WriteArena: where the bytes of segment appends are put together before
 * they are written. A buffer per append of its own (a new ArrayBuffer of a
 * few KiB for each burst of a pipelined producer) costs more than its size:
 * V8 counts such memory as external, and the steady stream of them starts a
 * full mark-compact about every 70 ms under one producer. Appends are carved
 * instead, one after the other, out of a slab that is used again from its
 * start once every buffer carved from it has been released.
 *
 * Invariant: bytes are carved again only from a slab none of whose leased
 * buffers is still held. A buffer is leased until `release` is given it
 * (once its write is done, written or failed); a release of a buffer that is
 * not leased (a second release, a buffer of a slab dropped while a later one
 * was retired, one not carved here) changes nothing. A lease never released only keeps its slab from
 * being used again: the next slab is a new one.
 */
export class WriteArena {
  private readonly slabBytes: number
  /** The largest buffer carved from a slab. */
  readonly largestCarved: number
  private slab: Buffer | null = null
  private used = 0
  private leased = new Set<Buffer>()
  /** A full slab whose leases were still held when it was replaced; used again once they are released. */
  private retired: Buffer | null = null
  private retiredLeases = new Set<Buffer>()
  private spare: Buffer | null = null

  constructor (slabBytes = SLAB_BYTES) {
    this.slabBytes = slabBytes
    this.largestCarved = slabBytes / 4
  }

  /** A buffer of `bytes` bytes (uninitialised) to fill and write, leased until released. */
  take (bytes: number): Buffer {
    if (bytes > this.largestCarved) return Buffer.allocUnsafe(bytes)
    if (this.slab === null || this.used + bytes > this.slab.length) this.nextSlab()
    const slab = this.slab as Buffer
    const buf = slab.subarray(this.used, this.used + bytes)
    this.used += bytes
    this.leased.add(buf)
    return buf
  }

  /** `buf`'s write is done: its bytes may be carved again once the others of its slab are released too. */
  release (buf: Buffer): void {
    if (this.leased.delete(buf)) {
      if (this.leased.size === 0) this.used = 0
    } else if (this.retiredLeases.delete(buf) && this.retiredLeases.size === 0) {
      this.spare = this.retired
      this.retired = null
    }
  }

  /** Buffers carved and not yet released, in the slab in use and the retired one. */
  get leasedBuffers (): number {
    return this.leased.size + this.retiredLeases.size
  }

  /** Called when the slab in use cannot hold the next buffer, which means some of its buffers are leased. */
  private nextSlab (): void {
    if (this.slab !== null) {
      // A slab retired before, still leased, is dropped: the garbage collector takes it once its holders let go.
      this.retired = this.slab
      this.retiredLeases = this.leased
      this.leased = new Set()
    }
    this.slab = this.spare ?? Buffer.allocUnsafeSlow(this.slabBytes)
    this.spare = null
    this.used = 0
  }
}

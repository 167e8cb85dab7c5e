type BufferConstructor = new (arrayBuffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer

/**
 * The class of Node's Buffers (what Buffer#subarray itself constructs,
 * through Buffer[Symbol.species]); Buffer.from when that is not one.
 */
const construct: (arrayBuffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer = (() => {
  const species: unknown = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species]
  try {
    if (typeof species === 'function') {
      const Species = species as BufferConstructor
      if (Buffer.isBuffer(new Species(new ArrayBuffer(1), 0, 1))) return (arrayBuffer, byteOffset, length) => new Species(arrayBuffer, byteOffset, length)
    }
  } catch {}
  return (arrayBuffer, byteOffset, length) => Buffer.from(arrayBuffer, byteOffset, length)
})()

/**
 * BufferViews: views of parts of one buffer, each what `buf.subarray(start,
 * end)` gives (the same bytes, not a copy), made for less. Per call,
 * subarray looks its constructor up (two generic property loads and a
 * getter) and reads `buf.buffer` through a runtime call: about 45 ns here,
 * against about 17 ns for a view of an ArrayBuffer and offset read once.
 * For code that cuts many messages out of one buffer.
 */
export class BufferViews {
  private readonly arrayBuffer: ArrayBufferLike
  private readonly byteOffset: number
  readonly length: number
  private data: DataView | null = null

  constructor (buf: Buffer) {
    this.arrayBuffer = buf.buffer
    this.byteOffset = buf.byteOffset
    this.length = buf.length
  }

  /** A DataView of exactly the buffer's bytes (its indices are the buffer's), made on first use. */
  get dataView (): DataView {
    return this.data ??= new DataView(this.arrayBuffer, this.byteOffset, this.length)
  }

  /** The bytes [start, end) of the buffer, as buf.subarray(start, end); a range outside it is a RangeError. */
  view (start: number, end: number): Buffer {
    if (!(start >= 0 && start <= end && end <= this.length)) throw new RangeError(`range ${start} to ${end} is outside a buffer of ${this.length} bytes`)
    return construct(this.arrayBuffer, this.byteOffset + start, end - start)
  }
}

/** The last `capacity` items pushed, oldest first; older ones are overwritten. */
export class RingBuffer<T> {
  readonly capacity: number
  private readonly items: T[] = []
  private next = 0

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, not ${capacity}`)
    this.capacity = capacity
  }

  get length (): number {
    return this.items.length
  }

  push (item: T): void {
    if (this.items.length < this.capacity) this.items.push(item)
    else this.items[this.next] = item
    this.next = (this.next + 1) % this.capacity
  }

  toArray (): T[] {
    if (this.items.length < this.capacity) return [...this.items]
    return [...this.items.slice(this.next), ...this.items.slice(0, this.next)]
  }
}

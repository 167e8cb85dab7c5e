/**
 * Which offsets a group read may commit, per partition, given what reached
 * stdout.
 *
 * A batch counts as delivered once its stdout write has completed. To a
 * file or a terminal that is the end of the matter. To a pipe or a socket a
 * completed write only means the kernel holds the bytes: the reader may exit
 * with them unread, in the pipe or in its own read buffer (`head -n 5` reads
 * a block and prints 5 lines of it). There a batch is committed only once
 * `trailBytes` more bytes have been written after it, which the reader must
 * have taken off the pipe, and read past, for those writes to complete.
 * `trailBytes` covers a default Linux pipe (64 KiB) or socket buffer and a
 * reader's read-ahead; a reader that enlarges its pipe weakens the guarantee.
 */
export class OutputCommits {
  private readonly trailBytes: number
  private readonly commit: (partition: number, offset: number) => void
  private written = 0
  /** Batches written and not committed: the byte count after each, its partition, and the offset after it. */
  private ends: Array<{ bytes: number, partition: number, offset: number }> = []
  private head = 0
  private readonly committed = new Map<number, number>()

  constructor (trailBytes: number, commit: (partition: number, offset: number) => void) {
    this.trailBytes = trailBytes
    this.commit = commit
  }

  /** A write of `bytes` bytes holding the messages of `partition` before `nextOffset` has completed. */
  delivered (partition: number, nextOffset: number, bytes: number): void {
    this.written += bytes
    this.ends.push({ bytes: this.written, partition, offset: nextOffset })
    const targets = new Map<number, number>()
    while (this.head < this.ends.length && this.ends[this.head].bytes + this.trailBytes <= this.written) {
      const end = this.ends[this.head++]
      targets.set(end.partition, end.offset)
    }
    if (this.head > 1024 && this.head * 2 > this.ends.length) {
      this.ends = this.ends.slice(this.head)
      this.head = 0
    }
    for (const [p, offset] of targets) this.send(p, offset)
  }

  /** The output ended as it should (not cut short): everything written counts as delivered. */
  complete (): void {
    const targets = new Map<number, number>()
    for (let i = this.head; i < this.ends.length; i++) targets.set(this.ends[i].partition, this.ends[i].offset)
    for (const [p, offset] of targets) this.send(p, offset)
    this.ends = []
    this.head = 0
  }

  private send (partition: number, offset: number): void {
    if (offset <= (this.committed.get(partition) ?? -1)) return
    this.committed.set(partition, offset)
    this.commit(partition, offset)
  }
}

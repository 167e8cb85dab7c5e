/**
 * Which offsets `fetch --follow` may commit, given what reached stdout.
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
  private readonly commit: (offset: number) => void
  private written = 0
  /** Batches written and not committed: the byte count after each, and the offset after it. */
  private ends: Array<{ bytes: number, offset: number }> = []
  private head = 0
  private committed = -1

  constructor (trailBytes: number, commit: (offset: number) => void) {
    this.trailBytes = trailBytes
    this.commit = commit
  }

  /** A write of `bytes` bytes holding the messages before `nextOffset` has completed. */
  delivered (nextOffset: number, bytes: number): void {
    this.written += bytes
    this.ends.push({ bytes: this.written, offset: nextOffset })
    let target = -1
    while (this.head < this.ends.length && this.ends[this.head].bytes + this.trailBytes <= this.written) {
      target = this.ends[this.head++].offset
    }
    if (this.head > 1024 && this.head * 2 > this.ends.length) {
      this.ends = this.ends.slice(this.head)
      this.head = 0
    }
    if (target >= 0) this.send(target)
  }

  /** The output ended as it should (not cut short): everything written counts as delivered. */
  complete (): void {
    if (this.head < this.ends.length) this.send(this.ends[this.ends.length - 1].offset)
    this.ends = []
    this.head = 0
  }

  private send (offset: number): void {
    if (offset <= this.committed) return
    this.committed = offset
    this.commit(offset)
  }
}

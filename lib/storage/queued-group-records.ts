/** A group record queued in a partition's writer, and the commits its write answers (in the order they were made). */
export interface QueuedGroupRecord<W> {
  record: Buffer
  waiters: W[]
}

/**
 * The group records a partition's writer holds queued and not yet taken by a
 * write batch, at most one per group. A commit of a group whose record is
 * still queued rewrites that record to its offset and is answered by the same
 * write, instead of queueing one more record. Replay keeps a group's last
 * record, and the records of one batch are written, or fail, together, so
 * the journal ends as it would with every record written. Entries hold for
 * one generation of the writer's queue: once a batch has taken a record, it
 * never changes again.
 */
export class QueuedGroupRecords<W> {
  private generation = -1
  private readonly byGroup = new Map<string, QueuedGroupRecord<W>>()

  /** `group`'s record queued in the writer's current `generation`, or null. */
  find (group: string, generation: number): QueuedGroupRecord<W> | null {
    if (generation !== this.generation) return null
    return this.byGroup.get(group) ?? null
  }

  /** `group`'s record was queued in `generation`. */
  add (group: string, generation: number, queued: QueuedGroupRecord<W>): void {
    if (generation !== this.generation) {
      this.byGroup.clear()
      this.generation = generation
    }
    this.byGroup.set(group, queued)
  }

  /** `queued`, `group`'s record, was written (or failed): it is let go, unless a later one has taken its place. */
  written (group: string, queued: QueuedGroupRecord<W>): void {
    if (this.byGroup.get(group) === queued) this.byGroup.delete(group)
  }

  /** A record of another kind for `group` was queued (a deletion, a follower's or a recovery's update): later commits queue after it. */
  forget (group: string): void {
    this.byGroup.delete(group)
  }
}

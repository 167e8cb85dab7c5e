import type { Partition } from '../storage/partition'

export interface PartitionGroupLag {
  group: string
  committedOffset: number
  lagMessages: number
  /** Age of the oldest unread message (now minus its stored timestamp), 0 when nothing is unread; null when it cannot be read. */
  lagSeconds: number | null
}

/** Stored timestamps remembered, by partition and offset: they never change, and the same offsets are asked for scrape after scrape. */
const CACHED_TIMESTAMPS = 10_000

/**
 * Consumer lag of a partition's groups, computed when asked (at scrape time),
 * never per message. Lag in messages is the high watermark minus the
 * committed offset; lag in seconds is the age of the first unread message,
 * from its stored timestamp (a committed offset below the partition's first,
 * deleted by retention, counts from the first message still held).
 */
export class GroupLag {
  private readonly timestamps = new Map<string, number>()
  private readonly ids = new WeakMap<Partition, number>()
  private nextId = 0

  async of (partition: Partition, now: number): Promise<PartitionGroupLag[]> {
    const end = partition.highWatermark()
    const out: PartitionGroupLag[] = []
    for (const { group, offset } of partition.groups.entries()) {
      const lagMessages = Math.max(0, end - offset)
      let lagSeconds: number | null = 0
      if (lagMessages > 0) {
        const ts = await this.timestampAt(partition, Math.max(offset, partition.firstOffset))
        lagSeconds = ts === null ? null : Math.max(0, (now - ts) / 1000)
      }
      out.push({ group, committedOffset: offset, lagMessages, lagSeconds })
    }
    return out
  }

  /** The stored timestamp (ms) of the message at `offset`, or null when it cannot be read (damaged, deleted meanwhile). */
  async timestampAt (partition: Partition, offset: number): Promise<number | null> {
    let id = this.ids.get(partition)
    if (id === undefined) {
      id = this.nextId++
      this.ids.set(partition, id)
    }
    const key = `${id}:${offset}`
    const known = this.timestamps.get(key)
    if (known !== undefined) return known
    let ts: number | null = null
    try {
      const [m] = await partition.read(offset, 1, 1)
      ts = m !== undefined && m.offset === offset ? m.timestamp : null
    } catch {
      return null
    }
    if (ts === null) return null
    if (this.timestamps.size >= CACHED_TIMESTAMPS) this.timestamps.delete(this.timestamps.keys().next().value as string)
    this.timestamps.set(key, ts)
    return ts
  }
}

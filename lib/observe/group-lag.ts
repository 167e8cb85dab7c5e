import type { Partition } from '../storage/partition'
import { groupStanding } from '../util/group-standing'

export interface PartitionGroupLag {
  group: string
  /** null: the group has committed nothing in this partition (it would read from the start). */
  committedOffset: number | null
  lagMessages: number
  /** Age of the oldest unread message (now minus its stored timestamp), 0 when nothing is unread; null when it cannot be read. */
  lagSeconds: number | null
}

/** Stored timestamps remembered, by partition and offset: they never change, and the same offsets are asked for scrape after scrape. */
const CACHED_TIMESTAMPS = 10_000

/**
 * Consumer lag of a partition's groups, computed when asked (at scrape time),
 * never per message. Lag in messages is what the group has still to read up
 * to the high watermark (see groupStanding: what retention deleted below the
 * first offset is not counted); lag in seconds is the age of the first
 * message it will read, from its stored timestamp.
 */
export class GroupLag {
  private readonly timestamps = new Map<string, number>()
  private readonly ids = new WeakMap<Partition, number>()
  private nextId = 0

  /** The groups that have committed in `partition`, and those of `alsoGroups` that have not (as from offset 0). */
  async of (partition: Partition, now: number, alsoGroups: Iterable<string> = []): Promise<PartitionGroupLag[]> {
    const out: PartitionGroupLag[] = []
    const committed = partition.groups.entries()
    const names = new Set(committed.map((g) => g.group))
    for (const { group, offset } of committed) out.push(await this.standing(partition, now, group, offset))
    for (const group of alsoGroups) {
      if (!names.has(group)) out.push(await this.standing(partition, now, group, null))
    }
    return out
  }

  private async standing (partition: Partition, now: number, group: string, committedOffset: number | null): Promise<PartitionGroupLag> {
    const from = Math.max(committedOffset ?? 0, partition.firstOffset)
    const lagMessages = groupStanding(partition.firstOffset, partition.highWatermark(), committedOffset ?? 0).lag
    let lagSeconds: number | null = 0
    if (lagMessages > 0) {
      const ts = await this.timestampAt(partition, from)
      lagSeconds = ts === null ? null : Math.max(0, (now - ts) / 1000)
    }
    return { group, committedOffset, lagMessages, lagSeconds }
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

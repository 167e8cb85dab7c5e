/**
 * A consumer group's standing in one partition. It reads on from its
 * committed offset (0 where it has committed nothing); what retention deleted
 * below the partition's first offset is never read: that is `lost`, not lag.
 * `lag` is what it has still to read, up to `endOffset`.
 */
export function groupStanding (firstOffset: number, endOffset: number, committed: number): { lag: number, lost: number } {
  return { lag: Math.max(0, endOffset - Math.max(committed, firstOffset)), lost: Math.max(0, firstOffset - committed) }
}

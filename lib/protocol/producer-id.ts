import { randomBytes } from 'node:crypto'

/** Producer ids are 1 to 2^53 - 1: exact as a JavaScript number and as the u64 of command 23. */
export const MAX_PRODUCER_ID = 2 ** 53 - 1

const LOW = 2 ** 32

/** A producer id drawn at random (a single node: two producers share one with odds about n^2 / 2^54 among n). */
export function randomProducerId (): number {
  for (;;) {
    const b = randomBytes(7)
    const id = (b[0] & 0x1f) * 2 ** 48 + b.readUIntBE(1, 6)
    if (id > 0) return id
  }
}

/**
 * A cluster's producer id: an etcd revision (unique for the life of the
 * etcd cluster) in the low 32 bits, and 21 random bits above it, so that ids
 * handed out after etcd was wiped and started over (its revisions begin
 * again) still differ from remembered ones but with odds of 2^-21.
 */
export function clusterProducerId (revision: number): number {
  const high = 1 + (randomBytes(3).readUIntBE(0, 3) % (2 ** 21 - 1))
  return high * LOW + (revision % LOW)
}

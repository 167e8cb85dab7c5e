import { crc32 } from '@node-rs/crc32'

/** Which partition each message goes to. */
export type Partitioner = () => number

/** Always `partition`. */
export function fixedPartition (partition: number): Partitioner {
  return () => partition
}

/** 0, 1, ..., count - 1, 0, ... from `start` on. */
export function roundRobin (count: number, start = 0): Partitioner {
  let next = start % count
  return () => {
    const p = next
    next = next + 1 === count ? 0 : next + 1
    return p
  }
}

/** The partition of a key: CRC-32 of its bytes modulo the partition count (librdkafka's "consistent" partitioner). */
export function keyPartition (key: Buffer | string, count: number): number {
  return crc32(typeof key === 'string' ? Buffer.from(key) : key) % count
}

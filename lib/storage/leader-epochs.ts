import * as fs from 'node:fs'
import * as path from 'node:path'
import { crc32c } from '../util/crc32c'
import { readU64, writeU64 } from '../util/u64'
import { replaceFile, type FileIo } from './file-io'
import type { Logger } from './segment'

export const LEADER_EPOCHS_FILE = 'leader-epochs'

export interface EpochStart { epoch: number, startOffset: number }

const RECORD = 16

/**
 * A replicated partition's leader epochs (Kafka's leader-epoch checkpoint,
 * KIP-101): for each epoch, the first offset written under it. A follower
 * asks the leader where its own latest epoch ended and truncates what it
 * holds past that, so a returning old leader never keeps messages the new
 * leader lacks.
 *
 * The file `leader-epochs` is a sequence of 16-byte records, epochs and
 * start offsets both ascending:
 *
 * | field        | size | meaning                                 |
 * |--------------|------|-----------------------------------------|
 * | epoch        | u32  | the leader epoch                        |
 * | start offset | u64  | the first offset written in that epoch  |
 * | crc32c       | u32  | CRC-32C of the 12 bytes before it       |
 *
 * Appends write one record and sync it. Truncation rewrites the file (a
 * temporary file, synced, renamed over, directory synced). On load, reading
 * stops at the first record cut short, failing its checksum or out of order;
 * what follows is reported and dropped from the file, so the cache only ever
 * loses its newest epochs (a follower then truncates to an earlier point and
 * fetches again: no message the leader has is lost).
 */
export class LeaderEpochs {
  private readonly file: string
  private readonly io: FileIo
  private entries: EpochStart[]

  private constructor (file: string, io: FileIo, entries: EpochStart[]) {
    this.file = file
    this.io = io
    this.entries = entries
  }

  static open (dir: string, io: FileIo, log: Logger): LeaderEpochs {
    const file = path.join(dir, LEADER_EPOCHS_FILE)
    const entries: EpochStart[] = []
    const stat = fs.lstatSync(file, { throwIfNoEntry: false })
    if (stat === undefined || !stat.isFile()) return new LeaderEpochs(file, io, entries)
    const buf = fs.readFileSync(file)
    let at = 0
    for (; at + RECORD <= buf.length; at += RECORD) {
      const epoch = buf.readUInt32BE(at)
      const startOffset = readU64(buf, at + 4)
      const last = entries[entries.length - 1]
      if (crc32c(buf, at, at + 12) !== buf.readUInt32BE(at + 12)) break
      if (last !== undefined && (epoch <= last.epoch || startOffset < last.startOffset)) break
      entries.push({ epoch, startOffset })
    }
    const epochs = new LeaderEpochs(file, io, entries)
    if (at !== buf.length) {
      log(`${file}: ${buf.length - at} bytes after the last intact record (epoch ${entries[entries.length - 1]?.epoch ?? 'none'}) dropped; the partition truncates to the leader's view when it next follows`)
      epochs.rewrite()
    }
    return epochs
  }

  get latest (): EpochStart | null {
    return this.entries[this.entries.length - 1] ?? null
  }

  list (): readonly EpochStart[] {
    return this.entries
  }

  /** Records that `epoch` starts at `startOffset` (a newer epoch than any here; a repeat of the latest is ignored). */
  assign (epoch: number, startOffset: number): void {
    const last = this.latest
    if (last !== null && epoch <= last.epoch) return
    if (last !== null && startOffset < last.startOffset) {
      throw new Error(`${this.file}: epoch ${epoch} would start at ${startOffset}, before epoch ${last.epoch} (${last.startOffset})`)
    }
    const record = Buffer.alloc(RECORD)
    record.writeUInt32BE(epoch, 0)
    writeU64(record, startOffset, 4)
    record.writeUInt32BE(crc32c(record, 0, 12), 12)
    const fd = this.io.open(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW)
    try {
      this.io.writev(fd, [record], this.entries.length * RECORD)
      this.io.fsyncPath(this.file)
    } finally {
      this.io.close(fd)
    }
    this.entries.push({ epoch, startOffset })
  }

  /**
   * Where `epoch` ended, as a leader answers a follower: the largest epoch at
   * or below it that this log knows, and the start of the epoch after that
   * (or `logEnd` when it is the latest). No known epoch: epoch -1, offset 0.
   */
  endOf (epoch: number, logEnd: number): { epoch: number, endOffset: number } {
    let i = this.entries.length - 1
    while (i >= 0 && this.entries[i].epoch > epoch) i--
    if (i < 0) return { epoch: -1, endOffset: this.entries[0]?.startOffset ?? 0 }
    const next = this.entries[i + 1]
    return { epoch: this.entries[i].epoch, endOffset: next === undefined ? logEnd : next.startOffset }
  }

  /** Forgets epochs that start at or after `offset` (the log was truncated there). */
  truncateFrom (offset: number): void {
    const kept = this.entries.filter((e) => e.startOffset < offset)
    if (kept.length === this.entries.length) return
    this.entries = kept
    this.rewrite()
  }

  private rewrite (): void {
    const buf = Buffer.alloc(this.entries.length * RECORD)
    this.entries.forEach((e, i) => {
      buf.writeUInt32BE(e.epoch, i * RECORD)
      writeU64(buf, e.startOffset, i * RECORD + 4)
      buf.writeUInt32BE(crc32c(buf, i * RECORD, i * RECORD + 12), i * RECORD + 12)
    })
    this.io.close(replaceFile(this.io, this.file, buf))
  }
}

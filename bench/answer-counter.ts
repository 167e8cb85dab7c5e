import { readU64 } from '../lib/util/u64'

/**
 * How a successful answer is framed (PROTOCOL.md and lib/protocol/encoder.ts):
 *
 * | shape  | success bytes                      | used by                           |
 * |--------|------------------------------------|-----------------------------------|
 * | ok     | u8 0                               | publish, ack, create              |
 * | sized  | u8 0, u64 size, body               | fetch                             |
 * | framed | u8 0, u32 size, body               | every command from 4 up           |
 *
 * An error is always `u8 1, u64 size, text`, whatever the shape.
 */
export type AnswerShape = 'ok' | 'sized' | 'framed'

/** Body bytes kept per answer: a messages header is u64 committed, u64 end, u32 count. */
const KEEP_BODY = 20
const KEEP_ERROR = 200

/**
 * Counts answers in a response stream without building an object per answer:
 * the header and the first bytes of each body are gathered into `head`, the
 * rest of the body is skipped in bulk. Runs of one-byte `ok` answers are
 * counted by a plain byte scan.
 *
 * The shape may only change while no answer is half read, which holds
 * whenever every request sent so far has been answered.
 */
export class AnswerCounter {
  shape: AnswerShape
  errors = 0
  firstError: string | null = null
  /** Header and first body bytes of the last complete successful answer. */
  readonly last = Buffer.alloc(5 + KEEP_BODY)
  /** Answers completed so far, errors included. */
  completed = 0
  /** Called as each answer completes (`ok`: a success, now in `last`), when set. */
  onAnswer: ((ok: boolean) => void) | null = null
  private readonly head = Buffer.alloc(9 + KEEP_ERROR)
  private headLen = 0
  private headNeed = 1
  private skip = 0
  /** Body bytes to skip once the kept ones are in. */
  private rest = 0
  private sizeKnown = false

  constructor (shape: AnswerShape) {
    this.shape = shape
  }

  /** Returns the number of answers completed by `chunk`. */
  feed (chunk: Buffer): number {
    let n = 0
    let at = 0
    const len = chunk.length
    while (at < len) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, len - at)
        this.skip -= k
        at += k
        if (this.skip === 0) {
          this.complete()
          n++
        }
        continue
      }
      if (this.headLen === 0 && this.shape === 'ok') {
        const start = at
        while (at < len && chunk[at] === 0) at++
        n += at - start
        if (at === len) break
      }
      const byte = chunk[at++]
      if (this.headLen === 0 && byte !== 0 && byte !== 1) throw new Error(`answer starts with byte ${byte}, expected 0 or 1`)
      this.head[this.headLen++] = byte
      if (this.headLen < this.headNeed) continue
      if (!this.sizeKnown) {
        const status = this.head[0]
        const headerSize = status === 1 || this.shape === 'sized' ? 9 : this.shape === 'framed' ? 5 : 1
        if (this.headLen < headerSize) {
          this.headNeed = headerSize
          continue
        }
        const body = headerSize === 1 ? 0 : headerSize === 9 ? readU64(this.head, 1) : this.head.readUInt32BE(1)
        if (!Number.isFinite(body)) throw new Error('answer size out of range')
        const keep = Math.min(body, status === 1 ? KEEP_ERROR : this.shape === 'framed' ? KEEP_BODY : 0)
        this.sizeKnown = true
        this.headNeed = headerSize + keep
        this.rest = body - keep
        if (keep > 0) continue
      }
      if (this.rest === 0) {
        this.complete()
        n++
      } else {
        this.skip = this.rest
        this.rest = 0
      }
    }
    return n
  }

  /** The committed offset, end offset and count of the last messages answer (fetch-batch). */
  lastMessages (): { committed: number, end: number, count: number } {
    return { committed: readU64(this.last, 5), end: readU64(this.last, 13), count: this.last.readUInt32BE(21) }
  }

  private complete (): void {
    const ok = this.head[0] !== 1
    if (!ok) {
      this.errors++
      this.firstError ??= this.head.toString('utf8', 9, this.headNeed)
    } else {
      this.head.copy(this.last, 0, 0, Math.min(this.headNeed, this.last.length))
    }
    this.headLen = 0
    this.headNeed = 1
    this.sizeKnown = false
    this.completed++
    this.onAnswer?.(ok)
  }
}

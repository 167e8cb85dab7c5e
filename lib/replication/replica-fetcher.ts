import { RogClient } from '../client/client'
import { RogError } from '../errors'
import type { FetchedMessage, ReplicaFetchPartition } from '../protocol/commands'
import type { Partition } from '../storage/partition'
import type { ProducerRecord } from '../storage/producer-state'

/** What a leader answers for one partition of a replica fetch (the JSON header of the answer). */
export interface ReplicaPartitionData {
  log: string
  partition: number
  /** Set when the leader refused this partition (not the leader, another epoch). */
  error?: string
  hw: number
  /** How many of the answer's messages are this partition's. */
  count: number
  epochs: Array<[number, number]>
  groups: Array<[string, number | null]>
  groupsVersion: number
  /** The leader instance that counted `groupsVersion`. */
  groupsOf?: string
  groupsFull: boolean
  /** Producer records of the batches whose last entry is among this partition's messages (see ProducerState). */
  producers?: ProducerRecord[]
}

export interface FetcherOptions {
  self: number
  /** The leader's address. */
  address: string
  waitMs: number
  maxBytes: number
  logLine: (line: string) => void
}

/** One partition this node follows from the fetcher's leader. */
interface Followed {
  log: string
  partition: number
  epoch: number
  target: Partition
  groupsVersion: number
  /** The leader instance whose versions `groupsVersion` counts. */
  groupsOf?: string
  /** Truncation to the leader's view is done; fetching may start. */
  ready: boolean
  /** Said once: the leader's log starts past this replica's end. */
  behindRetention?: boolean
  /** The leader refused it (its own view of the partition may lag etcd's): not fetched again before this time. */
  refusedUntil: number
}

const RETRY_MS = 200

/**
 * A follower's fetcher for every partition it follows from one leader node
 * (Kafka's ReplicaFetcherThread): one connection, one long-polled fetch at a
 * time covering all those partitions. For each partition it first asks the
 * leader where its own latest leader epoch ended and truncates past that
 * (KIP-101/KIP-279), then appends what the leader sends at the same
 * offsets, records the leader's epochs, takes the high watermark and applies
 * group offsets. Its next fetch offset tells the leader what it holds.
 */
export class ReplicaFetcher {
  private readonly options: FetcherOptions
  private readonly followed = new Map<string, Followed>()
  private client: RogClient | null = null
  private running = false
  private stopped = false
  private wakeLoop: (() => void) | null = null

  constructor (options: FetcherOptions) {
    this.options = options
  }

  get address (): string {
    return this.options.address
  }

  get size (): number {
    return this.followed.size
  }

  follow (log: string, partition: number, epoch: number, target: Partition): void {
    const key = `${log}/${partition}`
    const current = this.followed.get(key)
    if (current !== undefined && current.epoch === epoch && current.target === target) return
    this.followed.set(key, { log, partition, epoch, target, groupsVersion: 0, ready: false, refusedUntil: 0 })
    this.start()
  }

  unfollow (log: string, partition: number): void {
    this.followed.delete(`${log}/${partition}`)
  }

  stop (): void {
    this.stopped = true
    this.followed.clear()
    this.client?.destroy()
    this.wakeLoop?.()
  }

  private start (): void {
    this.wakeLoop?.()
    if (this.running) return
    this.running = true
    this.loop().catch((err: Error) => this.options.logLine(`replica fetcher for ${this.options.address} stopped: ${err.message}`)).finally(() => { this.running = false })
  }

  private async connection (): Promise<RogClient> {
    if (this.client !== null && !this.client.closed) return this.client
    this.client = await RogClient.connect(this.options.address, { connectTimeoutMs: 2000, requestTimeoutMs: 10_000 })
    return this.client
  }

  private async loop (): Promise<void> {
    while (!this.stopped && this.followed.size > 0) {
      try {
        const client = await this.connection()
        const now = Date.now()
        for (const f of [...this.followed.values()]) if (!f.ready && f.refusedUntil <= now) await this.truncate(client, f)
        const active = [...this.followed.values()].filter((f) => f.ready && f.refusedUntil <= now)
        if (active.length === 0) {
          await this.pause(RETRY_MS)
          continue
        }
        await this.fetch(client, active)
      } catch (err) {
        if (this.stopped) return
        this.client?.destroy()
        this.client = null
        await this.pause(RETRY_MS)
      }
    }
  }

  /** Truncates what this replica holds past where the leader's log and its own part (KIP-279). */
  private async truncate (client: RogClient, f: Followed): Promise<void> {
    const epochs = f.target.leaderEpochs()
    const mine = epochs.latest
    let to = f.target.endOffset
    if (mine !== null) {
      let answer
      try {
        answer = await client.request({ command: 'epoch-end', log: f.log, partition: f.partition, epoch: mine.epoch })
      } catch (err) {
        if (!(err instanceof RogError) || err.code === 'CONNECTION' || err.code === 'TIMEOUT') throw err
        // Not (yet) the leader in its own view: asked again shortly.
        f.refusedUntil = Date.now() + RETRY_MS
        return
      }
      if (answer.response !== 'json') throw new RogError('PROTOCOL', 'epoch-end answered with no JSON')
      const { epoch, endOffset } = JSON.parse(answer.body.toString()) as { epoch: number, endOffset: number }
      if (epoch < 0) to = Math.min(to, endOffset)
      else to = Math.min(endOffset, epochs.endOf(epoch, f.target.endOffset).endOffset)
    }
    if (this.followed.get(`${f.log}/${f.partition}`) !== f) return
    if (to < f.target.endOffset) await f.target.truncateTo(to)
    f.ready = true
  }

  private async fetch (client: RogClient, active: Followed[]): Promise<void> {
    const partitions: ReplicaFetchPartition[] = active.map((f) => ({ log: f.log, partition: f.partition, offset: f.target.endOffset, epoch: f.epoch, groupsVersion: f.groupsVersion, groupsOf: f.groupsOf }))
    const answer = await client.request({ command: 'replica-fetch', replica: this.options.self, waitMs: this.options.waitMs, maxBytes: this.options.maxBytes, partitions })
    if (answer.response !== 'replica-data') throw new RogError('PROTOCOL', 'replica-fetch answered with no data')
    const header = JSON.parse(answer.header.toString()) as { partitions: ReplicaPartitionData[] }
    let at = 0
    const applied: Array<Promise<void>> = []
    for (const [i, data] of header.partitions.entries()) {
      const messages = answer.messages.slice(at, at + data.count)
      at += data.count
      const f = active[i]
      if (f === undefined || this.followed.get(`${f.log}/${f.partition}`) !== f) continue
      if (data.error !== undefined) {
        f.refusedUntil = Date.now() + RETRY_MS
        // Asked again from the start: the leader may have moved on, and where the logs part with it.
        f.ready = false
        this.options.logLine(`partition ${f.partition} of log ${f.log}: leader ${this.options.address} refused a fetch at epoch ${f.epoch}: ${data.error}`)
        continue
      }
      applied.push(this.apply(f, messages, data))
    }
    await Promise.all(applied)
  }

  private async apply (f: Followed, messages: FetchedMessage[], data: ReplicaPartitionData): Promise<void> {
    const target = f.target
    if (messages.length > 0 && messages[0].offset > target.endOffset) {
      // The leader's retention deleted what this replica lacks: it cannot catch up by fetching (see docs/cluster.md).
      if (!f.behindRetention) this.options.logLine(`partition ${f.partition} of log ${f.log}: the leader's log starts at offset ${messages[0].offset}, past this replica's end ${target.endOffset} (its retention deleted the offsets between); this replica cannot catch up by fetching`)
      f.behindRetention = true
      f.refusedUntil = Date.now() + 10 * RETRY_MS
      return
    }
    if (messages.length > 0 && messages[0].offset === target.endOffset) {
      const entries = messages.map((m) => m.data)
      const records = Array.isArray(data.producers) ? data.producers : []
      const failed = await new Promise<RogError | null>((resolve) => target.appendReplica(entries, (err) => resolve(err), records))
      if (failed !== null) {
        // Nothing of it was appended (a damaged entry, or a write that failed here): asked again shortly, and said so.
        this.options.logLine(`partition ${f.partition} of log ${f.log}: could not append what leader ${this.options.address} sent from offset ${messages[0].offset}: ${failed.message}`)
        f.refusedUntil = Date.now() + RETRY_MS
        return
      }
    }
    const end = target.endOffset
    for (const [epoch, start] of data.epochs) if (start <= end) target.leaderEpochs().assign(epoch, start)
    target.setHighWatermark(data.hw)
    if (data.groupsFull) {
      const sent = new Set(data.groups.map(([g]) => g))
      for (const { group } of target.groups.entries()) if (!sent.has(group)) data.groups.push([group, null])
    }
    let all = true
    await Promise.all(data.groups.map(([group, offset]) => {
      if (offset !== null && offset > end) {
        all = false
        return undefined
      }
      if (offset === null && !target.groups.has(group)) return undefined
      return new Promise<void>((resolve) => target.applyReplicaGroup(group, offset, (err) => {
        if (err !== null) all = false
        resolve()
      }))
    }))
    if (all) {
      f.groupsVersion = data.groupsVersion
      f.groupsOf = data.groupsOf
    }
  }

  private async pause (ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done (): void {
        clearTimeout(timer)
        resolve()
      }
      this.wakeLoop = done
    })
    this.wakeLoop = null
  }
}

import * as fs from 'node:fs'
import * as path from 'node:path'
import { RogError } from '../errors'
import { CREATE_NEW, nodeFileIo, withoutPath, type FileIo } from './file-io'
import { FilePool, DEFAULT_MAX_OPEN_FILES } from './data-file'
import { isPartitionFile, Partition, type PartitionOptions } from './partition'
import type { Logger } from './segment'
import { RepeatLimiter } from '../util/repeat-limiter'
import type { FsyncPolicy } from './segment-writer'
import { isValidLogName } from './log-name'
import { BACKUP, importOriginalLayout } from './original-layout'
import { WriteArena } from './write-arena'

export { isValidLogName }

export interface StoreOptions {
  dataDir: string
  segmentBytes?: number
  fsync?: FsyncPolicy
  fsyncIntervalMs?: number
  io?: FileIo
  log?: Logger
  groupsCompactBytes?: number
  /** Most data-file descriptors open at once (default: half the process's limit, at most 4096). */
  maxOpenFiles?: number
  /** Server-wide retention defaults, for logs that set none (null: keep everything). */
  retentionBytes?: number | null
  retentionMs?: number | null
  /** How often retention runs (it also runs after each segment roll). */
  retentionCheckMs?: number
}

/** A log's own settings; null means the server default. */
export interface LogSettings { retentionBytes: number | null, retentionMs: number | null }

export interface LogDetails {
  log: string
  /** The effective retention (the log's own, else the server default; null: none). */
  retentionBytes: number | null
  retentionMs: number | null
  partitions: Array<{ partition: number, firstOffset: number, endOffset: number, bytes: number, groups: Array<{ group: string, offset: number }> }>
}

export interface LogInfo { log: string, partitions: number }

/** 64 MiB: a roll makes three files, which cost about a sixth of the server's CPU at 1 MiB under a pipelined load (docs/benchmark.md). */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
export const MAX_PARTITIONS = 255
export const PARTITION_NAME = /^(0|[1-9]\d{0,2})$/
/** A directory being created is named `<log>~new`; `~` never appears in a log name. */
export const CREATING = '~new'
/** A log being deleted is renamed `<log>~deleted` first, so a crash never leaves half a log that comes back. */
const DELETING = '~deleted'
/** A log's own settings, in its directory (written whole: temporary file, synced, renamed over). */
export const LOG_SETTINGS_FILE = 'log.json'
export const DEFAULT_RETENTION_CHECK_MS = 30_000
/** Names in the data directory that are Rog's own and not logs. */
const OWN_NAMES = new Set(['.lock'])

/**
 * Every log under the data directory: `<data>/<log>/<partition>/`, each
 * partition holding `<first id>.log` segments, their `.index` files, the
 * `groups.offsets` journal and its `recovery-point`. A log is created in
 * `<log>~new` and renamed into place when complete, so a crash never leaves
 * half a log.
 *
 * Only canonical names are data: a directory with a valid log name holding
 * partition directories `0` to `n-1`. Anything else in the data directory is
 * left alone with a warning: never deleted, renamed, followed or listed. A log
 * whose files cannot be served is listed as unavailable, with the reason in
 * the server log.
 */
export class Store {
  readonly dataDir: string
  private readonly logs = new Map<string, Partition[]>()
  private readonly unavailable = new Map<string, string>()
  private readonly creating = new Set<string>()
  private readonly settings = new Map<string, LogSettings>()
  private readonly options: Omit<PartitionOptions, 'label'>
  private readonly defaults: LogSettings
  private timer: NodeJS.Timeout | null = null
  private retentionTimer: NodeJS.Timeout | null = null
  private retaining: Promise<void> | null = null
  private retainAgain = false

  private readonly repeats: RepeatLimiter

  private constructor (dataDir: string, options: Omit<PartitionOptions, 'label'>, defaults: LogSettings, repeats: RepeatLimiter) {
    this.dataDir = dataDir
    this.options = options
    this.defaults = defaults
    this.repeats = repeats
  }

  static async open (opts: StoreOptions): Promise<Store> {
    const io = opts.io ?? nodeFileIo
    const base = opts.log ?? ((line) => process.stderr.write(`${line}\n`))
    const limiter = new RepeatLimiter(base)
    const log: Logger = (line, repeat) => {
      if (repeat === undefined) base(line)
      else limiter.say(repeat, line)
    }
    const options: Omit<PartitionOptions, 'label'> = {
      segmentBytes: opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      fsync: opts.fsync ?? 'always',
      pool: new FilePool(io, opts.maxOpenFiles ?? defaultMaxOpenFiles()),
      arena: new WriteArena(),
      log,
      groupsCompactBytes: opts.groupsCompactBytes
    }
    fs.mkdirSync(opts.dataDir, { recursive: true })
    await importOriginalLayout(opts.dataDir, log, io)
    const store = new Store(opts.dataDir, options, { retentionBytes: opts.retentionBytes ?? null, retentionMs: opts.retentionMs ?? null }, limiter)
    options.rolled = (p) => store.retainAfterRoll(p)
    for (const entry of fs.readdirSync(opts.dataDir, { withFileTypes: true })) {
      const name = entry.name
      const dir = path.join(opts.dataDir, name)
      if (OWN_NAMES.has(name) || name.startsWith('.lock.')) continue
      if (entry.isSymbolicLink()) {
        log(`${dir}: a symbolic link; Rog never follows links in its data directory, left alone`)
        continue
      }
      if (!entry.isDirectory()) {
        log(`${dir}: not a log, left alone`)
        continue
      }
      const leftover = [CREATING, DELETING].find((suffix) => name.endsWith(suffix) && isValidLogName(name.slice(0, -suffix.length)))
      if (leftover !== undefined) {
        const what = leftover === CREATING ? 'a log creation' : 'a log deletion'
        if (holdsOnlyRogFiles(dir)) {
          log(`${dir}: ${what} that did not finish; removing it`)
          fs.rmSync(dir, { recursive: true })
        } else {
          log(`${dir}: looks like ${what} that did not finish but holds files Rog does not make; left alone`)
        }
        continue
      }
      if (name.endsWith(BACKUP)) continue
      if (!isValidLogName(name)) {
        log(`${dir}: ${JSON.stringify(name)} is not a log name Rog serves (1-249 bytes of A-Z a-z 0-9 . _ -); left alone`)
        continue
      }
      await store.load(name, dir)
    }
    if (options.fsync === 'interval') {
      store.timer = setInterval(() => store.syncDirty(), opts.fsyncIntervalMs ?? 1000)
      store.timer.unref()
    }
    store.retentionTimer = setInterval(() => store.retain(), opts.retentionCheckMs ?? DEFAULT_RETENTION_CHECK_MS)
    store.retentionTimer.unref()
    store.retain()
    return store
  }

  /** Loads one log directory; a log that cannot be served is recorded as unavailable. */
  private async load (name: string, dir: string): Promise<void> {
    const log = this.options.log
    const count = partitionCount(dir, log)
    if (typeof count === 'string') {
      log(`${dir}: ${count}; left alone`)
      if (count.startsWith('not a log')) return
      this.unavailable.set(name, count)
      return
    }
    const partitions: Partition[] = []
    try {
      this.settings.set(name, readSettings(dir))
      for (let p = 0; p < count; p++) partitions.push(await Partition.open(path.join(dir, String(p)), this.partitionOptions(name, p)))
      this.logs.set(name, partitions)
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      log(`${dir}: cannot be served: ${reason}`)
      this.unavailable.set(name, reason)
      await Promise.all(partitions.map((p) => p.close()))
    }
  }

  private partitionOptions (log: string, partition: number): PartitionOptions {
    return { ...this.options, label: `Partition ${partition} of log ${log}`, where: { log, partition } }
  }

  async createLog (name: string, partitions: number, settings: Partial<LogSettings> = {}): Promise<void> {
    if (!isValidLogName(name)) throw RogError.badLogName(name)
    if (this.logs.has(name) || this.creating.has(name) || this.unavailable.has(name)) throw RogError.logExists(name)
    if (partitions < 1) throw RogError.badPartitionCount()
    if (partitions > MAX_PARTITIONS) throw RogError.tooManyPartitions()
    const dir = path.join(this.dataDir, name)
    if (fs.lstatSync(dir, { throwIfNoEntry: false }) !== undefined) {
      this.options.log(`${dir}: create-log ${name} refused, something that is not a Rog log already has that name`)
      throw RogError.logExists(name)
    }
    this.creating.add(name)
    const tmp = path.join(this.dataDir, name + CREATING)
    let renamed = false
    try {
      await fs.promises.rm(tmp, { recursive: true, force: true })
      for (let p = 0; p < partitions; p++) {
        await fs.promises.mkdir(path.join(tmp, String(p)), { recursive: true })
        Partition.init(path.join(tmp, String(p)), this.options.pool)
      }
      const own = { retentionBytes: settings.retentionBytes ?? null, retentionMs: settings.retentionMs ?? null }
      if (own.retentionBytes !== null || own.retentionMs !== null) writeSettings(this.options.pool.io, tmp, own)
      if (this.options.fsync !== 'never') for (let p = 0; p < partitions; p++) this.options.pool.io.fsyncPath(path.join(tmp, String(p)))
      await fs.promises.rename(tmp, dir)
      renamed = true
      if (this.options.fsync !== 'never') this.options.pool.io.fsyncPath(this.dataDir)
      const opened: Partition[] = []
      try {
        for (let p = 0; p < partitions; p++) opened.push(await Partition.open(path.join(dir, String(p)), this.partitionOptions(name, p)))
      } catch (err) {
        await Promise.all(opened.map((p) => p.close()))
        throw err
      }
      this.settings.set(name, own)
      this.logs.set(name, opened)
    } catch (err) {
      // Nothing was written to it yet: the directory this call made is removed, whichever name it has.
      await fs.promises.rm(renamed ? dir : tmp, { recursive: true, force: true }).catch(() => {})
      this.options.log(`${dir}: creating log ${name} failed: ${err instanceof Error ? err.message : String(err)}`)
      throw err instanceof RogError ? err : RogError.storage(`creating log ${name}`, withoutPath(err))
    } finally {
      this.creating.delete(name)
    }
    this.options.log(`${dir}: log ${name} created with ${partitions} partition${partitions === 1 ? '' : 's'}`)
  }

  /**
   * Changes a live log: its retention (null: back to the server default) and
   * its partition count, which only grows (a new partition is made in
   * `<p>~new` and renamed into place).
   */
  async alterLog (name: string, change: { partitions?: number, retentionBytes?: number | null, retentionMs?: number | null }): Promise<void> {
    const partitions = this.partitions(name)
    const dir = path.join(this.dataDir, name)
    if (change.partitions !== undefined) {
      if (change.partitions < partitions.length) throw RogError.partitionsOnlyGrow(name, partitions.length)
      if (change.partitions > MAX_PARTITIONS) throw RogError.tooManyPartitions()
    }
    const current = this.settings.get(name) ?? { retentionBytes: null, retentionMs: null }
    const next: LogSettings = {
      retentionBytes: change.retentionBytes === undefined ? current.retentionBytes : change.retentionBytes,
      retentionMs: change.retentionMs === undefined ? current.retentionMs : change.retentionMs
    }
    try {
      if (next.retentionBytes !== current.retentionBytes || next.retentionMs !== current.retentionMs) {
        writeSettings(this.options.pool.io, dir, next)
        this.settings.set(name, next)
      }
      for (let p = partitions.length; p < (change.partitions ?? 0); p++) {
        const pdir = path.join(dir, String(p))
        const tmp = pdir + CREATING
        await fs.promises.rm(tmp, { recursive: true, force: true })
        await fs.promises.mkdir(tmp)
        Partition.init(tmp, this.options.pool)
        if (this.options.fsync !== 'never') this.options.pool.io.fsyncPath(tmp)
        await fs.promises.rename(tmp, pdir)
        if (this.options.fsync !== 'never') this.options.pool.io.fsyncPath(dir)
        partitions.push(await Partition.open(pdir, this.partitionOptions(name, p)))
      }
    } catch (err) {
      this.options.log(`${dir}: altering log ${name} failed: ${err instanceof Error ? err.message : String(err)}`)
      throw err instanceof RogError ? err : RogError.storage(`altering log ${name}`, err)
    }
    this.retain()
  }

  /**
   * Deletes a log and all its data: its long polls are answered at once and
   * later requests are told it does not exist; once its writes are done it is
   * renamed `<log>~deleted` (the point of no return, synced) and removed.
   */
  async deleteLog (name: string): Promise<void> {
    const partitions = this.partitions(name)
    this.logs.delete(name)
    this.settings.delete(name)
    for (const p of partitions) p.markDeleted(RogError.noLog(name))
    await Promise.all(partitions.map((p) => p.close()))
    const dir = path.join(this.dataDir, name)
    const doomed = dir + DELETING
    try {
      await fs.promises.rm(doomed, { recursive: true, force: true })
      await fs.promises.rename(dir, doomed)
      if (this.options.fsync !== 'never') this.options.pool.io.fsyncPath(this.dataDir)
    } catch (err) {
      this.options.log(`${dir}: deleting log ${name} failed: ${err instanceof Error ? err.message : String(err)}; it is served again after a restart`)
      throw RogError.storage(`deleting log ${name}`, err)
    }
    await fs.promises.rm(doomed, { recursive: true, force: true }).catch((err: Error) => this.options.log(`${doomed}: ${err.message}; removed at the next start`))
    this.options.log(`${dir}: log ${name} deleted`)
  }

  /** Deletes a consumer group from every partition of a log; an error when no partition knows it. */
  async deleteGroup (log: string, group: string): Promise<void> {
    const partitions = this.partitions(log).filter((p) => p.groups.has(group))
    if (partitions.length === 0) throw RogError.noGroup(log, group)
    await Promise.all(partitions.map((p) => new Promise<void>((resolve, reject) => p.deleteGroup(group, (err) => err === null ? resolve() : reject(err)))))
  }

  /** A log's own settings, each falling back to the server's default. */
  private effective (name: string): LogSettings {
    const own = this.settings.get(name)
    return { retentionBytes: own?.retentionBytes ?? this.defaults.retentionBytes, retentionMs: own?.retentionMs ?? this.defaults.retentionMs }
  }

  /** A log's effective settings and, per partition, its offsets, size and groups. */
  describe (name: string): LogDetails {
    return {
      log: name,
      ...this.effective(name),
      partitions: this.partitions(name).map((p, partition) => ({
        partition,
        firstOffset: p.firstOffset,
        endOffset: p.highWatermark(),
        bytes: p.sizeBytes,
        groups: p.groups.entries()
      }))
    }
  }

  /** Retention for the partition that just rolled, at once: it keeps a partition's disk use within its limit plus about two segments. */
  retainAfterRoll (partition: Partition): void {
    for (const [name, partitions] of this.logs) {
      if (!partitions.includes(partition)) continue
      const { retentionBytes, retentionMs } = this.effective(name)
      if (retentionBytes === null && retentionMs === null) return
      partition.enforceRetention(retentionBytes, retentionMs, Date.now()).catch((err: Error) => this.options.log(`${partition.dir}: retention failed: ${err.message}`))
      return
    }
  }

  /** Runs retention over every partition now (one pass at a time; a request during a pass runs another after it). */
  retain (): void {
    if (this.retaining !== null) {
      this.retainAgain = true
      return
    }
    this.retaining = (async () => {
      do {
        this.retainAgain = false
        const now = Date.now()
        for (const [name, partitions] of [...this.logs]) {
          const { retentionBytes, retentionMs } = this.effective(name)
          if (retentionBytes === null && retentionMs === null) continue
          for (const p of partitions) {
            // Deleted (and perhaps made again) while the pass was on an earlier log.
            if (this.logs.get(name) !== partitions) break
            try {
              await p.enforceRetention(retentionBytes, retentionMs, now)
            } catch (err) {
              this.options.log(`${p.dir}: retention failed: ${(err as Error).message}`)
            }
          }
        }
      } while (this.retainAgain)
    })().finally(() => { this.retaining = null })
  }

  has (log: string): boolean {
    return this.logs.has(log)
  }

  partition (log: string, partition: number): Partition {
    const partitions = this.partitions(log)
    if (partition >= partitions.length) throw RogError.badPartition(partition, log, partitions.length)
    return partitions[partition]
  }

  partitions (log: string): Partition[] {
    const partitions = this.logs.get(log)
    if (partitions !== undefined) return partitions
    if (this.unavailable.has(log)) throw RogError.logUnavailable(log)
    throw RogError.noLog(log)
  }

  listLogs (): LogInfo[] {
    return [...this.logs].map(([log, partitions]) => ({ log, partitions: partitions.length }))
      .sort((a, b) => a.log < b.log ? -1 : a.log > b.log ? 1 : 0)
  }

  /** Logs found on disk that cannot be served, with the reason. */
  unavailableLogs (): Array<{ log: string, reason: string }> {
    return [...this.unavailable].map(([log, reason]) => ({ log, reason }))
  }

  /** Answers every waiting long poll now (shutdown). */
  wakeWaiters (): void {
    for (const partitions of this.logs.values()) for (const p of partitions) p.wakeAll()
  }

  private syncDirty (): void {
    for (const partitions of this.logs.values()) for (const p of partitions) p.syncDirty()
  }

  async close (): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer)
    await this.retaining
    const all = [...this.logs.values()].flat()
    this.logs.clear()
    await Promise.all(all.map((p) => p.close()))
    this.repeats.flush()
  }
}

/** The number of partitions of a log directory, or why it is not one Rog can serve. */
function partitionCount (dir: string, log: Logger): number | string {
  const found = new Set<number>()
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.name === LOG_SETTINGS_FILE || entry.name === `${LOG_SETTINGS_FILE}.tmp`) continue
    if (entry.name.endsWith(CREATING) && PARTITION_NAME.test(entry.name.slice(0, -CREATING.length)) && entry.isDirectory() && !entry.isSymbolicLink()) {
      log(`${file}: a partition being added when the server stopped; removing it`)
      fs.rmSync(file, { recursive: true })
      continue
    }
    if (!PARTITION_NAME.test(entry.name)) {
      log(`${file}: not a partition, left alone`)
      continue
    }
    if (entry.isSymbolicLink()) return `partition ${file} is a symbolic link, which Rog never follows`
    if (!entry.isDirectory()) {
      log(`${file}: not a directory, left alone`)
      continue
    }
    // Rog makes a partition with its files in it (under another name, then renamed): an empty one is not Rog's.
    if (fs.readdirSync(file).length === 0) {
      log(`${file}: an empty directory, not a partition Rog made; left alone`)
      continue
    }
    found.add(Number(entry.name))
  }
  if (found.size === 0) return 'not a log: it holds no partition directory'
  for (let p = 0; p < found.size; p++) {
    if (!found.has(p)) return `partition ${p} is missing (found ${[...found].sort((a, b) => a - b).join(', ')})`
  }
  if (found.size > MAX_PARTITIONS) return `${found.size} partitions, more than ${MAX_PARTITIONS}`
  return found.size
}

/** Whether a directory holds only partition directories of Rog's files (what a log creation makes). */
function holdsOnlyRogFiles (dir: string): boolean {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === LOG_SETTINGS_FILE && entry.isFile()) continue
    if (!PARTITION_NAME.test(entry.name) || !entry.isDirectory()) return false
    for (const file of fs.readdirSync(path.join(dir, entry.name), { withFileTypes: true })) {
      if (!file.isFile() || !isPartitionFile(file.name)) return false
    }
  }
  return true
}

/** A log's own settings from its directory (none: the server defaults). */
function readSettings (dir: string): LogSettings {
  const file = path.join(dir, LOG_SETTINGS_FILE)
  if (fs.lstatSync(file, { throwIfNoEntry: false })?.isFile() !== true) return { retentionBytes: null, retentionMs: null }
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LogSettings>
  const limit = (v: unknown): number | null => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null
  return { retentionBytes: limit(parsed.retentionBytes), retentionMs: limit(parsed.retentionMs) }
}

function writeSettings (io: FileIo, dir: string, settings: LogSettings): void {
  const file = path.join(dir, LOG_SETTINGS_FILE)
  const tmp = `${file}.tmp`
  fs.rmSync(tmp, { force: true })
  const fd = io.open(tmp, CREATE_NEW)
  try {
    io.writev(fd, [Buffer.from(JSON.stringify(settings, null, 2) + '\n')], 0)
  } finally {
    io.close(fd)
  }
  io.fsyncPath(tmp)
  fs.renameSync(tmp, file)
  io.fsyncPath(dir)
}

/** Half the process's descriptor limit (Linux: /proc/self/limits), so sockets keep the rest. */
function defaultMaxOpenFiles (): number {
  try {
    const limits = fs.readFileSync('/proc/self/limits', 'utf8')
    const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1])
    if (Number.isFinite(soft) && soft > 0) return Math.min(4096, Math.max(32, Math.floor(soft / 2)))
  } catch {}
  return DEFAULT_MAX_OPEN_FILES
}

import * as fs from 'node:fs'
import * as path from 'node:path'
import { RogError } from '../errors'
import { nodeFileIo, withoutPath, type FileIo } from './file-io'
import { FilePool, DEFAULT_MAX_OPEN_FILES } from './data-file'
import { Partition, type PartitionOptions } from './partition'
import type { Logger } from './segment'
import type { FsyncPolicy } from './segment-writer'

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
}

export interface LogInfo { log: string, partitions: number }

export const DEFAULT_SEGMENT_BYTES = 1024 * 1024
export const MAX_PARTITIONS = 255
const LOG_NAME = /^[A-Za-z0-9._-]{1,249}$/
export const PARTITION_NAME = /^(0|[1-9]\d{0,2})$/
/** A directory being created is named `<log>~new`; `~` never appears in a log name. */
export const CREATING = '~new'
/** Names in the data directory that are Rog's own and not logs. */
const OWN_NAMES = new Set(['.lock'])

export function isValidLogName (name: string): boolean {
  return LOG_NAME.test(name) && name !== '.' && name !== '..'
}

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
  private readonly options: Omit<PartitionOptions, 'label'>
  private timer: NodeJS.Timeout | null = null

  private constructor (dataDir: string, options: Omit<PartitionOptions, 'label'>) {
    this.dataDir = dataDir
    this.options = options
  }

  static async open (opts: StoreOptions): Promise<Store> {
    const io = opts.io ?? nodeFileIo
    const log = opts.log ?? ((line) => process.stderr.write(`${line}\n`))
    const options = {
      segmentBytes: opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      fsync: opts.fsync ?? 'always',
      pool: new FilePool(io, opts.maxOpenFiles ?? defaultMaxOpenFiles()),
      log,
      groupsCompactBytes: opts.groupsCompactBytes
    }
    fs.mkdirSync(opts.dataDir, { recursive: true })
    const store = new Store(opts.dataDir, options)
    for (const entry of fs.readdirSync(opts.dataDir, { withFileTypes: true })) {
      const name = entry.name
      const dir = path.join(opts.dataDir, name)
      if (OWN_NAMES.has(name)) continue
      if (entry.isSymbolicLink()) {
        log(`${dir}: a symbolic link; Rog never follows links in its data directory, left alone`)
        continue
      }
      if (!entry.isDirectory()) {
        log(`${dir}: not a log, left alone`)
        continue
      }
      if (name.endsWith(CREATING) && isValidLogName(name.slice(0, -CREATING.length))) {
        if (holdsOnlyRogFiles(dir)) {
          log(`${dir}: a log creation that did not finish; removing it`)
          fs.rmSync(dir, { recursive: true })
        } else {
          log(`${dir}: looks like an unfinished log creation but holds files Rog does not make; left alone`)
        }
        continue
      }
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
    return { ...this.options, label: `Partition ${partition} of log ${log}` }
  }

  async createLog (name: string, partitions: number): Promise<void> {
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
      this.logs.set(name, opened)
    } catch (err) {
      // Nothing was written to it yet: the directory this call made is removed, whichever name it has.
      await fs.promises.rm(renamed ? dir : tmp, { recursive: true, force: true }).catch(() => {})
      this.options.log(`${dir}: creating log ${name} failed: ${err instanceof Error ? err.message : String(err)}`)
      throw err instanceof RogError ? err : RogError.storage(`creating log ${name}`, withoutPath(err))
    } finally {
      this.creating.delete(name)
    }
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
    const all = [...this.logs.values()].flat()
    this.logs.clear()
    await Promise.all(all.map((p) => p.close()))
  }
}

/** The number of partitions of a log directory, or why it is not one Rog can serve. */
function partitionCount (dir: string, log: Logger): number | string {
  const found = new Set<number>()
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (!PARTITION_NAME.test(entry.name)) {
      log(`${file}: not a partition, left alone`)
      continue
    }
    if (entry.isSymbolicLink()) return `partition ${file} is a symbolic link, which Rog never follows`
    if (!entry.isDirectory()) {
      log(`${file}: not a directory, left alone`)
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
    if (!PARTITION_NAME.test(entry.name) || !entry.isDirectory()) return false
    for (const file of fs.readdirSync(path.join(dir, entry.name), { withFileTypes: true })) {
      if (!file.isFile() || !/^(0\.(log|index)|groups\.offsets|recovery-point)$/.test(file.name)) return false
    }
  }
  return true
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

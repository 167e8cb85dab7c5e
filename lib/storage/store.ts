import * as fs from 'node:fs'
import * as path from 'node:path'
import { RogError } from '../errors'
import type { LogInfo } from '../protocol/commands'
import { nodeFileIo, type FileIo } from './file-io'
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
}

export const DEFAULT_SEGMENT_BYTES = 1024 * 1024
const LOG_NAME = /^[A-Za-z0-9._-]{1,249}$/
/** A directory being created is named `<log>~new`; `~` never appears in a log name. */
const CREATING = '~new'

export function isValidLogName (name: string): boolean {
  return LOG_NAME.test(name) && name !== '.' && name !== '..'
}

/**
 * Every log under the data directory: `<data>/<log>/<partition>/`, each
 * partition holding `<first id>.log` segments, their `.index` files and the
 * `groups.offsets` journal. A log is created in `<log>~new` and renamed into
 * place when complete, so a crash never leaves half a log.
 */
export class Store {
  readonly dataDir: string
  private readonly logs = new Map<string, Partition[]>()
  private readonly creating = new Set<string>()
  private readonly options: PartitionOptions
  private timer: NodeJS.Timeout | null = null

  private constructor (dataDir: string, options: PartitionOptions) {
    this.dataDir = dataDir
    this.options = options
  }

  static async open (opts: StoreOptions): Promise<Store> {
    const options: PartitionOptions = {
      segmentBytes: opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      fsync: opts.fsync ?? 'always',
      io: opts.io ?? nodeFileIo,
      log: opts.log ?? ((line) => process.stderr.write(`${line}\n`)),
      groupsCompactBytes: opts.groupsCompactBytes
    }
    fs.mkdirSync(opts.dataDir, { recursive: true })
    const store = new Store(opts.dataDir, options)
    for (const entry of fs.readdirSync(opts.dataDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue
      const dir = path.join(opts.dataDir, entry.name)
      if (entry.name.endsWith(CREATING)) {
        options.log(`removing ${dir}: a log creation that did not finish`)
        fs.rmSync(dir, { recursive: true, force: true })
        continue
      }
      if (!isValidLogName(entry.name)) continue
      store.logs.set(entry.name, await openPartitions(dir, options))
    }
    if (options.fsync === 'interval') {
      store.timer = setInterval(() => store.syncDirty(), opts.fsyncIntervalMs ?? 1000)
      store.timer.unref()
    }
    return store
  }

  async createLog (name: string, partitions: number): Promise<void> {
    if (!isValidLogName(name)) throw RogError.badLogName(name)
    if (this.logs.has(name) || this.creating.has(name)) throw RogError.logExists(name)
    if (partitions < 1) throw RogError.badPartitionCount()
    if (partitions > 255) throw RogError.tooManyPartitions()
    this.creating.add(name)
    try {
      const tmp = path.join(this.dataDir, name + CREATING)
      const dir = path.join(this.dataDir, name)
      await fs.promises.rm(tmp, { recursive: true, force: true })
      for (let p = 0; p < partitions; p++) {
        await fs.promises.mkdir(path.join(tmp, String(p)), { recursive: true })
        Partition.init(path.join(tmp, String(p)))
      }
      await fs.promises.rename(tmp, dir)
      if (this.options.fsync !== 'never') syncDir(this.dataDir)
      this.logs.set(name, await openPartitions(dir, this.options))
    } catch (err) {
      throw err instanceof RogError ? err : RogError.storage(`creating log ${name}`, err)
    } finally {
      this.creating.delete(name)
    }
  }

  partition (log: string, partition: number): Partition {
    const partitions = this.logs.get(log)
    if (partitions === undefined) throw RogError.noLog(log)
    if (partition >= partitions.length) throw RogError.badPartition(partition, log, partitions.length)
    return partitions[partition]
  }

  partitions (log: string): Partition[] {
    const partitions = this.logs.get(log)
    if (partitions === undefined) throw RogError.noLog(log)
    return partitions
  }

  listLogs (): LogInfo[] {
    return [...this.logs].map(([log, partitions]) => ({ log, partitions: partitions.length }))
      .sort((a, b) => a.log < b.log ? -1 : a.log > b.log ? 1 : 0)
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

async function openPartitions (dir: string, options: PartitionOptions): Promise<Partition[]> {
  const count = fs.readdirSync(dir).filter((f) => /^\d+$/.test(f)).length
  const partitions: Partition[] = []
  for (let p = 0; p < count; p++) {
    const pdir = path.join(dir, String(p))
    if (!fs.existsSync(pdir)) {
      fs.mkdirSync(pdir)
      options.log(`${pdir}: partition directory was missing, created it empty`)
    }
    partitions.push(await Partition.open(pdir, options))
  }
  return partitions
}

function syncDir (dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
}

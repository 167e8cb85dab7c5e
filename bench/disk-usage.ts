import * as fs from 'node:fs'
import * as path from 'node:path'

export interface DirSize {
  /** Bytes allocated on disk (st_blocks x 512, what du counts). */
  allocated: number
  /** Sum of the files' sizes. */
  apparent: number
  /** Sum of the segment files' (`*.log`) sizes: what retention.bytes limits. */
  segments: number
  files: number
}

/** The files directly in `dir` (a partition directory has no subdirectories); a file removed while it is read is skipped. */
export function dirSize (dir: string): DirSize {
  const out: DirSize = { allocated: 0, apparent: 0, segments: 0, files: 0 }
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch {
    return out
  }
  for (const name of names) {
    const st = fs.lstatSync(path.join(dir, name), { throwIfNoEntry: false })
    if (st === undefined || !st.isFile()) continue
    out.allocated += st.blocks * 512
    out.apparent += st.size
    if (name.endsWith('.log')) out.segments += st.size
    out.files++
  }
  return out
}

export interface PeakDirSize {
  /** The largest allocated total seen, and the largest apparent one (not necessarily at the same sample). */
  peakAllocated: number
  peakApparent: number
  peakSegments: number
  peakFiles: number
  samples: number
  intervalMs: number
}

/**
 * Samples a directory's size every `intervalMs` from start() to stop(), at
 * most `maxSamples` times (then it stops sampling on its own). A peak that
 * comes and goes between two samples is not seen.
 */
export class DirSampler {
  private readonly dir: string
  private readonly intervalMs: number
  private readonly maxSamples: number
  private timer: NodeJS.Timeout | null = null
  private readonly peak: PeakDirSize

  constructor (dir: string, intervalMs: number, maxSamples: number) {
    this.dir = dir
    this.intervalMs = intervalMs
    this.maxSamples = maxSamples
    this.peak = { peakAllocated: 0, peakApparent: 0, peakSegments: 0, peakFiles: 0, samples: 0, intervalMs }
  }

  start (): void {
    this.sample()
    this.timer = setInterval(() => {
      this.sample()
      if (this.peak.samples >= this.maxSamples) this.halt()
    }, this.intervalMs)
  }

  /** Stops sampling (one last sample first) and returns the peaks. */
  stop (): PeakDirSize {
    if (this.timer !== null) this.sample()
    this.halt()
    return { ...this.peak }
  }

  private halt (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  private sample (): void {
    const s = dirSize(this.dir)
    this.peak.peakAllocated = Math.max(this.peak.peakAllocated, s.allocated)
    this.peak.peakApparent = Math.max(this.peak.peakApparent, s.apparent)
    this.peak.peakSegments = Math.max(this.peak.peakSegments, s.segments)
    this.peak.peakFiles = Math.max(this.peak.peakFiles, s.files)
    this.peak.samples++
  }
}

import type { LatencySummary } from './latency'

/** One measured run, of Rog or of Redis. */
export interface Measured {
  messages: number
  /** Requests answered: the messages, or more when commits are mixed in (scenario 8). */
  requests: number
  seconds: number
  messagesPerSec: number
  requestsPerSec: number
  /** Payload megabytes (10^6 bytes) per second: messages x 100 bytes, not protocol bytes. */
  mbPerSec: number
  p50Ms: number | null
  p99Ms: number | null
  /** Peak resident memory of the server process during the run, MiB. */
  serverRssMb: number | null
  /** The time limit stopped the run before its count. */
  capped: boolean
  errors: number
}

/** Another Rog row of the same run that this one is compared with (scenarios 8 and 9). */
export interface Baseline {
  key: string
  /** How the table names that row: its scenario, a short name and its fsync mode. */
  label: string
  /** This row's rate over that row's, counted in `unit`. */
  ratio: number
  unit: 'req/s' | 'msg/s'
}

/** Bytes of a partition directory during a row (scenarios 3 and 9). */
export interface DiskFigures {
  /** Largest total allocated (st_blocks, what du counts) and largest sum of file sizes seen. */
  peakAllocatedBytes: number
  peakApparentBytes: number
  /** Largest sum of the segment files' (`*.log`) sizes seen: what retention.bytes counts. */
  peakSegmentBytes: number
  /** Samples taken, every `intervalMs` during the row and one after it; 1: measured once after the row (a log without retention only grows). */
  samples: number
  intervalMs: number | null
  /** The log's retention.bytes, or null. */
  retentionBytes: number | null
}

/** How the ISR of a cluster row's partition looked during the row (scenario 10), as the leader's view answered log-placement (command 18) every few hundred ms. */
export interface IsrFigures {
  samples: number
  /** Polls that got no answer within their timeout. */
  unanswered: number
  /** The smallest ISR seen, and in how many samples it was smaller than the replicas. */
  minIsr: number
  replicas: number
  shrunkSamples: number
  /** Milliseconds from the start of the row to the first sample with a smaller ISR, or null. */
  firstShrinkMs: number | null
  /** Leader epochs seen (more than one: leadership moved during the row). */
  epochs: number[]
}

export interface Row {
  scenario: string
  /** Stable id of the row: scenario, variant and fsync mode (s2-64-never). */
  key: string
  name: string
  fsync: string | null
  rog: Measured | null
  skipped: string | null
  /** The Redis load run right after this row, and its figures. */
  redisLabel: string | null
  redis: Measured | null
  redisSkipped: string | null
  /** Rog messages/s over Redis messages/s. */
  ratio: number | null
  baseline: Baseline | null
  disk: DiskFigures | null
  isr: IsrFigures | null
}

export function measured (messages: number, seconds: number, payloadBytes: number, latency: LatencySummary | null, rssMb: number | null, capped: boolean, errors: number, requests = messages): Measured {
  const rate = seconds > 0 ? messages / seconds : 0
  return {
    messages,
    requests,
    seconds,
    messagesPerSec: rate,
    requestsPerSec: seconds > 0 ? requests / seconds : 0,
    mbPerSec: (rate * payloadBytes) / 1e6,
    p50Ms: latency?.p50Ms ?? null,
    p99Ms: latency?.p99Ms ?? null,
    serverRssMb: rssMb,
    capped,
    errors
  }
}

function int (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function ms (n: number | null): string {
  if (n === null) return '-'
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)
}

const COLUMNS = ['#', 'scenario', 'fsync', 'messages', 'msg/s', 'MB/s', 'p50 ms', 'p99 ms', 'RSS MB', 'Redis (same load)', 'Redis msg/s', 'Redis p50/p99 ms', 'Redis RSS', 'Rog/Redis', 'disk MiB', 'vs Rog row (same run)']

function mib (bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1)
}

function cells (r: Row): string[] {
  const m = r.rog
  const base = [r.scenario, r.name, r.fsync ?? '-']
  if (m === null) return [r.scenario, `${r.name} (skipped: ${r.skipped ?? 'not run'})`, r.fsync ?? '-', ...new Array<string>(COLUMNS.length - 3).fill('-')]
  const x = r.redis
  return [
    ...base,
    int(m.messages) + (m.capped ? '*' : '') + (m.errors > 0 ? ` (${int(m.errors)} err)` : ''),
    int(m.messagesPerSec),
    m.mbPerSec.toFixed(1),
    ms(m.p50Ms),
    ms(m.p99Ms),
    m.serverRssMb === null ? '-' : m.serverRssMb.toFixed(0),
    r.redisLabel ?? '-',
    x === null ? (r.redisLabel === null ? '-' : 'skipped') : int(x.messagesPerSec),
    x === null ? '-' : `${ms(x.p50Ms)} / ${ms(x.p99Ms)}`,
    x?.serverRssMb == null ? '-' : x.serverRssMb.toFixed(0),
    r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`,
    r.disk === null ? '-' : mib(r.disk.peakAllocatedBytes),
    r.baseline === null ? '-' : `${r.baseline.ratio.toFixed(2)}x ${r.baseline.unit} of ${r.baseline.label}`
  ]
}

/** A Markdown table (readable as plain text too). */
export function formatTable (rows: Row[]): string {
  const body = rows.map(cells)
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...body.map((r) => r[i].length)))
  const right = new Set([3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14])
  const line = (r: string[]): string => `| ${r.map((c, i) => right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])).join(' | ')} |`
  const rule = `|${widths.map((w, i) => right.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2)).join('|')}|`
  return [line(COLUMNS), rule, ...body.map(line)].join('\n')
}

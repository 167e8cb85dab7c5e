import * as fs from 'node:fs'
import * as path from 'node:path'

/**
 * Self time per function in a V8 .cpuprofile (what `node --cpu-prof` writes):
 * each sample is charged to the node it hit, with the time delta that follows
 * it. Run directly to print a profile's top frames:
 *
 *   node dist/bench/profile-summary.js FILE.cpuprofile [TOP]
 */
interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
  children?: number[]
}
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export interface Frame { name: string, where: string, selfMs: number, percent: number }
export interface ProfileSummary { file: string, totalMs: number, idleMs: number, busyMs: number, top: Frame[] }

export function summarizeProfile (file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const n of profile.nodes) {
    byId.set(n.id, n)
    for (const c of n.children ?? []) parent.set(c, n.id)
  }
  /** Native and generated code has no URL: name the nearest caller that has one. */
  const caller = (id: number): string => {
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const f = byId.get(p)?.callFrame
      if (f !== undefined && f.url !== '') return ` <- ${f.functionName === '' ? '(anonymous)' : f.functionName} (${shortUrl(f.url)}:${f.lineNumber + 1})`
    }
    return ''
  }
  const self = new Map<string, { name: string, where: string, us: number }>()
  let total = 0
  let idle = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0
    const node = byId.get(profile.samples[i])
    if (node === undefined) continue
    total += us
    const { functionName, url, lineNumber } = node.callFrame
    const name = functionName === '' ? '(anonymous)' : functionName
    if (name === '(idle)') idle += us
    const where = url !== '' ? `${shortUrl(url)}:${lineNumber + 1}` : name.startsWith('(') && name !== '(anonymous)' ? '' : caller(node.id)
    const key = `${name}@${where}`
    const entry = self.get(key) ?? { name, where, us: 0 }
    entry.us += us
    self.set(key, entry)
  }
  const busy = total - idle
  const frames = [...self.values()]
    .filter((f) => f.name !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, percent: busy > 0 ? (100 * f.us) / busy : 0 }))
  return { file, totalMs: total / 1000, idleMs: idle / 1000, busyMs: busy / 1000, top: frames }
}

function shortUrl (url: string): string {
  const file = url.replace(/^file:\/\//, '')
  const dist = file.indexOf('/dist/')
  if (dist !== -1) return file.slice(dist + 1)
  const modules = file.lastIndexOf('/node_modules/')
  if (modules !== -1) return file.slice(modules + 1)
  return file.startsWith('node:') ? file : path.basename(file)
}

export function formatProfile (s: ProfileSummary): string {
  const lines = [
    `profile ${s.file}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(1)} s not idle; % is of the not-idle time`,
    '  self ms    %  function (where)'
  ]
  for (const f of s.top) {
    const where = f.where === '' ? '' : f.where.startsWith(' <- ') ? f.where : ` (${f.where})`
    lines.push(`${f.selfMs.toFixed(0).padStart(8)} ${f.percent.toFixed(1).padStart(5)}  ${f.name}${where}`)
  }
  return lines.join('\n')
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2)
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [TOP]\n')
    process.exit(2)
  }
  process.stdout.write(`${formatProfile(summarizeProfile(file, top === undefined ? 25 : Number(top)))}\n`)
}

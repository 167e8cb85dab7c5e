import * as fs from 'node:fs'
import * as path from 'node:path'
import type { Command, CommanderError } from 'commander'
import { verifyDataDir, type CheckItem, type PartitionReport, type Problem } from '../storage/verify'
import { writeOut } from './stdout'

/** Exit codes of `rog check`. */
const CLEAN = 0
const DAMAGED = 1
const USAGE = 2

export function checkCommand (program: Command): void {
  program.command('check')
    .summary('verify a data directory offline, reading only')
    .description('verify a data directory offline, reading only: every entry\'s checksum and offset, how segments follow on, every index entry, the group offsets and producers journals and the recovery point; exit 0 when clean, 1 when damage is found, 2 when it cannot check')
    .option('--data-dir <dir>', 'the data directory to check (default: $ROG_HOME, else ./rog-data)')
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? CLEAN : USAGE))
    .action(async (flags: { dataDir?: string }) => {
      const dataDir = path.resolve(flags.dataDir ?? process.env.ROG_HOME ?? 'rog-data')
      if (fs.statSync(dataDir, { throwIfNoEntry: false })?.isDirectory() !== true) return fail(`no data directory at ${dataDir}`)
      let partitions = 0
      let damaged = 0
      let problems = 0
      try {
        await writeOut(`rog check: ${dataDir}\n`)
        for await (const item of verifyDataDir(dataDir)) {
          if (item.type === 'partition') {
            partitions++
            if (item.report.problems.length > 0) damaged++
          }
          problems += item.type === 'partition' ? item.report.problems.length : item.problem === null ? 0 : 1
          await writeOut(formatItem(item))
        }
      } catch (err) {
        return fail(`could not finish the check: ${err instanceof Error ? err.message : String(err)}`)
      }
      await writeOut(`${count(partitions, 'partition')} checked: ${partitions - damaged} clean, ${damaged} damaged; ${problems === 0 ? 'no damage found' : `${count(problems, 'problem')} found`}\n`)
      process.exitCode = problems === 0 ? CLEAN : DAMAGED
    })
}

function fail (message: string): void {
  process.stderr.write(`rog check: ${message}\n`)
  process.exitCode = USAGE
}

function count (n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

function formatItem (item: CheckItem): string {
  if (item.type === 'other') return item.problem === null ? `${item.file}: ${item.note}\n` : `${item.file}: DAMAGED\n${formatProblem(item.problem)}`
  return formatPartition(item.report)
}

/**
 * One partition: a status line, what is fine (messages and their offsets,
 * segments, groups, recovery point), then each problem found and each note.
 */
function formatPartition (r: PartitionReport): string {
  const status = r.problems.length === 0 ? 'clean' : `DAMAGED, ${count(r.problems.length, 'problem')}`
  const messages = r.messages === 0 ? 'none' : `${r.messages} intact, offsets ${r.firstOffset} to ${r.lastOffset}`
  const legacy = r.legacySegments.length === 0 ? '' : ` (in the format of Rog 0.1: ${r.legacySegments.map((b) => `${b}.log`).join(', ')})`
  const groups = r.groups.length === 0 ? 'none' : r.groups.map((g) => `${JSON.stringify(g.group)} at ${g.offset}`).join(', ')
  const point = r.recoveryPoint === null ? 'none' : `${r.recoveryPoint.base}.log position ${r.recoveryPoint.position}`
  return [
    `${r.log}/${r.partition}: ${status}`,
    `  messages: ${messages}, in ${count(r.segments.length, 'segment')}${legacy}`,
    `  groups: ${groups}`,
    `  recovery point: ${point}`,
    ...r.problems.map((p) => formatProblem(p).trimEnd()),
    ...r.notes.map((n) => `  note: ${n}`)
  ].join('\n') + '\n'
}

function formatProblem (p: Problem): string {
  const offset = p.offset === undefined ? '' : `, offset ${p.offset}`
  return `  damaged: ${p.file} position ${p.position}${offset}: ${p.kind}: ${p.detail}\n`
}

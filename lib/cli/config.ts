import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type { Command, Option } from 'commander'

/**
 * The config file: $ROG_CONFIG (empty: none), else
 * $XDG_CONFIG_HOME/rog/config.json, else ~/.config/rog/config.json.
 */
export function configPath (env: NodeJS.ProcessEnv = process.env): { file: string | null, explicit: boolean } {
  if (env.ROG_CONFIG !== undefined) return { file: env.ROG_CONFIG === '' ? null : env.ROG_CONFIG, explicit: true }
  const base = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config')
  return { file: path.join(base, 'rog', 'config.json'), explicit: false }
}

type Value = string | number | boolean | Array<string | number>

/**
 * Long options read from a JSON file, as if given on the command line but
 * weaker than it and than the environment (ROG_ADDRESS):
 *
 *     { "address": ["10.0.0.1:7878", "10.0.0.2:7878"], "timeout": 5,
 *       "read": { "format": "%p:%o %s\n" } }
 *
 * A top-level key applies to every command that has that option; a key
 * named after a command holds options for that command alone, which win
 * over the top-level ones. A list is joined with commas (the address list);
 * true sets a flag. Options that conflict (--format, --json, -D) are taken
 * from the config only when the command line gives none of them, and two
 * that conflict in the config are an error.
 */
export function applyConfig (program: Command, env: NodeJS.ProcessEnv = process.env): void {
  const { file, explicit } = configPath(env)
  if (file === null || (!explicit && !fs.existsSync(file))) return
  let config: unknown
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`config file ${file}: ${(err as Error).message}`)
  }
  if (!isObject(config)) throw new Error(`config file ${file}: expected a JSON object of options`)
  const commands = new Map(program.commands.map((c) => [c.name(), c]))
  const deferred: Deferred[] = []
  // An option that conflicts with another is set once the command line is known: only when neither was given there.
  program.hook('preAction', (_program, action) => {
    const applied: Deferred[] = []
    for (const d of deferred) {
      if (d.command !== action || given(d.command, d.option)) continue
      if (conflicting(d.command, d.option).some((o) => given(d.command, o))) continue
      const clash = applied.find((a) => conflicting(d.command, d.option).includes(a.option))
      if (clash !== undefined) throw new Error(`config file ${file}: --${clash.option.name()} and --${d.option.name()} cannot be used together (for rog ${action.name()})`)
      d.command.setOptionValueWithSource(d.option.attributeName(), d.value, 'config')
      applied.push(d)
    }
  })
  const set = (command: Command, name: string, value: unknown, section = false): boolean => {
    const option = command.options.find((o: Option) => o.long === `--${name}`)
    if (option === undefined) return false
    const parsed = parse(option, `config file ${file}: --${name}`, value)
    // A list is frozen so that a repeatable option given on the command line replaces it (see partitionList).
    const frozen = Array.isArray(parsed) ? Object.freeze(parsed) : parsed
    const against = conflicting(command, option)
    // The command's own section replaces what the top level said of this option, or of one it conflicts with.
    for (let i = deferred.length - 1; i >= 0; i--) {
      const d = deferred[i]
      if (d.command === command && (d.option === option || (section && !d.section && against.includes(d.option)))) deferred.splice(i, 1)
    }
    if (against.length > 0) deferred.push({ command, option, value: frozen, section })
    else command.setOptionValueWithSource(option.attributeName(), frozen, 'config')
    return true
  }
  // Top-level keys first: a command's own section wins over them, wherever it stands in the file.
  const entries = Object.entries(config)
  const sections = entries.filter(([key, value]) => commands.has(key) && isObject(value))
  for (const [key, value] of entries) {
    if (sections.some(([k]) => k === key)) continue
    let used = set(program, key, value)
    for (const c of program.commands) used = set(c, key, value) || used
    if (!used) throw new Error(`config file ${file}: no command has an option --${key}`)
  }
  for (const [key, value] of sections) {
    const command = commands.get(key) as Command
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!set(command, k, v, true)) throw new Error(`config file ${file}: rog ${key} has no option --${k}`)
    }
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

interface Deferred { command: Command, option: Option, value: unknown, section: boolean }

/** The config's `value` for `option`, parsed as the command line's would be. */
function parse (option: Option, where: string, value: unknown): unknown {
  if (!option.required && !option.optional) {
    if (typeof value !== 'boolean') throw new Error(`${where}: expected true or false`)
    return value
  }
  if (!isValue(value)) throw new Error(`${where}: expected a string, a number or a list of them`)
  const text = Array.isArray(value) ? value.join(',') : String(value)
  let parsed: unknown
  try {
    parsed = option.parseArg !== undefined ? option.parseArg(text, undefined) : text
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`)
  }
  if (option.argChoices !== undefined && !option.argChoices.includes(text)) throw new Error(`${where}: expected one of ${option.argChoices.join(', ')}`)
  return parsed
}

/** The options of `command` that `option` conflicts with, either way. */
function conflicting (command: Command, option: Option): Option[] {
  const name = option.attributeName()
  return command.options.filter((o: Option) => o !== option && (conflictsOf(option).includes(o.attributeName()) || conflictsOf(o).includes(name)))
}

/** What `.conflicts()` was given: kept by commander in a field its typings leave out. */
function conflictsOf (option: Option): string[] {
  return (option as unknown as { conflictsWith?: string[] }).conflictsWith ?? []
}

/** Given on the command line or in the environment. */
function given (command: Command, option: Option): boolean {
  const source = command.getOptionValueSource(option.attributeName())
  return source === 'cli' || source === 'env'
}

function isValue (value: unknown): value is Value {
  if (Array.isArray(value)) return value.every((v) => typeof v === 'string' || typeof v === 'number')
  return typeof value === 'string' || typeof value === 'number'
}

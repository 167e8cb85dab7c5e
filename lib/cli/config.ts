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
 * named after a command holds options for that command alone. A list is
 * joined with commas (the address list); true sets a flag.
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
  for (const [key, value] of Object.entries(config)) {
    const command = commands.get(key)
    if (command !== undefined && isObject(value)) {
      for (const [k, v] of Object.entries(value)) {
        if (!set(command, k, v, file)) throw new Error(`config file ${file}: rog ${key} has no option --${k}`)
      }
      continue
    }
    let used = set(program, key, value, file)
    for (const c of program.commands) used = set(c, key, value, file) || used
    if (!used) throw new Error(`config file ${file}: no command has an option --${key}`)
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Sets option --`name` of `command` from the config; false when it has none. */
function set (command: Command, name: string, value: unknown, file: string): boolean {
  const option = command.options.find((o: Option) => o.long === `--${name}`)
  if (option === undefined) return false
  const where = `config file ${file}: --${name}`
  let parsed: unknown
  if (!option.required && !option.optional) {
    if (typeof value !== 'boolean') throw new Error(`${where}: expected true or false`)
    parsed = value
  } else {
    if (!isValue(value)) throw new Error(`${where}: expected a string, a number or a list of them`)
    const text = Array.isArray(value) ? value.join(',') : String(value)
    try {
      parsed = option.parseArg !== undefined ? option.parseArg(text, undefined) : text
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`)
    }
    if (option.argChoices !== undefined && !option.argChoices.includes(text)) throw new Error(`${where}: expected one of ${option.argChoices.join(', ')}`)
  }
  // A list is frozen so that a repeatable option given on the command line replaces it (see partitionList).
  command.setOptionValueWithSource(option.attributeName(), Array.isArray(parsed) ? Object.freeze(parsed) : parsed, 'config')
  return true
}

function isValue (value: unknown): value is Value {
  if (Array.isArray(value)) return value.every((v) => typeof v === 'string' || typeof v === 'number')
  return typeof value === 'string' || typeof value === 'number'
}

import type { Command } from 'commander'

/**
 * The original CLI named the log with a flag (`--name` for create-log,
 * `--log-name` elsewhere); this one takes it as the first argument. Either
 * works; giving two different names is an error.
 */
export function logName (command: Command, positional: string | undefined, flag: string | undefined, flagName: string): string {
  if (positional !== undefined && flag !== undefined && positional !== flag) {
    command.error(`error: the log is named twice ("${positional}" and ${flagName} "${flag}")`)
  }
  const name = flag ?? positional
  if (name === undefined) command.error(`error: missing the log name (give it as the first argument or with ${flagName})`)
  return name
}

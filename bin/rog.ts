#!/usr/bin/env node
import { Command } from 'commander'
import { ackCommand } from '../lib/cli/ack'
import { checkCommand } from '../lib/cli/check'
import { addressOption } from '../lib/cli/connection'
import { createLogCommand } from '../lib/cli/create-log'
import { describeCommand } from '../lib/cli/describe'
import { fetchCommand } from '../lib/cli/fetch'
import { logsCommand } from '../lib/cli/logs'
import { publishCommand } from '../lib/cli/publish'
import { serverCommand } from '../lib/cli/server'
import { ignoreEpipe } from '../lib/cli/stdout'

const program = new Command('rog')
  .description('Rog: a small commit log server and its command-line client')
  .addOption(addressOption())
  .showHelpAfterError('(rog --help, or rog COMMAND --help, for usage)')
serverCommand(program)
createLogCommand(program)
publishCommand(program)
fetchCommand(program)
ackCommand(program)
logsCommand(program)
describeCommand(program)
checkCommand(program)
ignoreEpipe(process.stdout)

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`rog: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})

#!/usr/bin/env node
import { Command } from 'commander'
import { ackCommand } from '../lib/cli/ack'
import { completionCommand } from '../lib/cli/completion'
import { applyConfig } from '../lib/cli/config'
import { globalOptions } from '../lib/cli/connection'
import { alterLogCommand, deleteLogCommand } from '../lib/cli/alter-log'
import { checkCommand } from '../lib/cli/check'
import { createLogCommand } from '../lib/cli/create-log'
import { deleteGroupCommand } from '../lib/cli/delete-group'
import { clusterCommand } from '../lib/cli/cluster'
import { reassignCommand } from '../lib/cli/reassign'
import { describeCommand } from '../lib/cli/describe'
import { fetchCommand } from '../lib/cli/fetch'
import { groupsCommand } from '../lib/cli/groups'
import { logsCommand } from '../lib/cli/logs'
import { pingCommand } from '../lib/cli/ping'
import { publishCommand } from '../lib/cli/publish'
import { readCommand } from '../lib/cli/read'
import { resetOffsetsCommand } from '../lib/cli/reset-offsets'
import { serverCommand } from '../lib/cli/server'
import { ignoreEpipe } from '../lib/cli/stdout'
import { VERSION } from '../lib/version'

const program = new Command('rog')
  .description('Rog: a small commit log server and its command-line client')
  .version(VERSION)
  .showHelpAfterError('(rog --help, or rog COMMAND --help, for usage)')
for (const option of globalOptions()) program.addOption(option)
serverCommand(program)
createLogCommand(program)
alterLogCommand(program)
deleteLogCommand(program)
publishCommand(program)
fetchCommand(program)
ackCommand(program)
readCommand(program)
logsCommand(program)
describeCommand(program)
clusterCommand(program)
reassignCommand(program)
groupsCommand(program)
resetOffsetsCommand(program)
deleteGroupCommand(program)
pingCommand(program)
completionCommand(program)
checkCommand(program)
// A command's output lost is its failure; the server's log lines are not its work, and a log it cannot write never stops it (SafeOutput).
program.hook('preAction', (_program, action) => {
  if (action.name() !== 'server') ignoreEpipe(process.stdout)
})

function fail (err: unknown): never {
  process.stderr.write(`rog: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}

try {
  applyConfig(program)
} catch (err) {
  fail(err)
}
program.parseAsync(process.argv).catch(fail)

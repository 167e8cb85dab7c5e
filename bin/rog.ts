#!/usr/bin/env node
import { Command } from 'commander'
import { serverCommand } from '../lib/cli/server'

const program = new Command('rog')
  .description('Rog: a small commit log server and its command-line client')
  .showHelpAfterError()
serverCommand(program)

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`rog: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})

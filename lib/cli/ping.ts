import type { Command } from 'commander'
import { RogError } from '../errors'
import { withSession } from './connection'
import { integer } from './options'
import { writeOut } from './stdout'

export function pingCommand (program: Command): void {
  program.command('ping')
    .description('time a round trip to the server, and show its version')
    .option('-c, --count <n>', 'this many round trips, one after the other', integer(1, 1_000_000), 1)
    .action(async (flags: { count: number }, command: Command) => {
      await withSession(command, async (session) => {
        const client = await session.client()
        const times: number[] = []
        for (let i = 0; i < flags.count; i++) {
          const started = performance.now()
          let version: string
          try {
            version = `rog ${await client.version()}`
          } catch (err) {
            if (!(err instanceof RogError) || err.code !== 'UNSUPPORTED') throw err
            // The refusal is a round trip too; the server hangs up (original) or stops reading (older Rog) after it.
            await writeOut(`${client.address}: ${client.original ? 'an original Rog server' : 'an older Rog server'} (no version command): time=${ms(performance.now() - started)}\n`)
            return
          }
          times.push(performance.now() - started)
          await writeOut(`${client.address}: ${version}: time=${ms(times[i])}\n`)
        }
        if (times.length > 1) {
          const avg = times.reduce((a, b) => a + b, 0) / times.length
          await writeOut(`${times.length} round trips: min/avg/max = ${[Math.min(...times), avg, Math.max(...times)].map((t) => t.toFixed(3)).join('/')} ms\n`)
        }
      })
    })
}

function ms (value: number): string {
  return `${value.toFixed(3)} ms`
}

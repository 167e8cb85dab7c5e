import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawn } from 'node:child_process'
import { Writable } from 'node:stream'
import { SafeOutput } from '../../lib/observe/safe-output'
import { ROG_BIN, exitOf } from '../helpers/process'
import { deadPort } from '../helpers/tcp'
import { pipelined } from '../helpers/server'
import { waitFor } from '../helpers/wait'

/** Resolves once `stream` has closed (events.once would reject on its 'error', which SafeOutput handles). */
async function closed (stream: Writable): Promise<void> {
  await new Promise((resolve) => stream.once('close', resolve))
}

/** A stream that fails every write with ENOSPC, as Node's stdout does on a full disk. */
function fullStream (): Writable {
  return new Writable({
    write (_chunk, _encoding, callback) {
      callback(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }))
    }
  })
}

t.test('lines the stream cannot take are dropped and counted, then go to its descriptor, the first saying how many were lost', async (t) => {
  const stream = fullStream()
  const file = path.join(t.testdir(), 'log')
  const fd = fs.openSync(file, 'a')
  t.teardown(() => fs.closeSync(fd))
  const out = new SafeOutput(stream, fd)
  out.write('first\n')
  await closed(stream)
  out.write('second\n')
  out.write('third\n')
  t.equal(fs.readFileSync(file, 'utf8'), '1 log line could not be written (ENOSPC)\nsecond\nthird\n')
})

t.test('a descriptor that cannot be written either loses the line without throwing, and the count goes on', { skip: fs.existsSync('/dev/full') ? false : 'no /dev/full here' }, async (t) => {
  const stream = fullStream()
  const full = fs.openSync('/dev/full', 'w')
  t.teardown(() => fs.closeSync(full))
  const out = new SafeOutput(stream, full)
  out.write('a\n')
  await closed(stream)
  t.doesNotThrow(() => { out.write('b\n'); out.write('c\n') })
  t.equal((out as unknown as { lost: number }).lost, 3, 'three lines lost')
})

t.test('a server whose stdout and stderr are a full disk serves, and stops cleanly on SIGTERM', { skip: fs.existsSync('/dev/full') ? false : 'no /dev/full here' }, async (t) => {
  const port = await deadPort()
  const full = fs.openSync('/dev/full', 'w')
  t.teardown(() => fs.closeSync(full))
  const child = spawn(process.execPath, [ROG_BIN, 'server', '--port', String(port), '--no-http', '--data-dir', t.testdir()], { stdio: ['ignore', full, full] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const answers = async (): Promise<string[]> => (await pipelined(port, [
    { command: 'create', log: 'full', partitions: 1 },
    { command: 'publish', log: 'full', partition: 0, data: Buffer.from('kept'), reply: 'offset' },
    { command: 'fetch-batch', log: 'full', partition: 0, group: 'g', offset: 0, maxMessages: 10, maxBytes: 1 << 20, waitMs: 0 }
  ])).map((r) => r.response === 'messages' ? r.messages.map((m) => m.data.toString()).join(',') : r.response)
  let got: string[] = []
  await waitFor('the server to answer', () => {
    if (child.exitCode !== null) return true
    answers().then((a) => { got = a }, () => {})
    return got.length > 0
  }, 30_000, 200)
  t.equal(child.exitCode, null, 'still running after its listening line and its connection lines were lost')
  t.same(got, ['ok', 'offset', 'kept'])
  child.kill('SIGTERM')
  t.same(await exitOf(child), { code: 0, signal: null }, 'SIGTERM ends it as usual')
})

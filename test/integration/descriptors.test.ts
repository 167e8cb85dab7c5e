import t from 'tap'
import * as fs from 'node:fs'
import { spawn } from 'node:child_process'
import { exitOf, ROG_BIN } from '../helpers/process'
import { request } from '../helpers/server'
import { Store } from '../../lib/storage/store'
import type { Partition } from '../../lib/storage/partition'

function append (p: Partition, messages: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => p.append(messages, (err, first) => err === null ? resolve(first) : reject(err)))
}

t.test('descriptors do not grow with the data: thousands of segments start and serve under ulimit -n 256', async (t) => {
  const dataDir = t.testdir()
  const store = await Store.open({ dataDir, fsync: 'never', segmentBytes: 4096, log: () => {} })
  await store.createLog('big', 1)
  const p = store.partition('big', 0)
  const total = 40_000
  for (let i = 0; i < total; i += 1000) await append(p, Array.from({ length: 1000 }, (_, j) => Buffer.from(`m${i + j}`.padEnd(100, '.'))))
  const segments = p.segments.length
  await store.close()
  t.ok(segments > 1000, `${segments} segments: more than 2 descriptors each would need`)

  const child = spawn('/bin/sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${ROG_BIN}" server --port 0 --no-http --data-dir "${dataDir}" --fsync never`], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let err = ''
  child.stderr.on('data', (c: Buffer) => { err += c.toString() })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('\n')) resolve(out.split('\n')[0])
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)))
  })
  const port = Number(/:(\d+),/.exec(line)?.[1])
  const limits = fs.readFileSync(`/proc/${child.pid}/limits`, 'utf8')
  t.match(limits, /Max open files\s+256\s/, 'the server runs under a limit of 256 descriptors')

  let next = 0
  let mismatches = 0
  while (next < total) {
    const r = await request(port, { command: 'fetch-batch', log: 'big', partition: 0, group: 'r', offset: next, maxMessages: 5000, maxBytes: 1 << 20, waitMs: 0 })
    if (r.response !== 'messages' || r.messages.length === 0) throw new Error(`read stopped at ${next}: ${JSON.stringify(r)}`)
    for (const m of r.messages) if (m.offset !== next++ || m.data.toString().trimEnd().replace(/\.+$/, '') !== `m${m.offset}`) mismatches++
  }
  t.equal(mismatches, 0, `all ${total} messages read back, across every segment`)
  for (let i = 0; i < 8; i++) {
    t.same(await request(port, { command: 'create', log: `wide${i}`, partitions: 20 }), { response: 'ok' }, `create-log of 20 partitions, #${i + 1}`)
  }
  t.same(await request(port, { command: 'publish', log: 'wide7', partition: 19, data: Buffer.from('x'), reply: 'offset' }), { response: 'offset', offset: 0 })
  const open = fs.readdirSync(`/proc/${child.pid}/fd`).length
  t.ok(open < 256, `${open} descriptors open`)
  child.kill('SIGTERM')
  t.same(await exitOf(child), { code: 0, signal: null })
  t.notMatch(err, /EMFILE/)
})

import t from 'tap'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { once } from 'node:events'
import { Observer } from '../../lib/observe/observer'
import { HttpListener } from '../../lib/observe/http-listener'
import { RogServer } from '../../lib/server/server'
import { Store } from '../../lib/storage/store'
import { getJson, startObserved } from '../helpers/http'

t.test('/livez and /readyz on a running server; /readyz fails while free space is under --min-free-bytes', async (t) => {
  const { base } = await startObserved(t)
  t.same(await getJson(`${base}/livez`), { status: 200, body: { status: 'live' } })
  const ready = await getJson(`${base}/readyz`)
  t.equal(ready.status, 200)
  t.same(ready.body.checks.map((c: { name: string }) => c.name), ['recovery', 'listener', 'disk'])
  t.same(ready.body.failing, [])

  const tight = await startObserved(t, {}, { minFreeBytes: Number.MAX_SAFE_INTEGER })
  const full = await getJson(`${tight.base}/readyz`)
  t.equal(full.status, 503)
  t.same(full.body.failing.map((c: { name: string }) => c.name), ['disk'])
  t.match(full.body.failing[0].detail, /under --min-free-bytes/)
  t.equal((await getJson(`${tight.base}/livez`)).status, 200, 'still live: liveness never fails on disk space')
})

t.test('/readyz is 503 until recovery is done and the listener bound, then 200', async (t) => {
  const dataDir = t.testdir()
  // A data directory that takes a while to recover: many logs, each partition with messages to scan.
  const store = await Store.open({ dataDir, fsync: 'never', log: () => {} })
  for (let l = 0; l < 30; l++) {
    await store.createLog(`log-${l}`, 4)
    for (let p = 0; p < 4; p++) {
      await new Promise<void>((resolve, reject) => store.partition(`log-${l}`, p).append(Array.from({ length: 50 }, (_, i) => Buffer.from(`m${i}`)), (err) => err === null ? resolve() : reject(err)))
    }
  }
  await store.close()
  for (const l of fs.readdirSync(dataDir)) if (l.startsWith('log-')) for (let p = 0; p < 4; p++) fs.rmSync(path.join(dataDir, l, String(p), 'recovery-point'), { force: true })

  const observer = await Observer.start(dataDir, { port: 0, explicit: true, minFreeBytes: 0 }, () => {})
  t.teardown(() => observer.close())
  const base = (observer.url ?? '').replace(/\/$/, '')
  const before = await getJson(`${base}/readyz`)
  t.equal(before.status, 503, 'before the store is open')
  t.same(before.body.failing.map((c: { name: string }) => c.name), ['recovery', 'listener'])
  t.equal((await getJson(`${base}/livez`)).status, 200, 'live all along')

  let started = false
  const starting = RogServer.start({ port: 0, dataDir, fsync: 'never', log: () => {}, observer }).then((s) => { started = true; return s })
  // Asked while recovery runs: every answer given before the start completed says not ready.
  const during: Array<{ status: number, started: boolean }> = []
  while (!started) {
    const r = await getJson(`${base}/readyz`)
    during.push({ status: r.status, started })
  }
  const server = await starting
  t.teardown(() => server.close())
  t.ok(during.length > 0)
  t.same(during.filter((d) => !d.started && d.status !== 503), [], `${during.filter((d) => !d.started).length} answers during recovery, all 503`)
  const after = await getJson(`${base}/readyz`)
  t.equal(after.status, 200)
  t.same(after.body.failing, [])
})

t.test('the default HTTP port taken: a warning and no HTTP; a port given explicitly: an error', async (t) => {
  const holder = net.createServer().listen(0, '127.0.0.1')
  await once(holder, 'listening')
  t.teardown(() => holder.close())
  const taken = (holder.address() as net.AddressInfo).port
  const warnings: string[] = []
  t.equal(await HttpListener.bind({ host: '127.0.0.1', port: taken, explicit: false }, () => {}, (w) => warnings.push(w)), null)
  t.match(warnings, [/HTTP port \d+ on 127\.0\.0\.1 cannot be bound \(it is in use/])
  await t.rejects(HttpListener.bind({ host: '127.0.0.1', port: taken, explicit: true }, () => {}, () => {}), { code: 'HTTP_LISTEN', message: new RegExp(`Cannot listen for HTTP on 127\\.0\\.0\\.1:${taken}: it is in use`) })

  const observer = await Observer.start(t.testdir(), { port: taken }, () => {})
  t.equal(observer.url, null, 'an observer without a listener')
  await observer.close()
})

t.test('/readyz says not ready once shutdown has begun', async (t) => {
  const { server, base } = await startObserved(t)
  const closing = server.close()
  const r = await fetch(`${base}/readyz`).then(async (res) => ({ status: res.status, body: await res.json() }), () => null)
  // The listener may already be closed; if it answered, it said not ready.
  if (r !== null) t.equal(r.status, 503)
  await closing
  await t.rejects(fetch(`${base}/livez`), 'the HTTP listener closes with the server')
})

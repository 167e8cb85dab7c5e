import t from 'tap'
import * as http from 'node:http'
import * as net from 'node:net'
import { connect } from '../../lib/client/client'
import { MAX_EXPORTS, MAX_TAILS } from '../../lib/observe/api-routes'
import { SCAN_MESSAGES } from '../../lib/observe/message-browser'
import { groupLags } from '../../lib/cli/groups'
import { getJson, postJson, samples, startObserved } from '../helpers/http'

t.test('logs: list and create through the API; the page and its files are served', async (t) => {
  const { base, port } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('tcp-made', 2)
  const created = await postJson(`${base}/api/logs`, { log: 'http-made', partitions: 3 })
  t.same(created, { status: 201, body: { log: 'http-made', partitions: 3 } })
  t.same((await client.listLogs()).map((l) => l.log), ['http-made', 'tcp-made'], 'the log made over HTTP is there over TCP')
  const { status, body } = await getJson(`${base}/api/logs`)
  t.equal(status, 200)
  t.same(body.logs.map((l: { log: string, partitions: unknown[] }) => [l.log, l.partitions.length]), [['http-made', 3], ['tcp-made', 2]])
  t.match(body.logs[1].partitions[0], { partition: 0, firstOffset: 0, endOffset: 0, bytes: 0, groups: 0, leader: null, isr: null })
  t.equal((await postJson(`${base}/api/logs`, { log: 'http-made', partitions: 1 })).status, 409, 'an existing log')
  t.same(await postJson(`${base}/api/logs`, { log: 'bad/name', partitions: 1 }), { status: 400, body: { error: { code: 'BAD_LOG_NAME', message: 'Invalid log name "bad/name": use 1-249 bytes of A-Z a-z 0-9 . _ - (not "." or "..")' } } })
  t.equal((await postJson(`${base}/api/logs`, { log: 'x', partitions: 0 })).status, 400)
  for (const partitions of ['3', 2.5, true, [3]]) {
    t.match(await postJson(`${base}/api/logs`, { log: 'typed', partitions }), { status: 400, body: { error: { code: 'BAD_REQUEST' } } }, `partitions ${JSON.stringify(partitions)}: a whole JSON number only`)
  }
  t.notOk((await client.listLogs()).some((l) => l.log === 'typed'), 'no log was made of them')

  for (const [file, type] of [['/', /^text\/html/], ['/console.js', /^text\/javascript/], ['/console.css', /^text\/css/]] as const) {
    const res = await fetch(`${base}${file}`)
    t.equal(res.status, 200, file)
    t.match(res.headers.get('content-type'), type)
    t.ok((await res.text()).length > 100)
  }
})

t.test('publish and browse: pages, seek by offset and by time, a filter with its scan budget, views of the bytes', async (t) => {
  const { base, port } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('ev', 2)
  for (let i = 0; i < 30; i++) await client.publish('ev', 1, `{"n":${i}}`)
  const published = await postJson(`${base}/api/messages`, { log: 'ev', partition: 1, text: 'from the console' })
  t.same(published, { status: 201, body: { log: 'ev', partition: 1, offset: 30 } })
  t.same((await postJson(`${base}/api/messages`, { log: 'ev', partition: 1, base64: Buffer.from([0, 255]).toString('base64') })).body.offset, 31)
  const fetched = await client.fetchBatch({ log: 'ev', partition: 1, group: 'g', offset: 30, maxMessages: 2 })
  t.same(fetched.messages.map((m) => m.data), [Buffer.from('from the console'), Buffer.from([0, 255])], 'read back over TCP as published')

  const page = (await getJson(`${base}/api/messages?log=ev&partition=1&offset=5&limit=10`)).body
  t.same(page.messages.map((m: { offset: number }) => m.offset), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
  t.match(page, { firstOffset: 0, endOffset: 32, startOffset: 5, nextOffset: 15, budgetExhausted: false })
  t.equal(Buffer.from(page.messages[0].data, 'base64').toString(), '{"n":5}')
  t.ok(page.messages[0].timestamp > 0)
  const last = (await getJson(`${base}/api/messages?log=ev&partition=1&offset=25&limit=10`)).body
  t.same(last.messages.map((m: { offset: number }) => m.offset), [25, 26, 27, 28, 29, 30, 31])
  t.equal(last.nextOffset, 32)

  const filtered = (await getJson(`${base}/api/messages?log=ev&partition=1&offset=0&limit=3&filter=${encodeURIComponent('"n":2')}`)).body
  t.same(filtered.messages.map((m: { offset: number }) => m.offset), [2, 20, 21], 'only messages holding the substring')
  t.equal(filtered.nextOffset, 22)

  const seeked = await getJson(`${base}/api/seek?log=ev&partition=1&time=${Date.now() + 60_000}`)
  t.same(seeked.body, { offset: 32 }, 'a time after every message: the end')
  const fromStart = await getJson(`${base}/api/messages?log=ev&partition=1&time=0&limit=1`)
  t.equal(fromStart.body.messages[0].offset, 0, 'a time before every message: the first')
  const iso = await getJson(`${base}/api/seek?log=ev&partition=1&time=2000-01-01T00:00:00Z`)
  t.same(iso.body, { offset: 0 })

  for (const [query, code, status] of [
    ['log=nope', 'NO_LOG', 404],
    ['log=ev&partition=9', 'BAD_PARTITION', 400],
    ['log=ev&partition=-1', 'BAD_REQUEST', 400],
    ['log=ev&offset=abc', 'BAD_REQUEST', 400],
    ['log=ev&partition=1&offset=99', 'BAD_OFFSET', 400],
    ['log=ev&limit=100000', 'BAD_REQUEST', 400],
    ['log=ev&time=yesterday', 'BAD_REQUEST', 400],
    ['log=ev&time=-1', 'BAD_REQUEST', 400],
    ['log=ev&time=x%201', 'BAD_REQUEST', 400],
    ['log=ev&partition=1&offset=0&time=0', 'BAD_REQUEST', 400],
    ['partition=0', 'BAD_REQUEST', 400]
  ] as const) {
    const r = await getJson(`${base}/api/messages?${query}`)
    t.equal(r.status, status, query)
    t.equal(r.body.error?.code, code, query)
  }
})

t.test('a filter that matches nothing stops at its scan budget and says where to go on', async (t) => {
  const { base, port } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('many', 1)
  const total = SCAN_MESSAGES + 500
  for (let i = 0; i < total; i += 5000) await client.publishBatch('many', 0, Array.from({ length: Math.min(5000, total - i) }, () => Buffer.from('hay')))
  const page = (await getJson(`${base}/api/messages?log=many&offset=0&filter=needle`)).body
  t.same(page.messages, [])
  t.equal(page.scanned, SCAN_MESSAGES)
  t.equal(page.nextOffset, SCAN_MESSAGES)
  t.equal(page.budgetExhausted, true)
  const rest = (await getJson(`${base}/api/messages?log=many&offset=${page.nextOffset}&filter=needle`)).body
  t.match(rest, { scanned: 500, nextOffset: total, budgetExhausted: false })
})

t.test('groups with lag, commit through the API, and the lag falls', async (t) => {
  const { base, port, observer } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('ev', 2)
  for (let i = 0; i < 4; i++) await client.publish('ev', 0, `m${i}`)
  await client.publish('ev', 1, 'x')
  await client.commit('ev', 0, 'readers', 1)
  await client.commit('ev', 1, 'readers', 0)
  await observer.samples?.sample()
  const before = (await getJson(`${base}/api/groups`)).body
  t.equal(before.groups.length, 1)
  t.match(before.groups[0], { log: 'ev', group: 'readers', lagMessages: 4 })
  t.ok(before.groups[0].lagSeconds >= 0)
  t.same(before.groups[0].partitions.map((p: { partition: number, committedOffset: number, endOffset: number, lagMessages: number }) => [p.partition, p.committedOffset, p.endOffset, p.lagMessages]), [[0, 1, 4, 3], [1, 0, 1, 1]])
  t.same(before.history.map((h: { lag: Record<string, number> }) => h.lag), [{ 'ev/readers': 4 }], 'the sample holds the lag')

  t.same(await postJson(`${base}/api/commit`, { log: 'ev', partition: 0, group: 'readers', offset: 4 }), { status: 200, body: { log: 'ev', partition: 0, group: 'readers', offset: 4 } })
  t.equal((await client.describe('ev')).partitions[0].groups.find((g) => g.group === 'readers')?.offset, 4, 'committed, as TCP sees it')
  await observer.samples?.sample()
  const after = (await getJson(`${base}/api/groups`)).body
  t.equal(after.groups[0].lagMessages, 1)
  t.same(after.history.map((h: { lag: Record<string, number> }) => h.lag['ev/readers']), [4, 1], 'lag over time')
  t.equal((await postJson(`${base}/api/commit`, { log: 'ev', partition: 0, group: 'readers', offset: 40 })).body.error.code, 'BAD_OFFSET')
  t.equal((await postJson(`${base}/api/commit`, { log: 'ev', partition: 0, group: '', offset: 1 })).status, 400, 'a group name is required')
})

t.test('a group counts every partition, from the start of one where it has committed nothing, as rog groups does', async (t) => {
  const { base, port, observer } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('ev', 2)
  await client.publishBatch('ev', 0, ['a', 'b', 'c'])
  await client.publishBatch('ev', 1, ['d', 'e'])
  await client.commit('ev', 0, 'one-sided', 2)
  await observer.samples?.sample()
  const { body } = await getJson(`${base}/api/groups`)
  t.match(body.groups, [{ log: 'ev', group: 'one-sided', lagMessages: 3 }])
  t.same(body.groups[0].partitions.map((p: { partition: number, committedOffset: number | null, lagMessages: number }) => [p.partition, p.committedOffset, p.lagMessages]), [[0, 2, 1], [1, null, 2]])
  t.same(groupLags((await client.describe('ev')).partitions).map((g) => [g.group, g.lag]), [['one-sided', 3]], 'the same as rog groups')
  t.same(body.history.at(-1).lag, { 'ev/one-sided': 3 }, 'and the sampled lag')
})

t.test('overview: samples of rates and latency', async (t) => {
  const { base, port, observer } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await observer.samples?.sample()
  await client.createLog('ev', 1)
  await client.publishBatch('ev', 0, Array.from({ length: 100 }, () => Buffer.from('x')))
  await client.fetchBatch({ log: 'ev', partition: 0, group: 'g', offset: 0, maxMessages: 100 })
  await observer.samples?.sample()
  const o = (await getJson(`${base}/api/overview`)).body
  t.match(o, { connections: 1, logs: 1, partitions: 1, cluster: null, sampleMs: 5000 })
  t.ok(o.diskFreeBytes > 0)
  t.equal(o.samples.length, 2)
  const last = o.samples[1]
  t.ok(last.messagesInPerSec > 0 && last.messagesOutPerSec > 0, 'rates from the difference of two samples')
  t.ok(last.p99Seconds > 0)
})

t.test('export: NDJSON of a range, filtered, streamed', async (t) => {
  const { base, port } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('ev', 1)
  await client.publishBatch('ev', 0, Array.from({ length: 2500 }, (_, i) => Buffer.from(`line ${i}`)))
  const res = await fetch(`${base}/api/export?log=ev&from=10`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^application\/x-ndjson/)
  t.match(res.headers.get('content-disposition'), /attachment; filename="ev-0\.ndjson"/)
  const lines = (await res.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as { offset: number, timestamp: number, data: string })
  t.equal(lines.length, 2490)
  t.same([lines[0].offset, lines[lines.length - 1].offset], [10, 2499])
  t.equal(Buffer.from(lines[5].data, 'base64').toString(), 'line 15')
  const some = await (await fetch(`${base}/api/export?log=ev&from=0&to=200&filter=line%2015`)).text()
  t.same(some.trimEnd().split('\n').map((l) => (JSON.parse(l) as { offset: number }).offset), [15, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159])
  const outBefore = samples(await (await fetch(`${base}/metrics`)).text(), 'rog_messages_out_total').get('{log="ev"}') ?? 0
  const limited = await (await fetch(`${base}/api/export?log=ev&limit=3`)).text()
  t.equal(limited.trimEnd().split('\n').length, 3)
  const outAfter = samples(await (await fetch(`${base}/metrics`)).text(), 'rog_messages_out_total').get('{log="ev"}') ?? 0
  t.equal(outAfter - outBefore, 3, 'an export of 3 counts 3 messages out, not the 1000 a batch could read')
  t.equal((await getJson(`${base}/api/export?log=nope`)).status, 404)
  t.match(await getJson(`${base}/api/export?log=ev&from=5&to=2`), { status: 400, body: { error: { code: 'BAD_REQUEST' } } }, 'to below from')
  const none = await fetch(`${base}/api/export?log=ev&from=5&to=5`)
  t.same([none.status, await none.text()], [200, ''], 'an empty range is no error')
})

t.test('an export whose client goes away while it waits for the client to read frees its slot', async (t) => {
  const { base, port } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('big', 1)
  // About 20 MB of NDJSON: more than the socket buffers hold, so an export not read stays under way, held by backpressure.
  for (let i = 0; i < 10; i++) await client.publishBatch('big', 0, Array.from({ length: 10_000 }, () => Buffer.alloc(100, 0x61)))
  const { hostname, port: httpPort } = new URL(base)
  for (let round = 1; round <= MAX_EXPORTS + 1; round++) {
    const socket = net.connect(Number(httpPort), hostname)
    socket.on('error', () => {})
    socket.write('GET /api/export?log=big HTTP/1.1\r\nhost: rog\r\n\r\n')
    const head = await new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))))
    t.match(head, /^HTTP\/1\.1 200 /, `export ${round} started`)
    socket.pause()
    socket.destroy()
    // Its slot comes back once the export notices; bounded, so a leaked slot fails the test instead of hanging it.
    let status = 0
    for (let attempt = 0; attempt < 500 && status !== 200; attempt++) {
      const res = await fetch(`${base}/api/export?log=big&limit=1`)
      status = res.status
      await res.text()
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    t.equal(status, 200, `after ${round} abandoned exports, a new one starts`)
  }
})

t.test('a body sent in many tiny chunks is read whole', async (t) => {
  const { base, port } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('tiny', 1)
  const json = JSON.stringify({ log: 'tiny', text: 'z'.repeat(20_000) })
  const { hostname, port: httpPort } = new URL(base)
  const socket = net.connect(Number(httpPort), hostname)
  t.teardown(() => socket.destroy())
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1') })
  const answered = new Promise<void>((resolve) => socket.on('data', () => { if (answer.includes('\r\n\r\n{')) resolve() }))
  // One byte per chunk: the server keeps the bytes, not a Buffer per chunk.
  socket.write('POST /api/messages HTTP/1.1\r\nhost: rog\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n' +
    [...json].map((c) => `1\r\n${c}\r\n`).join('') + '0\r\n\r\n')
  await answered
  t.match(answer, /^HTTP\/1\.1 201 /)
  const [message] = (await client.fetchBatch({ log: 'tiny', group: 'g', offset: 0, maxMessages: 1 })).messages
  t.equal(message.data.toString(), 'z'.repeat(20_000))
})

t.test('request bodies are held on the server\'s memory budget: refused with BUSY while it is in full use, released after', async (t) => {
  const { base, server } = await startObserved(t, { maxBufferedBytes: 1024 * 1024 })
  await postJson(`${base}/api/logs`, { log: 'mem', partitions: 1 })
  server.budget.reserve(1024 * 1024)
  const refused = await postJson(`${base}/api/messages`, { log: 'mem', text: 'x' })
  t.same([refused.status, refused.body.error.code], [503, 'BUSY'])
  server.budget.release(1024 * 1024)
  const before = server.budget.bytes
  const stored = await postJson(`${base}/api/messages`, { log: 'mem', text: 'y'.repeat(100_000) })
  t.equal(stored.status, 201)
  t.equal(server.budget.bytes, before, 'the body\'s bytes are given back once it is answered')
})

/** Opens an SSE stream and collects its events; `close()` ends it. */
function sse (url: string): { events: Array<{ event: string, data: any }>, status: Promise<number>, until: (n: number) => Promise<void>, close: () => void } {
  const events: Array<{ event: string, data: any }> = []
  const waiters: Array<() => void> = []
  let buffer = ''
  let resolveStatus: (n: number) => void = () => {}
  const status = new Promise<number>((resolve) => { resolveStatus = resolve })
  const req = http.get(url, (res) => {
    resolveStatus(res.statusCode ?? 0)
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      buffer += chunk
      let end
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) })
        for (const w of waiters.splice(0)) w()
      }
    })
    res.on('error', () => {})
  })
  req.on('error', () => {})
  return {
    events,
    status,
    until: async (n) => { while (events.length < n) await new Promise<void>((resolve) => waiters.push(resolve)) },
    close: () => req.destroy()
  }
}

t.test('live tail: new messages arrive as server-sent events; tails are bounded', async (t) => {
  const { base, port } = await startObserved(t)
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  await client.createLog('ev', 1)
  await client.publish('ev', 0, 'old')
  const tail = sse(`${base}/api/tail?log=ev&partition=0`)
  t.teardown(() => tail.close())
  t.equal(await tail.status, 200)
  await tail.until(1)
  t.same(tail.events[0], { event: 'start', data: { offset: 1 } }, 'from the end by default')
  await client.publish('ev', 0, 'new one')
  await postJson(`${base}/api/messages`, { log: 'ev', text: 'and another' })
  await tail.until(3)
  t.same(tail.events.slice(1).map((e) => [e.event, e.data.offset, Buffer.from(e.data.data, 'base64').toString()]), [['message', 1, 'new one'], ['message', 2, 'and another']])

  const from = sse(`${base}/api/tail?log=ev&partition=0&from=0`)
  t.teardown(() => from.close())
  await from.until(4)
  t.same(from.events.map((e) => e.event === 'message' ? e.data.offset : e.event), ['start', 0, 1, 2])

  const more = Array.from({ length: MAX_TAILS - 2 }, () => sse(`${base}/api/tail?log=ev&partition=0`))
  t.teardown(() => { for (const m of more) m.close() })
  await Promise.all(more.map(async (m) => await m.until(1)))
  const refused = await getJson(`${base}/api/tail?log=ev&partition=0`)
  t.same(refused.status, 503)
  t.equal(refused.body.error.code, 'BUSY')
  more[0].close()
  // The slot frees once the server has seen the close: ask until it does.
  let again = sse(`${base}/api/tail?log=ev&partition=0`)
  while (await again.status !== 200) {
    again.close()
    again = sse(`${base}/api/tail?log=ev&partition=0`)
  }
  t.teardown(() => again.close())
  t.pass('a tail closed makes room for another')
  t.equal((await getJson(`${base}/api/tail?log=nope`)).status, 404)
})

t.test('bad requests get a 4xx JSON error and the server goes on', async (t) => {
  const { base, port } = await startObserved(t)
  const cases: Array<[string, RequestInit, number, string]> = [
    ['/api/nothing', {}, 404, 'NOT_FOUND'],
    ['/nothing', {}, 404, 'NOT_FOUND'],
    ['/api/logs', { method: 'DELETE' }, 405, 'METHOD_NOT_ALLOWED'],
    ['/metrics', { method: 'POST' }, 405, 'METHOD_NOT_ALLOWED'],
    ['/api/logs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' }, 400, 'BAD_REQUEST'],
    ['/api/logs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1]' }, 400, 'BAD_REQUEST'],
    ['/api/logs', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }, 400, 'BAD_REQUEST'],
    ['/api/logs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 400, 'BAD_REQUEST'],
    ['/api/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"log":"x"}' }, 400, 'BAD_REQUEST'],
    ['/api/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"log":"x","base64":"***"}' }, 400, 'BAD_REQUEST'],
    ['/api/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"log":"x","base64":"abc"}' }, 400, 'BAD_REQUEST'],
    ['/api/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"log":"x","text":"a","base64":"YQ=="}' }, 400, 'BAD_REQUEST'],
    ['/api/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"log":"x","text":5}' }, 400, 'BAD_REQUEST'],
    ['/api/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ log: 'x', text: 'y'.repeat(2 * 1024 * 1024) }) }, 413, 'MESSAGE_TOO_LARGE'],
    ['/api/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(9 * 1024 * 1024) }, 413, 'MESSAGE_TOO_LARGE'],
    ['/api/commit', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"log":"x","group":"g","partition":0,"offset":1.5}' }, 400, 'BAD_REQUEST'],
    ['/api/commit', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"log":"x","group":"g","partition":"0","offset":1}' }, 400, 'BAD_REQUEST'],
    ['/api/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"log":"x","partition":"0","text":"a"}' }, 400, 'BAD_REQUEST'],
    ['/api/seek?log=x', {}, 400, 'BAD_REQUEST'],
    ['/api/seek?log=x&time=-1', {}, 400, 'BAD_REQUEST']
  ]
  for (const [url, init, status, code] of cases) {
    const res = await fetch(`${base}${url}`, init).catch((err: Error) => err)
    if (res instanceof Error) {
      // A body over the limit may be cut off before the client finished sending it.
      t.equal(status, 413, `${url}: ${res.message}`)
      continue
    }
    t.equal(res.status, status, `${init.method ?? 'GET'} ${url}`)
    t.equal(((await res.json()) as { error: { code: string } }).error.code, code)
  }
  const raw = await new Promise<number>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: Number(new URL(base).port), path: '//%%%', method: 'GET' }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.end()
  })
  t.ok(raw >= 400 && raw < 500, `a malformed path: ${raw}`)
  t.equal((await getJson(`${base}/livez`)).status, 200, 'still serving HTTP')
  const client = await connect(`127.0.0.1:${port}`)
  t.teardown(() => client.close())
  t.same(await client.listLogs(), [], 'and TCP')
})

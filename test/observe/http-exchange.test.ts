import t from 'tap'
import { HttpRequest, HttpResponse, MAX_BODY_BYTES, type ToHttpThread } from '../../lib/observe/http-exchange'

function recorder (): { posted: ToHttpThread[], post: (m: ToHttpThread) => void } {
  const posted: ToHttpThread[] = []
  return { posted, post: (m) => posted.push(m) }
}

t.test('a request body that arrived before it was asked for is kept, and given whole at its end', async (t) => {
  const { post } = recorder()
  const req = new HttpRequest(1, 'POST', '/api/messages', { 'content-type': 'application/json', 'content-length': '7' }, post)
  req.received(new TextEncoder().encode('{"a":'))
  req.received(new TextEncoder().encode('1}'))
  t.notOk(req.complete)
  const body = req.body()
  req.end()
  t.equal((await body).toString(), '{"a":1}')
  t.ok(req.complete)
})

t.test('a request without a body is complete as it arrives', async (t) => {
  const { post } = recorder()
  const req = new HttpRequest(2, 'GET', '/metrics', {}, post)
  t.ok(req.complete)
  t.equal((await req.body()).length, 0)
  t.notOk(new HttpRequest(3, 'POST', '/api/logs', { 'content-length': '10' }, post).complete)
})

t.test('a body over the limit is refused, read no further, and not held, even when nobody asked for it yet', async (t) => {
  const { posted, post } = recorder()
  const req = new HttpRequest(7, 'POST', '/api/messages', { 'transfer-encoding': 'chunked' }, post)
  req.received(new Uint8Array(MAX_BODY_BYTES))
  t.same(posted, [], 'the limit itself is allowed')
  req.received(new Uint8Array(1))
  t.same(posted, [{ t: 'pause', id: 7 }], 'the HTTP thread stops reading it')
  req.received(new Uint8Array(1024))
  await t.rejects(req.body(), { code: 'MESSAGE_TOO_LARGE' })
})

t.test('write() asks the writer to wait past 64 KiB not yet taken by the socket, and drain follows when it is', async (t) => {
  const { posted, post } = recorder()
  const res = new HttpResponse(3, post)
  res.setHeader('Content-Type', 'text/plain')
  let drains = 0
  res.on('drain', () => drains++)
  t.ok(res.write('x'.repeat(60 * 1024)), 'under the mark')
  t.same(posted[0], { t: 'head', id: 3, status: 200, headers: { 'content-type': 'text/plain' } }, 'headers go out with the first write')
  t.ok(res.headersSent)
  t.notOk(res.write(new Uint8Array(8 * 1024)), 'over the mark: wait for drain')
  res.written(60 * 1024)
  t.equal(drains, 1, 'drain once the socket took enough')
  res.written(8 * 1024)
  t.equal(drains, 1, 'and only when a write was refused')
  res.end('bye')
  t.same(posted.at(-1), { t: 'end', id: 3, chunk: 'bye' })
  t.notOk(res.write('late'), 'nothing is written after the end')
  t.equal(posted.filter((m) => m.t === 'write').length, 2)
})

t.test('close is emitted once, for a client gone or a response destroyed; nothing is posted after it', async (t) => {
  const { posted, post } = recorder()
  const res = new HttpResponse(4, post)
  let closes = 0
  res.on('close', () => closes++)
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  res.destroy()
  res.close()
  t.equal(closes, 1)
  t.same(posted.map((m) => m.t), ['head', 'destroy'])
  t.notOk(res.write('x'))
  res.end()
  t.same(posted.map((m) => m.t), ['head', 'destroy'], 'writes and ends of a closed response are dropped')
  t.throws(() => res.writeHead(200), 'headers go once')
})

import type * as http from 'node:http'
import { parentPort, workerData } from 'node:worker_threads'
import type { FromHttpThread, ToHttpThread } from './http-exchange'
import { type HttpBind, HttpListener } from './http-listener'

/**
 * The HTTP thread: a worker that runs the server's HTTP listener and passes
 * each exchange to the server's thread as messages (http-exchange.ts), which
 * answers them. The sockets, parsers and streams of HTTP live here, so they
 * never share the data path's event loop or its optimised code (with node:http
 * on the same thread, each scrape of /metrics cost the pipelined rows about
 * 4% of their throughput).
 */
const port = parentPort
if (port === null) throw new Error('http-worker.ts runs as a worker thread')
const post = (message: FromHttpThread): void => port.postMessage(message)
const exchanges = new Map<number, { req: http.IncomingMessage, res: http.ServerResponse }>()
let nextId = 1

function accept (req: http.IncomingMessage, res: http.ServerResponse): void {
  const id = nextId++
  exchanges.set(id, { req, res })
  post({ t: 'request', id, method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers })
  req.on('data', (chunk: Buffer) => post({ t: 'data', id, chunk }))
  req.on('end', () => post({ t: 'end', id }))
  res.once('close', () => {
    exchanges.delete(id)
    post({ t: 'close', id })
  })
}

function act (m: ToHttpThread, listener: HttpListener): void {
  if (m.t === 'close') {
    listener.close().then(() => post({ t: 'closed' }), () => post({ t: 'closed' }))
    return
  }
  const x = exchanges.get(m.id)
  if (x === undefined) return
  switch (m.t) {
    case 'head':
      x.res.writeHead(m.status, m.headers)
      return
    case 'write':
      x.res.write(m.chunk, () => post({ t: 'written', id: m.id, bytes: m.bytes }))
      return
    case 'end':
      x.res.end(m.chunk)
      return
    case 'destroy':
      x.res.destroy()
      return
    case 'pause':
      // A body over the limit is not read further (the answer closes the connection).
      x.req.pause()
  }
}

HttpListener.bind(workerData as HttpBind, accept, (line) => post({ t: 'warn', line })).then((listener) => {
  if (listener === null) return post({ t: 'unbound' })
  port.on('message', (m: ToHttpThread) => act(m, listener))
  post({ t: 'listening', ...listener.address(), url: listener.url })
}, (err: unknown) => post({ t: 'failed', code: (err as { code?: unknown }).code === 'HTTP_LISTEN' ? 'HTTP_LISTEN' : null, message: err instanceof Error ? err.message : String(err) }))

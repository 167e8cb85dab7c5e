import type * as http from 'node:http'
import { RogError, type RogErrorCode } from '../errors'
import type { MemoryBudget } from '../server/memory-budget'

/** Most bytes of a request body the API reads (a published message, as JSON text or base64, fits). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024

const STATUS: Partial<Record<RogErrorCode, number>> = {
  BAD_REQUEST: 400,
  METHOD_NOT_ALLOWED: 405,
  BAD_LOG_NAME: 400,
  BAD_PARTITION: 400,
  BAD_PARTITION_COUNT: 400,
  BAD_OFFSET: 400,
  BAD_GROUP_NAME: 400,
  BAD_REPLICATION_FACTOR: 400,
  MESSAGE_TOO_LARGE: 413,
  NO_LOG: 404,
  NO_GROUP: 404,
  NOT_FOUND: 404,
  LOG_EXISTS: 409,
  NO_DATA: 404,
  UNSUPPORTED: 501,
  BUSY: 503,
  STARTING: 503,
  SHUTTING_DOWN: 503,
  NOT_LEADER: 503,
  NO_LEADER: 503,
  NOT_ENOUGH_REPLICAS: 503,
  LOG_UNAVAILABLE: 503
}

export function sendJson (res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

/** An error as JSON: `{ error: { code, message } }`, with the status its code calls for. */
export function sendError (res: http.ServerResponse, err: unknown): void {
  const e = err instanceof RogError ? err : new RogError('SERVER_ERROR', err instanceof Error ? err.message : String(err))
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, STATUS[e.code] ?? 500, { error: { code: e.code, message: e.message } })
}

export function badRequest (message: string): RogError {
  return new RogError('BAD_REQUEST', message)
}

/**
 * Runs `work` on the request's JSON body (an object), read up to
 * MAX_BODY_BYTES. Until `work` is done the body's bytes are held on the
 * server's memory budget (--max-buffered-bytes), with the TCP clients'
 * requests: a body that finds the budget exhausted is refused with BUSY and
 * not read further.
 */
export async function withJson<T> (req: http.IncomingMessage, budget: MemoryBudget, work: (body: Record<string, unknown>) => Promise<T>): Promise<T> {
  const type = req.headers['content-type'] ?? ''
  if (!/^application\/json\b/.test(type)) throw badRequest('send the body as application/json')
  let held = 0
  try {
    return await work(parseObject(await readBody(req, budget, (bytes) => { held += bytes })))
  } finally {
    budget.release(held)
  }
}

async function readBody (req: http.IncomingMessage, budget: MemoryBudget, hold: (bytes: number) => void): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    // One buffer, grown as the body arrives: chunks are copied, not kept (a million one-byte chunks of a
    // chunked body held as Buffers took 400 MB for 1 MB of body).
    const declared = Number(req.headers['content-length'])
    let body = Buffer.allocUnsafe(Number.isSafeInteger(declared) && declared > 0 ? Math.min(declared, 64 * 1024) : 16 * 1024)
    let size = 0
    let refused = false
    const refuse = (err: RogError): void => {
      // Not read further: the answer says so and the connection closes after it.
      refused = true
      req.pause()
      reject(err)
    }
    req.on('data', (chunk: Buffer) => {
      if (refused) return
      if (size + chunk.length > MAX_BODY_BYTES) return refuse(new RogError('MESSAGE_TOO_LARGE', `Request body over ${MAX_BODY_BYTES} bytes`))
      if (budget.exhausted) return refuse(new RogError('BUSY', 'The server\'s memory for requests (--max-buffered-bytes) is in full use; try again'))
      budget.reserve(chunk.length)
      hold(chunk.length)
      if (size + chunk.length > body.length) {
        const grown = Buffer.allocUnsafe(Math.min(MAX_BODY_BYTES, Math.max(2 * body.length, size + chunk.length)))
        body.copy(grown, 0, 0, size)
        body = grown
      }
      size += chunk.copy(body, size)
    })
    req.on('end', () => resolve(body.toString('utf8', 0, size)))
    req.on('error', reject)
  })
}

function parseObject (text: string): Record<string, unknown> {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (err) {
    throw badRequest(`the body is not JSON: ${(err as Error).message}`)
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object')
  return body as Record<string, unknown>
}

/** A whole number from a query value within [min, max], else `fallback` when absent. */
export function integerParam (name: string, value: string | null, min: number, max: number, fallback?: number): number {
  if (value === null || value === '') return absent(name, fallback)
  return inRange(name, /^-?\d+$/.test(value) ? Number(value) : Number.NaN, value, min, max)
}

/** A whole number from a field of a JSON body, a JSON number (not a string holding one), within [min, max], else `fallback` when absent. */
export function integerField (name: string, value: unknown, min: number, max: number, fallback?: number): number {
  if (value === undefined || value === null) return absent(name, fallback)
  return inRange(name, typeof value === 'number' ? value : Number.NaN, value, min, max, ' (a JSON number)')
}

function absent (name: string, fallback: number | undefined): number {
  if (fallback === undefined) throw badRequest(`${name} is required`)
  return fallback
}

function inRange (name: string, n: number, value: unknown, min: number, max: number, kind = ''): number {
  if (!Number.isSafeInteger(n) || n < min || n > max) throw badRequest(`${name} must be a whole number from ${min} to ${max}${kind}, not ${JSON.stringify(value)}`)
  return n
}

import type * as http from 'node:http'
import { RogError } from '../errors'
import type { ClusterInfo, Command, PartitionPlacement } from '../protocol/commands'
import { VERSION } from '../version'
import { CommandSession, type SessionContext } from './command-session'
import { GroupLag } from './group-lag'
import { badRequest, integerField, integerParam, sendJson, withJson } from './http-json'
import { browse, errorOf, MAX_PAGE, readBatch, view } from './message-browser'
import { SAMPLE_MS, type Sampler } from './sampler'
import { servedLogs } from './served-logs'

export interface ApiContext extends SessionContext {
  sampler: Sampler
  connections: () => number
  diskFree: () => Promise<number>
  minFreeBytes: number
  /** --max-message-bytes: what a publish over TCP may carry, so over HTTP too. */
  maxMessageBytes: number
}

/** Live tails (server-sent events) open at once, and exports under way. */
export const MAX_TAILS = 16
export const MAX_EXPORTS = 4
/** Most messages one export writes. */
export const MAX_EXPORT_MESSAGES = 1_000_000
/** Groups listed by /api/groups (the rest are counted). */
const MAX_GROUPS_LISTED = 1000
const TAIL_WAIT_MS = 15_000

type Query = URLSearchParams

const ISO_DATE = /^\d{4}-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)?$/

/**
 * The console's JSON API under /api/. Every change (create a log, publish,
 * commit) and every read of messages runs as a Command through a
 * CommandSession: the path a TCP client's request takes. Lag is read from
 * the store as /metrics reads it.
 */
export class ApiRoutes {
  private readonly ctx: ApiContext
  private readonly lag = new GroupLag()
  /** Streaming responses under way, by kind. */
  private readonly streaming = { export: 0, tail: 0 }

  constructor (ctx: ApiContext) {
    this.ctx = ctx
  }

  /** Answers `req` (path under /api/), or throws a RogError (answered as JSON by the caller). */
  async handle (req: http.IncomingMessage, res: http.ServerResponse, path: string, query: Query): Promise<void> {
    const route = `${req.method ?? 'GET'} ${path}`
    switch (route) {
      case 'GET /api/overview': return sendJson(res, 200, await this.overview())
      case 'GET /api/logs': return sendJson(res, 200, await this.withSession((s) => this.logs(s)))
      case 'POST /api/logs': return sendJson(res, 201, await withJson(req, this.ctx.budget, async (body) => await this.createLog(body)))
      case 'GET /api/groups': return sendJson(res, 200, await this.groups())
      case 'POST /api/commit': return sendJson(res, 200, await withJson(req, this.ctx.budget, async (body) => await this.commit(body)))
      case 'GET /api/messages': return sendJson(res, 200, await this.messages(query))
      case 'POST /api/messages': return sendJson(res, 201, await withJson(req, this.ctx.budget, async (body) => await this.publish(body)))
      case 'GET /api/seek': return sendJson(res, 200, await this.seek(query))
      case 'GET /api/export': return await this.export(req, res, query)
      case 'GET /api/tail': return await this.tail(req, res, query)
    }
    if (['/api/overview', '/api/logs', '/api/groups', '/api/commit', '/api/messages', '/api/seek', '/api/export', '/api/tail'].includes(path)) {
      res.setHeader('allow', path === '/api/logs' || path === '/api/messages' ? 'GET, POST' : path === '/api/commit' ? 'POST' : 'GET')
      throw new RogError('METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on ${path}`)
    }
    throw new RogError('NOT_FOUND', `No endpoint ${path}`)
  }

  private async withSession<T> (work: (s: CommandSession) => Promise<T>): Promise<T> {
    const session = new CommandSession(this.ctx)
    try {
      return await work(session)
    } finally {
      session.close()
    }
  }

  /**
   * A response that streams for as long as the client stays (an export, a
   * live tail): at most `limit` of its kind at once (BUSY past it), with a
   * session of its own, closed when the work ends or the client goes;
   * `open()` says whether the client is still there.
   */
  private async stream (res: http.ServerResponse, kind: 'export' | 'tail', limit: number, busy: string, work: (session: CommandSession, open: () => boolean) => Promise<void>): Promise<void> {
    if (this.streaming[kind] >= limit) throw new RogError('BUSY', busy)
    this.streaming[kind]++
    const session = new CommandSession(this.ctx)
    let open = true
    res.once('close', () => {
      open = false
      session.close()
    })
    try {
      await work(session, () => open)
    } finally {
      this.streaming[kind]--
      session.close()
    }
  }

  private async run (c: Command): Promise<unknown> {
    return await this.withSession(async (s) => {
      const r = await s.run(c)
      if (r.response === 'error') throw errorOf(r)
      return r
    })
  }

  private async overview (): Promise<unknown> {
    const { store, cluster } = this.ctx
    const logs = store.listLogs()
    const info: ClusterInfo | null = cluster === null ? null : jsonOf(cluster.clusterInfo())
    return {
      version: VERSION,
      cluster: info,
      connections: this.ctx.connections(),
      diskFreeBytes: await this.ctx.diskFree().catch(() => null),
      minFreeBytes: this.ctx.minFreeBytes,
      logs: logs.length,
      partitions: logs.reduce((n, l) => n + l.partitions, 0),
      sampleMs: SAMPLE_MS,
      samples: this.ctx.sampler.samples().map(({ lag: _lag, ...s }) => s)
    }
  }

  private async logs (session: CommandSession): Promise<unknown> {
    const list = await session.run({ command: 'list-logs' })
    if (list.response !== 'logs') throw errorOf(list)
    const logs = []
    for (const { log } of list.logs) {
      const d = await session.run({ command: 'describe-log', log })
      if (d.response !== 'log-details') continue
      let placement: PartitionPlacement[] | null = null
      if (this.ctx.cluster !== null) {
        const p = await session.run({ command: 'log-placement', log })
        placement = p.response === 'json' ? (JSON.parse(p.body.toString()) as { partitions: PartitionPlacement[] }).partitions : null
      }
      logs.push({
        log,
        retentionBytes: d.details.retentionBytes,
        retentionMs: d.details.retentionMs,
        partitions: d.details.partitions.map((p) => {
          const where = placement?.find((x) => x.partition === p.partition)
          return { partition: p.partition, firstOffset: p.firstOffset, endOffset: p.endOffset, bytes: p.bytes, groups: p.groups.length, leader: where?.leader ?? null, isr: where?.isr ?? null, replicas: where?.replicas ?? null }
        })
      })
    }
    return { logs, unavailable: this.ctx.store.unavailableLogs() }
  }

  private async createLog (body: Record<string, unknown>): Promise<unknown> {
    const log = stringParam('log', body.log)
    const partitions = integerField('partitions', body.partitions, 1, 255, 1)
    const retentionBytes = body.retentionBytes === undefined || body.retentionBytes === null ? null : integerField('retentionBytes', body.retentionBytes, 0, Number.MAX_SAFE_INTEGER)
    const retentionMs = body.retentionMs === undefined || body.retentionMs === null ? null : integerField('retentionMs', body.retentionMs, 0, Number.MAX_SAFE_INTEGER)
    await this.run({ command: 'create-with-settings', log, partitions, retentionBytes, retentionMs })
    return { log, partitions }
  }

  private async groups (): Promise<unknown> {
    const { store, cluster } = this.ctx
    const now = Date.now()
    const byGroup = new Map<string, { log: string, group: string, lagMessages: number, lagSeconds: number, partitions: unknown[] }>()
    let omitted = 0
    for (const { log, partitions, groups: names } of servedLogs(store, cluster)) {
      for (const { p, partition: i } of partitions) {
        for (const g of await this.lag.of(p, now, names)) {
          const key = `${log}/${g.group}`
          let entry = byGroup.get(key)
          if (entry === undefined) {
            if (byGroup.size >= MAX_GROUPS_LISTED) {
              omitted++
              continue
            }
            entry = { log, group: g.group, lagMessages: 0, lagSeconds: 0, partitions: [] }
            byGroup.set(key, entry)
          }
          entry.lagMessages += g.lagMessages
          entry.lagSeconds = Math.max(entry.lagSeconds, g.lagSeconds ?? 0)
          entry.partitions.push({ partition: i, committedOffset: g.committedOffset, endOffset: p.highWatermark(), lagMessages: g.lagMessages, lagSeconds: g.lagSeconds })
        }
      }
    }
    const history = this.ctx.sampler.samples().map((s) => ({ t: s.t, lag: s.lag }))
    return { groups: [...byGroup.values()], omitted, history }
  }

  private async commit (body: Record<string, unknown>): Promise<unknown> {
    const log = stringParam('log', body.log)
    const group = stringParam('group', body.group)
    const partition = integerField('partition', body.partition, 0, 254)
    const offset = integerField('offset', body.offset, 0, Number.MAX_SAFE_INTEGER)
    await this.run({ command: 'commit', log, partition, group, offset })
    return { log, partition, group, offset }
  }

  private async messages (query: Query): Promise<unknown> {
    const { log, partition } = target(query)
    const limit = integerParam('limit', query.get('limit'), 1, MAX_PAGE, 50)
    const filterText = query.get('filter') ?? ''
    const filter = filterText === '' ? null : Buffer.from(filterText, 'utf8')
    if (query.has('time') && query.has('offset')) throw badRequest('give offset or time, not both')
    return await this.withSession(async (s) => {
      const offset = query.has('time') ? await this.offsetForTime(s, log, partition, timeParam(query.get('time'))) : integerParam('offset', query.get('offset'), 0, Number.MAX_SAFE_INTEGER, 0)
      return await browse(s, log, partition, offset, limit, filter)
    })
  }

  private async seek (query: Query): Promise<unknown> {
    const { log, partition } = target(query)
    const time = timeParam(query.get('time'))
    return { offset: await this.withSession((s) => this.offsetForTime(s, log, partition, time)) }
  }

  private async offsetForTime (session: CommandSession, log: string, partition: number, timestamp: number): Promise<number> {
    const r = await session.run({ command: 'offset-for-time', log, partition, timestamp })
    if (r.response !== 'offset') throw errorOf(r)
    return r.offset
  }

  private async publish (body: Record<string, unknown>): Promise<unknown> {
    const log = stringParam('log', body.log)
    const partition = integerField('partition', body.partition, 0, 254, 0)
    if ((body.text === undefined) === (body.base64 === undefined)) throw badRequest('give the message as "text" (a string) or as "base64", one of the two')
    let data: Buffer
    if (body.text !== undefined) {
      if (typeof body.text !== 'string') throw badRequest('"text" must be a string')
      data = Buffer.from(body.text, 'utf8')
    } else {
      if (typeof body.base64 !== 'string' || body.base64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(body.base64)) throw badRequest('"base64" must be a string of standard base64 (A-Z a-z 0-9 + /, padded with = to a multiple of 4 characters)')
      data = Buffer.from(body.base64, 'base64')
    }
    if (data.length > this.ctx.maxMessageBytes) throw RogError.messageTooLarge(data.length, this.ctx.maxMessageBytes)
    const r = await this.run({ command: 'publish', log, partition, data, reply: 'offset' }) as { offset: number }
    return { log, partition, offset: r.offset }
  }

  /** The messages of a partition as NDJSON, one object per line, streamed with backpressure. */
  private async export (req: http.IncomingMessage, res: http.ServerResponse, query: Query): Promise<void> {
    const { log, partition } = target(query)
    const from = integerParam('from', query.get('from'), 0, Number.MAX_SAFE_INTEGER, 0)
    const toText = query.get('to')
    const toGiven = toText === null || toText === '' ? null : integerParam('to', toText, 0, Number.MAX_SAFE_INTEGER)
    if (toGiven !== null && toGiven < from) throw badRequest(`to ${toGiven} is below from ${from}`)
    const max = integerParam('limit', query.get('limit'), 1, MAX_EXPORT_MESSAGES, MAX_EXPORT_MESSAGES)
    const filterText = query.get('filter') ?? ''
    const filter = filterText === '' ? null : Buffer.from(filterText, 'utf8')
    await this.stream(res, 'export', MAX_EXPORTS, `${MAX_EXPORTS} exports are under way; try again when one ends`, async (session, open) => {
      let written = 0
      // Without a filter no more is read than is written, so rog_messages_out_total counts what the client gets.
      const readSize = (): number => filter === null ? Math.min(1000, max - written) : 1000
      let batch = await readBatch(session, log, partition, from, readSize())
      const to = toGiven ?? batch.endOffset
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'content-disposition': `attachment; filename="${log}-${partition}.ndjson"`, 'cache-control': 'no-store' })
      let at = from
      while (open()) {
        for (const m of batch.messages) {
          at = m.offset + 1
          if (m.offset >= to || written >= max || !open()) break
          if (filter !== null && !m.data.includes(filter)) continue
          written++
          const line = JSON.stringify({ offset: m.offset, timestamp: m.timestamp ?? null, data: m.data.toString('base64') }) + '\n'
          if (!res.write(line)) await drained(res)
        }
        if (batch.messages.length === 0 || at >= to || written >= max || !open()) break
        batch = await readBatch(session, log, partition, at, readSize())
      }
      res.end()
    })
  }

  /** New messages of a partition as server-sent events (`message`, data: one JSON object), from `from` (default: the end). */
  private async tail (req: http.IncomingMessage, res: http.ServerResponse, query: Query): Promise<void> {
    const { log, partition } = target(query)
    const first = await this.withSession(async (s) => await readBatch(s, log, partition, 0, 0))
    await this.stream(res, 'tail', MAX_TAILS, `${MAX_TAILS} live tails are open; close one first`, async (session, open) => {
      let at = integerParam('from', query.get('from'), 0, first.endOffset, first.endOffset)
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' })
      res.write(`event: start\ndata: ${JSON.stringify({ offset: at })}\n\n`)
      while (open()) {
        let batch
        try {
          batch = await readBatch(session, log, partition, at, 100, TAIL_WAIT_MS)
        } catch (err) {
          if (!open()) break
          res.write(`event: failure\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`)
          break
        }
        let text = batch.messages.length === 0 ? ': waiting\n\n' : ''
        for (const m of batch.messages) {
          text += `event: message\ndata: ${JSON.stringify(view(m))}\n\n`
          at = m.offset + 1
        }
        if (!res.write(text)) await drained(res)
      }
      res.end()
    })
  }
}

function target (query: Query): { log: string, partition: number } {
  return { log: stringParam('log', query.get('log')), partition: integerParam('partition', query.get('partition'), 0, 254, 0) }
}

function stringParam (name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw badRequest(`${name} is required (a string)`)
  return value
}

/** A time as milliseconds since the epoch, or as an ISO 8601 date (read by Date.parse, which alone would take "-1" for 2001). */
function timeParam (value: string | null): number {
  if (value === null || value === '') throw badRequest('time is required (milliseconds since the epoch, or an ISO 8601 date)')
  const ms = /^-?\d+$/.test(value) ? Number(value) : ISO_DATE.test(value) ? Date.parse(value) : Number.NaN
  if (!Number.isSafeInteger(ms) || ms < 0) throw badRequest(`time ${JSON.stringify(value)} is not milliseconds since the epoch or an ISO 8601 date`)
  return ms
}

function jsonOf<T> (r: { response: string, body?: Buffer }): T | null {
  return r.response === 'json' && r.body !== undefined ? JSON.parse(r.body.toString()) as T : null
}

/** Resolves once `res` can take more, or has closed (at once when it already has: its 'close' will not come again). */
async function drained (res: http.ServerResponse): Promise<void> {
  if (res.destroyed || res.closed) return
  await new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

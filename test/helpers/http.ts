import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type { Test } from 'tap'
import { Observer, type ObserveOptions } from '../../lib/observe/observer'
import { RogServer, type ServerOptions } from '../../lib/server/server'

export interface Observed { server: RogServer, observer: Observer, base: string, port: number, dataDir: string, warnings: string[] }

/** A real server on port 0 with its HTTP side on another port 0, closed at teardown. */
export async function startObserved (t: Test, options: Partial<ServerOptions> = {}, http: ObserveOptions = {}): Promise<Observed> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rog-http-'))
  const warnings: string[] = []
  const observer = await Observer.start(dataDir, { port: 0, explicit: true, minFreeBytes: 0, ...http }, (line) => warnings.push(line))
  let server: RogServer | null = null
  t.teardown(async () => {
    await server?.close()
    await observer.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  server = await RogServer.start({ port: 0, dataDir, fsync: 'never', log: () => {}, observer, ...options })
  const base = (observer.url ?? '').replace(/\/$/, '')
  return { server, observer, base, port: server.address().port, dataDir, warnings }
}

export async function getJson (url: string): Promise<{ status: number, body: any }> {
  const res = await fetch(url)
  return { status: res.status, body: await res.json() }
}

export async function postJson (url: string, body: unknown): Promise<{ status: number, body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

/** The samples of one metric family in a Prometheus text: labels (as a string) -> value. */
export function samples (text: string, name: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (m !== null && m[1] === name) out.set(m[2] ?? '', Number(m[3]))
  }
  return out
}

// Takes docs/console.png: a server under a light, varying load for a few minutes, its console's overview in chromium.
// node scripts/console-screenshot.mjs [minutes] (after npm run build; needs chromium, or CHROMIUM_PATH)
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { chromium } = require('playwright-core')
const { connect } = require(path.join(root, 'dist', 'lib', 'client', 'client.js'))
const minutes = Number(process.argv[2] ?? 3)
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rog-shot-'))
const server = spawn(process.execPath, [path.join(root, 'dist', 'bin', 'rog.js'), 'server', '--port', '0', '--http-port', '0', '--data-dir', dataDir, '--fsync', 'never'], { stdio: ['ignore', 'pipe', 'ignore'] })
const line = await new Promise((resolve) => server.stdout.once('data', (c) => resolve(c.toString())))
const port = Number(/:(\d+),/.exec(line)[1])
const url = /console at (\S+)/.exec(line)[1]
const client = await connect(`127.0.0.1:${port}`)
await client.createLog('orders', 4)
await client.createLog('payments', 2)
await client.createLog('audit', 1)
const end = Date.now() + minutes * 60_000
let tick = 0
while (Date.now() < end) {
  const wave = 200 + Math.round(150 * Math.sin(tick / 20))
  for (let p = 0; p < 4; p++) await client.publishBatch('orders', p, Array.from({ length: wave }, (_, i) => JSON.stringify({ order: tick * 1000 + i, amount: (i * 7) % 300, currency: 'EUR' })))
  await client.publishBatch('payments', tick % 2, Array.from({ length: 50 }, (_, i) => `payment ${tick}-${i}`))
  const readTo = (await client.describe('orders')).partitions.map((x) => x.nextOffset)
  for (let p = 0; p < 4; p++) {
    await client.fetchBatch({ log: 'orders', partition: p, group: 'billing', offset: Math.max(0, readTo[p] - 300), maxMessages: 300 })
    await client.commit('orders', p, 'billing', Math.max(0, readTo[p] - (tick % 30) * 40))
  }
  tick++
  await new Promise((resolve) => setTimeout(resolve, 250))
}
const executablePath = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && fs.existsSync(p))
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] })
const page = await browser.newPage({ viewport: { width: 1100, height: 560 } })
await page.goto(`${url}#overview`)
await page.waitForFunction(() => document.querySelector('#log-count')?.textContent === '3')
await page.screenshot({ path: path.join(root, 'docs', 'console.png') })
await page.goto(`${url}#groups`)
await page.waitForSelector('#groups-table tr[data-group="billing"]')
await page.screenshot({ path: path.join(root, 'docs', 'console-groups.png') })
await browser.close()
await client.close()
server.kill('SIGTERM')
fs.rmSync(dataDir, { recursive: true, force: true })

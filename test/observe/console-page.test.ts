import t, { type Test } from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { chromium, type Browser, type Page } from 'playwright-core'
import { connect, type RogClient } from '../../lib/client/client'
import { ROG_BIN } from '../helpers/process'
import { startObserved, type Observed } from '../helpers/http'

/** Debian's chromium (.ci/run installs it), or one named by CHROMIUM_PATH. */
const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter((p): p is string => p !== undefined && p !== '')
const executablePath = CANDIDATES.find((p) => fs.existsSync(p))

if (executablePath === undefined) {
  t.plan(0, `no chromium found (looked at ${CANDIDATES.join(', ')}): apt-get install chromium, or set CHROMIUM_PATH`)
} else {
  let browser: Browser
  t.before(async () => {
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] })
  })
  t.teardown(async () => await browser?.close())

  const shots = t.testdir()
  async function open (t: Test, hash: string): Promise<{ observed: Observed, client: RogClient, page: Page, errors: string[] }> {
    const observed = await startObserved(t)
    const client = await connect(`127.0.0.1:${observed.port}`)
    t.teardown(() => client.close())
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } })
    t.teardown(async () => await context.close())
    const page = await context.newPage()
    page.setDefaultTimeout(20_000)
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} (${m.location().url})`) })
    await page.goto(`${observed.base}/${hash}`)
    return { observed, client, page, errors }
  }
  const exportFrom = async (page: Page): Promise<string | null> => new URL(await page.getAttribute('#export-link', 'href') ?? '', page.url()).searchParams.get('from')
  const shot = async (page: Page, name: string): Promise<void> => {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true })
  }

  t.test('a log created over TCP appears in the logs view', async (t) => {
    const { client, page, errors } = await open(t, '#logs')
    await page.waitForSelector('#logs-empty:not([hidden])')
    await client.createLog('made-over-tcp', 3)
    await client.publish('made-over-tcp', 2, 'x')
    await page.waitForSelector('#logs-table tr[data-log="made-over-tcp"][data-partition="2"]')
    t.equal(await page.textContent('#logs-table tr[data-log="made-over-tcp"][data-partition="2"] .end-offset'), '1')
    t.equal(await page.locator('#logs-table tr[data-log="made-over-tcp"]').count(), 3, 'a row per partition')
    await shot(page, 'logs')
    // Keyboard: 1 opens the overview.
    await page.keyboard.press('1')
    await page.waitForSelector('#overview:not([hidden])')
    await page.waitForFunction(() => document.querySelector('#log-count')?.textContent === '1')
    await shot(page, 'overview')
    t.same(errors, [], 'no script or console errors on the page')
  })

  t.test('publish from the form: shown in the browser and read by rog fetch', async (t) => {
    const { observed, client, page, errors } = await open(t, '#publish')
    await client.createLog('forms', 1)
    await page.reload()
    await page.waitForSelector('#publish-form select[name="log"] option[value="forms"]', { state: 'attached' })
    await page.selectOption('#publish-form select[name="log"]', 'forms')
    await page.fill('#publish-form textarea[name="text"]', 'hello from the browser')
    await page.click('#publish-form button[type="submit"]')
    await page.waitForFunction(() => /at offset 0$/.test(document.querySelector('#publish-result')?.textContent ?? ''))
    await shot(page, 'publish')
    // Not spawnSync: the server runs in this process.
    const fetched = await promisify(execFile)(process.execPath, [ROG_BIN, 'fetch', 'forms', '-g', 'g'], { encoding: 'utf8', env: { ...process.env, ROG_ADDRESS: `127.0.0.1:${observed.port}`, ROG_CONFIG: '' } })
    t.equal(fetched.stdout, 'hello from the browser\n', 'rog fetch reads it')
    await page.keyboard.press('4')
    await page.selectOption('#browse-form select[name="log"]', 'forms')
    await page.click('#browse-form button[type="submit"]')
    await page.waitForSelector('#message-list li[data-offset="0"]')
    t.equal(await page.textContent('#message-list li[data-offset="0"] pre'), 'hello from the browser')
    await page.selectOption('#browse-form select[name="view"]', 'hex')
    await page.waitForFunction(() => document.querySelector('#message-list li pre')?.textContent?.startsWith('00000000  68 65 6c 6c 6f') === true)
    await shot(page, 'messages')
    t.same(errors, [], 'no script or console errors on the page')
  })

  t.test('seek by time, then page forward and back by keyboard', async (t) => {
    const { client, page, errors } = await open(t, '#messages')
    await client.createLog('timed', 1)
    await client.publishBatch('timed', 0, ['early 0', 'early 1', 'early 2'])
    // The time input has whole seconds: the later messages are published in the next second.
    const boundary = Math.floor(Date.now() / 1000) * 1000 + 1000
    while (Date.now() < boundary) await nextTurn()
    await client.publishBatch('timed', 0, Array.from({ length: 12 }, (_, i) => `late ${i}`))
    await page.reload()
    await page.waitForSelector('#browse-form select[name="log"] option[value="timed"]', { state: 'attached' })
    await page.selectOption('#browse-form select[name="log"]', 'timed')
    await page.selectOption('#browse-form select[name="seek"]', 'time')
    const local = await page.evaluate((ms) => {
      const d = new Date(ms)
      const p = (n: number): string => String(n).padStart(2, '0')
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
    }, boundary)
    await page.fill('#browse-form input[name="time"]', local)
    await page.fill('#browse-form input[name="limit"]', '5')
    await page.click('#browse-form button[type="submit"]')
    await page.waitForSelector('#message-list li[data-offset="3"]')
    t.equal(await page.textContent('#message-list li pre'), 'late 0', 'the first message at or after the time')
    await page.locator('#message-list').click()
    await page.keyboard.press('j')
    await page.waitForSelector('#message-list li[data-offset="8"]')
    t.equal(await page.textContent('#message-list li pre'), 'late 5')
    t.equal(await exportFrom(page), '8', 'the export starts at the page shown')
    await page.keyboard.press('k')
    await page.waitForSelector('#message-list li[data-offset="3"]')
    t.equal(await exportFrom(page), '3')
    await page.fill('#browse-form input[name="filter"]', 'late 1')
    await page.selectOption('#browse-form select[name="seek"]', 'offset')
    await page.fill('#browse-form input[name="offset"]', '0')
    await page.click('#browse-form button[type="submit"]')
    await page.waitForFunction(() => [...document.querySelectorAll('#message-list li')].map((li) => li.getAttribute('data-offset')).join(',') === '4,13,14')
    t.pass('the filter runs on the server: late 1, late 10, late 11')
    t.same(errors, [], 'no script or console errors on the page')
  })

  t.test('lag falls after a commit, in the groups view', async (t) => {
    const { client, page, errors } = await open(t, '#groups')
    await client.createLog('lagging', 1)
    await client.publishBatch('lagging', 0, Array.from({ length: 10 }, (_, i) => `m${i}`))
    await client.commit('lagging', 0, 'slow', 2)
    await page.waitForSelector('#groups-table tr[data-group="slow"]')
    await page.waitForFunction(() => document.querySelector('#groups-table tr[data-group="slow"] .lag-messages')?.textContent === '8')
    await shot(page, 'groups-before')
    await client.commit('lagging', 0, 'slow', 10)
    await page.waitForFunction(() => document.querySelector('#groups-table tr[data-group="slow"] .lag-messages')?.textContent === '0')
    t.equal(await page.textContent('#groups-table tr[data-group="slow"] .lag-seconds'), '0.0')
    await shot(page, 'groups')
    t.same(errors, [], 'no script or console errors on the page')
  })

  t.test('live tail shows messages as they are published', async (t) => {
    const { client, page, errors } = await open(t, '#tail')
    await client.createLog('tailed', 1)
    await page.reload()
    await page.waitForSelector('#tail-form select[name="log"] option[value="tailed"]', { state: 'attached' })
    await page.click('#tail-start')
    await page.waitForFunction(() => /following from offset 0/.test(document.querySelector('#tail-status')?.textContent ?? ''))
    await client.publish('tailed', 0, 'live one')
    await page.waitForSelector('#tail-list li[data-offset="0"]')
    t.equal(await page.textContent('#tail-list li pre'), 'live one')
    await shot(page, 'tail')
    await page.click('#tail-stop')
    t.equal(await page.textContent('#tail-status'), 'stopped')
    t.same(errors, [], 'no script or console errors on the page')
  })

  t.test('screenshots of each view were written', async (t) => {
    for (const view of ['overview', 'logs', 'groups', 'messages', 'publish', 'tail']) t.ok(fs.existsSync(path.join(shots, `${view}.png`)), `${view}.png in ${shots}`)
  })
}

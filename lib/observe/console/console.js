// The Rog console: plain JavaScript over the server's /api/ endpoints. No build step.
'use strict'

const VIEWS = ['overview', 'logs', 'groups', 'messages', 'publish', 'tail']
const REFRESH_MS = { overview: 5000, logs: 2000, groups: 2000 }
const MAX_TAIL_ITEMS = 500

const $ = (selector, root = document) => root.querySelector(selector)

let current = null
let refreshTimer = null
let knownLogs = []

async function api (path, options = {}) {
  const init = { headers: {}, ...options }
  if (options.body !== undefined) {
    init.method = init.method ?? 'POST'
    init.headers['content-type'] = 'application/json'
    init.body = JSON.stringify(options.body)
  }
  const res = await fetch(path, init)
  const body = await res.json().catch(() => null)
  if (!res.ok) throw new Error(body?.error?.message ?? `${res.status} ${res.statusText}`)
  return body
}

function el (tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v
    else if (k === 'dataset') Object.assign(node.dataset, v)
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else node.setAttribute(k, v)
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return node
}

function formatBytes (n) {
  if (n === null || n === undefined) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}

function formatSeconds (s) {
  if (s === null || s === undefined) return '–'
  if (s < 0.001) return `${(s * 1e6).toFixed(0)} µs`
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms`
  if (s < 120) return `${s.toFixed(1)} s`
  if (s < 7200) return `${(s / 60).toFixed(1)} min`
  return `${(s / 3600).toFixed(1)} h`
}

function formatRate (r) {
  return r >= 100 ? Math.round(r).toLocaleString() : r.toFixed(1)
}

/** An SVG polyline of `values` (nulls skipped) scaled into the svg's viewBox. */
function sparkline (svg, values) {
  const [, , w, h] = (svg.getAttribute('viewBox') ?? '0 0 180 40').split(' ').map(Number)
  svg.replaceChildren()
  const present = values.filter((v) => v !== null && v !== undefined)
  if (present.length === 0) return
  const max = Math.max(...present, 1e-9)
  const step = values.length > 1 ? w / (values.length - 1) : w
  const points = []
  values.forEach((v, i) => {
    if (v === null || v === undefined) return
    points.push(`${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`)
  })
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline')
  line.setAttribute('points', points.join(' '))
  svg.append(line)
}

// ---- views

async function showOverview () {
  const o = await api('/api/overview')
  const samples = o.samples
  const last = samples[samples.length - 1]
  $('#rate-in').textContent = last === undefined ? '–' : formatRate(last.messagesInPerSec)
  $('#rate-out').textContent = last === undefined ? '–' : formatRate(last.messagesOutPerSec)
  $('#p99').textContent = last === undefined ? '–' : formatSeconds(last.p99Seconds)
  $('#connections').textContent = String(o.connections)
  $('#disk').textContent = formatBytes(o.diskFreeBytes)
  $('#disk-note').textContent = `readiness needs ${formatBytes(o.minFreeBytes)}`
  $('#log-count').textContent = `${o.logs}`
  $('#cluster-note').textContent = `${o.partitions} partitions` + (o.cluster === null ? ', single node' : `, node ${o.cluster.node} of cluster ${o.cluster.cluster}${o.cluster.controller === o.cluster.node ? ' (controller)' : ''}`)
  sparkline($('#spark-in'), samples.map((s) => s.messagesInPerSec))
  sparkline($('#spark-out'), samples.map((s) => s.messagesOutPerSec))
  sparkline($('#spark-p99'), samples.map((s) => s.p99Seconds))
  sparkline($('#spark-conn'), samples.map((s) => s.connections))
}

async function showLogs () {
  const { logs } = await api('/api/logs')
  setKnownLogs(logs.map((l) => l.log))
  const body = $('#logs-table tbody')
  body.replaceChildren()
  for (const l of logs) {
    for (const p of l.partitions) {
      const browse = el('button', { type: 'button', class: 'secondary', onclick: () => openMessages(l.log, p.partition) }, 'Browse')
      body.append(el('tr', { dataset: { log: l.log, partition: String(p.partition) } },
        el('td', {}, p.partition === 0 ? l.log : ''),
        el('td', {}, p.partition),
        el('td', { class: 'num' }, p.firstOffset),
        el('td', { class: 'num end-offset' }, p.endOffset),
        el('td', { class: 'num' }, formatBytes(p.bytes)),
        el('td', { class: 'num' }, p.groups),
        el('td', {}, p.leader ?? '–'),
        el('td', {}, p.isr === null ? '–' : p.isr.join(', ')),
        el('td', {}, browse)))
    }
  }
  $('#logs-empty').hidden = logs.length > 0
}

async function showGroups () {
  const { groups, history } = await api('/api/groups')
  const body = $('#groups-table tbody')
  body.replaceChildren()
  for (const g of groups) {
    const parts = g.partitions.map((p) => `${p.partition}: ${p.committedOffset ?? '–'} / ${p.endOffset}`).join(' · ')
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
    svg.setAttribute('class', 'lag')
    svg.setAttribute('viewBox', '0 0 180 32')
    svg.setAttribute('preserveAspectRatio', 'none')
    svg.setAttribute('role', 'img')
    svg.setAttribute('aria-label', `lag of ${g.group} over the last 15 minutes`)
    sparkline(svg, history.map((h) => h.lag[`${g.log}/${g.group}`] ?? null))
    body.append(el('tr', { dataset: { log: g.log, group: g.group } },
      el('td', {}, g.log),
      el('td', {}, g.group),
      el('td', { class: 'num lag-messages' }, g.lagMessages),
      el('td', { class: 'num lag-seconds' }, g.lagSeconds.toFixed(1)),
      el('td', {}, parts),
      el('td', {}, svg)))
  }
  $('#groups-empty').hidden = groups.length > 0
}

function setKnownLogs (logs) {
  knownLogs = logs
  for (const select of document.querySelectorAll('select.log-select')) {
    const chosen = select.value
    select.replaceChildren(...logs.map((l) => el('option', { value: l }, l)))
    if (logs.includes(chosen)) select.value = chosen
  }
}

// ---- message browser

const browser = { starts: [], next: null, query: null }

function messageText (bytes, view) {
  if (view === 'hex') {
    const lines = []
    for (let i = 0; i < bytes.length; i += 16) {
      const row = bytes.subarray(i, i + 16)
      const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ')
      const ascii = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('')
      lines.push(`${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`)
    }
    return lines.join('\n')
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  if (view === 'json') {
    try { return JSON.stringify(JSON.parse(text), null, 2) } catch { return `(not JSON) ${text}` }
  }
  return text
}

function decode (base64) {
  const raw = atob(base64)
  const bytes = new Uint8Array(raw.length)
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i)
  return bytes
}

function messageItem (m, view) {
  const when = m.timestamp === null ? '' : new Date(m.timestamp).toISOString()
  const meta = el('div', { class: 'meta' }, `offset ${m.offset} · ${when} · ${m.size} bytes${m.truncated ? ' (first 64 KiB shown)' : ''}`)
  return el('li', { dataset: { offset: String(m.offset) } }, meta, el('pre', {}, messageText(decode(m.data), view)))
}

function browseQuery () {
  const f = $('#browse-form')
  const q = new URLSearchParams({ log: f.log.value, partition: f.partition.value, limit: f.limit.value })
  if (f.filter.value !== '') q.set('filter', f.filter.value)
  return q
}

async function loadPage (start) {
  const f = $('#browse-form')
  const q = new URLSearchParams(browser.query)
  if (start.time !== undefined) q.set('time', String(start.time))
  else q.set('offset', String(start.offset))
  const info = $('#page-info')
  try {
    const page = await api(`/api/messages?${q}`)
    browser.next = page.messages.length > 0 || page.budgetExhausted ? page.nextOffset : null
    browser.starts.push(page.startOffset)
    const list = $('#message-list')
    list.replaceChildren(...page.messages.map((m) => messageItem(m, f.view.value)))
    info.classList.remove('error')
    info.textContent = `offsets ${page.firstOffset}–${page.endOffset}; ${page.messages.length} shown` +
      (q.has('filter') ? `, ${page.scanned} scanned` : '') + (page.budgetExhausted ? ' (scan budget reached: Next goes on)' : '')
    $('#next-page').disabled = browser.next === null || browser.next >= page.endOffset
    $('#prev-page').disabled = browser.starts.length < 2
    const exportQuery = new URLSearchParams(browser.query)
    exportQuery.delete('limit')
    exportQuery.set('from', String(page.startOffset))
    const link = $('#export-link')
    link.href = `/api/export?${exportQuery}`
    link.hidden = false
  } catch (err) {
    info.classList.add('error')
    info.textContent = err.message
  }
}

function openMessages (log, partition) {
  location.hash = '#messages'
  const f = $('#browse-form')
  f.log.value = log
  f.partition.value = String(partition)
  f.seek.value = 'offset'
  f.offset.value = '0'
  seekMode()
  f.requestSubmit()
}

function seekMode () {
  const byTime = $('#browse-form').seek.value === 'time'
  $('#browse-form .seek-offset').hidden = byTime
  $('#browse-form .seek-time').hidden = !byTime
}

function nextPage () {
  if (browser.next === null || $('#next-page').disabled) return
  void loadPage({ offset: browser.next })
}

function previousPage () {
  if (browser.starts.length < 2) return
  browser.starts.pop()
  const start = browser.starts.pop()
  void loadPage({ offset: start })
}

// ---- live tail

let tailSource = null

function stopTail () {
  tailSource?.close()
  tailSource = null
  $('#tail-start').disabled = false
  $('#tail-stop').disabled = true
  $('#tail-status').textContent = 'stopped'
}

function startTail (log, partition) {
  stopTail()
  const list = $('#tail-list')
  list.replaceChildren()
  tailSource = new EventSource(`/api/tail?${new URLSearchParams({ log, partition })}`)
  $('#tail-start').disabled = true
  $('#tail-stop').disabled = false
  $('#tail-status').textContent = 'connecting…'
  tailSource.addEventListener('start', (e) => { $('#tail-status').textContent = `following from offset ${JSON.parse(e.data).offset}` })
  tailSource.addEventListener('message', (e) => {
    list.prepend(messageItem(JSON.parse(e.data), 'text'))
    while (list.children.length > MAX_TAIL_ITEMS) list.lastChild.remove()
  })
  tailSource.addEventListener('failure', (e) => {
    $('#tail-status').textContent = JSON.parse(e.data).message
    stopTail()
  })
  tailSource.onerror = () => { if (tailSource !== null) $('#tail-status').textContent = 'reconnecting…' }
}

// ---- navigation and refresh

const SHOW = { overview: showOverview, logs: showLogs, groups: showGroups }

async function refresh () {
  clearTimeout(refreshTimer)
  const view = current
  const status = $('#server-status')
  try {
    if (SHOW[view] !== undefined) await SHOW[view]()
    else setKnownLogs((await api('/api/logs')).logs.map((l) => l.log))
    status.classList.remove('bad')
    const ready = await fetch('/readyz').then((r) => r.json()).catch(() => null)
    status.textContent = ready === null ? '' : ready.status === 'ready' ? 'ready' : `not ready: ${ready.failing.map((c) => c.detail).join('; ')}`
    if (ready?.status !== 'ready') status.classList.add('bad')
  } catch (err) {
    status.classList.add('bad')
    status.textContent = `error: ${err.message}`
  }
  if (view === current && REFRESH_MS[view] !== undefined) refreshTimer = setTimeout(refresh, REFRESH_MS[view])
}

function show (view) {
  if (!VIEWS.includes(view)) view = 'overview'
  current = view
  for (const v of VIEWS) $(`#${v}`).hidden = v !== view
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  void refresh()
}

function typing (target) {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement
}

document.addEventListener('DOMContentLoaded', () => {
  window.addEventListener('hashchange', () => show(location.hash.slice(1)))
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return
    const n = Number(e.key)
    if (n >= 1 && n <= VIEWS.length) location.hash = `#${VIEWS[n - 1]}`
    else if (e.key === 'r') void refresh()
    else if (current === 'messages' && e.key === 'j') nextPage()
    else if (current === 'messages' && e.key === 'k') previousPage()
  })

  $('#create-form').addEventListener('submit', async (e) => {
    e.preventDefault()
    const f = e.target
    const out = $('#create-result')
    try {
      await api('/api/logs', { body: { log: f.log.value, partitions: Number(f.partitions.value) } })
      out.classList.remove('error')
      out.textContent = `created ${f.log.value}`
      f.log.value = ''
      void refresh()
    } catch (err) {
      out.classList.add('error')
      out.textContent = err.message
    }
  })

  $('#browse-form').seek.addEventListener('change', seekMode)
  $('#browse-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const f = e.target
    browser.starts = []
    browser.query = browseQuery()
    if (f.seek.value === 'time') {
      const ms = new Date(f.time.value).getTime()
      if (Number.isNaN(ms)) {
        $('#page-info').textContent = 'choose a time'
        return
      }
      void loadPage({ time: ms })
    } else {
      void loadPage({ offset: Number(f.offset.value) })
    }
  })
  $('#browse-form').view.addEventListener('change', () => {
    if (browser.starts.length > 0) {
      const start = browser.starts.pop()
      void loadPage({ offset: start })
    }
  })
  $('#next-page').addEventListener('click', nextPage)
  $('#prev-page').addEventListener('click', previousPage)

  $('#publish-form').addEventListener('submit', async (e) => {
    e.preventDefault()
    const f = e.target
    const out = $('#publish-result')
    try {
      const r = await api('/api/messages', { body: { log: f.log.value, partition: Number(f.partition.value), text: f.text.value } })
      out.classList.remove('error')
      out.textContent = `published to ${r.log} partition ${r.partition} at offset ${r.offset}`
      f.text.value = ''
    } catch (err) {
      out.classList.add('error')
      out.textContent = err.message
    }
  })

  $('#tail-form').addEventListener('submit', (e) => {
    e.preventDefault()
    startTail(e.target.log.value, e.target.partition.value)
  })
  $('#tail-stop').addEventListener('click', stopTail)

  show(location.hash.slice(1))
})

import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { samples, startObserved } from '../helpers/http'

const SUMMARY = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map((s) => `nodejs_eventloop_lag_${s}_seconds`)

async function scrape (base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  return await res.text()
}

t.test('an idle server\'s event-loop delay is small and a number, however soon scrapes follow each other', async (t) => {
  const { base } = await startObserved(t)
  await scrape(base)
  await sleep(1500)
  const texts = [await scrape(base), await scrape(base), ...await Promise.all([scrape(base), scrape(base)])]
  texts.forEach((text, i) => {
    for (const name of SUMMARY) {
      const value = samples(text, name).get('')
      t.ok(value !== undefined && Number.isFinite(value) && value >= 0 && value < 0.5, `scrape ${i + 1}: ${name} ${value}`)
    }
  })
})

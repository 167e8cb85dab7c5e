import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { Gauge, type Registry } from 'prom-client'

/**
 * Milliseconds between the histogram's samples, prom-client's default: about 100 timer wake-ups a second, small
 * beside the server's own work. Node records each whole interval between wake-ups, so an idle loop reads about this
 * much (a 1 s tick, tried to save those wake-ups, read 1 s on an idle server), more by as much as it was held up.
 */
export const EVENT_LOOP_RESOLUTION_MS = 10

const SUMMARY: Array<{ name: string, help: string, of: (h: IntervalHistogram) => number }> = [
  { name: 'nodejs_eventloop_lag_min_seconds', help: 'The minimum recorded event loop delay.', of: (h) => h.min },
  { name: 'nodejs_eventloop_lag_max_seconds', help: 'The maximum recorded event loop delay.', of: (h) => h.max },
  { name: 'nodejs_eventloop_lag_mean_seconds', help: 'The mean of the recorded event loop delays.', of: (h) => h.mean },
  { name: 'nodejs_eventloop_lag_stddev_seconds', help: 'The standard deviation of the recorded event loop delays.', of: (h) => h.stddev },
  { name: 'nodejs_eventloop_lag_p50_seconds', help: 'The 50th percentile of the recorded event loop delays.', of: (h) => h.percentile(50) },
  { name: 'nodejs_eventloop_lag_p90_seconds', help: 'The 90th percentile of the recorded event loop delays.', of: (h) => h.percentile(90) },
  { name: 'nodejs_eventloop_lag_p99_seconds', help: 'The 99th percentile of the recorded event loop delays.', of: (h) => h.percentile(99) }
]

/**
 * The nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds series
 * of prom-client's default metrics, in their place in `registry`, from a
 * histogram of this module's own.
 *
 * Each `sample()` reports the delays recorded since the last one that found
 * any, and starts a new period. One that finds none (sooner than an interval
 * after the last) leaves the figures and the period as they are: an empty
 * histogram has a NaN mean and a minimum of 2^63 ns, which prom-client's own
 * collector, resetting at every scrape, reports.
 */
export class EventLoopDelay {
  private readonly histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  private readonly gauges: Gauge[]

  constructor (registry: Registry) {
    for (const { name } of SUMMARY) registry.removeSingleMetric(name)
    this.gauges = SUMMARY.map(({ name, help }) => new Gauge({ name, help, registers: [registry] }))
    this.histogram.enable()
  }

  sample (): void {
    const h = this.histogram
    if (h.count === 0) return
    SUMMARY.forEach(({ of }, i) => this.gauges[i].set(of(h) / 1e9))
    h.reset()
  }

  close (): void {
    this.histogram.disable()
  }
}

import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { ClusterClient } from '../lib/client/cluster-client'
import type { LoadResult, ProduceJob } from './jobs'
import { payload } from './payload'

/**
 * Publishes `job.messages` messages of `job.payloadBytes` bytes to partition
 * 0 of `job.log` through the cluster client's producer: batches of
 * `job.batchMessages`, `job.maxInFlight` in flight, each numbered for
 * idempotence (command 23) and sent to the partition's leader. Stops writing
 * at the time limit; counts what was acknowledged. No latency samples: the
 * producer's batches are not timed one by one.
 */
export async function produceLoad (job: ProduceJob): Promise<LoadResult> {
  const client = await ClusterClient.connect(job.addresses, { requestTimeoutMs: 30_000 })
  try {
    const data = payload(job.payloadBytes)
    const producer = client.producer({ log: job.log, partition: 0, batchMessages: job.batchMessages, maxInFlight: job.maxInFlight, highWaterMark: job.batchMessages * 4 })
    const start = performance.now()
    const deadline = start + job.timeLimitMs
    let written = 0
    let capped = false
    while (written < job.messages) {
      if ((written & 1023) === 0 && performance.now() > deadline) {
        capped = true
        break
      }
      written++
      if (!producer.write(data)) await once(producer, 'drain')
    }
    producer.end()
    let firstError: string | null = null
    try {
      await once(producer, 'finish')
    } catch (err) {
      firstError = err instanceof Error ? err.message : String(err)
    }
    const seconds = (performance.now() - start) / 1000
    const batches = Math.ceil(producer.acknowledged / job.batchMessages)
    return { messages: producer.acknowledged, requests: batches, seconds, latency: null, capped, errors: firstError === null ? 0 : 1, firstError }
  } finally {
    client.destroy()
  }
}

import { performance } from 'node:perf_hooks'
import Redis from 'ioredis'
import type { LoadResult, RedisDrainJob } from './jobs'
import { LatencySampler } from './latency'
import { payload } from './payload'

const FILL_CHUNK = 1000

type StreamReply = Array<[key: string, entries: Array<[id: string, fields: string[]]>]> | null

/**
 * The Redis Streams counterpart of the batch drain: fills `job.key` with
 * `job.messages` entries (untimed), then a consumer group reads them with
 * XREADGROUP COUNT `job.batch` and acknowledges each batch with one XACK.
 * Latency is the round trip of each command.
 */
export async function redisDrainLoad (job: RedisDrainJob): Promise<LoadResult> {
  const redis = new Redis({ host: '127.0.0.1', port: job.port, lazyConnect: true, protocol: 2, maxRetriesPerRequest: 0, enableOfflineQueue: false })
  await redis.connect()
  try {
    const value = payload(job.payloadBytes).toString('latin1')
    await redis.del(job.key)
    for (let done = 0; done < job.messages; done += FILL_CHUNK) {
      const pipe = redis.pipeline()
      for (let i = done; i < Math.min(job.messages, done + FILL_CHUNK); i++) pipe.xadd(job.key, '*', 'f', value)
      const results = await pipe.exec()
      const failed = results?.find(([err]) => err !== null)
      if (failed !== undefined) throw failed[0] ?? new Error('XADD failed')
    }
    await redis.call('XGROUP', 'CREATE', job.key, job.group, '0')

    const sampler = new LatencySampler(1, (job.messages / job.batch) * 2)
    let messages = 0
    let requests = 0
    let capped = false
    const start = performance.now()
    const deadline = start + job.timeLimitMs
    while (messages < job.messages) {
      if (performance.now() > deadline) {
        capped = true
        break
      }
      let t = performance.now()
      const reply = await redis.call('XREADGROUP', 'GROUP', job.group, 'bench', 'COUNT', job.batch, 'STREAMS', job.key, '>') as StreamReply
      sampler.record(performance.now() - t)
      requests++
      const entries = reply?.[0]?.[1] ?? []
      if (entries.length === 0) break
      t = performance.now()
      await redis.call('XACK', job.key, job.group, ...entries.map((e) => e[0]))
      sampler.record(performance.now() - t)
      requests++
      messages += entries.length
    }
    const seconds = (performance.now() - start) / 1000
    await redis.del(job.key)
    return { messages, requests, seconds, latency: sampler.summary(), capped, errors: 0, firstError: null }
  } finally {
    redis.disconnect()
  }
}

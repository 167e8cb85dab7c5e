import * as net from 'node:net'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { encodeCommand } from '../lib/protocol/request-writer'
import { AnswerCounter } from './answer-counter'
import type { DrainJob, LoadResult } from './jobs'
import { LatencySampler } from './latency'

const FETCH_MAX_BYTES = 8 * 1024 * 1024

/**
 * A consumer group reading partition 0 of `job.log` from its committed offset
 * until `job.messages` messages are consumed, the partition is drained or the
 * time limit passes. One request in flight at a time:
 *
 * - reference: fetch (the group's next message), then ack (move by one);
 * - batch: fetch-batch of up to `job.batch` messages from the committed
 *   offset, then commit past the last one.
 *
 * Latency is the round trip of each request.
 */
export async function drainLoad (job: DrainJob): Promise<LoadResult> {
  const socket = net.connect({ port: job.port, host: '127.0.0.1', noDelay: true })
  await once(socket, 'connect')
  const counter = new AnswerCounter(job.mode === 'reference' ? 'sized' : 'framed')
  const sampler = new LatencySampler(1, job.mode === 'reference' ? job.messages * 2 : job.messages / job.batch * 2)
  const fetch = job.mode === 'reference'
    ? encodeCommand({ command: 'fetch', log: job.log, partition: 0, group: job.group })
    : encodeCommand({ command: 'fetch-batch', log: job.log, partition: 0, group: job.group, offset: null, maxMessages: job.batch, maxBytes: FETCH_MAX_BYTES, waitMs: 0 })
  const ack = encodeCommand({ command: 'ack', log: job.log, partition: 0, group: job.group })

  let messages = 0
  let requests = 0
  let capped = false
  let drained = false
  let fetching = true
  let sentAt = 0
  const start = performance.now()
  const deadline = start + job.timeLimitMs

  const send = (frame: Buffer): void => {
    sentAt = performance.now()
    socket.write(frame)
  }

  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (messages >= job.messages || drained) return resolve()
      if (performance.now() > deadline) {
        capped = true
        return resolve()
      }
      fetching = true
      counter.shape = job.mode === 'reference' ? 'sized' : 'framed'
      send(fetch)
    }
    socket.on('data', (chunk: Buffer) => {
      let n: number
      try {
        n = counter.feed(chunk)
      } catch (err) {
        reject(err)
        return
      }
      if (n === 0) return
      sampler.record(performance.now() - sentAt)
      requests++
      if (counter.errors > 0) {
        if (fetching && counter.firstError?.startsWith('No data left') === true) {
          drained = true
          counter.errors = 0
          return next()
        }
        return reject(new Error(`server answered: ${counter.firstError ?? ''}`))
      }
      if (!fetching) return next()
      fetching = false
      if (job.mode === 'reference') {
        messages++
        counter.shape = 'ok'
        return send(ack)
      }
      const { committed, count } = counter.lastMessages()
      if (count === 0) {
        drained = true
        return next()
      }
      messages += count
      send(encodeCommand({ command: 'commit', log: job.log, partition: 0, group: job.group, offset: committed + count }))
    })
    socket.once('error', reject)
    socket.once('close', () => reject(new Error('connection closed during the drain')))
    next()
  })
  const seconds = (performance.now() - start) / 1000
  socket.destroy()
  return {
    messages,
    requests,
    seconds,
    latency: sampler.summary(),
    capped,
    errors: counter.errors,
    firstError: counter.firstError
  }
}

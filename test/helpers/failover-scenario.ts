import type { Test } from 'tap'
import { RogClient } from '../../lib/client/client'
import { startEtcd } from './etcd'
import { ReferenceProducer, RogCluster } from './rog-cluster'

const TTL_MS = 2000
const LOG = 'events'
const RUNS = Number(process.env.ROG_FAILOVER_RUNS ?? 2)

/** A small seeded generator (mulberry32), so a failing run can be repeated with ROG_FAILOVER_SEED. */
function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Commits of group `g` at the partition's leader (another node answers
 * NOT_LEADER: the committer moves on to the next node), each to the
 * partition's end as the leader last answered it: what was acknowledged must
 * never be undone.
 */
class Committer {
  readonly acked: number[] = []
  /** Reads of the committed offset that came back lower than a commit acknowledged before the read began. */
  readonly backwards: string[] = []
  private stopped = false
  constructor (private readonly cluster: RogCluster, private node: number) {}

  async run (untilMs: number): Promise<void> {
    while (!this.stopped && Date.now() < untilMs) {
      let client: RogClient | null = null
      try {
        client = await RogClient.connect(this.cluster.address(this.node), { connectTimeoutMs: 1000, requestTimeoutMs: 10_000 })
        while (!this.stopped && Date.now() < untilMs) {
          const before = this.acked[this.acked.length - 1] ?? 0
          const batch = await client.fetchBatch({ log: LOG, partition: 0, group: 'g', maxMessages: 0 })
          if (batch.committedOffset < before) this.backwards.push(`read ${batch.committedOffset} after commit ${before} was acknowledged`)
          const offset = batch.endOffset
          if (offset > before) {
            await client.commit(LOG, 0, 'g', offset)
            this.acked.push(offset)
          }
          await sleep(50)
        }
      } catch {
        this.node = this.node % this.cluster.dirs.length + 1
        await sleep(100)
      } finally {
        client?.destroy()
      }
    }
  }

  stop (): void {
    this.stopped = true
  }
}

/**
 * The checker (in the spirit of Jepsen's Kafka analyses): every acknowledged
 * message is in the log exactly once; no message is in it twice; each
 * producer's acknowledged messages are in the order it sent them; every
 * replica agrees with the others at every offset both hold; the group's
 * offset is not behind its last acknowledged commit.
 */
async function check (t: Test, cluster: RogCluster, producers: ReferenceProducer[], committer: Committer, inSync: number[], finalGroup: number): Promise<void> {
  const replicas = new Map<number, string[]>()
  for (const node of inSync) replicas.set(node, await cluster.readReplica(node, LOG, 0))
  const longest = [...replicas.values()].reduce((a, b) => (b.length > a.length ? b : a))
  for (const [node, messages] of replicas) {
    let differ = -1
    for (let i = 0; i < Math.min(messages.length, longest.length); i++) if (messages[i] !== longest[i]) { differ = i; break }
    t.equal(differ, -1, `node ${node}'s replica agrees with the longest at every offset (${messages.length} messages)`)
    const position = new Map<string, number>()
    let duplicates = 0
    for (const [i, m] of messages.entries()) {
      if (position.has(m)) duplicates++
      position.set(m, i)
    }
    t.equal(duplicates, 0, `node ${node}: no message is stored twice`)
    let missing = 0
    let disorder = 0
    for (const p of producers) {
      let last = -1
      for (const { seq } of p.acked.slice().sort((a, b) => a.seq - b.seq)) {
        const at = position.get(p.message(seq))
        if (at === undefined) missing++
        else if (at < last) disorder++
        else last = at
      }
    }
    t.equal(missing, 0, `node ${node}: every acknowledged message is present (${producers.reduce((n, p) => n + p.acked.length, 0)} acknowledged)`)
    t.equal(disorder, 0, `node ${node}: each producer's acknowledged messages are in the order sent`)
  }
  t.same(committer.backwards, [], `the group's offset never read lower than an acknowledged commit (${committer.acked.length} commits)`)
  t.ok(finalGroup >= (committer.acked[committer.acked.length - 1] ?? 0), `the group ends at ${finalGroup}, not behind its last acknowledged commit`)
}

export type Fault = 'kill-leader' | 'pause-leader' | 'isolate-leader' | 'kill-controller' | 'pause-follower'

/** The first acknowledgement after `since`, from any producer. */
function firstAckAfter (producers: ReferenceProducer[], since: number): number | null {
  let first: number | null = null
  for (const p of producers) for (const a of p.acked) if (a.at > since && (first === null || a.at < first)) first = a.at
  return first
}

export async function scenario (t: Test, fault: Fault, seed: number): Promise<void> {
  t.comment(`seed ${seed} (ROG_FAILOVER_SEED=${seed} repeats this run)`)
  const rand = random(seed)
  const etcd = await startEtcd(t)
  const cluster = new RogCluster(t, etcd, 3, ['--session-ttl-ms', String(TTL_MS), '--replica-lag-ms', '1500', '--fsync', rand() < 0.5 ? 'interval' : 'always'])
  await cluster.startAll({ proxied: fault === 'isolate-leader' })
  const creator = await RogClient.connect(cluster.address(1 + Math.floor(rand() * 3)))
  // The reference create (command 0): the default replication factor, here 3.
  await creator.request({ command: 'create', log: LOG, partitions: 1 })
  creator.destroy()
  const before = (await cluster.waitPlacement(1, LOG, 'a leader with all 3 in sync', (p) => p[0]?.leader > 0 && p[0].isr.length === 3))[0]
  const info = await RogClient.connect(cluster.address(1))
  const controller = (await info.clusterInfo()).controller as number
  info.destroy()
  const producers = [0, 1, 2, 3].map((i) => new ReferenceProducer(`p${i}`, cluster, 1 + ((i + Math.floor(rand() * 3)) % 3), LOG))
  const committer = new Committer(cluster, 1 + Math.floor(rand() * 3))
  const until = Date.now() + 40_000
  const running = [...producers.map(async (p) => await p.run(until)), committer.run(until)]
  await sleep(500 + Math.floor(rand() * 1000))

  const follower = before.replicas.find((id) => id !== before.leader) as number
  const target = fault === 'kill-controller' ? controller : fault === 'pause-follower' ? follower : before.leader
  const faultAt = Date.now()
  if (fault === 'kill-leader' || fault === 'kill-controller') await cluster.kill(target)
  if (fault === 'pause-leader' || fault === 'pause-follower') cluster.signal(target, 'SIGSTOP')
  if (fault === 'isolate-leader') cluster.proxies[target - 1].drop()
  const observer = target % 3 + 1
  if (fault === 'isolate-leader') {
    // The leader keeps its etcd session: it stays leader, its followers drop out of its ISR, and it takes no writes.
    await cluster.waitPlacement(observer, LOG, 'the isolated leader alone in its ISR', (p) => p[0].isr.length === 1)
    await sleep(500)
    // TCP never loses bytes inside a stream: connections that lost some are reset at the heal, as a real partition's would time out.
    cluster.proxies[target - 1].cut()
    cluster.proxies[target - 1].pass()
  } else if (fault === 'pause-follower') {
    // Two in sync still meet --min-insync-replicas 2: writes go on while it is away.
    await cluster.waitPlacement(before.leader, LOG, 'the paused follower out of the ISR', (p) => !p[0].isr.includes(target))
    t.equal((await cluster.placement(before.leader, LOG))[0].leader, before.leader, 'the leader stays')
  } else if (fault !== 'kill-controller' || target === before.leader) {
    const after = await cluster.waitPlacement(observer, LOG, 'a new leader', (p) => p[0].leader > 0 && p[0].leader !== before.leader)
    t.ok(after[0].epoch > before.epoch, `node ${after[0].leader} leads at epoch ${after[0].epoch} (was node ${before.leader} at ${before.epoch})`)
  }
  for (let i = 0; i < 200 && firstAckAfter(producers, faultAt + 1) === null; i++) await sleep(50)
  const resumedAt = firstAckAfter(producers, faultAt + 1)
  t.not(resumedAt, null, 'writes resumed after the fault')
  t.comment(`${fault}: writes acknowledged again ${(resumedAt ?? 0) - faultAt} ms after the fault (session TTL ${TTL_MS} ms)`)
  if (fault === 'pause-leader' || fault === 'pause-follower') {
    await sleep(300)
    cluster.signal(target, 'SIGCONT')
  }
  if (fault === 'kill-leader' || fault === 'kill-controller') await cluster.start(target)
  await cluster.waitPlacement(observer, LOG, 'all 3 in sync again', (p) => p[0].leader > 0 && p[0].isr.length === 3)
  t.pass(`node ${target} is back in the ISR`)
  await sleep(500)
  for (const p of producers) p.stop()
  committer.stop()
  await Promise.all(running)
  const final = (await cluster.placement(observer, LOG))[0]
  // Read at the leader: a node that does not lead the partition answers command 6 with NOT_LEADER.
  const reader = await RogClient.connect(cluster.address(final.leader))
  const group = (await reader.fetchBatch({ log: LOG, partition: 0, group: 'g', maxMessages: 0 })).committedOffset
  reader.destroy()
  await cluster.stopAll()
  t.ok(producers.some((p) => p.acked.length > 0), 'messages were acknowledged')
  await check(t, cluster, producers, committer, final.isr, group)
}

/**
 * Runs `fault` ROG_FAILOVER_RUNS times (default 2), each with a fresh seed
 * (or ROG_FAILOVER_SEED), printed so that a failing run can be repeated.
 */
export async function runs (t: Test, fault: Fault): Promise<void> {
  for (let run = 0; run < RUNS; run++) {
    const seed = Number(process.env.ROG_FAILOVER_SEED ?? Math.floor(Math.random() * 2 ** 31))
    await t.test(`${fault}, run ${run + 1} of ${RUNS}`, async (t) => await scenario(t, fault, seed))
  }
}

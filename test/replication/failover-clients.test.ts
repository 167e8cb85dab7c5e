import { once } from 'node:events'
import t, { type Test } from 'tap'
import { RogClient } from '../../lib/client/client'
import { ClusterClient } from '../../lib/client/cluster-client'
import { RogProcess } from '../cli/rog-process'
import { etcdSkip, startEtcd } from '../helpers/etcd'
import { FaultProxy } from '../helpers/fault-proxy'
import { RogCluster, type Placement } from '../helpers/rog-cluster'
import { waitFor } from '../helpers/wait'

// One etcd and 3 nodes for every scenario: each fault is repaired (the node restarted or resumed, back in the ISR) before the next.
const N = 200_000
const TTL_MS = 2000
/** Low enough that a paused leader is given up on quickly; a request waits this long for its answer. */
const TIMEOUT_MS = 3000

type Fault = 'kill' | 'pause'

class Scenario {
  constructor (readonly cluster: RogCluster) {}

  get addresses (): string {
    return [1, 2, 3].map((n) => this.cluster.address(n)).join(',')
  }

  /** A log of one partition at replication factor 3, once its leader has all 3 in sync. */
  async create (log: string): Promise<Placement> {
    const client = await RogClient.connect(this.cluster.address(1), { requestTimeoutMs: 10_000 })
    try {
      await client.createLog(log, 1, { replicationFactor: 3 })
    } finally {
      client.destroy()
    }
    return await this.inSync(1, log)
  }

  async inSync (observer: number, log: string): Promise<Placement> {
    return (await this.cluster.waitPlacement(observer, log, 'a leader with all 3 in sync', (p) => p[0]?.leader > 0 && p[0].isr.length === 3, 60_000))[0]
  }

  /**
   * The fault on the partition's leader: SIGKILL, then a restart once another
   * leads; or SIGSTOP until another leads (past the session TTL), then
   * SIGCONT. Resolves once all 3 are in sync again.
   */
  async fault (t: Test, fault: Fault, log: string, before: Placement): Promise<void> {
    const target = before.leader
    const observer = target % 3 + 1
    if (fault === 'kill') await this.cluster.kill(target)
    else this.cluster.signal(target, 'SIGSTOP')
    const after = (await this.cluster.waitPlacement(observer, log, 'a new leader', (p) => p[0].leader > 0 && p[0].leader !== target, 60_000))[0]
    t.ok(after.epoch > before.epoch, `${fault} node ${target}: node ${after.leader} leads at epoch ${after.epoch}`)
    if (fault === 'kill') await this.cluster.start(target)
    else this.cluster.signal(target, 'SIGCONT')
    await this.inSync(observer, log)
  }

  /** Every message of partition 0, read from its leader. */
  async readAll (log: string): Promise<string[]> {
    const client = await ClusterClient.connect(this.addresses, { requestTimeoutMs: 10_000 })
    try {
      const out: string[] = []
      for (;;) {
        const batch = await client.fetchBatch({ log, partition: 0, group: 'check', offset: out.length, maxMessages: 100_000, maxBytes: 8 * 1024 * 1024 })
        for (const m of batch.messages) out.push(m.data.toString())
        if (batch.messages.length === 0 || out.length >= batch.endOffset) return out
      }
    } finally {
      client.destroy()
    }
  }
}

/** The log holds "0" .. "N-1", message i at offset i: each exactly once, in order. */
function checkStored (t: Test, what: string, stored: string[]): void {
  let wrong = -1
  for (let i = 0; i < stored.length && wrong < 0; i++) if (stored[i] !== String(i)) wrong = i
  t.equal(stored.length, N, `${what}: the log holds ${N} messages`)
  t.equal(wrong, -1, `${what}: message i at offset i, each once and in order${wrong < 0 ? '' : ` (offset ${wrong} holds ${stored[wrong]})`}`)
  t.equal(new Set(stored).size, N, `${what}: all distinct`)
}

/** A consumer's output: every message at least once, and a message first seen only right after the one before it. */
function checkFollowed (t: Test, what: string, lines: string[]): void {
  const seen = new Uint8Array(N)
  let max = -1
  let skipped = 0
  let repeats = 0
  for (const line of lines) {
    const v = Number(line)
    if (v > max) {
      if (v !== max + 1) skipped++
      max = v
    } else repeats++
    if (Number.isInteger(v) && v >= 0 && v < N) seen[v] = 1
  }
  t.equal(N - seen.reduce((a, b) => a + b, 0), 0, `${what}: every message was delivered`)
  t.equal(skipped, 0, `${what}: nothing out of order`)
  t.comment(`${what}: ${repeats} messages delivered again`)
}

/** The library: a ClusterClient producer and, at the same time, a consumer, across the fault. */
async function library (t: Test, s: Scenario, fault: Fault): Promise<void> {
  const log = `lib-${fault}`
  const before = await s.create(log)
  const client = await ClusterClient.connect(s.addresses, { requestTimeoutMs: TIMEOUT_MS })
  t.teardown(() => client.destroy())
  const received: string[] = []
  const consumer = client.consumer({ log, group: 'g', waitMs: 1000 })
  const consuming = (async () => {
    for await (const m of consumer) {
      received.push(m.data.toString())
      if (received.length >= N) break
    }
  })()
  const producer = client.producer({ log, maxInFlight: 8 })
  let next = 0
  const writeUpTo = async (end: number): Promise<void> => {
    while (next < end) if (!producer.write(String(next++))) await once(producer, 'drain')
  }
  await writeUpTo(N / 2)
  await waitFor('a quarter acknowledged', () => producer.acknowledged >= N / 4, 60_000)
  const faulted = s.fault(t, fault, log, before)
  await writeUpTo(N)
  producer.end()
  await once(producer, 'finish')
  t.equal(producer.acknowledged, N, 'the producer finished: every message acknowledged')
  await faulted
  await consuming
  checkFollowed(t, 'consumer()', received)
  checkStored(t, `library across a leader ${fault}`, await s.readAll(log))
}

/** `rog publish LOG - -a n1,n2,n3` fed N lines, and `rog fetch LOG -g G --follow -a n1,n2,n3` at the same time, across the fault. */
async function cli (t: Test, s: Scenario, fault: Fault): Promise<void> {
  const log = `cli-${fault}`
  const before = await s.create(log)
  const env = { ROG_ADDRESS: s.addresses }
  const follow = new RogProcess(['fetch', log, '-g', 'g', '--follow', '--max', String(N), '--timeout', String(TIMEOUT_MS / 1000)], { env })
  const publish = new RogProcess(['publish', log, '-', '--timeout', String(TIMEOUT_MS / 1000)], { env })
  const stdin = publish.child.stdin
  if (stdin === null) throw new Error('no stdin')
  let next = 0
  const feed = async (end: number): Promise<void> => {
    while (next < end) {
      const lines: string[] = []
      for (const stop = Math.min(end, next + 1000); next < stop; next++) lines.push(String(next))
      if (!stdin.write(lines.join('\n') + '\n')) await once(stdin, 'drain')
    }
  }
  await feed(N / 2)
  let printed = 0
  let scanned = 0
  await follow.until((p) => {
    for (; scanned < p.stdout.length; scanned++) if (p.stdout.charCodeAt(scanned) === 10) printed++
    return printed >= N / 4
  })
  const faulted = s.fault(t, fault, log, before)
  await feed(N)
  stdin.end()
  const published = await publish.done
  t.equal(published.code, 0, `rog publish exits 0: ${published.stderr.trim().split('\n').pop() ?? ''}`)
  t.match(published.stderr, new RegExp(`published ${N} messages`))
  await faulted
  const followed = await follow.done
  t.equal(followed.code, 0, `rog fetch --follow --max ${N} exits 0 ${followed.stderr}`)
  checkFollowed(t, 'rog fetch --follow', followed.stdout.split('\n').filter((l) => l !== ''))
  checkStored(t, `rog publish - across a leader ${fault}`, await s.readAll(log))
}

/**
 * A batch the leader stored, and its followers with it, whose answer was
 * lost on the way back (the fault proxy drops what the leader sends): sent
 * again after the leader dies, the new leader answers it with its original
 * offsets and stores nothing twice.
 */
async function retriedBatch (t: Test, s: Scenario): Promise<void> {
  const log = 'retried'
  const before = await s.create(log)
  const proxy = await FaultProxy.start(s.cluster.ports[before.leader - 1])
  t.teardown(async () => await proxy.close())
  const wire = await RogClient.connect(`127.0.0.1:${proxy.port}`, { requestTimeoutMs: 30_000 })
  t.teardown(() => wire.destroy())
  const producerId = await wire.initProducer()
  const batch = (sequence: number, count: number): Buffer[] => Array.from({ length: count }, (_, i) => Buffer.from(`m${sequence + i}`))
  const publish = async (client: RogClient, sequence: number, count: number): Promise<unknown> => {
    const r = await client.request({ command: 'idempotent-publish', log, partition: 0, producerId, sequence, messages: batch(sequence, count) })
    return r.response === 'batch-published' ? { firstOffset: r.firstOffset, count: r.count } : r
  }
  t.same(await publish(wire, 0, 10), { firstOffset: 0, count: 10 }, 'a first batch, answered')
  proxy.drop('down')
  const lost = publish(wire, 10, 5).catch((err: Error) => err)
  await waitFor('the answer to the second batch, dropped', () => proxy.dropped.down > 0, 30_000)
  t.pass('the leader answered the second batch (so every in-sync replica has it), and the answer was dropped')
  await s.cluster.kill(before.leader)
  const observer = before.leader % 3 + 1
  const after = (await s.cluster.waitPlacement(observer, log, 'a new leader', (p) => p[0].leader > 0 && p[0].leader !== before.leader, 60_000))[0]
  const leader = await RogClient.connect(s.cluster.address(after.leader), { requestTimeoutMs: 10_000 })
  t.teardown(() => leader.destroy())
  t.same(await publish(leader, 10, 5), { firstOffset: 10, count: 5 }, `sent again to node ${after.leader}, the new leader: answered with its original offsets`)
  t.same(await publish(leader, 15, 1), { firstOffset: 15, count: 1 }, 'the next batch follows it')
  const stored = (await leader.fetchBatch({ log, partition: 0, group: 'check', offset: 0 })).messages.map((m) => m.data.toString())
  t.same(stored, batch(0, 16).map(String), 'stored once each, in order')
  t.equal((await lost) instanceof Error, true, 'the first send never got its answer')
  await s.cluster.start(before.leader)
  await s.inSync(observer, log)
}

/** Every command but `rog ping`, given every node, the first of them paused (it accepts connections, never answers): the next one answers. */
async function describeWithList (t: Test, s: Scenario): Promise<void> {
  const log = 'described'
  const before = await s.create(log)
  const published = await new RogProcess(['publish', log, 'before the pause', '-p', '0'], { env: { ROG_ADDRESS: s.addresses } }).done
  t.equal(published.code, 0, `rog publish: ${published.stderr}`)
  const paused = before.leader
  s.cluster.signal(paused, 'SIGSTOP')
  const observer = paused % 3 + 1
  await s.cluster.waitPlacement(observer, log, 'a new leader', (p) => p[0].leader > 0 && p[0].leader !== paused && !p[0].isr.includes(paused), 60_000)
  const list = [paused, observer, observer % 3 + 1].map((n) => s.cluster.address(n)).join(',')
  const env = { ROG_ADDRESS: list }
  const cluster = await new RogProcess(['cluster', '--json', '--timeout', '1'], { env }).done
  t.equal(cluster.code, 0, `rog cluster -a ${list}: ${cluster.stderr}`)
  const info = JSON.parse(cluster.stdout) as { node: number, nodes: Array<{ id: number, alive: boolean }> }
  t.not(info.node, paused, 'answered by a node after the paused one')
  t.same(info.nodes.map((n) => [n.id, n.alive]), [1, 2, 3].map((id) => [id, id !== paused]), 'the paused node is down')
  const described = await new RogProcess(['describe', log, '--json', '--timeout', '1'], { env }).done
  t.equal(described.code, 0, `rog describe -a ${list}: ${described.stderr}`)
  const p = (JSON.parse(described.stdout) as { partitions: Array<{ leader: number, isr: number[] }> }).partitions[0]
  t.ok(p.leader !== paused && !p.isr.includes(paused), `describe shows leader ${p.leader}, ISR ${p.isr.join(',')}: without the paused node`)
  t.match((await new RogProcess(['describe', log, '--timeout', '1'], { env }).done).stdout, /PARTITION\s+LEADER\s+REPLICAS\s+ISR\s+FIRST/)
  // A paused node accepts connections and never answers: the streaming commands go on to a node that answers too.
  for (const args of [['read', log, '-e'], ['fetch', log, '-g', 'g', '-e']]) {
    const r = await new RogProcess([...args, '--timeout', '1'], { env }).done
    t.equal(r.code, 0, `rog ${args.join(' ')} -a ${list}: ${r.stderr}`)
    t.equal(r.stdout, 'before the pause\n', `rog ${args.join(' ')}: the message`)
  }
  const groups = await new RogProcess(['groups', log, '--json', '--timeout', '1'], { env }).done
  t.equal(groups.code, 0, `rog groups -a ${list}: ${groups.stderr}`)
  t.match(JSON.parse(groups.stdout), [{ group: 'g', lag: 0 }], 'rog groups: the group fetch -e committed')
  const reset = await new RogProcess(['reset-offsets', log, '-g', 'g', '--to', 'beginning', '--timeout', '1'], { env }).done
  t.equal(reset.code, 0, `rog reset-offsets -a ${list}: ${reset.stderr}`)
  t.match(reset.stdout, /^\s*0\s+1\s+0\s*$/m, 'rog reset-offsets: partition 0 moved from 1 to 0')
  // And so do the commands of single requests (each would wait out its timeout on the paused node and fail).
  const single = async (args: string[]): Promise<string> => {
    const r = await new RogProcess([...args, '--timeout', '1'], { env }).done
    t.equal(r.code, 0, `rog ${args.join(' ')} -a ${list}: ${r.stderr}`)
    return r.stdout
  }
  t.ok((JSON.parse(await single(['logs', '--json'])) as Array<{ log: string, partitions: number }>).some((l) => l.log === log && l.partitions === 1), 'rog logs')
  t.equal(await single(['fetch', log, '-g', 'h']), 'before the pause\n', 'rog fetch: the group\'s next message')
  await single(['ack', log, '-g', 'h'])
  t.match(JSON.parse(await single(['groups', log, '--json'])), [{ group: 'g' }, { group: 'h', lag: 0 }], 'rog ack moved the group once')
  t.equal(await single(['create-log', 'made-while-paused', '--replication-factor', '2']), 'created log made-while-paused with 1 partition\n')
  s.cluster.signal(paused, 'SIGCONT')
  await s.inSync(observer, log)
}

t.test('cluster clients across leader failovers', { skip: etcdSkip }, async (t) => {
  const etcd = await startEtcd(t)
  const cluster = new RogCluster(t, etcd, 3, ['--session-ttl-ms', String(TTL_MS), '--replica-lag-ms', '1500', '--fsync', 'never'])
  await cluster.startAll()
  const s = new Scenario(cluster)
  await t.test('a retried batch stored before the failover is answered with its original offsets', async (t) => await retriedBatch(t, s))
  for (const fault of ['kill', 'pause'] as const) {
    await t.test(`library: ${N} messages across a leader ${fault === 'kill' ? 'SIGKILL' : 'SIGSTOP past its TTL'}`, async (t) => await library(t, s, fault))
    await t.test(`rog publish - and rog fetch --follow: ${N} lines across a leader ${fault === 'kill' ? 'SIGKILL' : 'SIGSTOP past its TTL'}`, async (t) => await cli(t, s, fault))
  }
  await t.test('rog cluster and rog describe with an address list whose first node is paused', async (t) => await describeWithList(t, s))
  await cluster.stopAll()
})

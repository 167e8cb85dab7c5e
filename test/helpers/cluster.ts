import type { Test } from 'tap'
import { ClusterNode, type ClusterNodeOptions } from '../../lib/cluster/cluster-node'
import { etcdSkip, startEtcd, type EtcdMember } from './etcd'

let clusters = 0

/** A cluster name no other test of this process uses, so tests can share one etcd. */
export function freshClusterName (): string {
  return `t${process.pid}-${++clusters}`
}

/**
 * One etcd for all the tests of a file, started before the first and stopped
 * after the last (none when etcd is missing: the tests skip on etcdSkip).
 */
export function sharedEtcd (t: Test): () => EtcdMember {
  let member: EtcdMember | null = null
  t.before(async () => {
    if (etcdSkip === false) member = await startEtcd(t)
  })
  return () => {
    if (member === null) throw new Error('etcd was not started')
    return member
  }
}

/** A cluster node on `endpoints`, stopped at teardown (if the test did not stop or abandon it). */
export async function startNode (t: Test, endpoints: string[], clusterName: string, nodeId: number, options: Partial<ClusterNodeOptions> = {}): Promise<ClusterNode> {
  const node = await ClusterNode.start({ nodeId, address: `127.0.0.1:${7000 + nodeId}`, endpoints, clusterName, sessionTtlMs: 1000, ...options })
  t.teardown(async () => await node.stop().catch(() => {}))
  return node
}

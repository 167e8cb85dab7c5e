import type { ClusterService } from '../replication/cluster-service'
import type { Partition } from '../storage/partition'
import type { Store } from '../storage/store'

export interface ServedLog {
  log: string
  partitions: Array<{ partition: number, p: Partition }>
  /**
   * Every group that has committed in any of them: a group has a lag in each
   * partition of the log, from the start of those where it has committed
   * nothing (as `rog groups` counts it).
   */
  groups: Set<string>
}

/** The partitions whose figures this node reports, by log: all of a single node's; in a cluster, those it leads. */
export function servedLogs (store: Store, cluster: ClusterService | null): ServedLog[] {
  return store.listLogs().map(({ log }) => {
    const partitions = store.partitions(log).flatMap((p, partition) => cluster === null || cluster.route(log, partition).kind === 'local' ? [{ partition, p }] : [])
    const groups = new Set(partitions.flatMap(({ p }) => p.groups.entries().map((g) => g.group)))
    return { log, partitions, groups }
  })
}

import t from 'tap'
import { etcdSkip } from '../helpers/etcd'
import { runs } from '../helpers/failover-scenario'

// 3 nodes, replication factor 3, 4 producers on commands 0-3 through every node and a committer; then the fault, the checker.
t.test('pause-follower under load: nothing acknowledged is lost, replicas agree, writes go on', { skip: etcdSkip }, async (t) => await runs(t, 'pause-follower'))

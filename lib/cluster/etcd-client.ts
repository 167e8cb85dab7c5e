import { Etcd3, isRecoverableError } from 'etcd3'
import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel'

const KEEPALIVE_TIME_MS = 6000
const KEEPALIVE_TIMEOUT_MS = 2000

/**
 * An etcd3 client tuned for failover rather than for sparing a struggling
 * etcd: etcd3's default per-host circuit breaker stops calling a member for
 * 5 s after three failures, longer than a whole session TTL, so it is
 * replaced by none; a failed call is retried at once on another member (a
 * few times, within milliseconds), and a watch reconnects within half a
 * second. Unary calls carry a deadline so a call never outlives a session.
 * etcd3's election helper (and its 60 s TTL) is not used: the controller
 * election is a transaction on a key attached to the node's own lease.
 */
export function createEtcdClient (endpoints: string[], callTimeoutMs: number): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: callTimeoutMs,
    // A member that stops answering (paused, or its machine hung) keeps its TCP connections open: a watch on
    // it would wait for ever. HTTP/2 pings find it out, and the watch reconnects to another member. etcd
    // refuses pings more often than its --grpc-keepalive-min-time (5 s by default), and on a connection with no
    // call open (a watch always is).
    grpcOptions: {
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS
    },
    defaultCallOptions: (context) => context.isStream ? {} : { deadline: Date.now() + callTimeoutMs },
    faultHandling: {
      host: () => noop,
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 3, backoff: new ExponentialBackoff({ initialDelay: 20, maxDelay: 200 }) }),
      // etcd3 calls next() on this for each reconnect series: a first backoff state, not the factory its types name.
      watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }).next()
    }
  })
}

/** An etcd call's error message, without the empty "Resolution note:" etcd3 ends some with. */
export function etcdReason (err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*Resolution note:\s*$/, '')
}

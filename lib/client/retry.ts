import { RogError, type RogErrorCode } from '../errors'

/**
 * Failures after which the same request may succeed later or at another
 * node: the partition's leader moved or is being elected, too few replicas
 * are in sync for now, its node cannot be reached or does not answer, or (an
 * idempotent publish) an earlier batch of the producer is missing.
 */
const RETRIABLE = new Set<RogErrorCode>(['NOT_LEADER', 'NO_LEADER', 'NOT_ENOUGH_REPLICAS', 'FENCED', 'STARTING', 'CONNECTION', 'TIMEOUT', 'OUT_OF_ORDER_SEQUENCE', 'SHUTTING_DOWN'])

/** Failures of a node rather than of a request: another node may answer. */
const NODE_FAILURES = new Set<RogErrorCode>(['CONNECTION', 'TIMEOUT', 'STARTING', 'SHUTTING_DOWN'])

export function isRetriable (err: unknown): boolean {
  return err instanceof RogError && RETRIABLE.has(err.code)
}

export function isNodeFailure (err: unknown): err is RogError {
  return err instanceof RogError && NODE_FAILURES.has(err.code)
}

/** `err` as it stood when retrying ran out, saying for how long it was retried (`since`: performance.now() of the first failure). */
export function gaveUp (err: unknown, since: number): unknown {
  if (!(err instanceof RogError)) return err
  const seconds = ((performance.now() - since) / 1000).toFixed(1)
  return new RogError(err.code, `${err.message} (still failing after ${seconds} s of retries)`, { cause: err })
}

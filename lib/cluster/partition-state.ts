import { RogError } from '../errors'
import { NO_LEADER, type PartitionState } from './metadata'

/**
 * The controller's decisions, as pure functions of a partition's state and
 * the live nodes (Kafka's PartitionStateMachine, without the I/O).
 */

/**
 * Replicas of `partitions` partitions over the live nodes: node ids sorted,
 * partition p starts at the (p mod n)-th and takes the next `factor` round
 * the ring, so leaders (the first replica) and followers spread evenly.
 */
export function assignReplicas (liveIds: Iterable<number>, partitions: number, factor: number): PartitionState[] {
  const ids = [...liveIds].sort((a, b) => a - b)
  if (!Number.isSafeInteger(factor) || factor < 1 || factor > ids.length) throw RogError.badReplicationFactor(factor, ids.length)
  return Array.from({ length: partitions }, (_, p) => {
    const replicas = Array.from({ length: factor }, (_, i) => ids[(p + i) % ids.length])
    return { replicas, leader: replicas[0], leaderEpoch: 0, isr: [...replicas] }
  })
}

export interface ElectionRules {
  /** Elect a live replica outside the ISR when no ISR member lives (may lose acknowledged messages). */
  uncleanElection?: boolean
}

/**
 * What the partition should become with these live nodes, or null when it
 * stays as it is:
 * - a dead leader is replaced by the first live ISR member in replica order
 *   (leader epoch + 1); with none, the partition goes offline (leader -1)
 *   with its ISR kept, so that the last in-sync replicas can come back;
 * - an offline partition gets the first of its ISR that lives again;
 * - dead followers leave the ISR (leader epoch unchanged);
 * - a reassignment whose target replicas are all in the ISR is finished:
 *   replicas become the target, the others leave the ISR, and a leader
 *   outside the target hands over (epoch + 1).
 */
export function nextState (state: PartitionState, live: ReadonlySet<number>, rules: ElectionRules = {}): PartitionState | null {
  let next = finishReassignment(state)
  const leaderLives = next.leader !== NO_LEADER && live.has(next.leader)
  if (!leaderLives) next = elect(next, live, rules)
  else if (next.isr.some((id) => !live.has(id))) next = { ...next, isr: next.isr.filter((id) => live.has(id)) }
  return same(state, next) ? null : next
}

function finishReassignment (state: PartitionState): PartitionState {
  const target = state.targetReplicas
  if (target === undefined || !target.every((id) => state.isr.includes(id))) return state
  const { targetReplicas: _, ...rest } = state
  const next: PartitionState = { ...rest, replicas: [...target], isr: state.isr.filter((id) => target.includes(id)) }
  if (!target.includes(state.leader)) {
    next.leader = next.replicas.find((id) => next.isr.includes(id)) ?? NO_LEADER
    next.leaderEpoch++
  }
  return next
}

function elect (state: PartitionState, live: ReadonlySet<number>, rules: ElectionRules): PartitionState {
  const clean = state.replicas.find((id) => state.isr.includes(id) && live.has(id))
  if (clean !== undefined) return { ...state, leader: clean, leaderEpoch: state.leaderEpoch + 1, isr: state.isr.filter((id) => live.has(id)) }
  const unclean = rules.uncleanElection === true ? state.replicas.find((id) => live.has(id)) : undefined
  if (unclean !== undefined) return { ...state, leader: unclean, leaderEpoch: state.leaderEpoch + 1, isr: [unclean] }
  if (state.leader === NO_LEADER) return state
  return { ...state, leader: NO_LEADER, leaderEpoch: state.leaderEpoch + 1 }
}

/**
 * The first step of moving a partition to `target`: replicas become the
 * target followed by the current replicas outside it, so the new ones start
 * fetching while the old ones still serve; the controller finishes the move
 * (nextState) once the leader has taken every target replica into the ISR.
 */
export function startReassignment (state: PartitionState, target: number[], live: ReadonlySet<number>): PartitionState {
  if (target.length === 0) throw RogError.badReplicas(target, 'the list is empty')
  if (new Set(target).size !== target.length) throw RogError.badReplicas(target, 'a node id is repeated')
  const missing = target.filter((id) => !live.has(id))
  if (missing.length > 0) throw RogError.badReplicas(target, `no live node ${missing.join(',')}`)
  const replicas = [...target, ...state.replicas.filter((id) => !target.includes(id))]
  return { ...state, replicas, targetReplicas: [...target] }
}

function same (a: PartitionState, b: PartitionState): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

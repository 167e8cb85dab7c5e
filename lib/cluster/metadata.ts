import { RogError } from '../errors'

/**
 * The cluster's metadata as etcd holds it, under `/rog/<clusterName>/`, every
 * value JSON:
 *
 * | key                       | value                                      | lease          |
 * |---------------------------|--------------------------------------------|----------------|
 * | `nodes/<id>`              | NodeInfo                                   | the node's     |
 * | `controller`              | `{ id }`; its epoch is the key's create revision | the controller's |
 * | `logs/<name>`             | LogMeta                                    | none           |
 * | `partitions/<log>/<p>`    | PartitionState                             | none           |
 *
 * A partition's version is its key's mod revision: every change is a
 * compare-and-swap on it. The controller epoch (the `controller` key's create
 * revision) only grows, because etcd revisions only grow.
 */

export interface NodeInfo {
  id: number
  /** host:port that clients and other nodes reach the node at. */
  address: string
  pid: number
  /** Milliseconds since the epoch. */
  startedAt: number
}

export interface ControllerInfo {
  id: number
  epoch: number
}

export interface LogMeta {
  name: string
  partitions: number
  replicationFactor: number
  minInsyncReplicas?: number
  settings: Record<string, unknown>
}

export interface PartitionState {
  /** Preferred order: the first live ISR member in this order is elected. */
  replicas: number[]
  /** -1: offline, no ISR member is alive. */
  leader: number
  leaderEpoch: number
  isr: number[]
  /**
   * Set while a reassignment runs: `replicas` is the union of the old and
   * these, and the controller finishes the move once all of these are in the ISR.
   */
  targetReplicas?: number[]
}

export const NO_LEADER = -1

export interface PartitionRecord {
  log: string
  partition: number
  state: PartitionState
  /** The key's mod revision: the version a compare-and-swap names. */
  modRevision: number
}

export interface ClusterSnapshot {
  /** The etcd revision the snapshot was read at; a watch from revision + 1 misses nothing. */
  revision: number
  nodes: Map<number, NodeInfo>
  controller: ControllerInfo | null
  logs: Map<string, LogMeta>
  /** By log, then partition number. */
  partitions: Map<string, Map<number, PartitionRecord>>
}

function malformed (what: string, text: string): RogError {
  return RogError.clusterMeta(`${what} is not valid: ${text.slice(0, 200)}`)
}

function parseObject (what: string, text: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw malformed(what, text)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(what, text)
  return value as Record<string, unknown>
}

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.every(isId)

export function parseNode (text: string): NodeInfo {
  const o = parseObject('node', text)
  if (!isId(o.id) || typeof o.address !== 'string' || !Number.isSafeInteger(o.pid) || typeof o.startedAt !== 'number') throw malformed('node', text)
  return { id: o.id, address: o.address, pid: o.pid as number, startedAt: o.startedAt }
}

export function parseControllerId (text: string): number {
  const o = parseObject('controller', text)
  if (!isId(o.id)) throw malformed('controller', text)
  return o.id
}

export function parseLog (text: string): LogMeta {
  const o = parseObject('log', text)
  const settings = o.settings
  if (typeof o.name !== 'string' || !isId(o.partitions) || !isId(o.replicationFactor) ||
    (o.minInsyncReplicas !== undefined && !isId(o.minInsyncReplicas)) ||
    typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw malformed('log', text)
  const log: LogMeta = { name: o.name, partitions: o.partitions, replicationFactor: o.replicationFactor, settings: settings as Record<string, unknown> }
  if (o.minInsyncReplicas !== undefined) log.minInsyncReplicas = o.minInsyncReplicas
  return log
}

export function parsePartition (text: string): PartitionState {
  const o = parseObject('partition', text)
  if (!isIds(o.replicas) || !Number.isSafeInteger(o.leader) || (o.leader as number) < NO_LEADER ||
    !isId(o.leaderEpoch) || !isIds(o.isr) || (o.targetReplicas !== undefined && !isIds(o.targetReplicas))) throw malformed('partition', text)
  const state: PartitionState = { replicas: o.replicas, leader: o.leader as number, leaderEpoch: o.leaderEpoch, isr: o.isr }
  if (o.targetReplicas !== undefined) state.targetReplicas = o.targetReplicas
  return state
}

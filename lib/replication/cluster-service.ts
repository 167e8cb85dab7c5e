import type { Command, EpochEndCommand, ReplicaFetchCommand, Response } from '../protocol/commands'
import type { Route } from './replica-manager'

/** What a server's executors ask of the cluster (absent on a single node). */
export interface ClusterService {
  /** Where a request for this partition goes: served here, forwarded to its leader, or refused. */
  route (log: string, partition: number): Route
  forward (address: string, c: Command): Promise<Response>
  /** Resolves once the local store has `log` when the cluster has it (created through another node a moment ago). */
  ensureLog (log: string): Promise<void>
  replicaFetch (c: ReplicaFetchCommand, signal: AbortSignal): Promise<Response>
  epochEnd (c: EpochEndCommand): Response
  clusterInfo (): Response
  logPlacement (log: string): Response
  createLog (log: string, partitions: number, settings: { retentionBytes: number | null, retentionMs: number | null }, replicationFactor?: number): Promise<void>
  deleteLog (log: string): Promise<void>
  /** A producer id unique in the cluster (command 22). */
  newProducerId (): Promise<number>
  /** Starts moving a partition's replicas (through the controller); resolves to the state written. */
  reassign (log: string, partition: number, replicas: number[]): Promise<Response>
}

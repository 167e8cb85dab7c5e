/** Defaults of `rog server`'s cluster flags (apart from the cluster runtime, so that a single node never loads etcd's client). */
export const CLUSTER_DEFAULTS = { clusterName: 'rog', sessionTtlMs: 2000, minInsyncReplicas: 2, replicaLagMs: 5000 }

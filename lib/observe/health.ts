export interface Check { name: string, ok: boolean, detail: string }

export interface HealthState {
  /** Recovery of the data directory is done (the store is open). */
  recovered: boolean
  /** The client listener is bound. */
  listening: boolean
  /** In a cluster: whether it has joined (null on a single node). */
  joined: boolean | null
  /** The server is stopping. */
  stopping: boolean
}

/**
 * Readiness: the checks /readyz answers with. Liveness is not among them on
 * purpose: a process that answers HTTP is alive, and restarting it because
 * its disk is full or it is still recovering would only make things worse
 * (the restart loops a combined health check causes).
 */
export function readiness (state: HealthState, disk: { free: number | null, min: number }): Check[] {
  const checks: Check[] = [
    { name: 'recovery', ok: state.recovered, detail: state.recovered ? 'the data directory is recovered' : 'recovering the data directory' },
    { name: 'listener', ok: state.listening, detail: state.listening ? 'the client port is bound' : 'the client port is not bound yet' }
  ]
  if (state.joined !== null) checks.push({ name: 'cluster', ok: state.joined, detail: state.joined ? 'joined the cluster' : 'joining the cluster' })
  if (state.stopping) checks.push({ name: 'shutdown', ok: false, detail: 'the server is stopping' })
  const diskOk = disk.free !== null && disk.free >= disk.min
  checks.push({
    name: 'disk',
    ok: diskOk,
    detail: disk.free === null ? 'the free space of the data directory cannot be read' : `${disk.free} bytes free, ${diskOk ? 'at least' : 'under'} --min-free-bytes ${disk.min}`
  })
  return checks
}

import { RogError } from '../errors'
import { commandWeight } from '../protocol/command-weight'
import type { Command, Response } from '../protocol/commands'
import { responseSize } from '../protocol/encoder'
import type { ClusterService } from '../replication/cluster-service'
import { ConnectionMemory } from '../server/connection-memory'
import { Executor } from '../server/executor'
import type { MemoryBudget } from '../server/memory-budget'
import type { Store } from '../storage/store'
import type { RequestStats } from './request-stats'

export interface SessionContext {
  store: Store
  budget: MemoryBudget
  cluster: ClusterService | null
  stats: RequestStats | null
  log: (line: string) => void
}

/**
 * What the HTTP API runs its commands through: an Executor of its own, as a
 * TCP connection has, so a command from the console takes the same path as
 * one from a client (routing and forwarding in a cluster, memory accounting
 * on the server's budget, metrics). Commands run in order; `close()`
 * cancels long polls under way.
 */
export class CommandSession {
  private readonly memory: ConnectionMemory
  private readonly executor: Executor
  private readonly pending: Array<{ resolve: (r: Response) => void, reject: (err: Error) => void }> = []
  private closed = false

  constructor (ctx: SessionContext) {
    this.memory = new ConnectionMemory(ctx.budget)
    this.executor = new Executor(ctx.store, this.memory, { cluster: ctx.cluster, stats: ctx.stats, log: ctx.log })
    this.executor.on('data', (answers: Response[]) => {
      let bytes = 0
      for (const r of answers) {
        bytes += responseSize(r)
        this.pending.shift()?.resolve(r)
      }
      this.memory.written(bytes)
    })
    this.executor.on('error', (err) => this.fail(err))
    this.executor.on('close', () => this.fail(closed()))
  }

  run (c: Command): Promise<Response> {
    if (this.closed) return Promise.reject(closed())
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject })
      this.memory.reserve(commandWeight(c))
      this.executor.write([c])
    })
  }

  close (): void {
    if (this.closed) return
    this.executor.destroy()
    this.memory.close()
    this.fail(closed())
  }

  private fail (err: Error): void {
    this.closed = true
    for (const p of this.pending.splice(0)) p.reject(err)
  }
}

/** What a command of a closed session (its HTTP client gone, or the server stopping) is answered with. */
function closed (): RogError {
  return new RogError('CONNECTION', 'The HTTP request ended before its command was answered')
}

import * as http from 'node:http'
import { once } from 'node:events'
import { RogError } from '../errors'


export interface HttpBind {
  host: string
  port: number
  /** The port was given by the user: failing to bind it is an error, not a warning. */
  explicit: boolean
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/**
 * The server's HTTP listener (node:http). When the default port is taken,
 * as by a second server on the same machine, `bind` warns and answers null:
 * the server runs without HTTP. A port given explicitly that cannot be bound
 * is an error.
 */
export class HttpListener {
  private readonly server: http.Server
  private readonly sockets = new Set<import('node:net').Socket>()

  private constructor (server: http.Server) {
    this.server = server
    server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
  }

  static async bind (at: HttpBind, handler: Handler, warn: (line: string) => void): Promise<HttpListener | null> {
    const server = http.createServer({ keepAliveTimeout: 5000, requestTimeout: 60_000, headersTimeout: 10_000 }, handler)
    // Slow clients of a long response (an export) are held back by backpressure, not a timeout.
    server.timeout = 0
    server.listen(at.port, at.host)
    try {
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err })])
    } catch (err) {
      server.close()
      const e = err as NodeJS.ErrnoException
      const why = e.code === 'EADDRINUSE' ? 'it is in use' : e.code === 'EACCES' ? 'permission denied' : e.message
      if (at.explicit) throw new RogError('HTTP_LISTEN', `Cannot listen for HTTP on ${at.host}:${at.port}: ${why}`)
      warn(`HTTP port ${at.port} on ${at.host} cannot be bound (${why}; another rog server?): running without HTTP (metrics, health and console); choose one with --http-port, or --no-http`)
      return null
    }
    server.on('error', (err) => warn(`HTTP listener: ${err.message}`))
    return new HttpListener(server)
  }

  address (): { host: string, port: number } {
    const a = this.server.address() as import('node:net').AddressInfo
    return { host: a.address, port: a.port }
  }

  get url (): string {
    const { host, port } = this.address()
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`
  }

  /** Stops listening and ends every connection (long responses included). */
  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    await closed
  }
}

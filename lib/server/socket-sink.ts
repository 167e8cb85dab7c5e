import type * as net from 'node:net'
import { Writable, finished } from 'node:stream'

const EMPTY = Buffer.alloc(0)

/**
 * SocketSink: the last stage of a connection's pipeline. It writes answer
 * bytes to the socket as pipe() would (the next chunk is accepted while the
 * socket's buffer is under its mark) and reports them to `taken` only from
 * the socket's write callback, i.e. once the socket has handed them all to
 * the kernel: an answer counts against the memory budget until the peer has
 * made room for it. `awaitingPeer` while some are not yet taken. A socket
 * closed before the sink finished destroys the sink, so the pipeline comes
 * down with it, and so does a socket found reset when its peer's end arrives.
 */
export class SocketSink extends Writable {
  private readonly socket: net.Socket
  private readonly taken: (bytes: number) => void
  /** Sizes of the writes in flight, in order (the socket calls back in order). */
  private readonly sizes: number[] = []
  private pending = 0
  private readonly afterWrite = (err?: Error | null): void => {
    const bytes = this.sizes.shift() ?? 0
    this.pending -= bytes
    if (err == null) this.taken(bytes)
  }

  constructor (socket: net.Socket, taken: (bytes: number) => void) {
    super({ decodeStrings: false })
    this.socket = socket
    this.taken = taken
    finished(socket, { readable: false }, (err) => {
      if (err != null && !this.writableFinished) this.destroy(err)
    })
    // The peer ended its side. A reset often shows as that end too (when it came with the last
    // request, or before the accept), and only a write tells the two apart: an empty one fails
    // on a reset socket, which brings the pipeline down and cancels the connection's long polls.
    socket.once('end', () => {
      if (socket.writable) socket.write(EMPTY)
    })
  }

  /** Answer bytes were given to the socket that it has not yet taken. */
  get awaitingPeer (): boolean {
    return this.pending > 0
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.sizes.push(chunk.length)
    this.pending += chunk.length
    if (this.socket.write(chunk, this.afterWrite)) callback()
    else this.socket.once('drain', () => callback())
  }

  override _final (callback: (err?: Error | null) => void): void {
    this.socket.end()
    callback()
  }
}

import { RogError } from '../errors'
import type { RogClient } from './client'

export interface Published { firstOffset: number, count: number }
export type PublishedCallback = (err: RogError | null, published: Published | null) => void

/** Sends one partition's batches; each callback is called once, in the order the batches were sent. */
export interface BatchSender {
  send: (messages: Buffer[], callback: PublishedCallback) => void
  /** Stops: nothing more is sent or retried; batches not yet answered are dropped without a callback. */
  close: () => void
}

/** Publish-batch requests (command 5) on one connection: each answered as the server answers it, nothing retried. */
export class PlainSender implements BatchSender {
  constructor (private readonly client: RogClient, private readonly log: string, private readonly partition: number) {}

  send (messages: Buffer[], callback: PublishedCallback): void {
    this.client.send({ command: 'publish-batch', log: this.log, partition: this.partition, messages }, (err, response) => {
      if (err !== null) callback(err, null)
      else if (response?.response === 'batch-published') callback(null, { firstOffset: response.firstOffset, count: response.count })
      else callback(new RogError('PROTOCOL', `Expected a batch-published answer, got ${response?.response ?? 'nothing'}`), null)
    })
  }

  close (): void {}
}

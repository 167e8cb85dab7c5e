export interface ProtocolLimits {
  /** Largest message a publish may carry. */
  maxMessageBytes: number
  /** Largest body of a framed (command 4+) request. */
  maxFrameBytes: number
}

export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
export { MAX_GROUP_BYTES } from '../util/limits'
/** A framed request may always carry one message of the largest size, plus its header. */
export const FRAME_OVERHEAD = 64 * 1024
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
/**
 * Most messages in one publish-batch (and in one fetch-batch answer). A batch
 * over it is refused from its header with a request-level error: each
 * message costs an object in memory and an entry on disk, whatever its size.
 */
export const MAX_BATCH_MESSAGES = 100_000

export function protocolLimits (maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): ProtocolLimits {
  return { maxMessageBytes, maxFrameBytes: Math.max(DEFAULT_MAX_FRAME_BYTES, maxMessageBytes + FRAME_OVERHEAD) }
}

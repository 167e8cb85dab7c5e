import { RogError } from '../errors'

export interface Address { host: string, port: number }

export const DEFAULT_ADDRESS = '127.0.0.1:7878'

/** Parses "host:port" (an IPv6 host in brackets: "[::1]:7878"). */
export function parseAddress (address: string): Address {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(address.trim())
  const port = match === null ? NaN : Number(match[3])
  if (match === null || port < 1 || port > 65535) {
    throw new RogError('BAD_ADDRESS', `Invalid address "${address}": expected host:port, e.g. ${DEFAULT_ADDRESS}`)
  }
  return { host: match[1] ?? match[2], port }
}

export function formatAddress ({ host, port }: Address): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * Parses a list of servers, "host:port,host:port,..." (spaces around the
 * commas allowed), each as `parseAddress` does; at least one.
 */
export function parseAddressList (list: string | ReadonlyArray<string | Address>): Address[] {
  const parts = typeof list === 'string' ? list.split(',').map((a) => a.trim()).filter((a) => a !== '') : list
  if (parts.length === 0) throw new RogError('BAD_ADDRESS', `No server address given: expected host:port[,host:port...], e.g. ${DEFAULT_ADDRESS}`)
  return parts.map((a) => typeof a === 'string' ? parseAddress(a) : a)
}

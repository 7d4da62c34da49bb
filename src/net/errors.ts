// Errors shaped like the ones node:net throws and emits: an Error with
// `code` ('ECONNREFUSED'), `errno` (negative, as libuv reports it),
// `syscall` ('connect') and, where Node adds them, `address` and `port`;
// the message reads like Node's ("connect ECONNREFUSED 10.0.0.2:80"), so
// handlers written for node:net work unchanged.
import { constants } from 'node:os';
import { Err } from '../err.ts';

const MESSAGES: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ECONNABORTED: 'software caused connection abort',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host is unreachable',
  ENETUNREACH: 'network is unreachable',
  EPIPE: 'broken pipe',
  ENOBUFS: 'no buffer space available',
  EINVAL: 'invalid argument',
  ENOTFOUND: 'getaddrinfo failed',
  ECANCELED: 'operation canceled',
};

export interface NetError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
}

/**
 * An error like Node's (`connect ECONNREFUSED 10.0.0.2:80`, `read ECONNRESET`,
 * `listen EADDRINUSE: address already in use 0.0.0.0:80`).
 */
export function netError(code: string, syscall: string, address?: string, port?: number): NetError {
  let msg = `${syscall} ${code}`;
  if (syscall === 'listen' || syscall === 'bind') msg += `: ${MESSAGES[code] ?? code.toLowerCase()}`;
  if (address !== undefined) msg += port !== undefined ? ` ${address}:${port}` : ` ${address}`;
  const e = new Error(msg) as NetError;
  e.code = code;
  const n = (constants.errno as Record<string, number | undefined>)[code];
  e.errno = n !== undefined ? -n : 0;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined) e.port = port;
  return e;
}

/** The Node error code for an lwIP err_t reported by the TCP layer. */
export function codeForErr(err: number, connecting: boolean): string {
  switch (err) {
    case Err.RST:
      return connecting ? 'ECONNREFUSED' : 'ECONNRESET';
    case Err.TIMEOUT:
      return 'ETIMEDOUT';
    case Err.RTE:
      return 'EHOSTUNREACH';
    case Err.USE:
      return 'EADDRINUSE';
    case Err.MEM:
    case Err.BUF:
      return 'ENOBUFS';
    case Err.ABRT:
      return 'ECONNABORTED';
    case Err.CLSD:
    case Err.CONN:
      return 'EPIPE';
    case Err.VAL:
    case Err.ARG:
      return 'EINVAL';
    default:
      return 'ECONNRESET';
  }
}

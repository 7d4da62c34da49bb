// OSError and errno values as MicroPython reports them (Linux numbers), and
// the mapping from lwIP err_t values that modlwip uses, refined where the
// context says more (a reset while connecting is ECONNREFUSED).
import { Err } from '../err.ts';

export const errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  EINVAL: 22,
  EPIPE: 32,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
} as const;

/** EWOULDBLOCK is EAGAIN, as on Linux and MicroPython. */
export const EWOULDBLOCK = errno.EAGAIN;

const NAMES = new Map<number, string>(Object.entries(errno).map(([k, v]) => [v, k]));

export function errnoName(e: number): string {
  return NAMES.get(e) ?? `E${e}`;
}

/** MicroPython's OSError: `.errno` (and `.args[0]`) is the number. */
export class OSError extends Error {
  override name = 'OSError';
  readonly errno: number;
  readonly args: readonly [number];

  constructor(e: number, detail?: string) {
    super(`[Errno ${e}] ${errnoName(e)}${detail ? `: ${detail}` : ''}`);
    this.errno = e;
    this.args = [e];
  }

  /** The errno name, e.g. 'ECONNRESET'. */
  get code(): string {
    return errnoName(this.errno);
  }
}

export function isOSError(e: unknown, which?: number): e is OSError {
  return e instanceof OSError && (which === undefined || e.errno === which);
}

/**
 * errno for an lwIP err_t (modlwip's error_lookup_table), with tsip's
 * refinements: ERR_TIMEOUT (our connection timeouts) is ETIMEDOUT, and a
 * reset while connecting is a refusal.
 */
export function errnoFromErr(err: number, connecting = false): number {
  switch (err) {
    case Err.OK:
      return 0;
    case Err.MEM:
      return errno.ENOMEM;
    case Err.BUF:
      return errno.ENOBUFS;
    case Err.TIMEOUT:
      return errno.ETIMEDOUT;
    case Err.RTE:
      return errno.EHOSTUNREACH;
    case Err.INPROGRESS:
      return errno.EINPROGRESS;
    case Err.VAL:
      return errno.EINVAL;
    case Err.WOULDBLOCK:
      return errno.EAGAIN;
    case Err.USE:
      return errno.EADDRINUSE;
    case Err.ALREADY:
      return errno.EALREADY;
    case Err.ISCONN:
      return errno.EISCONN;
    case Err.CONN:
      return errno.ENOTCONN;
    case Err.ABRT:
      return errno.ECONNABORTED;
    case Err.RST:
      return connecting ? errno.ECONNREFUSED : errno.ECONNRESET;
    case Err.CLSD:
      return errno.ENOTCONN;
    case Err.ARG:
      return errno.EIO;
    default:
      return errno.EIO;
  }
}

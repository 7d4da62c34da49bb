// The limits every built-in service applies so that no client can hold a
// connection (and the send buffer behind it) for ever: deadlines for reads
// (a client that sends nothing) and for writes (a client that does not
// read), on the stack's clock through the sockets' own timeouts, and a
// reset that frees a connection at once instead of lingering in a close.
import { errno, OSError } from '../socket/errors.ts';
import type { BlockingSocket } from '../socket/socket.ts';

export interface ServiceLimits {
  /**
   * Most connections served at once; 0 = no cap. A connection beyond it
   * takes the place of the one that has made no progress for longest (if
   * that is at least shedAfterMs), else it is refused with a reset.
   */
  maxConnections?: number;
  /** A read that waits longer than this for the client ends the connection (ms; 0 = never). */
  idleTimeoutMs?: number;
  /**
   * One write (a block of at most 64 KiB) the client does not take within
   * this time ends the connection (ms; 0 = never): a minimum progress rate
   * for clients that do not read.
   */
  writeTimeoutMs?: number;
  /** A connection can be shed for a newcomer only after this long without progress (ms). */
  shedAfterMs?: number;
}

export type ResolvedLimits = Readonly<Required<ServiceLimits>>;

/** Why a service gave up on a connection before it was done. */
export type TimeoutKind = 'read' | 'write' | 'header';

/** Thrown by the timed operations below; the accept loop counts it and resets the connection. */
export class ServiceTimeout extends Error {
  override name = 'ServiceTimeout';
  constructor(readonly kind: TimeoutKind) {
    super(`${kind} timeout`);
  }
}

export function resolveLimits(defaults: ResolvedLimits, o: ServiceLimits | undefined): ResolvedLimits {
  const r = { ...defaults };
  for (const k of Object.keys(defaults) as (keyof ServiceLimits)[]) {
    const v = o?.[k];
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`service limit ${k} must be a non-negative number, got ${String(v)}`);
    r[k] = v;
  }
  return r;
}

const isTimeout = (e: unknown): boolean => e instanceof OSError && e.errno === errno.ETIMEDOUT;

/** Block for at most `ms` per call (0 = without a limit), on the stack's clock. */
function arm(sock: BlockingSocket, ms: number, kind: TimeoutKind): void {
  if (ms < 0 || Number.isNaN(ms)) throw new ServiceTimeout(kind);
  sock.settimeout(ms === 0 ? null : ms / 1000);
}

/** recv(n) within `ms`; an empty result is EOF. */
export async function timedRecv(sock: BlockingSocket, n: number, ms: number, kind: TimeoutKind = 'read'): Promise<Uint8Array> {
  arm(sock, ms, kind);
  try {
    return await sock.recv(n);
  } catch (e) {
    throw isTimeout(e) ? new ServiceTimeout(kind) : e;
  }
}

/** recvInto(buf) within `ms`; 0 is EOF. */
export async function timedRecvInto(sock: BlockingSocket, buf: Uint8Array, ms: number, kind: TimeoutKind = 'read'): Promise<number> {
  arm(sock, ms, kind);
  try {
    return await sock.recvInto(buf);
  } catch (e) {
    throw isTimeout(e) ? new ServiceTimeout(kind) : e;
  }
}

/** readline() within `ms` (a line, or what is left at EOF; empty at EOF). */
export async function timedReadline(sock: BlockingSocket, ms: number, kind: TimeoutKind = 'read'): Promise<Uint8Array> {
  arm(sock, ms, kind);
  try {
    return await sock.readline();
  } catch (e) {
    throw isTimeout(e) ? new ServiceTimeout(kind) : e;
  }
}

/** All of `data` taken by the socket within `ms` (the deadline covers the whole call), else ServiceTimeout. */
export async function timedWrite(sock: BlockingSocket, data: Uint8Array, ms: number): Promise<void> {
  arm(sock, ms, 'write');
  let n: number;
  try {
    n = await sock.write(data);
  } catch (e) {
    throw isTimeout(e) ? new ServiceTimeout('write') : e;
  }
  if (n < data.length) throw new ServiceTimeout('write');
}

/**
 * End a connection at once with a RST, freeing what it holds (a graceful
 * close would keep unsent data queued until the socket layer's close
 * timeout). Pending calls on the socket fail.
 */
export function resetSocket(sock: BlockingSocket): void {
  const pcb = sock.tcpPcb;
  const raw = sock.layer.raw;
  if (pcb !== null && !raw.isFreed(pcb)) raw.tcpAbort(pcb);
  sock.close();
}

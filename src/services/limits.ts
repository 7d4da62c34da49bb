// The limits every built-in service applies so that no client can hold a
// connection (and the send buffer behind it) for ever: deadlines for reads
// (a client that sends nothing) and for writes (a client that does not
// read), on the stack's clock through the sockets' own timeouts, and a
// reset that frees a connection at once instead of lingering in a close.
import { MSG_ZEROCOPY } from '../socket/constants.ts';
import { errno, OSError } from '../socket/errors.ts';
import type { BlockingSocket } from '../socket/socket.ts';

export interface ServiceLimits {
  /**
   * Most connections served at once; 0 = no cap. A connection beyond it
   * takes the place of one that has waited at least shedAfterMs on its
   * client (a client that does not read first); it waits up to twice
   * shedAfterMs for one, then is refused with a reset.
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
  /** A connection can be shed for a newcomer only once it has waited this long on its client (ms). */
  shedAfterMs?: number;
}

export type ResolvedLimits = Readonly<Required<ServiceLimits>>;

/** Why a service gave up on a connection before it was done. */
export type TimeoutKind = 'read' | 'write' | 'header';

/** What a connection is waiting for: the client's data, or the client to take ours. */
export type WaitKind = 'read' | 'write';

/** Told when a connection starts and stops waiting on its client (the shed picks among waiters). */
export interface WaitTracker {
  waiting(kind: WaitKind | null): void;
}

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

/** Run one blocking socket call within `ms`, telling `t` what it waits for; a socket timeout becomes ServiceTimeout(kind). */
async function timed<T>(sock: BlockingSocket, ms: number, kind: TimeoutKind, t: WaitTracker | undefined, call: () => Promise<T>): Promise<T> {
  arm(sock, ms, kind);
  t?.waiting(kind === 'write' ? 'write' : 'read');
  try {
    return await call();
  } catch (e) {
    throw isTimeout(e) ? new ServiceTimeout(kind) : e;
  } finally {
    t?.waiting(null);
  }
}

/** recv(n) within `ms`; an empty result is EOF. */
export function timedRecv(sock: BlockingSocket, n: number, ms: number, t?: WaitTracker): Promise<Uint8Array> {
  return timed(sock, ms, 'read', t, () => sock.recv(n));
}

/** recvInto(buf) within `ms`; 0 is EOF. */
export function timedRecvInto(sock: BlockingSocket, buf: Uint8Array, ms: number, t?: WaitTracker): Promise<number> {
  return timed(sock, ms, 'read', t, () => sock.recvInto(buf));
}

/** readline() within `ms` (a line, or what is left at EOF; empty at EOF). */
export function timedReadline(sock: BlockingSocket, ms: number, kind: TimeoutKind = 'read', t?: WaitTracker): Promise<Uint8Array> {
  return timed(sock, ms, kind, t, () => sock.readline());
}

/**
 * All of `data` taken by the socket within `ms` (the deadline covers the
 * whole call), else ServiceTimeout. `constant`: the bytes never change (a
 * service's generated block), so the stack may reference them instead of
 * copying (send flag MSG_ZEROCOPY).
 */
export async function timedWrite(sock: BlockingSocket, data: Uint8Array, ms: number, t?: WaitTracker, constant = false): Promise<void> {
  if (constant) {
    await timed(sock, ms, 'write', t, () => sock.sendall(data, MSG_ZEROCOPY));
    return;
  }
  const n = await timed(sock, ms, 'write', t, () => sock.write(data));
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

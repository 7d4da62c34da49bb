// A tiny accept loop on the socket API: one async handler per connection,
// counters, a cap on connections (the one waiting longest on a client that
// does not read shed first), the timeouts of limits.ts turned into resets,
// and a stop() that closes the listener and every connection.
import type { SocketLayer } from '../socket/layer.ts';
import { plainSockAddr } from '../socket/addr.ts';
import { AF_INET6, SO_REUSEADDR, SOL_SOCKET } from '../socket/constants.ts';
import type { BlockingSocket, SockAddr } from '../socket/socket.ts';
import type { Clock } from '../time/clock.ts';
import { resetSocket, resolveLimits, type ResolvedLimits, type ServiceLimits, ServiceTimeout, type WaitKind, type WaitTracker } from './limits.ts';

export interface ServiceCounters {
  accepted: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections that ended with an error (reset by the peer, ...). */
  errors: number;
  /** Connections reset on arrival: at maxConnections, nobody to shed within shedAfterMs (or too many waiting). */
  refused: number;
  /** Connections reset to make room for a newcomer: the one waiting longest on its client. */
  shed: number;
  /** Connections reset because the client sent nothing within idleTimeoutMs. */
  readTimeouts: number;
  /** Connections reset because the client did not take a write within writeTimeoutMs (it does not read). */
  writeTimeouts: number;
  /** HTTP: connections reset because the request head was not complete within headerTimeoutMs. */
  headerTimeouts: number;
}

export function newServiceCounters(): ServiceCounters {
  return { accepted: 0, active: 0, bytesIn: 0, bytesOut: 0, errors: 0, refused: 0, shed: 0, readTimeouts: 0, writeTimeouts: 0, headerTimeouts: 0 };
}

export interface Service {
  readonly name: string;
  readonly port: number;
  readonly counters: ServiceCounters;
  stop(): void;
}

/**
 * What a handler knows about its connection besides the socket. Pass it
 * to the timed operations of limits.ts: they tell it when the connection
 * waits on its client, which is what makes it a candidate for shedding.
 */
export interface Connection extends WaitTracker {
  /** When it was accepted (stack clock, ms). */
  readonly since: number;
  /** The service's limits, defaults filled in. */
  readonly limits: ResolvedLimits;
  /** The stack's clock (never the real one: services run in the simulator too). */
  readonly clock: Clock;
}

/**
 * Runs once per connection; `sock` is blocking (accepted from a blocking
 * listener): await its calls. `addr` is the client's: (host, port) for an
 * IPv4 client (a dotted quad, although the listener is a dual-stack
 * AF_INET6 one), (host, port, flowinfo, scopeid) for an IPv6 one. Throwing
 * ServiceTimeout ends the connection with a reset, counted by kind.
 */
export type Handler = (sock: BlockingSocket, addr: SockAddr, counters: ServiceCounters, conn: Connection) => Promise<void>;

export interface ServeOptions extends ServiceLimits {
  /**
   * Listen backlog (default 128), and how many newcomers may wait at the
   * cap (each at most shedAfterMs) for a place before being refused.
   */
  backlog?: number;
}

export const DEFAULT_BACKLOG = 128;

/** Limits when a service names none: generous for people, finite for everyone. */
export const DEFAULT_LIMITS: ResolvedLimits = { maxConnections: 256, idleTimeoutMs: 120_000, writeTimeoutMs: 30_000, shedAfterMs: 1_000 };

interface Conn extends Connection {
  readonly sock: BlockingSocket;
  /** What it waits for now, and since when (stack clock). */
  waitKind: WaitKind | null;
  waitSince: number;
  /** Set when the service ended it (shed, stop): what the handler then throws is no error. */
  ended: boolean;
}

export function serve(layer: SocketLayer, name: string, port: number, handler: Handler, options: number | ServeOptions = {}, defaults: ResolvedLimits = DEFAULT_LIMITS): Service {
  const o: ServeOptions = typeof options === 'number' ? { backlog: options } : options;
  const limits = resolveLimits(defaults, o);
  const backlog = o.backlog ?? DEFAULT_BACKLOG;
  const clock = layer.host.clock;
  // Both families: an AF_INET6 socket on '::' takes IPv4 too (Linux's IPV6_V6ONLY=0).
  const ls = layer.socket(AF_INET6);
  ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  ls.bind(['::', port]);
  ls.listen(backlog);
  const counters = newServiceCounters();
  const open = new Set<Conn>();
  /** Newcomers at the cap, waiting (at most twice shedAfterMs) for a place: oldest first. */
  const waiting: { sock: BlockingSocket; addr: SockAddr; until: number }[] = [];
  const pumpTimer = clock.timer(() => pump());
  let stopped = false;

  /**
   * Whom to shed: of the connections waiting on their client for at least
   * shedAfterMs, the longest waiting for a client to take data (it does not
   * read and holds a full send buffer), else the longest waiting for a
   * client to send. Never one the service is busy with: a connection that
   * only looks idle because the stack is behind is not waiting on anyone.
   */
  const shedCandidate = (now: number): Conn | null => {
    let writer: Conn | null = null;
    let reader: Conn | null = null;
    for (const c of open) {
      if (c.waitKind === null || now - c.waitSince < limits.shedAfterMs) continue;
      if (c.waitKind === 'write') {
        if (writer === null || c.waitSince < writer.waitSince) writer = c;
      } else if (reader === null || c.waitSince < reader.waitSince) {
        reader = c;
      }
    }
    return writer ?? reader;
  };

  /** When the next open connection will have waited shedAfterMs (Infinity if none waits); never now, so no same-instant loop. */
  const nextCandidateAt = (now: number): number => {
    let at = Infinity;
    for (const c of open) if (c.waitKind !== null) at = Math.min(at, now + Math.max(1, limits.shedAfterMs - (now - c.waitSince)));
    return at;
  };

  const end = (c: Conn): void => {
    c.ended = true;
    open.delete(c);
    resetSocket(c.sock);
  };

  const full = (): boolean => limits.maxConnections > 0 && open.size >= limits.maxConnections;

  /**
   * Let waiting newcomers in while there is room or someone to shed;
   * refuse those that waited in vain; wake again when the next one may
   * get in or must go.
   */
  const pump = (): void => {
    if (stopped) return;
    const now = clock.now();
    while (waiting.length > 0) {
      if (full()) {
        const victim = shedCandidate(now);
        if (victim === null) break;
        counters.shed++;
        end(victim);
      }
      const w = waiting.shift()!;
      start(w.sock, w.addr, now);
    }
    while (waiting.length > 0 && waiting[0]!.until <= now) {
      counters.refused++;
      resetSocket(waiting.shift()!.sock);
    }
    if (waiting.length > 0) pumpTimer.startAt(Math.min(waiting[0]!.until, nextCandidateAt(now)));
    else pumpTimer.stop();
  };

  const start = (sock: BlockingSocket, addr: SockAddr, now: number): void => {
    const c: Conn = {
      sock,
      since: now,
      limits,
      clock,
      waitKind: null,
      waitSince: now,
      ended: false,
      waiting(kind) {
        c.waitKind = kind;
        if (kind !== null) c.waitSince = clock.now(); // (unread while not waiting: no clock read twice per request)
      },
    };
    counters.accepted++;
    counters.active++;
    open.add(c);
    handler(sock, addr, counters, c)
      .then(
        () => {
          open.delete(c);
          sock.close();
        },
        (e: unknown) => {
          if (c.ended) return;
          if (e instanceof ServiceTimeout) {
            if (e.kind === 'read') counters.readTimeouts++;
            else if (e.kind === 'write') counters.writeTimeouts++;
            else counters.headerTimeouts++;
          } else {
            counters.errors++;
          }
          end(c);
        },
      )
      .finally(() => {
        counters.active--;
        if (waiting.length > 0) pump();
      });
  };

  const admit = (sock: BlockingSocket, addr: SockAddr): void => {
    const now = clock.now();
    if (waiting.length === 0 && !full()) return start(sock, addr, now);
    // At the cap: wait for a place, in a queue no longer than the backlog.
    if (waiting.length >= backlog) {
      counters.refused++;
      resetSocket(sock);
      return;
    }
    // Twice shedAfterMs: a connection that starts waiting on its client up to
    // shedAfterMs after this one arrived (a busy stack is late) can still be shed for it.
    waiting.push({ sock, addr, until: now + 2 * limits.shedAfterMs });
    pump();
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      let conn: [BlockingSocket, SockAddr];
      try {
        conn = await ls.accept();
      } catch {
        return; // the listener was closed
      }
      admit(conn[0], plainSockAddr(conn[1]));
    }
  };
  void loop();
  return {
    name,
    port,
    counters,
    stop() {
      stopped = true;
      pumpTimer.stop();
      ls.close();
      for (const w of waiting.splice(0)) w.sock.close();
      for (const c of [...open]) {
        c.ended = true;
        open.delete(c);
        c.sock.close();
      }
    },
  };
}

// A tiny accept loop on the socket API: one async handler per connection,
// counters, a cap on connections (the longest-stalled one shed first), the
// timeouts of limits.ts turned into resets, and a stop() that closes the
// listener and every connection.
import type { SocketLayer } from '../socket/layer.ts';
import { SO_REUSEADDR, SOL_SOCKET } from '../socket/constants.ts';
import type { BlockingSocket, SockAddr } from '../socket/socket.ts';
import type { Clock } from '../time/clock.ts';
import { resetSocket, resolveLimits, type ResolvedLimits, type ServiceLimits, ServiceTimeout } from './limits.ts';

export interface ServiceCounters {
  accepted: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections that ended with an error (reset by the peer, ...). */
  errors: number;
  /** Connections reset on arrival: at maxConnections with nobody stalled long enough to shed. */
  refused: number;
  /** Connections reset to make room for a newcomer: the one longest without progress. */
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

/** What a handler knows about its connection besides the socket. */
export interface Connection {
  /** When it was accepted (stack clock, ms). */
  readonly since: number;
  /** The service's limits, defaults filled in. */
  readonly limits: ResolvedLimits;
  /** The stack's clock (never the real one: services run in the simulator too). */
  readonly clock: Clock;
  /** Record progress (a request read, a block written): a shed picks the connection whose last progress is oldest. */
  progress(): void;
}

/**
 * Runs once per connection; `sock` is blocking (accepted from a blocking
 * listener): await its calls. Throwing ServiceTimeout ends the connection
 * with a reset, counted by kind.
 */
export type Handler = (sock: BlockingSocket, addr: SockAddr, counters: ServiceCounters, conn: Connection) => Promise<void>;

export interface ServeOptions extends ServiceLimits {
  /** Listen backlog (default 64). */
  backlog?: number;
}

/** Limits when a service names none: generous for people, finite for everyone. */
export const DEFAULT_LIMITS: ResolvedLimits = { maxConnections: 256, idleTimeoutMs: 120_000, writeTimeoutMs: 30_000, shedAfterMs: 1_000 };

interface Conn extends Connection {
  readonly sock: BlockingSocket;
  lastProgress: number;
  /** Set when the service ended it (shed, stop): what the handler then throws is no error. */
  ended: boolean;
}

export function serve(layer: SocketLayer, name: string, port: number, handler: Handler, options: number | ServeOptions = {}, defaults: ResolvedLimits = DEFAULT_LIMITS): Service {
  const o: ServeOptions = typeof options === 'number' ? { backlog: options } : options;
  const limits = resolveLimits(defaults, o);
  const clock = layer.host.clock;
  const ls = layer.socket();
  ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  ls.bind(['0.0.0.0', port]);
  ls.listen(o.backlog ?? 64);
  const counters = newServiceCounters();
  const open = new Set<Conn>();
  let stopped = false;

  /** The open connection longest without progress, if that is at least shedAfterMs. */
  const shedCandidate = (now: number): Conn | null => {
    let worst: Conn | null = null;
    for (const c of open) if (worst === null || c.lastProgress < worst.lastProgress) worst = c;
    return worst !== null && now - worst.lastProgress >= limits.shedAfterMs ? worst : null;
  };

  const end = (c: Conn): void => {
    c.ended = true;
    open.delete(c);
    resetSocket(c.sock);
  };

  const admit = (sock: BlockingSocket, addr: SockAddr): void => {
    const now = clock.now();
    if (limits.maxConnections > 0 && open.size >= limits.maxConnections) {
      const victim = shedCandidate(now);
      if (victim === null) {
        counters.refused++;
        resetSocket(sock);
        return;
      }
      counters.shed++;
      end(victim);
    }
    const c: Conn = {
      sock,
      since: now,
      limits,
      clock,
      lastProgress: now,
      ended: false,
      progress() {
        c.lastProgress = clock.now();
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
      });
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      let conn: [BlockingSocket, SockAddr];
      try {
        conn = await ls.accept();
      } catch {
        return; // the listener was closed
      }
      admit(conn[0], conn[1]);
    }
  };
  void loop();
  return {
    name,
    port,
    counters,
    stop() {
      stopped = true;
      ls.close();
      for (const c of [...open]) {
        c.ended = true;
        open.delete(c);
        c.sock.close();
      }
    },
  };
}

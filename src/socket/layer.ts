// The socket layer of one Stack: creates sockets and pollers, holds the
// counters and the handler for exceptions thrown by option-20 callbacks.
import { RawTcp } from '../callbacks/raw.ts';
import { RawUdp } from '../callbacks/raw-udp.ts';
import type { Ip } from '../ip/ip.ts';
import type { Ipv4 } from '../ip/ipv4.ts';
import type { Tcp } from '../pcb/tcp.ts';
import type { Udp } from '../udp/udp.ts';
import type { Clock } from '../time/clock.ts';
import type { AddrInfo, AnySockAddr, HostNames, SockAddr6 } from './addr.ts';
import { AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM } from './constants.ts';
import { DatagramSocket, type DatagramQueueOptions } from './dgram.ts';
import { errno, OSError } from './errors.ts';
import { Poller } from './poller.ts';
import { getaddrinfo, Socket } from './socket.ts';

/** What sockets need from their Stack (a Stack satisfies it). */
export interface SocketHost {
  readonly tcp: Tcp;
  readonly udp: Udp;
  readonly ip: Ipv4;
  /** Both IP families (route, source selection). */
  readonly inet: Ip;
  readonly clock: Clock;
  /** Run `fn` as soon as the current packet is processed (never inside it). */
  defer(fn: () => void): void;
  /** Host names getaddrinfo resolves (a Stack's HostTable). */
  readonly names?: HostNames;
}

export interface SocketCounters {
  created: number;
  closed: number;
  accepted: number;
  /** Connections reset because the accept queue was full. */
  acceptOverflows: number;
  /** Exceptions thrown by option-20 callbacks (caught; the stack carries on). */
  callbackErrors: number;
  /** Writes refused with ENOBUFS by setwritebuffer()'s cap. */
  writeBufferOverflows: number;
  /** Closed connections aborted for making no progress. */
  closeTimeouts: number;
  /** Datagrams dropped because a datagram socket's receive queue was full. */
  dgramDrops: number;
}

export interface SocketLayerOptions {
  /** A closed connection that makes no progress for this long is aborted (default 10 s, as modlwip). */
  closeTimeoutMs?: number;
  /** Receive queue bounds of each datagram socket. */
  dgramQueue?: DatagramQueueOptions;
}

export class SocketLayer {
  readonly raw: RawTcp;
  readonly rawUdp: RawUdp;
  readonly counters: SocketCounters = { created: 0, closed: 0, accepted: 0, acceptOverflows: 0, callbackErrors: 0, writeBufferOverflows: 0, closeTimeouts: 0, dgramDrops: 0 };
  /** Sockets created and not closed. */
  open = 0;
  readonly closeTimeoutMs: number;
  /** Told about exceptions thrown by option-20 callbacks (they are caught either way). */
  onCallbackError: ((err: unknown, sock: Socket) => void) | null = null;
  /** The same for option-20 callbacks of datagram sockets. */
  onDatagramCallbackError: ((err: unknown, sock: DatagramSocket) => void) | null = null;
  /** The most recent such exception. */
  lastCallbackError: unknown = null;

  constructor(
    readonly host: SocketHost,
    opts: SocketLayerOptions = {},
  ) {
    this.raw = new RawTcp(host);
    this.rawUdp = new RawUdp(host);
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
    this.dgramQueue = opts.dgramQueue ?? {};
  }

  private readonly dgramQueue: DatagramQueueOptions;

  /**
   * socket(AF_INET, SOCK_STREAM): a new TCP socket; socket(AF_INET,
   * SOCK_DGRAM): a UDP socket (src/socket/dgram.ts); AF_INET6 for either:
   * an IPv6 socket (addresses as 4-tuples) that also speaks IPv4 through
   * '::ffff:a.b.c.d' unless IPV6_V6ONLY is set, as on Linux. OSError
   * ENOMEM at the PCB limit, EAFNOSUPPORT for another family. New sockets
   * are blocking, and typed so (src/socket/mode.ts).
   */
  socket(af: typeof AF_INET6, type?: typeof SOCK_STREAM): Socket<'blocking', SockAddr6>;
  socket(af: typeof AF_INET6, type: typeof SOCK_DGRAM): DatagramSocket<'blocking', SockAddr6>;
  socket(af?: number, type?: typeof SOCK_STREAM): Socket<'blocking'>;
  socket(af: number, type: typeof SOCK_DGRAM): DatagramSocket<'blocking'>;
  // (Typed with IPv4 addresses when `af` is only a number; AF_INET6 sockets are Sockets too: their SockAddr6 is a SockAddr.)
  socket(af?: number, type?: number): Socket<'blocking'> | DatagramSocket<'blocking'>;
  socket(af = AF_INET, type: number = SOCK_STREAM): Socket<'blocking', AnySockAddr> | DatagramSocket<'blocking', AnySockAddr> | Socket<'blocking'> | DatagramSocket<'blocking'> {
    if (af !== AF_INET && af !== AF_INET6) throw new OSError(errno.EAFNOSUPPORT, 'only AF_INET and AF_INET6');
    if (type === SOCK_DGRAM) {
      const upcb = this.rawUdp.udpNew();
      if (upcb === null) throw new OSError(errno.ENOMEM);
      return new DatagramSocket<'blocking', AnySockAddr>(this, upcb, this.dgramQueue, af);
    }
    if (type !== SOCK_STREAM) throw new OSError(errno.EOPNOTSUPP, 'only SOCK_STREAM and SOCK_DGRAM');
    const pcb = this.raw.tcpNew();
    if (pcb === null) throw new OSError(errno.ENOMEM);
    return new Socket<'blocking', AnySockAddr>(this, pcb, false, af);
  }

  /**
   * socket.getaddrinfo(host, port, af, type, proto, flags) that also knows
   * the stack's host names (stack.names: in the simulator, every host's
   * name). OSError EINVAL for a name it does not know, as without.
   */
  getaddrinfo(host: string, port: number, af = 0, type = 0, proto = 0, flags = 0): AddrInfo[] {
    return getaddrinfo(host, port, af, type, proto, flags, this.host.names);
  }

  /** select.poll(). */
  poll(): Poller {
    return new Poller(this.host.clock);
  }

  /** @internal An option-20 callback threw. */
  callbackFailed(err: unknown, sock: Socket | DatagramSocket): void {
    this.counters.callbackErrors++;
    this.lastCallbackError = err;
    try {
      if (sock instanceof DatagramSocket) this.onDatagramCallbackError?.(err, sock);
      else this.onCallbackError?.(err, sock);
    } catch {
      // A failing error handler must not take the stack down either.
    }
  }
}

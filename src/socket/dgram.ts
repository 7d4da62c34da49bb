// A UDP socket (socket(AF_INET, SOCK_DGRAM)) with MicroPython modlwip /
// CPython semantics, on the raw UDP API (src/callbacks/raw-udp.ts).
//
// - recv/recvfrom return one datagram each (truncated to `n`, the rest of
//   it discarded, as POSIX); recvfrom gives [bytes, [host, port]].
// - Blocking mode (default, or settimeout(t > 0)): recv/recvfrom return a
//   Promise (ETIMEDOUT after the timeout); non-blocking: at once or
//   OSError(EAGAIN). send/sendto never wait (UDP has no send buffer to
//   fill): they return the byte count at once in every mode.
// - A bounded receive queue (datagrams and bytes): a datagram that does
//   not fit is dropped and counted (like a full SO_RCVBUF).
// - On a connected socket an ICMP error about a datagram it sent (port
//   unreachable -> ECONNREFUSED) is raised once by the next call, as Linux.
// - Raw callbacks only record and schedule: waiters, pollers and the
//   option-20 callback run right after the current packet (stack.defer).
// - Typed modes as Socket (src/socket/mode.ts): DatagramSocket<'blocking'>
//   types recv as Promise<Uint8Array>, DatagramSocket<'nonblocking'> as
//   Uint8Array; setblocking()/settimeout() return the socket retyped.
import { Err } from '../err.ts';
import type { RawUdp } from '../callbacks/raw-udp.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufType } from '../pbuf/pbuf.ts';
import { PbufLayer } from '../pbuf/pool.ts';
import type { UdpPcb } from '../udp/pcb.ts';
import { UDP_MAX_PAYLOAD } from '../udp/output.ts';
import { IP6_ADDR_ANY, IP_ANY_TYPE } from '../callbacks/addr.ts';
import { formatIp, ipIsAny, IP6_ANY, type IpAddr } from '../wire/ipaddr.ts';
import { localFor, parseSockAddr, peerFor, sockAddrOf, type AnySockAddr, type SockAddr, type SockAddrArg } from './addr.ts';
import { AF_INET, AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY, MP_STREAM_POLL, MSG_DONTWAIT, MSG_PEEK, POLLERR, POLLIN, POLLNVAL, POLLOUT, SO_CALLBACK, SO_ERROR, SO_REUSEADDR, SOCK_DGRAM, SOL_SOCKET } from './constants.ts';
import { errno, errnoFromErr, OSError } from './errors.ts';
import type { SocketLayer } from './layer.ts';
import { SocketNotifier } from './waiters.ts';
import { bytesArg, flagsArg, sizeArg, writeSlice } from './args.ts';
import type { ByMode, SocketMode, TimeoutMode } from './mode.ts';

/** Largest payload of one datagram over IPv6 (65535 - 8: the payload length field covers the UDP header, not the IPv6 one). */
const UDP6_MAX_PAYLOAD = 0xffff - 8;

/** Linux's EMSGSIZE (not in the errno table MicroPython's modlwip uses). */
export const EMSGSIZE = 90;

const EMPTY = new Uint8Array(0);
const AGAIN = Symbol('EAGAIN');
type Again = typeof AGAIN;

/** The option-20 callback of a datagram socket in mode `M`: it is called with that socket. */
export type DatagramCallback<M extends SocketMode = SocketMode, A extends AnySockAddr = SockAddr> = (sock: DatagramSocket<M, A>) => void;

/** A datagram socket typed as blocking: recv/recvfrom return Promises. */
export type BlockingDatagramSocket = DatagramSocket<'blocking'>;
/** A datagram socket typed as non-blocking: recv/recvfrom return at once or raise EAGAIN. */
export type NonBlockingDatagramSocket = DatagramSocket<'nonblocking'>;

export interface DatagramQueueOptions {
  /** Most datagrams waiting to be read (default 128). */
  maxDatagrams?: number;
  /** Most payload bytes waiting to be read (default 256 KiB). */
  maxBytes?: number;
}

/**
 * A UDP socket. `M` is the mode as the type checker knows it (see
 * src/socket/mode.ts); only recv/recvfrom depend on it (sending never
 * waits). Sockets of both modes are assignable to `DatagramSocket`.
 */
export class DatagramSocket<out M extends SocketMode = SocketMode, out A extends AnySockAddr = SockAddr> {
  /** Datagrams dropped because the receive queue was full. */
  drops = 0;
  private pcb: UdpPcb | null;
  private closed = false;
  private timeoutMs: number | null = null;
  private error = 0;
  private readonly qP: Pbuf[] = [];
  private readonly qAddr: IpAddr[] = [];
  private readonly qPort: number[] = [];
  private qBytes = 0;
  private readonly maxDatagrams: number;
  private readonly maxBytes: number;
  private readonly notifier: SocketNotifier;
  private readonly raw: RawUdp;
  /** IPV6_V6ONLY (AF_INET6 sockets; Linux's default 0: a socket on `::` takes IPv4 too). */
  private v6only = false;
  /** SOCK_DGRAM (CPython's socket.type). */
  readonly type = SOCK_DGRAM;

  /** @internal Use stack.socket(AF_INET, SOCK_DGRAM). */
  constructor(
    readonly layer: SocketLayer,
    pcb: UdpPcb,
    q: DatagramQueueOptions = {},
    /** AF_INET or AF_INET6 (CPython's socket.family). */
    readonly family: number = AF_INET,
  ) {
    this.notifier = new SocketNotifier(layer, this);
    this.raw = layer.rawUdp;
    this.pcb = pcb;
    this.maxDatagrams = q.maxDatagrams ?? 128;
    this.maxBytes = q.maxBytes ?? 256 * 1024;
    this.raw.udpRecv(pcb, (_a, _pcb, p, addr, port) => this.onRecv(p, addr, port), this);
    this.raw.udpErr(pcb, (_a, _pcb, err) => this.onError(err));
    layer.counters.created++;
    layer.open++;
  }

  /** The underlying PCB while open (tests). */
  get udpPcb(): UdpPcb | null {
    return this.pcb;
  }

  /** Datagrams waiting to be read. */
  get pending(): number {
    return this.qP.length;
  }

  // ---------------------------------------------------------------------
  // Options
  // ---------------------------------------------------------------------

  /** As Socket.setblocking: returns the socket itself, typed for the new mode. */
  setblocking(flag: false): DatagramSocket<'nonblocking', A>;
  setblocking(flag: true): DatagramSocket<'blocking', A>;
  setblocking(flag: boolean): DatagramSocket<SocketMode, A>;
  setblocking(flag: boolean): DatagramSocket<SocketMode, A> {
    this.timeoutMs = flag ? null : 0;
    return this;
  }

  /**
   * As Socket.settimeout: null blocks, 0 is non-blocking, t > 0 blocks for
   * at most t s. Returns the socket typed by TimeoutMode (a `number`
   * variable gives the union mode).
   */
  settimeout<T extends number | null>(seconds: T): DatagramSocket<TimeoutMode<T>, A> {
    if (seconds === null) this.timeoutMs = null;
    else if (!(seconds >= 0) || !Number.isFinite(seconds)) throw new OSError(errno.EINVAL, 'timeout must be a non-negative number or null');
    else this.timeoutMs = seconds * 1000;
    const self: DatagramSocket<SocketMode, A> = this;
    return self as DatagramSocket<TimeoutMode<T>, A>;
  }

  gettimeout(): number | null {
    return this.timeoutMs === null ? null : this.timeoutMs / 1000;
  }

  /**
   * setsockopt(SOL_SOCKET, 20, cb): the option-20 callback (null clears
   * it); SO_REUSEADDR takes a number or a boolean; IPPROTO_IPV6
   * IPV6_V6ONLY on an AF_INET6 socket before it has a port (EINVAL after).
   */
  setsockopt(level: typeof SOL_SOCKET, opt: typeof SO_CALLBACK, value: DatagramCallback<M, A> | null): void;
  setsockopt(level: number, opt: number, value: number | boolean): void;
  setsockopt(level: number, opt: number, value: unknown): void {
    const pcb = this.open();
    if (level === SOL_SOCKET && opt === SO_CALLBACK) {
      if (value !== null && value !== undefined && typeof value !== 'function') throw new OSError(errno.EINVAL, 'option 20 takes a function or null');
      this.notifier.callback = (value ?? null) as ((sock: never) => void) | null;
      return;
    }
    if (level === SOL_SOCKET && opt === SO_REUSEADDR) {
      this.raw.setReuseAddr(pcb, typeof value === 'boolean' ? value : Number(value) !== 0);
      return;
    }
    if (level === IPPROTO_IPV6 && opt === IPV6_V6ONLY && this.family === AF_INET6) {
      if (pcb.localPort !== 0) throw new OSError(errno.EINVAL, 'IPV6_V6ONLY must be set before bind');
      this.v6only = typeof value === 'boolean' ? value : Number(value) !== 0;
      pcb.v6only = this.v6only;
      return;
    }
    throw new OSError(errno.EOPNOTSUPP, `setsockopt level ${level} option ${opt}`);
  }

  getsockopt(level: number, opt: number): number {
    const pcb = this.open();
    if (level === SOL_SOCKET && opt === SO_ERROR) {
      const e = this.error;
      this.error = 0;
      return e;
    }
    if (level === SOL_SOCKET && opt === SO_REUSEADDR) return pcb.reuseAddr ? 1 : 0;
    if (level === IPPROTO_IPV6 && opt === IPV6_V6ONLY && this.family === AF_INET6) return this.v6only ? 1 : 0;
    throw new OSError(errno.EOPNOTSUPP, `getsockopt level ${level} option ${opt}`);
  }

  /**
   * (host, port), or (host, port, flowinfo, scopeid) for AF_INET6; a
   * connected socket bound to any address reports the source its route
   * uses, as Linux.
   */
  getsockname(): A {
    const pcb = this.open();
    let ip = pcb.localIp;
    if (ipIsAny(ip) && pcb.connected) ip = this.layer.host.inet.sourceTo(pcb.remoteIp);
    return this.addrOf(ip, pcb.localPort);
  }

  getpeername(): A {
    const pcb = this.open();
    if (!pcb.connected) throw new OSError(errno.ENOTCONN);
    return this.addrOf(pcb.remoteIp, pcb.remotePort);
  }

  // ---------------------------------------------------------------------
  // Setup
  // ---------------------------------------------------------------------

  /** bind((host, port)); AF_INET6 as Socket.bind ('::' takes IPv4 too unless IPV6_V6ONLY). */
  bind(addr: SockAddrArg): void {
    const pcb = this.open();
    if (pcb.localPort !== 0) throw new OSError(errno.EINVAL, 'already bound');
    const [a, port] = parseSockAddr(addr, this.family);
    const ip = this.family === AF_INET6 ? localFor(a, this.v6only) : a;
    const err = this.raw.udpBind(pcb, this.bindArg(ip), port);
    if (err === Err.VAL && !ipIsAny(ip) && !this.layer.host.inet.isLocal(ip)) throw new OSError(errno.EADDRNOTAVAIL);
    if (err !== Err.OK) throw new OSError(errnoFromErr(err));
  }

  /** connect((host, port)): fix the peer (binding an ephemeral port if needed). Never waits. */
  connect(addr: SockAddrArg): void {
    const pcb = this.open();
    const [ip, port] = this.peerOf(addr);
    if (ipIsAny(ip) || port === 0) throw new OSError(errno.EINVAL, 'cannot connect to the wildcard address or port 0');
    this.autobind(pcb);
    const err = this.raw.udpConnect(pcb, ip, port);
    if (err !== Err.OK) throw new OSError(errnoFromErr(err));
    this.error = 0;
  }

  // ---------------------------------------------------------------------
  // Sending (never waits)
  // ---------------------------------------------------------------------

  /** send(data) on a connected socket: the byte count. */
  send(data: Uint8Array): number {
    data = bytesArg(data, 'send');
    const pcb = this.open();
    if (!pcb.connected) throw new OSError(errno.ENOTCONN);
    return this.output(pcb, data, null);
  }

  /** sendto(data, (host, port)): the byte count. AF_INET6: '::ffff:a.b.c.d' sends over IPv4. */
  sendto(data: Uint8Array, addr: SockAddrArg): number {
    data = bytesArg(data, 'sendto');
    const pcb = this.open();
    const dst = this.peerOf(addr);
    if (ipIsAny(dst[0]) || dst[1] === 0) throw new OSError(errno.EINVAL, 'cannot send to the wildcard address or port 0');
    return this.output(pcb, data, dst);
  }

  /** MicroPython's write() on a connected datagram socket is send(); write(buf, max_len) and write(buf, off, max_len) as streams. */
  write(data: Uint8Array, offOrLen?: number, maxLen?: number): number {
    return this.send(writeSlice(bytesArg(data, 'write'), offOrLen, maxLen));
  }

  // ---------------------------------------------------------------------
  // Receiving
  // ---------------------------------------------------------------------

  /**
   * recv(n, flags=0): the next datagram (at most n bytes of it).
   * Non-blocking: OSError(EAGAIN) if none is waiting. flags: MSG_PEEK
   * leaves the datagram queued (the next recv returns it again);
   * MSG_DONTWAIT makes this call non-blocking (on a blocking socket the
   * Promise is already settled).
   */
  recv(n: number, flags = 0): ByMode<M, Uint8Array, Promise<Uint8Array>> {
    const want = sizeArg(n, 'recv');
    const f = flagsArg(flags);
    return this.op(() => {
      const r = this.tryRecv(want, (f & MSG_PEEK) !== 0);
      return r === AGAIN ? AGAIN : r[0];
    }, (f & MSG_DONTWAIT) !== 0);
  }

  /** recvfrom(n, flags=0): [bytes, [host, port]]; flags as recv. Non-blocking: OSError(EAGAIN) if none is waiting. */
  recvfrom(n: number, flags = 0): ByMode<M, [Uint8Array, A], Promise<[Uint8Array, A]>> {
    const want = sizeArg(n, 'recvfrom');
    const f = flagsArg(flags);
    return this.op(() => this.tryRecv(want, (f & MSG_PEEK) !== 0), (f & MSG_DONTWAIT) !== 0);
  }

  // ---------------------------------------------------------------------
  // Poll, callback, close
  // ---------------------------------------------------------------------

  ioctl(request: number, arg: number): number {
    if (request !== MP_STREAM_POLL) throw new OSError(errno.EINVAL, `ioctl request ${request}`);
    return this.pollFlags(arg);
  }

  /** POLLIN when a datagram (or an error) is waiting; POLLOUT always while open. */
  pollFlags(mask: number): number {
    if (this.closed) return POLLNVAL;
    let f = POLLOUT;
    if (this.qP.length > 0) f |= POLLIN;
    if (this.error !== 0) f |= POLLIN | POLLERR;
    return f & (mask | POLLERR | POLLNVAL);
  }

  /** A datagram socket never hangs up. */
  hangupIsFinal(): boolean {
    return false;
  }

  /** @internal Pollers watch the socket through this. */
  watch(fn: () => void): () => void {
    return this.notifier.watch(fn);
  }

  /** close(): unread datagrams are freed; afterwards every call raises EBADF. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.notifier.callback = null;
    for (const p of this.qP) p.free();
    this.qP.length = 0;
    this.qAddr.length = 0;
    this.qPort.length = 0;
    this.qBytes = 0;
    const pcb = this.pcb;
    this.pcb = null;
    if (pcb !== null) this.raw.udpRemove(pcb);
    this.layer.open--;
    this.layer.counters.closed++;
    this.notifier.schedule(false);
  }

  toString(): string {
    const p = this.pcb;
    const host = p === null ? '' : formatIp(p.localIp);
    return `<socket DGRAM ${this.closed || p === null ? 'CLOSED' : host.includes(':') ? `[${host}]:${p.localPort}` : `${host}:${p.localPort}`}>`;
  }

  // ---------------------------------------------------------------------
  // Internals
  // ---------------------------------------------------------------------

  private open(): UdpPcb {
    if (this.closed || this.pcb === null) throw new OSError(errno.EBADF);
    return this.pcb;
  }

  /** A pending ICMP error, raised once. */
  private raisePending(): void {
    if (this.error === 0) return;
    const e = this.error;
    this.error = 0;
    throw new OSError(e);
  }

  /** `ip`:`port` as this socket's family writes it (the family decides A). */
  private addrOf(ip: IpAddr, port: number): A {
    return sockAddrOf(this.family, ip, port) as A;
  }

  /** The raw API's form of `ip`: `::` is IP_ANY_TYPE (dual) or IP6_ADDR_ANY (v6only) by IPV6_V6ONLY. */
  private bindArg(ip: IpAddr): IpAddr {
    if (typeof ip === 'number' || !ip.isUnspecified) return ip;
    return this.v6only ? IP6_ADDR_ANY : IP_ANY_TYPE;
  }

  /** Where a peer address really is: '::ffff:a.b.c.d' on an AF_INET6 socket is IPv4 (ENETUNREACH if v6only). */
  private peerOf(addr: SockAddrArg): [IpAddr, number] {
    const [a, port] = parseSockAddr(addr, this.family);
    return [this.family === AF_INET6 ? peerFor(a, this.v6only) : a, port];
  }

  /** Linux gives an unbound AF_INET6 socket `::` (dual unless v6only) and a port on its first send or connect. */
  private autobind(pcb: UdpPcb): void {
    if (this.family !== AF_INET6 || pcb.localPort !== 0) return;
    const err = this.raw.udpBind(pcb, this.bindArg(IP6_ANY), 0);
    if (err !== Err.OK) throw new OSError(errnoFromErr(err));
  }

  private output(pcb: UdpPcb, data: Uint8Array, dst: [IpAddr, number] | null): number {
    this.raisePending();
    const to = dst === null ? pcb.remoteIp : dst[0];
    if (data.length > (typeof to === 'number' ? UDP_MAX_PAYLOAD : UDP6_MAX_PAYLOAD)) throw new OSError(EMSGSIZE, 'datagram too large');
    this.autobind(pcb);
    const p = this.raw.udp.pool.alloc(PbufLayer.TRANSPORT, data.length, PbufType.RAM);
    if (p === null) throw new OSError(errno.ENOMEM);
    p.buf.set(data, p.off);
    const err = dst === null ? this.raw.udpSend(pcb, p) : this.raw.udpSendTo(pcb, p, dst[0], dst[1]);
    p.free();
    if (err === Err.OK) return data.length;
    // A device that dropped the packet (a full queue) is a lost datagram, not an error.
    if (err === Err.IF || err === Err.BUF) return data.length;
    throw new OSError(errnoFromErr(err));
  }

  private tryRecv(n: number, peek = false): [Uint8Array, A] | Again {
    this.open();
    this.raisePending();
    const p = this.qP[0];
    if (p === undefined) return AGAIN;
    const a = this.qAddr[0]!;
    const port = this.qPort[0]!;
    const len = Math.max(0, Math.min(Math.floor(n), p.totLen));
    let data = EMPTY;
    if (len > 0) {
      data = new Uint8Array(len);
      p.copyPartial(data, len, 0);
    }
    if (!peek) {
      this.qP.shift();
      this.qAddr.shift();
      this.qPort.shift();
      this.qBytes -= p.totLen;
      p.free();
    }
    return [data, this.addrOf(a, port)];
  }

  private onRecv(p: Pbuf, addr: IpAddr, port: number): void {
    if (this.closed) {
      p.free();
      return;
    }
    if (this.qP.length >= this.maxDatagrams || this.qBytes + p.totLen > this.maxBytes) {
      // A full receive buffer: the datagram is lost (Linux RcvbufErrors).
      this.drops++;
      this.layer.counters.dgramDrops++;
      const udp = this.raw.udp;
      udp.counters.rcvbufErrors++;
      udp.counters.inErrors++;
      udp.stats.drop++;
      p.free();
      return;
    }
    this.qP.push(p);
    this.qAddr.push(addr);
    this.qPort.push(port);
    this.qBytes += p.totLen;
    this.notifier.schedule(true);
  }

  private onError(err: number): void {
    if (this.closed) return;
    this.error = err === Err.RST ? errno.ECONNREFUSED : err === Err.RTE ? errno.EHOSTUNREACH : err === Err.ABRT ? errno.ECONNABORTED : errno.EIO;
    this.notifier.schedule(true);
  }

  /**
   * Run `attempt` now (non-blocking: EAGAIN) or until it has a result
   * (blocking: a Promise). The one place a result is retyped for the mode:
   * the branch taken is the one M stands for (setblocking/settimeout type
   * the socket from the timeout they set).
   */
  private op<T>(attempt: () => T | Again, dontWait = false): ByMode<M, T, Promise<T>> {
    if (this.timeoutMs === 0) {
      const r = attempt();
      if (r === AGAIN) throw new OSError(errno.EAGAIN);
      return r as ByMode<M, T, never>;
    }
    if (dontWait) {
      // MSG_DONTWAIT on a blocking socket: one attempt now, the Promise already settled.
      let r: T | Again;
      try {
        r = attempt();
      } catch (e) {
        return Promise.reject(e as Error) as ByMode<M, never, Promise<T>>;
      }
      return (r === AGAIN ? Promise.reject(new OSError(errno.EAGAIN)) : Promise.resolve(r)) as ByMode<M, never, Promise<T>>;
    }
    return this.blocking(attempt) as ByMode<M, never, Promise<T>>;
  }

  private async blocking<T>(attempt: () => T | Again): Promise<T> {
    const deadline = this.timeoutMs === null ? Infinity : this.layer.host.clock.now() + this.timeoutMs;
    for (;;) {
      const r = attempt();
      if (r !== AGAIN) return r;
      if (!(await this.notifier.waitChange(deadline))) throw new OSError(errno.ETIMEDOUT);
    }
  }
}

// A TCP socket with MicroPython modlwip semantics, on the raw API.
//
// Blocking vs non-blocking: JavaScript cannot block, so in blocking mode
// (the default, or settimeout(t > 0)) every call that could block returns a
// Promise; in non-blocking mode (setblocking(false) / settimeout(0)) calls
// return at once, raising OSError(EAGAIN) where MicroPython does.
// `await sock.recv(n)` works in both modes.
//
// Typed modes (src/socket/mode.ts): Socket<M> carries the mode as a type
// parameter that exists only for the type checker. Socket<'blocking'>
// (BlockingSocket) types recv(n) as Promise<Uint8Array>,
// Socket<'nonblocking'> (NonBlockingSocket) as Uint8Array, and plain Socket
// (mode not known statically) as either. stack.socket() gives a
// BlockingSocket; setblocking()/settimeout() return the same socket typed
// for its new mode: `const s = stack.socket().setblocking(false)`. The
// run-time behaviour does not depend on the type: it is the timeout.
//
// "Once" and "exact" (seed 000): recv/send make one attempt and may return
// short counts; read/readinto/write repeat until the count is reached or
// EOF/error. Non-blocking: recv/send raise EAGAIN when nothing can be done;
// read/readinto/write return null instead, else what was possible.
//
// recv/recvfrom/recv_into take MSG_PEEK and MSG_DONTWAIT; arguments are
// checked (TypeError / RangeError) before any state changes, so a bad one
// never consumes data. SO_SNDBUF / SO_RCVBUF / SO_LINGER: see setsockopt.
//
// Rules the raw layer is used under (seeds 000-002, docs/raw-api.md):
// - user code never runs inside a raw callback: events are handed out with
//   stack.defer(), i.e. as soon as the current packet is processed;
// - a connection waiting for accept() refuses its data (and FIN): the engine
//   keeps it, and accept() asks for it right away;
// - data that arrived before a FIN or a RST is read first, then EOF (b'')
//   or the error, once.
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { RawTcp } from '../callbacks/raw.ts';
import { WriteFlag } from '../pcb/output.ts';
import type { TcpPcb } from '../pcb/pcb.ts';
import { TcpState } from '../pcb/state.ts';
import { autocork } from './autocork.ts';
import { IP6_ADDR_ANY, IP_ANY_TYPE } from '../callbacks/addr.ts';
import { ipIsAny, IP6_ANY, type IpAddr } from '../wire/ipaddr.ts';
import { localFor, parseSockAddr, peerFor, resolveLiteral, sockAddrOf, type AddrInfo, type HostNames, type AnySockAddr, type SockAddr, type SockAddrArg } from './addr.ts';
import {
  AF_INET,
  AF_INET6,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV6_V6ONLY,
  MP_STREAM_POLL,
  MSG_DONTWAIT,
  MSG_PEEK,
  MSG_ZEROCOPY,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  SO_CALLBACK,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_RCVBUF,
  SO_SNDBUF,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
  TCP_USER_TIMEOUT,
} from './constants.ts';
import { errno, errnoFromErr, OSError } from './errors.ts';
import type { SocketLayer } from './layer.ts';
import { SocketNotifier } from './waiters.ts';
import { bufferArg, bufSizeArg, bytesArg, flagsArg, lingerArg, sendFlagsArg, sizeArg, writeSlice } from './args.ts';
import type { ByMode, SocketMode, TimeoutMode } from './mode.ts';
import { concatChunks } from './concat.ts';

export type { ByMode, SocketMode, TimeoutMode } from './mode.ts';
export type { AddrInfo, AnySockAddr, SockAddr, SockAddr6, SockAddrArg } from './addr.ts';

export const SockState = {
  NEW: 0,
  LISTENING: 1,
  CONNECTING: 2,
  CONNECTED: 3,
  /** The peer sent FIN: reads drain what is left, then EOF. */
  PEER_CLOSED: 4,
  /** The connection died (reset, timeout, refused): reads drain, then the error once. */
  ERROR: 5,
  /** close() was called: everything is EBADF / POLLNVAL. */
  CLOSED: 6,
} as const;
export type SockState = (typeof SockState)[keyof typeof SockState];

const STATE_NAMES = ['NEW', 'LISTENING', 'CONNECTING', 'CONNECTED', 'PEER_CLOSED', 'ERROR', 'CLOSED'];
const EMPTY = new Uint8Array(0);
/** Marker: the attempt would block. */
const AGAIN = Symbol('EAGAIN');
type Again = typeof AGAIN;

/** The option-20 callback of a socket in mode `M`: it is called with that socket. */
export type SocketCallback<M extends SocketMode = SocketMode, A extends AnySockAddr = SockAddr> = (sock: Socket<M, A>) => void;

/** A socket typed as blocking: calls that may wait return Promises. */
export type BlockingSocket = Socket<'blocking'>;
/** A socket typed as non-blocking: calls return at once (or raise EAGAIN / return null). */
export type NonBlockingSocket = Socket<'nonblocking'>;

/**
 * A TCP socket. `M` is the mode as the type checker knows it (see
 * src/socket/mode.ts): 'blocking', 'nonblocking', or the default
 * `SocketMode` (either, so results are `X | Promise<X>`: await them).
 * Sockets of both modes are assignable to `Socket`.
 */
export class Socket<out M extends SocketMode = SocketMode, out A extends AnySockAddr = SockAddr> {
  private _state: SockState = SockState.NEW;
  private pcb: TcpPcb | null;
  /** null: block forever; 0: non-blocking; > 0: ms per operation. */
  private timeoutMs: number | null = null;
  /** Pending errno (0 none) and whether it has been reported once. */
  private error = 0;
  private errorReported = false;
  /** Received data not yet read, and its byte count. */
  private rx: Pbuf | null = null;
  private rxBytes = 0;
  /** Connections waiting for accept() (listeners). */
  private readonly acceptQ: TcpPcb[] = [];
  private backlog = 0;
  private readonly notifier: SocketNotifier;
  /** setwritebuffer(): writes beyond the TCP send buffer wait here (bounded). */
  private wbuf: Uint8Array[] = [];
  private wbufBytes = 0;
  private wbufCap = 0;
  private peer: A | null = null;
  private readonly raw: RawTcp;
  /** IPV6_V6ONLY (AF_INET6 sockets; Linux's default 0: a socket on `::` takes IPv4 too). */
  private v6only = false;
  /** SOCK_STREAM (CPython's socket.type). */
  readonly type = SOCK_STREAM;
  /** SO_LINGER as [onoff, seconds]. */
  private linger: [number, number] = [0, 0];
  /** SO_SNDBUF in effect (the stack's tcp.sndBuf until set). */
  private sndBufSize: number;
  /** SO_SNDBUF / SO_RCVBUF as set (null: never), for connections a listener accepts. */
  private sndBufSet: number | null = null;
  private rcvBufSet: number | null = null;

  /** @internal Use SocketLayer.socket() / stack.socket(). */
  constructor(
    readonly layer: SocketLayer,
    pcb: TcpPcb,
    accepted = false,
    /** AF_INET or AF_INET6 (CPython's socket.family): how addresses are written, and which a socket may use. */
    readonly family: number = AF_INET,
  ) {
    this.notifier = new SocketNotifier(layer, this);
    this.raw = layer.raw;
    this.sndBufSize = this.raw.tcp.config.sndBuf;
    this.pcb = pcb;
    // This application answers after the packet, not inside the callback.
    this.raw.tcp.setAppLate(pcb, true);
    this.raw.tcpArg(pcb, this);
    this.installConnectionCallbacks(pcb);
    if (accepted) {
      this._state = SockState.CONNECTED;
      this.peer = this.addrOf(pcb.remoteIp, pcb.remotePort);
      this.v6only = pcb.v6only;
    }
    layer.counters.created++;
    layer.open++;
  }

  // -------------------------------------------------------------------------
  // State and options
  // -------------------------------------------------------------------------

  get state(): SockState {
    return this._state;
  }

  get stateName(): string {
    return STATE_NAMES[this._state]!;
  }

  /** The underlying PCB while the connection exists (for tcpInfo and tests). */
  get tcpPcb(): TcpPcb | null {
    return this.pcb;
  }

  /** Bytes received and not yet read. */
  get pending(): number {
    return this.rxBytes;
  }

  /** Connections waiting to be accepted. */
  get acceptPending(): number {
    return this.acceptQ.length;
  }

  /** Bytes held by setwritebuffer() beyond the TCP send buffer. */
  get writeBuffered(): number {
    return this.wbufBytes;
  }

  /**
   * setblocking(false): non-blocking (timeout 0); setblocking(true): block
   * without a timeout. Returns the socket itself, typed for the new mode
   * (MicroPython returns None): `const s = stack.socket().setblocking(false)`.
   * The old reference keeps its old type; use the returned one.
   */
  setblocking(flag: false): Socket<'nonblocking', A>;
  setblocking(flag: true): Socket<'blocking', A>;
  setblocking(flag: boolean): Socket<SocketMode, A>;
  setblocking(flag: boolean): Socket<SocketMode, A> {
    this.timeoutMs = flag ? null : 0;
    return this;
  }

  /**
   * Seconds, as MicroPython: null blocks forever, 0 is non-blocking, t > 0
   * is blocking with a timeout of t s per call. Returns the socket itself,
   * typed for the new mode as far as the argument's type tells
   * (TimeoutMode): settimeout(0) → Socket<'nonblocking'>; settimeout(null)
   * or a positive literal → Socket<'blocking'>; a `number` variable could
   * be 0 at run time, so it gives `Socket` (either mode) rather than a guess.
   */
  settimeout<T extends number | null>(seconds: T): Socket<TimeoutMode<T>, A> {
    if (seconds === null) this.timeoutMs = null;
    else if (!(seconds >= 0) || !Number.isFinite(seconds)) throw new OSError(errno.EINVAL, 'timeout must be a non-negative number or null');
    else this.timeoutMs = seconds * 1000;
    const self: Socket<SocketMode, A> = this;
    return self as Socket<TimeoutMode<T>, A>;
  }

  gettimeout(): number | null {
    return this.timeoutMs === null ? null : this.timeoutMs / 1000;
  }

  /**
   * The seeds' asymmetry (a terminal over a socket): with a cap > 0, send,
   * sendall and write accept everything at once, keeping what the TCP send
   * buffer cannot take (up to `capBytes`, beyond that OSError(ENOBUFS) and
   * nothing is taken) and sending it as ACKs make room. Reads keep following
   * the blocking mode; combine with setblocking(false) for "read what is
   * there, write everything". 0 turns it off.
   */
  setwritebuffer(capBytes: number): void {
    if (!Number.isInteger(capBytes) || capBytes < 0) throw new OSError(errno.EINVAL, 'write buffer cap must be a non-negative integer');
    this.wbufCap = capBytes;
  }

  /**
   * setsockopt(SOL_SOCKET, 20, cb): the option-20 callback, called with
   * this socket (typed in this socket's mode); null clears it. Other
   * options take a number or a boolean (SO_REUSEADDR, SO_KEEPALIVE,
   * TCP_NODELAY, TCP_USER_TIMEOUT in ms; IPPROTO_IPV6 IPV6_V6ONLY on an
   * AF_INET6 socket before bind, EINVAL after, as Linux).
   */
  setsockopt(level: typeof SOL_SOCKET, opt: typeof SO_CALLBACK, value: SocketCallback<M, A> | null): void;
  setsockopt(level: typeof SOL_SOCKET, opt: typeof SO_LINGER, value: readonly [number, number] | Uint8Array): void;
  setsockopt(level: number, opt: number, value: number | boolean): void;
  setsockopt(level: number, opt: number, value: unknown): void {
    this.checkOpen();
    if (level === SOL_SOCKET && opt === SO_LINGER) {
      this.linger = lingerArg(value);
      return;
    }
    if (level === SOL_SOCKET && opt === SO_SNDBUF) {
      const v = bufSizeArg(value, 'SO_SNDBUF');
      if (this.pcb !== null && this._state !== SockState.LISTENING) this.pcb.sndBuf += v - this.sndBufSize;
      this.sndBufSize = v;
      this.sndBufSet = v;
      return;
    }
    if (level === SOL_SOCKET && opt === SO_RCVBUF) {
      const v = bufSizeArg(value, 'SO_RCVBUF');
      this.rcvBufSet = v;
      const pcb = this.pcb;
      if (pcb === null || this._state === SockState.LISTENING) return;
      if (this._state === SockState.NEW && pcb.state === TcpState.CLOSED) {
        // Before connect: the window we will advertise, and (at connect) its scale.
        pcb.rcvBufSize = v;
        pcb.rcvWnd = v;
        pcb.rcvAnnWnd = Math.min(v, 0xffff);
      } else if (v < pcb.rcvBufSize) {
        // Connected: only lower it (the window scale was agreed at the handshake).
        const held = pcb.rcvBufSize - pcb.rcvWnd;
        pcb.rcvBufSize = v;
        pcb.rcvWnd = Math.max(0, v - held);
      }
      return;
    }
    if (level === SOL_SOCKET && opt === SO_CALLBACK) {
      if (value !== null && value !== undefined && typeof value !== 'function') throw new OSError(errno.EINVAL, 'option 20 takes a function or null');
      this.notifier.callback = (value ?? null) as ((sock: never) => void) | null;
      return;
    }
    const on = typeof value === 'boolean' ? value : Number(value) !== 0;
    if (level === SOL_SOCKET && opt === SO_REUSEADDR) {
      if (this.pcb !== null) this.raw.setReuseAddr(this.pcb, on);
      return;
    }
    if (level === SOL_SOCKET && opt === SO_KEEPALIVE) {
      if (this.pcb !== null) this.raw.tcpKeepalive(this.pcb, on);
      return;
    }
    if (level === IPPROTO_TCP && opt === TCP_NODELAY) {
      if (this.pcb !== null) {
        if (on) this.raw.tcpNagleDisable(this.pcb);
        else this.raw.tcpNagleEnable(this.pcb);
      }
      return;
    }
    if (level === IPPROTO_TCP && opt === TCP_USER_TIMEOUT) {
      const ms = Number(value);
      if (!Number.isInteger(ms) || ms < 0) throw new OSError(errno.EINVAL, 'TCP_USER_TIMEOUT takes a non-negative integer of ms');
      if (this.pcb !== null) this.raw.tcpUserTimeout(this.pcb, ms);
      return;
    }
    if (level === IPPROTO_IPV6 && opt === IPV6_V6ONLY && this.family === AF_INET6) {
      // Linux: only before the socket has a port (bind, listen or connect gave it one).
      if (this._state !== SockState.NEW || this.pcb === null || this.pcb.localPort !== 0) throw new OSError(errno.EINVAL, 'IPV6_V6ONLY must be set before bind');
      this.v6only = on;
      this.pcb.v6only = on;
      return;
    }
    throw new OSError(errno.EOPNOTSUPP, `setsockopt level ${level} option ${opt}`);
  }

  /**
   * getsockopt(SOL_SOCKET, SO_ERROR) returns the pending errno (0 if none)
   * and clears it. SO_LINGER: [onoff, seconds], or with `buflen` (CPython's
   * form) the struct linger as 8 bytes (two little-endian int32).
   * SO_SNDBUF / SO_RCVBUF: the size in effect (not doubled as Linux does).
   */
  getsockopt(level: typeof SOL_SOCKET, opt: typeof SO_LINGER): [number, number];
  getsockopt(level: typeof SOL_SOCKET, opt: typeof SO_LINGER, buflen: number): Uint8Array;
  getsockopt(level: number, opt: number): number;
  getsockopt(level: number, opt: number, buflen?: number): number | [number, number] | Uint8Array {
    this.checkOpen();
    if (level === SOL_SOCKET && opt === SO_LINGER) {
      if (buflen === undefined) return [this.linger[0], this.linger[1]];
      const b = new Uint8Array(8);
      const dv = new DataView(b.buffer);
      dv.setInt32(0, this.linger[0], true);
      dv.setInt32(4, this.linger[1], true);
      return b.subarray(0, Math.max(0, Math.min(8, buflen)));
    }
    if (level === SOL_SOCKET && opt === SO_SNDBUF) return this.sndBufSize;
    if (level === SOL_SOCKET && opt === SO_RCVBUF) return this.pcb !== null && this._state !== SockState.LISTENING ? this.pcb.rcvBufSize : (this.rcvBufSet ?? this.raw.tcp.config.rcvWnd);
    if (level === SOL_SOCKET && opt === SO_ERROR) {
      if (this.error === 0 || this.errorReported) return 0;
      this.errorReported = true;
      return this.error;
    }
    if (level === SOL_SOCKET && opt === SO_REUSEADDR) return this.pcb !== null && (this.pcb.soOptions & SO_REUSEADDR) !== 0 ? 1 : 0;
    if (level === IPPROTO_TCP && opt === TCP_NODELAY) return this.pcb !== null && this.raw.tcpNagleDisabled(this.pcb) ? 1 : 0;
    if (level === IPPROTO_TCP && opt === TCP_USER_TIMEOUT) return this.pcb === null || this.pcb.userTimeout < 0 ? 0 : this.pcb.userTimeout;
    if (level === IPPROTO_IPV6 && opt === IPV6_V6ONLY && this.family === AF_INET6) return this.v6only ? 1 : 0;
    throw new OSError(errno.EOPNOTSUPP, `getsockopt level ${level} option ${opt}`);
  }

  /** (host, port) for AF_INET; (host, port, flowinfo, scopeid) for AF_INET6, IPv4 as '::ffff:a.b.c.d'. */
  getsockname(): A {
    this.checkOpen();
    const p = this.pcb;
    return this.addrOf(p === null ? 0 : p.localIp, p === null ? 0 : p.localPort);
  }

  getpeername(): A {
    this.checkOpen();
    if (this.peer === null || this._state === SockState.NEW || this._state === SockState.LISTENING) throw new OSError(errno.ENOTCONN);
    return this.peer;
  }

  /** MicroPython's socket.makefile() returns the socket itself. */
  makefile(): this {
    return this;
  }

  // -------------------------------------------------------------------------
  // Setup: bind / listen / accept / connect
  // -------------------------------------------------------------------------

  /**
   * bind((host, port)); AF_INET6: (host, port[, flowinfo[, scopeid]]),
   * where '::' (or '') takes IPv4 too unless IPV6_V6ONLY is set, and
   * '::ffff:a.b.c.d' binds the IPv4 address.
   */
  bind(addr: SockAddrArg): void {
    this.checkOpen();
    if (this.pcb === null || this._state !== SockState.NEW) throw new OSError(errno.EINVAL, 'socket is not new');
    const [a, port] = parseSockAddr(addr, this.family);
    const ip = this.family === AF_INET6 ? localFor(a, this.v6only) : a;
    const err = this.raw.tcpBind(this.pcb, this.bindArg(ip), port);
    if (err === Err.VAL && !ipIsAny(ip) && !this.layer.host.inet.isLocal(ip)) throw new OSError(errno.EADDRNOTAVAIL);
    if (err !== Err.OK) throw new OSError(errnoFromErr(err));
  }

  /** `ip`:`port` written as this socket's family writes addresses (the one place A is asserted: the family decides it). */
  private addrOf(ip: IpAddr, port: number): A {
    return sockAddrOf(this.family, ip, port) as A;
  }

  /** The raw API's form of `ip`: `::` is IP_ANY_TYPE (dual) or IP6_ADDR_ANY (v6only) by IPV6_V6ONLY. */
  private bindArg(ip: IpAddr): IpAddr {
    if (typeof ip === 'number' || !ip.isUnspecified) return ip;
    return this.v6only ? IP6_ADDR_ANY : IP_ANY_TYPE;
  }

  /** listen(backlog): connections beyond the backlog wait in SYN retries (their SYNs are dropped). */
  listen(backlog = 2): void {
    this.checkOpen();
    if (this.pcb === null || this._state !== SockState.NEW) throw new OSError(errno.EINVAL, 'socket is not new');
    const n = Math.max(1, Math.min(Math.floor(backlog), 0xff));
    if (this.family === AF_INET6 && this.pcb.localPort === 0) {
      // Linux autobinds an AF_INET6 listener to `::` (dual unless IPV6_V6ONLY).
      const e = this.raw.tcpBind(this.pcb, this.bindArg(IP6_ANY), 0);
      if (e !== Err.OK) throw new OSError(errnoFromErr(e));
    }
    const { pcb, err } = this.raw.tcpListenWithErr(this.pcb, n);
    if (pcb === null) throw new OSError(errnoFromErr(err));
    this.backlog = n;
    this._state = SockState.LISTENING;
    this.raw.tcpAccept(pcb, (_arg, npcb) => this.onIncoming(npcb));
    // Only a vanished host (Stack.crash) reports an error on a listener: accept() raises it.
    this.raw.tcpErr(pcb, (_a, err) => this.onError(err));
  }

  /**
   * accept() → [socket, (host, port)]. Blocking: a Promise (ETIMEDOUT after
   * the timeout); non-blocking: at once or OSError(EAGAIN). The new socket
   * inherits the listener's timeout, hence its mode `M`.
   */
  accept(): ByMode<M, [Socket<M, A>, A], Promise<[Socket<M, A>, A]>> {
    return this.op(
      () => this.tryAccept(),
      () => {
        throw new OSError(errno.EAGAIN);
      },
    );
  }

  /**
   * connect((host, port)). Non-blocking: starts the handshake and raises
   * EINPROGRESS; the socket polls writable on success, readable and
   * writable on failure, with the error in getsockopt(SOL_SOCKET, SO_ERROR).
   * Blocking: a Promise that settles when connected (ETIMEDOUT after the
   * timeout, which also abandons the attempt). (Non-blocking, tsip never
   * returns normally: it always raises, EINPROGRESS at best; typed `void`
   * as CPython may connect at once.)
   */
  connect(addr: SockAddrArg): ByMode<M, void, Promise<void>> {
    this.checkOpen();
    switch (this._state) {
      case SockState.CONNECTING:
        throw new OSError(errno.EALREADY);
      case SockState.CONNECTED:
      case SockState.PEER_CLOSED:
        throw new OSError(errno.EISCONN);
      case SockState.LISTENING:
        throw new OSError(errno.EINVAL, 'socket is listening');
      case SockState.ERROR:
        throw this.takeError() ?? new OSError(errno.EINVAL, 'connection failed earlier');
    }
    const [a, port] = parseSockAddr(addr, this.family);
    const ip = this.family === AF_INET6 ? peerFor(a, this.v6only) : a;
    const pcb = this.pcb!;
    const err = this.raw.tcpConnect(pcb, ip, port, () => {
      if (this._state === SockState.CONNECTING) this._state = SockState.CONNECTED;
      if (this.wbufBytes > 0) this.flushWriteBuffer();
      this.notifier.schedule(false);
      return Err.OK;
    });
    if (err !== Err.OK) throw new OSError(errnoFromErr(err));
    this.peer = this.addrOf(ip, port);
    this._state = SockState.CONNECTING;
    if (this.timeoutMs === 0) throw new OSError(errno.EINPROGRESS);
    return this.asBlocking(
      this.blocking(
        () => this.connectDone(),
        () => this.abandonConnect(),
      ),
    );
  }

  // -------------------------------------------------------------------------
  // Reading
  // -------------------------------------------------------------------------

  /**
   * recv(n, flags=0): one attempt; b'' at EOF. Non-blocking: EAGAIN when
   * nothing is there. flags: MSG_PEEK returns the data and leaves it queued
   * (the window does not reopen); MSG_DONTWAIT makes this one call
   * non-blocking: on a blocking socket the Promise is already settled
   * (rejected with EAGAIN when nothing is there).
   */
  recv(n: number, flags = 0): ByMode<M, Uint8Array, Promise<Uint8Array>> {
    const want = sizeArg(n, 'recv');
    const f = flagsArg(flags);
    return this.op(
      () => this.tryRecv(want, (f & MSG_PEEK) !== 0),
      () => {
        throw new OSError(errno.EAGAIN);
      },
      (f & MSG_DONTWAIT) !== 0,
    );
  }

  /** recvfrom(n, flags=0): [recv(n, flags), the peer's address] (modlwip has it for TCP too). */
  recvfrom(n: number, flags = 0): ByMode<M, [Uint8Array, A], Promise<[Uint8Array, A]>> {
    const want = sizeArg(n, 'recvfrom');
    const f = flagsArg(flags);
    return this.op(
      () => {
        const r = this.tryRecv(want, (f & MSG_PEEK) !== 0);
        return r === AGAIN ? AGAIN : ([r, this.peer!] as [Uint8Array, A]);
      },
      () => {
        throw new OSError(errno.EAGAIN);
      },
      (f & MSG_DONTWAIT) !== 0,
    );
  }

  /**
   * recv_into(buf, n?) as CPython's socket.recv_into (MicroPython has none):
   * recv's "once" semantics into the caller's buffer, so a reader that
   * reuses one buffer allocates nothing per call. Returns the count, 0 at
   * EOF. Non-blocking: EAGAIN when nothing is there.
   */
  recvInto(buf: Uint8Array, nbytes?: number, flags = 0): ByMode<M, number, Promise<number>> {
    const b = bufferArg(buf, 'recv_into');
    const want = nbytes === undefined ? b.length : Math.min(b.length, sizeArg(nbytes, 'recv_into nbytes'));
    const f = flagsArg(flags);
    return this.op(
      () => this.tryRecvInto(b, want, (f & MSG_PEEK) !== 0),
      () => {
        throw new OSError(errno.EAGAIN);
      },
      (f & MSG_DONTWAIT) !== 0,
    );
  }

  /** CPython's name for recvInto. */
  recv_into(buf: Uint8Array, nbytes?: number, flags = 0): ByMode<M, number, Promise<number>> {
    return this.recvInto(buf, nbytes, flags);
  }

  /**
   * read(n): blocking, exactly n bytes unless EOF, an error or the timeout
   * comes first (then what was read; an error alone raises); read() reads
   * to EOF. Non-blocking: what is there (up to n), null if nothing is.
   */
  read(n?: number): ByMode<M, Uint8Array | null, Promise<Uint8Array>> {
    const want = n === undefined || n < 0 ? Infinity : n;
    if (this.timeoutMs === 0) {
      const r = this.tryRecv(want);
      return this.asNonBlocking(r === AGAIN ? null : r);
    }
    return this.asBlocking(this.readExact(want));
  }

  /** readinto(buf, n?): like read into `buf`; returns the count (0 at EOF), or null (non-blocking, nothing there). */
  readinto(buf: Uint8Array, nbytes?: number): ByMode<M, number | null, Promise<number>> {
    // Checked before anything is read: a bad argument must not consume data.
    buf = bufferArg(buf, 'readinto');
    const want = nbytes === undefined ? buf.length : Math.min(buf.length, sizeArg(nbytes, 'readinto nbytes'));
    const self: Socket<SocketMode, A> = this; // the mode is tested at run time below
    const got = self.read(want);
    if (got === null) return this.asNonBlocking(null);
    if (got instanceof Promise) {
      return this.asBlocking(
        got.then((b) => {
          buf.set(b, 0);
          return b.length;
        }),
      );
    }
    buf.set(got, 0);
    return this.asNonBlocking(got.length);
  }

  /**
   * readline(): up to and including '\n', or what is left at EOF. Non-
   * blocking: a whole line if one is there, else what is there (MicroPython
   * returns a partial line), null if nothing.
   */
  readline(): ByMode<M, Uint8Array | null, Promise<Uint8Array>> {
    if (this.timeoutMs === 0) {
      const r = this.tryReadline(false);
      return this.asNonBlocking(r === AGAIN ? null : r);
    }
    return this.asBlocking(this.blocking(() => this.tryReadline(true)));
  }

  // -------------------------------------------------------------------------
  // Writing
  // -------------------------------------------------------------------------

  /**
   * send(data, flags=0): one attempt, may be short. Non-blocking: EAGAIN
   * when no buffer space. flags: MSG_ZEROCOPY (the bytes are referenced,
   * not copied, until acknowledged: do not modify them).
   */
  send(data: Uint8Array, flags = 0): ByMode<M, number, Promise<number>> {
    data = bytesArg(data, 'send');
    const copy = copyFlag(sendFlagsArg(flags));
    return this.op(
      () => this.trySend(data, copy),
      () => {
        throw new OSError(errno.EAGAIN);
      },
    );
  }

  /**
   * write(data): blocking, all of it (fewer only when the timeout passes
   * after some progress); non-blocking: what fits, null if nothing does.
   * MicroPython's stream forms: write(buf, max_len) writes at most max_len
   * bytes, write(buf, off, max_len) at most max_len from offset off.
   */
  write(data: Uint8Array, offOrLen?: number, maxLen?: number): ByMode<M, number | null, Promise<number>> {
    data = writeSlice(bytesArg(data, 'write'), offOrLen, maxLen);
    if (this.timeoutMs === 0) {
      const r = this.trySend(data);
      return this.asNonBlocking(r === AGAIN ? null : r);
    }
    return this.asBlocking(this.writeAll(data, true, WriteFlag.COPY));
  }

  /**
   * sendall(data, flags=0): blocking, all of it. Non-blocking: all of it if
   * it fits, else OSError(EAGAIN) with nothing sent (modlwip's rule).
   * flags: MSG_ZEROCOPY as send's.
   */
  sendall(data: Uint8Array, flags = 0): ByMode<M, void, Promise<void>> {
    data = bytesArg(data, 'sendall');
    const copy = copyFlag(sendFlagsArg(flags));
    if (this.timeoutMs === 0) {
      this.checkWritable();
      if (this.wbufCap > 0) {
        this.trySend(data, copy); // all of it, or ENOBUFS and nothing
        return this.asNonBlocking(undefined);
      }
      if (data.length === 0) return this.asNonBlocking(undefined);
      if (this._state === SockState.CONNECTING || data.length > this.raw.tcpSndbuf(this.pcb!)) throw new OSError(errno.EAGAIN);
      // One tcpWrite, all or nothing: it can still fail when the send queue
      // (sndQueueLen) runs out first, and then nothing may have been sent.
      const pcb = this.pcb!;
      const err = this.raw.tcpWrite(pcb, data, copy);
      this.raw.tcpOutput(pcb);
      if (err !== Err.OK) throw new OSError(errno.EAGAIN);
      return this.asNonBlocking(undefined);
    }
    return this.asBlocking(this.writeAll(data, false, copy).then(() => undefined));
  }

  // -------------------------------------------------------------------------
  // Poll, callback, close
  // -------------------------------------------------------------------------

  /** ioctl(MP_STREAM_POLL, flags) as MicroPython streams answer it. */
  ioctl(request: number, arg: number): number {
    if (request !== MP_STREAM_POLL) throw new OSError(errno.EINVAL, `ioctl request ${request}`);
    return this.pollFlags(arg);
  }

  /**
   * The poll flags for `mask` (POLLERR, POLLHUP and POLLNVAL are reported
   * whether asked for or not, as POSIX says).
   */
  pollFlags(mask: number): number {
    let f = 0;
    switch (this._state) {
      case SockState.CLOSED:
        return POLLNVAL;
      case SockState.NEW:
        // An unconnected socket: writes would not block (they fail), and it is hung up (modlwip).
        f = POLLHUP | POLLOUT;
        break;
      case SockState.LISTENING:
        if (this.acceptQ.length > 0) f |= POLLIN;
        break;
      case SockState.CONNECTING:
        break;
      case SockState.CONNECTED:
        if (this.rxBytes > 0) f |= POLLIN;
        if (this.canWriteNow()) f |= POLLOUT;
        break;
      case SockState.PEER_CLOSED:
        f |= POLLIN; // EOF is readable
        if (this.canWriteNow()) f |= POLLOUT;
        break;
      case SockState.ERROR:
        // Reads and writes return at once (data, then the error); a failed
        // connect polls readable and writable (seed 004).
        f |= POLLIN | POLLOUT | POLLHUP;
        if (this.error !== 0 && !this.errorReported) f |= POLLERR;
        break;
    }
    return f & (mask | POLLERR | POLLHUP | POLLNVAL);
  }

  /** A HUP from a socket that was never connected means "not connected yet", not "finished". */
  hangupIsFinal(): boolean {
    return this._state !== SockState.NEW;
  }

  /** @internal Pollers watch the socket through this. */
  watch(fn: () => void): () => void {
    return this.notifier.watch(fn);
  }

  /**
   * close(): unread data makes the connection end with RST (as lwIP and
   * Linux do); data held by setwritebuffer() is still sent first. Waiting
   * connections of a listener are reset. Afterwards every call raises EBADF.
   */
  close(): void {
    if (this._state === SockState.CLOSED) return;
    const wasListening = this._state === SockState.LISTENING;
    this._state = SockState.CLOSED;
    this.notifier.callback = null;
    this.freeRx();
    this.layer.open--;
    this.layer.counters.closed++;
    const pcb = this.pcb;
    this.pcb = null;
    if (wasListening) {
      for (const q of this.acceptQ.splice(0)) this.raw.tcpAbort(q);
      if (pcb !== null) {
        this.raw.tcpAccept(pcb, null);
        this.raw.tcpClose(pcb);
      }
    } else if (pcb !== null) {
      if (this.linger[0] !== 0 && this.linger[1] === 0) this.abortOnClose(pcb);
      else {
        this.closeConnection(pcb);
        if (this.linger[0] !== 0) this.lingerLimit(pcb, this.linger[1]);
      }
    }
    this.notifier.schedule(false);
  }

  toString(): string {
    return `<socket ${this.stateName}${this.peer ? ` ${hostPort(this.peer)}` : ''}>`;
  }

  // -------------------------------------------------------------------------
  // Internals: raw callbacks (run inside the stack: only record and schedule)
  // -------------------------------------------------------------------------

  private installConnectionCallbacks(pcb: TcpPcb): void {
    const raw = this.raw;
    raw.tcpArg(pcb, this);
    raw.tcpRecv(pcb, (_a, _pcb, p) => this.onRecv(p));
    raw.tcpSent(pcb, () => this.onSent());
    raw.tcpErr(pcb, (_a, err) => this.onError(err));
  }

  private onRecv(p: Pbuf | null): number {
    if (p === null) {
      if (this._state === SockState.CONNECTED || this._state === SockState.CONNECTING) this._state = SockState.PEER_CLOSED;
      this.notifier.schedule(true);
      return Err.OK;
    }
    if (this._state === SockState.CLOSED) {
      p.free();
      return Err.OK;
    }
    // Kept until read; the window reopens as the application reads (tcpRecved).
    if (this.rx === null) this.rx = p;
    else this.rx.cat(p);
    this.rxBytes += p.totLen;
    this.notifier.schedule(true);
    return Err.OK;
  }

  private onSent(): number {
    if (this.wbufBytes > 0) this.flushWriteBuffer();
    this.notifier.schedule(false);
    return Err.OK;
  }

  private onError(err: number): void {
    this.pcb = null;
    if (this._state === SockState.CLOSED) return;
    const connecting = this._state === SockState.CONNECTING;
    if (err === Err.CLSD) {
      // The connection finished normally after the peer's FIN: just EOF.
      this._state = SockState.PEER_CLOSED;
    } else {
      this.error = errnoFromErr(err, connecting);
      this.errorReported = false;
      this._state = SockState.ERROR;
    }
    this.dropWriteBuffer();
    this.notifier.schedule(true);
  }

  /** A listener's raw accept callback: queue the connection, refuse its data until accept(). */
  private onIncoming(npcb: TcpPcb): number {
    if (this._state !== SockState.LISTENING || this.acceptQ.length >= this.backlog) {
      this.layer.counters.acceptOverflows++;
      return Err.MEM; // the engine resets the new connection
    }
    const raw = this.raw;
    // Refuse (never discard) data and FIN until accept() (seed 000/001);
    // what follows the refused data waits behind it rather than being
    // dropped for the peer to resend (PcbFlag.QUEUE_REFUSED).
    raw.tcpRecv(npcb, () => Err.BUF);
    raw.tcp.setQueueRefused(npcb, true);
    raw.tcpErr(npcb, () => {
      const i = this.acceptQ.indexOf(npcb);
      if (i >= 0) this.acceptQ.splice(i, 1);
    });
    raw.tcpArg(npcb, null);
    // Keep it counted against the backlog until accept() takes it: further
    // SYNs are then dropped (the client retries) rather than reset.
    raw.tcpBacklogDelayed(npcb);
    this.acceptQ.push(npcb);
    this.notifier.schedule(true);
    return Err.OK;
  }

  // -------------------------------------------------------------------------
  // Internals: attempts (no waiting; AGAIN when it would block)
  // -------------------------------------------------------------------------

  private tryAccept(): [Socket<M, A>, A] | Again {
    this.checkOpen();
    if (this._state === SockState.ERROR && this.backlog > 0) throw this.takeError() ?? new OSError(errno.ECONNABORTED);
    if (this._state !== SockState.LISTENING) throw new OSError(errno.EINVAL, 'socket is not listening');
    const npcb = this.acceptQ.shift();
    if (npcb === undefined) return AGAIN;
    this.raw.tcpBacklogAccepted(npcb);
    // Same timeout as the listener, so the same mode M.
    const s = new Socket<M, A>(this.layer, npcb, true, this.family);
    s.timeoutMs = this.timeoutMs;
    // As Linux, the connection takes the listener's buffer sizes and linger (the receive buffer as a cap only).
    if (this.sndBufSet !== null) s.setsockopt(SOL_SOCKET, SO_SNDBUF, this.sndBufSet);
    if (this.rcvBufSet !== null) s.setsockopt(SOL_SOCKET, SO_RCVBUF, this.rcvBufSet);
    s.linger = [this.linger[0], this.linger[1]];
    this.layer.counters.accepted++;
    // What the connection held while waiting (data, FIN) comes in now.
    this.raw.tcp.setQueueRefused(npcb, false);
    this.raw.tcpProcessRefusedData(npcb);
    return [s, s.peer!];
  }

  private connectDone(): void | Again {
    switch (this._state) {
      case SockState.CONNECTING:
        return AGAIN;
      case SockState.CONNECTED:
      case SockState.PEER_CLOSED:
        return;
      case SockState.ERROR: {
        throw this.takeError() ?? new OSError(errno.ECONNABORTED);
      }
      default:
        throw new OSError(errno.EBADF);
    }
  }

  private abandonConnect(): void {
    if (this._state !== SockState.CONNECTING) return;
    const pcb = this.pcb;
    this.pcb = null;
    this.error = errno.ETIMEDOUT;
    this.errorReported = true; // reported by the rejection itself
    this._state = SockState.ERROR;
    if (pcb !== null) {
      this.raw.tcpErr(pcb, null);
      this.raw.tcpAbort(pcb);
    }
  }

  private tryRecv(n: number, peek = false): Uint8Array | Again {
    this.checkReadable();
    if (n <= 0) return EMPTY;
    if (this.rxBytes > 0) {
      const m = Math.min(n, this.rxBytes);
      if (!peek) return this.take(m);
      const out = new Uint8Array(m);
      this.rx!.copyPartial(out, m, 0);
      return out;
    }
    return this.eofOrError();
  }

  private tryRecvInto(buf: Uint8Array, n: number, peek = false): number | Again {
    this.checkReadable();
    if (n <= 0) return 0;
    if (this.rxBytes > 0) {
      const m = Math.min(n, this.rxBytes);
      if (peek) this.rx!.copyPartial(buf, m, 0);
      else this.takeInto(buf, m);
      return m;
    }
    const r = this.eofOrError();
    return r === AGAIN ? AGAIN : 0;
  }

  /** Nothing buffered: EOF, the error (once), or "would block". */
  private eofOrError(): Uint8Array | Again {
    switch (this._state) {
      case SockState.PEER_CLOSED:
        return EMPTY;
      case SockState.ERROR: {
        const e = this.takeError();
        if (e !== null) throw e;
        return EMPTY; // after the error has been reported, reads see EOF (CPython, multi_net tcp_client_rst)
      }
      default:
        return AGAIN;
    }
  }

  private tryReadline(blocking: boolean): Uint8Array | Again {
    this.checkReadable();
    const rx = this.rx;
    if (rx !== null) {
      const nl = rx.memfind(NEWLINE);
      if (nl >= 0) return this.take(nl + 1);
      if (!blocking || this._state === SockState.PEER_CLOSED || this._state === SockState.ERROR) return this.take(this.rxBytes);
      return AGAIN;
    }
    return this.eofOrError();
  }

  /**
   * Seed 000: "shorter amount is returned only in case of EOF or error". An
   * error (a reset, the timeout) after some data returns the data; a
   * connection error comes with the next call. The timeout covers the
   * whole read, not each piece.
   */
  private async readExact(want: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let got = 0;
    const deadline = this.deadline();
    while (got < want) {
      let chunk: Uint8Array;
      try {
        chunk = await this.blocking(
          // The error may come while waiting: it must not take the data read so far with it.
          () => (got > 0 && this.rxBytes === 0 && this._state === SockState.ERROR ? EMPTY : this.tryRecv(want - got)),
          undefined,
          deadline,
        );
      } catch (e) {
        if (got > 0 && e instanceof OSError && e.errno === errno.ETIMEDOUT) break;
        throw e;
      }
      if (chunk.length === 0) break;
      parts.push(chunk);
      got += chunk.length;
    }
    return concatChunks(parts, got);
  }

  /** `copy`: WriteFlag.COPY, or 0 to reference the caller's bytes (MSG_ZEROCOPY). */
  private trySend(data: Uint8Array, copy: number = WriteFlag.COPY): number | Again {
    this.checkWritable();
    if (data.length === 0) return 0;
    if (this.wbufCap > 0) return this.bufferedSend(data);
    // Still connecting: not writable (as poll says), so send waits or
    // raises EAGAIN, as on Linux; lwIP would queue behind the SYN.
    if (this._state === SockState.CONNECTING) return AGAIN;
    const n = this.writeToTcp(data, copy);
    return n === 0 ? AGAIN : n;
  }

  /**
   * Send all of `data`, the timeout covering the whole call. With
   * `shortOnTimeout` (write) a timeout after some progress returns the
   * count sent (seed 000); otherwise (sendall) it raises ETIMEDOUT.
   * What the send buffer takes at once is taken synchronously, and a call
   * that it takes whole settles without waiting: one settled Promise per
   * write, the retry loop only when the buffer is full.
   */
  private writeAll(data: Uint8Array, shortOnTimeout: boolean, copy: number): Promise<number> {
    let first: number | Again;
    try {
      first = this.trySend(data, copy);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (first === data.length) return Promise.resolve(first);
    return this.writeRest(data, first === AGAIN ? 0 : first, shortOnTimeout, copy);
  }

  private async writeRest(data: Uint8Array, off: number, shortOnTimeout: boolean, copy: number): Promise<number> {
    const deadline = this.deadline();
    while (off < data.length) {
      try {
        off += await this.blocking(() => this.trySend(data.subarray(off), copy), undefined, deadline);
      } catch (e) {
        if (shortOnTimeout && off > 0 && e instanceof OSError && e.errno === errno.ETIMEDOUT) break;
        throw e;
      }
    }
    return off;
  }

  /** Put as much of `data` into the TCP send buffer as fits; returns bytes taken. */
  private writeToTcp(data: Uint8Array, copy: number = WriteFlag.COPY): number {
    const pcb = this.pcb!;
    const space = this.raw.tcpSndbuf(pcb);
    if (space <= 0) return 0;
    let n = Math.min(space, data.length);
    let err = this.raw.tcpWrite(pcb, n === data.length ? data : data.subarray(0, n), copy);
    // Out of queue slots or pbufs: try a smaller piece once, else report "full".
    if (err === Err.MEM && n > 536) {
      n = 536;
      err = this.raw.tcpWrite(pcb, data.subarray(0, n), copy);
    }
    if (err !== Err.OK) {
      this.raw.tcpOutput(pcb);
      return 0;
    }
    if (!autocork(pcb)) this.raw.tcpOutput(pcb);
    return n;
  }

  private bufferedSend(data: Uint8Array): number {
    // What the TCP send buffer takes directly (only if nothing waits ahead
    // of it, to keep the order) does not count against the cap.
    // While connecting everything waits here, flushed once connected.
    const direct = this.wbufBytes === 0 && this._state !== SockState.CONNECTING ? Math.min(this.raw.tcpSndbuf(this.pcb!), data.length) : 0;
    if (this.wbufBytes + data.length - direct > this.wbufCap) {
      this.layer.counters.writeBufferOverflows++;
      throw new OSError(errno.ENOBUFS, `write buffer cap of ${this.wbufCap} bytes reached`);
    }
    let off = 0;
    if (direct > 0) off = this.writeToTcp(data);
    if (off < data.length) {
      this.wbuf.push(data.slice(off));
      this.wbufBytes += data.length - off;
    }
    return data.length;
  }

  private flushWriteBuffer(): void {
    while (this.wbuf.length > 0 && this.pcb !== null) {
      const head = this.wbuf[0]!;
      const n = this.writeToTcp(head);
      if (n === 0) break;
      this.wbufBytes -= n;
      if (n === head.length) this.wbuf.shift();
      else this.wbuf[0] = head.subarray(n);
    }
  }

  private dropWriteBuffer(): void {
    this.wbuf = [];
    this.wbufBytes = 0;
  }

  private canWriteNow(): boolean {
    if (this.pcb === null) return false;
    if (this.wbufCap > 0) return this.wbufBytes < this.wbufCap;
    return this.raw.tcpSndbuf(this.pcb) > 0;
  }

  /** Copy `n` buffered bytes out and reopen the window by as much. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.takeInto(out, n);
    return out;
  }

  /** Move the first n buffered bytes into `dst` and open the window by n. */
  private takeInto(dst: Uint8Array, n: number): void {
    const rx = this.rx!;
    rx.copyPartial(dst, n, 0);
    this.rx = rx.freeHeader(n);
    this.rxBytes -= n;
    if (this.pcb !== null) this.raw.tcpRecved(this.pcb, n);
  }

  private freeRx(): void {
    if (this.rx !== null) this.rx.free();
    this.rx = null;
    this.rxBytes = 0;
  }

  /** The pending error as an OSError, marking it reported; null if none. */
  private takeError(): OSError | null {
    if (this.error === 0 || this.errorReported) return null;
    this.errorReported = true;
    return new OSError(this.error);
  }

  private checkOpen(): void {
    if (this._state === SockState.CLOSED) throw new OSError(errno.EBADF);
  }

  private checkReadable(): void {
    switch (this._state) {
      case SockState.CLOSED:
        throw new OSError(errno.EBADF);
      case SockState.NEW:
      case SockState.LISTENING:
        throw new OSError(errno.ENOTCONN);
    }
  }

  private checkWritable(): void {
    switch (this._state) {
      case SockState.CLOSED:
        throw new OSError(errno.EBADF);
      case SockState.NEW:
      case SockState.LISTENING:
        throw new OSError(errno.ENOTCONN);
      case SockState.ERROR:
        throw this.takeError() ?? new OSError(errno.ENOTCONN);
    }
  }

  private closeConnection(pcb: TcpPcb): void {
    const raw = this.raw;
    if (this.wbufBytes > 0) {
      // Keep sending what write() accepted, then close (a terminal's last output).
      // Input is discarded meanwhile, but the peer's FIN must not close the
      // PCB (lwIP's default recv would): what is still buffered could then
      // never be written, and the output would end short.
      raw.tcpRecv(pcb, (_a, p2, p) => {
        if (p !== null) {
          raw.tcpRecved(p2, p.totLen);
          p.free();
        }
        return Err.OK;
      });
      raw.tcpErr(pcb, () => this.dropWriteBuffer());
      raw.tcpSent(pcb, () => {
        this.pcb = pcb;
        this.flushWriteBuffer();
        this.pcb = null;
        if (this.wbufBytes === 0) this.finishClose(pcb);
        return Err.OK;
      });
      this.guardClose(pcb);
      return;
    }
    this.finishClose(pcb);
  }

  /** SO_LINGER on with 0 s: close() resets the connection (tcp_abort), discarding what is unsent. */
  private abortOnClose(pcb: TcpPcb): void {
    const raw = this.raw;
    this.dropWriteBuffer();
    raw.tcpArg(pcb, null);
    raw.tcpRecv(pcb, null);
    raw.tcpSent(pcb, null);
    raw.tcpErr(pcb, null);
    if (!raw.isFreed(pcb)) raw.tcpAbort(pcb);
  }

  /**
   * SO_LINGER on with t > 0 s: close() cannot block in JavaScript, so the
   * close goes on in the background; what has not been delivered (and our
   * FIN acknowledged) t s later is discarded with a RST (BSD's rule when
   * the linger time passes).
   */
  private lingerLimit(pcb: TcpPcb, seconds: number): void {
    const raw = this.raw;
    const timer = this.layer.host.clock.timer(() => {
      if (raw.isFreed(pcb)) return;
      const st = pcb.state;
      if (st === TcpState.FIN_WAIT_2 || st === TcpState.TIME_WAIT || st === TcpState.CLOSED) return;
      this.dropWriteBuffer();
      raw.tcpErr(pcb, null);
      raw.tcpAbort(pcb);
    });
    timer.start(seconds * 1000);
  }

  private finishClose(pcb: TcpPcb): void {
    const raw = this.raw;
    raw.tcpArg(pcb, null);
    raw.tcpRecv(pcb, null);
    raw.tcpSent(pcb, null);
    raw.tcpErr(pcb, null);
    if (raw.tcpClose(pcb) !== Err.OK) raw.tcpAbort(pcb);
    else if (!raw.isFreed(pcb)) this.guardClose(pcb);
  }

  /**
   * A closed connection that stops making progress (a peer that never
   * reads, a zero window) is aborted after layer.closeTimeoutMs, so closed
   * sockets cannot pile up PCBs (modlwip's close poll, with progress = ACKs).
   */
  private guardClose(pcb: TcpPcb): void {
    const raw = this.raw;
    const ticks = Math.max(1, Math.ceil(this.layer.closeTimeoutMs / raw.tcp.config.pollTickMs));
    let lastUna = pcb.sndUna;
    raw.tcpPoll(
      pcb,
      (_a, p) => {
        // Progress is an ACK of something new; in FIN_WAIT_2 everything of
        // ours is delivered and the engine's own FIN_WAIT_2 timeout applies.
        if (p.sndUna !== lastUna || p.state === TcpState.FIN_WAIT_2) {
          lastUna = p.sndUna;
          return Err.OK;
        }
        this.layer.counters.closeTimeouts++;
        raw.tcpAbort(p);
        return Err.ABRT;
      },
      ticks,
    );
  }

  // -------------------------------------------------------------------------
  // Internals: waiting and notification
  // -------------------------------------------------------------------------

  /** Run `attempt` now (non-blocking) or until it stops saying AGAIN (blocking). */
  private op<T>(attempt: () => T | Again, onAgain: () => T, dontWait = false): ByMode<M, T, Promise<T>> {
    if (this.timeoutMs === 0) {
      const r = attempt();
      return this.asNonBlocking(r === AGAIN ? onAgain() : r);
    }
    if (dontWait) {
      // MSG_DONTWAIT on a blocking socket: one attempt now, the Promise already settled.
      let r: T | Again;
      try {
        r = attempt();
        if (r === AGAIN) r = onAgain();
      } catch (e) {
        return this.asBlocking(Promise.reject(e as Error) as Promise<T>);
      }
      return this.asBlocking(Promise.resolve(r));
    }
    return this.asBlocking(this.blocking(attempt));
  }

  // The two places where a result is retyped for the mode. Callers use
  // asNonBlocking only on the `timeoutMs === 0` path and asBlocking only
  // on the other, which is exactly what M stands for (setblocking and
  // settimeout type the socket from the timeout they set). The declared
  // return types still check each branch: ByMode<M, NB, never> and
  // ByMode<M, never, B> are assignable to ByMode<M, NB, B> only if the
  // value fits its branch.
  private asNonBlocking<NB>(value: NB): ByMode<M, NB, never> {
    return value as ByMode<M, NB, never>;
  }

  private asBlocking<B>(promise: B): ByMode<M, never, B> {
    return promise as ByMode<M, never, B>;
  }

  /**
   * Retry `attempt` each time the socket changes until it gives a result,
   * throws, or the timeout passes (ETIMEDOUT; `onTimeout` runs first).
   */
  private async blocking<T>(attempt: () => T | Again, onTimeout?: () => void, deadline = this.deadline()): Promise<T> {
    for (;;) {
      const r = attempt();
      if (r !== AGAIN) return r;
      if (!(await this.notifier.waitChange(deadline))) {
        onTimeout?.();
        throw new OSError(errno.ETIMEDOUT);
      }
    }
  }

  /** When an operation starting now times out (Infinity without a timeout). */
  private deadline(): number {
    return this.timeoutMs === null ? Infinity : this.layer.host.clock.now() + this.timeoutMs;
  }
}

const NEWLINE = new Uint8Array([0x0a]);

/** tcpWrite's copy flag for send flags: MSG_ZEROCOPY references the bytes. */
function copyFlag(flags: number): number {
  return (flags & MSG_ZEROCOPY) !== 0 ? 0 : WriteFlag.COPY;
}



/** 'host:port', '[host]:port' for IPv6. */
function hostPort(a: AnySockAddr): string {
  return a[0].includes(':') ? `[${a[0]}]:${a[1]}` : `${a[0]}:${a[1]}`;
}

/** ('a.b.c.d' | 'localhost' | '', port) → [u32, port]; EINVAL otherwise (EAFNOSUPPORT for an IPv6 address). */
export function parseAddr(addr: SockAddrArg): [number, number] {
  return parseSockAddr(addr, AF_INET) as [number, number];
}

/**
 * socket.getaddrinfo(host, port, af=0, type=0, proto=0, flags=0) for IP
 * literals (no DNS): [(family, type, proto, '', sockaddr)], sockaddr a
 * 2-tuple for AF_INET and a 4-tuple for AF_INET6. host: either family's
 * literal ('[::1]' too), '' (the wildcard: 0.0.0.0, or :: for AF_INET6)
 * or 'localhost' (127.0.0.1 then ::1; af filters). type 0 is
 * SOCK_STREAM, as MicroPython gives one entry per address; proto 0 is the
 * type's (IPPROTO_TCP, IPPROTO_UDP). flags are accepted and ignored.
 * OSError EINVAL for a name (or a bad port), EAFNOSUPPORT for a literal of
 * the other family than `af`. With `names` (a stack's host table; see
 * stack.getaddrinfo / SocketLayer.getaddrinfo) the names in it resolve too,
 * to every address of the family asked for, IPv4 first.
 */
export function getaddrinfo(host: string, port: number, af = 0, type = 0, proto = 0, flags = 0, names?: HostNames): AddrInfo[] {
  void flags;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new OSError(errno.EINVAL, `bad port ${String(port)}`);
  if (type !== 0 && type !== SOCK_STREAM && type !== SOCK_DGRAM) throw new OSError(errno.EINVAL, `socket type ${type}`);
  const t = type === 0 ? SOCK_STREAM : type;
  const pr = proto !== 0 ? proto : t === SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
  return resolveLiteral(host, af, names).map((ip): AddrInfo => {
    const fam = typeof ip === 'number' ? AF_INET : AF_INET6;
    return [fam, t, pr, '', sockAddrOf(fam, ip, port)];
  });
}

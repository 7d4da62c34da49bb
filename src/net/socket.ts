// A node:net-compatible Socket over tsip's raw TCP API: a real
// stream.Duplex with node:net's events, in node:net's order, and its
// backpressure mapped onto TCP.
//
// Receive: the recv callback takes every pbuf the stack offers (nothing is
// refused) and queues it. Bytes move into the Readable only while the
// stream wants them (_read was called and push() has not yet said "full"),
// and tcpRecved is called only for bytes the consumer has taken: at once
// when push() returned true (the buffer is below its high-water mark), or
// at the next _read for the chunk that filled it. A paused reader thus
// stops calling tcpRecved and the advertised window closes; reading again
// reopens it. Buffered receive data is bounded by the TCP window plus the
// readable high-water mark.
//
// Send: _write/_writev hand bytes to tcpWrite as the send buffer allows and
// call back only when everything is queued and unsent + unacknowledged
// bytes are at most writableHighWaterMark, so write() returns false (and
// 'drain' follows) when what the stack holds plus what the stream buffers
// exceeds it, as the issue asks.
//
// Raw callbacks never run user code: they record what happened and
// schedule a process.nextTick, which runs once the stack has finished the
// packet (node:net defers the same way).
import { Duplex, type DuplexOptions } from 'node:stream';
import type { RawTcp } from '../callbacks/raw.ts';
import { WriteFlag } from '../callbacks/raw.ts';
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { TcpPcb } from '../pcb/pcb.ts';
import type { Stack } from '../stack/stack.ts';
import type { Timer } from '../time/timer-heap.ts';
import { IP6_ADDR_ANY, IP_ANY_TYPE } from '../callbacks/addr.ts';
import { formatIp, IP6_LOOPBACK, ipUnmapV4, type IpAddr } from '../wire/ipaddr.ts';
import { addressInfo, parseHostLiteral, type AddressInfo } from './address.ts';
import { codeForErr, netError, type NetError } from './errors.ts';
import { autocork } from '../socket/autocork.ts';

export type { AddressInfo } from './address.ts';

/** What a Socket needs from its stack. */
export interface NetHost {
  readonly stack: Stack;
  readonly raw: RawTcp;
}

export interface SocketOptions {
  /** Keep the writable side open after the peer's FIN (default false: end() follows 'end'). */
  allowHalfOpen?: boolean;
  /** Both high-water marks (node:net's `highWaterMark`). */
  highWaterMark?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Disable Nagle at connect (default false). */
  noDelay?: boolean;
  /** SO_KEEPALIVE at connect (default false), first probe after keepAliveInitialDelay ms. */
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Destroy the socket (AbortError) when this signal aborts. */
  signal?: AbortSignal;
}

export interface TcpConnectOptions extends SocketOptions {
  port: number | string;
  /**
   * An IP literal of either family ('10.0.0.2', '::1', '[fd00::1]',
   * '::ffff:10.0.0.2'); 'localhost' (default) is 127.0.0.1, or ::1 with
   * `family: 6`; or a name in the stack's host table (stack.names: in the
   * simulator, every host's name), its first address of `family` (IPv4
   * first for 0). No DNS: other names fail with ENOTFOUND.
   */
  host?: string;
  /**
   * node:net's `lookup`: called as dns.lookup is, `(hostname, { family,
   * hints, all: false }, cb(err, address, family))`, for a host that is not
   * an IP literal, instead of the host table. An array answer (a lookup
   * that gives all: true results) takes its first entry. Emits 'lookup'
   * (err, address, family, host) as node does.
   */
  lookup?: LookupFunction;
  /** 4, 6 or 0 (default): which address 'localhost' means; ignored for literals, as node does. */
  family?: number;
  /** Local address to bind first, of the same family as the connection (EINVAL otherwise, as node). */
  localAddress?: string;
  localPort?: number;
  /** Idle timeout in ms (setTimeout). */
  timeout?: number;
}

/** node's dns.lookup-shaped function (the `lookup` option of connect). */
export type LookupFunction = (
  hostname: string,
  options: { family: number; hints: number; all: boolean },
  callback: (err: Error | null, address: string | readonly { address: string; family: number }[], family?: number) => void,
) => void;

/** Where names that are not IP literals are looked up (a Stack's HostTable). */
export interface NameTable {
  first(name: string, family?: 0 | 4 | 6): IpAddr | null;
}

/**
 * Resolve node:net's host names (no DNS in tsip): IP literals of either
 * family (brackets and zone ids tolerated), 'localhost' (also the
 * default), which is 127.0.0.1 unless `family` is 6 (::1), and names in
 * `names` (its first address of `family`, IPv4 first for 0). Null otherwise.
 */
export function resolveHost(host: string | undefined, family = 0, names?: NameTable): IpAddr | null {
  if (host === undefined || host === '' || host === 'localhost') return family === 6 ? IP6_LOOPBACK : 0x7f000001;
  const ip = parseHostLiteral(host);
  if (ip !== null || names === undefined) return ip;
  return names.first(host, family === 4 ? 4 : family === 6 ? 6 : 0);
}

type Cb = (err?: Error | null) => void;

const NOOP_RECV = (): number => Err.OK;

export class Socket extends Duplex {
  /** True between connect() and 'connect'. */
  connecting = false;
  /** For sockets accepted by a Server. */
  server: unknown = null;
  /** node:http and friends look for a native handle; there is none. */
  readonly _handle = null;
  /** The idle timeout in ms (setTimeout), undefined when off. */
  timeout: number | undefined = undefined;

  private readonly host: NetHost;
  private pcb: TcpPcb | null = null;
  private readonly opts: SocketOptions;
  // receive side
  private rxQueue: Pbuf[] = [];
  private rxEof = false;
  private rxEofPushed = false;
  private reading = false;
  /** Bytes pushed into a full Readable buffer: recved at the next _read. */
  private owedRecved = 0;
  private flushScheduled = false;
  // send side
  private txChunks: Buffer[] = [];
  private txOff = 0;
  private txCb: Cb | null = null;
  private txBytesInWrite = 0;
  private finalCb: Cb | null = null;
  private pumpScheduled = false;
  private ownNeedDrain = false;
  private dispatched = 0;
  private written = 0;
  private _bytesRead = 0;
  // lifecycle
  private timer: Timer | null = null;
  private resetOnDestroy = false;
  private errPending: NetError | null = null;
  private local: AddressInfo | null = null;
  private remote: AddressInfo | null = null;
  private pauseOnConnect = false;

  /** @internal Use stack.net.connect / Server instead. */
  constructor(host: NetHost, opts: SocketOptions = {}) {
    const d: DuplexOptions = {
      allowHalfOpen: opts.allowHalfOpen ?? false,
      emitClose: false, // 'close' (hadError) is ours, after 'error' and 'end', as in node:net
      autoDestroy: true,
      decodeStrings: true,
    };
    if (opts.highWaterMark !== undefined) d.highWaterMark = opts.highWaterMark;
    if (opts.readableHighWaterMark !== undefined) d.readableHighWaterMark = opts.readableHighWaterMark;
    if (opts.writableHighWaterMark !== undefined) d.writableHighWaterMark = opts.writableHighWaterMark;
    // Unacknowledged bytes count against the writable mark (write() says
    // false past it), so node's 16 KiB default would allow only 16 KiB in
    // flight per round trip. node:net's kernel socket absorbs a whole send
    // buffer before write() says false; the default here is the stack's TCP
    // send buffer, for the same reason. An explicit option wins.
    else if (opts.highWaterMark === undefined) d.writableHighWaterMark = host.stack.tcp.config.sndBuf;
    super(d);
    this.host = host;
    this.opts = opts;
    this.on('drain', () => {
      this.ownNeedDrain = false;
    });
    // The consumer took the last pushed bytes when 'end' is emitted.
    this.on('end', () => this.payOwed());
    if (opts.signal !== undefined) {
      const signal = opts.signal;
      if (signal.aborted) process.nextTick(() => this.destroy(abortError(signal)));
      else {
        const onAbort = (): void => {
          this.destroy(abortError(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  }

  // ---------------------------------------------------------------------
  // Addresses and counters
  // ---------------------------------------------------------------------

  get remoteAddress(): string | undefined {
    return this.remote?.address;
  }
  get remotePort(): number | undefined {
    return this.remote?.port;
  }
  /** 'IPv4' or 'IPv6' (an IPv6 connection, or an IPv4 peer of a socket made for IPv6, reported '::ffff:a.b.c.d'). */
  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.remote?.family;
  }
  get localAddress(): string | undefined {
    return this.local?.address;
  }
  get localPort(): number | undefined {
    return this.local?.port;
  }
  get localFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.local?.family;
  }
  address(): AddressInfo | Record<string, never> {
    return this.local ? { ...this.local } : {};
  }
  get bytesRead(): number {
    return this._bytesRead;
  }
  /** Bytes handed to write() so far (queued in the stream or the stack). */
  get bytesWritten(): number {
    return this.written + Math.max(0, this.writableLength - this.txBytesInWrite);
  }
  /** node:net's deprecated alias for writableLength. */
  get bufferSize(): number {
    return this.writableLength;
  }
  /** True until connected (node:net). */
  get pending(): boolean {
    return this.pcb === null || this.connecting;
  }
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }
  /** The underlying PCB (for tcpInfo and tests); null once closed. */
  get tcpPcb(): TcpPcb | null {
    return this.pcb;
  }
  /** Bytes received from the stack and not yet moved into the stream. */
  get pendingReceiveBytes(): number {
    let n = 0;
    for (const p of this.rxQueue) n += p.totLen;
    return n;
  }
  /** Bytes of ours the stack holds: queued unsent plus sent and unacknowledged. */
  get unsentUnacked(): number {
    return this.pcb === null || this.pcb.freed ? 0 : this.host.stack.tcp.config.sndBuf - this.pcb.sndBuf;
  }

  // ---------------------------------------------------------------------
  // Options
  // ---------------------------------------------------------------------

  setNoDelay(noDelay = true): this {
    this.opts.noDelay = noDelay;
    if (this.pcb !== null && !this.pcb.freed) {
      if (noDelay) this.host.raw.tcpNagleDisable(this.pcb);
      else this.host.raw.tcpNagleEnable(this.pcb);
    }
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.opts.keepAlive = enable;
    this.opts.keepAliveInitialDelay = initialDelay;
    if (this.pcb !== null && !this.pcb.freed) {
      this.host.raw.tcpKeepalive(this.pcb, enable, initialDelay > 0 ? Math.floor(initialDelay) : undefined);
    }
    return this;
  }

  /**
   * Emit 'timeout' after `ms` of inactivity (nothing read or written), on
   * the stack's clock; the socket stays open (node:net). 0 turns it off.
   */
  setIdleTimeout(ms: number, cb?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`The value of "msecs" is out of range. It must be a non-negative finite number. Received ${ms}`);
    if (ms === 0) {
      this.timeout = undefined;
      this.timer?.stop();
      if (cb) this.removeListener('timeout', cb);
      return this;
    }
    this.timeout = ms;
    if (cb) this.once('timeout', cb);
    this.touch();
    return this;
  }

  /** node:net's name for setIdleTimeout (the stack's clock, not Node's timers). */
  setTimeout(ms: number, cb?: () => void): this {
    return this.setIdleTimeout(ms, cb);
  }

  /** No event loop handle to (un)reference: no-ops, for API compatibility. */
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  /** Close with a RST instead of a FIN (node:net resetAndDestroy). */
  resetAndDestroy(): this {
    this.resetOnDestroy = true;
    this.destroy();
    return this;
  }

  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    const ok = (super.write as (...a: unknown[]) => boolean)(chunk, encoding, cb);
    if (!ok || this.destroyed) return ok;
    // The stack's share counts too (unsent + unacknowledged bytes).
    if (this.unsentUnacked + this.writableLength > this.writableHighWaterMark) {
      this.ownNeedDrain = true;
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------------
  // Connecting
  // ---------------------------------------------------------------------

  /** Connect (node:net socket.connect(options[, cb]) or (port[, host][, cb])). */
  connect(options: TcpConnectOptions | number | string, host?: string | (() => void), cb?: () => void): this {
    let o: TcpConnectOptions;
    if (typeof options === 'object') {
      o = options;
      if (typeof host === 'function') cb = host;
    } else {
      o = { port: options };
      if (typeof host === 'function') cb = host;
      else if (host !== undefined) o.host = host;
    }
    if (cb) this.once('connect', cb);
    if (o.timeout) this.setIdleTimeout(o.timeout);
    if (o.noDelay !== undefined) this.opts.noDelay = o.noDelay;
    if (o.keepAlive !== undefined) {
      this.opts.keepAlive = o.keepAlive;
      this.opts.keepAliveInitialDelay = o.keepAliveInitialDelay ?? 0;
    }
    const port = Number(o.port);
    if (!Number.isInteger(port) || port <= 0 || port > 0xffff) {
      throw Object.assign(new RangeError(`Port should be > 0 and < 65536. Received ${String(o.port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    const family = o.family ?? 0;
    if (family !== 0 && family !== 4 && family !== 6) {
      throw Object.assign(new TypeError(`The property 'options.family' must be one of: 0, 4, 6. Received ${String(o.family)}`), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    const hostName = o.host ?? 'localhost';
    this.connecting = true;
    const notFound = (): void => {
      const e = netError('ENOTFOUND', 'getaddrinfo', hostName);
      (e as NetError & { hostname?: string }).hostname = hostName;
      process.nextTick(() => this.destroy(e));
    };
    if (o.lookup !== undefined && o.host !== undefined && parseHostLiteral(o.host) === null) {
      if (typeof o.lookup !== 'function') {
        throw Object.assign(new TypeError(`The "options.lookup" property must be of type function. Received ${typeof o.lookup}`), { code: 'ERR_INVALID_ARG_TYPE' });
      }
      const lookup = o.lookup;
      // On the next tick, as a real lookup answers: listeners for 'lookup' are in place by then.
      process.nextTick(() => lookup(hostName, { family, hints: 0, all: false }, (err, address, fam) => {
        if (this.destroyed) return;
        let addrText: string | undefined;
        let famNum = fam;
        if (Array.isArray(address)) {
          const first = (address as readonly { address: string; family: number }[])[0];
          addrText = first?.address;
          famNum = first?.family;
        } else if (typeof address === 'string') addrText = address;
        const ip = err === null && addrText !== undefined ? parseHostLiteral(addrText) : null;
        this.emit('lookup', err, addrText, famNum, hostName);
        if (err !== null) {
          this.destroy(err);
          return;
        }
        if (ip === null) {
          this.destroy(Object.assign(new TypeError(`Invalid IP address: ${String(addrText)}`), { code: 'ERR_INVALID_IP_ADDRESS' }));
          return;
        }
        this.connectTo(ip, port, o);
      }));
      return this;
    }
    const target = resolveHost(o.host, family, this.host.stack.names);
    if (target === null) {
      notFound();
      return this;
    }
    return this.connectTo(target, port, o);
  }

  /** Connect to an address (resolved by connect()). */
  private connectTo(target: IpAddr, port: number, o: TcpConnectOptions): this {
    // node makes an AF_INET6 socket for an IPv6 address; a mapped one is reached over IPv4 but reported as it is.
    const v6 = typeof target !== 'number';
    const ip = ipUnmapV4(target);
    const addr = formatIp(target);
    const { raw } = this.host;
    const pcb = raw.tcpNew();
    if (pcb === null) {
      process.nextTick(() => this.destroy(netError('ENOBUFS', 'connect', addr, port)));
      return this;
    }
    if (o.localAddress !== undefined || o.localPort !== undefined) {
      const err = this.bindLocal(pcb, o.localAddress, o.localPort ?? 0, v6, typeof ip === 'number');
      if (err !== Err.OK) {
        raw.tcpAbort(pcb);
        const code = err === Err.USE ? 'EADDRINUSE' : err === Err.ARG ? 'EINVAL' : 'EADDRNOTAVAIL';
        process.nextTick(() => this.destroy(netError(code, 'bind', o.localAddress ?? (v6 ? '::' : '0.0.0.0'), o.localPort ?? 0)));
        return this;
      }
    }
    this.pcb = pcb;
    this.remote = { address: addr, family: v6 ? 'IPv6' : 'IPv4', port };
    this.install(pcb);
    this.applyOptions();
    const err = raw.tcpConnect(pcb, ip, port, (arg, p, e) => {
      if (arg !== this) return Err.OK;
      if (e !== Err.OK) return Err.OK; // the err callback reports failures
      this.local = addressInfo(p.localIp, p.localPort, v6);
      process.nextTick(() => this.afterConnect());
      return Err.OK;
    });
    if (err !== Err.OK) {
      this.detach(false);
      const code = err === Err.RTE ? 'ENETUNREACH' : codeForErr(err, true);
      process.nextTick(() => this.destroy(netError(code, 'connect', addr, port)));
    }
    return this;
  }

  /**
   * Bind before connecting (node's localAddress/localPort): the address
   * must be of the socket's family (`v6`: an IPv6 socket, which takes
   * '::ffff:a.b.c.d' for IPv4), else ERR_ARG (node: EINVAL). Unparsable:
   * ERR_VAL. `::` binds both families (Linux), as node's bind6 does.
   */
  private bindLocal(pcb: TcpPcb, localAddress: string | undefined, localPort: number, v6: boolean, toV4: boolean): number {
    const { raw } = this.host;
    if (localAddress === undefined) return raw.tcpBind(pcb, v6 ? IP_ANY_TYPE : 0, localPort);
    const lip = parseHostLiteral(localAddress);
    if (lip === null) return Err.VAL;
    if (v6 !== (typeof lip !== 'number')) return Err.ARG;
    if (typeof lip === 'number') return raw.tcpBind(pcb, lip, localPort);
    if (lip.isUnspecified) return raw.tcpBind(pcb, toV4 ? IP_ANY_TYPE : IP6_ADDR_ANY, localPort);
    const unmapped = ipUnmapV4(lip);
    // A mapped local address binds IPv4: only for an IPv4 destination; an IPv6 one cannot use it.
    if (typeof unmapped === 'number' && !toV4) return Err.ARG;
    return raw.tcpBind(pcb, unmapped, localPort);
  }

  private afterConnect(): void {
    if (this.destroyed) return;
    this.connecting = false;
    this.emit('connect');
    this.emit('ready');
    this.touch();
    this.schedulePump();
    if (this.readable && !this.isPaused()) this.read(0);
  }

  /**
   * @internal A connection a Server accepted (called inside the accept
   * callback); `v6`: the server listens on an IPv6 address, so IPv4 peers
   * are reported as '::ffff:a.b.c.d' (node on Linux).
   */
  _attachAccepted(pcb: TcpPcb, pauseOnConnect: boolean, v6 = false): void {
    this.pcb = pcb;
    this.pauseOnConnect = pauseOnConnect;
    this.local = addressInfo(pcb.localIp, pcb.localPort, v6);
    this.remote = addressInfo(pcb.remoteIp, pcb.remotePort, v6);
    this.install(pcb);
    this.applyOptions();
  }

  /** @internal Called when the Server emits 'connection'. */
  _started(): void {
    if (this.pauseOnConnect) this.pause();
    else if (this.readable && !this.isPaused()) this.read(0);
  }

  private applyOptions(): void {
    if (this.opts.noDelay) this.setNoDelay(true);
    if (this.opts.keepAlive) this.setKeepAlive(true, this.opts.keepAliveInitialDelay ?? 0);
  }

  private install(pcb: TcpPcb): void {
    const { raw } = this.host;
    // This application answers after the packet, not inside the callback.
    raw.tcp.setAppLate(pcb, true);
    raw.tcpArg(pcb, this);
    raw.tcpRecv(pcb, (arg, _pcb, p) => {
      if (arg !== this) {
        if (p !== null) {
          raw.tcpRecved(_pcb, p.totLen);
          p.free();
        }
        return Err.OK;
      }
      if (p === null) this.rxEof = true;
      else this.rxQueue.push(p);
      this.scheduleFlush();
      return Err.OK;
    });
    raw.tcpSent(pcb, (arg) => {
      if (arg === this) this.schedulePump();
      return Err.OK;
    });
    raw.tcpErr(pcb, (arg, err) => {
      if (arg !== this) return;
      // The PCB is gone already.
      this.pcb = null;
      const connecting = this.connecting;
      let code = codeForErr(err, connecting);
      let syscall = connecting ? 'connect' : 'read';
      if (!connecting && err === Err.RST && this.rxEof) {
        // The peer had closed its side; our data met its RST: EPIPE on write.
        code = 'EPIPE';
        syscall = 'write';
      }
      const e = connecting ? netError(code, syscall, this.remote?.address, this.remote?.port) : netError(code, syscall);
      this.errPending = e;
      process.nextTick(() => {
        this.errPending = null;
        this.destroy(e);
      });
    });
  }

  /** Stop hearing from the PCB and let it go (FIN, or RST when asked or when data was left unread). */
  private detach(close: boolean): void {
    const pcb = this.pcb;
    this.pcb = null;
    if (pcb === null) return;
    const { raw } = this.host;
    raw.tcpArg(pcb, null);
    raw.tcpSent(pcb, null);
    raw.tcpErr(pcb, null);
    raw.tcpRecv(pcb, NOOP_RECV);
    if (pcb.freed) return;
    if (!close || this.resetOnDestroy) {
      raw.tcpAbort(pcb);
      return;
    }
    raw.tcpRecv(pcb, null);
    if (raw.tcpClose(pcb) !== Err.OK) raw.tcpAbort(pcb);
  }

  // ---------------------------------------------------------------------
  // Receive
  // ---------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.destroyed) return;
    while (this.reading && this.rxQueue.length > 0) {
      const p = this.rxQueue.shift()!;
      const n = p.totLen;
      const buf = Buffer.allocUnsafe(n);
      p.copyPartial(buf, n, 0);
      p.free();
      this._bytesRead += n;
      this.touch();
      if (this.push(buf)) {
        if (this.pcb !== null) this.host.raw.tcpRecved(this.pcb, n);
      } else {
        this.owedRecved += n;
        this.reading = false;
      }
      if (this.destroyed) return;
    }
    if (this.rxEof && !this.rxEofPushed && this.rxQueue.length === 0) {
      this.rxEofPushed = true;
      this.push(null);
    }
  }

  private payOwed(): void {
    if (this.owedRecved > 0) {
      const n = this.owedRecved;
      this.owedRecved = 0;
      if (this.pcb !== null) this.host.raw.tcpRecved(this.pcb, n);
    }
  }

  override _read(): void {
    this.reading = true;
    this.payOwed();
    if (this.rxQueue.length > 0 || this.rxEof) this.flush();
  }

  // ---------------------------------------------------------------------
  // Send
  // ---------------------------------------------------------------------

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: Cb): void {
    this.startWrite([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: Cb): void {
    this.startWrite(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  private startWrite(chunks: Buffer[], cb: Cb): void {
    this.txChunks = chunks;
    this.txOff = 0;
    this.txCb = cb;
    let n = 0;
    for (const c of chunks) n += c.length;
    this.txBytesInWrite = n;
    this.written += n;
    this.pump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    process.nextTick(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Move queued bytes into the stack; complete the write and the FIN when allowed. */
  private pump(): void {
    if (this.connecting || this.destroyed) return;
    const pcb = this.pcb;
    const { raw } = this.host;
    if (pcb === null || pcb.freed) {
      if (this.txCb !== null || this.finalCb !== null) this.failWrite(this.errPending ?? netError('EPIPE', 'write'));
      return;
    }
    let queued = false;
    while (this.txChunks.length > 0) {
      const c = this.txChunks[0]!;
      if (this.txOff >= c.length) {
        this.txChunks.shift(); // empty chunk
        this.txOff = 0;
        continue;
      }
      const room = raw.tcpSndbuf(pcb);
      const n = Math.min(room, c.length - this.txOff, 65536);
      if (n <= 0) break;
      const more = this.txChunks.length > 1 || this.txOff + n < c.length;
      const err = raw.tcpWrite(pcb, c.subarray(this.txOff, this.txOff + n), WriteFlag.COPY | (more ? WriteFlag.MORE : 0));
      if (err === Err.MEM) break; // queue full: the sent callback resumes
      if (err !== Err.OK) {
        this.failWrite(netError('EPIPE', 'write'));
        return;
      }
      queued = true;
      this.dispatched += n;
      this.txOff += n;
      if (this.txOff >= c.length) {
        this.txChunks.shift();
        this.txOff = 0;
      }
    }
    if (queued) {
      this.touch();
      if (!autocork(pcb)) raw.tcpOutput(pcb);
    }
    const inStack = this.unsentUnacked;
    if (this.txChunks.length === 0 && this.txCb !== null && inStack <= this.writableHighWaterMark) {
      const cb = this.txCb;
      this.txCb = null;
      this.txBytesInWrite = 0;
      cb();
    }
    if (this.ownNeedDrain && !this.writableNeedDrain && this.txCb === null && inStack + this.writableLength <= this.writableHighWaterMark) {
      this.ownNeedDrain = false;
      this.emit('drain');
    }
    if (this.finalCb !== null && this.txCb === null && this.txChunks.length === 0) {
      const cb = this.finalCb;
      this.finalCb = null;
      const err = raw.tcpShutdown(pcb, false, true);
      if (err === Err.OK) {
        raw.tcpOutput(pcb);
        cb();
      } else cb(netError(codeForErr(err, false), 'shutdown'));
    }
  }

  private failWrite(e: NetError): void {
    const cb = this.txCb ?? this.finalCb;
    this.txCb = null;
    this.finalCb = null;
    this.txChunks = [];
    if (cb) cb(e);
    else this.destroy(e);
  }

  override _final(cb: Cb): void {
    this.finalCb = cb;
    this.pump();
  }

  // ---------------------------------------------------------------------
  // Teardown
  // ---------------------------------------------------------------------

  override _destroy(err: Error | null, cb: Cb): void {
    this.timer?.stop();
    this.connecting = false;
    // What the stream holds was "read" from the socket; what never reached
    // it was not (closing with it unread sends a RST, as Linux does).
    this.payOwed();
    for (const p of this.rxQueue) p.free();
    this.rxQueue = [];
    this.txChunks = [];
    this.detach(true);
    cb(err);
    // After 'error' (scheduled by cb) and 'end': node:net's 'close'(hadError).
    process.nextTick(() => this.emit('close', err != null));
  }

  /** Restart the idle timer (activity). */
  private touch(): void {
    if (this.timeout === undefined || this.destroyed) return;
    if (this.timer === null) {
      this.timer = this.host.stack.timer(() => {
        process.nextTick(() => {
          if (!this.destroyed) this.emit('timeout');
        });
      });
    }
    this.timer.start(this.timeout);
  }
}

function abortError(signal: AbortSignal): Error {
  const e = new Error('The operation was aborted', { cause: signal.reason });
  e.name = 'AbortError';
  (e as Error & { code: string }).code = 'ABORT_ERR';
  return e;
}

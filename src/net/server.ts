// A node:net-compatible Server over tsip's raw TCP API: listen() binds a
// listening PCB, each accepted connection becomes a Socket (its recv
// callback installed inside the accept callback, so nothing is lost or
// discarded) and is handed to 'connection' listeners on the next tick,
// outside the stack's packet processing.
import { EventEmitter } from 'node:events';
import { Err } from '../err.ts';
import type { TcpPcb } from '../pcb/pcb.ts';
import { IP6_ADDR_ANY, IP_ANY_TYPE } from '../callbacks/addr.ts';
import { ipUnmapV4, type IpAddr } from '../wire/ipaddr.ts';
import { addressInfo, parseHostLiteral, stackHasIPv6 } from './address.ts';
import { netError } from './errors.ts';
import { type AddressInfo, type NetHost, Socket, type SocketOptions } from './socket.ts';

export interface ServerOptions extends SocketOptions {
  /** Accepted sockets start paused: nothing is read (the window fills) until resume(). */
  pauseOnConnect?: boolean;
}

export interface ListenOptions {
  port?: number;
  /**
   * An IP literal of either family ('0.0.0.0', '::', '10.0.0.2',
   * 'fd00::2', '[::1]'), 'localhost' (127.0.0.1) or a name in the stack's
   * host table (its first address). Omitted: '::' (both
   * families) if the stack has IPv6 on a netif other than loopback, else
   * '0.0.0.0', as node binds '::' where IPv6 is available.
   */
  host?: string;
  backlog?: number;
  /** With host '::' (or omitted, on an IPv6 stack): take IPv6 connections only (IPV6_V6ONLY). */
  ipv6Only?: boolean;
}

export class Server extends EventEmitter {
  /** Refuse connections beyond this many (node:net); undefined = no limit. */
  maxConnections: number | undefined = undefined;
  private readonly host: NetHost;
  private readonly options: ServerOptions;
  private pcb: TcpPcb | null = null;
  private addr: AddressInfo | null = null;
  private readonly conns = new Set<Socket>();
  private closing = false;

  /** @internal Use stack.net.createServer. */
  constructor(host: NetHost, options: ServerOptions = {}, onConnection?: (s: Socket) => void) {
    super();
    this.host = host;
    this.options = options;
    if (onConnection) this.on('connection', onConnection);
  }

  get listening(): boolean {
    return this.pcb !== null;
  }

  /** Open connections accepted by this server. */
  get connections(): number {
    return this.conns.size;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.conns.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  address(): AddressInfo | null {
    return this.addr ? { ...this.addr } : null;
  }

  /** listen(port[, host][, backlog][, cb]) or listen(options[, cb]). */
  listen(...args: unknown[]): this {
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    let o: ListenOptions;
    if (args.length > 0 && typeof args[0] === 'object' && args[0] !== null) o = args[0] as ListenOptions;
    else {
      o = {};
      if (args[0] !== undefined && args[0] !== null) o.port = Number(args[0]);
      if (typeof args[1] === 'string') o.host = args[1];
      const b = typeof args[1] === 'number' ? args[1] : args[2];
      if (typeof b === 'number') o.backlog = b;
    }
    if (this.pcb !== null) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
    const port = o.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw Object.assign(new RangeError(`options.port should be >= 0 and < 65536. Received ${String(o.port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    if (cb) this.once('listening', cb);
    const hostStr =
      o.host === undefined || o.host === '' ? (stackHasIPv6(this.host.stack) ? '::' : '0.0.0.0') : o.host === 'localhost' ? '127.0.0.1' : o.host;
    // A host name (stack.names) binds its first address (node resolves listen's host with dns.lookup).
    const parsed = parseHostLiteral(hostStr) ?? this.host.stack.names.first(hostStr);
    const { raw } = this.host;
    const fail = (code: string): this => {
      process.nextTick(() => this.emit('error', netError(code, 'listen', hostStr, port)));
      return this;
    };
    if (parsed === null) return fail('EADDRNOTAVAIL');
    // An IPv6 host makes an IPv6 listener: '::' takes IPv4 too unless ipv6Only; '::ffff:a.b.c.d' listens on IPv4.
    const v6 = typeof parsed !== 'number';
    let ip: IpAddr = ipUnmapV4(parsed);
    if (typeof ip !== 'number' && ip.isUnspecified) ip = o.ipv6Only === true ? IP6_ADDR_ANY : IP_ANY_TYPE;
    const pcb = raw.tcpNew();
    if (pcb === null) return fail('ENOBUFS');
    raw.setReuseAddr(pcb, true); // as libuv does for listeners (TIME_WAIT leftovers do not block a restart)
    raw.tcp.setAppLate(pcb, true); // accepted connections answer after the packet (see PcbFlag.APP_LATE)
    let err = raw.tcpBind(pcb, ip, port);
    if (err === Err.OK) {
      err = raw.tcpListenWithErr(pcb, o.backlog ?? 511).err;
    }
    if (err !== Err.OK) {
      raw.tcpAbort(pcb);
      return fail(err === Err.USE ? 'EADDRINUSE' : 'EADDRNOTAVAIL');
    }
    this.pcb = pcb;
    this.closing = false;
    this.addr = addressInfo(pcb.localIp, pcb.localPort, v6);
    raw.tcpArg(pcb, this);
    raw.tcpAccept(pcb, (arg, npcb, e) => {
      if (arg !== this || e !== Err.OK || this.pcb === null) return Err.VAL;
      if (this.maxConnections !== undefined && this.conns.size >= this.maxConnections) return Err.MEM;
      const sock = new Socket(this.host, this.options);
      sock.server = this;
      sock._attachAccepted(npcb, this.options.pauseOnConnect ?? false, v6);
      this.conns.add(sock);
      sock.once('close', () => {
        this.conns.delete(sock);
        this.maybeClosed();
      });
      process.nextTick(() => {
        if (sock.destroyed) return;
        this.emit('connection', sock);
        sock._started();
      });
      return Err.OK;
    });
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  /** Stop accepting; 'close' follows once every accepted connection has closed. */
  close(cb?: (err?: Error) => void): this {
    if (cb) {
      if (this.pcb === null && !this.closing) {
        process.nextTick(() => cb(Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' })));
      } else this.once('close', cb);
    }
    if (this.pcb !== null) {
      const pcb = this.pcb;
      this.pcb = null;
      this.closing = true;
      this.host.raw.tcpAccept(pcb, null);
      this.host.raw.tcpArg(pcb, null);
      this.host.raw.tcpClose(pcb);
      this.maybeClosed();
    }
    return this;
  }

  /** No event loop handle: no-ops for API compatibility. */
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.pcb !== null) await new Promise<void>((r) => this.close(() => r()));
  }

  private maybeClosed(): void {
    if (!this.closing || this.conns.size > 0) return;
    this.closing = false;
    process.nextTick(() => this.emit('close'));
  }
}

// The Stack owns all state: netifs, pbuf pool, clock, rng, counters and the
// protocol layers. Nothing is global, so several stacks share a process
// (the simulator joins two or more of them).
//
// Reentrancy (ARCHITECTURE.md "Reentrancy and deferral"): the stack knows
// when it is busy (processing a packet, a timer, or deferred work). A packet
// that arrives while it is busy waits in a bounded input queue, or, with
// `strictReentrancy`, is refused with a ReentrancyError. Work that must not
// run in the middle of a packet is queued with defer() and runs as soon as
// the current packet is fully processed.
//
// Bounded work (ARCHITECTURE.md): one drain pass runs at most `drainBudget`
// queued packets and deferred items, then continues on a later turn of the
// clock (Clock.soon) so the event loop gets its turn. A stack that talks to
// itself through loopback without end (LAND was one) cannot starve Node.
import { Err } from '../err.ts';
import { Icmp, type IcmpOptions } from '../ip/icmp.ts';
import type { IcmpErrorReport, IpHost } from '../ip/host.ts';
import { Icmp6, type Icmp6Options } from '../ip/icmp6.ts';
import { Ip } from '../ip/ip.ts';
import { Ipv4, type Ipv4Options } from '../ip/ipv4.ts';
import { Ipv6, type Ipv6Options } from '../ip/ipv6.ts';
import { type LinkOutput, Netif, type NetifConfig } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufLayer, PbufPool, PbufUse, type PbufPoolOptions } from '../pbuf/pool.ts';
import { Tcp, type TcpConfig } from '../pcb/tcp.ts';
import { SocketLayer, type SocketLayerOptions } from '../socket/layer.ts';
import { Udp, type UdpConfig } from '../udp/udp.ts';
import { Net, type AcceptLoop, type AcceptLoopOptions } from '../net/index.ts';
import type { Socket as NetSocket, TcpConnectOptions } from '../net/socket.ts';
import type { Poller } from '../socket/poller.ts';
import type { DatagramSocket } from '../socket/dgram.ts';
import type { Socket } from '../socket/socket.ts';
import type { AddrInfo, SockAddr6 } from '../socket/addr.ts';
import type { AF_INET6 } from '../socket/constants.ts';
import { newStats, type Stats } from '../stats.ts';
import { HostTable } from './host-table.ts';
import type { Clock } from '../time/clock.ts';
import { Rng } from '../time/rng.ts';
import type { Timer, TimerCallback } from '../time/timer-heap.ts';
import { VirtualClock } from '../time/virtual-clock.ts';
import { formatIpv4Address, parseIpv4Address, prefixToMask } from '../wire/address.ts';
import { IP6_LOOPBACK, Ip6Addr, type IpAddr, toIpAddr } from '../wire/ipaddr.ts';

/** How many times inputQueueLimit may wait when it is a synchronous device's answer to our own output (see enqueue). */
const SYNC_QUEUE_FACTOR = 64;

export interface StackOptions {
  /** A name for logs and pcaps. */
  name?: string;
  /** The host table names are looked up in (default: an empty one of its own; the simulator shares one). */
  names?: HostTable;
  /** Time source (default: a fresh VirtualClock, so a bare Stack is deterministic). */
  clock?: Clock;
  /** Randomness: an Rng or a seed (default seed 1). */
  rng?: Rng | number | string;
  pool?: PbufPoolOptions;
  ip?: Ipv4Options;
  ip6?: Ipv6Options;
  icmp?: IcmpOptions;
  icmp6?: Icmp6Options;
  tcp?: TcpConfig;
  udp?: UdpConfig;
  socket?: SocketLayerOptions;
  /**
   * Packets that may wait while the stack is busy (default 1024); more are
   * dropped and counted (stats.stack.inputQueueDrops). Answers a
   * synchronous device delivers inside the stack's own output may wait up
   * to 64 times as many.
   */
  inputQueueLimit?: number;
  /**
   * Queued packets and deferred work items one pass processes before the
   * stack yields to the event loop and continues on a later turn (default 256).
   */
  drainBudget?: number;
  /** Refuse reentrant input with a ReentrancyError instead of queueing it (debug). */
  strictReentrancy?: boolean;
  /**
   * Called with exceptions caught at the stack boundary (bugs, not packet
   * contents). Default: rethrow once the stack is back in a consistent state.
   */
  onInternalError?: (err: unknown) => void;
}

export interface AddNetifOptions extends Omit<NetifConfig, 'addr' | 'netmask'> {
  /** IPv4 address (0 or omitted with `addr6`: an IPv6-only netif). */
  addr?: number | string;
  /**
   * IPv6 address(es), each as text with an optional prefix length
   * ("fd00::1/64") or an Ip6Addr; the prefix defaults to `prefixLength6`.
   */
  addr6?: string | Ip6Addr | readonly (string | Ip6Addr)[];
  /** On-link prefix length of IPv6 addresses given without one (default 64). */
  prefixLength6?: number;
  /** Netmask as an address or a prefix length. */
  netmask?: number | string;
  prefixLength?: number;
  /** Make this the default route (the first non-loopback netif is, unless another is chosen). */
  isDefault?: boolean;
}

/** Thrown (in strict mode) when a packet is fed to a stack that is mid-packet. */
export class ReentrancyError extends Error {
  override name = 'ReentrancyError';
}

export class Stack implements IpHost {
  readonly name: string;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly pool: PbufPool;
  readonly stats: Stats = newStats();
  readonly netifs: Netif[] = [];
  readonly loopback: Netif;
  /** The IPv4 layer. */
  readonly ip: Ipv4;
  /** The IPv6 layer. */
  readonly ip6: Ipv6;
  /** Both families behind one interface: what TCP and UDP send through. */
  readonly inet: Ip;
  readonly icmp: Icmp;
  readonly icmp6: Icmp6;
  readonly tcp: Tcp;
  /** The UDP layer (src/udp). */
  readonly udp: Udp;
  /** MicroPython-style sockets over the TCP layer (stack.socket()). */
  readonly sockets: SocketLayer;
  /**
   * Host names this stack resolves (node:net connect/listen, getaddrinfo):
   * tsip has no DNS. Replaceable, so a simulator can share one table.
   */
  names: HostTable;

  /** Nesting depth of packet/timer processing. */
  private depth = 0;
  /** Nesting depth of calls into device drivers (see driverCall). */
  private inDriver = 0;
  private batchDepth = 0;
  private draining = false;
  private readonly inputQueueLimit: number;
  private readonly drainBudget: number;
  /** A pass is scheduled on a later turn (the last one ran out of budget): new input queues behind it. */
  private continuation = false;
  private readonly queueP: Pbuf[] = [];
  private readonly queueIf: Netif[] = [];
  private queueHead = 0;
  /**
   * Deferred work: slots [deferredHead, deferredLen) are due. The array is
   * never shortened in steady use (run slots hold noop): setting an
   * array's length to 0 drops its backing store, and the next push, one
   * per packet that wakes a socket, allocated a new one.
   */
  private readonly deferred: (() => void)[] = [];
  private deferredHead = 0;
  private deferredLen = 0;
  private readonly drainTimer: Timer;
  private readonly strict: boolean;
  private readonly onInternalError: ((err: unknown) => void) | undefined;
  private pendingError: { err: unknown } | null = null;
  private closed = false;
  private netApi: Net | undefined;

  constructor(opts: StackOptions = {}) {
    this.name = opts.name ?? 'tsip';
    this.names = opts.names ?? new HostTable();
    this.clock = opts.clock ?? new VirtualClock();
    this.rng = opts.rng instanceof Rng ? opts.rng : new Rng(opts.rng ?? 1);
    this.pool = new PbufPool(opts.pool);
    this.inputQueueLimit = positiveInt(opts.inputQueueLimit ?? 1024, 'inputQueueLimit');
    this.drainBudget = positiveInt(opts.drainBudget ?? 256, 'drainBudget');
    this.strict = opts.strictReentrancy ?? false;
    this.onInternalError = opts.onInternalError;
    this.drainTimer = this.clock.timer(() => this.drain(true), `${this.name}/drain`);
    this.ip = new Ipv4(this, opts.ip);
    // A derived key: no draw from the stack's Rng, so IPv4's ISNs and idents stay as they were.
    const fk = this.rng.derive('ip6:flow');
    this.ip6 = new Ipv6(this, { flowKey: [fk.u32(), fk.u32()], ...opts.ip6 });
    this.inet = new Ip(this.ip, this.ip6);
    this.icmp = new Icmp(this, this.ip, opts.icmp);
    this.icmp6 = new Icmp6(this, this.ip6, opts.icmp6);
    this.tcp = new Tcp(this, opts.tcp);
    this.pool.onShortage = () => this.tcp.freeOutOfOrder() > 0;
    this.udp = new Udp(this, opts.udp);
    this.sockets = new SocketLayer(this, opts.socket);
    this.loopback = this.attach(
      new Netif({
        name: 'lo',
        addr: 0x7f000001,
        netmask: 0xff000000,
        mtu: 65535,
        output: (p, netif) => this.loop(p, netif),
      }),
    );
    this.loopback.addAddr6(IP6_LOOPBACK, 128);
    this.ip.loopback = this.loopback;
    this.ip6.loopback = this.loopback;
  }

  /** A transport's handler for ICMP and ICMPv6 errors about datagrams it sent. */
  onIcmpError(protocol: number, cb: (e: IcmpErrorReport) => void): void {
    this.icmp.onError(protocol, cb);
    this.icmp6.onError(protocol, cb);
  }

  /** True while a packet, timer or deferred work item is being processed. */
  get busy(): boolean {
    return this.depth > 0 || this.draining || this.inDriver > 0;
  }

  /** True while a packet or stack timer is being processed (not deferred work). */
  get inInput(): boolean {
    return this.depth > 0;
  }

  /** Add a network interface; its received packets feed this stack. */
  addNetif(o: AddNetifOptions): Netif {
    const addr = o.addr === undefined ? 0 : toAddr(o.addr, 'addr');
    let netmask: number;
    if (o.prefixLength !== undefined) netmask = prefixToMask(o.prefixLength);
    else if (o.netmask !== undefined) netmask = toAddr(o.netmask, 'netmask');
    else netmask = 0xffffff00;
    if (addr === 0) netmask = 0;
    const six = o.addr6 === undefined ? [] : Array.isArray(o.addr6) ? (o.addr6 as readonly (string | Ip6Addr)[]) : [o.addr6 as string | Ip6Addr];
    if (addr === 0 && six.length === 0) throw new RangeError(`netif ${o.name}: needs an IPv4 addr or an addr6`);
    const netif = new Netif({ name: o.name, addr, netmask, gateway: o.gateway ?? 0, mtu: o.mtu ?? 1500, output: o.output });
    for (const a of six) {
      const [ip6, len] = toAddr6(a, o.prefixLength6 ?? 64);
      netif.addAddr6(ip6, len);
    }
    this.attach(netif);
    if (addr !== 0 && (o.isDefault || this.ip.defaultNetif === null)) this.ip.defaultNetif = netif;
    if (six.length > 0 && (o.isDefault || this.ip6.defaultNetif === null)) this.ip6.defaultNetif = netif;
    return netif;
  }

  /**
   * Feed one received packet (payload at the IP header); takes ownership.
   * Called by drivers. If the stack is busy the packet waits in the input
   * queue (or, in strict mode, is refused with a ReentrancyError).
   */
  input(p: Pbuf, netif: Netif): void {
    if (this.closed) {
      p.free();
      return;
    }
    netif.counters.rxPackets++;
    netif.counters.rxBytes += p.totLen;
    p.ifIdx = netif.index;
    if (this.depth > 0) {
      if (this.strict) {
        p.free();
        throw new ReentrancyError(`${this.name}: packet input re-entered while a packet is being processed`);
      }
      this.enqueue(p, netif);
      return;
    }
    if (this.draining || this.inDriver > 0 || this.continuation) {
      // Deferred work or one of our own driver calls is running (a device
      // that delivers synchronously): queued, processed right after. Or the
      // stack yielded with work left: queued behind it, order kept.
      this.enqueue(p, netif);
      return;
    }
    this.process(p, netif);
    this.drain();
  }

  /**
   * A driver that reads packets in batches (the TUN device) brackets each
   * batch with beginInputBatch()/endInputBatch(): TCP then owes in-order
   * data one ACK per connection at the batch's end instead of one every
   * second segment (fewer packets and device writes, as GRO gives the
   * kernel's receivers). ACKs that must go at once (out of order, hole
   * filled, FIN, window probes) are not delayed. Calls nest.
   */
  beginInputBatch(): void {
    this.batchDepth++;
    this.tcp.batching = true;
  }

  /** Received input waits for a later turn (queued, or a drain out of budget): a busy-polling driver stops reading. */
  inputBacklog(): boolean {
    return this.continuation || this.queueHead < this.queueP.length;
  }

  endInputBatch(): void {
    if (this.batchDepth === 0 || --this.batchDepth > 0) return;
    this.tcp.batching = false;
    if (this.closed) return;
    if (this.busy) {
      this.defer(() => this.tcp.flushBatchAcks());
      return;
    }
    this.depth++;
    try {
      this.tcp.flushBatchAcks();
    } catch (err) {
      this.caught(err);
    } finally {
      this.depth--;
    }
    this.drain();
  }

  /**
   * Queue a packet to be processed as stack work, never synchronously
   * (loopback uses this so a send never runs input inside the sender).
   */
  enqueueInput(p: Pbuf, netif: Netif): void {
    if (this.closed) {
      p.free();
      return;
    }
    this.enqueue(p, netif);
    this.kick();
  }

  /**
   * Run `fn` as soon as the current packet (or timer) is fully processed;
   * if the stack is idle, at the next turn of its clock (never inline).
   */
  defer(fn: () => void): void {
    this.deferred[this.deferredLen++] = fn;
    this.kick();
  }

  /** A timer whose callback runs as stack work: busy while it runs, deferred work drained after. */
  timer(cb: TimerCallback, name?: string | (() => string)): Timer {
    return this.clock.timer(() => {
      if (this.closed) return;
      this.depth++;
      try {
        cb();
      } catch (err) {
        this.caught(err);
      } finally {
        this.depth--;
      }
      this.drain();
    }, name === undefined ? undefined : () => `${this.name}/${typeof name === 'string' ? name : name()}`);
  }

  /**
   * socket(AF_INET, SOCK_STREAM) or socket(AF_INET, SOCK_DGRAM), with
   * MicroPython modlwip semantics (src/socket). Sockets start blocking, so
   * they are typed `Socket<'blocking'>` / `DatagramSocket<'blocking'>`;
   * `.setblocking(false)` returns the same socket typed non-blocking.
   */
  socket(af: typeof AF_INET6, type?: 1): Socket<'blocking', SockAddr6>;
  socket(af: typeof AF_INET6, type: 2): DatagramSocket<'blocking', SockAddr6>;
  socket(af?: number, type?: 1): Socket<'blocking'>;
  socket(af: number, type: 2): DatagramSocket<'blocking'>;
  socket(af?: number, type?: number): Socket<'blocking'> | DatagramSocket<'blocking'>;
  socket(af?: number, type?: number): Socket<'blocking'> | DatagramSocket<'blocking'> {
    return this.sockets.socket(af, type);
  }

  /** socket.getaddrinfo() that resolves this stack's host names too (stack.names). */
  getaddrinfo(host: string, port: number, af = 0, type = 0, proto = 0, flags = 0): AddrInfo[] {
    return this.sockets.getaddrinfo(host, port, af, type, proto, flags);
  }

  /** select.poll() for this stack's sockets. */
  poll(): Poller {
    return this.sockets.poll();
  }

  /** node:net over this stack: stack.net.createServer(), stack.net.connect() (src/net, docs/net.md). */
  get net(): Net {
    return (this.netApi ??= new Net(this));
  }

  /** `for await (const sock of stack.listen({ port }))`: accepted node:net-style sockets. */
  listen(options: AcceptLoopOptions = {}): AcceptLoop {
    return this.net.listen(options);
  }

  /** Connect a node:net-style socket; resolves on 'connect' (honours `signal`). */
  connectTcp(options: TcpConnectOptions): Promise<NetSocket> {
    return this.net.connectTcp(options);
  }

  /** Send an ICMP or ICMPv6 echo request, by the address's family (see Pinger for a ping loop). */
  ping(dst: IpAddr | string, ident: number, seqNo: number, data: Uint8Array): number {
    const a = toIpAddr(dst, 'dst');
    return typeof a === 'number' ? this.icmp.sendEchoRequest(a, ident, seqNo, data) : this.icmp6.sendEchoRequest(a, ident, seqNo, data);
  }

  /** Stop timers and free everything held (queued packets, fragments). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.drainTimer.stop();
    this.discardQueues();
    this.tcp.closeAll();
    this.udp.closeAll();
    this.inet.close();
  }

  /**
   * The host vanishes (a kernel crash, power loss): nothing more goes on
   * the wire, not even a RST or FIN. Every netif goes down; packets waiting
   * for input vanish; each connection is abandoned (lwIP tcp_abandon(pcb,
   * 0)) and its err callback gets ERR_ABRT, so local sockets fail with
   * ECONNABORTED (what Linux gives an application whose connection the
   * host itself aborted); listeners and UDP PCBs get it too when they have
   * an err callback (a blocked accept() or recvfrom() raises it). The
   * wake-ups this queues for the socket layers run now; then everything is
   * freed as by close(). Not from inside this stack's own processing (a
   * callback): crash it from the clock.
   */
  crash(): void {
    if (this.closed) return;
    if (this.busy) throw new Error(`${this.name}: crash() called from inside the stack's own processing (schedule it on the clock instead)`);
    for (const n of this.netifs) n.up = false;
    for (let i = this.queueHead; i < this.queueP.length; i++) this.queueP[i]!.free();
    this.queueP.length = 0;
    this.queueIf.length = 0;
    this.queueHead = 0;
    try {
      this.tcp.abandonAll(Err.ABRT);
      this.udp.abandonAll(Err.ABRT);
      // Deferred work (socket wake-ups) runs while the stack still runs it; bounded passes.
      for (let pass = 0; pass < 1000 && this.deferredHead < this.deferredLen; pass++) this.drain(true);
    } finally {
      this.close();
    }
  }

  /** True once close() or crash() ran: the stack takes no input and runs no timers. */
  get isClosed(): boolean {
    return this.closed;
  }

  toString(): string {
    const addrs = this.netifs.filter((n) => n !== this.loopback).map((n) => `${n.name}=${[...(n.addr !== 0 ? [formatIpv4Address(n.addr)] : []), ...n.addrs6.map(String)].join(',')}`);
    return `Stack(${this.name} ${addrs.join(' ')})`;
  }

  private attach(netif: Netif): Netif {
    netif.index = this.netifs.length + 1;
    netif.input = (p) => this.input(p, netif);
    netif.runDriver = (n, p, out) => this.driverCall(n, p, out);
    this.netifs.push(netif);
    return netif;
  }

  /**
   * One call into a device driver, as stack work: packets a synchronous
   * device delivers back meanwhile wait in the input queue (processing them
   * inside the caller, e.g. in the middle of TCP output, would see its state
   * half-updated); an exception from the driver counts as a lost packet and
   * is reported once the stack is consistent again (never unwinding the
   * caller). Queued work then runs at the next turn of the clock.
   */
  private driverCall(netif: Netif, p: Pbuf, out: LinkOutput): number {
    this.inDriver++;
    let err: number;
    try {
      err = out(p, netif);
    } catch (e) {
      this.caught(e);
      err = Err.IF;
    } finally {
      this.inDriver--;
    }
    if (!this.busy && (this.queueHead < this.queueP.length || this.pendingError !== null)) this.kick();
    return err;
  }

  /** Loopback output: a copy re-enters as stack work, after the sender returns (a received packet: RX). */
  private loop(p: Pbuf, netif: Netif): number {
    const q = this.pool.clone(p, PbufLayer.RAW, PbufUse.RX);
    if (q === null) {
      this.stats.link.memerr++;
      this.stats.link.drop++;
      return Err.MEM;
    }
    this.stats.link.xmit++;
    this.enqueueInput(q, netif);
    return Err.OK;
  }

  private enqueue(p: Pbuf, netif: Netif): void {
    // During one of our own driver calls, input comes from a device that
    // delivers synchronously (a zero-latency link, loopback): the peer's
    // answers to what this call sends. Bounded by the windows in flight
    // both ways (at MTU 68 a 256 KiB window is 16k segments, and GSO cuts
    // a burst into all of them at once), they get SYNC_QUEUE_FACTOR times
    // the limit (the pool bounds their memory): dropped, they would be
    // losses the burst inflicted on itself.
    const limit = this.inDriver > 0 ? this.inputQueueLimit * SYNC_QUEUE_FACTOR : this.inputQueueLimit;
    if (this.queueP.length - this.queueHead >= limit) {
      this.stats.stack.inputQueueDrops++;
      this.stats.link.drop++;
      p.free();
      return;
    }
    this.stats.stack.inputQueued++;
    this.queueP.push(p);
    this.queueIf.push(netif);
  }

  /** Make sure queued work runs: inline if we are about to drain anyway, else on a 0 ms timer. */
  private kick(): void {
    if (this.busy || this.drainTimer.active || this.continuation || this.closed) return;
    this.drainTimer.start(0);
  }

  /** Out of budget with work left: continue on a later turn of the clock. */
  private yieldDrain(): void {
    this.stats.stack.budgetYields++;
    if (this.continuation) return; // a later pass is already scheduled
    this.continuation = true;
    if (this.clock.soon !== undefined) this.clock.soon(this.continueDrain);
    // A clock without soon(): 1 ms later, so even a virtual one moves on.
    else this.drainTimer.start(1);
  }

  private readonly continueDrain = (): void => {
    this.drain(true);
  };

  private process(p: Pbuf, netif: Netif): void {
    this.depth++;
    try {
      this.stats.link.recv++;
      // The version nibble picks the family (a TUN or a link carries both).
      // A netif without IPv6 addresses runs IPv4 only, as lwIP built
      // without IPv6: there a version-6 packet is IPv4's protocol error.
      if (p.len > 0 && p.buf[p.off]! >>> 4 === 6 && netif.addrs6.length > 0) this.ip6.input(p, netif);
      else this.ip.input(p, netif);
    } catch (err) {
      this.caught(err);
    } finally {
      this.depth--;
    }
  }

  /**
   * Run deferred work, then queued packets, until both are empty or the
   * budget is spent (then the rest continues on a later turn). `scheduled`
   * is true for the pass the clock runs (drain timer, continuation); an
   * inline call after a packet or timer does nothing while a continuation
   * is pending, so the event loop keeps its turn.
   */
  private drain(scheduled = false): void {
    if (this.draining || this.depth > 0 || this.closed) return;
    if (this.continuation) {
      if (!scheduled) return;
      this.continuation = false;
    }
    this.draining = true;
    let budget = this.drainBudget;
    let consistent = false;
    try {
      for (;;) {
        const more = this.deferredHead < this.deferredLen || this.queueHead < this.queueP.length;
        if (!more) break;
        if (budget-- === 0) {
          this.yieldDrain();
          break;
        }
        if (this.deferredHead < this.deferredLen) {
          const fn = this.deferred[this.deferredHead]!;
          this.deferred[this.deferredHead++] = noop;
          this.stats.stack.deferredRun++;
          try {
            fn();
          } catch (err) {
            this.caught(err);
          }
          continue;
        }
        const p = this.queueP[this.queueHead]!;
        const netif = this.queueIf[this.queueHead]!;
        this.queueHead++;
        this.process(p, netif);
      }
      consistent = true;
    } finally {
      if (consistent) this.compactQueues();
      else this.discardQueues(); // only an onInternalError handler that throws gets here: do not leak
      this.draining = false;
    }
    this.flushError();
  }

  /** Forget the processed heads of both queues (what is left waits for the next pass). */
  private compactQueues(): void {
    // (Setting an array's length is a runtime call even when it changes
    // nothing: skipped for the queues a pass left empty, the usual case.)
    const d = this.deferred;
    if (this.deferredHead !== 0) {
      // Move what is still due to the front; the slots behind it hold noop.
      let to = 0;
      for (let i = this.deferredHead; i < this.deferredLen; i++) {
        d[to++] = d[i]!;
        d[i] = noop;
      }
      this.deferredLen = to;
    }
    this.deferredHead = 0;
    if (this.queueHead === this.queueP.length) {
      if (this.queueHead !== 0) {
        this.queueP.length = 0;
        this.queueIf.length = 0;
      }
    } else {
      this.queueP.splice(0, this.queueHead);
      this.queueIf.splice(0, this.queueHead);
    }
    this.queueHead = 0;
  }

  private discardQueues(): void {
    for (let i = this.queueHead; i < this.queueP.length; i++) this.queueP[i]!.free();
    this.queueP.length = 0;
    this.queueIf.length = 0;
    this.queueHead = 0;
    this.deferred.length = 0;
    this.deferredHead = 0;
    this.deferredLen = 0;
  }

  /**
   * An exception from code the stack called (an application callback, a
   * bug): counted, then handed to onInternalError or rethrown once the
   * stack is consistent again.
   */
  reportError(err: unknown): void {
    this.caught(err);
    if (!this.busy) this.flushError();
  }

  private caught(err: unknown): void {
    this.stats.stack.internalErrors++;
    if (this.onInternalError) this.onInternalError(err);
    else if (this.pendingError === null) this.pendingError = { err };
  }

  /** Rethrow a caught internal error once the stack is consistent again. */
  private flushError(): void {
    const e = this.pendingError;
    if (e === null) return;
    this.pendingError = null;
    throw e.err;
  }
}

function noop(): void {}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer`);
  return n;
}

function toAddr(a: number | string, what: string): number {
  if (typeof a === 'number') return a >>> 0;
  const n = parseIpv4Address(a);
  if (n === null) throw new RangeError(`invalid IPv4 ${what}: ${a}`);
  return n;
}

/** "fd00::1/64", "fd00::1" (prefix `defLen`) or an Ip6Addr. */
function toAddr6(a: string | Ip6Addr, defLen: number): [Ip6Addr, number] {
  if (typeof a !== 'string') return [a, defLen];
  const slash = a.indexOf('/');
  const text = slash < 0 ? a : a.slice(0, slash);
  const len = slash < 0 ? defLen : Number(a.slice(slash + 1));
  const ip6 = Ip6Addr.parse(text);
  if (ip6 === null || !Number.isInteger(len) || len < 0 || len > 128) throw new RangeError(`invalid IPv6 address: ${a}`);
  return [ip6, len];
}

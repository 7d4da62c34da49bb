// The UDP layer of one Stack (RFC 768, lwIP udp.c): PCB lifecycle (udp_new,
// udp_bind, udp_connect, udp_disconnect, udp_remove), counters, delivery to
// the application and ICMP errors for connected PCBs. Datagram arrival is
// in input.ts, transmission in output.ts, the demux in table.ts.
import { Err } from '../err.ts';
import { IcmpErrorKind, type IcmpErrorReport, type IpHost } from '../ip/host.ts';
import type { Ip } from '../ip/ip.ts';
import { bindReaches, ipAnyOf, ipIsAny, type IpAddr } from '../wire/ipaddr.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { PbufPool } from '../pbuf/pool.ts';
import type { ProtoStats } from '../stats.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { udpInput } from './input.ts';
import { udpOutput } from './output.ts';
import { UdpPcb } from './pcb.ts';
import { UdpTable } from './table.ts';

export interface UdpConfig {
  /** Most PCBs at once: udp_new fails (null, ERR_MEM) beyond. */
  maxPcbs?: number;
  ephemeralLow?: number;
  ephemeralHigh?: number;
  /** TTL of datagrams we send (default: IP's default TTL). */
  ttl?: number;
}

/** RFC 4113 UDP-MIB counters (udpInDatagrams, udpNoPorts, udpInErrors, udpOutDatagrams) and a few more. */
export interface UdpCounters {
  /** Datagrams delivered to a PCB. */
  inDatagrams: number;
  /** Datagrams for a port nobody is bound to. */
  noPorts: number;
  /** Datagrams not delivered for other reasons (length, checksum, full receive queue). */
  inErrors: number;
  outDatagrams: number;
  /** Of inErrors: checksum failures (Linux InCsumErrors). */
  inCsumErrors: number;
  /** Of inErrors: dropped because a socket's receive queue was full (Linux RcvbufErrors). */
  rcvbufErrors: number;
  /** ICMP errors handed to a connected PCB. */
  icmpErrorsDelivered: number;
  /** Exceptions thrown by recv/err callbacks (caught, reported to the Stack). */
  callbackErrors: number;
}

/** What the UDP layer needs from its Stack. */
export interface UdpHost extends IpHost {
  /** The dual-stack IP layer. */
  readonly inet: Ip;
  /** ICMP error reports of both families arrive through this. */
  onIcmpError(protocol: number, cb: (e: IcmpErrorReport) => void): void;
  reportError(err: unknown): void;
}

export class Udp {
  readonly stats: ProtoStats;
  readonly counters: UdpCounters = {
    inDatagrams: 0,
    noPorts: 0,
    inErrors: 0,
    outDatagrams: 0,
    inCsumErrors: 0,
    rcvbufErrors: 0,
    icmpErrorsDelivered: 0,
    callbackErrors: 0,
  };
  readonly table = new UdpTable();
  readonly ip: Ip;
  readonly pool: PbufPool;
  /** Live PCBs (bound or not). */
  pcbCount = 0;
  private readonly maxPcbs: number;
  private readonly ephLow: number;
  private readonly ephHigh: number;
  private readonly ttl: number;
  private nextEphemeral: number;

  constructor(
    readonly host: UdpHost,
    cfg: UdpConfig = {},
  ) {
    this.stats = host.stats.udp;
    this.ip = host.inet;
    this.pool = host.pool;
    this.maxPcbs = cfg.maxPcbs ?? 1 << 16;
    this.ephLow = cfg.ephemeralLow ?? 49152;
    this.ephHigh = cfg.ephemeralHigh ?? 65535;
    this.ttl = cfg.ttl ?? host.inet.v4.defaultTtl;
    if (!(Number.isInteger(this.ephLow) && Number.isInteger(this.ephHigh) && this.ephLow >= 1 && this.ephLow <= this.ephHigh && this.ephHigh <= 0xffff)) {
      throw new RangeError('UDP ephemeral port range must be integers with 1 <= low <= high <= 65535');
    }
    if (!(Number.isInteger(this.maxPcbs) && this.maxPcbs >= 0)) throw new RangeError('UDP maxPcbs must be a non-negative integer');
    this.nextEphemeral = this.ephLow + host.rng.int(this.ephHigh - this.ephLow + 1);
    host.inet.register(IpProtocol.UDP, (p, info) => udpInput(this, p, info));
    host.onIcmpError(IpProtocol.UDP, (e) => this.icmpError(e));
  }

  /** udp_new: a fresh unbound PCB, or null at the PCB limit (counted as memerr). */
  newPcb(): UdpPcb | null {
    if (this.pcbCount >= this.maxPcbs) {
      this.stats.memerr++;
      return null;
    }
    this.pcbCount++;
    return new UdpPcb(this.ttl);
  }

  /**
   * udp_bind: local address (0 = any) and port (0 = ephemeral). Rebinding a
   * bound PCB moves it, as lwIP allows. ERR_USE on a clash (see
   * UdpTable.conflicts), ERR_VAL for an address that is not ours.
   */
  bind(pcb: UdpPcb, ip: IpAddr, port: number): number {
    if (pcb.freed) return Err.VAL;
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) return Err.VAL;
    if (typeof ip === 'number') ip >>>= 0;
    if (!ipIsAny(ip) && !this.ip.isLocal(ip)) return Err.VAL;
    if (port === 0) {
      port = this.ephemeralPort();
      if (port === 0) return Err.USE;
    } else if (this.table.conflicts(pcb, ip, port, pcb.reuseAddr)) {
      return Err.USE;
    }
    this.table.remove(pcb);
    pcb.localIp = ip;
    pcb.localPort = port;
    this.table.add(pcb);
    return Err.OK;
  }

  /** udp_connect: fix the remote (filtering input to it); binds an ephemeral port if unbound. */
  connect(pcb: UdpPcb, ip: IpAddr, port: number): number {
    if (pcb.freed) return Err.VAL;
    if (typeof ip === 'number') ip >>>= 0;
    if (ipIsAny(ip) || !Number.isInteger(port) || port <= 0 || port > 0xffff) return Err.VAL;
    if (pcb.localPort !== 0 && !bindReaches(pcb.localIp, pcb.v6only, ip)) return Err.VAL;
    if (pcb.localPort === 0) {
      const err = this.bind(pcb, autobindAddr(pcb, ip), 0);
      if (err !== Err.OK) return err;
    }
    pcb.remoteIp = ip;
    pcb.remotePort = port;
    pcb.connected = true;
    return Err.OK;
  }

  /** udp_disconnect: accept datagrams from anyone again. */
  disconnect(pcb: UdpPcb): void {
    pcb.remoteIp = 0;
    pcb.remotePort = 0;
    pcb.connected = false;
  }

  /** udp_send: to the connected remote (ERR_CONN when not connected). */
  send(pcb: UdpPcb, p: Pbuf): number {
    if (pcb.freed) return Err.VAL;
    if (!pcb.connected) return Err.CONN;
    return udpOutput(this, pcb, p, pcb.remoteIp, pcb.remotePort);
  }

  /** udp_sendto: to dst:port, whatever the PCB is connected to. The caller keeps `p`. */
  sendTo(pcb: UdpPcb, p: Pbuf, dst: IpAddr, port: number): number {
    return udpOutput(this, pcb, p, dst, port);
  }

  /** udp_remove: unbind and free the PCB (idempotent). */
  remove(pcb: UdpPcb): void {
    if (pcb.freed) return;
    this.table.remove(pcb);
    pcb.freed = true;
    pcb.recvFn = null;
    pcb.errFn = null;
    this.pcbCount--;
  }

  /**
   * The host vanished (Stack.crash): every PCB freed, its err callback told
   * `err` (type and code 0), so a socket waiting on it wakes.
   */
  abandonAll(err: number): void {
    for (const pcb of [...this.table.values()]) {
      const fn = pcb.errFn;
      const arg = pcb.arg;
      this.remove(pcb);
      if (fn === null) continue;
      try {
        fn(arg, pcb, err, 0, 0);
      } catch (x) {
        this.counters.callbackErrors++;
        this.host.reportError(x);
      }
    }
  }

  /** Free every PCB (Stack.close). */
  closeAll(): void {
    for (const pcb of [...this.table.values()]) this.remove(pcb);
  }

  /**
   * @internal Hand a payload to the PCB's recv callback, which takes the
   * pbuf. Runs at the end of the datagram's processing (nothing of UDP is
   * half-updated); sends from the callback go out at once, loopback ones
   * are queued as stack input, as for TCP's callbacks.
   */
  deliver(pcb: UdpPcb, p: Pbuf, src: IpAddr, srcPort: number): void {
    const fn = pcb.recvFn;
    if (fn === null) {
      p.free();
      return;
    }
    try {
      fn(pcb.arg, pcb, p, src, srcPort);
    } catch (e) {
      // As TCP: a throwing callback is taken not to have kept the data.
      if (p.ref > 0) p.free();
      this.counters.callbackErrors++;
      this.host.reportError(e);
    }
  }

  /** An ICMP error about a datagram we sent: to the connected PCB it came from. */
  private icmpError(e: IcmpErrorReport): void {
    const h = e.transportHeader;
    if (h.length < 8) return;
    const localPort = (h[0]! << 8) | h[1]!;
    const remotePort = (h[2]! << 8) | h[3]!;
    const pcb = this.table.findConnected(e.origSrc, localPort, e.origDst, remotePort);
    if (pcb === null || pcb.errFn === null) return;
    let err: number = Err.VAL;
    if (e.kind === IcmpErrorKind.REFUSED) err = Err.RST;
    else if (e.kind === IcmpErrorKind.UNREACHABLE || e.kind === IcmpErrorKind.TIME_EXCEEDED) err = Err.RTE;
    this.counters.icmpErrorsDelivered++;
    try {
      pcb.errFn(pcb.arg, pcb, err, e.type, e.code);
    } catch (x) {
      this.counters.callbackErrors++;
      this.host.reportError(x);
    }
  }

  /** A free ephemeral port (any PCB on it counts as a clash), or 0. */
  private ephemeralPort(): number {
    const n = this.ephHigh - this.ephLow + 1;
    for (let i = 0; i < n; i++) {
      const port = this.nextEphemeral;
      this.nextEphemeral = port >= this.ephHigh ? this.ephLow : port + 1;
      if (!this.table.portInUse(port)) return port;
    }
    return 0;
  }
}

/**
 * The address an unbound PCB is bound to before it first sends to `dst`:
 * the wildcard of `dst`'s family when it was never given one (an unbound
 * PCB is neither family's yet), else what it was given.
 */
export function autobindAddr(pcb: UdpPcb, dst: IpAddr): IpAddr {
  return ipIsAny(pcb.localIp) ? ipAnyOf(dst) : pcb.localIp;
}

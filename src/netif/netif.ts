// A network interface: addresses, MTU, and the driver's output function.
// Drivers hand received packets to `input` (set by the Stack), which takes
// ownership of the pbuf. `output` does NOT take ownership (as lwIP's
// netif->output): a driver that needs the bytes later copies them or takes
// a reference.
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { Ip6Addr } from '../wire/ipaddr.ts';

/** Sends one IP packet. Must not keep `p` past the call without addRef(). */
export type LinkOutput = (p: Pbuf, netif: Netif) => number;

export interface NetifConfig {
  name: string;
  /** IPv4 address, host order u32. */
  addr: number;
  netmask: number;
  gateway?: number;
  /** Bytes of IP packet the link carries (default 1500). */
  mtu?: number;
  output: LinkOutput;
}

export interface NetifCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  /** TCP super-segments (larger than the MTU) handed to a GSO-capable device. */
  txGso: number;
}

export class Netif {
  readonly name: string;
  /** 1-based index, stamped on received pbufs (pbuf.ifIdx). */
  index = 0;
  addr: number;
  netmask: number;
  gateway: number;
  mtu: number;
  /** Administratively up. */
  up = true;
  /** Carrier present. */
  linkUp = true;
  /**
   * Largest IP packet the device takes as a TCP super-segment that it cuts
   * into MTU-sized segments itself (GSO/TSO), 0 when it cannot.
   */
  gsoMaxSize = 0;
  /**
   * The device completes TCP checksums (TX checksum offload, CHECKSUM_PARTIAL):
   * IP hands it packets whose pbuf has PbufFlag.CSUM_PARTIAL with the TCP
   * checksum field left 0. Only the simulator's point-to-point links set it
   * (they fill the checksum whenever anyone can see or damage the frame);
   * IP completes the checksum itself for every other netif.
   */
  txCsumOffload = false;
  /**
   * IPv6 addresses and their on-link prefix lengths (parallel arrays). The
   * links tsip runs on are point-to-point (TUN) or simulated, so there is no
   * neighbour discovery to do: a netif with an IPv6 address carries IPv6
   * when its MTU is at least 1280 (RFC 8200 §5).
   */
  readonly addrs6: Ip6Addr[] = [];
  readonly prefixes6: number[] = [];
  readonly counters: NetifCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0, txGso: 0 };
  /** Set by the Stack when the netif is added. Takes ownership of `p`. */
  input: (p: Pbuf) => void = (p) => {
    p.free();
  };
  /**
   * Set by the Stack: runs one driver call as stack work, so that a device
   * delivering synchronously (a packet coming back while we send) finds the
   * stack busy and is queued, and an exception from the driver becomes a
   * lost packet instead of unwinding the caller half-way.
   */
  runDriver: (netif: Netif, p: Pbuf, out: LinkOutput) => number = (n, p, out) => out(p, n);
  private readonly linkOutput: LinkOutput;

  constructor(cfg: NetifConfig) {
    const mtu = cfg.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new RangeError(`netif ${cfg.name}: MTU must be an integer in 68..65535 (RFC 791 minimum is 68)`);
    }
    this.name = cfg.name;
    this.addr = cfg.addr >>> 0;
    this.netmask = cfg.netmask >>> 0;
    this.gateway = (cfg.gateway ?? 0) >>> 0;
    this.mtu = mtu;
    this.linkOutput = cfg.output;
  }

  get isUp(): boolean {
    return this.up && this.linkUp;
  }

  /** The directed broadcast address of this netif's subnet. */
  get broadcast(): number {
    return (this.addr | ~this.netmask) >>> 0;
  }

  /** True if `a` is on this netif's subnet. */
  onLink(a: number): boolean {
    return ((a ^ this.addr) & this.netmask) === 0;
  }

  /**
   * True if the subnet has a network and a broadcast address of its own:
   * not on a /32 (point-to-point) nor a /31 (RFC 3021: both are hosts).
   */
  get hasSubnetAddresses(): boolean {
    return this.addr !== 0 && (~this.netmask >>> 0) > 1;
  }

  /** True if `a` is the limited broadcast or this subnet's directed broadcast. */
  isBroadcast(a: number): boolean {
    a >>>= 0;
    if (a === 0xffffffff || a === 0) return true;
    if (!this.hasSubnetAddresses) return false;
    return this.onLink(a) && (a & ~this.netmask) >>> 0 === (~this.netmask) >>> 0;
  }

  /** True if `a` is this subnet's network address (host bits all zero). */
  isNetworkAddress(a: number): boolean {
    return this.hasSubnetAddresses && a >>> 0 === (this.addr & this.netmask) >>> 0;
  }

  /** Add an IPv6 address with its on-link prefix length (0..128). */
  addAddr6(a: Ip6Addr, prefixLength: number): void {
    if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 128) throw new RangeError(`netif ${this.name}: IPv6 prefix length must be in 0..128`);
    if (this.hasAddr6(a)) return;
    this.addrs6.push(a);
    this.prefixes6.push(prefixLength);
  }

  /** The first IPv6 address (the one a source is chosen from by default), or null. */
  get addr6(): Ip6Addr | null {
    return this.addrs6[0] ?? null;
  }

  /** True if `a` is one of this netif's IPv6 addresses. */
  hasAddr6(a: Ip6Addr): boolean {
    for (const x of this.addrs6) if (x.equals(a)) return true;
    return false;
  }

  /** True if `a` is inside one of this netif's IPv6 prefixes. */
  onLink6(a: Ip6Addr): boolean {
    const n = this.addrs6.length;
    for (let i = 0; i < n; i++) if (this.addrs6[i]!.samePrefix(a, this.prefixes6[i]!)) return true;
    return false;
  }

  /** IPv6 runs on this netif: it has an address and an MTU of at least 1280. */
  get ipv6Enabled(): boolean {
    return this.addrs6.length > 0 && this.mtu >= 1280;
  }

  /** Send one IP packet through the driver (counted). */
  output(p: Pbuf): number {
    if (!this.isUp) {
      this.counters.txErrors++;
      return Err.IF;
    }
    const err = this.runDriver(this, p, this.linkOutput);
    if (err === Err.OK) {
      this.counters.txPackets++;
      this.counters.txBytes += p.totLen;
      if (p.gsoSize > 0 && p.totLen > this.mtu) this.counters.txGso++;
    } else {
      this.counters.txErrors++;
    }
    return err;
  }
}

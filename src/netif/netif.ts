// A network interface: addresses, MTU, and the driver's output function.
// Drivers hand received packets to `input` (set by the Stack), which takes
// ownership of the pbuf. `output` does NOT take ownership (as lwIP's
// netif->output): a driver that needs the bytes later copies them or takes
// a reference.
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';

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

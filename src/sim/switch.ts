// A switch for the simulator: any number of hosts, each on a port of its
// own, and frames forwarded between them by destination IP address (IPv4
// and IPv6). Simulated links carry bare IP packets (no Ethernet, no ARP or
// neighbour discovery), so this is a layer-3 switch: it looks up the
// destination address in a table filled as hosts attach, and hands the
// frame on untouched, TTL / hop limit included (it is one wire to the
// hosts, not a router hop). It sends no ICMP: a frame it cannot deliver
// is dropped and counted.
//
// Each port is a pair of LinkPipelines built as Simulator.connect() builds
// a link's two directions (faults from a LinkSpec, the MTU, an optional
// pcap tap): host → switch ("up", a→b of the link) and switch → host
// ("down"). A frame crosses the sender's up pipeline, the switch, then the
// receiver's down pipeline, so every fault stage applies per link as on a
// point-to-point link. Build switches with Simulator.addSwitch() and attach
// hosts with Simulator.attach(), or use the helpers in topology.ts.
//
// Forwarding allocates nothing: the frame (a FramePool buffer) moves from
// one pipeline to the next; a dropped one goes back to the pool.
import type { Netif } from '../netif/netif.ts';
import type { Stack } from '../stack/stack.ts';
import type { Clock } from '../time/clock.ts';
import { formatIp, type Ip6Addr, type IpAddr } from '../wire/ipaddr.ts';
import type { FramePool } from './frame-pool.ts';
import type { LinkPipeline } from './link.ts';
import type { PcapWriter } from './pcap.ts';

export interface SwitchOptions {
  /** Record every frame the switch forwards, once, as it leaves the switch (after the sender's link, before the receiver's). */
  pcap?: PcapWriter;
}

/** A switch's counters. */
export interface SwitchStats {
  /** Frames that came in from a port. */
  received: number;
  /** Frames handed to the destination's port. */
  forwarded: number;
  /** Dropped: no port has the destination address. */
  noRoute: number;
  /** Dropped: the sender and the receiver are on different sides of a partition (Simulator.partition). */
  partitioned: number;
  /** Dropped: the destination's link is down (Simulator.setLinkUp). */
  linkDown: number;
  /** Dropped: not an IPv4 or IPv6 packet (too short, another version). */
  malformed: number;
}

/** One host's attachment to a switch (Simulator.attach). */
export class SwitchPort {
  /** The stack on this port now (a restarted host is a new Stack). */
  stack!: Stack;
  /** The host's netif toward the switch now. */
  netif!: Netif;
  /** Host → switch. */
  up!: LinkPipeline;
  /** Switch → host. */
  down!: LinkPipeline;
  /** @internal Partition group of the host (-1: in none); kept by the Simulator. */
  group = -1;

  constructor(
    /** The link's name, '<host>~<switch>' (Simulator.setLink / setLinkUp take it). */
    readonly name: string,
    /** The host's (stack's) name. */
    readonly host: string,
    readonly sw: Switch,
    /** The addresses the switch forwards to this port. */
    readonly addrs: readonly IpAddr[],
  ) {}
}

interface V6Entry {
  addr: Ip6Addr;
  port: SwitchPort;
}

export class Switch {
  readonly ports: SwitchPort[] = [];
  readonly stats: SwitchStats = { received: 0, forwarded: 0, noRoute: 0, partitioned: 0, linkDown: 0, malformed: 0 };
  private readonly v4 = new Map<number, SwitchPort>();
  /** IPv6 routes keyed by the address's last 32 bits (then compared whole). */
  private readonly v6 = new Map<number, V6Entry[]>();
  private readonly pcap: PcapWriter | undefined;

  /** @internal Use Simulator.addSwitch(). */
  constructor(
    readonly name: string,
    private readonly clock: Clock,
    private readonly frames: FramePool,
    opts: SwitchOptions = {},
  ) {
    this.pcap = opts.pcap;
  }

  /** @internal Enter a port's addresses (Simulator.attach); RangeError if another port has one of them. */
  addPort(port: SwitchPort): void {
    for (const a of port.addrs) {
      const other = this.route(a);
      if (other !== null) throw new RangeError(`switch ${this.name}: ${formatIp(a)} is already on port ${other.name}`);
    }
    for (const a of port.addrs) {
      if (typeof a === 'number') this.v4.set(a, port);
      else {
        const list = this.v6.get(a.w3);
        if (list === undefined) this.v6.set(a.w3, [{ addr: a, port }]);
        else list.push({ addr: a, port });
      }
    }
    this.ports.push(port);
  }

  /** The port that has `addr`, or null. */
  route(addr: IpAddr): SwitchPort | null {
    if (typeof addr === 'number') return this.v4.get(addr >>> 0) ?? null;
    const list = this.v6.get(addr.w3);
    if (list !== undefined) for (const e of list) if (e.addr.equals(addr)) return e.port;
    return null;
  }

  /** The port a frame is for: its IPv4 or IPv6 destination's; undefined for a frame that is neither. */
  private routeFrame(frame: Uint8Array): SwitchPort | null | undefined {
    const version = frame.length > 0 ? frame[0]! >> 4 : 0;
    if (version === 4 && frame.length >= 20) {
      const dst = ((frame[16]! << 24) | (frame[17]! << 16) | (frame[18]! << 8) | frame[19]!) >>> 0;
      return this.v4.get(dst) ?? null;
    }
    if (version === 6 && frame.length >= 40) {
      const w3 = ((frame[36]! << 24) | (frame[37]! << 16) | (frame[38]! << 8) | frame[39]!) >>> 0;
      const list = this.v6.get(w3);
      if (list !== undefined) for (const e of list) if (e.addr.matches(frame, 24)) return e.port;
      return null;
    }
    return undefined;
  }

  /** @internal A frame from `from`'s host, out of its up pipeline: forward it or drop it (counted). */
  input(from: SwitchPort, frame: Uint8Array): void {
    const st = this.stats;
    st.received++;
    const to = this.routeFrame(frame);
    if (to === undefined) {
      st.malformed++;
      this.frames.give(frame);
      return;
    }
    if (to === null) {
      st.noRoute++;
      this.frames.give(frame);
      return;
    }
    if (from.group >= 0 && to.group >= 0 && from.group !== to.group) {
      st.partitioned++;
      this.frames.give(frame);
      return;
    }
    if (!to.down.up) {
      st.linkDown++;
      this.frames.give(frame);
      return;
    }
    st.forwarded++;
    if (this.pcap !== undefined) this.pcap.write(this.clock.now(), frame);
    to.down.send(frame);
  }
}

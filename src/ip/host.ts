// What the IP layer needs from its Stack. Defined here, implemented by the
// Stack, so ip/ depends only on the layers below it.
import type { Netif } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { PbufPool } from '../pbuf/pool.ts';
import type { Stats } from '../stats.ts';
import type { Clock } from '../time/clock.ts';
import type { Rng } from '../time/rng.ts';
import type { Timer, TimerCallback } from '../time/timer-heap.ts';
import type { IpAddr } from '../wire/ipaddr.ts';

export interface IpHost {
  readonly pool: PbufPool;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly stats: Stats;
  readonly netifs: readonly Netif[];
  /** A timer whose callback runs as stack work (marked busy, deferred work drained after). */
  /** A timer whose callback runs as stack work; `name` labels it in errors (a runaway timer). */
  timer(cb: TimerCallback, name?: string | (() => string)): Timer;
}

/**
 * Facts about the IP packet being delivered to a transport protocol (lwIP's
 * ip_data). One instance per stack, rewritten for each packet: copy what
 * must outlive the handler call.
 */
export interface IpInfo {
  /** A u32 for IPv4, an Ip6Addr for IPv6 (see wire/ipaddr.ts). */
  src: IpAddr;
  dst: IpAddr;
  /** The upper-layer protocol (IPv6: the last Next Header). */
  protocol: number;
  /** TTL or hop limit. */
  ttl: number;
  /** TOS byte or traffic class. */
  tos: number;
  /** Bytes of IP header that were removed in front of the payload. */
  headerLen: number;
  /** The netif the packet came in on. */
  netif: Netif;
  /** True if addressed to a broadcast address. */
  broadcast: boolean;
  /**
   * For a broadcast: the netif whose broadcast address it is (lwIP's
   * ip_current_netif). Usually `netif`; a directed broadcast for the subnet
   * of another of our netifs is accepted for that one (lwIP ip4_input).
   */
  broadcastNetif?: Netif | null;
  /** True if addressed to a multicast group. */
  multicast: boolean;
}

/** A transport protocol's input: takes ownership of `p`, whose payload starts at the transport header. */
export type ProtocolInput = (p: Pbuf, info: IpInfo) => void;

/**
 * Where the IP layer reports datagrams it cannot deliver, so ICMP can
 * answer. `p` starts at the offending datagram's IP header; the sink does
 * not take ownership.
 */
export interface IcmpErrorSink {
  /** `code` is the IPv4 code; an IPv6 sink maps it (port 3 to 4, protocol 2 to a parameter problem). */
  destUnreachable(p: Pbuf, code: number): void;
  timeExceeded(p: Pbuf, code: number): void;
}

/** What an ICMP error means to a transport, the same for both families. */
export const IcmpErrorKind = {
  /** Net/host/address unreachable (a soft error once connected). */
  UNREACHABLE: 1,
  /** Port or protocol unreachable: nobody listens (hard). */
  REFUSED: 2,
  /** Packet too big / fragmentation needed: `nextHopMtu` holds the MTU. */
  TOO_BIG: 3,
  TIME_EXCEEDED: 4,
  PARAMETER: 5,
  /** Administratively prohibited, source route failed, and other codes. */
  OTHER: 6,
} as const;
export type IcmpErrorKind = (typeof IcmpErrorKind)[keyof typeof IcmpErrorKind];

/** An ICMP or ICMPv6 error about a datagram we sent, as a transport protocol sees it. */
export interface IcmpErrorReport {
  family: 4 | 6;
  /** The message's own type and code (ICMP or ICMPv6 numbering, per family). */
  type: number;
  code: number;
  kind: IcmpErrorKind;
  /** For TOO_BIG: the next-hop MTU (RFC 1191 / RFC 8201), else 0. */
  nextHopMtu: number;
  /** Who reported it. */
  reporter: IpAddr;
  /** The original datagram's addresses and upper-layer protocol. */
  origSrc: IpAddr;
  origDst: IpAddr;
  protocol: number;
  /** The first bytes of the original transport header (at least 8 when present). */
  transportHeader: Uint8Array;
}

/**
 * One address family's IP layer as TCP and UDP use it (through the Ip mux
 * in ip.ts): routing, source selection, output, the pseudo-header checksum.
 * Addresses passed in are of the layer's own family.
 */
export interface IpFamilyLayer {
  readonly family: 4 | 6;
  /** Fixed header bytes (20 or 40): what MSS and MTU arithmetic subtract. */
  readonly headerLen: number;
  /** The smallest MTU every link of the family carries (576 for IPv4 paths, 1280 for IPv6). */
  readonly minMtu: number;
  /** Largest upper-layer length one datagram carries (65515 for IPv4, 65535 for IPv6 without jumbograms). */
  readonly maxPayload: number;
  /** UDP datagrams must carry a checksum (IPv6, RFC 8200 §8.1: a zero one is dropped). */
  readonly udpChecksumRequired: boolean;
  readonly defaultTtl: number;
  /** The wildcard address (0 or ::). */
  readonly any: IpAddr;
  loopback: Netif | null;
  icmpErrors: IcmpErrorSink | null;
  register(protocol: number, input: ProtocolInput): void;
  isLocal(a: IpAddr): boolean;
  route(dst: IpAddr): Netif | null;
  /** Our address for a datagram to `dst` leaving through `netif` (RFC 6724 for IPv6). */
  sourceFor(netif: Netif, dst: IpAddr): IpAddr;
  /** The netif's MTU for this family, 0 if the family is off on it. */
  mtuOf(netif: Netif): number;
  /** Unfolded ones' complement sum of the pseudo-header (RFC 793 / RFC 8200 §8.1). */
  pseudoSum(src: IpAddr, dst: IpAddr, protocol: number, length: number): number;
  /**
   * Send `p` (payload at the transport header); does not take ownership.
   * `src` any picks the source. `flowLabel` is IPv6's (RFC 6437), ignored by IPv4.
   */
  output(p: Pbuf, src: IpAddr, dst: IpAddr, protocol: number, ttl?: number, tos?: number, dontFragment?: boolean, flowLabel?: number): number;
  close(): void;
}

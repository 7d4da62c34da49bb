// Ingress filtering: which received datagrams carry an address no real
// peer can have (RFC 1122 3.2.1.3, RFC 1812 5.3.7, RFC 6890). Dropping them
// before any protocol runs is what stops LAND (a SYN from our own address
// and port makes the stack answer itself) and SYN_RCVD entries for
// 0.0.0.0. Pure classification; the caller counts and drops.
import type { Netif } from '../netif/netif.ts';
import type { MartianCounters } from '../stats.ts';

export type MartianReason = keyof MartianCounters;

/**
 * The reason a datagram from `src` to `dst` arriving on `netif` is a
 * martian, or null if it may be processed. `fromOutside` is false on the
 * loopback netif, where our own and 127/8 addresses are legal (that is how
 * the stack talks to itself). `isOwn(a)` says whether `a` is one of our
 * netifs' addresses.
 *
 * 0.0.0.0 is refused for every protocol: RFC 1122 allows it only while a
 * host learns its address (DHCP/BOOTP requests), which only a DHCP server
 * receives, and tsip runs none. 240.0.0.0/4 (class E) is refused as
 * reserved (RFC 1112 4, RFC 6890), as Linux's default routing of it is an
 * opt-in, not a norm.
 */
export function martianReason(src: number, dst: number, netif: Netif, fromOutside: boolean, isOwn: (a: number) => boolean): MartianReason | null {
  if (src === 0) return 'unspecifiedSrc';
  if (src === 0xffffffff) return 'broadcastSrc';
  const top4 = src >>> 28;
  if (top4 === 0xe) return 'multicastSrc';
  if (top4 === 0xf) return 'reservedSrc';
  if (fromOutside) {
    if (src >>> 24 === 127) return 'loopbackSrc';
    if (dst >>> 24 === 127) return 'loopbackDst';
    if (isOwn(src)) return 'ownSrc';
  }
  if (netif.isNetworkAddress(src)) return 'networkSrc';
  if (netif.isBroadcast(src)) return 'subnetBroadcastSrc';
  return null;
}

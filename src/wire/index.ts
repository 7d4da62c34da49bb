// Stateless byte views of IPv4/TCP/UDP/ICMP headers, their parsed reprs,
// and the Internet checksum. The lowest layer: imports nothing from src/.
export * from './error.ts';
export * from './address.ts';
export * from './bytes.ts';
export * from './checksum.ts';
export * from './checksum6.ts';
export * from './ipv4.ts';
export * from './tcp.ts';
export * from './udp.ts';
export * from './icmp.ts';
export * from './icmpv6.ts';
export * from './view.ts';
export * from './address6.ts';
export * from './ipv6.ts';
export * from './ipv6-ext.ts';
// The address-family seam's value type (the engine's own helpers stay internal).
export {
  Ip6Addr,
  type IpAddr,
  IP6_ANY,
  IP6_LOOPBACK,
  ipEq,
  ipHash,
  ipFamily,
  ipIsAny,
  ipIsMulticast,
  ipIsLoopback,
  formatIp,
  parseIp,
  ipVersionOf,
  ipUnmapV4,
  ip6PseudoHeaderSum,
} from './ipaddr.ts';

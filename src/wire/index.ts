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

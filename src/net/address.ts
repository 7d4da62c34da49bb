// Addresses as node:net takes and reports them: net.isIP and friends, host
// strings to addresses (no DNS: literals and 'localhost'), and the
// `{ address, family, port }` of a socket, where an AF_INET6 socket (node
// makes one for an IPv6 host or a '::' listener) writes IPv4 peers as
// '::ffff:a.b.c.d', as node reports them on Linux.
import { formatIp, Ip6Addr, parseIp, type IpAddr } from '../wire/ipaddr.ts';
import { parseIpv4Address } from '../wire/address.ts';

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** node's net.isIPv4: a dotted quad (no leading zeros). */
export function isIPv4(input: unknown): boolean {
  return parseIpv4Address(String(input)) !== null;
}

/** node's net.isIPv6: RFC 4291 text, a zone id (`fe80::1%eth0`) allowed; no brackets. */
export function isIPv6(input: unknown): boolean {
  const s = String(input);
  if (!s.includes(':')) return false;
  const pct = s.indexOf('%');
  if (pct >= 0 && !/^[0-9a-zA-Z\-.:]+$/.test(s.slice(pct + 1))) return false;
  return Ip6Addr.parse(pct >= 0 ? s.slice(0, pct) : s) !== null;
}

/** node's net.isIP: 4, 6, or 0 for anything else. */
export function isIP(input: unknown): 0 | 4 | 6 {
  return isIPv4(input) ? 4 : isIPv6(input) ? 6 : 0;
}

/** An IP literal (brackets and a zone id tolerated), or null. */
export function parseHostLiteral(host: string): IpAddr | null {
  let h = host;
  if (h.length >= 2 && h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  const pct = h.indexOf('%');
  if (pct > 0 && h.includes(':')) h = h.slice(0, pct);
  return parseIp(h);
}

/**
 * `ip`:`port` as node reports it for a socket of the IPv6 family (`v6`)
 * or not: an IPv4 address on an IPv6 socket is '::ffff:a.b.c.d'.
 */
export function addressInfo(ip: IpAddr, port: number, v6: boolean): AddressInfo {
  if (!v6 && typeof ip === 'number') return { address: formatIp(ip), family: 'IPv4', port };
  const address = typeof ip === 'number' ? (ip === 0 ? '::' : formatIp(Ip6Addr.v4Mapped(ip))) : formatIp(ip);
  return { address, family: 'IPv6', port };
}

/** The stack has IPv6 on a netif other than loopback (so a listener without a host takes '::'). */
export function stackHasIPv6(stack: { readonly netifs: readonly { readonly addrs6: readonly unknown[] }[]; readonly loopback: unknown }): boolean {
  return stack.netifs.some((n) => n !== stack.loopback && n.addrs6.length > 0);
}

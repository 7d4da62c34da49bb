// Addresses in the services' output: 'a.b.c.d:port' for IPv4 (also when it
// reached a dual '::' listener as '::ffff:a.b.c.d'), '[addr]:port' for
// IPv6, in RFC 5952 form.
import { formatIp, ipUnmapV4, parseIp, type IpAddr } from '../wire/ipaddr.ts';

/** host:port of `ip` (an address or its text), '[host]:port' for IPv6. */
export function hostPort(ip: IpAddr | string | undefined, port: number | undefined): string {
  let a: IpAddr | null = typeof ip === 'string' ? parseIp(ip) : ip ?? null;
  if (a === null) return `${String(ip)}:${String(port)}`;
  a = ipUnmapV4(a);
  return typeof a === 'number' ? `${formatIp(a)}:${String(port)}` : `[${formatIp(a)}]:${String(port)}`;
}

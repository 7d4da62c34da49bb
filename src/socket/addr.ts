// Socket addresses of both families, as CPython and Linux treat them.
//
// AF_INET: (host, port), host a dotted quad, '' (any) or 'localhost'.
// AF_INET6: (host, port[, flowinfo[, scopeid]]) on input, always the
// 4-tuple on output; host RFC 4291 text ('[::1]' and a zone '%eth0' are
// accepted and the zone ignored), '' (any) or 'localhost' (::1). An IPv4
// peer of a dual-stack AF_INET6 socket is '::ffff:a.b.c.d', as Linux
// reports it; sending or connecting to such an address uses IPv4.
//
// Errors, Linux's: an IPv6 address given to an AF_INET socket is
// EAFNOSUPPORT (the kernel's answer to a sockaddr_in6 there); a dotted quad
// given to an AF_INET6 socket is EINVAL (the kernel's answer to a
// sockaddr_in there: too short). CPython raises socket.gaierror
// (EAI_ADDRFAMILY) for both from its resolver; tsip has no resolver.
import { formatIp, Ip6Addr, IP6_ANY, IP6_LOOPBACK, parseIp, type IpAddr } from '../wire/ipaddr.ts';
import { AF_INET, AF_INET6 } from './constants.ts';
import { errno, OSError } from './errors.ts';

/** An IPv4 socket address as MicroPython's getaddrinfo gives it: (host, port). */
export type SockAddr = readonly [host: string, port: number];
/**
 * An IPv6 socket address as CPython gives it: (host, port, flowinfo,
 * scopeid), four elements at run time. Typed as a SockAddr with elements
 * 2 and 3, so that it is a SockAddr and an AF_INET6 socket is a Socket
 * wherever one is taken (its `length` is therefore typed 2).
 */
export type SockAddr6 = SockAddr & { readonly 2: number; readonly 3: number };
/** A socket address of either family: (host, port) of AF_INET sockets, (host, port, flowinfo, scopeid) of AF_INET6 ones. */
export type AnySockAddr = SockAddr | SockAddr6;
/** What bind/connect/sendto take: (host, port), or for AF_INET6 also (host, port, flowinfo[, scopeid]). */
export type SockAddrArg = SockAddr | readonly [host: string, port: number, flowinfo: number] | readonly [host: string, port: number, flowinfo: number, scopeid: number];

function addr6(host: string, port: number): SockAddr6 {
  return [host, port, 0, 0] as unknown as SockAddr6;
}

const LOOPBACK4 = 0x7f000001;

function checkPort(port: unknown): number {
  if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 0xffff) throw new OSError(errno.EINVAL, `bad port ${String(port)}`);
  return port as number;
}

/** Text to an address: brackets and a zone id are dropped; null if it is neither family's literal. */
function literal(host: string): IpAddr | null {
  let h = host;
  if (h.length >= 2 && h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  const pct = h.indexOf('%');
  if (pct > 0 && h.includes(':')) h = h.slice(0, pct);
  return parseIp(h);
}

/**
 * ('a.b.c.d' | 'localhost' | '', port) → [u32, port] for AF_INET;
 * (host, port[, flowinfo[, scopeid]]) → [Ip6Addr, port] for AF_INET6
 * (still mapped: see unmapFor). OSError EINVAL / EAFNOSUPPORT otherwise.
 */
export function parseSockAddr(addr: SockAddrArg, af: number): [IpAddr, number] {
  if (af === AF_INET6) return parseSockAddr6(addr);
  if (!Array.isArray(addr) || addr.length !== 2) throw new OSError(errno.EINVAL, 'address must be (host, port)');
  const [host, port] = addr as SockAddrArg;
  checkPort(port);
  let ip: IpAddr | null;
  if (host === '' || host === '0.0.0.0') ip = 0;
  else if (host === 'localhost') ip = LOOPBACK4;
  else ip = typeof host === 'string' ? literal(host) : null;
  if (ip !== null && typeof ip !== 'number') throw new OSError(errno.EAFNOSUPPORT, `an IPv6 address (${host}) on an AF_INET socket: use socket(AF_INET6, ...)`);
  if (ip === null) throw new OSError(errno.EINVAL, `not an IPv4 address: ${String(host)} (no DNS in tsip)`);
  return [ip, port];
}

function parseSockAddr6(addr: SockAddrArg): [Ip6Addr, number] {
  if (!Array.isArray(addr) || addr.length < 2 || addr.length > 4) throw new OSError(errno.EINVAL, 'address must be (host, port[, flowinfo[, scopeid]])');
  const [host, port, flowinfo = 0, scopeid = 0] = addr as readonly [string, number, number?, number?];
  checkPort(port);
  if (!Number.isInteger(flowinfo) || flowinfo < 0 || flowinfo > 0xfffff) throw new OSError(errno.EINVAL, `flowinfo must be 0-1048575, got ${String(flowinfo)}`);
  if (!Number.isInteger(scopeid) || scopeid < 0 || scopeid > 0xffffffff) throw new OSError(errno.EINVAL, `bad scopeid ${String(scopeid)}`);
  let ip: IpAddr | null;
  if (host === '') ip = IP6_ANY;
  else if (host === 'localhost') ip = IP6_LOOPBACK;
  else ip = typeof host === 'string' ? literal(host) : null;
  if (typeof ip === 'number') throw new OSError(errno.EINVAL, `an IPv4 address (${host}) on an AF_INET6 socket: use '::ffff:${host}'`);
  if (ip === null) throw new OSError(errno.EINVAL, `not an IPv6 address: ${String(host)} (no DNS in tsip)`);
  return [ip, port];
}

/**
 * Where an AF_INET6 socket really sends/connects to: ::ffff:a.b.c.d is
 * IPv4 (ENETUNREACH on a v6only socket, as Linux); others as they are.
 */
export function peerFor(ip: IpAddr, v6only: boolean): IpAddr {
  if (typeof ip === 'number' || !ip.isV4Mapped) return ip;
  if (v6only) throw new OSError(errno.ENETUNREACH, `${formatIp(ip)}: an IPv4-mapped address on an IPV6_V6ONLY socket`);
  return ip.w3;
}

/** What an AF_INET6 socket binds for `ip`: ::ffff:a.b.c.d is IPv4 (EINVAL on a v6only socket, as Linux). */
export function localFor(ip: IpAddr, v6only: boolean): IpAddr {
  if (typeof ip === 'number' || !ip.isV4Mapped) return ip;
  if (v6only) throw new OSError(errno.EINVAL, `${formatIp(ip)}: an IPv4-mapped address on an IPV6_V6ONLY socket`);
  return ip.w3;
}

/** The socket address of `ip`:`port` as a socket of family `af` reports it (IPv4 on AF_INET6 as ::ffff:a.b.c.d, 0.0.0.0 as ::). */
export function sockAddrOf(af: number, ip: IpAddr, port: number): AnySockAddr {
  if (af !== AF_INET6) return [formatIp(ip), port];
  // An IPv4 peer of a dual-stack socket: '::ffff:' and the dotted quad, as
  // formatting the mapped IPv6 address writes it (RFC 5952 §5), without making one.
  if (typeof ip === 'number') return addr6(ip === 0 ? '::' : `::ffff:${formatIp(ip)}`, port);
  return addr6(formatIp(ip), port);
}

/** The family a socket address is written in: AF_INET6 for a 3- or 4-tuple or a host with a colon, else AF_INET. */
export function familyOfSockAddr(addr: SockAddrArg): number {
  if (!Array.isArray(addr)) return AF_INET;
  return addr.length > 2 || (typeof addr[0] === 'string' && addr[0].includes(':')) ? AF_INET6 : AF_INET;
}

/** A dotted quad as formatIp writes it: four decimal octets without leading zeros. */
const CANONICAL_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** [host, port] with '::ffff:a.b.c.d' turned back into the dotted quad (for logs and IPv4-minded handlers). */
export function plainSockAddr(addr: AnySockAddr): AnySockAddr {
  if ((addr as readonly unknown[]).length !== 4 || !addr[0].startsWith('::ffff:')) return addr;
  // The form sockAddrOf writes (a canonical dotted quad after the prefix) needs no parse (one per accepted connection).
  const tail = addr[0].slice(7);
  if (CANONICAL_QUAD.test(tail)) return [tail, addr[1]];
  const ip = parseIp(addr[0]);
  return ip !== null && typeof ip !== 'number' && ip.isV4Mapped ? [formatIp(ip.w3), addr[1]] : addr;
}

/** A getaddrinfo entry: (family, type, proto, canonname, sockaddr). */
export type AddrInfo = [family: number, type: number, proto: number, canonname: string, sockaddr: AnySockAddr];

/** Where names that are not IP literals are looked up (a Stack's HostTable: stack.names). */
export interface HostNames {
  lookup(name: string, family?: 0 | 4 | 6): IpAddr[];
}

/**
 * The addresses `host` stands for, by family: IP literals of either
 * family (brackets allowed), '' (the wildcard) and 'localhost'
 * (127.0.0.1, then ::1), and with `names` the names in that table (a
 * simulator's host names). `af` 0 gives both where both exist.
 */
export function resolveLiteral(host: string, af: number, names?: HostNames): IpAddr[] {
  if (af !== 0 && af !== AF_INET && af !== AF_INET6) throw new OSError(errno.EAFNOSUPPORT, `address family ${af}`);
  if (typeof host !== 'string') throw new OSError(errno.EINVAL, 'host must be a string');
  if (host === '') return [af === AF_INET6 ? IP6_ANY : 0];
  if (host === 'localhost') return af === AF_INET ? [LOOPBACK4] : af === AF_INET6 ? [IP6_LOOPBACK] : [LOOPBACK4, IP6_LOOPBACK];
  const ip = literal(host);
  if (ip === null) {
    const found = names?.lookup(host, af === AF_INET ? 4 : af === AF_INET6 ? 6 : 0) ?? [];
    if (found.length > 0) return found;
    throw new OSError(errno.EINVAL, `not an IP address${names !== undefined ? ' nor a known host name' : ''}: ${host} (no DNS in tsip)`);
  }
  if ((af === AF_INET && typeof ip !== 'number') || (af === AF_INET6 && typeof ip === 'number')) {
    throw new OSError(errno.EAFNOSUPPORT, `${host} is not an address of family ${af === AF_INET ? 'AF_INET' : 'AF_INET6'}`);
  }
  return [ip];
}

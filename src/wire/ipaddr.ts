// One address type for both families (the address-family seam). An IPv4
// address stays what it always was, a u32 number, so the IPv4 paths keep
// their speed and allocate nothing; an IPv6 address is an immutable Ip6Addr
// value (four 32-bit words in network order and a precomputed hash).
// Compare with ipEq, hash with ipHash: both are cheap for both families and
// never allocate. Ip6Addr values are not interned: two objects holding the
// same address are equal under ipEq, never compare them with ===.
import { formatIpv4Address, ipv4IsLoopback, ipv4IsMulticast, parseIpv4Address } from './address.ts';
import { formatIpv6Address, parseIpv6Address } from './address6.ts';

export class Ip6Addr {
  /** Words in network order: w0 holds bytes 0..3. */
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  /** A 32-bit mix of the words (not keyed: tables check the full address). */
  readonly hash: number;

  constructor(w0: number, w1: number, w2: number, w3: number) {
    this.w0 = w0 >>> 0;
    this.w1 = w1 >>> 0;
    this.w2 = w2 >>> 0;
    this.w3 = w3 >>> 0;
    let h = Math.imul(this.w0 ^ 0x7f4a7c15, 0x85ebca6b);
    h = Math.imul(h ^ this.w1 ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ this.w2 ^ (h >>> 16), 0x27d4eb2f);
    h = Math.imul(h ^ this.w3 ^ (h >>> 15), 0x165667b1);
    this.hash = (h ^ (h >>> 16)) >>> 0;
  }

  /** The address at buf[off, off+16). */
  static fromBytes(buf: Uint8Array, off = 0): Ip6Addr {
    return new Ip6Addr(rd32(buf, off), rd32(buf, off + 4), rd32(buf, off + 8), rd32(buf, off + 12));
  }

  /** Parse RFC 4291/5952 text (no brackets, no zone), or null. */
  static parse(s: string): Ip6Addr | null {
    const b = parseIpv6Address(s);
    return b === null ? null : Ip6Addr.fromBytes(b);
  }

  /** ::ffff:a.b.c.d for an IPv4 address. */
  static v4Mapped(v4: number): Ip6Addr {
    return new Ip6Addr(0, 0, 0xffff, v4);
  }

  /** True if buf[off, off+16) holds this address. */
  matches(buf: Uint8Array, off: number): boolean {
    return rd32(buf, off) === this.w0 && rd32(buf, off + 4) === this.w1 && rd32(buf, off + 8) === this.w2 && rd32(buf, off + 12) === this.w3;
  }

  equals(o: Ip6Addr): boolean {
    return this.w3 === o.w3 && this.w2 === o.w2 && this.w1 === o.w1 && this.w0 === o.w0;
  }

  writeTo(buf: Uint8Array, off: number): void {
    wr32(buf, off, this.w0);
    wr32(buf, off + 4, this.w1);
    wr32(buf, off + 8, this.w2);
    wr32(buf, off + 12, this.w3);
  }

  bytes(): Uint8Array {
    const b = new Uint8Array(16);
    this.writeTo(b, 0);
    return b;
  }

  get isUnspecified(): boolean {
    return (this.w0 | this.w1 | this.w2 | this.w3) === 0;
  }

  get isLoopback(): boolean {
    return (this.w0 | this.w1 | this.w2) === 0 && this.w3 === 1;
  }

  /** ff00::/8 */
  get isMulticast(): boolean {
    return this.w0 >>> 24 === 0xff;
  }

  /** fe80::/10 */
  get isLinkLocal(): boolean {
    return this.w0 >>> 22 === 0x3fa;
  }

  /** ::ffff:0:0/96 */
  get isV4Mapped(): boolean {
    return this.w0 === 0 && this.w1 === 0 && this.w2 === 0xffff;
  }

  /** The IPv4 address inside ::ffff:a.b.c.d, or -1. */
  get mappedV4(): number {
    return this.isV4Mapped ? this.w3 : -1;
  }

  /** True if the first `prefixLen` bits equal those of `o`. */
  samePrefix(o: Ip6Addr, prefixLen: number): boolean {
    return (
      wordMatch(this.w0, o.w0, prefixLen) && wordMatch(this.w1, o.w1, prefixLen - 32) && wordMatch(this.w2, o.w2, prefixLen - 64) && wordMatch(this.w3, o.w3, prefixLen - 96)
    );
  }

  /** Leading bits this address shares with `o` (0..128): RFC 6724 rule 8. */
  commonPrefixLen(o: Ip6Addr): number {
    let x = this.w0 ^ o.w0;
    if (x !== 0) return Math.clz32(x);
    x = this.w1 ^ o.w1;
    if (x !== 0) return 32 + Math.clz32(x);
    x = this.w2 ^ o.w2;
    if (x !== 0) return 64 + Math.clz32(x);
    x = this.w3 ^ o.w3;
    return x !== 0 ? 96 + Math.clz32(x) : 128;
  }

  toString(): string {
    return formatIpv6Address(this.bytes());
  }
}

/** An address of either family: a u32 for IPv4, an Ip6Addr for IPv6. */
export type IpAddr = number | Ip6Addr;

export const IP6_ANY: Ip6Addr = new Ip6Addr(0, 0, 0, 0);
export const IP6_LOOPBACK: Ip6Addr = new Ip6Addr(0, 0, 0, 1);

/** Address equality across families (an IPv4 address never equals an IPv6 one). */
export function ipEq(a: IpAddr, b: IpAddr): boolean {
  if (a === b) return true;
  return typeof a !== 'number' && typeof b !== 'number' && a.w3 === b.w3 && a.w2 === b.w2 && a.w1 === b.w1 && a.w0 === b.w0;
}

/** A 32-bit hash input for tables: the address itself for IPv4. */
export function ipHash(a: IpAddr): number {
  return typeof a === 'number' ? a : a.hash;
}

export function ipIsV6(a: IpAddr): a is Ip6Addr {
  return typeof a !== 'number';
}

export function ipFamily(a: IpAddr): 4 | 6 {
  return typeof a === 'number' ? 4 : 6;
}

/** 0.0.0.0 or :: (a wildcard bind). */
export function ipIsAny(a: IpAddr): boolean {
  return typeof a === 'number' ? a === 0 : a.isUnspecified;
}

/** The wildcard of `a`'s family. */
export function ipAnyOf(a: IpAddr): IpAddr {
  return typeof a === 'number' ? 0 : IP6_ANY;
}

export function ipIsMulticast(a: IpAddr): boolean {
  return typeof a === 'number' ? ipv4IsMulticast(a) : a.isMulticast;
}

export function ipIsLoopback(a: IpAddr): boolean {
  return typeof a === 'number' ? ipv4IsLoopback(a) : a.isLoopback;
}

/** Dotted quad or RFC 5952 text. */
export function formatIp(a: IpAddr): string {
  return typeof a === 'number' ? formatIpv4Address(a) : a.toString();
}

/**
 * Parse either family's text form: a dotted quad gives a number, anything
 * with a colon an Ip6Addr (brackets `[::1]` are accepted and stripped; a
 * zone id `%eth0` is not). Null if it is neither.
 */
export function parseIp(s: string): IpAddr | null {
  if (s.length >= 2 && s.charCodeAt(0) === 0x5b && s.charCodeAt(s.length - 1) === 0x5d) s = s.slice(1, -1);
  if (s.includes(':')) return Ip6Addr.parse(s);
  return parseIpv4Address(s);
}

/**
 * An address argument: a u32 or an Ip6Addr as is, or either family's text
 * ("10.0.0.1", "fd00::1", "[::1]"). RangeError `invalid IP <what>: <a>`
 * otherwise. (The one parser the raw APIs and the stack share.)
 */
export function toIpAddr(a: IpAddr | string, what = 'address'): IpAddr {
  if (typeof a === 'number') return a >>> 0;
  if (typeof a !== 'string') return a;
  const n = parseIp(a);
  if (n === null) throw new RangeError(`invalid IP ${what}: ${a}`);
  return n;
}

/** 0 if `s` is not an address, else 4 or 6 (node's net.isIP). */
export function ipVersionOf(s: string): 0 | 4 | 6 {
  if (typeof s !== 'string') return 0;
  if (s.includes(':')) return Ip6Addr.parse(s) !== null ? 6 : 0;
  return parseIpv4Address(s) !== null ? 4 : 0;
}

/** ::ffff:a.b.c.d becomes the IPv4 number; any other address is returned as is. */
export function ipUnmapV4(a: IpAddr): IpAddr {
  return typeof a !== 'number' && a.isV4Mapped ? a.w3 : a;
}

/** The first `bits` bits (clamped to 0..32) of a and b agree. */
function wordMatch(a: number, b: number, bits: number): boolean {
  if (bits <= 0) return true;
  const mask = bits >= 32 ? 0xffffffff : ~(0xffffffff >>> bits);
  return ((a ^ b) & mask) === 0;
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Unfolded ones' complement sum of the IPv6 pseudo-header (RFC 8200 §8.1) from address values. */
export function ip6PseudoHeaderSum(src: Ip6Addr, dst: Ip6Addr, nextHeader: number, upperLength: number): number {
  const len = upperLength >>> 0;
  return (
    (src.w0 >>> 16) + (src.w0 & 0xffff) + (src.w1 >>> 16) + (src.w1 & 0xffff) + (src.w2 >>> 16) + (src.w2 & 0xffff) + (src.w3 >>> 16) + (src.w3 & 0xffff) +
    (dst.w0 >>> 16) + (dst.w0 & 0xffff) + (dst.w1 >>> 16) + (dst.w1 & 0xffff) + (dst.w2 >>> 16) + (dst.w2 & 0xffff) + (dst.w3 >>> 16) + (dst.w3 & 0xffff) +
    (len >>> 16) + (len & 0xffff) + (nextHeader & 0xff)
  );
}

/**
 * How well a socket bound to `bound` (with IPV6_V6ONLY `v6only`) matches a
 * packet to `dst`: 3 the same address, 2 the wildcard of dst's family,
 * 1 a dual-stack :: taking an IPv4 packet, 0 no match.
 */
export function bindAccepts(bound: IpAddr, v6only: boolean, dst: IpAddr): 0 | 1 | 2 | 3 {
  if (typeof bound === 'number') {
    if (typeof dst !== 'number') return 0;
    return bound === dst ? 3 : bound === 0 ? 2 : 0;
  }
  if (typeof dst === 'number') return bound.isUnspecified && !v6only ? 1 : 0;
  return bound.equals(dst) ? 3 : bound.isUnspecified ? 2 : 0;
}

/**
 * Whether two binds to one port would take the same packets (a bind()
 * conflict without SO_REUSEADDR): equal addresses, or a wildcard covering
 * the other (a dual :: covers every IPv4 address; a v6-only one does not).
 */
export function bindsOverlap(a: IpAddr, aV6only: boolean, b: IpAddr, bV6only: boolean): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === 0 || b === 0 || a === b;
  if (typeof a !== 'number' && typeof b !== 'number') return a.isUnspecified || b.isUnspecified || a.equals(b);
  const six = (typeof a === 'number' ? b : a) as Ip6Addr;
  const sixOnly = typeof a === 'number' ? bV6only : aV6only;
  return six.isUnspecified && !sixOnly;
}

/**
 * Write a 4-tuple as 32-bit words for a keyed hash: [localIp, remoteIp,
 * ports] for IPv4 (3 words, as before IPv6), the full addresses for IPv6
 * (9 words). Returns the word count; `out` needs room for 9.
 */
export function tupleWords(out: Uint32Array, localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number): number {
  let i = 0;
  if (typeof localIp === 'number') out[i++] = localIp;
  else {
    out[i++] = localIp.w0;
    out[i++] = localIp.w1;
    out[i++] = localIp.w2;
    out[i++] = localIp.w3;
  }
  if (typeof remoteIp === 'number') out[i++] = remoteIp;
  else {
    out[i++] = remoteIp.w0;
    out[i++] = remoteIp.w1;
    out[i++] = remoteIp.w2;
    out[i++] = remoteIp.w3;
  }
  out[i++] = ((localPort & 0xffff) << 16) | (remotePort & 0xffff);
  return i;
}

/** Whether a socket bound to `bound` can send to `dst`: same family, or a dual-stack :: (an unbound socket reaches both). */
export function bindReaches(bound: IpAddr, v6only: boolean, dst: IpAddr): boolean {
  if (typeof bound === typeof dst) return true;
  return typeof bound !== 'number' && bound.isUnspecified && !v6only;
}

// IPv6 addresses (RFC 4291) as 16-byte Uint8Arrays in network order. The
// caller owns the arrays: helpers read `a[off, off+16)` and write into a
// given array, so hot paths can compare and copy addresses in place inside
// packet buffers without allocating.
import { parseIpv4Address } from './address.ts';

export const IPV6_ADDR_LEN = 16;

/** A new all-zero address (::). Allocates: not for hot paths. */
export function ipv6Any(): Uint8Array {
  return new Uint8Array(IPV6_ADDR_LEN);
}

/** A new ::1. Allocates: not for hot paths. */
export function ipv6Loopback(): Uint8Array {
  const a = new Uint8Array(IPV6_ADDR_LEN);
  a[15] = 1;
  return a;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20; // ASCII lowercase
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * Parse the text forms of RFC 4291 §2.2: eight groups of 1-4 hex digits,
 * one `::` for a run of zero groups, and a dotted quad in place of the last
 * two groups (`::ffff:10.0.0.1`). Zone ids (`fe80::1%eth0`) are rejected:
 * they name an interface, not part of the address, and belong to the
 * caller (RFC 6874). So are prefixes (`/64`), brackets and spaces.
 * Writes into `out` (or a new array) and returns it, or null if `s` is not
 * an address; `out` is then left with unspecified contents.
 */
export function parseIpv6Address(s: string, out: Uint8Array = new Uint8Array(IPV6_ADDR_LEN), outOff = 0): Uint8Array | null {
  // 45 = the longest form, ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255.
  if (s.length < 2 || s.length > 45) return null;
  if (!(outOff >= 0 && outOff + IPV6_ADDR_LEN <= out.length)) throw new RangeError(`parseIpv6Address: no room for 16 bytes at ${outOff}`);
  // Groups before `::` go to out from the front; groups after it are
  // collected the same way and then moved to the end.
  let ngroups = 0; // 16-bit groups written so far
  let gap = -1; // group index where `::` stands
  let i = 0;
  const n = s.length;
  if (s.charCodeAt(0) === 0x3a) {
    // A leading ':' is only valid as part of a leading '::'.
    if (s.charCodeAt(1) !== 0x3a) return null;
    gap = 0;
    i = 2;
    if (i === n) {
      out.fill(0, outOff, outOff + IPV6_ADDR_LEN);
      return out;
    }
  }
  for (;;) {
    // One group (or a dotted quad) starting at i.
    let v = 0;
    let digits = 0;
    const start = i;
    while (i < n) {
      const h = hexVal(s.charCodeAt(i));
      if (h < 0) break;
      v = (v << 4) | h;
      digits++;
      i++;
    }
    if (i < n && s.charCodeAt(i) === 0x2e) {
      // Embedded IPv4: must be the last thing and fill the last two groups.
      if (ngroups > 6) return null;
      const v4 = parseIpv4Address(s.slice(start));
      if (v4 === null) return null;
      const o = outOff + 2 * ngroups;
      out[o] = v4 >>> 24;
      out[o + 1] = v4 >>> 16;
      out[o + 2] = v4 >>> 8;
      out[o + 3] = v4;
      ngroups += 2;
      break;
    }
    if (digits === 0 || digits > 4) return null;
    if (ngroups >= 8) return null;
    out[outOff + 2 * ngroups] = v >>> 8;
    out[outOff + 2 * ngroups + 1] = v;
    ngroups++;
    if (i === n) break;
    if (s.charCodeAt(i) !== 0x3a) return null;
    i++;
    if (i < n && s.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return null; // a second `::`
      gap = ngroups;
      i++;
      if (i === n) break; // trailing `::`
    } else if (i === n) {
      return null; // trailing single ':'
    }
  }
  if (gap < 0) return ngroups === 8 ? out : null;
  // `::` stands for at least one zero group (RFC 4291 §2.2 item 2).
  if (ngroups > 7) return null;
  const tail = ngroups - gap; // groups after the gap
  const zeros = 8 - ngroups;
  const from = outOff + 2 * gap;
  out.copyWithin(from + 2 * zeros, from, from + 2 * tail);
  out.fill(0, from, from + 2 * zeros);
  return out;
}

/**
 * RFC 5952 text: lowercase hex without leading zeros, the longest run of
 * two or more zero groups as `::` (the first one on a tie), and
 * IPv4-mapped addresses as `::ffff:a.b.c.d` (§5). Allocates the string.
 */
export function formatIpv6Address(a: Uint8Array, off = 0): string {
  if (ipv6IsIpv4Mapped(a, off)) {
    return `::ffff:${a[off + 12]!}.${a[off + 13]!}.${a[off + 14]!}.${a[off + 15]!}`;
  }
  // Find the longest run of zero groups (length >= 2, §4.2.2).
  let bestAt = -1;
  let bestLen = 1;
  let runAt = -1;
  for (let g = 0; g <= 8; g++) {
    const zero = g < 8 && a[off + 2 * g] === 0 && a[off + 2 * g + 1] === 0;
    if (zero) {
      if (runAt < 0) runAt = g;
    } else if (runAt >= 0) {
      if (g - runAt > bestLen) {
        bestAt = runAt;
        bestLen = g - runAt;
      }
      runAt = -1;
    }
  }
  let s = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestAt) {
      s += '::';
      g += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += (((a[off + 2 * g]! << 8) | a[off + 2 * g + 1]!) >>> 0).toString(16);
  }
  return s;
}

/** True if the 16 bytes at a[aOff] and b[bOff] are equal. */
export function ipv6Equal(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/** Negative, 0 or positive as a sorts before, equal to or after b (unsigned, network order). */
export function ipv6Compare(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): number {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) {
    const d = a[aOff + i]! - b[bOff + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Copy 16 bytes from src[srcOff] to dst[dstOff]. */
export function ipv6Copy(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) dst[dstOff + i] = src[srcOff + i]!;
}

function zeroUpTo(a: Uint8Array, off: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[off + i] !== 0) return false;
  return true;
}

/** :: (RFC 4291 §2.5.2). */
export function ipv6IsUnspecified(a: Uint8Array, off = 0): boolean {
  return zeroUpTo(a, off, 16);
}

/** ::1 (RFC 4291 §2.5.3). */
export function ipv6IsLoopback(a: Uint8Array, off = 0): boolean {
  return zeroUpTo(a, off, 15) && a[off + 15] === 1;
}

/** ff00::/8 (RFC 4291 §2.7). */
export function ipv6IsMulticast(a: Uint8Array, off = 0): boolean {
  return a[off] === 0xff;
}

/** fe80::/10 (RFC 4291 §2.5.6). */
export function ipv6IsLinkLocal(a: Uint8Array, off = 0): boolean {
  return a[off] === 0xfe && (a[off + 1]! & 0xc0) === 0x80;
}

/** fc00::/7 (RFC 4193). */
export function ipv6IsUniqueLocal(a: Uint8Array, off = 0): boolean {
  return (a[off]! & 0xfe) === 0xfc;
}

/** ::ffff:0:0/96 (RFC 4291 §2.5.5.2). */
export function ipv6IsIpv4Mapped(a: Uint8Array, off = 0): boolean {
  return zeroUpTo(a, off, 10) && a[off + 10] === 0xff && a[off + 11] === 0xff;
}

/** 2001:db8::/32 (RFC 3849). */
export function ipv6IsDocumentation(a: Uint8Array, off = 0): boolean {
  return a[off] === 0x20 && a[off + 1] === 0x01 && a[off + 2] === 0x0d && a[off + 3] === 0xb8;
}

/** Write ::ffff:`v4` (a 32-bit IPv4 address as in address.ts) into out[off]. */
export function ipv6FromIpv4Mapped(v4: number, out: Uint8Array, off = 0): Uint8Array {
  out.fill(0, off, off + 10);
  out[off + 10] = 0xff;
  out[off + 11] = 0xff;
  out[off + 12] = v4 >>> 24;
  out[off + 13] = v4 >>> 16;
  out[off + 14] = v4 >>> 8;
  out[off + 15] = v4;
  return out;
}

/** The IPv4 address inside an IPv4-mapped address, or -1 if `a` is not one. */
export function ipv6ToIpv4Mapped(a: Uint8Array, off = 0): number {
  if (!ipv6IsIpv4Mapped(a, off)) return -1;
  return ((a[off + 12]! << 24) | (a[off + 13]! << 16) | (a[off + 14]! << 8) | a[off + 15]!) >>> 0;
}

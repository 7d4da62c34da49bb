// IPv4 addresses as unsigned 32-bit numbers (host arithmetic, `>>> 0`), in
// network order: 192.168.0.1 is 0xc0a80001.

export const IPV4_ANY = 0;
export const IPV4_BROADCAST = 0xffffffff;
export const IPV4_LOOPBACK = 0x7f000001;

/**
 * Strict dotted quad: exactly four decimal parts 0..255, no signs, spaces,
 * leading zeros ("01" is rejected: inet_aton would read it as octal) or
 * shorthand forms ("10.1"). Returns null when `s` is not one.
 */
export function parseIpv4Address(s: string): number | null {
  if (s.length < 7 || s.length > 15) return null;
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  let leadingZero = false;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e; // virtual trailing '.'
    if (c === 0x2e) {
      if (digits === 0) return null;
      value = value * 256 + part;
      parts++;
      if (parts > 4) return null;
      part = 0;
      digits = 0;
      leadingZero = false;
    } else if (c >= 0x30 && c <= 0x39) {
      if (leadingZero) return null;
      if (digits === 0 && c === 0x30) leadingZero = true;
      part = part * 10 + (c - 0x30);
      digits++;
      if (part > 255) return null;
    } else {
      return null;
    }
  }
  return parts === 4 ? value >>> 0 : null;
}

export function formatIpv4Address(a: number): string {
  return `${(a >>> 24) & 0xff}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** True if `addr` is inside `net`/`mask`. */
export function ipv4InSubnet(addr: number, net: number, mask: number): boolean {
  return ((addr ^ net) & mask) === 0;
}

/** Netmask for a prefix length 0..32 (24 → 0xffffff00). Throws RangeError otherwise. */
export function prefixToMask(len: number): number {
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new RangeError(`prefix length out of range: ${len}`);
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Prefix length of a contiguous netmask, or -1 if the mask has holes. */
export function maskToPrefix(mask: number): number {
  const m = mask >>> 0;
  const inv = ~m >>> 0; // trailing ones if contiguous
  if ((inv & (inv + 1)) !== 0) return -1;
  return Math.clz32(inv); // number of leading ones in the mask
}

/** Directed broadcast of the subnet holding `addr`. */
export function ipv4SubnetBroadcast(addr: number, mask: number): number {
  return (addr | ~mask) >>> 0;
}

export function ipv4IsMulticast(a: number): boolean {
  return a >>> 28 === 0xe;
}

export function ipv4IsLoopback(a: number): boolean {
  return a >>> 24 === 127;
}

// The IPv6 pseudo-header that TCP, UDP and ICMPv6 checksums cover
// (RFC 8200 §8.1, used by ICMPv6 per RFC 4443 §2.3):
//
// |                  Source Address (16 bytes)                    |
// |               Destination Address (16 bytes)                  |
// |                   Upper-Layer Packet Length (32 bits)         |
// |                      zero (24 bits)           |  Next Header  |
//
// Addresses are 16-byte regions `buf[off, off+16)`, so callers can pass
// the IPv6 header they already hold without copying the addresses out.
import { assertRange } from './bytes.ts';

/**
 * Unfolded one's complement partial sum of the IPv6 pseudo-header, ready
 * to pass as `initial` to onesSum / chainOnesSum or to foldSum. Below 2^21,
 * so any caller-side additions stay exact. `upperLength` is the 32-bit
 * upper-layer length (jumbograms included, RFC 2675), not the IPv6 payload
 * length when extension headers sit in between. Never allocates; throws
 * RangeError only if an address is not inside its buffer.
 */
export function ipv6PseudoHeaderSum(
  srcBuf: Uint8Array,
  srcOff: number,
  dstBuf: Uint8Array,
  dstOff: number,
  upperLength: number,
  nextHeader: number,
): number {
  if (!(srcOff >= 0 && srcOff + 16 <= srcBuf.length)) assertRange(srcBuf, srcOff, 16, 'ipv6PseudoHeaderSum src');
  if (!(dstOff >= 0 && dstOff + 16 <= dstBuf.length)) assertRange(dstBuf, dstOff, 16, 'ipv6PseudoHeaderSum dst');
  // Even bytes are the high halves of the 16-bit words: sum each half
  // separately, combine once.
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 16; i += 2) {
    hi += srcBuf[srcOff + i]! + dstBuf[dstOff + i]!;
    lo += srcBuf[srcOff + i + 1]! + dstBuf[dstOff + i + 1]!;
  }
  const len = upperLength >>> 0;
  return hi * 256 + lo + (len >>> 16) + (len & 0xffff) + (nextHeader & 0xff);
}

// IPv6 fixed header (RFC 8200 §3): a zero-copy view and a parsed repr.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// |Version| Traffic Class |           Flow Label                  |
// |         Payload Length        |  Next Header  |   Hop Limit   |
// |                Source Address (16 bytes)                      |
// |             Destination Address (16 bytes)                    |
import { ByteView } from './view.ts';
import { assertRange } from './bytes.ts';
import { IPV6_ADDR_LEN, ipv6Copy, ipv6Equal } from './address6.ts';
import { WireError, WireErrorCode, wireError } from './error.ts';

/** Next Header values (IANA "Assigned Internet Protocol Numbers"). */
export const Ipv6NextHeader = {
  HOPOPTS: 0,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
} as const;
export type Ipv6NextHeader = (typeof Ipv6NextHeader)[keyof typeof Ipv6NextHeader];

export const IPV6_HEADER_LEN = 40;
/** RFC 8200 §5: every link carries at least this. */
export const IPV6_MIN_MTU = 1280;
export const IPV6_DEFAULT_HOP_LIMIT = 64;
/** Hop-by-hop Jumbo Payload option type (RFC 2675). */
export const IPV6_OPT_JUMBO = 0xc2;

const SRC_AT = 8;
const DST_AT = 24;

/**
 * A view of an IPv6 packet at `buf[off, off+len)`. Getters and setters do no
 * bounds checks: call check() first. One instance can be re-pointed with
 * wrap() at every packet (no allocation). Offsets it returns are absolute
 * indexes into `buf`.
 */
export class Ipv6View extends ByteView {
  /**
   * OK or the first problem: TRUNCATED (len < 40, or fewer bytes than 40 +
   * payload length), BAD_VERSION (version != 6), UNSUPPORTED (a jumbogram:
   * payload length 0 with a Jumbo Payload option in a hop-by-hop header,
   * RFC 2675). Bytes after the payload (Ethernet padding) are allowed.
   * Extension headers are not looked at beyond the jumbo test: see
   * walkIpv6Ext.
   */
  check(): WireErrorCode {
    if (this.len < IPV6_HEADER_LEN) return WireErrorCode.TRUNCATED;
    const b = this.buf;
    const o = this.off;
    if (b[o]! >>> 4 !== 6) return WireErrorCode.BAD_VERSION;
    const pl = (b[o + 4]! << 8) | b[o + 5]!;
    if (pl === 0 && b[o + 6] === Ipv6NextHeader.HOPOPTS && this.hasJumboOption()) return WireErrorCode.UNSUPPORTED;
    if (IPV6_HEADER_LEN + pl > this.len) return WireErrorCode.TRUNCATED;
    return WireErrorCode.OK;
  }

  /** A Jumbo Payload option in the hop-by-hop header the buffer holds (bounded by len, not payload length). */
  private hasJumboOption(): boolean {
    const b = this.buf;
    const p = this.off + IPV6_HEADER_LEN;
    const end = this.off + this.len;
    if (p + 2 > end) return false;
    const he = Math.min(end, p + ((b[p + 1]! + 1) << 3));
    let q = p + 2;
    while (q < he) {
      const t = b[q]!;
      if (t === 0) {
        q++;
        continue;
      }
      if (t === IPV6_OPT_JUMBO) return true;
      if (q + 2 > he) return false;
      q += 2 + b[q + 1]!;
    }
    return false;
  }

  get version(): number {
    return this.buf[this.off]! >>> 4;
  }
  set version(v: number) {
    const o = this.off;
    this.buf[o] = ((v & 0x0f) << 4) | (this.buf[o]! & 0x0f);
  }

  /** The 8-bit traffic class (DSCP << 2 | ECN). */
  get trafficClass(): number {
    const b = this.buf;
    const o = this.off;
    return ((b[o]! & 0x0f) << 4) | (b[o + 1]! >>> 4);
  }
  set trafficClass(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o] = (b[o]! & 0xf0) | ((v >>> 4) & 0x0f);
    b[o + 1] = ((v & 0x0f) << 4) | (b[o + 1]! & 0x0f);
  }

  get dscp(): number {
    return this.trafficClass >>> 2;
  }
  get ecn(): number {
    return this.trafficClass & 0x03;
  }

  /** The 20-bit flow label (RFC 6437). */
  get flowLabel(): number {
    const b = this.buf;
    const o = this.off;
    return ((b[o + 1]! & 0x0f) << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  }
  set flowLabel(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + 1] = (b[o + 1]! & 0xf0) | ((v >>> 16) & 0x0f);
    b[o + 2] = v >>> 8;
    b[o + 3] = v;
  }

  /** Bytes after the fixed header, extension headers included. */
  get payloadLength(): number {
    return this.u16(4);
  }
  set payloadLength(v: number) {
    this.setU16(4, v);
  }

  get nextHeader(): number {
    return this.buf[this.off + 6]!;
  }
  set nextHeader(v: number) {
    this.buf[this.off + 6] = v;
  }

  get hopLimit(): number {
    return this.buf[this.off + 7]!;
  }
  set hopLimit(v: number) {
    this.buf[this.off + 7] = v;
  }

  /** Absolute index in buf of the source address. */
  get srcOffset(): number {
    return this.off + SRC_AT;
  }
  /** Absolute index in buf of the destination address. */
  get dstOffset(): number {
    return this.off + DST_AT;
  }

  /** Copy the source address into out[outOff] and return out. */
  readSrc(out: Uint8Array, outOff = 0): Uint8Array {
    ipv6Copy(out, outOff, this.buf, this.off + SRC_AT);
    return out;
  }
  readDst(out: Uint8Array, outOff = 0): Uint8Array {
    ipv6Copy(out, outOff, this.buf, this.off + DST_AT);
    return out;
  }
  writeSrc(a: Uint8Array, aOff = 0): void {
    ipv6Copy(this.buf, this.off + SRC_AT, a, aOff);
  }
  writeDst(a: Uint8Array, aOff = 0): void {
    ipv6Copy(this.buf, this.off + DST_AT, a, aOff);
  }
  /** Compare in place, without copying. */
  srcEquals(a: Uint8Array, aOff = 0): boolean {
    return ipv6Equal(this.buf, this.off + SRC_AT, a, aOff);
  }
  dstEquals(a: Uint8Array, aOff = 0): boolean {
    return ipv6Equal(this.buf, this.off + DST_AT, a, aOff);
  }
  /** ff00::/8 destination: decides whether ICMPv6 errors may be sent (RFC 4443 §2.4 e.3). */
  get dstIsMulticast(): boolean {
    return this.buf[this.off + DST_AT] === 0xff;
  }

  /** Absolute index in buf of the first byte after the fixed header. */
  get payloadOffset(): number {
    return this.off + IPV6_HEADER_LEN;
  }
  /** A subarray of the payload (allocates a view object; avoid on hot paths). */
  payload(): Uint8Array {
    const start = this.payloadOffset;
    return this.buf.subarray(start, start + this.payloadLength);
  }
}

/** The fixed-header fields. Addresses are 16-byte arrays the repr owns. */
export interface Ipv6Repr {
  src: Uint8Array;
  dst: Uint8Array;
  /** Next Header of the fixed header (may be an extension header). */
  nextHeader: number;
  /** Bytes after the fixed header, extension headers included. */
  payloadLen: number;
  hopLimit: number;
  trafficClass: number;
  flowLabel: number;
}

/**
 * Parse the fixed header a view (or a whole byte array) holds. Allocates the
 * repr and its two addresses; hot paths use the view. Extension headers are
 * not walked.
 */
export function parseIpv6(src: Ipv6View | Uint8Array): Ipv6Repr | WireError {
  const v = src instanceof Ipv6View ? src : new Ipv6View(src);
  const code = v.check();
  if (code !== WireErrorCode.OK) return wireError(code, 'ipv6');
  return {
    src: v.readSrc(new Uint8Array(IPV6_ADDR_LEN)),
    dst: v.readDst(new Uint8Array(IPV6_ADDR_LEN)),
    nextHeader: v.nextHeader,
    payloadLen: v.payloadLength,
    hopLimit: v.hopLimit,
    trafficClass: v.trafficClass,
    flowLabel: v.flowLabel,
  };
}

/**
 * Write the 40-byte fixed header for `repr` at buf[off]. Returns 40. Throws
 * RangeError if it does not fit, the addresses are not 16 bytes, or the
 * payload length does not fit the 16-bit field (no jumbograms).
 */
export function emitIpv6(repr: Ipv6Repr, buf: Uint8Array, off: number): number {
  assertRange(buf, off, IPV6_HEADER_LEN, 'emitIpv6');
  if (!(repr.payloadLen >= 0 && repr.payloadLen <= 0xffff)) throw new RangeError(`emitIpv6: payload length ${repr.payloadLen} out of range`);
  if (repr.src.length < IPV6_ADDR_LEN || repr.dst.length < IPV6_ADDR_LEN) throw new RangeError('emitIpv6: addresses must be 16 bytes');
  const b = buf;
  const o = off;
  const tc = repr.trafficClass & 0xff;
  const fl = repr.flowLabel & 0xfffff;
  b[o] = 0x60 | (tc >>> 4);
  b[o + 1] = ((tc & 0x0f) << 4) | (fl >>> 16);
  b[o + 2] = fl >>> 8;
  b[o + 3] = fl;
  b[o + 4] = repr.payloadLen >>> 8;
  b[o + 5] = repr.payloadLen;
  b[o + 6] = repr.nextHeader;
  b[o + 7] = repr.hopLimit;
  ipv6Copy(b, o + SRC_AT, repr.src, 0);
  ipv6Copy(b, o + DST_AT, repr.dst, 0);
  return IPV6_HEADER_LEN;
}

/** Alias of Ipv6View (smoltcp's name for a view is `Packet`). */
export const Ipv6Packet = Ipv6View;
export type Ipv6Packet = Ipv6View;

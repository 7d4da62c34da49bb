// IPv4 header (RFC 791): a zero-copy view and a parsed repr.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// |Version|  IHL  |   DSCP    |ECN|          Total Length         |
// |         Identification        |Flags|      Fragment Offset    |
// |  Time to Live |    Protocol   |         Header Checksum       |
// |                       Source Address                          |
// |                    Destination Address                        |
// |                    Options (IHL > 5)                          |
import { ByteView } from './view.ts';
import { assertRange } from './bytes.ts';
import { onesSum } from './checksum.ts';
import { WireError, WireErrorCode, wireError } from './error.ts';

export const IpProtocol = {
  ICMP: 1,
  TCP: 6,
  UDP: 17,
} as const;
export type IpProtocol = (typeof IpProtocol)[keyof typeof IpProtocol];

export const IPV4_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_DEFAULT_TTL = 64;

/**
 * A view of an IPv4 packet at `buf[off, off+len)`. Getters and setters do
 * no bounds checks: call check() first. One instance can be re-pointed with
 * wrap() at every packet (no allocation). Offsets it returns
 * (optionsOffset, payloadOffset) are absolute indexes into `buf`.
 */
export class Ipv4View extends ByteView {
  /**
   * OK or the first problem: TRUNCATED (len < 20, or fewer bytes than IHL or
   * total length say), BAD_VERSION, BAD_HEADER_LENGTH (IHL < 5),
   * BAD_TOTAL_LENGTH (total length < header length). Bytes after total
   * length (Ethernet padding) are allowed. The checksum is not checked.
   */
  check(): WireErrorCode {
    if (this.len < IPV4_HEADER_LEN) return WireErrorCode.TRUNCATED;
    const b = this.buf;
    const o = this.off;
    const vihl = b[o]!;
    if (vihl >>> 4 !== 4) return WireErrorCode.BAD_VERSION;
    const hl = (vihl & 0x0f) << 2;
    if (hl < IPV4_HEADER_LEN) return WireErrorCode.BAD_HEADER_LENGTH;
    const total = (b[o + 2]! << 8) | b[o + 3]!;
    if (total < hl) return WireErrorCode.BAD_TOTAL_LENGTH;
    if (hl > this.len) return WireErrorCode.TRUNCATED;
    if (total > this.len) return WireErrorCode.TRUNCATED;
    return WireErrorCode.OK;
  }

  get version(): number {
    return this.buf[this.off]! >>> 4;
  }
  set version(v: number) {
    const o = this.off;
    this.buf[o] = ((v & 0x0f) << 4) | (this.buf[o]! & 0x0f);
  }

  /** IHL in 32-bit words. */
  get ihl(): number {
    return this.buf[this.off]! & 0x0f;
  }
  set ihl(v: number) {
    const o = this.off;
    this.buf[o] = (this.buf[o]! & 0xf0) | (v & 0x0f);
  }

  /** Header length in bytes (IHL * 4). */
  get headerLen(): number {
    return (this.buf[this.off]! & 0x0f) << 2;
  }
  /** Set in bytes; must be a multiple of 4. */
  set headerLen(v: number) {
    this.ihl = v >>> 2;
  }

  get dscp(): number {
    return this.buf[this.off + 1]! >>> 2;
  }
  set dscp(v: number) {
    const o = this.off + 1;
    this.buf[o] = ((v & 0x3f) << 2) | (this.buf[o]! & 0x03);
  }

  get ecn(): number {
    return this.buf[this.off + 1]! & 0x03;
  }
  set ecn(v: number) {
    const o = this.off + 1;
    this.buf[o] = (this.buf[o]! & 0xfc) | (v & 0x03);
  }

  get totalLength(): number {
    return this.u16(2);
  }
  set totalLength(v: number) {
    this.setU16(2, v);
  }

  get ident(): number {
    return this.u16(4);
  }
  set ident(v: number) {
    this.setU16(4, v);
  }

  /** The reserved ("evil") flag bit. */
  get reservedFlag(): boolean {
    return (this.buf[this.off + 6]! & 0x80) !== 0;
  }
  set reservedFlag(v: boolean) {
    const o = this.off + 6;
    this.buf[o] = v ? this.buf[o]! | 0x80 : this.buf[o]! & 0x7f;
  }

  get dontFragment(): boolean {
    return (this.buf[this.off + 6]! & 0x40) !== 0;
  }
  set dontFragment(v: boolean) {
    const o = this.off + 6;
    this.buf[o] = v ? this.buf[o]! | 0x40 : this.buf[o]! & 0xbf;
  }

  get moreFragments(): boolean {
    return (this.buf[this.off + 6]! & 0x20) !== 0;
  }
  set moreFragments(v: boolean) {
    const o = this.off + 6;
    this.buf[o] = v ? this.buf[o]! | 0x20 : this.buf[o]! & 0xdf;
  }

  /** Fragment offset in bytes (the field times 8). */
  get fragOffset(): number {
    const b = this.buf;
    const o = this.off;
    return (((b[o + 6]! & 0x1f) << 8) | b[o + 7]!) << 3;
  }
  /** Set in bytes; must be a multiple of 8 (the low 3 bits are dropped). */
  set fragOffset(v: number) {
    const o = this.off;
    const f = (v >>> 3) & 0x1fff;
    this.buf[o + 6] = (this.buf[o + 6]! & 0xe0) | (f >>> 8);
    this.buf[o + 7] = f;
  }

  get ttl(): number {
    return this.buf[this.off + 8]!;
  }
  set ttl(v: number) {
    this.buf[this.off + 8] = v;
  }

  get protocol(): number {
    return this.buf[this.off + 9]!;
  }
  set protocol(v: number) {
    this.buf[this.off + 9] = v;
  }

  get checksum(): number {
    return this.u16(10);
  }
  set checksum(v: number) {
    this.setU16(10, v);
  }

  get src(): number {
    return this.u32(12);
  }
  set src(v: number) {
    this.setU32(12, v);
  }

  get dst(): number {
    return this.u32(16);
  }
  set dst(v: number) {
    this.setU32(16, v);
  }

  /** Absolute index in buf of the first option byte. */
  get optionsOffset(): number {
    return this.off + IPV4_HEADER_LEN;
  }
  /** Bytes of options (header length - 20). */
  get optionsLength(): number {
    return this.headerLen - IPV4_HEADER_LEN;
  }
  /** Absolute index in buf of the payload. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }
  /** Payload bytes according to total length (not the buffer). */
  get payloadLength(): number {
    return this.totalLength - this.headerLen;
  }
  /** A subarray of the payload (allocates a view object; avoid on hot paths). */
  payload(): Uint8Array {
    const start = this.payloadOffset;
    return this.buf.subarray(start, start + this.payloadLength);
  }

  /** True if the header checksum verifies (false if the header is not inside the view). */
  verifyChecksum(): boolean {
    if (this.len < IPV4_HEADER_LEN) return false;
    const hl = this.headerLen;
    if (hl < IPV4_HEADER_LEN || hl > this.len) return false;
    return onesSum(this.buf, this.off, hl) === 0xffff;
  }

  /** Compute and store the header checksum over headerLen bytes. */
  fillChecksum(): void {
    const b = this.buf;
    const o = this.off;
    b[o + 10] = 0;
    b[o + 11] = 0;
    const c = ~onesSum(b, o, this.headerLen) & 0xffff;
    b[o + 10] = c >>> 8;
    b[o + 11] = c;
  }
}

/** The fields of an IPv4 header that the stack acts on (options are skipped). */
export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  /** Payload bytes (total length - header length). */
  payloadLen: number;
  ttl: number;
  ident: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In bytes. */
  fragOffset: number;
  dscp: number;
  ecn: number;
}

export interface Ipv4ParseOptions {
  /** Default true: a bad header checksum gives BAD_CHECKSUM. */
  verifyChecksum?: boolean;
}

/** Parse the packet a view (or a whole byte array) holds. Options are skipped. */
export function parseIpv4(src: Ipv4View | Uint8Array, opts?: Ipv4ParseOptions): Ipv4Repr | WireError {
  const v = src instanceof Ipv4View ? src : new Ipv4View(src);
  const code = v.check();
  if (code !== WireErrorCode.OK) return wireError(code, 'ipv4');
  if (opts?.verifyChecksum !== false && !v.verifyChecksum()) return wireError(WireErrorCode.BAD_CHECKSUM, 'ipv4');
  return {
    src: v.src,
    dst: v.dst,
    protocol: v.protocol,
    payloadLen: v.payloadLength,
    ttl: v.ttl,
    ident: v.ident,
    dontFragment: v.dontFragment,
    moreFragments: v.moreFragments,
    fragOffset: v.fragOffset,
    dscp: v.dscp,
    ecn: v.ecn,
  };
}

/**
 * Write a 20-byte header (no options) for `repr` at buf[off], checksum
 * filled. Returns the header length (20). Throws RangeError if the header
 * does not fit in buf or the payload is too long for one packet.
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array, off: number): number {
  assertRange(buf, off, IPV4_HEADER_LEN, 'emitIpv4');
  const total = IPV4_HEADER_LEN + repr.payloadLen;
  if (!(repr.payloadLen >= 0 && total <= 0xffff)) throw new RangeError(`emitIpv4: payload length ${repr.payloadLen} out of range`);
  const b = buf;
  const o = off;
  b[o] = 0x45;
  b[o + 1] = ((repr.dscp & 0x3f) << 2) | (repr.ecn & 0x03);
  b[o + 2] = total >>> 8;
  b[o + 3] = total;
  b[o + 4] = repr.ident >>> 8;
  b[o + 5] = repr.ident;
  const frag = (repr.fragOffset >>> 3) & 0x1fff;
  b[o + 6] = (repr.dontFragment ? 0x40 : 0) | (repr.moreFragments ? 0x20 : 0) | (frag >>> 8);
  b[o + 7] = frag;
  b[o + 8] = repr.ttl;
  b[o + 9] = repr.protocol;
  b[o + 10] = 0;
  b[o + 11] = 0;
  const s = repr.src;
  b[o + 12] = s >>> 24;
  b[o + 13] = s >>> 16;
  b[o + 14] = s >>> 8;
  b[o + 15] = s;
  const d = repr.dst;
  b[o + 16] = d >>> 24;
  b[o + 17] = d >>> 16;
  b[o + 18] = d >>> 8;
  b[o + 19] = d;
  const c = ~onesSum(b, o, IPV4_HEADER_LEN) & 0xffff;
  b[o + 10] = c >>> 8;
  b[o + 11] = c;
  return IPV4_HEADER_LEN;
}

/** Alias of Ipv4View (smoltcp's name for a view is `Packet`). */
export const Ipv4Packet = Ipv4View;
export type Ipv4Packet = Ipv4View;

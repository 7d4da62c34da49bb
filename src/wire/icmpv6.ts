// ICMPv6 (RFC 4443) and the Neighbor Discovery messages (RFC 4861 §4): a
// zero-copy view, a parsed repr, emitters, and the builders a host needs
// first (error messages, a Neighbor Advertisement answering a
// solicitation for one of our addresses).
//
// |     Type      |     Code      |          Checksum             |
// |          Identifier           |        Sequence Number        |  (echo)
// |                             MTU                               |  (packet too big)
// |                           Pointer                             |  (parameter problem)
// |R|S|O|                     Reserved                            |  (NA; zero for NS)
// |                    Target Address (16 bytes)                  |  (NS, NA)
//
// The checksum covers the IPv6 pseudo-header (RFC 4443 §2.3), so check()
// cannot verify it: icmpv6ChecksumOk() takes the addresses. Addresses are
// 16-byte regions of caller buffers (buf + offset).
import { IcmpHeaderView } from './view.ts';
import { assertRange } from './bytes.ts';
import { onesSum } from './checksum.ts';
import { ipv6PseudoHeaderSum } from './checksum6.ts';
import { WireError, WireErrorCode, wireError } from './error.ts';

/**
 * IPv6 next-header value of ICMPv6. Prefixed ICMPV6_ (not IPV6_) so the
 * IPv6 header module can own the IPv6 names without an export clash.
 */
export const ICMPV6_NEXT_HEADER = 58;

export const Icmpv6Type = {
  DEST_UNREACHABLE: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAM_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  ROUTER_SOLICIT: 133,
  ROUTER_ADVERT: 134,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
  REDIRECT: 137,
} as const;
export type Icmpv6Type = (typeof Icmpv6Type)[keyof typeof Icmpv6Type];

/** RFC 4443 §3.1. */
export const Icmpv6DestUnreachableCode = {
  NO_ROUTE: 0,
  ADMIN_PROHIBITED: 1,
  BEYOND_SCOPE: 2,
  ADDRESS_UNREACHABLE: 3,
  PORT_UNREACHABLE: 4,
  SOURCE_POLICY_FAILED: 5,
  REJECT_ROUTE: 6,
} as const;

/** RFC 4443 §3.3. */
export const Icmpv6TimeExceededCode = {
  HOP_LIMIT: 0,
  FRAGMENT_REASSEMBLY: 1,
} as const;

/** RFC 4443 §3.4. */
export const Icmpv6ParamProblemCode = {
  HEADER_FIELD: 0,
  UNRECOGNIZED_NEXT_HEADER: 1,
  UNRECOGNIZED_OPTION: 2,
} as const;

/** Neighbor Discovery option types (RFC 4861 §4.6). */
export const NdOptionType = {
  SOURCE_LINK_ADDR: 1,
  TARGET_LINK_ADDR: 2,
  PREFIX_INFO: 3,
  REDIRECTED_HEADER: 4,
  MTU: 5,
} as const;

/** NA flag bits in byte 4 (RFC 4861 §4.4). */
export const NaFlag = { ROUTER: 0x80, SOLICITED: 0x40, OVERRIDE: 0x20 } as const;

/** Type, code, checksum: all any message is guaranteed to have. */
export const ICMPV6_MIN_LEN = 4;
/** Errors and echo: type, code, checksum and one 32-bit field. */
export const ICMPV6_HEADER_LEN = 8;
/** NS and NA: the 8-byte header plus the target address. */
export const ICMPV6_ND_NEIGHBOR_LEN = 24;
/** RFC 8200 §5: every link carries at least this much. */
const IPV6_MIN_MTU = 1280;
const IPV6_HEADER_LEN = 40;
/** Longest ICMPv6 error: with its IPv6 header it fits the minimum MTU, 1280 (RFC 4443 §2.4(c)). */
export const ICMPV6_ERROR_MAX_LEN = IPV6_MIN_MTU - IPV6_HEADER_LEN;
/** Most bytes of the invoking packet an error may quote. */
export const ICMPV6_MAX_QUOTE = ICMPV6_ERROR_MAX_LEN - ICMPV6_HEADER_LEN;

/**
 * Bytes before the body or options of a message of `type`: RFC 4443 for
 * errors and echo, RFC 4861 §4.1-4.5 for ND; 4 for types we do not know.
 */
export function icmpv6FixedLength(type: number): number {
  switch (type) {
    case Icmpv6Type.DEST_UNREACHABLE:
    case Icmpv6Type.PACKET_TOO_BIG:
    case Icmpv6Type.TIME_EXCEEDED:
    case Icmpv6Type.PARAM_PROBLEM:
    case Icmpv6Type.ECHO_REQUEST:
    case Icmpv6Type.ECHO_REPLY:
    case Icmpv6Type.ROUTER_SOLICIT:
      return 8;
    case Icmpv6Type.ROUTER_ADVERT:
      return 16;
    case Icmpv6Type.NEIGHBOR_SOLICIT:
    case Icmpv6Type.NEIGHBOR_ADVERT:
      return 24;
    case Icmpv6Type.REDIRECT:
      return 40;
    default:
      return ICMPV6_MIN_LEN;
  }
}

/** Types 0-127 are errors (RFC 4443 §2.1): never answer one with another (§2.4(e)). */
export function icmpv6IsError(type: number): boolean {
  return type < 128;
}

function isNd(type: number): boolean {
  return type >= Icmpv6Type.ROUTER_SOLICIT && type <= Icmpv6Type.REDIRECT;
}

/**
 * A view of an ICMPv6 message at `buf[off, off+len)`. No bounds checks in
 * getters: call check() first. Offsets it returns are absolute indexes
 * into buf.
 */
export class Icmpv6View extends IcmpHeaderView {
  /**
   * OK; TRUNCATED if shorter than 4 bytes or the type's fixed part;
   * BAD_OPTION if an ND message has an option of length 0 or one that runs
   * past the end (RFC 4861 §7.1: such messages are discarded).
   */
  check(): WireErrorCode {
    if (this.len < ICMPV6_MIN_LEN) return WireErrorCode.TRUNCATED;
    const type = this.buf[this.off]!;
    const fixed = icmpv6FixedLength(type);
    if (this.len < fixed) return WireErrorCode.TRUNCATED;
    if (isNd(type)) {
      const b = this.buf;
      const end = this.off + this.len;
      let o = this.off + fixed;
      while (o < end) {
        if (o + 2 > end) return WireErrorCode.BAD_OPTION;
        const n = b[o + 1]! * 8;
        if (n === 0 || o + n > end) return WireErrorCode.BAD_OPTION;
        o += n;
      }
    }
    return WireErrorCode.OK;
  }

  /** Bytes 4-7 as a u32: the MTU of Packet Too Big, the pointer of Parameter Problem. */
  get rest(): number {
    return this.u32(4);
  }
  set rest(v: number) {
    this.setU32(4, v >>> 0);
  }

  /** Packet Too Big MTU (RFC 4443 §3.2). */
  get mtu(): number {
    return this.u32(4);
  }
  set mtu(v: number) {
    this.setU32(4, v >>> 0);
  }

  /** Parameter Problem pointer: byte offset of the error in the invoking packet (RFC 4443 §3.4). */
  get pointer(): number {
    return this.u32(4);
  }
  set pointer(v: number) {
    this.setU32(4, v >>> 0);
  }

  /** NA flag byte (R, S, O in the top bits). */
  get naFlags(): number {
    return this.buf[this.off + 4]! & 0xe0;
  }
  get router(): boolean {
    return (this.buf[this.off + 4]! & NaFlag.ROUTER) !== 0;
  }
  get solicited(): boolean {
    return (this.buf[this.off + 4]! & NaFlag.SOLICITED) !== 0;
  }
  get override(): boolean {
    return (this.buf[this.off + 4]! & NaFlag.OVERRIDE) !== 0;
  }

  /** Absolute index of the 16-byte target address of NS, NA and Redirect. */
  get targetOffset(): number {
    return this.off + 8;
  }

  /** Bytes before the body/options for this message's type. */
  get fixedLength(): number {
    return icmpv6FixedLength(this.buf[this.off]!);
  }
  /** Absolute index of what follows the fixed part (quoted packet, echo data, ND options). */
  get payloadOffset(): number {
    return this.off + this.fixedLength;
  }
  get payloadLength(): number {
    return this.len - this.fixedLength;
  }
  /** A subarray of the payload (allocates a view object; avoid on hot paths). */
  payload(): Uint8Array {
    return this.buf.subarray(this.payloadOffset, this.off + this.len);
  }

  /**
   * Absolute index of the first ND option of `optType`, or -1. Call only
   * after check() returned OK (the option walk trusts the lengths).
   */
  findOption(optType: number): number {
    const b = this.buf;
    const end = this.off + this.len;
    let o = this.payloadOffset;
    while (o + 2 <= end) {
      const n = b[o + 1]! * 8;
      if (n === 0) return -1;
      if (b[o] === optType) return o;
      o += n;
    }
    return -1;
  }
}

/**
 * True if the checksum verifies over the pseudo-header (src, dst, len, 58)
 * and the whole message. Addresses are 16 bytes at src[srcOff] and
 * dst[dstOff]; pass the IPv6 header with offsets 8 and 24 to avoid copies.
 */
export function icmpv6ChecksumOk(view: Icmpv6View, src: Uint8Array, dst: Uint8Array, srcOff = 0, dstOff = 0): boolean {
  const ph = ipv6PseudoHeaderSum(src, srcOff, dst, dstOff, view.len, ICMPV6_NEXT_HEADER);
  return onesSum(view.buf, view.off, view.len, ph) === 0xffff;
}

/** Compute and store the checksum of the `len`-byte message at buf[off]. */
export function fillIcmpv6Checksum(
  buf: Uint8Array,
  off: number,
  len: number,
  src: Uint8Array,
  dst: Uint8Array,
  srcOff = 0,
  dstOff = 0,
): void {
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  const ph = ipv6PseudoHeaderSum(src, srcOff, dst, dstOff, len, ICMPV6_NEXT_HEADER);
  // Unlike UDP, 0 is a valid ICMPv6 checksum value: no 0 -> 0xffff mapping.
  const c = ~onesSum(buf, off, len, ph) & 0xffff;
  buf[off + 2] = c >>> 8;
  buf[off + 3] = c;
}

export type Icmpv6Repr =
  | { kind: 'echo-request' | 'echo-reply'; ident: number; seqNo: number; dataLen: number }
  | { kind: 'dest-unreachable'; code: number; dataLen: number }
  | { kind: 'packet-too-big'; mtu: number; dataLen: number }
  | { kind: 'time-exceeded'; code: number; dataLen: number }
  | { kind: 'param-problem'; code: number; pointer: number; dataLen: number }
  | {
      kind: 'neighbor-solicit';
      /** 16 bytes. */
      target: Uint8Array;
      /**
       * Body of the source link-layer address option: length*8-2 bytes,
       * exactly the MAC on Ethernet; other links keep their zero padding.
       */
      sourceLinkAddr?: Uint8Array;
    }
  | {
      kind: 'neighbor-advert';
      router: boolean;
      solicited: boolean;
      override: boolean;
      target: Uint8Array;
      targetLinkAddr?: Uint8Array;
    }
  /** Everything else (RS, RA, Redirect, MLD, unknown types, echo with code != 0): body after byte 4. */
  | { kind: 'other'; type: number; code: number; dataLen: number };

/** Copy of the body of the first `optType` option (2 bytes in, length*8-2 bytes), or undefined. */
function optionBody(v: Icmpv6View, optType: number): Uint8Array | undefined {
  const o = v.findOption(optType);
  if (o < 0) return undefined;
  return v.buf.slice(o + 2, o + v.buf[o + 1]! * 8);
}

/**
 * Parse the message a view (or a whole byte array) holds. Does not verify
 * the checksum (that needs the addresses: icmpv6ChecksumOk). Echo and ND
 * messages with a non-zero code come back as kind 'other' (RFC 4861 §7.1.1
 * says discard such ND messages; the caller decides). NS/NA keep only the
 * link-layer address option; other options are ignored (RFC 4861 §4.6).
 */
export function parseIcmpv6(msg: Icmpv6View | Uint8Array): Icmpv6Repr | WireError {
  const v = msg instanceof Icmpv6View ? msg : new Icmpv6View(msg);
  const err = v.check();
  if (err !== WireErrorCode.OK) return wireError(err, 'icmpv6');
  const type = v.type;
  const code = v.code;
  switch (type) {
    case Icmpv6Type.ECHO_REQUEST:
    case Icmpv6Type.ECHO_REPLY:
      if (code !== 0) break;
      return {
        kind: type === Icmpv6Type.ECHO_REQUEST ? 'echo-request' : 'echo-reply',
        ident: v.ident,
        seqNo: v.seqNo,
        dataLen: v.len - ICMPV6_HEADER_LEN,
      };
    case Icmpv6Type.DEST_UNREACHABLE:
      return { kind: 'dest-unreachable', code, dataLen: v.len - ICMPV6_HEADER_LEN };
    case Icmpv6Type.PACKET_TOO_BIG:
      // RFC 4443 §3.2: code is set to 0 by the sender and ignored by the receiver.
      return { kind: 'packet-too-big', mtu: v.mtu, dataLen: v.len - ICMPV6_HEADER_LEN };
    case Icmpv6Type.TIME_EXCEEDED:
      return { kind: 'time-exceeded', code, dataLen: v.len - ICMPV6_HEADER_LEN };
    case Icmpv6Type.PARAM_PROBLEM:
      return { kind: 'param-problem', code, pointer: v.pointer, dataLen: v.len - ICMPV6_HEADER_LEN };
    case Icmpv6Type.NEIGHBOR_SOLICIT: {
      if (code !== 0) break;
      const t = v.targetOffset;
      const r: Icmpv6Repr = { kind: 'neighbor-solicit', target: v.buf.slice(t, t + 16) };
      const ll = optionBody(v, NdOptionType.SOURCE_LINK_ADDR);
      if (ll !== undefined) r.sourceLinkAddr = ll;
      return r;
    }
    case Icmpv6Type.NEIGHBOR_ADVERT: {
      if (code !== 0) break;
      const t = v.targetOffset;
      const r: Icmpv6Repr = {
        kind: 'neighbor-advert',
        router: v.router,
        solicited: v.solicited,
        override: v.override,
        target: v.buf.slice(t, t + 16),
      };
      const ll = optionBody(v, NdOptionType.TARGET_LINK_ADDR);
      if (ll !== undefined) r.targetLinkAddr = ll;
      return r;
    }
  }
  return { kind: 'other', type, code, dataLen: v.len - ICMPV6_MIN_LEN };
}

/** Bytes an ND link-layer address option of `n` body bytes takes: padded to 8 (RFC 4861 §4.6). */
function llOptionLength(n: number): number {
  return (n + 2 + 7) & ~7;
}

/** Total message length of `repr` (header, options, and dataLen bytes of body). */
export function icmpv6ReprLength(repr: Icmpv6Repr): number {
  switch (repr.kind) {
    case 'neighbor-solicit':
      return ICMPV6_ND_NEIGHBOR_LEN + (repr.sourceLinkAddr === undefined ? 0 : llOptionLength(repr.sourceLinkAddr.length));
    case 'neighbor-advert':
      return ICMPV6_ND_NEIGHBOR_LEN + (repr.targetLinkAddr === undefined ? 0 : llOptionLength(repr.targetLinkAddr.length));
    case 'other':
      return ICMPV6_MIN_LEN + repr.dataLen;
    default:
      return ICMPV6_HEADER_LEN + repr.dataLen;
  }
}

/** Write an ND link-layer address option at b[o]; returns its length. */
function writeLlOption(b: Uint8Array, o: number, optType: number, ll: Uint8Array, llOff: number, llLen: number): number {
  const n = llOptionLength(llLen);
  b[o] = optType;
  b[o + 1] = n >>> 3;
  for (let i = 0; i < llLen; i++) b[o + 2 + i] = ll[llOff + i]!;
  for (let i = 2 + llLen; i < n; i++) b[o + i] = 0;
  return n;
}

/** Write an NS/NA header (no checksum) with the target copied from t[tOff]. */
function writeNeighborHeader(b: Uint8Array, o: number, type: number, flags: number, t: Uint8Array, tOff: number): void {
  b[o] = type;
  b[o + 1] = 0;
  b[o + 4] = flags;
  b[o + 5] = 0;
  b[o + 6] = 0;
  b[o + 7] = 0;
  for (let i = 0; i < 16; i++) b[o + 8 + i] = t[tOff + i]!;
}

/**
 * Write `repr` at buf[off] and fill the checksum for the pseudo-header of
 * src/dst. For echo, errors and 'other' it writes the header and expects
 * the dataLen body bytes already in buf after it (as emitIcmp); NS/NA are
 * written whole, options included. Returns icmpv6ReprLength(repr). Throws
 * RangeError if the message is not inside buf or a field is out of range.
 */
export function emitIcmpv6(
  repr: Icmpv6Repr,
  buf: Uint8Array,
  off: number,
  src: Uint8Array,
  dst: Uint8Array,
  srcOff = 0,
  dstOff = 0,
): number {
  if ('dataLen' in repr && !(repr.dataLen >= 0)) throw new RangeError(`emitIcmpv6: data length ${repr.dataLen} out of range`);
  const total = icmpv6ReprLength(repr);
  assertRange(buf, off, total, 'emitIcmpv6');
  const b = buf;
  const o = off;
  let rest = 0;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      b[o] = repr.kind === 'echo-request' ? Icmpv6Type.ECHO_REQUEST : Icmpv6Type.ECHO_REPLY;
      b[o + 1] = 0;
      rest = (((repr.ident & 0xffff) << 16) | (repr.seqNo & 0xffff)) >>> 0;
      break;
    case 'dest-unreachable':
      b[o] = Icmpv6Type.DEST_UNREACHABLE;
      b[o + 1] = repr.code;
      break;
    case 'packet-too-big':
      b[o] = Icmpv6Type.PACKET_TOO_BIG;
      b[o + 1] = 0;
      rest = repr.mtu >>> 0;
      break;
    case 'time-exceeded':
      b[o] = Icmpv6Type.TIME_EXCEEDED;
      b[o + 1] = repr.code;
      break;
    case 'param-problem':
      b[o] = Icmpv6Type.PARAM_PROBLEM;
      b[o + 1] = repr.code;
      rest = repr.pointer >>> 0;
      break;
    case 'neighbor-solicit':
    case 'neighbor-advert': {
      if (repr.target.length !== 16) throw new RangeError('emitIcmpv6: target address must be 16 bytes');
      const solicit = repr.kind === 'neighbor-solicit';
      const flags = solicit
        ? 0
        : (repr.router ? NaFlag.ROUTER : 0) | (repr.solicited ? NaFlag.SOLICITED : 0) | (repr.override ? NaFlag.OVERRIDE : 0);
      writeNeighborHeader(b, o, solicit ? Icmpv6Type.NEIGHBOR_SOLICIT : Icmpv6Type.NEIGHBOR_ADVERT, flags, repr.target, 0);
      const ll = solicit ? repr.sourceLinkAddr : repr.targetLinkAddr;
      if (ll !== undefined) {
        writeLlOption(b, o + ICMPV6_ND_NEIGHBOR_LEN, solicit ? NdOptionType.SOURCE_LINK_ADDR : NdOptionType.TARGET_LINK_ADDR, ll, 0, ll.length);
      }
      fillIcmpv6Checksum(b, o, total, src, dst, srcOff, dstOff);
      return total;
    }
    case 'other':
      b[o] = repr.type;
      b[o + 1] = repr.code;
      fillIcmpv6Checksum(b, o, total, src, dst, srcOff, dstOff);
      return total;
  }
  b[o + 4] = rest >>> 24;
  b[o + 5] = rest >>> 16;
  b[o + 6] = rest >>> 8;
  b[o + 7] = rest;
  fillIcmpv6Checksum(b, o, total, src, dst, srcOff, dstOff);
  return total;
}

/**
 * Copy n bytes like memmove: correct when src and dst are views of the
 * same memory that overlap (a packet turned into its own reply), even as
 * different Uint8Arrays over one ArrayBuffer. Never allocates.
 */
function moveBytes(src: Uint8Array, so: number, dst: Uint8Array, d: number, n: number): void {
  if (src === dst) {
    dst.copyWithin(d, so, so + n);
    return;
  }
  // Copy backwards when dst starts inside src's range further on.
  const from = src.byteOffset + so;
  const to = dst.byteOffset + d;
  if (src.buffer === dst.buffer && to > from && to < from + n) {
    for (let i = n - 1; i >= 0; i--) dst[d + i] = src[so + i]!;
  } else {
    for (let i = 0; i < n; i++) dst[d + i] = src[so + i]!;
  }
}

/**
 * Build an ICMPv6 error (type 1-4) at out[outOff] quoting the invoking
 * packet `inv[invOff, invOff+invLen)` (its IPv6 header first): as much as
 * keeps the error, inside a 40-byte IPv6 header, within the minimum MTU of
 * 1280 (RFC 4443 §2.4(c)), and as much as fits in `out`. `param` is the
 * MTU for Packet Too Big, the pointer for Parameter Problem, else ignored.
 * src/dst are the addresses the error will be sent from/to. Returns the
 * message length. Never allocates. `inv` may be `out` (overlap is fine).
 * Throws RangeError if out cannot hold the 8-byte header or the type is
 * not an error type. Whether an error may be sent at all (§2.4(e), rate
 * limit §2.4(f)) is the caller's decision.
 */
export function emitIcmpv6Error(
  type: number,
  code: number,
  param: number,
  inv: Uint8Array,
  invOff: number,
  invLen: number,
  out: Uint8Array,
  outOff: number,
  src: Uint8Array,
  dst: Uint8Array,
  srcOff = 0,
  dstOff = 0,
): number {
  if (!(type >= Icmpv6Type.DEST_UNREACHABLE && type <= Icmpv6Type.PARAM_PROBLEM)) {
    throw new RangeError(`emitIcmpv6Error: type ${type} is not an ICMPv6 error`);
  }
  assertRange(inv, invOff, invLen, 'emitIcmpv6Error invoking packet');
  assertRange(out, outOff, ICMPV6_HEADER_LEN, 'emitIcmpv6Error');
  let q = invLen < ICMPV6_MAX_QUOTE ? invLen : ICMPV6_MAX_QUOTE;
  const room = out.length - outOff - ICMPV6_HEADER_LEN;
  if (q > room) q = room;
  const d = outOff + ICMPV6_HEADER_LEN;
  // Move the quote before writing the header: inv may overlap the header bytes.
  moveBytes(inv, invOff, out, d, q);
  const rest = type === Icmpv6Type.PACKET_TOO_BIG || type === Icmpv6Type.PARAM_PROBLEM ? param >>> 0 : 0;
  out[outOff] = type;
  out[outOff + 1] = type === Icmpv6Type.PACKET_TOO_BIG ? 0 : code;
  out[outOff + 4] = rest >>> 24;
  out[outOff + 5] = rest >>> 16;
  out[outOff + 6] = rest >>> 8;
  out[outOff + 7] = rest;
  const total = ICMPV6_HEADER_LEN + q;
  fillIcmpv6Checksum(out, outOff, total, src, dst, srcOff, dstOff);
  return total;
}

/** True if the 16 bytes at a[o] are :: (the unspecified address, RFC 4291 §2.5.2). */
function isUnspecified(a: Uint8Array, o: number): boolean {
  for (let i = 0; i < 16; i++) if (a[o + i] !== 0) return false;
  return true;
}

/**
 * Answer a Neighbor Solicitation for one of our own addresses (RFC 4861
 * §7.2.4): write an NA at out[outOff] with the NS's target, the Override
 * flag (the address is ours, not anycast), Solicited unless the NS came
 * from :: (duplicate address detection, §4.4), and our link-layer address
 * as the target link-layer option (required when the NS was multicast,
 * harmless otherwise). `ns` must have passed check() and be an NS.
 * `nsSrc[nsSrcOff]` is the NS's IPv6 source; replySrc/replyDst are the
 * addresses the NA goes from/to (replyDst: the NS source, or ff02::1 when
 * that is ::, see naDestination). Returns the NA length. Never allocates.
 */
export function emitNeighborAdvertForSolicit(
  ns: Icmpv6View,
  nsSrc: Uint8Array,
  nsSrcOff: number,
  ourLinkAddr: Uint8Array,
  router: boolean,
  out: Uint8Array,
  outOff: number,
  replySrc: Uint8Array,
  replyDst: Uint8Array,
  replySrcOff = 0,
  replyDstOff = 0,
): number {
  const total = ICMPV6_ND_NEIGHBOR_LEN + llOptionLength(ourLinkAddr.length);
  assertRange(out, outOff, total, 'emitNeighborAdvertForSolicit');
  const flags = NaFlag.OVERRIDE | (router ? NaFlag.ROUTER : 0) | (isUnspecified(nsSrc, nsSrcOff) ? 0 : NaFlag.SOLICITED);
  // Copy the target before writing anything: ns may live in out.
  const t = ns.targetOffset;
  moveBytes(ns.buf, t, out, outOff + 8, 16);
  writeNeighborHeader(out, outOff, Icmpv6Type.NEIGHBOR_ADVERT, flags, out, outOff + 8);
  writeLlOption(out, outOff + ICMPV6_ND_NEIGHBOR_LEN, NdOptionType.TARGET_LINK_ADDR, ourLinkAddr, 0, ourLinkAddr.length);
  fillIcmpv6Checksum(out, outOff, total, replySrc, replyDst, replySrcOff, replyDstOff);
  return total;
}

/**
 * Where an NA answering an NS from `nsSrc[nsSrcOff]` goes (RFC 4861
 * §7.2.4): back to the source, or to all-nodes ff02::1 if the source is
 * :: (DAD). Writes 16 bytes at out[outOff].
 */
export function naDestination(nsSrc: Uint8Array, nsSrcOff: number, out: Uint8Array, outOff: number): void {
  assertRange(out, outOff, 16, 'naDestination');
  if (isUnspecified(nsSrc, nsSrcOff)) {
    for (let i = 0; i < 16; i++) out[outOff + i] = 0;
    out[outOff] = 0xff;
    out[outOff + 1] = 0x02;
    out[outOff + 15] = 1;
  } else if (!(out === nsSrc && outOff === nsSrcOff)) {
    for (let i = 0; i < 16; i++) out[outOff + i] = nsSrc[nsSrcOff + i]!;
  }
}

/**
 * The validity checks of RFC 4861 §7.1.1 (NS) and §7.1.2 (NA) beyond
 * check(): IP hop limit 255 (the message was not forwarded, so it came
 * from this link), code 0, target not multicast; an NS from :: carries no
 * source link-layer option; an NA to a multicast address is not marked
 * solicited. `v` must have passed check() and be an NS or NA (false
 * otherwise); src/dst are its IPv6 addresses. Failing messages are
 * silently discarded. Never allocates.
 */
export function ndNeighborMessageOk(
  v: Icmpv6View,
  hopLimit: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
): boolean {
  const type = v.type;
  if (type !== Icmpv6Type.NEIGHBOR_SOLICIT && type !== Icmpv6Type.NEIGHBOR_ADVERT) return false;
  if (hopLimit !== 255 || v.code !== 0 || v.len < ICMPV6_ND_NEIGHBOR_LEN) return false;
  if (v.buf[v.targetOffset] === 0xff) return false;
  if (type === Icmpv6Type.NEIGHBOR_SOLICIT) {
    return !(isUnspecified(src, srcOff) && v.findOption(NdOptionType.SOURCE_LINK_ADDR) >= 0);
  }
  return !(dst[dstOff] === 0xff && v.solicited);
}

/** Alias of Icmpv6View. */
export const Icmpv6Packet = Icmpv6View;
export type Icmpv6Packet = Icmpv6View;

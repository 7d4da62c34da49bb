// IPv6 extension headers (RFC 8200 §4): a walker from the fixed header to
// the upper-layer header, and the Fragment header (§4.5).
//
// Fragment header:
// |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
// |                         Identification                        |
import { ByteView } from './view.ts';
import { assertRange } from './bytes.ts';
import { WireErrorCode } from './error.ts';
import { IPV6_HEADER_LEN, IPV6_OPT_JUMBO, Ipv6NextHeader } from './ipv6.ts';

export const IPV6_FRAG_HEADER_LEN = 8;
/** Default limit on extension headers walked: real traffic uses two or three. */
export const IPV6_MAX_EXT_HEADERS = 8;
/** Default limit on the bytes of extension headers (the minimum MTU less the fixed header). */
export const IPV6_MAX_EXT_CHAIN_LEN = 1232;

/** ICMPv6 Parameter Problem codes (RFC 4443 §3.4, RFC 7112 §5). */
export const Icmpv6ParamProblem = {
  ERRONEOUS_HEADER_FIELD: 0,
  UNRECOGNIZED_NEXT_HEADER: 1,
  UNRECOGNIZED_OPTION: 2,
  INCOMPLETE_HEADER_CHAIN: 3,
} as const;
export type Icmpv6ParamProblem = (typeof Icmpv6ParamProblem)[keyof typeof Icmpv6ParamProblem];

/** Options the walker acts on itself (RFC 8200 §4.2, RFC 2711). */
export const Ipv6Option = {
  PAD1: 0,
  PADN: 1,
  ROUTER_ALERT: 5,
  JUMBO: IPV6_OPT_JUMBO,
} as const;

/** What walkIpv6Ext found. One object is reused packet after packet. */
export interface Ipv6ExtResult {
  /** Upper-layer protocol (the last Next Header), when the walk returned OK. */
  protocol: number;
  /** Absolute index in buf of the upper-layer header. */
  offset: number;
  /** Extension headers walked. */
  count: number;
  /** A Router Alert option was in the hop-by-hop header (MLD needs it, RFC 2711). */
  routerAlert: boolean;
  /** A Fragment header was found; the fields below describe the first one. */
  hasFragment: boolean;
  /** Absolute index of the Fragment header. */
  fragHeaderOffset: number;
  /** Next Header of the Fragment header and the absolute index of the fragment's data: what reassembly needs. */
  fragNextHeader: number;
  fragDataOffset: number;
  /** In bytes. */
  fragOffset: number;
  moreFragments: boolean;
  fragIdent: number;
  /** For PARAMETER_PROBLEM: the ICMPv6 code (Icmpv6ParamProblem), else -1. */
  icmpCode: number;
  /** For PARAMETER_PROBLEM: the offset of the offending byte from the start of the IPv6 header. */
  icmpPointer: number;
  /** For PARAMETER_PROBLEM: whether an ICMPv6 error may be sent (false: drop silently). */
  sendIcmp: boolean;
}

export function newIpv6ExtResult(): Ipv6ExtResult {
  return {
    protocol: -1,
    offset: 0,
    count: 0,
    routerAlert: false,
    hasFragment: false,
    fragHeaderOffset: 0,
    fragNextHeader: -1,
    fragDataOffset: 0,
    fragOffset: 0,
    moreFragments: false,
    fragIdent: 0,
    icmpCode: -1,
    icmpPointer: 0,
    sendIcmp: false,
  };
}

function reset(r: Ipv6ExtResult): void {
  r.protocol = -1;
  r.offset = 0;
  r.count = 0;
  r.routerAlert = false;
  r.hasFragment = false;
  r.fragHeaderOffset = 0;
  r.fragNextHeader = -1;
  r.fragDataOffset = 0;
  r.fragOffset = 0;
  r.moreFragments = false;
  r.fragIdent = 0;
  r.icmpCode = -1;
  r.icmpPointer = 0;
  r.sendIcmp = false;
}

function problem(r: Ipv6ExtResult, code: number, pointer: number, send: boolean): WireErrorCode {
  r.icmpCode = code;
  r.icmpPointer = pointer;
  r.sendIcmp = send;
  return WireErrorCode.PARAMETER_PROBLEM;
}

/**
 * Walk the extension headers of the IPv6 packet at `buf[off, off+len)` (the
 * fixed header first) up to the upper-layer header, writing into `out`
 * (reset first; no allocation). The chain must end inside the payload
 * length. Returns:
 *  - OK: out.protocol / out.offset name the upper-layer header (which may
 *    be NONE, ESP, AH, ICMPv6 or anything unknown: the caller sends code 1
 *    for a protocol it lacks). In a fragment with a non-zero offset the walk
 *    stops after the Fragment header (the rest is only known after
 *    reassembly). In a first fragment it goes on to the upper-layer header
 *    to check the chain is complete (RFC 7112) but leaves the options after
 *    the Fragment header to the walk of the reassembled packet.
 *  - PARAMETER_PROBLEM: drop; out.icmpCode/icmpPointer/sendIcmp say which
 *    ICMPv6 Parameter Problem to send, if any (RFC 8200 §4, RFC 4443 §2.4).
 *  - TRUNCATED: fewer than 40 bytes, a payload length past the buffer, or a
 *    header running past the payload. BAD_VERSION as Ipv6View.check().
 *  - BAD_LENGTH: an option running past the end of its header.
 *  - UNSUPPORTED: more than `maxHeaders` extension headers or
 *    `maxChainLen` bytes of them, or a Jumbo Payload option.
 */
export function walkIpv6Ext(
  buf: Uint8Array,
  off: number,
  len: number,
  out: Ipv6ExtResult,
  maxHeaders = IPV6_MAX_EXT_HEADERS,
  maxChainLen = IPV6_MAX_EXT_CHAIN_LEN,
): WireErrorCode {
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) assertRange(buf, off, len, 'walkIpv6Ext');
  reset(out);
  if (len < IPV6_HEADER_LEN) return WireErrorCode.TRUNCATED;
  const b = buf;
  if (b[off]! >>> 4 !== 6) return WireErrorCode.BAD_VERSION;
  const payloadLen = (b[off + 4]! << 8) | b[off + 5]!;
  if (IPV6_HEADER_LEN + payloadLen > len) return WireErrorCode.TRUNCATED;
  const start = off + IPV6_HEADER_LEN;
  const end = start + payloadLen;
  // RFC 4443 §2.4 (e.3): no ICMPv6 errors for multicast destinations, but
  // for Packet Too Big and options whose type says "10" (code 2).
  const toUnicast = b[off + 24] !== 0xff;
  let nh = b[off + 6]!;
  let nhAt = 6; // where nh was read, relative to the IPv6 header (for pointers)
  let p = start;
  // In a first fragment, past the Fragment header: lengths only (RFC 8200
  // §4.5: those headers are processed after reassembly).
  let lengthsOnly = false;
  for (;;) {
    if (nh === Ipv6NextHeader.HOPOPTS && nhAt !== 6) {
      // §4.1: hop-by-hop options only straight after the fixed header.
      return problem(out, Icmpv6ParamProblem.UNRECOGNIZED_NEXT_HEADER, nhAt, toUnicast);
    }
    if (nh !== Ipv6NextHeader.HOPOPTS && nh !== Ipv6NextHeader.DSTOPTS && nh !== Ipv6NextHeader.ROUTING && nh !== Ipv6NextHeader.FRAGMENT) {
      out.protocol = nh;
      out.offset = p;
      return WireErrorCode.OK;
    }
    if (out.count >= maxHeaders) return WireErrorCode.UNSUPPORTED;
    out.count++;
    let hl: number;
    if (nh === Ipv6NextHeader.FRAGMENT) {
      hl = IPV6_FRAG_HEADER_LEN;
    } else {
      if (p + 2 > end) return incomplete(out, toUnicast);
      hl = (b[p + 1]! + 1) << 3; // §4.3: Hdr Ext Len in 8-octet units, not counting the first 8
    }
    if (p + hl > end) return incomplete(out, toUnicast);
    if (p + hl - start > maxChainLen) return WireErrorCode.UNSUPPORTED;

    if (nh === Ipv6NextHeader.FRAGMENT) {
      const f = ((b[p + 2]! << 8) | b[p + 3]!) & 0xfff8; // offset in bytes: the 13-bit field times 8
      const more = (b[p + 3]! & 1) !== 0;
      if (!out.hasFragment) {
        out.hasFragment = true;
        out.fragHeaderOffset = p;
        out.fragNextHeader = b[p]!;
        out.fragDataOffset = p + hl;
        out.fragOffset = f;
        out.moreFragments = more;
        out.fragIdent = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
        const dataLen = end - (p + hl);
        // §4.5: a non-last fragment must carry a multiple of 8 bytes
        // (pointer: Payload Length), and no fragment may end past 65535
        // bytes of reassembled payload (pointer: Fragment Offset).
        if (more && (dataLen & 7) !== 0) return problem(out, Icmpv6ParamProblem.ERRONEOUS_HEADER_FIELD, 4, toUnicast);
        if (f + dataLen > 0xffff) return problem(out, Icmpv6ParamProblem.ERRONEOUS_HEADER_FIELD, p + 2 - off, toUnicast);
        if (f !== 0) {
          // Not the first fragment: what follows is data until reassembly.
          out.protocol = b[p]!;
          out.offset = p + hl;
          return WireErrorCode.OK;
        }
        // An atomic fragment (offset 0, M 0) is a whole packet (RFC 6946).
        if (more) lengthsOnly = true;
      }
    } else if (!lengthsOnly) {
      if (nh === Ipv6NextHeader.ROUTING) {
        // §4.4: this stack implements no routing type (type 0 is deprecated,
        // RFC 5095, and handled as unknown): with segments left the packet is
        // refused, pointing at the type; without, the header is skipped.
        if (b[p + 3] !== 0) return problem(out, Icmpv6ParamProblem.ERRONEOUS_HEADER_FIELD, p + 2 - off, toUnicast);
      } else {
        const code = walkOptions(b, off, p + 2, p + hl, nh === Ipv6NextHeader.HOPOPTS, toUnicast, out);
        if (code !== WireErrorCode.OK) return code;
      }
    }
    nh = b[p]!;
    nhAt = p - off;
    p += hl;
  }
}

/** A header runs past the payload: RFC 7112 §5 for a first fragment, else TRUNCATED. */
function incomplete(out: Ipv6ExtResult, toUnicast: boolean): WireErrorCode {
  if (out.hasFragment && out.fragOffset === 0 && out.moreFragments) {
    return problem(out, Icmpv6ParamProblem.INCOMPLETE_HEADER_CHAIN, 0, toUnicast);
  }
  return WireErrorCode.TRUNCATED;
}

/**
 * The TLV options of a hop-by-hop or destination options header in
 * b[q, he) (RFC 8200 §4.2). Every read is checked against `he`.
 */
function walkOptions(b: Uint8Array, off: number, q: number, he: number, hbh: boolean, toUnicast: boolean, out: Ipv6ExtResult): WireErrorCode {
  while (q < he) {
    const t = b[q]!;
    if (t === Ipv6Option.PAD1) {
      q++;
      continue;
    }
    if (q + 2 > he) return WireErrorCode.BAD_LENGTH;
    const next = q + 2 + b[q + 1]!;
    if (next > he) return WireErrorCode.BAD_LENGTH;
    if (t === Ipv6Option.PADN) {
      // Contents are not checked: §4.2 asks senders for zeros, not receivers.
    } else if (t === Ipv6Option.ROUTER_ALERT && hbh) {
      out.routerAlert = true;
    } else if (t === Ipv6Option.JUMBO && hbh) {
      return WireErrorCode.UNSUPPORTED; // RFC 2675 jumbograms
    } else {
      // §4.2: the two high bits of an unknown type say what to do.
      switch (t >>> 6) {
        case 0:
          break; // skip
        case 1:
          return problem(out, Icmpv6ParamProblem.UNRECOGNIZED_OPTION, q - off, false);
        case 2:
          return problem(out, Icmpv6ParamProblem.UNRECOGNIZED_OPTION, q - off, true);
        default:
          return problem(out, Icmpv6ParamProblem.UNRECOGNIZED_OPTION, q - off, toUnicast);
      }
    }
    q = next;
  }
  return WireErrorCode.OK;
}

/**
 * A view of a Fragment header at `buf[off, off+len)` (RFC 8200 §4.5).
 * Getters and setters do no bounds checks: call check() first.
 */
export class Ipv6FragmentView extends ByteView {
  /** OK, or TRUNCATED for fewer than 8 bytes. */
  check(): WireErrorCode {
    return this.len < IPV6_FRAG_HEADER_LEN ? WireErrorCode.TRUNCATED : WireErrorCode.OK;
  }

  get nextHeader(): number {
    return this.buf[this.off]!;
  }
  set nextHeader(v: number) {
    this.buf[this.off] = v;
  }

  /** Fragment offset in bytes (the 13-bit field times 8). */
  get fragOffset(): number {
    return this.u16(2) & 0xfff8;
  }
  /** Set in bytes; must be a multiple of 8 (the low 3 bits are dropped). Keeps the M flag. */
  set fragOffset(v: number) {
    this.setU16(2, (v & 0xfff8) | (this.u16(2) & 0x0007));
  }

  get moreFragments(): boolean {
    return (this.buf[this.off + 3]! & 1) !== 0;
  }
  set moreFragments(v: boolean) {
    const o = this.off + 3;
    this.buf[o] = v ? this.buf[o]! | 1 : this.buf[o]! & 0xfe;
  }

  get ident(): number {
    return this.u32(4);
  }
  set ident(v: number) {
    this.setU32(4, v);
  }
}

export interface Ipv6FragmentRepr {
  nextHeader: number;
  /** In bytes, a multiple of 8. */
  fragOffset: number;
  moreFragments: boolean;
  ident: number;
}

/**
 * Write an 8-byte Fragment header at buf[off] (reserved fields zero).
 * Returns 8. Throws RangeError if it does not fit or the offset is not a
 * multiple of 8 below 65536.
 */
export function emitIpv6Fragment(repr: Ipv6FragmentRepr, buf: Uint8Array, off: number): number {
  assertRange(buf, off, IPV6_FRAG_HEADER_LEN, 'emitIpv6Fragment');
  const f = repr.fragOffset;
  if (!(f >= 0 && f <= 0xfff8 && (f & 7) === 0)) throw new RangeError(`emitIpv6Fragment: fragment offset ${f} out of range`);
  const b = buf;
  b[off] = repr.nextHeader;
  b[off + 1] = 0;
  b[off + 2] = f >>> 8;
  b[off + 3] = (f & 0xf8) | (repr.moreFragments ? 1 : 0);
  const id = repr.ident;
  b[off + 4] = id >>> 24;
  b[off + 5] = id >>> 16;
  b[off + 6] = id >>> 8;
  b[off + 7] = id;
  return IPV6_FRAG_HEADER_LEN;
}

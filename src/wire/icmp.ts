// ICMPv4 (RFC 792, RFC 1191 for the next-hop MTU): a zero-copy view and a
// parsed repr.
//
// |     Type      |     Code      |          Checksum             |
// |          Identifier           |        Sequence Number        |  (echo)
// |            unused             |         Next-Hop MTU          |  (frag needed)
import { IcmpHeaderView } from './view.ts';
import { assertRange } from './bytes.ts';
import { onesSum } from './checksum.ts';
import { WireError, WireErrorCode, wireError } from './error.ts';

export const IcmpType = {
  ECHO_REPLY: 0,
  DEST_UNREACHABLE: 3,
  REDIRECT: 5,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
  PARAM_PROBLEM: 12,
} as const;
export type IcmpType = (typeof IcmpType)[keyof typeof IcmpType];

export const IcmpDestUnreachableCode = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  /** Fragmentation needed and DF set; the header carries the next-hop MTU. */
  FRAG_NEEDED: 4,
  SOURCE_ROUTE_FAILED: 5,
} as const;

export const IcmpTimeExceededCode = {
  TTL: 0,
  FRAGMENT_REASSEMBLY: 1,
} as const;

export const ICMP_HEADER_LEN = 8;

/**
 * A view of an ICMP message at `buf[off, off+len)` (header + data). No
 * bounds checks in getters: call check() first. Offsets it returns are
 * absolute indexes into buf.
 */
export class IcmpView extends IcmpHeaderView {
  /** OK or TRUNCATED (len < 8). */
  check(): WireErrorCode {
    return this.len < ICMP_HEADER_LEN ? WireErrorCode.TRUNCATED : WireErrorCode.OK;
  }

  /** Next-hop MTU of a FRAG_NEEDED message (bytes 6-7, RFC 1191). */
  get nextHopMtu(): number {
    return this.seqNo;
  }
  set nextHopMtu(v: number) {
    this.seqNo = v;
  }

  /** Parameter problem pointer (byte 4). */
  get pointer(): number {
    return this.buf[this.off + 4]!;
  }
  set pointer(v: number) {
    this.buf[this.off + 4] = v;
  }

  /** Bytes 4-7 as a u32 ("rest of header"). */
  get rest(): number {
    return this.u32(4);
  }
  set rest(v: number) {
    const b = this.buf;
    const o = this.off + 4;
    b[o] = v >>> 24;
    b[o + 1] = v >>> 16;
    b[o + 2] = v >>> 8;
    b[o + 3] = v;
  }

  /** Same as rest. */
  get restOfHeader(): number {
    return this.rest;
  }
  set restOfHeader(v: number) {
    this.rest = v;
  }

  /** Absolute index in buf of the data after the 8-byte header. */
  get payloadOffset(): number {
    return this.off + ICMP_HEADER_LEN;
  }
  get payloadLength(): number {
    return this.len - ICMP_HEADER_LEN;
  }
  /** A subarray of the data (allocates a view object; avoid on hot paths). */
  payload(): Uint8Array {
    return this.buf.subarray(this.off + ICMP_HEADER_LEN, this.off + this.len);
  }

  /** True if the checksum over the whole message (len bytes) verifies. */
  verifyChecksum(): boolean {
    return onesSum(this.buf, this.off, this.len) === 0xffff;
  }

  /** Compute and store the checksum over the whole message (len bytes). */
  fillChecksum(): void {
    const b = this.buf;
    const o = this.off;
    b[o + 2] = 0;
    b[o + 3] = 0;
    const c = ~onesSum(b, o, this.len) & 0xffff;
    b[o + 2] = c >>> 8;
    b[o + 3] = c;
  }
}

export type IcmpRepr =
  | { kind: 'echo-request' | 'echo-reply'; ident: number; seqNo: number; dataLen: number }
  | { kind: 'dest-unreachable'; code: number; nextHopMtu?: number; dataLen: number }
  | { kind: 'time-exceeded'; code: number; dataLen: number }
  | { kind: 'other'; type: number; code: number; rest: number; dataLen: number };

export interface IcmpParseOptions {
  /** Default true: a bad checksum gives BAD_CHECKSUM. */
  verifyChecksum?: boolean;
}

/**
 * Parse the message a view (or a whole byte array) holds. Echo messages
 * with a non-zero code, and types without a dedicated shape, come back as
 * kind 'other'. nextHopMtu is present only for FRAG_NEEDED.
 */
export function parseIcmp(msg: IcmpView | Uint8Array, opts?: IcmpParseOptions): IcmpRepr | WireError {
  const v = msg instanceof IcmpView ? msg : new IcmpView(msg);
  const code = v.check();
  if (code !== WireErrorCode.OK) return wireError(code, 'icmp');
  if (opts?.verifyChecksum !== false && !v.verifyChecksum()) return wireError(WireErrorCode.BAD_CHECKSUM, 'icmp');
  const type = v.type;
  const c = v.code;
  const dataLen = v.payloadLength;
  if ((type === IcmpType.ECHO_REQUEST || type === IcmpType.ECHO_REPLY) && c === 0) {
    return { kind: type === IcmpType.ECHO_REQUEST ? 'echo-request' : 'echo-reply', ident: v.ident, seqNo: v.seqNo, dataLen };
  }
  if (type === IcmpType.DEST_UNREACHABLE) {
    if (c === IcmpDestUnreachableCode.FRAG_NEEDED) return { kind: 'dest-unreachable', code: c, nextHopMtu: v.nextHopMtu, dataLen };
    return { kind: 'dest-unreachable', code: c, dataLen };
  }
  if (type === IcmpType.TIME_EXCEEDED) return { kind: 'time-exceeded', code: c, dataLen };
  return { kind: 'other', type, code: c, rest: v.rest, dataLen };
}

/**
 * Write the 8-byte header for `repr` at buf[off] and fill the checksum over
 * header + the dataLen bytes already in buf after it. Returns 8. Throws
 * RangeError if those bytes are not inside buf.
 */
export function emitIcmp(repr: IcmpRepr, buf: Uint8Array, off: number): number {
  const total = ICMP_HEADER_LEN + repr.dataLen;
  if (!(repr.dataLen >= 0)) throw new RangeError(`emitIcmp: data length ${repr.dataLen} out of range`);
  assertRange(buf, off, total, 'emitIcmp');
  const b = buf;
  const o = off;
  let type: number;
  let code: number;
  let rest: number;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      type = repr.kind === 'echo-request' ? IcmpType.ECHO_REQUEST : IcmpType.ECHO_REPLY;
      code = 0;
      rest = (((repr.ident & 0xffff) << 16) | (repr.seqNo & 0xffff)) >>> 0;
      break;
    case 'dest-unreachable':
      type = IcmpType.DEST_UNREACHABLE;
      code = repr.code;
      rest = repr.code === IcmpDestUnreachableCode.FRAG_NEEDED ? (repr.nextHopMtu ?? 0) & 0xffff : 0;
      break;
    case 'time-exceeded':
      type = IcmpType.TIME_EXCEEDED;
      code = repr.code;
      rest = 0;
      break;
    case 'other':
      type = repr.type;
      code = repr.code;
      rest = repr.rest;
      break;
  }
  b[o] = type;
  b[o + 1] = code;
  b[o + 2] = 0;
  b[o + 3] = 0;
  b[o + 4] = rest >>> 24;
  b[o + 5] = rest >>> 16;
  b[o + 6] = rest >>> 8;
  b[o + 7] = rest;
  const c = ~onesSum(b, o, total) & 0xffff;
  b[o + 2] = c >>> 8;
  b[o + 3] = c;
  return ICMP_HEADER_LEN;
}

/** Alias of IcmpView. */
export const IcmpPacket = IcmpView;
export type IcmpPacket = IcmpView;

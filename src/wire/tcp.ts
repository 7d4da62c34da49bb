// TCP header (RFC 9293) and options (RFC 9293 MSS, RFC 7323 window scale
// and timestamps, RFC 2018 SACK): a zero-copy view, an allocation-free
// option parser into a reusable object, and a parsed repr.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// |          Source Port          |       Destination Port        |
// |                        Sequence Number                        |
// |                    Acknowledgment Number                      |
// |  Data |     |N|C|E|U|A|P|R|S|F|                               |
// | Offset| Rsv |S|W|C|R|C|S|S|Y|I|            Window             |
// |           Checksum            |         Urgent Pointer        |
// |                    Options (data offset > 5)                  |
import { PortsView } from './view.ts';
import { assertRange, readU32, writeU32 } from './bytes.ts';
import { ipv4PseudoHeaderSum, onesSum } from './checksum.ts';
import { WireError, WireErrorCode, wireError } from './error.ts';
import { IpProtocol } from './ipv4.ts';

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
  /** Bit 0 of byte 12: NS (RFC 3540, historic), reused as AE by AccECN. */
  NS: 0x100,
  AE: 0x100,
} as const;

export const TCP_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;
/** Maximum bytes of options (data offset 15). */
export const TCP_MAX_OPTIONS_LEN = 40;
/** RFC 7323 §2.3: larger shift counts are used as 14. */
export const TCP_MAX_WINDOW_SCALE = 14;
export const TCP_MAX_SACK_BLOCKS = 4;

export const TcpOptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMP: 8,
} as const;

/**
 * Parsed TCP options. Reuse one object per connection or per input path:
 * parseTcpOptions() resets and fills it without allocating.
 */
export interface TcpOptions {
  /** MSS option value; 0 = absent. */
  mss: number;
  /** Window scale shift (clamped to 14); -1 = absent. */
  wscale: number;
  sackPermitted: boolean;
  /** Number of SACK blocks (0..4) in sackBlocks. */
  sackCount: number;
  /** [left0, right0, left1, right1, ...] as u32 sequence numbers. */
  sackBlocks: Uint32Array;
  hasTimestamp: boolean;
  tsVal: number;
  tsEcr: number;
  /** Options of kinds this parser does not know (skipped by their length). */
  unknownCount: number;
}

export function newTcpOptions(): TcpOptions {
  return {
    mss: 0,
    wscale: -1,
    sackPermitted: false,
    sackCount: 0,
    sackBlocks: new Uint32Array(2 * TCP_MAX_SACK_BLOCKS),
    hasTimestamp: false,
    tsVal: 0,
    tsEcr: 0,
    unknownCount: 0,
  };
}

/** Back to "no options" (keeps the sackBlocks array). */
export function resetTcpOptions(o: TcpOptions): void {
  o.mss = 0;
  o.wscale = -1;
  o.sackPermitted = false;
  o.sackCount = 0;
  o.sackBlocks.fill(0);
  o.hasTimestamp = false;
  o.tsVal = 0;
  o.tsEcr = 0;
  o.unknownCount = 0;
}

/**
 * Parse the option bytes `buf[off, off+len)` into `out` (reset first).
 * Returns OK or BAD_OPTION: a length byte missing or < 2, an option running
 * past the region, a known kind with the wrong length (MSS 4, WS 3,
 * SACK-permitted 2, timestamps 10, SACK 2+8n with n in 1..4). EOL ends
 * parsing; unknown kinds are skipped by their length. A window scale above
 * 14 is stored as 14 (RFC 7323 §2.3). Reads nothing outside the region.
 */
export function parseTcpOptions(buf: Uint8Array, off: number, len: number, out: TcpOptions): WireErrorCode {
  resetTcpOptions(out);
  const b = buf;
  const end = off + len;
  let i = off;
  while (i < end) {
    const kind = b[i]!;
    if (kind === 0) break; // EOL
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) return WireErrorCode.BAD_OPTION;
    const olen = b[i + 1]!;
    if (olen < 2 || i + olen > end) return WireErrorCode.BAD_OPTION;
    switch (kind) {
      case 2:
        if (olen !== 4) return WireErrorCode.BAD_OPTION;
        out.mss = (b[i + 2]! << 8) | b[i + 3]!;
        break;
      case 3: {
        if (olen !== 3) return WireErrorCode.BAD_OPTION;
        const ws = b[i + 2]!;
        out.wscale = ws > TCP_MAX_WINDOW_SCALE ? TCP_MAX_WINDOW_SCALE : ws;
        break;
      }
      case 4:
        if (olen !== 2) return WireErrorCode.BAD_OPTION;
        out.sackPermitted = true;
        break;
      case 5: {
        const n = (olen - 2) >>> 3;
        if ((olen - 2) % 8 !== 0 || n < 1 || n > TCP_MAX_SACK_BLOCKS) return WireErrorCode.BAD_OPTION;
        const sb = out.sackBlocks;
        for (let k = 0, p = i + 2; k < n; k++, p += 8) {
          sb[2 * k] = readU32(b, p);
          sb[2 * k + 1] = readU32(b, p + 4);
        }
        for (let k = 2 * n; k < sb.length; k++) sb[k] = 0;
        out.sackCount = n;
        break;
      }
      case 8:
        if (olen !== 10) return WireErrorCode.BAD_OPTION;
        out.hasTimestamp = true;
        out.tsVal = readU32(b, i + 2);
        out.tsEcr = readU32(b, i + 6);
        break;
      default:
        out.unknownCount++;
    }
    i += olen;
  }
  return WireErrorCode.OK;
}

/** The options emitTcpOptions writes: MSS, SACK-permitted, timestamps, window scale, SACK blocks. */
export type TcpOptionsSpec = Pick<TcpOptions, 'mss' | 'wscale' | 'sackPermitted' | 'hasTimestamp' | 'tsVal' | 'tsEcr' | 'sackCount' | 'sackBlocks'>;

function baseOptionsLength(o: TcpOptionsSpec): number {
  let n = 0;
  if (o.mss > 0) n += 4;
  if (o.hasTimestamp) n += 12; // NOP NOP TS, or SACK_PERM TS
  else if (o.sackPermitted) n += 4; // NOP NOP SACK_PERM
  if (o.wscale >= 0) n += 4; // NOP WS
  return n;
}

/** SACK blocks that fit after the other options in 40 bytes (as Linux trims them). */
function sackBlocksToEmit(o: TcpOptionsSpec, base: number): number {
  let n = o.sackCount;
  if (n <= 0) return 0;
  if (n > TCP_MAX_SACK_BLOCKS) n = TCP_MAX_SACK_BLOCKS;
  const room = (TCP_MAX_OPTIONS_LEN - base - 4) >> 3;
  return n < room ? n : room < 0 ? 0 : room;
}

/** Bytes emitTcpOptions will write for `o` (a multiple of 4, at most 40). */
export function tcpOptionsLength(o: TcpOptionsSpec): number {
  const base = baseOptionsLength(o);
  const n = sackBlocksToEmit(o, base);
  return base + (n > 0 ? 4 + 8 * n : 0);
}

/**
 * Write options for `o` at buf[off] in Linux's layout, each piece padded
 * with NOPs to 4 bytes: MSS; SACK_PERM+TS, or NOP NOP TS, or NOP NOP
 * SACK_PERM; NOP WS; NOP NOP SACK(blocks). Window scale is clamped to 14;
 * SACK blocks that would not fit in 40 bytes are left out. Returns the
 * bytes written (tcpOptionsLength(o)). Throws RangeError if they do not fit
 * in buf.
 */
export function emitTcpOptions(o: TcpOptionsSpec, buf: Uint8Array, off: number): number {
  const base = baseOptionsLength(o);
  const nsack = sackBlocksToEmit(o, base);
  const total = base + (nsack > 0 ? 4 + 8 * nsack : 0);
  assertRange(buf, off, total, 'emitTcpOptions');
  const b = buf;
  let i = off;
  if (o.mss > 0) {
    b[i] = 2;
    b[i + 1] = 4;
    b[i + 2] = o.mss >>> 8;
    b[i + 3] = o.mss;
    i += 4;
  }
  if (o.hasTimestamp) {
    if (o.sackPermitted) {
      b[i] = 4;
      b[i + 1] = 2;
    } else {
      b[i] = 1;
      b[i + 1] = 1;
    }
    b[i + 2] = 8;
    b[i + 3] = 10;
    writeU32(b, i + 4, o.tsVal);
    writeU32(b, i + 8, o.tsEcr);
    i += 12;
  } else if (o.sackPermitted) {
    b[i] = 1;
    b[i + 1] = 1;
    b[i + 2] = 4;
    b[i + 3] = 2;
    i += 4;
  }
  if (o.wscale >= 0) {
    b[i] = 1;
    b[i + 1] = 3;
    b[i + 2] = 3;
    b[i + 3] = o.wscale > TCP_MAX_WINDOW_SCALE ? TCP_MAX_WINDOW_SCALE : o.wscale;
    i += 4;
  }
  if (nsack > 0) {
    b[i] = 1;
    b[i + 1] = 1;
    b[i + 2] = 5;
    b[i + 3] = 2 + 8 * nsack;
    i += 4;
    const sb = o.sackBlocks;
    for (let k = 0; k < 2 * nsack; k++, i += 4) writeU32(b, i, sb[k] ?? 0);
  }
  return i - off;
}

/**
 * A view of a TCP segment at `buf[off, off+len)`; len is the segment length
 * the IP layer gives (header + payload). Getters and setters do no bounds
 * checks: call check() first. Offsets it returns are absolute indexes into buf.
 */
export class TcpView extends PortsView {
  /** OK, TRUNCATED (len < 20) or BAD_DATA_OFFSET (< 5, or header past the segment). Options are not checked. */
  check(): WireErrorCode {
    if (this.len < TCP_HEADER_LEN) return WireErrorCode.TRUNCATED;
    const hl = (this.buf[this.off + 12]! >>> 4) << 2;
    if (hl < TCP_HEADER_LEN || hl > this.len) return WireErrorCode.BAD_DATA_OFFSET;
    return WireErrorCode.OK;
  }

  get seq(): number {
    return this.u32(4);
  }
  set seq(v: number) {
    this.setU32(4, v);
  }

  get ack(): number {
    return this.u32(8);
  }
  set ack(v: number) {
    this.setU32(8, v);
  }

  /** Data offset in 32-bit words. */
  get dataOffset(): number {
    return this.buf[this.off + 12]! >>> 4;
  }
  set dataOffset(v: number) {
    const o = this.off + 12;
    this.buf[o] = ((v & 0x0f) << 4) | (this.buf[o]! & 0x0f);
  }

  /** Header length in bytes (data offset * 4). */
  get headerLen(): number {
    return (this.buf[this.off + 12]! >>> 4) << 2;
  }
  /** Set in bytes; must be a multiple of 4. */
  set headerLen(v: number) {
    this.dataOffset = v >>> 2;
  }

  /** The 3 reserved bits between data offset and NS. */
  get reserved(): number {
    return (this.buf[this.off + 12]! >>> 1) & 0x07;
  }
  set reserved(v: number) {
    const o = this.off + 12;
    this.buf[o] = (this.buf[o]! & 0xf1) | ((v & 0x07) << 1);
  }

  /** The 9 flag bits: byte 13, plus NS/AE as 0x100. */
  get flags(): number {
    const b = this.buf;
    const o = this.off;
    return ((b[o + 12]! & 0x01) << 8) | b[o + 13]!;
  }
  set flags(v: number) {
    const o = this.off;
    this.buf[o + 12] = (this.buf[o + 12]! & 0xfe) | ((v >>> 8) & 0x01);
    this.buf[o + 13] = v;
  }

  get fin(): boolean {
    return (this.buf[this.off + 13]! & 0x01) !== 0;
  }
  get syn(): boolean {
    return (this.buf[this.off + 13]! & 0x02) !== 0;
  }
  get rst(): boolean {
    return (this.buf[this.off + 13]! & 0x04) !== 0;
  }
  get psh(): boolean {
    return (this.buf[this.off + 13]! & 0x08) !== 0;
  }
  get ackFlag(): boolean {
    return (this.buf[this.off + 13]! & 0x10) !== 0;
  }
  get urg(): boolean {
    return (this.buf[this.off + 13]! & 0x20) !== 0;
  }

  get window(): number {
    return this.u16(14);
  }
  set window(v: number) {
    this.setU16(14, v);
  }

  get checksum(): number {
    return this.u16(16);
  }
  set checksum(v: number) {
    this.setU16(16, v);
  }

  get urgent(): number {
    return this.u16(18);
  }
  set urgent(v: number) {
    this.setU16(18, v);
  }

  /** Absolute index in buf of the first option byte. */
  get optionsOffset(): number {
    return this.off + TCP_HEADER_LEN;
  }
  get optionsLength(): number {
    return this.headerLen - TCP_HEADER_LEN;
  }
  /** Absolute index in buf of the payload. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }
  get payloadLength(): number {
    return this.len - this.headerLen;
  }
  /** A subarray of the payload (allocates a view object; avoid on hot paths). */
  payload(): Uint8Array {
    const start = this.payloadOffset;
    return this.buf.subarray(start, this.off + this.len);
  }

  /** parseTcpOptions over this header's options; BAD_DATA_OFFSET if the header itself is malformed. */
  parseOptions(out: TcpOptions): WireErrorCode {
    const code = this.check();
    if (code !== WireErrorCode.OK) {
      resetTcpOptions(out);
      return code;
    }
    return parseTcpOptions(this.buf, this.off + TCP_HEADER_LEN, this.headerLen - TCP_HEADER_LEN, out);
  }

  /** True if the checksum over the whole segment (len bytes) and the pseudo-header verifies. */
  verifyChecksum(src: number, dst: number): boolean {
    if (this.len > 0xffff) return false;
    return onesSum(this.buf, this.off, this.len, ipv4PseudoHeaderSum(src, dst, IpProtocol.TCP, this.len)) === 0xffff;
  }

  /** Compute and store the checksum over the whole segment (len bytes). */
  fillChecksum(src: number, dst: number): void {
    this.fillChecksumFrom(ipv4PseudoHeaderSum(src, dst, IpProtocol.TCP, this.len));
  }

  /** Fill the checksum over the segment given its pseudo-header's unfolded sum (either family). */
  fillChecksumFrom(pseudoSum: number): void {
    const b = this.buf;
    const o = this.off;
    b[o + 16] = 0;
    b[o + 17] = 0;
    const c = ~onesSum(b, o, this.len, pseudoSum) & 0xffff;
    b[o + 16] = c >>> 8;
    b[o + 17] = c;
  }
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** TcpFlag bits, including NS/AE (0x100). */
  flags: number;
  window: number;
  urgent: number;
  options: TcpOptions;
  payloadLen: number;
}

export interface TcpParseOptions {
  /** Default true: a bad checksum gives BAD_CHECKSUM. */
  verifyChecksum?: boolean;
  /** Fill this TcpOptions object instead of allocating one. */
  into?: TcpOptions;
}

/**
 * Parse the segment a view (or a whole byte array) holds; src and dst are
 * the IPv4 addresses for the pseudo-header checksum.
 */
export function parseTcp(seg: TcpView | Uint8Array, src: number, dst: number, opts?: TcpParseOptions): TcpRepr | WireError {
  const v = seg instanceof TcpView ? seg : new TcpView(seg);
  const code = v.check();
  if (code !== WireErrorCode.OK) return wireError(code, 'tcp');
  const options = opts?.into ?? newTcpOptions();
  const oc = parseTcpOptions(v.buf, v.off + TCP_HEADER_LEN, v.headerLen - TCP_HEADER_LEN, options);
  if (oc !== WireErrorCode.OK) return wireError(oc, 'tcp');
  if (opts?.verifyChecksum !== false && !v.verifyChecksum(src, dst)) return wireError(WireErrorCode.BAD_CHECKSUM, 'tcp');
  return {
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    seq: v.seq,
    ack: v.ack,
    flags: v.flags,
    window: v.window,
    urgent: v.urgent,
    options,
    payloadLen: v.payloadLength,
  };
}

export interface TcpEmitOptions {
  /**
   * Partial sum (onesSum) of the payload when it is not in `buf` right
   * after the header (e.g. a pbuf chain: use chainOnesSum). By default the
   * payloadLen bytes after the header in buf are summed.
   */
  payloadSum?: number;
  /** Leave the checksum field 0 (checksum offload, or the caller fills it). */
  skipChecksum?: boolean;
}

/** Header length emitTcp writes for `repr`: 20 + tcpOptionsLength(options). */
export function tcpHeaderLength(repr: TcpRepr): number {
  return TCP_HEADER_LEN + tcpOptionsLength(repr.options);
}

/**
 * Write the header and options for `repr` at buf[off] and fill the
 * checksum over header + payload (see TcpEmitOptions). Returns the header
 * length. Throws RangeError if the header (or the payload to sum) is not
 * inside buf.
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, off: number, src: number, dst: number, opts?: TcpEmitOptions): number {
  const hl = tcpHeaderLength(repr);
  assertRange(buf, off, hl, 'emitTcp');
  const b = buf;
  const o = off;
  b[o] = repr.srcPort >>> 8;
  b[o + 1] = repr.srcPort;
  b[o + 2] = repr.dstPort >>> 8;
  b[o + 3] = repr.dstPort;
  writeU32(b, o + 4, repr.seq);
  writeU32(b, o + 8, repr.ack);
  b[o + 12] = ((hl >>> 2) << 4) | ((repr.flags >>> 8) & 0x01);
  b[o + 13] = repr.flags;
  b[o + 14] = repr.window >>> 8;
  b[o + 15] = repr.window;
  b[o + 16] = 0;
  b[o + 17] = 0;
  b[o + 18] = repr.urgent >>> 8;
  b[o + 19] = repr.urgent;
  emitTcpOptions(repr.options, b, o + TCP_HEADER_LEN);
  if (opts?.skipChecksum === true) return hl;
  const segLen = hl + repr.payloadLen;
  if (segLen > 0xffff) throw new RangeError(`emitTcp: segment length ${segLen} too long`);
  let s = ipv4PseudoHeaderSum(src, dst, IpProtocol.TCP, segLen);
  if (opts?.payloadSum !== undefined) {
    s = onesSum(b, o, hl, s + opts.payloadSum);
  } else {
    s = onesSum(b, o, segLen, s);
  }
  const c = ~s & 0xffff;
  b[o + 16] = c >>> 8;
  b[o + 17] = c;
  return hl;
}

/** Alias of TcpView. */
export const TcpPacket = TcpView;
export type TcpPacket = TcpView;

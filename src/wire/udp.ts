// UDP header (RFC 768): a zero-copy view and a parsed repr.
//
// |          Source Port          |       Destination Port        |
// |            Length             |           Checksum            |
import { PortsView } from './view.ts';
import { assertRange } from './bytes.ts';
import { ipv4PseudoHeaderSum, onesSum } from './checksum.ts';
import { WireError, WireErrorCode, wireError } from './error.ts';
import { IpProtocol } from './ipv4.ts';

export const UDP_HEADER_LEN = 8;

/**
 * A view of a UDP datagram at `buf[off, off+len)`; len is what the IP layer
 * gives. The datagram itself is `length` bytes (the header field), which
 * may be less than len. No bounds checks in getters: call check() first.
 * Offsets it returns are absolute indexes into buf.
 */
export class UdpView extends PortsView {
  /** OK, TRUNCATED (len < 8) or BAD_LENGTH (length field < 8 or > len). */
  check(): WireErrorCode {
    if (this.len < UDP_HEADER_LEN) return WireErrorCode.TRUNCATED;
    const l = (this.buf[this.off + 4]! << 8) | this.buf[this.off + 5]!;
    if (l < UDP_HEADER_LEN || l > this.len) return WireErrorCode.BAD_LENGTH;
    return WireErrorCode.OK;
  }

  /** Header + payload bytes, per the header. */
  get length(): number {
    return this.u16(4);
  }
  set length(v: number) {
    this.setU16(4, v);
  }

  /** 0 = no checksum was computed. */
  get checksum(): number {
    return this.u16(6);
  }
  set checksum(v: number) {
    this.setU16(6, v);
  }

  /** Absolute index in buf of the payload. */
  get payloadOffset(): number {
    return this.off + UDP_HEADER_LEN;
  }
  /** length - 8. */
  get payloadLength(): number {
    return this.length - UDP_HEADER_LEN;
  }
  /** A subarray of the payload (allocates a view object; avoid on hot paths). */
  payload(): Uint8Array {
    const start = this.off + UDP_HEADER_LEN;
    return this.buf.subarray(start, start + this.payloadLength);
  }

  /**
   * True if the checksum is 0 (none sent) or verifies over `length` bytes
   * with the pseudo-header. False if length is not inside the view.
   */
  verifyChecksum(src: number, dst: number): boolean {
    if (this.len < UDP_HEADER_LEN) return false;
    if (this.checksum === 0) return true;
    const l = this.length;
    if (l < UDP_HEADER_LEN || l > this.len) return false;
    return onesSum(this.buf, this.off, l, ipv4PseudoHeaderSum(src, dst, IpProtocol.UDP, l)) === 0xffff;
  }

  /** Compute and store the checksum over `length` bytes; a computed 0 is stored as 0xffff. */
  fillChecksum(src: number, dst: number): void {
    const b = this.buf;
    const o = this.off;
    const l = this.length;
    b[o + 6] = 0;
    b[o + 7] = 0;
    const c = udpFinish(onesSum(b, o, l, ipv4PseudoHeaderSum(src, dst, IpProtocol.UDP, l)));
    b[o + 6] = c >>> 8;
    b[o + 7] = c;
  }
}

/** The checksum field for a folded sum: RFC 768 sends a computed 0 as 0xffff. */
function udpFinish(sum: number): number {
  const c = ~sum & 0xffff;
  return c === 0 ? 0xffff : c;
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payloadLen: number;
}

export interface UdpParseOptions {
  /** Default true: a non-zero checksum that does not verify gives BAD_CHECKSUM. */
  verifyChecksum?: boolean;
}

/** Parse the datagram a view (or a whole byte array) holds. */
export function parseUdp(dgram: UdpView | Uint8Array, src: number, dst: number, opts?: UdpParseOptions): UdpRepr | WireError {
  const v = dgram instanceof UdpView ? dgram : new UdpView(dgram);
  const code = v.check();
  if (code !== WireErrorCode.OK) return wireError(code, 'udp');
  if (opts?.verifyChecksum !== false && !v.verifyChecksum(src, dst)) return wireError(WireErrorCode.BAD_CHECKSUM, 'udp');
  return { srcPort: v.srcPort, dstPort: v.dstPort, payloadLen: v.payloadLength };
}

export interface UdpEmitOptions {
  /** Partial sum of the payload when it is not in buf after the header (see chainOnesSum). */
  payloadSum?: number;
  /** Send checksum 0 ("none"). */
  skipChecksum?: boolean;
}

/**
 * Write the 8-byte header at buf[off] and fill the checksum over header +
 * the payload already in buf after it (or opts.payloadSum). Returns 8.
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, off: number, src: number, dst: number, opts?: UdpEmitOptions): number {
  assertRange(buf, off, UDP_HEADER_LEN, 'emitUdp');
  const l = UDP_HEADER_LEN + repr.payloadLen;
  if (!(repr.payloadLen >= 0 && l <= 0xffff)) throw new RangeError(`emitUdp: payload length ${repr.payloadLen} out of range`);
  const b = buf;
  const o = off;
  b[o] = repr.srcPort >>> 8;
  b[o + 1] = repr.srcPort;
  b[o + 2] = repr.dstPort >>> 8;
  b[o + 3] = repr.dstPort;
  b[o + 4] = l >>> 8;
  b[o + 5] = l;
  b[o + 6] = 0;
  b[o + 7] = 0;
  if (opts?.skipChecksum === true) return UDP_HEADER_LEN;
  const pseudo = ipv4PseudoHeaderSum(src, dst, IpProtocol.UDP, l);
  const s =
    opts?.payloadSum !== undefined ? onesSum(b, o, UDP_HEADER_LEN, pseudo + opts.payloadSum) : onesSum(b, o, l, pseudo);
  const c = udpFinish(s);
  b[o + 6] = c >>> 8;
  b[o + 7] = c;
  return UDP_HEADER_LEN;
}

/** Alias of UdpView. */
export const UdpPacket = UdpView;
export type UdpPacket = UdpView;

// The part every header view shares: a window `buf[off, off+len)` that one
// instance can be re-pointed at packet after packet without allocating.
import { assertRange, readU16, readU32, writeU16, writeU32 } from './bytes.ts';
import type { WireErrorCode } from './error.ts';

const EMPTY = new Uint8Array(0);

export abstract class ByteView {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  constructor(buf?: Uint8Array, off = 0, len?: number) {
    if (buf !== undefined) this.wrap(buf, off, len);
  }

  /** Point this view at `buf[off, off+len)`; throws RangeError if that is outside buf. */
  wrap(buf: Uint8Array, off = 0, len: number = buf.length - off): this {
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) assertRange(buf, off, len, `${this.constructor.name}.wrap`);
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  /** OK, or the first reason the bytes cannot be read as this header. Never allocates. */
  abstract check(): WireErrorCode;

  /** Big-endian 16-bit field at byte `at` of the view. */
  protected u16(at: number): number {
    return readU16(this.buf, this.off + at);
  }
  protected setU16(at: number, v: number): void {
    writeU16(this.buf, this.off + at, v);
  }

  /** Big-endian unsigned 32-bit field at byte `at` of the view. */
  protected u32(at: number): number {
    return readU32(this.buf, this.off + at);
  }
  protected setU32(at: number, v: number): void {
    writeU32(this.buf, this.off + at, v);
  }
}

/** TCP and UDP both start with the source and destination ports. */
export abstract class PortsView extends ByteView {
  get srcPort(): number {
    return this.u16(0);
  }
  set srcPort(v: number) {
    this.setU16(0, v);
  }

  get dstPort(): number {
    return this.u16(2);
  }
  set dstPort(v: number) {
    this.setU16(2, v);
  }
}

/**
 * ICMPv4 and ICMPv6 share their first 8 bytes: type, code, checksum, and
 * for echo messages the identifier and sequence number.
 */
export abstract class IcmpHeaderView extends ByteView {
  get type(): number {
    return this.buf[this.off]!;
  }
  set type(v: number) {
    this.buf[this.off] = v;
  }

  get code(): number {
    return this.buf[this.off + 1]!;
  }
  set code(v: number) {
    this.buf[this.off + 1] = v;
  }

  get checksum(): number {
    return this.u16(2);
  }
  set checksum(v: number) {
    this.setU16(2, v);
  }

  /** Echo identifier (bytes 4-5). */
  get ident(): number {
    return this.u16(4);
  }
  set ident(v: number) {
    this.setU16(4, v);
  }

  /** Echo sequence number (bytes 6-7). */
  get seqNo(): number {
    return this.u16(6);
  }
  set seqNo(v: number) {
    this.setU16(6, v);
  }
}

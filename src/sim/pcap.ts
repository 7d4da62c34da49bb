// Classic libpcap capture files, in memory. The writer turns (virtual time,
// frame) pairs into the bytes of a .pcap file; writing them to disk is the
// caller's business (the CLI). Timestamps are whatever the caller passes —
// in the simulator, the virtual clock's ms since its origin, so a capture
// starts at the Unix epoch and the same seed gives the same file.
//
// File layout (all fields in the writer's byte order, here little-endian):
//   global header, 24 bytes: magic 0xa1b2c3d4 u32, version_major 2 u16,
//     version_minor 4 u16, thiszone 0 i32, sigfigs 0 u32, snaplen u32,
//     network (link type) u32
//   per record, 16 bytes + data: ts_sec u32, ts_usec u32, incl_len u32,
//     orig_len u32, then incl_len bytes of the frame

/** LINKTYPE_RAW: each record is a raw IPv4 or IPv6 packet. */
export const LINKTYPE_RAW = 101;
/** LINKTYPE_ETHERNET, for completeness. */
export const LINKTYPE_ETHERNET = 1;

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;

const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

export interface PcapWriterOptions {
  /** Most bytes kept per frame (default 65535); longer frames are cut. */
  snaplen?: number;
  /** Link type of the records (default LINKTYPE_RAW, 101). */
  linktype?: number;
}

function checkU32(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0xffffffff) {
    throw new RangeError(`PcapWriter: ${name} must be an integer in [${min}, 2^32), got ${String(v)}`);
  }
  return v;
}

export class PcapWriter {
  readonly snaplen: number;
  readonly linktype: number;
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;
  private records = 0;

  constructor(opts: PcapWriterOptions = {}) {
    this.snaplen = checkU32('snaplen', opts.snaplen ?? 65535, 1);
    this.linktype = checkU32('linktype', opts.linktype ?? LINKTYPE_RAW, 0);
    this.buf = new Uint8Array(4096);
    this.view = new DataView(this.buf.buffer);
    const v = this.view;
    v.setUint32(0, PCAP_MAGIC_USEC, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, this.snaplen, true);
    v.setUint32(20, this.linktype, true);
    this.len = GLOBAL_HEADER;
  }

  /** Append one record: `frame` seen at `timeMs` (virtual ms, >= 0). The frame is copied. */
  write(timeMs: number, frame: Uint8Array): void {
    if (!Number.isFinite(timeMs) || timeMs < 0) {
      throw new RangeError(`PcapWriter: time must be a finite number of ms >= 0, got ${timeMs}`);
    }
    let sec = Math.floor(timeMs / 1000);
    let usec = Math.round((timeMs - sec * 1000) * 1000);
    if (usec >= 1_000_000) {
      sec++;
      usec -= 1_000_000;
    }
    if (sec > 0xffffffff) throw new RangeError(`PcapWriter: time ${timeMs} ms does not fit a pcap timestamp`);
    const incl = Math.min(frame.length, this.snaplen);
    this.reserve(RECORD_HEADER + incl);
    const v = this.view;
    const at = this.len;
    v.setUint32(at, sec, true);
    v.setUint32(at + 4, usec, true);
    v.setUint32(at + 8, incl, true);
    v.setUint32(at + 12, frame.length, true);
    this.buf.set(incl === frame.length ? frame : frame.subarray(0, incl), at + RECORD_HEADER);
    this.len = at + RECORD_HEADER + incl;
    this.records++;
  }

  /** Records written so far. */
  get count(): number {
    return this.records;
  }

  /** Size of the file so far, in bytes. */
  get byteLength(): number {
    return this.len;
  }

  /** The complete file (global header + records), as a copy. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private reserve(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const buf = new Uint8Array(cap);
    buf.set(this.buf.subarray(0, this.len));
    this.buf = buf;
    this.view = new DataView(buf.buffer);
  }
}

export interface PcapRecord {
  /** Capture time in ms (ts_sec * 1000 + fraction). */
  timeMs: number;
  /** The captured bytes (incl_len of them), copied out of the file. */
  data: Uint8Array;
  /** Length of the frame on the wire (>= data.length). */
  origLen: number;
}

export interface PcapFile {
  /** The header's network field (link type). */
  linktype: number;
  snaplen: number;
  records: PcapRecord[];
}

/** Largest record we accept regardless of snaplen (libpcap's own ceiling). */
const MAX_RECORD = 262144;

/**
 * Parse a classic pcap file in either byte order, with micro- or
 * nanosecond timestamps. Returns an Error (does not throw) for truncated or
 * malformed input.
 */
export function readPcap(bytes: Uint8Array): PcapFile | Error {
  if (bytes.length < GLOBAL_HEADER) {
    return new Error(`pcap: truncated global header (${bytes.length} of ${GLOBAL_HEADER} bytes)`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le: boolean;
  let nsec: boolean;
  const magicLE = v.getUint32(0, true);
  const magicBE = v.getUint32(0, false);
  if (magicLE === PCAP_MAGIC_USEC || magicLE === PCAP_MAGIC_NSEC) {
    le = true;
    nsec = magicLE === PCAP_MAGIC_NSEC;
  } else if (magicBE === PCAP_MAGIC_USEC || magicBE === PCAP_MAGIC_NSEC) {
    le = false;
    nsec = magicBE === PCAP_MAGIC_NSEC;
  } else {
    return new Error(`pcap: bad magic 0x${magicBE.toString(16).padStart(8, '0')}`);
  }
  const major = v.getUint16(4, le);
  const minor = v.getUint16(6, le);
  if (major !== 2) return new Error(`pcap: unsupported version ${major}.${minor}`);
  const snaplen = v.getUint32(16, le);
  const linktype = v.getUint32(20, le);
  const fracPerSec = nsec ? 1_000_000_000 : 1_000_000;
  const maxIncl = Math.max(snaplen, MAX_RECORD);

  const records: PcapRecord[] = [];
  let at = GLOBAL_HEADER;
  while (at < bytes.length) {
    if (bytes.length - at < RECORD_HEADER) {
      return new Error(`pcap: truncated record header at offset ${at} (record ${records.length})`);
    }
    const sec = v.getUint32(at, le);
    const frac = v.getUint32(at + 4, le);
    const incl = v.getUint32(at + 8, le);
    const orig = v.getUint32(at + 12, le);
    if (frac >= fracPerSec) {
      return new Error(`pcap: bad timestamp fraction ${frac} at offset ${at} (record ${records.length})`);
    }
    if (incl > maxIncl || incl > orig) {
      return new Error(`pcap: bad record lengths incl=${incl} orig=${orig} at offset ${at} (record ${records.length})`);
    }
    const start = at + RECORD_HEADER;
    if (bytes.length - start < incl) {
      return new Error(`pcap: truncated record data at offset ${start} (record ${records.length}: ${bytes.length - start} of ${incl} bytes)`);
    }
    records.push({
      timeMs: sec * 1000 + (frac * 1000) / fracPerSec,
      data: bytes.slice(start, start + incl),
      origLen: orig,
    });
    at = start + incl;
  }
  return { linktype, snaplen, records };
}

// lwIP's packet buffer. A pbuf is one piece of a chain: `buf[off, off+len)`
// is its payload, `totLen` counts this piece and every piece after it.
// RAM and POOL pbufs own a block from their pool (header room lives in front
// of the payload); ROM and REF pbufs point at caller memory and have none.
//
// Ownership follows lwIP: every holder of a reference calls free() once.
// free() walks the chain, dropping each piece whose count reaches zero.
// After the last free a pbuf is dead: its buffer goes back to the pool and
// may hold another packet's bytes, exactly as in C. Views taken with
// payload() must not outlive the pbuf.
import type { PbufPool } from './pool.ts';

export const PbufType = {
  /** Payload and header room in one pool block; header room can grow. */
  RAM: 0,
  /** Points at immutable caller memory; never copied, no header room. */
  ROM: 1,
  /** Points at caller memory that may change; copy before queuing. */
  REF: 2,
  /** Chain of fixed-size pool blocks, as received packets use. */
  POOL: 3,
} as const;
export type PbufType = (typeof PbufType)[keyof typeof PbufType];

export const PbufFlag = {
  PUSH: 0x01,
  IS_CUSTOM: 0x02,
  MCASTLOOP: 0x04,
  LLBCAST: 0x08,
  LLMCAST: 0x10,
  TCP_FIN: 0x20,
  /**
   * The transport checksum was not computed by the sender (a TUN vnet
   * header with VIRTIO_NET_HDR_F_NEEDS_CSUM): do not verify it.
   */
  CSUM_PARTIAL: 0x40,
  /** The device already verified the transport checksum (VIRTIO_NET_HDR_F_DATA_VALID). */
  CSUM_VALID: 0x80,
  /**
   * The device merged this TCP packet from two or more segments (receive
   * coalescing, GRO): TCP acknowledges it as it would the second of them.
   */
  COALESCED: 0x100,
} as const;

/** Thrown only for programming errors (double free, use after free), never for packet contents. */
export class PbufError extends Error {
  override name = 'PbufError';
}

const EMPTY = new Uint8Array(0);

export interface PbufCursor {
  pbuf: Pbuf;
  offset: number;
}

export class Pbuf {
  buf: Uint8Array;
  off: number;
  len: number;
  totLen: number;
  next: Pbuf | null = null;
  ref = 1;
  flags = 0;
  /** Index of the netif a received packet came in on (0 = none). */
  ifIdx = 0;
  /**
   * For a TCP super-segment on its way out: the MSS a GSO-capable device
   * cuts it into (0 for ordinary packets).
   */
  gsoSize = 0;
  readonly type: PbufType;
  /** Owning pool; also the accounting it is released to. */
  readonly pool: PbufPool;
  /** True if `buf` is a pool block that must be returned on free. */
  readonly ownsBlock: boolean;
  /**
   * For a slice piece (PbufPool.slice): the pbuf whose bytes it shows.
   * The piece holds one reference on it (which by lwIP's chain rule also
   * keeps the pieces after it alive); releasing the piece drops it.
   */
  parent: Pbuf | null = null;
  /**
   * Loans of this pbuf's block (PbufPool.lend): another stack reads bytes
   * [lentStart, lentEnd) of `buf` in place (the simulator passing a frame's
   * payload by reference). While any is out the block is not recycled,
   * even once this pbuf is freed, and no header may be written over the
   * lent bytes (addHeader refuses).
   */
  lent = 0;
  lentStart = 0;
  lentEnd = 0;
  /** For a borrowed piece (PbufPool.borrow): the pbuf whose block it shows, and the bytes its pool charged for it. */
  lender: Pbuf | null = null;
  charged = 0;

  /** @internal Use PbufPool.alloc / wrap. */
  constructor(pool: PbufPool, type: PbufType, buf: Uint8Array, off: number, len: number, ownsBlock: boolean) {
    this.pool = pool;
    this.type = type;
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.totLen = len;
    this.ownsBlock = ownsBlock;
  }

  /** A view of this piece's payload (allocates a view; avoid on hot paths). */
  payload(): Uint8Array {
    return this.buf.subarray(this.off, this.off + this.len);
  }

  /** Bytes of header room in front of the payload (0 for ROM/REF). */
  headerRoom(): number {
    return this.ownsBlock ? this.off : 0;
  }

  /** Number of pieces in the chain (lwIP pbuf_clen). */
  clen(): number {
    let n = 0;
    for (let q: Pbuf | null = this; q !== null; q = q.next) n++;
    return n;
  }

  /** Take another reference (lwIP pbuf_ref). */
  addRef(): void {
    if (this.ref <= 0) throw new PbufError('ref on a freed pbuf');
    this.ref++;
  }

  /**
   * Drop one reference to the chain (lwIP pbuf_free). Pieces whose count
   * reaches zero are released; the walk stops at the first still-referenced
   * piece. Returns how many pieces were released.
   */
  free(): number {
    let count = 0;
    let p: Pbuf | null = this;
    while (p !== null) {
      if (p.ref <= 0) throw new PbufError('double free of a pbuf');
      if (--p.ref > 0) break;
      const next: Pbuf | null = p.next;
      p.pool.release(p);
      p.next = null;
      p.buf = EMPTY;
      p.off = 0;
      p.len = 0;
      p.totLen = 0;
      count++;
      p = next;
    }
    return count;
  }

  /**
   * Move the payload start `n` bytes back to expose header room
   * (lwIP pbuf_add_header). Only RAM/POOL pbufs have room. Returns false,
   * leaving the pbuf unchanged, when there is not enough room.
   */
  addHeader(n: number): boolean {
    if (n < 0 || !Number.isInteger(n)) return false;
    // A zero increment is a no-op that succeeds on every type, as in lwIP's
    // pbuf_add_header_impl (so addHeader(hlen) with hlen 0 works on ROM/REF).
    if (n === 0) return true;
    if (!this.ownsBlock || n > this.off) return false;
    // Never write a header over bytes lent to a receiver (a trimmed segment's new header room may hold them).
    if (this.lent > 0 && this.off - n < this.lentEnd && this.off > this.lentStart) return false;
    this.off -= n;
    this.len += n;
    this.totLen += n;
    return true;
  }

  /** Hide `n` bytes at the front (lwIP pbuf_remove_header). Fails if n > len. */
  removeHeader(n: number): boolean {
    if (n < 0 || !Number.isInteger(n) || n > this.len) return false;
    this.off += n;
    this.len -= n;
    this.totLen -= n;
    return true;
  }

  /**
   * Adjust the front by a signed amount (lwIP pbuf_header): positive grows
   * the header, negative hides bytes.
   */
  header(delta: number): boolean {
    return delta >= 0 ? this.addHeader(delta) : this.removeHeader(-delta);
  }

  /**
   * Drop `n` bytes from the front of the chain (lwIP pbuf_free_header):
   * pieces wholly consumed are freed, the first remaining one loses the
   * rest. Returns the new head (this, a later piece, or null when nothing
   * is left). Ownership of the returned chain stays with the caller.
   */
  freeHeader(n: number): Pbuf | null {
    let p: Pbuf | null = this;
    let left = n;
    while (left > 0 && p !== null) {
      if (left >= p.len) {
        const f: Pbuf = p;
        left -= f.len;
        p = f.next;
        f.next = null;
        f.totLen = f.len;
        f.free();
      } else {
        p.removeHeader(left);
        left = 0;
      }
    }
    return p;
  }

  /**
   * Append `tail` to this chain (lwIP pbuf_cat). The chain takes over the
   * caller's reference to `tail`; do not free `tail` separately.
   */
  cat(tail: Pbuf): void {
    if (tail === this) throw new PbufError('cannot cat a pbuf to itself');
    let p: Pbuf = this;
    for (; p.next !== null; p = p.next) p.totLen += tail.totLen;
    p.totLen += tail.totLen;
    p.next = tail;
  }

  /** Append `tail` and take a new reference to it (lwIP pbuf_chain): the caller keeps its own. */
  chain(tail: Pbuf): void {
    this.cat(tail);
    tail.addRef();
  }

  /**
   * Detach everything after the first piece and return it (or null).
   * The reference the chain held on the tail passes to the caller, who
   * must free it. (lwIP's pbuf_dechain instead frees that reference and
   * returns the tail only if someone else still holds it; this form cannot
   * free a tail behind the caller's back.)
   */
  dechain(): Pbuf | null {
    const q = this.next;
    if (q === null) return null;
    q.totLen = this.totLen - this.len;
    this.next = null;
    this.totLen = this.len;
    return q;
  }

  /**
   * Shrink the chain to `newLen` bytes (lwIP pbuf_realloc). Pieces past the
   * new end are freed. Growing is not supported: returns false.
   */
  realloc(newLen: number): boolean {
    if (newLen < 0 || !Number.isInteger(newLen) || newLen > this.totLen) return false;
    if (newLen === this.totLen) return true;
    const shrink = this.totLen - newLen;
    let remaining = newLen;
    let q: Pbuf = this;
    while (remaining > q.len) {
      remaining -= q.len;
      q.totLen -= shrink;
      q = q.next!;
    }
    q.len = remaining;
    q.totLen = remaining;
    const rest = q.next;
    q.next = null;
    if (rest !== null) rest.free();
    return true;
  }

  /** Find the piece holding byte `offset` of the chain (lwIP pbuf_skip). */
  skip(offset: number): PbufCursor | null {
    let q: Pbuf | null = this;
    let off = offset;
    if (off < 0) return null;
    while (q !== null && off >= q.len) {
      off -= q.len;
      q = q.next;
    }
    // An offset equal to totLen lands past the last byte: no piece holds it.
    if (q === null) return null;
    return { pbuf: q, offset: off };
  }

  /** Byte at `offset` of the chain, or -1 if out of range (lwIP pbuf_try_get_at). */
  getAt(offset: number): number {
    let q: Pbuf | null = this;
    let off = offset;
    if (off < 0) return -1;
    while (q !== null) {
      if (off < q.len) return q.buf[q.off + off]!;
      off -= q.len;
      q = q.next;
    }
    return -1;
  }

  /** Set the byte at `offset`; false if out of range (lwIP pbuf_put_at). */
  putAt(offset: number, value: number): boolean {
    let q: Pbuf | null = this;
    let off = offset;
    if (off < 0) return false;
    while (q !== null) {
      if (off < q.len) {
        q.buf[q.off + off] = value;
        return true;
      }
      off -= q.len;
      q = q.next;
    }
    return false;
  }

  /**
   * Copy up to `len` bytes starting at chain offset `offset` into
   * `dst[dstOff...]` (lwIP pbuf_copy_partial). Returns the bytes copied.
   */
  copyPartial(dst: Uint8Array, len: number, offset: number, dstOff = 0): number {
    if (offset < 0 || len <= 0 || dstOff < 0) return 0;
    let want = Math.min(len, dst.length - dstOff);
    let copied = 0;
    let off = offset;
    for (let q: Pbuf | null = this; q !== null && want > 0; q = q.next) {
      if (off >= q.len) {
        off -= q.len;
        continue;
      }
      const n = Math.min(q.len - off, want);
      const start = q.off + off;
      dst.set(q.buf.subarray(start, start + n), dstOff + copied);
      copied += n;
      want -= n;
      off = 0;
    }
    return copied;
  }

  /** The whole chain's payload as one new array (for tests and tools; copies). */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.totLen);
    this.copyPartial(out, this.totLen, 0);
    return out;
  }

  /**
   * Copy `src[0, len)` into the chain starting at chain offset `offset`
   * (lwIP pbuf_take_at). Fails (false, nothing written) if it does not fit.
   */
  takeAt(src: Uint8Array, len: number, offset: number): boolean {
    if (len < 0 || offset < 0 || len > src.length || offset + len > this.totLen) return false;
    let done = 0;
    let off = offset;
    for (let q: Pbuf | null = this; q !== null && done < len; q = q.next) {
      if (off >= q.len) {
        off -= q.len;
        continue;
      }
      const n = Math.min(q.len - off, len - done);
      q.buf.set(src.subarray(done, done + n), q.off + off);
      done += n;
      off = 0;
    }
    return true;
  }

  /** Copy `src[0, len)` to the start of the chain (lwIP pbuf_take). */
  take(src: Uint8Array, len = src.length): boolean {
    return this.takeAt(src, len, 0);
  }

  /**
   * Compare `n` bytes of the chain at `offset` with `s2[0, n)`
   * (lwIP pbuf_memcmp): 0 if equal, else index+1 of the first difference;
   * -1 if the range runs past the chain (lwIP returns 0xffff, which on
   * chains over 64 KiB could also be a real index).
   */
  memcmp(offset: number, s2: Uint8Array, n: number): number {
    if (offset < 0 || n > s2.length || offset + n > this.totLen) return -1;
    const cur = this.skip(offset);
    if (cur === null) return n === 0 ? 0 : -1;
    let q: Pbuf | null = cur.pbuf;
    let off = cur.offset;
    for (let i = 0; i < n; i++) {
      while (off >= q!.len) {
        q = q!.next;
        off = 0;
      }
      if (q!.buf[q!.off + off] !== s2[i]) return i + 1;
      off++;
    }
    return 0;
  }

  /**
   * Offset of the first occurrence of `needle` at or after `start`
   * (lwIP pbuf_memfind), or -1 (lwIP returns 0xffff, which is ambiguous
   * for chains over 64 KiB).
   */
  memfind(needle: Uint8Array, start = 0): number {
    // A negative start means "from 0" for every needle: the empty needle used
    // to return `start` itself, i.e. a negative offset (or -1, "not found").
    const from = Math.max(0, start);
    if (needle.length === 0) return from <= this.totLen ? from : -1;
    const last = this.totLen - needle.length;
    for (let i = from; i <= last; i++) {
      if (this.memcmp(i, needle, needle.length) === 0) return i;
    }
    return -1;
  }
}

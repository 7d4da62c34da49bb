// The per-Stack pbuf pool: allocation, limits and accounting of every live
// pbuf and byte. Allocation at a limit fails cleanly (null, counted as a
// memory error) instead of throwing, as lwIP's pbuf_alloc returns NULL.
import { BlockAllocator, blockBytesFor } from './memory.ts';
import { Pbuf, PbufError, PbufType } from './pbuf.ts';

/** Where the payload starts: how much header room to leave in front (lwIP pbuf_layer). */
export const PbufLayer = {
  /** Room for transport + IP + link headers (data handed to TCP/UDP output). */
  TRANSPORT: 0,
  /** Room for IP + link headers. */
  IP: 1,
  /** Room for the link header only. */
  LINK: 2,
  /** No header room (received packets, raw frames). */
  RAW: 3,
} as const;
export type PbufLayer = (typeof PbufLayer)[keyof typeof PbufLayer];

export interface PbufPoolOptions {
  /** Link header room: covers a 10-byte virtio_net_hdr or a 14-byte Ethernet header. */
  linkHeaderRoom?: number;
  /** IP header room (IPv4 with options needs 60). */
  ipHeaderRoom?: number;
  /** Transport header room (TCP with options needs 60). */
  transportHeaderRoom?: number;
  /** Payload bytes per POOL piece (lwIP PBUF_POOL_BUFSIZE). */
  poolBufSize?: number;
  /** Most live pbufs of any type (lwIP MEMP_NUM_PBUF + pool size). */
  maxPbufs?: number;
  /** Most live POOL pieces (lwIP PBUF_POOL_SIZE). */
  maxPoolPbufs?: number;
  /** Most bytes of block memory held by live pbufs. */
  maxBytes?: number;
  /** Keep a set of live pbufs so leak reports can describe them (tests). */
  trackLive?: boolean;
}

export interface PbufPoolStats {
  /** Live pbuf pieces of any type. */
  pbufsInUse: number;
  /** Live POOL pieces. */
  poolPbufsInUse: number;
  /** Block bytes held by live pbufs (header room included). */
  bytesInUse: number;
  pbufsHighWater: number;
  poolPbufsHighWater: number;
  bytesHighWater: number;
  /** Successful piece allocations. */
  allocs: number;
  /** Pieces released back. */
  frees: number;
  /** Allocations refused at a limit (lwIP's memerr). */
  allocFailures: number;
}

const DEFAULTS = {
  linkHeaderRoom: 16,
  ipHeaderRoom: 60,
  transportHeaderRoom: 60,
  poolBufSize: 1600,
  maxPbufs: 1 << 20,
  maxPoolPbufs: 1 << 20,
  maxBytes: 512 * 1024 * 1024,
};

export class PbufPool {
  readonly opts: Readonly<Required<Omit<PbufPoolOptions, 'trackLive'>>>;
  readonly stats: PbufPoolStats = {
    pbufsInUse: 0,
    poolPbufsInUse: 0,
    bytesInUse: 0,
    pbufsHighWater: 0,
    poolPbufsHighWater: 0,
    bytesHighWater: 0,
    allocs: 0,
    frees: 0,
    allocFailures: 0,
  };
  readonly memory = new BlockAllocator();
  private readonly layerOffset: readonly number[];
  private readonly live: Set<Pbuf> | null;

  constructor(options: PbufPoolOptions = {}) {
    const o = { ...DEFAULTS, ...stripUndefined(options) };
    for (const [k, v] of Object.entries(o)) {
      if (k !== 'trackLive' && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) {
        throw new RangeError(`PbufPool option ${k} must be a non-negative integer, got ${String(v)}`);
      }
    }
    if (o.poolBufSize < 64) throw new RangeError('PbufPool poolBufSize must be at least 64');
    this.opts = {
      linkHeaderRoom: o.linkHeaderRoom,
      ipHeaderRoom: o.ipHeaderRoom,
      transportHeaderRoom: o.transportHeaderRoom,
      poolBufSize: o.poolBufSize,
      maxPbufs: o.maxPbufs,
      maxPoolPbufs: o.maxPoolPbufs,
      maxBytes: o.maxBytes,
    };
    const link = o.linkHeaderRoom;
    const ip = link + o.ipHeaderRoom;
    this.layerOffset = [ip + o.transportHeaderRoom, ip, link, 0];
    // A POOL piece must hold the largest header room plus some payload, as
    // lwIP requires PBUF_POOL_BUFSIZE to exceed the header lengths.
    if (o.poolBufSize <= this.layerOffset[0]!) {
      throw new RangeError(`PbufPool poolBufSize (${o.poolBufSize}) must exceed the transport-layer header room (${this.layerOffset[0]})`);
    }
    this.live = options.trackLive ? new Set() : null;
  }

  /** Header room a layer leaves in front of the payload. */
  headerRoom(layer: PbufLayer): number {
    return this.layerOffset[layer]!;
  }

  /**
   * Allocate `length` payload bytes with header room for `layer`
   * (lwIP pbuf_alloc). RAM gives one piece; POOL gives a chain of
   * poolBufSize pieces. Returns null (counted) at a limit. Contents are
   * not zeroed.
   */
  alloc(layer: PbufLayer, length: number, type: PbufType = PbufType.RAM): Pbuf | null {
    if (!Number.isInteger(length) || length < 0) throw new PbufError(`invalid pbuf length ${length}`);
    const offset = this.layerOffset[layer];
    if (offset === undefined) throw new PbufError(`invalid pbuf layer ${String(layer)}`);
    if (type === PbufType.RAM) return this.allocPiece(PbufType.RAM, offset, length);
    if (type === PbufType.POOL) return this.allocPoolChain(offset, length);
    throw new PbufError('ROM and REF pbufs wrap caller memory: use wrap()');
  }

  /**
   * A ROM or REF pbuf pointing at `data` without copying (lwIP
   * pbuf_alloc(PBUF_ROM/REF) plus setting the payload). It has no header
   * room and never owns the memory.
   */
  wrap(data: Uint8Array, type: typeof PbufType.ROM | typeof PbufType.REF = PbufType.ROM): Pbuf | null {
    if (!this.reserve(0, false)) return null;
    const p = new Pbuf(this, type, data, 0, data.length, false);
    this.track(p);
    return p;
  }

  /** A single RAM pbuf holding a copy of `data` at `layer` (convenience for tests and tools). */
  fromBytes(data: Uint8Array, layer: PbufLayer = PbufLayer.RAW): Pbuf | null {
    const p = this.alloc(layer, data.length, PbufType.RAM);
    if (p !== null) p.buf.set(data, p.off);
    return p;
  }

  /**
   * Copy a chain into one contiguous RAM pbuf (lwIP pbuf_coalesce). On
   * success `p` is freed and the new pbuf returned; a single-piece `p` is
   * returned as is. On ERR_MEM returns null and `p` is untouched.
   */
  coalesce(p: Pbuf, layer: PbufLayer = PbufLayer.RAW): Pbuf | null {
    if (p.next === null) return p;
    const q = this.clone(p, layer);
    if (q === null) return null;
    p.free();
    return q;
  }

  /** A contiguous RAM copy of the chain (lwIP pbuf_clone with PBUF_RAM). Null on ERR_MEM. */
  clone(p: Pbuf, layer: PbufLayer = PbufLayer.RAW): Pbuf | null {
    const q = this.alloc(layer, p.totLen, PbufType.RAM);
    if (q === null) return null;
    p.copyPartial(q.buf, p.totLen, 0, q.off);
    q.flags = p.flags;
    q.ifIdx = p.ifIdx;
    return q;
  }

  /**
   * Copy all of `src` into the start of `dst` (lwIP pbuf_copy). Fails
   * (false) if `dst` is shorter.
   */
  copy(dst: Pbuf, src: Pbuf): boolean {
    if (dst.totLen < src.totLen) return false;
    let off = 0;
    for (let q: Pbuf | null = src; q !== null; q = q.next) {
      if (!dst.takeAt(q.buf.subarray(q.off, q.off + q.len), q.len, off)) return false;
      off += q.len;
    }
    return true;
  }

  /**
   * A chain showing bytes [offset, offset + len) of `p` without copying
   * them (REF pieces pointing into p's blocks). Every piece holds a
   * reference on the piece of p whose bytes it shows (its `parent`), so
   * `p` may be freed meanwhile. Per piece, not once per slice: a piece of
   * p may itself be a slice piece whose memory only its own parent keeps
   * alive (a slice of a slice starting past the first slice's head).
   * Null (counted) at a pool limit; RangeError if the range is outside p.
   */
  slice(p: Pbuf, offset: number, len: number): Pbuf | null {
    if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len < 0 || offset + len > p.totLen) {
      throw new RangeError(`slice [${offset}, ${offset}+${len}) outside a chain of ${p.totLen} bytes`);
    }
    let q: Pbuf | null = p;
    let off = offset;
    while (q !== null && off >= q.len && !(len === 0 && off === q.len)) {
      off -= q.len;
      q = q.next;
    }
    let head: Pbuf | null = null;
    let tail: Pbuf | null = null;
    let left = len;
    do {
      const n = q === null ? 0 : Math.min(q.len - off, left);
      if (!this.reserve(0, false)) {
        if (head !== null) head.free();
        return null;
      }
      const shown = q ?? p;
      const v = new Pbuf(this, PbufType.REF, shown.buf, q === null ? p.off : q.off + off, n, false);
      this.track(v);
      shown.addRef();
      v.parent = shown;
      if (tail === null) head = v;
      else tail.next = v;
      tail = v;
      left -= n;
      off = 0;
      q = q === null ? null : q.next;
    } while (left > 0 && q !== null);
    // totLen of each piece: its bytes plus everything after it.
    let rest = len;
    for (let v: Pbuf | null = head; v !== null; v = v.next) {
      v.totLen = rest;
      rest -= v.len;
    }
    return head;
  }

  /** @internal Called by Pbuf.free for each piece whose count reached zero. */
  release(p: Pbuf): void {
    const s = this.stats;
    s.pbufsInUse--;
    s.frees++;
    if (p.type === PbufType.POOL) s.poolPbufsInUse--;
    if (p.ownsBlock) {
      s.bytesInUse -= p.buf.byteLength;
      this.memory.put(p.buf);
    }
    if (this.live !== null) this.live.delete(p);
    // A slice piece lets go of the piece whose bytes it showed.
    const parent = p.parent;
    if (parent !== null) {
      p.parent = null;
      parent.free();
    }
  }

  /** True when no pbuf from this pool is alive. */
  isEmpty(): boolean {
    return this.stats.pbufsInUse === 0 && this.stats.bytesInUse === 0;
  }

  /** Throw a PbufError describing what is still alive (for tests' final check). */
  assertEmpty(): void {
    if (this.isEmpty()) return;
    const s = this.stats;
    let detail = '';
    if (this.live !== null) {
      const sample = [...this.live].slice(0, 8).map((p) => `type=${p.type} len=${p.len} totLen=${p.totLen} ref=${p.ref}`);
      detail = `; live: ${sample.join(', ')}`;
    }
    throw new PbufError(`pbuf pool not empty: ${s.pbufsInUse} pbufs, ${s.bytesInUse} bytes in use${detail}`);
  }

  private allocPiece(type: PbufType, offset: number, length: number): Pbuf | null {
    const size = offset + length;
    if (!this.reserve(blockBytesFor(size), type === PbufType.POOL)) return null;
    const block = this.memory.get(size);
    const p = new Pbuf(this, type, block, offset, length, true);
    this.track(p);
    return p;
  }

  private allocPoolChain(offset: number, length: number): Pbuf | null {
    const unit = this.opts.poolBufSize;
    let head: Pbuf | null = null;
    let tail: Pbuf | null = null;
    let remaining = length;
    let first = true;
    do {
      const room = first ? Math.max(unit - offset, 0) : unit;
      const n = Math.min(remaining, room);
      const piece = this.allocPiece(PbufType.POOL, first ? offset : 0, n);
      if (piece === null) {
        if (head !== null) head.free();
        return null;
      }
      piece.totLen = remaining;
      if (tail === null) head = piece;
      else tail.next = piece;
      tail = piece;
      remaining -= n;
      first = false;
    } while (remaining > 0);
    return head;
  }

  /** Check limits and count the reservation; false (counted) if a limit is hit. */
  private reserve(bytes: number, isPool: boolean): boolean {
    const s = this.stats;
    const o = this.opts;
    if (s.pbufsInUse >= o.maxPbufs || s.bytesInUse + bytes > o.maxBytes || (isPool && s.poolPbufsInUse >= o.maxPoolPbufs)) {
      s.allocFailures++;
      return false;
    }
    s.pbufsInUse++;
    s.allocs++;
    s.bytesInUse += bytes;
    if (isPool) s.poolPbufsInUse++;
    if (s.pbufsInUse > s.pbufsHighWater) s.pbufsHighWater = s.pbufsInUse;
    if (s.poolPbufsInUse > s.poolPbufsHighWater) s.poolPbufsHighWater = s.poolPbufsInUse;
    if (s.bytesInUse > s.bytesHighWater) s.bytesHighWater = s.bytesInUse;
    return true;
  }

  private track(p: Pbuf): void {
    if (this.live !== null) this.live.add(p);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

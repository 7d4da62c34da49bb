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

/**
 * What an allocation is for, which decides how much of the pool it may use.
 * A slice of the pool (the input reserve) is kept from DATA so that a pool
 * full of queued, unsent data can still take in the RSTs, ACKs and pings
 * that would free it, and answer them.
 */
export const PbufUse = {
  /**
   * Memory the stack may hold for long: application data queued for
   * sending, copies, slices of queued data. Stops short of the input
   * reserve. The default.
   */
  DATA: 0,
  /**
   * Transient packets the stack builds and hands straight to a driver, which
   * copies them (ACK, RST, SYN headers, ICMP replies, IP headers,
   * fragments). May use the reserve: each is freed as soon as it is sent,
   * so it cannot pin it.
   */
  CONTROL: 1,
  /** Packets received by a driver (or looped back). May use the reserve. */
  RX: 2,
} as const;
export type PbufUse = (typeof PbufUse)[keyof typeof PbufUse];

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
  /** Most bytes of block memory held by live pbufs: the hard total. */
  maxBytes?: number;
  /**
   * Of maxBytes, how much only RX and CONTROL allocations may use (the
   * input reserve): DATA allocations fail this far below maxBytes.
   * Default maxBytes / 16 (32 MiB of the default 512 MiB).
   */
  rxReserveBytes?: number;
  /** The same for the pbuf count (of maxPbufs; default maxPbufs / 16). */
  rxReservePbufs?: number;
  /** The same for POOL pieces (of maxPoolPbufs; default maxPoolPbufs / 16). */
  rxReservePoolPbufs?: number;
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
  /** Allocations refused at a limit (lwIP's memerr), of every use. */
  allocFailures: number;
  /** Allocations (RX or CONTROL) that succeeded only thanks to the input reserve. */
  reserveAllocs: number;
  /** RX allocations refused: received packets a driver had to drop, reserve and all full. */
  rxAllocFailures: number;
  /** CONTROL allocations refused (an ACK, RST or reply not sent), reserve and all full. */
  controlAllocFailures: number;
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

/** Default input reserve: this fraction of each limit. */
const RESERVE_DIVISOR = 16;

/** The three limits one use of the pool is held to. */
interface Limits {
  bytes: number;
  pbufs: number;
  poolPbufs: number;
}

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
    reserveAllocs: 0,
    rxAllocFailures: 0,
    controlAllocFailures: 0,
  };
  readonly memory = new BlockAllocator();
  /** Limits for DATA (below the reserve) and for RX/CONTROL (the whole pool). */
  private readonly dataLimits: Limits;
  private readonly fullLimits: Limits;
  private readonly layerOffset: readonly number[];
  private readonly live: Set<Pbuf> | null;

  constructor(options: PbufPoolOptions = {}) {
    const base = { ...DEFAULTS, ...stripUndefined(options) };
    const o = {
      rxReserveBytes: Math.floor(base.maxBytes / RESERVE_DIVISOR),
      rxReservePbufs: Math.floor(base.maxPbufs / RESERVE_DIVISOR),
      rxReservePoolPbufs: Math.floor(base.maxPoolPbufs / RESERVE_DIVISOR),
      ...base,
    };
    for (const [k, v] of Object.entries(o)) {
      if (k !== 'trackLive' && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) {
        throw new RangeError(`PbufPool option ${k} must be a non-negative integer, got ${String(v)}`);
      }
    }
    if (o.poolBufSize < 64) throw new RangeError('PbufPool poolBufSize must be at least 64');
    if (o.rxReserveBytes > o.maxBytes || o.rxReservePbufs > o.maxPbufs || o.rxReservePoolPbufs > o.maxPoolPbufs) {
      throw new RangeError('PbufPool input reserve must not exceed the limit it is taken from');
    }
    this.opts = {
      linkHeaderRoom: o.linkHeaderRoom,
      ipHeaderRoom: o.ipHeaderRoom,
      transportHeaderRoom: o.transportHeaderRoom,
      poolBufSize: o.poolBufSize,
      maxPbufs: o.maxPbufs,
      maxPoolPbufs: o.maxPoolPbufs,
      maxBytes: o.maxBytes,
      rxReserveBytes: o.rxReserveBytes,
      rxReservePbufs: o.rxReservePbufs,
      rxReservePoolPbufs: o.rxReservePoolPbufs,
    };
    this.fullLimits = { bytes: o.maxBytes, pbufs: o.maxPbufs, poolPbufs: o.maxPoolPbufs };
    this.dataLimits = { bytes: o.maxBytes - o.rxReserveBytes, pbufs: o.maxPbufs - o.rxReservePbufs, poolPbufs: o.maxPoolPbufs - o.rxReservePoolPbufs };
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
   * not zeroed. `use` says how much of the pool it may take (PbufUse).
   */
  alloc(layer: PbufLayer, length: number, type: PbufType = PbufType.RAM, use: PbufUse = PbufUse.DATA): Pbuf | null {
    if (!Number.isInteger(length) || length < 0) throw new PbufError(`invalid pbuf length ${length}`);
    const offset = this.layerOffset[layer];
    if (offset === undefined) throw new PbufError(`invalid pbuf layer ${String(layer)}`);
    if (use !== PbufUse.DATA && use !== PbufUse.CONTROL && use !== PbufUse.RX) throw new PbufError(`invalid pbuf use ${String(use)}`);
    if (type !== PbufType.RAM && type !== PbufType.POOL) throw new PbufError('ROM and REF pbufs wrap caller memory: use wrap()');
    const p = type === PbufType.RAM ? this.allocPiece(PbufType.RAM, offset, length, use) : this.allocPoolChain(offset, length, use);
    if (p !== null || use === PbufUse.DATA || this.onShortage === null || !this.onShortage()) return p;
    // Memory was freed for input and control traffic (lwIP PBUF_POOL_FREE_OOSEQ): once more.
    return type === PbufType.RAM ? this.allocPiece(PbufType.RAM, offset, length, use) : this.allocPoolChain(offset, length, use);
  }

  /**
   * Called when an RX or CONTROL allocation finds the whole pool full; true
   * if it freed something worth retrying for. The Stack sets it to drop TCP's
   * out-of-order queues, which otherwise pin the memory that the in-order
   * retransmission filling the hole needs.
   */
  onShortage: (() => boolean) | null = null;

  /**
   * A received packet of `length` bytes for a driver to copy into (RAW
   * layer, RX use: the input reserve is open to it). Null (counted in
   * rxAllocFailures) only when the whole pool is full.
   */
  allocRx(length: number, type: PbufType = PbufType.RAM): Pbuf | null {
    return this.alloc(PbufLayer.RAW, length, type, PbufUse.RX);
  }

  /** Block bytes DATA allocations may hold in all (the pool less its input reserve). */
  get dataBytesLimit(): number {
    return this.dataLimits.bytes;
  }

  /** Block bytes a DATA allocation could still take (0 once it reaches the input reserve). */
  dataBytesLeft(): number {
    return Math.max(0, this.dataLimits.bytes - this.stats.bytesInUse);
  }

  /**
   * A ROM or REF pbuf pointing at `data` without copying (lwIP
   * pbuf_alloc(PBUF_ROM/REF) plus setting the payload). It has no header
   * room and never owns the memory.
   */
  wrap(data: Uint8Array, type: typeof PbufType.ROM | typeof PbufType.REF = PbufType.ROM, use: PbufUse = PbufUse.DATA): Pbuf | null {
    if (!this.reserve(0, false, use)) return null;
    const p = new Pbuf(this, type, data, 0, data.length, false);
    this.track(p);
    return p;
  }

  /** A single RAM pbuf holding a copy of `data` at `layer` (convenience for tests and tools). */
  fromBytes(data: Uint8Array, layer: PbufLayer = PbufLayer.RAW, use: PbufUse = PbufUse.DATA): Pbuf | null {
    const p = this.alloc(layer, data.length, PbufType.RAM, use);
    if (p !== null) p.buf.set(data, p.off);
    return p;
  }

  /**
   * Copy a chain into one contiguous RAM pbuf (lwIP pbuf_coalesce). On
   * success `p` is freed and the new pbuf returned; a single-piece `p` is
   * returned as is. On ERR_MEM returns null and `p` is untouched.
   */
  coalesce(p: Pbuf, layer: PbufLayer = PbufLayer.RAW, use: PbufUse = PbufUse.DATA): Pbuf | null {
    if (p.next === null) return p;
    const q = this.clone(p, layer, use);
    if (q === null) return null;
    p.free();
    return q;
  }

  /** A contiguous RAM copy of the chain (lwIP pbuf_clone with PBUF_RAM). Null on ERR_MEM. */
  clone(p: Pbuf, layer: PbufLayer = PbufLayer.RAW, use: PbufUse = PbufUse.DATA): Pbuf | null {
    const q = this.alloc(layer, p.totLen, PbufType.RAM, use);
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
  slice(p: Pbuf, offset: number, len: number, use: PbufUse = PbufUse.DATA): Pbuf | null {
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
      if (!this.reserve(0, false, use)) {
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

  /**
   * Lend bytes [start, end) of `p`'s block (indices into p.buf) to a reader
   * in another stack, without a reference: p's owner may free p at any
   * time and its pool accounts for that as usual, but the block is not
   * recycled until the loan ends (borrow() then the borrowed piece's
   * release, or endLoan), and addHeader never writes over the lent bytes.
   * Returns the block to pass to borrow()/endLoan(). `p` must own its block.
   */
  lend(p: Pbuf, start: number, end: number): Uint8Array {
    if (!p.ownsBlock || p.ref <= 0) throw new PbufError('only a live pbuf that owns its block can lend it');
    if (p.lent === 0) {
      p.lentStart = start;
      p.lentEnd = end;
    } else {
      if (start < p.lentStart) p.lentStart = start;
      if (end > p.lentEnd) p.lentEnd = end;
    }
    p.lent++;
    return p.buf;
  }

  /**
   * A REF piece of this pool showing `block[start, start + len)`, taking
   * over a loan made by lender.pool.lend(): releasing the piece ends the
   * loan. This pool is charged `chargeBytes` (what a copy of the received
   * frame would have held, so limits and accounting stay as with copies).
   * Null (counted, the loan still open) at a limit of `use`.
   */
  borrow(lender: Pbuf, block: Uint8Array, start: number, len: number, chargeBytes: number, use: PbufUse = PbufUse.RX): Pbuf | null {
    if (!this.reserve(chargeBytes, false, use) && (use === PbufUse.DATA || this.onShortage === null || !this.onShortage() || !this.reserve(chargeBytes, false, use))) return null;
    const p = new Pbuf(this, PbufType.REF, block, start, len, false);
    p.lender = lender;
    p.charged = chargeBytes;
    this.track(p);
    return p;
  }

  /** Block bytes allocRx(length, POOL) would take: what a borrowed piece standing for a copied frame is charged. */
  rxPoolBytes(length: number): number {
    const unit = this.opts.poolBufSize;
    let bytes = 0;
    for (let left = length; ; left -= unit) {
      bytes += blockBytesFor(Math.min(left, unit));
      if (left <= unit) return bytes;
    }
  }

  /** @internal Called by Pbuf.free for each piece whose count reached zero. */
  release(p: Pbuf): void {
    const s = this.stats;
    s.pbufsInUse--;
    s.frees++;
    if (p.type === PbufType.POOL) s.poolPbufsInUse--;
    if (p.ownsBlock) {
      s.bytesInUse -= p.buf.byteLength;
      // A lent block goes back to the allocator when its last loan ends (endLoan), not now.
      if (p.lent === 0) this.memory.put(p.buf);
    }
    if (this.live !== null) this.live.delete(p);
    // A borrowed piece gives back what it was charged and ends its loan.
    const lender = p.lender;
    if (lender !== null) {
      s.bytesInUse -= p.charged;
      p.lender = null;
      p.charged = 0;
      endLoan(lender, p.buf);
    }
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

  private allocPiece(type: PbufType, offset: number, length: number, use: PbufUse): Pbuf | null {
    const size = offset + length;
    if (!this.reserve(blockBytesFor(size), type === PbufType.POOL, use)) return null;
    const block = this.memory.get(size);
    const p = new Pbuf(this, type, block, offset, length, true);
    this.track(p);
    return p;
  }

  private allocPoolChain(offset: number, length: number, use: PbufUse): Pbuf | null {
    const unit = this.opts.poolBufSize;
    let head: Pbuf | null = null;
    let tail: Pbuf | null = null;
    let remaining = length;
    let first = true;
    do {
      const room = first ? Math.max(unit - offset, 0) : unit;
      const n = Math.min(remaining, room);
      const piece = this.allocPiece(PbufType.POOL, first ? offset : 0, n, use);
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

  /** Check the limits of `use` and count the reservation; false (counted) if a limit is hit. */
  private reserve(bytes: number, isPool: boolean, use: PbufUse): boolean {
    const s = this.stats;
    const d = this.dataLimits;
    if (s.pbufsInUse >= d.pbufs || s.bytesInUse + bytes > d.bytes || (isPool && s.poolPbufsInUse >= d.poolPbufs)) {
      // Beyond the DATA limits: only RX and CONTROL may go on, into the reserve.
      const f = this.fullLimits;
      if (use === PbufUse.DATA || s.pbufsInUse >= f.pbufs || s.bytesInUse + bytes > f.bytes || (isPool && s.poolPbufsInUse >= f.poolPbufs)) {
        s.allocFailures++;
        if (use === PbufUse.RX) s.rxAllocFailures++;
        else if (use === PbufUse.CONTROL) s.controlAllocFailures++;
        return false;
      }
      s.reserveAllocs++;
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

/**
 * End one loan of `lender`'s block (see PbufPool.lend), e.g. when the frame
 * that carried it was dropped before anyone borrowed it. The block goes
 * back to the lender's allocator once no loan is left and the lender is freed.
 */
export function endLoan(lender: Pbuf, block: Uint8Array): void {
  if (lender.lent <= 0) throw new PbufError('loan ended twice');
  if (--lender.lent > 0) return;
  lender.lentStart = 0;
  lender.lentEnd = 0;
  if (lender.ref === 0) lender.pool.memory.put(block);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

// IPv6 fragment reassembly (RFC 8200 §4.5), zero-copy in the style of the
// IPv4 Reassembler: fragments are kept as pbufs in offset order and chained
// when the packet is whole.
//
// Rules:
// - key: source, destination, identification; the Next Header is not part
//   of it (RFC 8200 §4.5);
// - an atomic fragment (offset 0, M 0) is a whole packet: it is returned at
//   once and never mixed with pending fragments of the same id (RFC 6946);
// - any overlap discards the whole packet and the fragments of it that come
//   later (RFC 5722; RFC 8200 §4.5). An exact duplicate (same range, same M,
//   same bytes) is dropped alone: networks do duplicate packets, and equal
//   bytes at an equal place cannot change what is reassembled, which is what
//   RFC 5722 guards against. A "duplicate" whose bytes differ is an overlap;
// - a non-last fragment must carry a non-zero multiple of 8 bytes, and no
//   fragment may make the reassembled Payload Length exceed 65535 (§4.5);
// - memory is bounded in bytes, packets and fragments per packet, evicting
//   the oldest packet first;
// - a packet not complete within 60 s (§4.5) is discarded, and if its first
//   fragment had arrived `onTimeout` is called for an ICMPv6 Time Exceeded,
//   code 1 (RFC 4443 §3.3).
// Outcomes are counted by reason in `counters` (Reassembly6Counters).
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { Clock } from '../time/clock.ts';
import type { Timer, TimerCallback } from '../time/timer-heap.ts';
import { IPV6_FRAG_HEADER_LEN, type Ipv6ExtResult } from '../wire/ipv6-ext.ts';
import { IPV6_HEADER_LEN } from '../wire/ipv6.ts';

export interface Reassembly6Options {
  /** Most fragment data bytes held across all packets (default 256 KiB). */
  maxBytes?: number;
  /** Most packets under reassembly at once, discarded ones waiting out their time included (default 32). */
  maxDatagrams?: number;
  /** Most fragments one packet may have (default 128). */
  maxFragments?: number;
  /** Time a packet may take to complete (default 60 s, RFC 8200 §4.5). */
  timeoutMs?: number;
}

export interface Reassembly6Counters {
  /** Packets completed and returned. */
  reassembled: number;
  /** Atomic fragments (offset 0, M 0) returned alone (RFC 6946). */
  atomic: number;
  /** Packets discarded because two fragments overlapped (RFC 5722). */
  overlaps: number;
  /** Exact duplicate fragments dropped (the packet is kept). */
  duplicateFragments: number;
  /** Fragments dropped because their packet was discarded earlier (overlap, inconsistent ends, too many fragments). */
  afterDiscard: number;
  /** Packets discarded because fragments disagreed about where it ends. */
  inconsistentEnds: number;
  /** Fragments (or completed packets) dropped for a reassembled Payload Length above 65535. */
  oversize: number;
  /** Fragments dropped for a bad length (not the last and not a non-zero multiple of 8, or shorter than its header says). */
  badLength: number;
  /** Packets discarded for having more than maxFragments fragments. */
  tooManyFragments: number;
  /** Packets evicted because maxDatagrams were pending. */
  tooManyDatagrams: number;
  /** Packets evicted or refused because maxBytes were held. */
  memoryLimit: number;
  /** Packets that timed out incomplete. */
  timeouts: number;
  /** Of those, the ones whose first fragment had arrived (onTimeout called). */
  timeExceeded: number;
}

export function newReassembly6Counters(): Reassembly6Counters {
  return {
    reassembled: 0,
    atomic: 0,
    overlaps: 0,
    duplicateFragments: 0,
    afterDiscard: 0,
    inconsistentEnds: 0,
    oversize: 0,
    badLength: 0,
    tooManyFragments: 0,
    tooManyDatagrams: 0,
    memoryLimit: 0,
    timeouts: 0,
    timeExceeded: 0,
  };
}

/** What the reassembler needs from the stack (IpHost satisfies it). */
export interface Reassembly6Host {
  readonly clock: Clock;
  timer(cb: TimerCallback, name?: string | (() => string)): Timer;
}

interface Fragment {
  /** The fragment; the first one (offset 0) keeps its headers in front, the others start at their data. */
  p: Pbuf;
  start: number;
  end: number;
  more: boolean;
  /** Bytes in front of the data in `p` (0 but for the first fragment). */
  dataOff: number;
}

interface Datagram {
  key: string;
  frags: Fragment[];
  /** Data bytes held. */
  bytes: number;
  /** Data length once the last fragment (M 0) is known, else -1. */
  totalLen: number;
  /** Unfragmentable part of the first fragment (fixed header included), once it arrived, else 0. */
  unfragLen: number;
  /** Offset in the first fragment of the Next Header byte that names the Fragment header. */
  nhAt: number;
  /** The Fragment header's Next Header in the first fragment. */
  fragNextHeader: number;
  expiresAt: number;
  /** Discarded as malformed: later fragments are dropped until it expires (RFC 5722). */
  dead: boolean;
}

const MAX_PAYLOAD = 0xffff;
const PAYLOAD_LEN_AT = 4;
const NEXT_HEADER_AT = 6;

export class Reassembler6 {
  readonly counters: Reassembly6Counters = newReassembly6Counters();
  private readonly datagrams = new Map<string, Datagram>();
  private readonly timer: Timer;
  private heldBytes = 0;
  readonly maxBytes: number;
  readonly maxDatagrams: number;
  readonly maxFragments: number;
  readonly timeoutMs: number;

  constructor(
    private readonly host: Reassembly6Host,
    opts: Reassembly6Options = {},
    /** `first` starts at the IPv6 header of the first fragment; not owned by the callee. */
    private readonly onTimeout: (first: Pbuf, code: number) => void = () => {},
  ) {
    this.maxBytes = opts.maxBytes ?? 256 * 1024;
    this.maxDatagrams = opts.maxDatagrams ?? 32;
    this.maxFragments = opts.maxFragments ?? 128;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    for (const [k, v] of Object.entries({ maxBytes: this.maxBytes, maxDatagrams: this.maxDatagrams, maxFragments: this.maxFragments, timeoutMs: this.timeoutMs })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`reassembly6 ${k} must be a positive integer`);
    }
    this.timer = host.timer(() => this.expire(), 'ipv6 reassembly');
  }

  /** Packets under reassembly (discarded ones waiting out their time included). */
  get pending(): number {
    return this.datagrams.size;
  }

  /** Data bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Take a fragment: `p` holds the whole IPv6 packet from its fixed header,
   * the headers up to the Fragment header in its first piece, and `ext` is
   * what walkIpv6Ext returned OK for it (hasFragment true). Takes ownership
   * of `p`. Returns the reassembled packet (fixed header, unfragmentable
   * headers of the first fragment with the Fragment header removed, then the
   * data) when this fragment completes one, else null (held or dropped,
   * counted).
   */
  insert(p: Pbuf, ext: Ipv6ExtResult): Pbuf | null {
    const c = this.counters;
    const b = p.buf;
    const o = p.off;
    const unfragLen = ext.fragHeaderOffset - o;
    const dataOff = ext.fragDataOffset - o;
    const packetLen = IPV6_HEADER_LEN + ((b[o + PAYLOAD_LEN_AT]! << 8) | b[o + PAYLOAD_LEN_AT + 1]!);
    if (!ext.hasFragment || unfragLen < IPV6_HEADER_LEN || dataOff !== unfragLen + IPV6_FRAG_HEADER_LEN || dataOff > p.len || packetLen < dataOff || p.totLen < packetLen) {
      c.badLength++;
      return drop(p);
    }
    if (p.totLen > packetLen) p.realloc(packetLen); // link-layer padding
    const start = ext.fragOffset;
    const more = ext.moreFragments;
    const len = packetLen - dataOff;
    const end = start + len;
    // §4.5: non-last fragments carry a multiple of 8 bytes; an empty one is useless.
    if (more && (len === 0 || (len & 7) !== 0)) {
      c.badLength++;
      return drop(p);
    }
    if (unfragLen - IPV6_HEADER_LEN + end > MAX_PAYLOAD) {
      c.oversize++;
      return drop(p);
    }
    if (start === 0 && !more) {
      // RFC 6946: an atomic fragment is a packet of its own.
      c.atomic++;
      removeFragmentHeader(p, unfragLen, nextHeaderAt(p, unfragLen), ext.fragNextHeader, len);
      return p;
    }

    const key = makeKey(b, o, ext.fragIdent);
    let d = this.datagrams.get(key);
    if (d !== undefined && d.dead) {
      c.afterDiscard++;
      return drop(p);
    }
    if (d === undefined) {
      if (this.datagrams.size >= this.maxDatagrams) this.evictOldest(null, 'tooManyDatagrams');
      d = { key, frags: [], bytes: 0, totalLen: -1, unfragLen: 0, nhAt: 0, fragNextHeader: 0, expiresAt: this.host.clock.now() + this.timeoutMs, dead: false };
      this.datagrams.set(key, d);
      if (!this.timer.active) this.timer.startAt(d.expiresAt);
    }

    // Where does [start, end) go, and does it collide with a neighbour?
    const frags = d.frags;
    let i = 0;
    while (i < frags.length && frags[i]!.start < start) i++;
    const next = frags[i];
    const prev = frags[i - 1];
    if (next !== undefined && next.start === start && next.end === end && next.more === more && sameBytes(next.p, next.dataOff, p, dataOff, len)) {
      c.duplicateFragments++;
      return drop(p);
    }
    if ((prev !== undefined && prev.end > start) || (next !== undefined && (next.start < end || next.start === start))) {
      c.overlaps++;
      this.kill(d);
      return drop(p);
    }
    if (!more) {
      const last = frags[frags.length - 1];
      if ((d.totalLen >= 0 && d.totalLen !== end) || (last !== undefined && last.end > end)) {
        c.inconsistentEnds++;
        this.kill(d);
        return drop(p);
      }
    } else if (d.totalLen >= 0 && end > d.totalLen) {
      c.inconsistentEnds++;
      this.kill(d);
      return drop(p);
    }
    if (frags.length >= this.maxFragments) {
      c.tooManyFragments++;
      this.kill(d);
      return drop(p);
    }
    // Make room: evict other packets, oldest first; give up if this one alone is too big.
    while (this.heldBytes + len > this.maxBytes && this.evictOldest(d, 'memoryLimit')) {
      /* evicted one */
    }
    if (this.heldBytes + len > this.maxBytes) {
      c.memoryLimit++;
      this.discard(d);
      return drop(p);
    }

    if (!more) d.totalLen = end;
    if (start === 0) {
      d.unfragLen = unfragLen;
      d.nhAt = nextHeaderAt(p, unfragLen);
      d.fragNextHeader = ext.fragNextHeader;
      frags.splice(i, 0, { p, start, end, more, dataOff });
    } else {
      p.removeHeader(dataOff);
      frags.splice(i, 0, { p, start, end, more, dataOff: 0 });
    }
    d.bytes += len;
    this.heldBytes += len;

    if (d.totalLen < 0 || d.unfragLen === 0 || d.bytes !== d.totalLen) return null;
    // Other fragments were checked against their own unfragmentable part; the first one's is what counts.
    if (d.unfragLen - IPV6_HEADER_LEN + d.totalLen > MAX_PAYLOAD) {
      c.oversize++;
      this.kill(d);
      return null;
    }
    return this.assemble(d);
  }

  /** Free everything held and stop the timer. */
  clear(): void {
    for (const d of [...this.datagrams.values()]) this.discard(d);
    this.timer.stop();
  }

  private assemble(d: Datagram): Pbuf {
    this.datagrams.delete(d.key);
    this.heldBytes -= d.bytes;
    this.rescheduleTimer();
    const head = d.frags[0]!.p;
    removeFragmentHeader(head, d.unfragLen, d.nhAt, d.fragNextHeader, d.totalLen);
    for (let i = 1; i < d.frags.length; i++) head.cat(d.frags[i]!.p);
    this.counters.reassembled++;
    return head;
  }

  private expire(): void {
    const now = this.host.clock.now();
    for (const d of this.datagrams.values()) {
      if (d.expiresAt > now) break; // insertion order is expiry order
      if (!d.dead) {
        this.counters.timeouts++;
        const first = d.frags[0];
        if (first !== undefined && first.start === 0) {
          this.counters.timeExceeded++;
          this.onTimeout(first.p, 1 /* fragment reassembly time exceeded */);
        }
      }
      this.discard(d);
    }
    this.rescheduleTimer();
  }

  private rescheduleTimer(): void {
    const first = this.datagrams.values().next();
    if (first.done) this.timer.stop();
    else this.timer.startAt(first.value.expiresAt);
  }

  /** Evict the oldest packet other than `keep`; false if there is none. */
  private evictOldest(keep: Datagram | null, reason: 'tooManyDatagrams' | 'memoryLimit'): boolean {
    for (const d of this.datagrams.values()) {
      if (d === keep) continue;
      // A dead entry holds no bytes: evicting it frees none.
      if (reason === 'memoryLimit' && d.dead) continue;
      this.counters[reason]++;
      this.discard(d);
      return true;
    }
    return false;
  }

  /** Free the fragments but keep the entry until it expires, so later fragments are dropped too. */
  private kill(d: Datagram): void {
    this.freeFrags(d);
    d.dead = true;
  }

  private discard(d: Datagram): void {
    if (!this.datagrams.delete(d.key)) return;
    this.freeFrags(d);
    this.rescheduleTimer();
  }

  private freeFrags(d: Datagram): void {
    for (const f of d.frags) f.p.free();
    this.heldBytes -= d.bytes;
    d.frags.length = 0;
    d.bytes = 0;
  }
}

function drop(p: Pbuf): null {
  p.free();
  return null;
}

/** Source, destination and identification as one string (RFC 8200 §4.5), a char per 16 bits, built in one call. */
function makeKey(b: Uint8Array, o: number, ident: number): string {
  const a = o + 8;
  return String.fromCharCode(
    u16(b, a), u16(b, a + 2), u16(b, a + 4), u16(b, a + 6), u16(b, a + 8), u16(b, a + 10), u16(b, a + 12), u16(b, a + 14),
    u16(b, a + 16), u16(b, a + 18), u16(b, a + 20), u16(b, a + 22), u16(b, a + 24), u16(b, a + 26), u16(b, a + 28), u16(b, a + 30),
    ident >>> 16, ident & 0xffff,
  );
}

function u16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}

/** Offset in p of the Next Header byte that names the header at `unfragLen` (the walker checked the chain). */
function nextHeaderAt(p: Pbuf, unfragLen: number): number {
  const b = p.buf;
  let at = NEXT_HEADER_AT;
  for (let q = IPV6_HEADER_LEN; q < unfragLen; q += (b[p.off + q + 1]! + 1) << 3) at = q;
  return at;
}

/**
 * Turn a first (or atomic) fragment into the head of the whole packet: slide
 * the unfragmentable headers over the Fragment header (they are short; the
 * data stays put), point the preceding Next Header at what the Fragment
 * header named, and set the Payload Length for `dataLen` bytes of data.
 */
function removeFragmentHeader(p: Pbuf, unfragLen: number, nhAt: number, nextHeader: number, dataLen: number): void {
  const o = p.off;
  p.buf.copyWithin(o + IPV6_FRAG_HEADER_LEN, o, o + unfragLen);
  p.removeHeader(IPV6_FRAG_HEADER_LEN);
  const b = p.buf;
  b[p.off + nhAt] = nextHeader;
  const pl = unfragLen - IPV6_HEADER_LEN + dataLen;
  b[p.off + PAYLOAD_LEN_AT] = pl >>> 8;
  b[p.off + PAYLOAD_LEN_AT + 1] = pl & 0xff;
}

/** Whether `n` bytes of chain a from aOff equal those of chain b from bOff. */
function sameBytes(a: Pbuf, aOff: number, b: Pbuf, bOff: number, n: number): boolean {
  if (n === 0) return true;
  const ca = a.skip(aOff);
  const cb = b.skip(bOff);
  if (ca === null || cb === null) return false;
  let pa: Pbuf | null = ca.pbuf;
  let ia = ca.offset;
  let pb: Pbuf | null = cb.pbuf;
  let ib = cb.offset;
  while (n > 0 && pa !== null && pb !== null) {
    const k = Math.min(pa.len - ia, pb.len - ib, n);
    const ba = pa.buf;
    const bb = pb.buf;
    const sa = pa.off + ia;
    const sb = pb.off + ib;
    for (let j = 0; j < k; j++) if (ba[sa + j] !== bb[sb + j]) return false;
    n -= k;
    ia += k;
    ib += k;
    if (ia === pa.len) {
      pa = pa.next;
      ia = 0;
    }
    if (ib === pb.len) {
      pb = pb.next;
      ib = 0;
    }
  }
  return n === 0;
}

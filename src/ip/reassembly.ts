// IPv4 fragment reassembly (RFC 791, RFC 815), zero-copy: fragments are
// kept as pbufs in offset order and chained when the datagram is whole.
//
// Safety rules (the teardrop / ping-of-death family):
// - a fragment that overlaps another one only partly discards the whole
//   datagram (as Linux does since 2018 and RFC 5722 asks for IPv6); an exact
//   duplicate is dropped on its own;
// - a datagram that would exceed 65535 bytes is discarded;
// - memory is bounded in bytes, datagrams and fragments per datagram; when a
//   limit is reached the oldest datagram is evicted (lwIP does the same);
// - a datagram not completed within `timeoutMs` is discarded, and if its
//   first fragment had arrived an ICMP time-exceeded (code 1) is sent.
// Each outcome is counted by reason in stats.reassembly (teardrop, ping of
// death and floods show apart); ipFrag keeps lwIP's per-fragment counters.
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { ProtoStats, ReassemblyCounters } from '../stats.ts';
import type { Timer } from '../time/timer-heap.ts';
import { Ipv4Packet } from '../wire/ipv4.ts';
import type { IpHost } from './host.ts';

export interface ReassemblyOptions {
  /** Most payload bytes held across all datagrams (default 256 KiB). */
  maxBytes?: number;
  /** Most datagrams under reassembly at once (default 32). */
  maxDatagrams?: number;
  /** Most fragments one datagram may have (default 128). */
  maxFragments?: number;
  /** Time a datagram may take to complete (default 15 s, RFC 791's suggestion and lwIP's). */
  timeoutMs?: number;
}

interface Fragment {
  /** The fragment; the first one (offset 0) keeps its IP header in front. */
  p: Pbuf;
  start: number;
  end: number;
}

interface Datagram {
  key: string;
  frags: Fragment[];
  /** Payload bytes held. */
  bytes: number;
  /** Payload length once the last fragment (MF=0) is known, else -1. */
  totalLen: number;
  /** IP header length of the first fragment, once it arrived. */
  firstHeaderLen: number;
  expiresAt: number;
}

const MAX_DATAGRAM = 0xffff;

export class Reassembler {
  private readonly datagrams = new Map<string, Datagram>();
  private readonly view = new Ipv4Packet();
  private readonly st: ProtoStats;
  /** Outcomes by reason (stats.reassembly), beside lwIP's per-fragment ipFrag counters. */
  private readonly why: ReassemblyCounters;
  private readonly timer: Timer;
  private heldBytes = 0;
  readonly maxBytes: number;
  readonly maxDatagrams: number;
  readonly maxFragments: number;
  readonly timeoutMs: number;

  constructor(
    private readonly host: IpHost,
    opts: ReassemblyOptions = {},
    private readonly onTimeout: (first: Pbuf, code: number) => void,
  ) {
    this.maxBytes = opts.maxBytes ?? 256 * 1024;
    this.maxDatagrams = opts.maxDatagrams ?? 32;
    this.maxFragments = opts.maxFragments ?? 128;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    for (const [k, v] of Object.entries({ maxBytes: this.maxBytes, maxDatagrams: this.maxDatagrams, maxFragments: this.maxFragments, timeoutMs: this.timeoutMs })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`reassembly ${k} must be a positive integer`);
    }
    this.st = host.stats.ipFrag;
    this.why = host.stats.reassembly;
    this.timer = host.timer(() => this.expire(), 'ip reassembly');
  }

  /** Datagrams currently under reassembly. */
  get pending(): number {
    return this.datagrams.size;
  }

  /** Payload bytes currently held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Take a fragment (payload at its IP header, already validated and
   * trimmed to its total length). Returns the whole datagram when this
   * fragment completes it, else null (held or dropped, counted).
   */
  insert(p: Pbuf): Pbuf | null {
    const st = this.st;
    st.recv++;
    const v = this.view.wrap(p.buf, p.off, p.len);
    const hl = v.headerLen;
    const start = v.fragOffset;
    const len = p.totLen - hl;
    const end = start + len;
    const more = v.moreFragments;
    // RFC 791: all but the last fragment carry a multiple of 8 bytes.
    if ((more && (len & 7) !== 0) || (more && len === 0)) {
      this.why.badLengthFragments++;
      return this.dropFragment(p, 'lenerr');
    }
    if (end + hl > MAX_DATAGRAM) {
      this.why.oversizeFragments++; // ping of death
      return this.dropFragment(p, 'lenerr');
    }

    const key = `${v.src}>${v.dst}#${v.ident}/${v.protocol}`;
    let d = this.datagrams.get(key);
    if (d === undefined) {
      if (this.datagrams.size >= this.maxDatagrams) this.evictOldest(null, 'tooManyDatagrams');
      d = { key, frags: [], bytes: 0, totalLen: -1, firstHeaderLen: 0, expiresAt: this.host.clock.now() + this.timeoutMs };
      this.datagrams.set(key, d);
      if (!this.timer.active) this.timer.startAt(d.expiresAt);
    }

    // Where does [start, end) go, and does it collide with a neighbour?
    const frags = d.frags;
    let i = 0;
    while (i < frags.length && frags[i]!.start < start) i++;
    const next = frags[i];
    const prev = frags[i - 1];
    if (next !== undefined && next.start === start && next.end === end) {
      this.why.duplicateFragments++;
      return this.dropFragment(p, 'drop');
    }
    if ((prev !== undefined && prev.end > start) || (next !== undefined && next.start < end) || (next !== undefined && len === 0 && next.start === start)) {
      st.proterr++;
      this.why.overlaps++; // teardrop
      this.discard(d);
      return this.dropFragment(p, 'drop');
    }
    if (!more) {
      const last = frags[frags.length - 1];
      if ((d.totalLen >= 0 && d.totalLen !== end) || (last !== undefined && last.end > end)) {
        st.proterr++;
        this.why.inconsistentEnds++;
        this.discard(d);
        return this.dropFragment(p, 'drop');
      }
      d.totalLen = end;
    } else if (d.totalLen >= 0 && end > d.totalLen) {
      st.proterr++;
      this.why.inconsistentEnds++;
      this.discard(d);
      return this.dropFragment(p, 'drop');
    }
    if (frags.length >= this.maxFragments) {
      st.memerr++;
      this.why.tooManyFragments++;
      this.discard(d);
      return this.dropFragment(p, 'drop');
    }
    // Make room: evict other datagrams, oldest first; give up if this one alone is too big.
    while (this.heldBytes + len > this.maxBytes && this.evictOldest(d, 'memoryLimit')) {
      /* evicted one */
    }
    if (this.heldBytes + len > this.maxBytes) {
      st.memerr++;
      this.why.memoryLimit++;
      this.discard(d);
      return this.dropFragment(p, 'drop');
    }

    if (start === 0) d.firstHeaderLen = hl;
    else p.removeHeader(hl);
    frags.splice(i, 0, { p, start, end });
    d.bytes += len;
    this.heldBytes += len;

    if (d.totalLen < 0 || d.firstHeaderLen === 0 || d.bytes !== d.totalLen) return null;
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
    for (let i = 1; i < d.frags.length; i++) head.cat(d.frags[i]!.p);
    const v = this.view.wrap(head.buf, head.off, head.len);
    v.totalLength = d.firstHeaderLen + d.totalLen;
    v.moreFragments = false;
    v.fragOffset = 0;
    v.fillChecksum();
    this.st.fw++; // lwIP counts reassembled datagrams passed up here
    this.why.reassembled++;
    return head;
  }

  private expire(): void {
    const now = this.host.clock.now();
    for (const d of this.datagrams.values()) {
      if (d.expiresAt > now) break; // insertion order is expiry order
      this.st.err++;
      this.why.timeouts++;
      const first = d.frags[0];
      if (first !== undefined && first.start === 0) this.onTimeout(first.p, 1 /* fragment reassembly time exceeded */);
      this.discard(d);
    }
    this.rescheduleTimer();
  }

  private rescheduleTimer(): void {
    const first = this.datagrams.values().next();
    if (first.done) this.timer.stop();
    else this.timer.startAt(first.value.expiresAt);
  }

  /** Evict the oldest datagram other than `keep`; false if there is none. */
  private evictOldest(keep: Datagram | null, reason: 'tooManyDatagrams' | 'memoryLimit'): boolean {
    for (const d of this.datagrams.values()) {
      if (d === keep) continue;
      this.st.memerr++;
      this.why[reason]++;
      this.discard(d);
      return true;
    }
    return false;
  }

  private discard(d: Datagram): void {
    if (!this.datagrams.delete(d.key)) return;
    for (const f of d.frags) f.p.free();
    this.st.drop += d.frags.length;
    this.heldBytes -= d.bytes;
    d.frags.length = 0;
    d.bytes = 0;
    this.rescheduleTimer();
  }

  private dropFragment(p: Pbuf, reason: 'lenerr' | 'drop'): null {
    if (reason === 'lenerr') this.st.lenerr++;
    this.st.drop++;
    p.free();
    return null;
  }
}

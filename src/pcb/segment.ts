// TCP segments as the engine queues them. A segment holds only its data
// (a pbuf chain, or null for a bare SYN/FIN); the header is built at each
// transmission, so a partially acknowledged segment can simply lose its
// front bytes and a retransmission carries fresh ACK/window/timestamps.
import type { Pbuf } from '../pbuf/pbuf.ts';
import { TcpFlag } from '../wire/tcp.ts';
import { seqAdd } from './seq.ts';

export class TcpSeg {
  prev: TcpSeg | null = null;
  next: TcpSeg | null = null;
  /** Data bytes, or null when the segment carries only SYN/FIN. */
  p: Pbuf | null;
  seq: number;
  /** Data bytes (SYN and FIN not counted). */
  len: number;
  /** SYN, FIN and PSH as they go on the wire (ACK is added at send time). */
  flags: number;
  /** Covered by a SACK block from the peer (RFC 6675 scoreboard). */
  sacked = false;
  /** Deemed lost: due for (re)transmission. */
  lost = false;
  /** Retransmitted since it was last marked lost (counts in pipe). */
  retransmitted = false;
  /** Ever retransmitted: Karn's rule excludes it from RTT samples. */
  everRetransmitted = false;
  /** Clock time of the last transmission. */
  sentAt = 0;
  /** The PCB's transmission count at the last transmission: orders sends within one clock tick (RACK). */
  sentOrder = 0;
  /** Cached one's-complement sum of the data, or -1 when unknown. */
  dataSum = -1;

  constructor(p: Pbuf | null, seq: number, len: number, flags: number) {
    this.p = p;
    this.seq = seq;
    this.len = len;
    this.flags = flags;
  }

  /** Sequence space the segment occupies: data plus one for SYN and one for FIN. */
  get tcplen(): number {
    return this.len + (this.flags & TcpFlag.SYN ? 1 : 0) + (this.flags & TcpFlag.FIN ? 1 : 0);
  }

  /** First sequence number after the segment. */
  get end(): number {
    return seqAdd(this.seq, this.tcplen);
  }

  /** pbuf pieces held (lwIP's snd_queuelen counts these). */
  get clen(): number {
    return this.p === null ? 0 : this.p.clen();
  }

  /** Release the data. */
  free(): void {
    if (this.p !== null) this.p.free();
    this.p = null;
  }
}

/** A doubly linked queue of segments in sequence order. */
export class SegQueue {
  head: TcpSeg | null = null;
  tail: TcpSeg | null = null;
  count = 0;
  /** Sum of data bytes. */
  bytes = 0;

  get empty(): boolean {
    return this.head === null;
  }

  push(s: TcpSeg): void {
    s.next = null;
    s.prev = this.tail;
    if (this.tail !== null) this.tail.next = s;
    else this.head = s;
    this.tail = s;
    this.count++;
    this.bytes += s.len;
  }

  /** Insert `s` before `before` (or at the end when null). */
  insertBefore(s: TcpSeg, before: TcpSeg | null): void {
    if (before === null) return this.push(s);
    s.next = before;
    s.prev = before.prev;
    if (before.prev !== null) before.prev.next = s;
    else this.head = s;
    before.prev = s;
    this.count++;
    this.bytes += s.len;
  }

  remove(s: TcpSeg): void {
    if (s.prev !== null) s.prev.next = s.next;
    else this.head = s.next;
    if (s.next !== null) s.next.prev = s.prev;
    else this.tail = s.prev;
    s.prev = null;
    s.next = null;
    this.count--;
    this.bytes -= s.len;
  }

  shift(): TcpSeg | null {
    const s = this.head;
    if (s !== null) this.remove(s);
    return s;
  }

  /** Free every segment's data and empty the queue. Returns the pbuf pieces released. */
  freeAll(): number {
    let pieces = 0;
    for (let s = this.head; s !== null; ) {
      const n = s.next;
      pieces += s.clen;
      s.free();
      s.prev = null;
      s.next = null;
      s = n;
    }
    this.head = null;
    this.tail = null;
    this.count = 0;
    this.bytes = 0;
    return pieces;
  }
}

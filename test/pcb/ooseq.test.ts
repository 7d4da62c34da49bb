// The out-of-order queue: lwIP's test_tcp_oos.c scenarios restated in
// behaviour terms (docs/research/lwip-tcp-tests.md §2: FIN_OOSEQ,
// FIN_INSEQ, overrun_rxwin, overrun_rxwin_edge, max_bytes, max_pbufs and
// the 16 double-FIN cases), overlap and covering, SACK blocks (RFC 2018),
// the ooseq caps, and reassembly across the 2^32 wrap.
//
// The queue's exact layout may differ from lwIP's where two layouts hold
// the same bytes (lwIP lets a covering segment replace and inherit the FIN
// of a segment it overlaps; we keep the queued bytes and trim the
// newcomer). Where that happens the test asserts the covered ranges (what
// SACK reports and what reassembly delivers), and says so.
import { describe, expect, test } from 'vitest';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import { seqAdd, seqDiff } from '../../src/pcb/seq.ts';
import { ACK, type Conn, FIN, LWIP_TEST_TCP, openConn, payload, type SentSeg, sha256 } from '../support/tcp.ts';

const MSS = 536;
const WND = 20 * MSS;

/** The peer's first data byte for a connection (RCV.NXT right after the handshake). */
const base = (c: Conn): number => (c.irs + 1) >>> 0;

/** Inject from the peer at `off` bytes past `base` (so everything is relative to the initial RCV.NXT, as lwIP builds its segments up front). */
function send(c: Conn, off: number, data: Uint8Array, flags: number = ACK, ts?: [number, number]): void {
  c.peer.inject({ seq: seqAdd(base(c), off), ack: seqAdd(c.iss, 1), flags, data, wnd: 0xffff, ...(ts ? { ts } : {}) });
}

/** The ooseq queue as lwIP's tests check it: [seq offset, tcplen] per segment. */
function ooseq(c: Conn): [number, number][] {
  const out: [number, number][] = [];
  for (let s = c.pcb.ooseq.head; s !== null; s = s.next) out.push([seqDiff(s.seq, base(c)), s.tcplen]);
  return out;
}

/** Covered ranges of the queue, adjacent segments merged: 'from-to' (to exclusive), 'F' if a FIN ends it. */
function ranges(c: Conn): string[] {
  const out: string[] = [];
  let cur: { from: number; to: number; fin: boolean } | null = null;
  for (let s = c.pcb.ooseq.head; s !== null; s = s.next) {
    const from = seqDiff(s.seq, base(c));
    const to = from + s.tcplen;
    const fin = (s.flags & FIN) !== 0;
    if (cur !== null && cur.to === from) {
      cur.to = to;
      cur.fin = fin;
    } else {
      if (cur !== null) out.push(`${cur.from}-${cur.to}${cur.fin ? 'F' : ''}`);
      cur = { from, to, fin };
    }
  }
  if (cur !== null) out.push(`${cur.from}-${cur.to}${cur.fin ? 'F' : ''}`);
  return out;
}

function ooseqBytes(pcb: TcpPcb): number {
  let n = 0;
  for (let s = pcb.ooseq.head; s !== null; s = s.next) n += s.tcplen;
  return n;
}

function finish(c: Conn): void {
  if (!c.pcb.freed) c.peer.raw.tcpAbort(c.pcb);
  c.peer.stack.pool.assertEmpty();
}

/** SACK blocks of a segment relative to base. */
function sackOf(c: Conn, s: SentSeg): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < s.opts.sackCount; i++) out.push([seqDiff(s.opts.sackBlocks[2 * i]!, base(c)), seqDiff(s.opts.sackBlocks[2 * i + 1]!, base(c))]);
  return out;
}

describe('lwIP test_tcp_oos.c', () => {
  test('test_tcp_recv_ooseq_FIN_OOSEQ: FIN only ever arrives out of order; one recv with all 16 bytes, then EOF', () => {
    const c = openConn();
    const data = new Uint8Array(16).map((_, i) => i + 1);
    // 1: seq 8, 8 bytes + FIN
    send(c, 8, data.subarray(8, 16), ACK | FIN);
    expect(ooseq(c)).toEqual([[8, 9]]);
    // 2: seq 4, 8 bytes (4..11): trimmed to end at 8
    send(c, 4, data.subarray(4, 12));
    expect(ooseq(c)).toEqual([[4, 4], [8, 9]]);
    // 3: seq 4, 10 bytes: nothing new
    send(c, 4, data.subarray(4, 14));
    expect(ooseq(c)).toEqual([[4, 4], [8, 9]]);
    // 4: seq 2, 14 bytes (2..15), no FIN. lwIP: one [2,15] segment inheriting the
    // FIN of the segment it covers; ours keeps the queued bytes: same coverage.
    send(c, 2, data.subarray(2, 16));
    expect(ranges(c)).toEqual(['2-17F']);
    expect(ooseqBytes(c.pcb)).toBe(15);
    // 5: seq 16, FIN only: after the queued FIN, discarded.
    send(c, 16, new Uint8Array(0), ACK | FIN);
    expect(ranges(c)).toEqual(['2-17F']);
    expect(ooseqBytes(c.pcb)).toBe(15);
    expect(c.app.log).toEqual([]);
    // 6: seq 0, 4 bytes: everything in one recv, then EOF.
    send(c, 0, data.subarray(0, 4));
    expect(c.pcb.ooseq.empty).toBe(true);
    expect(c.app.log).toEqual(['recv:16', 'fin']);
    expect([...c.app.data]).toEqual([...data]);
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    expect(c.pcb.rcvNxt).toBe(seqAdd(base(c), 17));
    finish(c);
  });

  test('test_tcp_recv_ooseq_FIN_INSEQ: insertion rules, then an in-order FIN bins the queue', () => {
    const c = openConn();
    const data = new Uint8Array(16).map((_, i) => i + 1);
    send(c, 1, data.subarray(1, 3)); // 1: seq 1, 2 bytes
    expect(ooseq(c)).toEqual([[1, 2]]);
    send(c, 4, data.subarray(4, 12)); // 2: seq 4, 8 bytes
    expect(ooseq(c)).toEqual([[1, 2], [4, 8]]);
    send(c, 3, data.subarray(3, 14)); // 3: seq 3, 11 bytes covers [4,8]
    expect(ooseq(c)).toEqual([[1, 2], [3, 11]]);
    send(c, 2, data.subarray(2, 14)); // 4: seq 2, 12 bytes
    // lwIP: [1,1] [2,12] (the previous trimmed); ours keeps [1,2] and [3,11]: the same bytes.
    expect(ranges(c)).toEqual(['1-14']);
    expect(c.app.log).toEqual([]);
    send(c, 0, data.subarray(0, 4)); // 5: seq 0, 4 bytes: 14 bytes in one recv
    expect(c.pcb.ooseq.empty).toBe(true);
    expect(c.app.log).toEqual(['recv:14']);
    send(c, 15, data.subarray(15, 16)); // 6
    expect(ooseq(c)).toEqual([[15, 1]]);
    send(c, 15, data.subarray(15, 16)); // 7: same again, ignored
    expect(ooseq(c)).toEqual([[15, 1]]);
    send(c, 14, data.subarray(14, 16), ACK | FIN); // 8: in order with FIN: queue binned
    expect(c.pcb.ooseq.empty).toBe(true);
    expect(c.app.log).toEqual(['recv:14', 'recv:2', 'fin']);
    expect([...c.app.data]).toEqual([...data]);
    expect(c.app.errs).toEqual([]);
    finish(c);
  });

  for (const [name, rcvNxt] of [
    ['test_tcp_recv_ooseq_overrun_rxwin', 0x8000],
    ['test_tcp_recv_ooseq_overrun_rxwin_edge (window straddles 2^32)', (0xffffffff - WND / 2) >>> 0],
  ] as const) {
    test(`${name}: out-of-order data is kept up to the last byte of the window, nothing beyond; the hole delivers it all`, () => {
      const c = openConn({ peerIsn: (rcvNxt - 1) >>> 0 });
      expect(c.pcb.rcvNxt).toBe(rcvNxt);
      const data = new Uint8Array(WND + MSS).map((_, i) => i & 0xff);
      for (let k = 1; k < 20; k++) {
        send(c, k * MSS, data.subarray(k * MSS, (k + 1) * MSS));
        expect(c.app.log).toEqual([]);
        expect(c.pcb.ooseq.count).toBe(k);
        expect(ooseqBytes(c.pcb)).toBe(k * MSS);
      }
      // Starts at the right edge: outside the window, not kept (and ACKed).
      c.peer.take();
      send(c, 20 * MSS, data.subarray(20 * MSS, 21 * MSS));
      expect(c.pcb.ooseq.count).toBe(19);
      expect(ooseqBytes(c.pcb)).toBe(19 * MSS);
      expect(c.peer.take().map((s) => s.ack >>> 0)).toEqual([rcvNxt]);
      // The held-back first segment fills the hole.
      send(c, 0, data.subarray(0, MSS));
      expect(c.pcb.ooseq.empty).toBe(true);
      expect(c.app.log).toEqual([`recv:${WND}`]);
      expect(sha256(c.app.data)).toBe(sha256(data.subarray(0, WND)));
      expect(c.pcb.rcvNxt).toBe(seqAdd(rcvNxt, WND));
      expect(c.pcb.rcvWnd).toBe(0);
      finish(c);
    });
  }

  test('test_tcp_recv_ooseq_max_bytes: with a byte cap, a segment that would exceed it is not kept', () => {
    const L = 4 * MSS;
    const c = openConn({ peerIsn: 0x8000 - 1, tcp: { ...LWIP_TEST_TCP, oooMaxBytes: L } });
    const data = payload(WND, 3);
    // seq 0 never arrives; MSS segments at 1, 1 + MSS, ... while they start below the cap.
    let k = 0;
    for (; 1 + k * MSS < L; k++) {
      send(c, 1 + k * MSS, data.subarray(1 + k * MSS, 1 + (k + 1) * MSS));
      expect(c.pcb.ooseq.count).toBe(k + 1);
      expect(ooseqBytes(c.pcb)).toBe((k + 1) * MSS);
    }
    const drops = c.peer.stack.stats.tcp.memerr;
    // A 1-byte segment just past the end (leaving a 1-byte gap): over the cap, not kept.
    send(c, 1 + k * MSS + 1, data.subarray(1 + k * MSS + 1, 1 + k * MSS + 2));
    expect(c.pcb.ooseq.count).toBe(k);
    expect(ooseqBytes(c.pcb)).toBe(k * MSS);
    expect(c.peer.stack.stats.tcp.memerr).toBe(drops + 1);
    expect(c.app.log).toEqual([]);
    finish(c);
  });

  test('test_tcp_recv_ooseq_max_pbufs, with Linux\'s collapse: at the piece cap P, contiguous 1-byte segments 1..P are merged into one piece instead of the next being dropped', () => {
    const P = 8;
    const c = openConn({ peerIsn: 0x8000 - 1, tcp: { ...LWIP_TEST_TCP, oooMaxSegments: P } });
    const data = payload(64, 4);
    for (let i = 1; i <= P; i++) {
      send(c, i, data.subarray(i, i + 1));
      expect(c.pcb.ooseq.count).toBe(i);
      expect(ooseqBytes(c.pcb)).toBe(i);
      expect(c.pcb.ooseqPieces).toBe(i);
    }
    // One more piece: lwIP drops it; the run 1..P is copied into one piece and it is kept.
    send(c, P + 2, data.subarray(P + 2, P + 3));
    expect(ooseq(c)).toEqual([[1, P], [P + 2, 1]]);
    expect(c.pcb.ooseqPieces).toBe(2);
    expect(c.peer.stack.tcp.counters.ooseqCollapsed).toBe(P - 1);
    expect(c.peer.stack.stats.tcp.memerr).toBe(0);
    // Filling the holes delivers everything, in order.
    send(c, 0, data.subarray(0, 1));
    expect(c.app.log).toEqual([`recv:${P + 1}`]);
    send(c, P + 1, data.subarray(P + 1, P + 2));
    expect([...c.app.data]).toEqual([...data.subarray(0, P + 3)]);
    expect(c.pcb.ooseqPieces).toBe(0);
    finish(c);
  });

  test('the piece cap still holds against tiny segments with gaps between them (nothing to merge): beyond P, the highest are dropped', () => {
    const P = 8;
    const c = openConn({ peerIsn: 0x8000 - 1, tcp: { ...LWIP_TEST_TCP, oooMaxSegments: P } });
    const data = payload(64, 6);
    for (let i = 1; i <= P + 4; i++) send(c, 2 * i, data.subarray(2 * i, 2 * i + 1));
    expect(c.pcb.ooseqPieces).toBe(P);
    expect(ooseq(c)).toEqual(Array.from({ length: P }, (_, k) => [2 * (k + 1), 1]));
    expect(c.peer.stack.tcp.counters.ooseqCollapsed).toBe(0);
    expect(c.peer.stack.stats.tcp.memerr).toBe(4);
    finish(c);
  });

  for (const peerIsn of [1000, 0xffffffff - 3000]) {
    test(`a window of small segments reordered${peerIsn > 0x80000000 ? ', across the 2^32 wrap' : ''}: merging keeps every byte, the sender resends nothing`, () => {
      const c = openConn({ peerIsn, tcp: { ...LWIP_TEST_TCP, oooMaxSegments: 16 } });
      const seg = 40;
      const data = payload(200 * seg, 7);
      // Segment 0 is late; 1..199 arrive first (far more pieces than the cap).
      for (let k = 1; k < 200; k++) send(c, k * seg, data.subarray(k * seg, (k + 1) * seg));
      expect(c.pcb.ooseqPieces).toBeLessThanOrEqual(16);
      expect(ooseqBytes(c.pcb)).toBe(199 * seg);
      expect(c.peer.stack.stats.tcp.memerr).toBe(0);
      send(c, 0, data.subarray(0, seg));
      expect(sha256(c.app.data)).toBe(sha256(data));
      expect(c.pcb.ooseqPieces).toBe(0);
      finish(c);
    });
  }

  test('the caps drop from the highest sequence numbers: a lower segment that pushes the queue over the cap evicts the highest one', () => {
    const c = openConn({ tcp: { ...LWIP_TEST_TCP, oooMaxBytes: 3 * MSS } });
    const data = payload(WND, 5);
    const seg = (k: number): void => send(c, k * MSS, data.subarray(k * MSS, (k + 1) * MSS));
    seg(10);
    seg(12);
    seg(14);
    expect(ooseq(c)).toEqual([[10 * MSS, MSS], [12 * MSS, MSS], [14 * MSS, MSS]]);
    seg(2); // more useful (closer to RCV.NXT): kept, the highest goes
    expect(ooseq(c)).toEqual([[2 * MSS, MSS], [10 * MSS, MSS], [12 * MSS, MSS]]);
    seg(16); // beyond everything: over the cap, not kept
    expect(ooseq(c)).toEqual([[2 * MSS, MSS], [10 * MSS, MSS], [12 * MSS, MSS]]);
    // Piece cap, same rule.
    const d = openConn({ tcp: { ...LWIP_TEST_TCP, oooMaxSegments: 2 } });
    send(d, 100, payload(1, 1));
    send(d, 300, payload(1, 2));
    send(d, 50, payload(1, 3));
    expect(ooseq(d)).toEqual([[50, 1], [100, 1]]);
    expect(d.pcb.ooseqPieces).toBe(2);
    finish(c);
    finish(d);
  });

  // test_tcp_recv_ooseq_double_FIN_0..15: A = data [0, MSS), B = FIN at MSS,
  // C = 1 byte at MSS+1 (after the FIN), D = a second FIN at MSS+2. Phase 1
  // injects those whose bit in `delay` is clear (A=1, B=2, C=4, D=8), phase 2
  // the others, both in A, B, C, D order. A small model of lwIP's rules gives
  // the expected state after every step.
  const SEG = {
    A: { off: 0, len: MSS, fin: false, ooseq: [0, MSS] as [number, number] },
    B: { off: MSS, len: 0, fin: true, ooseq: [MSS, 1] as [number, number] },
    C: { off: MSS + 1, len: 1, fin: false, ooseq: [MSS + 1, 1] as [number, number] },
    D: { off: MSS + 2, len: 0, fin: true, ooseq: [MSS + 2, 1] as [number, number] },
  };
  type Name = keyof typeof SEG;
  const order: Name[] = ['A', 'B', 'C', 'D'];
  // After phase 1 (docs/research/lwip-tcp-tests.md §2.7-2.22 table).
  const afterPhase1: Record<number, Name[]> = {
    0: [], 1: ['B'], 2: ['C', 'D'], 3: ['C', 'D'], 4: [], 5: ['B'], 6: ['D'], 7: ['D'],
    8: [], 9: ['B'], 10: ['C'], 11: ['C'], 12: [], 13: ['B'], 14: [], 15: [],
  };
  for (let delay = 0; delay < 16; delay++) {
    test(`test_tcp_recv_ooseq_double_FIN_${delay}: the stream ends at the first FIN whatever the order; EOF once`, () => {
      const c = openConn({ peerIsn: 0x8000 - 1 });
      const data = payload(MSS + 1, 20 + delay);
      const model = { aRx: false, eof: false, q: [] as Name[], recv: 0, fin: 0 };
      const step = (n: Name): void => {
        const s = SEG[n];
        send(c, s.off, n === 'A' ? data.subarray(0, MSS) : n === 'C' ? data.subarray(MSS, MSS + 1) : new Uint8Array(0), s.fin ? ACK | FIN : ACK);
        // lwIP's rules.
        if (n === 'A') {
          if (!model.aRx) {
            model.aRx = true;
            model.recv++;
            if (model.q[0] === 'B') {
              model.fin++;
              model.eof = true;
              model.q = [];
            }
          }
        } else if (n === 'B') {
          if (model.eof) {
            /* duplicate */
          } else if (model.aRx) {
            model.fin++;
            model.eof = true;
            model.q = []; // an in-order FIN bins the queue
          } else {
            model.q = ['B']; // (C and D can only be queued before B if B was delayed)
          }
        } else if (!model.eof && model.q.at(-1) !== 'B') {
          model.q.push(n); // hole at MSS (or at 0): kept
        } // else: after the FIN (queued or taken): discarded / ignored
        expect(c.app.recvCalls, `recv calls after ${n}`).toBe(model.recv);
        expect(c.app.finCalls, `EOF calls after ${n}`).toBe(model.fin);
        expect(c.app.errs).toEqual([]);
        expect(ooseq(c), `ooseq after ${n}`).toEqual(model.q.map((m) => SEG[m].ooseq));
      };
      for (const [bit, n] of order.entries()) if ((delay & (1 << bit)) === 0) step(n);
      expect(model.q).toEqual(afterPhase1[delay]);
      for (const [bit, n] of order.entries()) if ((delay & (1 << bit)) !== 0) step(n);
      // Final state in every case.
      expect(c.app.log).toEqual([`recv:${MSS}`, 'fin']);
      expect(sha256(c.app.data)).toBe(sha256(data.subarray(0, MSS)));
      expect(c.pcb.ooseq.empty).toBe(true);
      expect(c.pcb.stateName).toBe('CLOSE_WAIT');
      expect(c.pcb.rcvNxt).toBe(seqAdd(base(c), MSS + 1));
      finish(c);
    });
  }
});

describe('out-of-order queue: overlap, FIN, EOF', () => {
  test('each out-of-order segment is ACKed at once with RCV.NXT (a duplicate ACK, RFC 5681 §4.2); filling the hole ACKs at once', () => {
    const c = openConn();
    const data = payload(4 * MSS, 5);
    send(c, 0, data.subarray(0, MSS));
    c.peer.advance(100);
    c.peer.take();
    send(c, 2 * MSS, data.subarray(2 * MSS, 3 * MSS));
    send(c, 3 * MSS, data.subarray(3 * MSS, 4 * MSS));
    expect(c.peer.take().map((s) => seqDiff(s.ack, base(c)))).toEqual([MSS, MSS]);
    send(c, MSS, data.subarray(MSS, 2 * MSS));
    expect(c.peer.take().map((s) => seqDiff(s.ack, base(c)))).toEqual([4 * MSS]);
    expect(c.app.log).toEqual([`recv:${MSS}`, `recv:${3 * MSS}`]);
    expect(sha256(c.app.data)).toBe(sha256(data));
    expect(c.pcb.counters.oooSegsIn).toBe(2);
    finish(c);
  });

  test('a segment covering several queued ones replaces them; overlapping neighbours are trimmed; bytes come out once, in order', () => {
    const c = openConn();
    const data = payload(3000, 6);
    send(c, 100, data.subarray(100, 200));
    send(c, 300, data.subarray(300, 400));
    send(c, 500, data.subarray(500, 600));
    expect(ranges(c)).toEqual(['100-200', '300-400', '500-600']);
    // Covers the second and third entirely, starts inside the first.
    send(c, 150, data.subarray(150, 700));
    expect(ranges(c)).toEqual(['100-700']);
    expect(ooseqBytes(c.pcb)).toBe(600);
    // Ends inside a queued segment: trimmed to meet it.
    send(c, 800, data.subarray(800, 900));
    send(c, 750, data.subarray(750, 850));
    expect(ranges(c)).toEqual(['100-700', '750-900']);
    // The in-order segment overlaps the queue head.
    send(c, 0, data.subarray(0, 120));
    expect(c.app.log).toEqual(['recv:700']);
    send(c, 700, data.subarray(700, 1000));
    expect(c.app.log).toEqual(['recv:700', 'recv:300']);
    expect(sha256(c.app.data)).toBe(sha256(data.subarray(0, 1000)));
    expect(c.pcb.ooseq.empty).toBe(true);
    finish(c);
  });

  test('data queued beyond a queued FIN is never kept, and a later FIN-bearing segment drops what lies after it', () => {
    const c = openConn();
    const data = payload(100, 7);
    send(c, 50, data.subarray(50, 60), ACK | FIN); // FIN at 60
    // Overlaps the FIN and goes past it: only what lies before the FIN could count, and that is queued already.
    send(c, 55, data.subarray(55, 70));
    send(c, 80, data.subarray(80, 90));
    expect(ranges(c)).toEqual(['50-61F']);
    // A FIN-bearing segment in front of queued data: everything after its FIN goes.
    const d = openConn();
    send(d, 40, payload(10, 1));
    send(d, 20, payload(5, 2), ACK | FIN); // FIN at 25: [40,50) is after it
    expect(ranges(d)).toEqual(['20-26F']);
    send(d, 0, payload(20, 3));
    expect(d.app.log).toEqual(['recv:25', 'fin']);
    finish(c);
    finish(d);
  });

  test('an in-order FIN ends the stream even when out-of-order data lies beyond it (that data is discarded, not delivered)', () => {
    const c = openConn();
    const data = payload(40, 8);
    send(c, 10, data.subarray(10, 14)); // queued, but the peer's FIN will come at 10
    send(c, 0, data.subarray(0, 10), ACK | FIN);
    expect(c.app.log).toEqual(['recv:10', 'fin']);
    expect([...c.app.data]).toEqual([...data.subarray(0, 10)]);
    expect(c.pcb.rcvNxt).toBe(seqAdd(base(c), 11));
    expect(c.pcb.ooseq.empty).toBe(true);
    expect(seqDiff(c.peer.take().at(-1)!.ack, base(c))).toBe(11);
    finish(c);
  });

  test('EOF is reported exactly once, after the reassembled data, also when the FIN arrived first and is retransmitted', () => {
    const c = openConn();
    const data = payload(3 * MSS, 9);
    send(c, 3 * MSS, new Uint8Array(0), ACK | FIN);
    send(c, 2 * MSS, data.subarray(2 * MSS, 3 * MSS));
    send(c, 3 * MSS, new Uint8Array(0), ACK | FIN); // retransmitted FIN
    send(c, MSS, data.subarray(MSS, 2 * MSS));
    expect(c.app.log).toEqual([]);
    send(c, 0, data.subarray(0, MSS));
    send(c, 3 * MSS, new Uint8Array(0), ACK | FIN); // and again, after the close
    expect(c.app.log).toEqual([`recv:${3 * MSS}`, 'fin']);
    expect(sha256(c.app.data)).toBe(sha256(data));
    finish(c);
  });
});

describe('SACK blocks we send (RFC 2018)', () => {
  const SACK_TCP = { ...LWIP_TEST_TCP, sack: true };

  test('the blocks describe the out-of-order queue, the block holding the most recent segment first', () => {
    const c = openConn({ tcp: SACK_TCP, sackPermitted: true });
    const data = payload(20 * MSS, 1);
    const seg = (k: number): void => send(c, k * MSS, data.subarray(k * MSS, (k + 1) * MSS));
    seg(2);
    expect(c.peer.take().map((s) => sackOf(c, s))).toEqual([[[2 * MSS, 3 * MSS]]]);
    seg(5);
    expect(c.peer.take().map((s) => sackOf(c, s))).toEqual([[[5 * MSS, 6 * MSS], [2 * MSS, 3 * MSS]]]);
    seg(3); // joins the first block: that block is now the most recent
    expect(c.peer.take().map((s) => sackOf(c, s))).toEqual([[[2 * MSS, 4 * MSS], [5 * MSS, 6 * MSS]]]);
    seg(8);
    expect(c.peer.take().map((s) => sackOf(c, s))).toEqual([[[8 * MSS, 9 * MSS], [2 * MSS, 4 * MSS], [5 * MSS, 6 * MSS]]]);
    seg(0); // in order: delivered, the remaining holes still reported
    const acks = c.peer.take();
    expect(acks.map((s) => seqDiff(s.ack, base(c)))).toEqual([MSS]);
    expect(sackOf(c, acks[0]!).map((b) => b.join('-')).sort()).toEqual([`${2 * MSS}-${4 * MSS}`, `${5 * MSS}-${6 * MSS}`, `${8 * MSS}-${9 * MSS}`].sort());
    // Filling everything: no SACK option any more.
    for (const k of [1, 4, 6, 7]) seg(k);
    const last = c.peer.take().at(-1)!;
    expect(seqDiff(last.ack, base(c))).toBe(9 * MSS);
    expect(last.opts.sackCount).toBe(0);
    expect(c.app.data.length).toBe(9 * MSS);
    finish(c);
  });

  test('at most 4 blocks without timestamps, 3 with (40 bytes of options), the most recent first in both', () => {
    for (const ts of [false, true]) {
      const c = openConn({ tcp: { ...SACK_TCP, timestamps: ts }, sackPermitted: true, ts });
      const data = payload(20 * MSS, 2);
      let tsv = 6000;
      for (const k of [2, 4, 6, 8, 10, 12]) {
        send(c, k * MSS, data.subarray(k * MSS, (k + 1) * MSS), ACK, ts ? [tsv++, 0] : undefined);
      }
      const acks = c.peer.take();
      const lastAck = acks.at(-1)!;
      const blocks = sackOf(c, lastAck);
      expect(blocks.length).toBe(ts ? 3 : 4);
      expect(lastAck.opts.hasTimestamp).toBe(ts);
      expect(blocks[0]).toEqual([12 * MSS, 13 * MSS]);
      // Every block is a real hole-bounded range of the queue.
      for (const [l, r] of blocks) expect(r - l).toBe(MSS);
      finish(c);
    }
  });

  test('no SACK option when SACK was not negotiated', () => {
    const c = openConn({ tcp: SACK_TCP, sackPermitted: false });
    send(c, MSS, payload(MSS));
    const a = c.peer.take();
    expect(a.length).toBe(1);
    expect(a[0]!.opts.sackCount).toBe(0);
    finish(c);
  });
});

describe('reassembly across the 2^32 wrap', () => {
  test('peer ISN near 2^32: segments in a shuffled order with duplicates and overlaps reassemble byte-exact', () => {
    const c = openConn({ peerIsn: (0xffffffff - 3 * MSS) >>> 0, recved: true });
    const data = payload(19 * MSS + 77, 12); // within the window (10720)
    // Segments of varying size, then a deterministic shuffle plus some retransmissions.
    const segs: [number, number][] = [];
    for (let off = 0, i = 0; off < data.length; i++) {
      const n = Math.min([MSS, 300, MSS, 123][i % 4]!, data.length - off);
      segs.push([off, n]);
      off += n;
    }
    const order = segs.map((_, i) => i);
    let x = 12345;
    for (let i = order.length - 1; i > 0; i--) {
      x = (x * 1103515245 + 12345) >>> 0;
      const j = x % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const i of order) {
      const [off, n] = segs[i]!;
      send(c, off, data.subarray(off, off + n));
      if (i % 5 === 0) send(c, Math.max(0, off - 50), data.subarray(Math.max(0, off - 50), Math.min(data.length, off + n + 50)));
    }
    send(c, data.length, new Uint8Array(0), ACK | FIN);
    expect(sha256(c.app.data)).toBe(sha256(data));
    expect(c.app.log.at(-1)).toBe('fin');
    expect(c.app.finCalls).toBe(1);
    expect(c.pcb.rcvNxt).toBe(seqAdd(base(c), data.length + 1));
    expect(c.pcb.rcvNxt).toBeLessThan(0x10000); // it did wrap
    expect(c.pcb.ooseq.empty).toBe(true);
    finish(c);
  });
});

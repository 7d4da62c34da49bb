// Loss recovery: fast retransmit and NewReno (RFC 5681, RFC 6582), limited
// transmit (RFC 3042), SACK-based recovery (RFC 6675), and end-to-end loss of
// every kind of segment in the simulator. The scripted-peer tests re-create
// lwIP's test_tcp.c fast-retransmit scenarios (docs/research/lwip-tcp-tests.md
// §1.8, §1.9) in behaviour terms, with exact segments, windows and counters.
import { describe, expect, test } from 'vitest';
import { Deadline } from '../../src/pcb/deadlines.ts';
import { RecoveryMode, type TcpPcb } from '../../src/pcb/pcb.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import type { LinkSpec } from '../../src/sim/link.ts';
import {
  ACK,
  acceptConnection,
  bulkExchange,
  DropStage,
  Endpoint,
  Err,
  FIN,
  flagStr,
  insertStage,
  type Pair,
  payload,
  RST,
  scriptedPeer,
  type ScriptedPeer,
  type SentSeg,
  sha256,
  simPair,
  SYN,
} from '../support/tcp.ts';
import { anyIp, peerIp } from '../support/family.ts';

const MSS = 1000;

// ---------------------------------------------------------------------------
// Scripted peer: the stack sends, the test plays the receiver
// ---------------------------------------------------------------------------

interface Sender {
  peer: ScriptedPeer;
  pcb: TcpPcb;
  /** Sequence number of the stack's first data byte (ISS + 1). */
  base: number;
  /** The peer's next sequence number (advance it after injecting data). */
  rcv: number;
  errs: number[];
  sentLens: number[];
  /** Queue `n` bytes and call output. */
  send(n: number): void;
  /** A pure ACK from the peer acknowledging `rel` bytes (relative to base), with optional SACK blocks (relative). */
  ack(rel: number, o?: { sack?: [number, number][]; wnd?: number }): void;
  /** What the stack sent since the last call, as [flags, relative seq, length]. */
  out(): [string, number, number][];
}

function sender(o: { tcp?: TcpConfig; sack?: boolean; wnd?: number; ts?: boolean } = {}): Sender {
  // RFC 6675 / NewReno as written (rack-tlp.test.ts covers RACK-TLP, the default with SACK).
  const peer = scriptedPeer({ tcp: { congestion: 'reno', rack: false, tlp: false, ...o.tcp } });
  const { pcb, iss, irs } = acceptConnection(peer, { mss: MSS, wnd: o.wnd ?? 0xffff, ...(o.sack ? { sackPermitted: true } : {}), ...(o.ts ? { ts: true } : {}) });
  peer.take();
  const base = (iss + 1) >>> 0;
  const rcv = (irs + 1) >>> 0;
  const errs: number[] = [];
  const sentLens: number[] = [];
  peer.raw.tcpErr(pcb, (_a, e) => errs.push(e));
  peer.raw.tcpSent(pcb, (_a, _p, len) => {
    sentLens.push(len);
    return Err.OK;
  });
  let written = 0;
  return {
    peer,
    pcb,
    base,
    rcv,
    errs,
    sentLens,
    send(n: number) {
      expect(peer.raw.tcpWrite(pcb, payload(n, 7 + written))).toBe(Err.OK);
      written += n;
      peer.raw.tcpOutput(pcb);
    },
    ack(rel: number, a = {}) {
      peer.inject({
        seq: this.rcv,
        ack: (base + rel) >>> 0,
        flags: ACK,
        wnd: a.wnd ?? o.wnd ?? 0xffff,
        ...(a.sack ? { sack: a.sack.map(([l, r]) => [(base + l) >>> 0, (base + r) >>> 0] as [number, number]) } : {}),
      });
    },
    out() {
      return peer.take().map((s) => [flagStr(s.flags), (s.seq - base) | 0, s.data.length]);
    },
  };
}

/** [flags, seq, len] of n full segments starting at relative seq `from`. */
function segs(from: number, n: number, flags = 'A'): [string, number, number][] {
  return Array.from({ length: n }, (_, i) => [flags, from + i * MSS, MSS] as [string, number, number]);
}

function finish(s: Sender): void {
  s.peer.raw.tcpAbort(s.pcb);
  s.peer.stack.pool.assertEmpty();
}

describe('fast retransmit and NewReno recovery (scripted peer, SACK off)', () => {
  test('reno: the 3rd duplicate ACK retransmits SND.UNA; ssthresh = FlightSize/2, cwnd = ssthresh + 3 MSS (RFC 5681 §3.2)', () => {
    const s = sender();
    s.send(5 * MSS);
    const first = s.out();
    expect(first.slice(0, 4)).toEqual(segs(0, 4));
    expect(first[4]).toEqual(['PA', 4 * MSS, MSS]);
    expect(s.pcb.cwnd).toBe(10 * MSS); // RFC 6928 IW for MSS 1000
    s.ack(0);
    expect(s.out()).toEqual([]);
    expect(s.pcb.dupAcks).toBe(1);
    s.ack(0);
    expect(s.out()).toEqual([]);
    expect(s.pcb.dupAcks).toBe(2);
    expect(s.pcb.info().counters.fastRetransmits).toBe(0);
    s.ack(0);
    expect(s.out()).toEqual([['A', 0, MSS]]);
    const info = s.pcb.info();
    expect(info.inRecovery).toBe(true);
    expect(s.pcb.recovery).toBe(RecoveryMode.NEWRENO);
    expect(info.ssthresh).toBe(2500); // max(FlightSize / 2, 2 * SMSS) = max(2500, 2000)
    expect(info.cwnd).toBe(2500 + 3 * MSS);
    expect(info.counters).toMatchObject({ fastRetransmits: 1, recoveries: 1, retransmits: 1, bytesRetrans: MSS, dupAcksIn: 3, rtoCount: 0 });
    expect(s.peer.stack.tcp.counters.fastRetransmits).toBe(1);
    // The retransmission re-armed nothing new: the RTO still runs for the oldest data.
    expect(s.pcb.deadlines.get(Deadline.RTO)).toBeGreaterThan(0);
    s.ack(5 * MSS);
    expect(s.pcb.info().inRecovery).toBe(false);
    expect(s.pcb.unacked.empty).toBe(true);
    expect(s.sentLens).toEqual([5 * MSS]);
    finish(s);
  });

  test('ssthresh floor: with a small flight, ssthresh = 2 MSS (RFC 5681 eq. 4)', () => {
    const s = sender();
    s.send(3 * MSS);
    s.out();
    s.ack(0);
    s.ack(0);
    s.ack(0);
    expect(s.out()).toEqual([['A', 0, MSS]]);
    expect(s.pcb.ssthresh).toBe(2 * MSS);
    expect(s.pcb.cwnd).toBe(5 * MSS);
    finish(s);
  });

  test('cubic: ssthresh = 0.7 FlightSize (RFC 9438 §4.6), NewReno inflation on top', () => {
    const s = sender({ tcp: { congestion: 'cubic' } });
    s.send(10 * MSS);
    expect(s.out()).toHaveLength(10);
    s.ack(0);
    s.ack(0);
    expect(s.out()).toEqual([]);
    s.ack(0);
    expect(s.out()).toEqual([['A', 0, MSS]]);
    expect(s.pcb.ssthresh).toBe(7000);
    expect(s.pcb.cwnd).toBe(7000 + 3 * MSS);
    expect(s.pcb.info().congestion).toBe('cubic');
    // Each further duplicate ACK inflates by one MSS and sends nothing old again.
    s.ack(0);
    expect(s.pcb.cwnd).toBe(11 * MSS);
    expect(s.out()).toEqual([]);
    // Full ACK: out of recovery, cwnd back at ssthresh (nothing left in flight to burst).
    s.ack(10 * MSS);
    expect(s.pcb.info().inRecovery).toBe(false);
    expect(s.pcb.cwnd).toBe(Math.min(7000, MSS + MSS));
    finish(s);
  });

  test('limited transmit (RFC 3042): one new segment on each of dupacks 1 and 2, none counted in ssthresh', () => {
    const s = sender();
    s.send(15 * MSS);
    expect(s.out()).toEqual([...segs(0, 9), ['A', 9 * MSS, MSS]]); // IW = 10 segments
    s.ack(0);
    expect(s.out()).toEqual([['A', 10 * MSS, MSS]]);
    s.ack(0);
    expect(s.out()).toEqual([['A', 11 * MSS, MSS]]);
    expect(s.pcb.cwnd).toBe(10 * MSS); // limited transmit leaves cwnd alone
    s.ack(0);
    expect(s.out()).toEqual([['A', 0, MSS]]);
    // RFC 5681 §3.2 step 2: FlightSize without the 2 limited-transmit segments = 10 MSS.
    expect(s.pcb.ssthresh).toBe(5 * MSS);
    expect(s.pcb.cwnd).toBe(8 * MSS);
    expect(s.pcb.recoverySeq).toBe((s.base + 12 * MSS) >>> 0);
    finish(s);
  });

  test('further duplicate ACKs inflate cwnd, and never trigger a second fast retransmit for the same window (RFC 6582 §4.1)', () => {
    const s = sender();
    s.send(20 * MSS);
    s.out();
    for (let i = 0; i < 3; i++) s.ack(0);
    // Limited transmit on dupacks 1 and 2, then the fast retransmit.
    expect(s.out()).toEqual([['A', 10 * MSS, MSS], ['A', 11 * MSS, MSS], ['A', 0, MSS]]);
    const cwnd0 = s.pcb.cwnd;
    // Dupacks 4..12: each inflates by 1 MSS; once cwnd exceeds the flight, new data goes.
    const sent: [string, number, number][] = [];
    for (let i = 4; i <= 12; i++) {
      s.ack(0);
      expect(s.pcb.cwnd).toBe(cwnd0 + (i - 3) * MSS);
      sent.push(...s.out());
    }
    // Nothing old was resent: only new segments beyond SND.MAX at recovery start.
    expect(sent.every(([, seq]) => seq >= 12 * MSS)).toBe(true);
    expect(sent.length).toBeGreaterThan(0);
    expect(s.pcb.info().counters).toMatchObject({ fastRetransmits: 1, recoveries: 1, retransmits: 1 });
    finish(s);
  });

  test('NewReno partial ACK retransmits the next hole and deflates cwnd; the full ACK exits with no burst (RFC 6582 §3.2)', () => {
    const s = sender();
    s.send(15 * MSS);
    s.out(); // 0..9
    s.ack(0); // limited transmit: 10
    s.ack(0); // 11
    s.out();
    s.ack(0); // 3rd: retransmit 0
    expect(s.out()).toEqual([['A', 0, MSS]]);
    expect(s.pcb.recoverySeq).toBe((s.base + 12 * MSS) >>> 0);
    s.ack(0);
    s.ack(0);
    expect(s.pcb.cwnd).toBe(10 * MSS);
    expect(s.out()).toEqual([]);
    // Segments 0..2 arrive (the retransmission filled the first hole), 3 was lost too.
    s.ack(3 * MSS);
    expect(s.out()).toEqual([['A', 3 * MSS, MSS]]);
    // Deflate by the 3 MSS acknowledged, add back one MSS (acked >= 1 SMSS).
    expect(s.pcb.cwnd).toBe(10 * MSS - 3 * MSS + MSS);
    expect(s.pcb.info().inRecovery).toBe(true);
    expect(s.pcb.info().counters).toMatchObject({ fastRetransmits: 1, retransmits: 2 });
    // Duplicate ACKs inflate again; once cwnd exceeds FlightSize (9 MSS) a new segment goes.
    s.ack(3 * MSS);
    expect(s.pcb.cwnd).toBe(9 * MSS);
    expect(s.out()).toEqual([]);
    s.ack(3 * MSS);
    expect(s.out()).toEqual([['A', 12 * MSS, MSS]]);
    // Full ACK (covers "recover"): recovery ends, cwnd = min(ssthresh, FlightSize + MSS).
    s.ack(12 * MSS);
    expect(s.pcb.info().inRecovery).toBe(false);
    expect(s.pcb.ssthresh).toBe(5 * MSS);
    expect(s.pcb.cwnd).toBe(MSS + MSS); // one segment (12) still in flight
    expect(s.out()).toEqual([['A', 13 * MSS, MSS]]);
    s.ack(14 * MSS);
    // Slow start again below ssthresh (2 MSS acked -> +2 MSS).
    expect(s.pcb.cwnd).toBe(4 * MSS);
    expect(s.out()).toEqual([['PA', 14 * MSS, MSS]]);
    s.ack(15 * MSS);
    expect(s.sentLens.reduce((a, b) => a + b, 0)).toBe(15 * MSS);
    expect(s.pcb.info().counters).toMatchObject({ fastRetransmits: 1, recoveries: 1, retransmits: 2, bytesRetrans: 2 * MSS, rtoCount: 0 });
    finish(s);
  });

  test('a duplicate ACK needs: no data, no window change, data outstanding (RFC 5681 §2)', () => {
    const s = sender();
    s.send(5 * MSS);
    s.out();
    s.ack(0);
    expect(s.pcb.dupAcks).toBe(1);
    // Window update: not a duplicate.
    s.ack(0, { wnd: 40000 });
    expect(s.pcb.dupAcks).toBe(1);
    // Carrying data: not a duplicate (and the data is taken).
    s.peer.inject({ seq: s.rcv, ack: s.base, flags: ACK, wnd: 40000, data: payload(10) });
    s.rcv += 10;
    expect(s.pcb.dupAcks).toBe(1);
    s.ack(0, { wnd: 40000 });
    s.ack(0, { wnd: 40000 });
    expect(s.pcb.dupAcks).toBe(3);
    expect(s.out().filter(([, seq, len]) => len > 0)).toEqual([['A', 0, MSS]]);
    finish(s);
  });

  test('nothing outstanding: repeated ACKs are not duplicates', () => {
    const s = sender();
    s.send(2 * MSS);
    s.out();
    s.ack(2 * MSS);
    for (let i = 0; i < 5; i++) s.ack(2 * MSS);
    expect(s.pcb.dupAcks).toBe(0);
    expect(s.out()).toEqual([]);
    expect(s.pcb.info().counters.fastRetransmits).toBe(0);
    finish(s);
  });

  test('small writes, Nagle and duplicate ACKs (lwIP test_tcp_fast_retx_recover): recovery ends cleanly and everything is delivered', () => {
    // lwIP's unit-test sizes: MSS 536, send buffer 22 MSS, window 20 MSS, no options.
    const peer = scriptedPeer({ tcp: { congestion: 'reno', mss: 536, sndBuf: 22 * 536, rcvWnd: 20 * 536, windowScaling: false, sack: false, timestamps: false } });
    const { pcb, iss, irs } = acceptConnection(peer, { mss: 536, wnd: 20 * 536 });
    peer.take();
    const raw = peer.raw;
    const base = (iss + 1) >>> 0;
    const out = (): [string, number, number][] => peer.take().map((x) => [flagStr(x.flags), (x.seq - base) | 0, x.data.length]);
    const ack = (n: number): void => peer.inject({ seq: irs + 1, ack: (base + n) >>> 0, flags: ACK, wnd: 20 * 536 });
    const all: Uint8Array[] = [];
    const w = (n: number, doOutput = true): number => {
      const d = payload(n, all.length + 1);
      const r = raw.tcpWrite(pcb, d);
      if (r === Err.OK) all.push(d);
      if (doOutput) raw.tcpOutput(pcb);
      return r;
    };
    w(4);
    expect(out()).toEqual([['PA', 0, 4]]);
    ack(4);
    expect(pcb.unacked.empty).toBe(true);
    w(4);
    expect(out()).toEqual([['PA', 4, 4]]);
    ack(4);
    expect(pcb.dupAcks).toBe(1);
    w(4);
    expect(out()).toEqual([]); // Nagle: 4 bytes in flight, one small segment queued
    ack(4);
    expect(pcb.dupAcks).toBe(2);
    w(4, false); // joins the queued segment
    ack(4);
    expect(pcb.dupAcks).toBe(3);
    expect(out()).toEqual([['PA', 4, 4]]); // fast retransmit of the 4 bytes in flight
    expect(pcb.recovery).toBe(RecoveryMode.NEWRENO);
    w(4, false);
    // Fill the send buffer with MSS-sized writes: all or nothing, the one that does not fit fails.
    let n = 0;
    while (w(536, false) === Err.OK) n++;
    expect(n).toBe(21);
    expect(raw.tcpSndbuf(pcb)).toBe(22 * 536 - 16 - 21 * 536); // 520 left, as in lwIP
    expect(raw.tcpOutput(pcb)).toBe(Err.OK);
    for (let i = 0; i < 4; i++) expect(w(4)).toBe(Err.OK);
    // Everything up to the retransmitted data and 4 bytes more is acknowledged: recovery is over.
    ack(12);
    expect(pcb.recovery).toBe(RecoveryMode.NONE);
    expect(w(4)).toBe(Err.OK);
    expect(w(4)).toBe(Err.OK);
    // The peer acknowledges whatever arrives until everything was sent and acknowledged.
    const total = all.reduce((a, d) => a + d.length, 0);
    const got: [string, number, number][] = [];
    for (let i = 0; i < 50 && ((pcb.sndUna - base) | 0) < total; i++) {
      got.push(...out());
      ack((pcb.sndMax - base) | 0);
    }
    expect((pcb.sndUna - base) | 0).toBe(total);
    expect(pcb.unsent.empty && pcb.unacked.empty).toBe(true);
    expect(pcb.info().counters).toMatchObject({ fastRetransmits: 1, rtoCount: 0, retransmits: 1 });
    // Everything after the retransmitted bytes 4..8 went once, in order, without gaps.
    let next = 8;
    for (const [, seq, len] of got.filter(([, , len]) => len > 0)) {
      expect(seq).toBe(next);
      next += len;
    }
    expect(next).toBe(total);
    peer.raw.tcpAbort(pcb);
    peer.stack.pool.assertEmpty();
  });

  test('fast retransmit across the 2^32 wrap keeps the unacked queue in sequence order (lwIP test_tcp_fast_rexmit_wraparound)', () => {
    const peer = scriptedPeer({ tcp: { congestion: 'reno', initialWindowSegments: 2 } });
    peer.stack.tcp.issOverride = () => 0xfffffce8 - 1;
    const { pcb, iss, irs } = acceptConnection(peer, { mss: 536 });
    peer.take();
    expect(iss).toBe(0xfffffce7);
    // As lwIP's test: start in congestion avoidance with cwnd = ssthresh = 2 MSS.
    pcb.cwnd = 2 * 536;
    pcb.ssthresh = 2 * 536;
    const base = iss + 1;
    const data = payload(6 * 536, 3);
    for (let k = 0; k < 6; k++) peer.raw.tcpWrite(pcb, data.subarray(k * 536, (k + 1) * 536));
    peer.raw.tcpOutput(pcb);
    const rel = (x: SentSeg): number => (x.seq - base) >>> 0;
    expect(peer.take().map(rel)).toEqual([0, 536]); // cwnd 2 MSS
    const ackRel = (n: number): void => peer.inject({ seq: irs + 1, ack: (base + n) >>> 0, flags: ACK });
    ackRel(536);
    expect(peer.take().map(rel)).toEqual([1072]); // the window slid: segment 2, no retransmission
    expect(pcb.cwnd).toBe(2 * 536); // byte counting: 536 acked < cwnd
    // lwIP has no limited transmit; here dupacks 1 and 2 each send one new segment (RFC 3042).
    ackRel(536);
    expect(peer.take().map(rel)).toEqual([1608]);
    ackRel(536);
    expect(peer.take().map(rel)).toEqual([2144]);
    ackRel(536);
    // Segment 1 again, then 5: ssthresh = max(FlightSize 2 MSS / 2, 2 MSS) = 2 MSS,
    // cwnd = ssthresh + 3 MSS = 5 MSS, and 4 segments are in flight.
    const out = peer.take();
    expect(out.map(rel)).toEqual([536, 2680]);
    expect(out[0]!.data).toEqual(data.subarray(536, 1072));
    expect(pcb.ssthresh).toBe(2 * 536);
    expect(pcb.cwnd).toBe(5 * 536);
    const order: number[] = [];
    for (let sg = pcb.unacked.head; sg !== null; sg = sg.next) order.push((sg.seq - base) >>> 0);
    expect(order).toEqual([536, 1072, 1608, 2144, 2680]);
    ackRel(6 * 536);
    expect(pcb.unacked.empty).toBe(true);
    peer.raw.tcpAbort(pcb);
    peer.stack.pool.assertEmpty();
  });
});

describe('SACK-based recovery (RFC 6675, scripted peer)', () => {
  test('holes retransmitted in order, SACKed segments never resent, pipe respected, exit at RecoveryPoint', () => {
    const s = sender({ sack: true });
    expect(s.pcb.info().sack).toBe(true);
    s.send(20 * MSS);
    expect(s.out()).toEqual([...segs(0, 10)]);
    // Segments 0 and 4 lost. Each dupack SACKs one more segment.
    s.ack(0, { sack: [[1000, 2000]] });
    expect(s.out()).toEqual([['A', 10 * MSS, MSS]]); // limited transmit
    s.ack(0, { sack: [[1000, 3000]] });
    expect(s.out()).toEqual([['A', 11 * MSS, MSS]]);
    s.ack(0, { sack: [[1000, 4000]] });
    expect(s.out()).toEqual([['A', 0, MSS]]);
    expect(s.pcb.recovery).toBe(RecoveryMode.SACK);
    // FlightSize without limited transmit = 10 MSS; RFC 6675 §5 step 4.2: cwnd = ssthresh.
    expect(s.pcb.ssthresh).toBe(5 * MSS);
    expect(s.pcb.cwnd).toBe(5 * MSS);
    expect(s.pcb.recoverySeq).toBe((s.base + 12 * MSS) >>> 0);
    // pipe = 12 in flight - 3 SACKed - 1 lost + 1 retransmitted = 9 MSS > cwnd: nothing more.
    expect(s.pcb.pipe).toBe(9 * MSS);
    const sentDuring: [string, number, number][] = [];
    const sacks: [number, number][][] = [
      [[5000, 6000], [1000, 4000]],
      [[5000, 7000], [1000, 4000]],
      [[5000, 8000], [1000, 4000]], // 3 SACKed segments above segment 4: it is lost
      [[5000, 9000], [1000, 4000]],
      [[5000, 10000], [1000, 4000]],
      [[5000, 11000], [1000, 4000]],
    ];
    const pipes: number[] = [];
    for (const sk of sacks) {
      s.ack(0, { sack: sk });
      const o = s.out();
      sentDuring.push(...o);
      pipes.push(s.pcb.pipe);
      // RFC 6675 §5 (C): send while cwnd - pipe >= 1 SMSS, and only then.
      expect(s.pcb.cwnd - s.pcb.pipe).toBeLessThan(MSS);
      if (o.length > 0) expect(s.pcb.pipe).toBeLessThanOrEqual(s.pcb.cwnd);
    }
    // pipe per ACK: 8, 7 MSS; then segment 4 is lost (3 SACKed above it) and
    // pipe = 12 - 6 SACKed - 2 lost + 1 retransmitted = 5 = cwnd: nothing
    // goes until the next ACK, which lets hole 4 out (once), then new data.
    expect(pipes).toEqual([8, 7, 5, 5, 5, 5].map((x) => x * MSS));
    expect(sentDuring).toEqual([
      ['A', 4 * MSS, MSS],
      ['A', 12 * MSS, MSS],
      ['A', 13 * MSS, MSS],
    ]);
    // Partial ACK up to the second hole: 4 was already retransmitted, it is not sent again.
    s.ack(4 * MSS, { sack: [[5000, 12000]] });
    const afterPartial = s.out();
    expect(afterPartial.some(([, seq]) => seq < 12 * MSS)).toBe(false);
    expect(s.pcb.info().inRecovery).toBe(true);
    // Full ACK at RecoveryPoint: out of recovery.
    s.ack(12 * MSS);
    expect(s.pcb.info().inRecovery).toBe(false);
    const c = s.pcb.info().counters;
    expect(c).toMatchObject({ fastRetransmits: 1, recoveries: 1, retransmits: 2, bytesRetrans: 2 * MSS, rtoCount: 0 });
    // No SACKed segment (1-3, 5-11) was ever retransmitted.
    finish(s);
  });

  test('enough SACKed data triggers recovery before three duplicate ACKs (RFC 6675 §5: IsLost(HighACK + 1))', () => {
    const s = sender({ sack: true });
    s.send(10 * MSS);
    s.out();
    // One ACK SACKing three segments above the hole: the hole is lost at once.
    s.ack(0, { sack: [[1000, 4000]] });
    expect(s.pcb.dupAcks).toBe(1);
    expect(s.out()[0]).toEqual(['A', 0, MSS]);
    expect(s.pcb.recovery).toBe(RecoveryMode.SACK);
    finish(s);
  });

  test('multiple holes in one window are retransmitted lowest first, each once', () => {
    const s = sender({ sack: true, tcp: { initialWindowSegments: 10 } });
    s.send(10 * MSS);
    s.out();
    // Lost: 0, 2, 4. Received: 1, 3, 5..9.
    s.ack(0, { sack: [[5000, 10000], [3000, 4000], [1000, 2000]] });
    // Everything below the highest 3 SACKed segments and un-SACKed is lost:
    // 0, 2, 4 go out in order as the pipe allows.
    const o = s.out();
    expect(o.map(([, seq]) => seq)).toEqual([0, 2000, 4000]);
    expect(s.pcb.pipe).toBe(3 * MSS);
    expect(s.pcb.lostBytes).toBe(3 * MSS);
    // More duplicate ACKs with the same blocks change nothing: no second copies.
    s.ack(0, { sack: [[5000, 10000], [3000, 4000], [1000, 2000]] });
    s.ack(0, { sack: [[5000, 10000], [3000, 4000], [1000, 2000]] });
    expect(s.out()).toEqual([]);
    s.ack(2000, { sack: [[5000, 10000], [3000, 4000]] });
    s.ack(4000, { sack: [[5000, 10000]] });
    expect(s.out()).toEqual([]);
    s.ack(10 * MSS);
    expect(s.pcb.info().inRecovery).toBe(false);
    expect(s.pcb.info().counters).toMatchObject({ retransmits: 3, fastRetransmits: 1 });
    finish(s);
  });

  test('D-SACK and garbage blocks are ignored: below SND.UNA, beyond SND.MAX, inverted', () => {
    const s = sender({ sack: true });
    s.send(10 * MSS);
    s.out();
    s.ack(2000);
    expect(s.pcb.sndUna).toBe((s.base + 2000) >>> 0);
    // D-SACK (RFC 2883) of already acknowledged data, a block beyond what was sent, an inverted one.
    s.ack(2000, { sack: [[0, 1000]] });
    s.ack(2000, { sack: [[9000, 15000]] });
    s.ack(2000, { sack: [[6000, 4000]] });
    expect(s.pcb.sackedBytes).toBe(0);
    expect(s.pcb.highSacked).toBe((s.base + 2000) >>> 0);
    // Nor are they duplicate ACKs: with SACK, only an ACK that SACKs new
    // data is one (RFC 6675 §2), so a duplicated ACK or one carrying only a
    // D-SACK never starts a fast retransmit (issue 13: --dup 1 made 520).
    expect(s.pcb.dupAcks).toBe(0);
    expect(s.out().filter(([, seq]) => seq < 10 * MSS)).toEqual([]);
    // A block covering part of a segment marks nothing.
    s.ack(2000, { sack: [[5500, 6500]] });
    expect(s.pcb.sackedBytes).toBe(0);
    finish(s);
  });

  test('SACK recovery exit does not burst: cwnd = min(ssthresh, FlightSize + MSS) (RFC 6582 §3.2 step 3, as FreeBSD)', () => {
    // The peer's window (20 MSS) is full during recovery, so nothing new can
    // go and the pipe drains to the one retransmission; the full ACK then
    // opens 20 MSS of window at once.
    const s = sender({ sack: true, wnd: 20 * MSS, tcp: { initialWindowSegments: 20 } });
    s.send(40 * MSS);
    expect(s.out()).toEqual(segs(0, 20));
    s.ack(0, { sack: [[1000, 4000]] });
    expect(s.out()).toEqual([['A', 0, MSS]]);
    expect(s.pcb.ssthresh).toBe(10 * MSS);
    for (let r = 5000; r <= 20000; r += 1000) s.ack(0, { sack: [[1000, r]] });
    expect(s.out()).toEqual([]); // window-limited
    expect(s.pcb.pipe).toBe(MSS);
    s.ack(20 * MSS);
    expect(s.pcb.info().inRecovery).toBe(false);
    // Nothing was in flight: cwnd = min(10 MSS, max(0, MSS) + MSS) = 2 MSS, not a 10-segment burst.
    expect(s.pcb.cwnd).toBe(2 * MSS);
    expect(s.out()).toEqual(segs(20 * MSS, 2));
    // Slow start climbs back towards ssthresh from there.
    s.ack(22 * MSS);
    expect(s.pcb.cwnd).toBe(4 * MSS);
    expect(s.out()).toEqual(segs(22 * MSS, 4));
    finish(s);
  });
});

// ---------------------------------------------------------------------------
// Simulated pair: losing each kind of segment once, then completing
// ---------------------------------------------------------------------------

interface Scenario {
  pair: Pair;
  cli: Endpoint;
  srv: Endpoint;
  clientPcb: TcpPcb;
  drops: DropStage[];
  a: Uint8Array;
  b: Uint8Array;
}

function lossScenario(o: {
  ab?: (seg: SentSeg) => boolean;
  ba?: (seg: SentSeg) => boolean;
  aBytes?: number;
  bBytes?: number;
  tcp?: TcpConfig;
  link?: LinkSpec;
  seed?: number;
}): Scenario {
  const pair = simPair({ seed: o.seed ?? 11, link: { latencyMs: 5, ...o.link }, tcp: { ...o.tcp } });
  const link = pair.sim.links[0]!;
  const drops: DropStage[] = [];
  if (o.ab) {
    const d = new DropStage(o.ab);
    insertStage(link.ab, d);
    drops.push(d);
  }
  if (o.ba) {
    const d = new DropStage(o.ba);
    insertStage(link.ba, d);
    drops.push(d);
  }
  const a = payload(o.aBytes ?? 200_000, 21);
  const b = payload(o.bBytes ?? 50_000, 22);
  const { cli, srv, clientPcb } = bulkExchange(pair, a, b);
  return { pair, cli, srv, clientPcb, drops, a, b };
}

/** Run to completion: both FINs seen, data byte-exact, then everything freed and no timer left. */
function complete(sc: Scenario, deadline = 600_000): void {
  const { pair, cli, srv } = sc;
  expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, deadline)).toBe(true);
  expect(srv.receivedBytes).toBe(sc.a.length);
  expect(cli.receivedBytes).toBe(sc.b.length);
  expect(sha256(srv.bytes)).toBe(sha256(sc.a));
  expect(sha256(cli.bytes)).toBe(sha256(sc.b));
  expect(pair.sim.runUntilIdle()).toBe(true);
  expect(sc.clientPcb.freed).toBe(true);
  expect(srv.pcb === null || srv.pcb.freed).toBe(true);
  expect(cli.errors).toEqual([]);
  expect(srv.errors).toEqual([]);
  expect(pair.sim.clock.pendingTimers()).toBe(0);
  expect(pair.client.tcp.pcbCount).toBe(0);
  expect(pair.server.tcp.pcbCount).toBe(1); // the listener
  pair.client.pool.assertEmpty();
  pair.server.pool.assertEmpty();
  for (const d of sc.drops) expect(d.stats.dropped).toBe(1);
}

const isSyn = (s: SentSeg): boolean => (s.flags & (SYN | ACK)) === SYN;
const isSynAck = (s: SentSeg): boolean => (s.flags & (SYN | ACK)) === (SYN | ACK);
const isPureAck = (s: SentSeg): boolean => (s.flags & (SYN | FIN | RST)) === 0 && s.data.length === 0;

/** Predicate picking the n-th (1-based) segment that matches `p`. */
function nth(n: number, p: (s: SentSeg) => boolean): (s: SentSeg) => boolean {
  let k = 0;
  return (s) => p(s) && ++k === n;
}

describe('loss of each kind of segment in a simulated pair, then completion', () => {
  test('SYN lost: retransmitted after the initial RTO (1 s); cwnd starts at 1 MSS (RFC 5681 §3.1)', () => {
    const sc = lossScenario({ ab: isSyn });
    let connectedAt = -1;
    let cwndAtConnect = -1;
    sc.pair.sim.runUntil(() => {
      if (connectedAt < 0 && sc.cli.connected) {
        connectedAt = sc.pair.sim.clock.now();
        cwndAtConnect = sc.clientPcb.cwnd;
      }
      return connectedAt >= 0;
    }, 10_000);
    // SYN at 0 lost, again at 1000; SYN-ACK back after 2 x 5 ms.
    expect(connectedAt).toBe(1010);
    expect(cwndAtConnect).toBe(sc.clientPcb.mss);
    expect(sc.clientPcb.info().counters).toMatchObject({ rtoCount: 1, retransmits: 1 });
    complete(sc);
  });

  test('SYN-ACK lost: the server retransmits it (or answers the client\'s retransmitted SYN)', () => {
    const sc = lossScenario({ ba: isSynAck });
    let connectedAt = -1;
    sc.pair.sim.runUntil(() => {
      if (connectedAt < 0 && sc.cli.connected) connectedAt = sc.pair.sim.clock.now();
      return connectedAt >= 0;
    }, 10_000);
    // Both sides time out at 1000 ms; the first SYN-ACK to arrive completes the handshake.
    expect(connectedAt).toBeGreaterThanOrEqual(1005);
    expect(connectedAt).toBeLessThanOrEqual(1010);
    complete(sc);
  });

  test('third ACK lost with data right behind it: the data segments complete the handshake', () => {
    // The client's first segment after the SYN is the ACK carrying its first data.
    const sc = lossScenario({ ab: nth(1, (s) => (s.flags & SYN) === 0) });
    complete(sc);
    expect(sc.drops[0]!.dropped[0]!.data.length).toBeGreaterThan(0);
  });

  test('third ACK lost with nothing behind it: the server retransmits its SYN-ACK and the client ACKs again', () => {
    const pair = simPair({ seed: 5, link: { latencyMs: 5 } });
    const drop = new DropStage(nth(1, (s) => (s.flags & SYN) === 0));
    insertStage(pair.sim.links[0]!.ab, drop);
    const a = payload(30_000, 1);
    const b = payload(40_000, 2);
    const cli = new Endpoint(pair.rc, a);
    const srv = new Endpoint(pair.rs, b);
    let acceptedAt = -1;
    const l = pair.rs.tcpNew()!;
    pair.rs.tcpBind(l, anyIp(), 80);
    pair.rs.tcpListen(l);
    pair.rs.tcpAccept(l, (_a, npcb) => {
      acceptedAt = pair.sim.clock.now();
      srv.attach(npcb);
      srv.pump(npcb);
      return Err.OK;
    });
    const c = pair.rc.tcpNew()!;
    cli.attach(c);
    // The client sends nothing until the server's data has all arrived.
    pair.rc.tcpConnect(c, peerIp(), 80, () => Err.OK);
    expect(pair.sim.runUntil(() => cli.receivedBytes === b.length, 60_000)).toBe(true);
    expect(drop.dropped).toHaveLength(1);
    expect(isPureAck(drop.dropped[0]!)).toBe(true);
    // SYN-ACK at 5, lost ACK at 10; the SYN-ACK's RTO (1 s) fires at 1005, the ACK arrives at 1015.
    expect(acceptedAt).toBe(1015);
    cli.pump(c);
    expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 60_000)).toBe(true);
    expect(sha256(srv.bytes)).toBe(sha256(a));
    expect(sha256(cli.bytes)).toBe(sha256(b));
    expect(pair.sim.runUntilIdle()).toBe(true);
    expect(pair.sim.clock.pendingTimers()).toBe(0);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });

  test('a data segment lost, SACK on: fast retransmit in SACK recovery, no RTO', () => {
    const sc = lossScenario({ ab: nth(30, (s) => s.data.length > 0) });
    complete(sc);
    const c = sc.clientPcb.info().counters;
    expect(sc.clientPcb.info().sack).toBe(true);
    expect(c.fastRetransmits).toBe(1);
    expect(c.rtoCount).toBe(0);
    expect(c.retransmits).toBe(1);
  });

  test('a data segment lost, SACK off: NewReno fast retransmit, no RTO', () => {
    const sc = lossScenario({ ab: nth(30, (s) => s.data.length > 0), tcp: { sack: false } });
    complete(sc);
    const info = sc.clientPcb.info();
    expect(info.sack).toBe(false);
    expect(info.counters.fastRetransmits).toBe(1);
    expect(info.counters.rtoCount).toBe(0);
    expect(info.counters.retransmits).toBe(1);
  });

  for (const tlp of [false, true]) {
    test(`the last data segment lost: no duplicate ACKs follow; ${tlp ? 'a tail loss probe (RFC 8985 §7) recovers it, no RTO' : 'without TLP the RTO recovers it'}`, () => {
      let iss = -1;
      const total = 200_000;
      const sc = lossScenario({
        ab: (s) => {
          if (s.flags & SYN) iss = s.seq;
          return s.data.length > 0 && iss >= 0 && ((s.seq - iss - 1) >>> 0) + s.data.length === total;
        },
        aBytes: total,
        tcp: { tlp },
      });
      complete(sc);
      const c = sc.clientPcb.info().counters;
      expect(c.rtoCount).toBe(tlp ? 0 : 1);
      expect(c.lossProbes).toBe(tlp ? 1 : 0);
      expect(c.retransmits).toBe(1);
      expect(c.fastRetransmits).toBe(0);
    });

    test(`a FIN lost: retransmitted by ${tlp ? 'a tail loss probe' : 'the RTO'}`, () => {
      const sc = lossScenario({ ab: nth(1, (s) => (s.flags & FIN) !== 0), tcp: { tlp } });
      complete(sc);
      const c = sc.clientPcb.info().counters;
      if (tlp) {
        expect(c.lossProbes).toBe(1);
        expect(c.rtoCount).toBe(0);
      } else {
        expect(c.rtoCount).toBeGreaterThanOrEqual(1);
      }
    });
  }

  test('the ACK of a FIN lost: the FIN is retransmitted and ACKed again (from TIME_WAIT or LAST_ACK)', () => {
    let finEnd = -1;
    const pair = simPair({ seed: 9, link: { latencyMs: 5 } });
    const link = pair.sim.links[0]!;
    // Watch the client's FIN; drop the first server segment that acknowledges it.
    insertStage(
      link.ab,
      new DropStage((s) => {
        if (s.flags & FIN && finEnd < 0) finEnd = (s.seq + s.data.length + 1) >>> 0;
        return false;
      }),
    );
    const drop = new DropStage((s) => finEnd >= 0 && s.ack === finEnd);
    insertStage(link.ba, drop);
    const a = payload(100_000, 3);
    const b = payload(10_000, 4);
    const { cli, srv, clientPcb } = bulkExchange(pair, a, b);
    expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 60_000)).toBe(true);
    expect(pair.sim.runUntilIdle()).toBe(true);
    expect(drop.dropped).toHaveLength(1);
    expect(clientPcb.freed).toBe(true);
    expect(sha256(srv.bytes)).toBe(sha256(a));
    expect(sha256(cli.bytes)).toBe(sha256(b));
    expect(clientPcb.info().counters.retransmits).toBeGreaterThanOrEqual(1);
    expect(cli.errors).toEqual([]);
    expect(srv.errors).toEqual([]);
    expect(pair.sim.clock.pendingTimers()).toBe(0);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });

  test('a pure ACK lost mid-transfer: the next cumulative ACK covers it, nothing is retransmitted', () => {
    const sc = lossScenario({ ba: nth(10, isPureAck), bBytes: 0 });
    complete(sc);
    expect(sc.drops[0]!.dropped).toHaveLength(1);
    expect(sc.clientPcb.info().counters.retransmits).toBe(0);
  });
});

describe('reordering and duplication in the simulator', () => {
  test('reorder 20%, duplicate 10%: byte-exact; spurious retransmissions counted, data intact', () => {
    const sc = lossScenario({ link: { reorder: 0.2, duplicate: 0.1 }, aBytes: 1_000_000, bBytes: 300_000, seed: 4 });
    complete(sc);
    const c = sc.clientPcb.info().counters;
    // Reordering makes duplicate ACKs (and some spurious fast retransmits); every one is counted.
    expect(c.dupAcksIn).toBeGreaterThan(0);
    expect(c.oooSegsIn).toBeGreaterThan(0);
    expect(c.retransmits).toBeGreaterThan(0);
    expect(c.fastRetransmits).toBeGreaterThan(0);
    expect(c.bytesRetrans).toBeGreaterThan(0);
    // Per-connection and stack-wide counts agree (one connection on the client stack).
    expect(sc.pair.client.tcp.counters.retransSegs).toBe(c.retransmits);
    expect(sc.pair.client.tcp.counters.fastRetransmits).toBe(c.fastRetransmits);
    const link = sc.pair.sim.links[0]!;
    expect(link.ab.stat('duplicated')).toBeGreaterThan(0);
    expect(link.ab.stat('dropped')).toBe(0); // nothing was lost: every retransmission was spurious
  });

  test('random loss 2% both ways, SACK and NewReno: byte-exact and clean', () => {
    for (const sack of [true, false]) {
      const sc = lossScenario({ link: { loss: 0.02 }, aBytes: 500_000, bBytes: 500_000, seed: 13, tcp: { sack } });
      complete(sc);
      expect(sc.clientPcb.info().counters.retransmits).toBeGreaterThan(0);
    }
  });
});

describe('throughput sanity in virtual time (behaviour of the window logic, not a speed test)', () => {
  /** Goodput of a one-way 10 MB transfer, Mbit/s of virtual time from connect to the last byte. */
  function goodput(link: LinkSpec, tcp: TcpConfig = {}): { mbps: number; pcb: TcpPcb; drops: number } {
    const pair = simPair({ seed: 7, link, tcp });
    const data = payload(10_000_000, 5);
    const { srv, clientPcb } = bulkExchange(pair, data, new Uint8Array(0));
    const t0 = pair.sim.clock.now();
    expect(pair.sim.runUntil(() => srv.receivedBytes >= data.length, 600_000)).toBe(true);
    const ms = pair.sim.clock.now() - t0;
    expect(sha256(srv.bytes)).toBe(sha256(data));
    const drops = pair.sim.links[0]!.ab.stat('dropped');
    expect(pair.sim.runUntilIdle()).toBe(true);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
    return { mbps: (data.length * 8) / ms / 1000, pcb: clientPcb, drops };
  }

  test('10 MB over 100 Mbit/s, 10 ms each way, no loss, BDP-sized bottleneck queue: above 80 Mbit/s, cwnd bounded by the window', () => {
    for (const congestion of ['cubic', 'reno']) {
      const r = goodput({ latencyMs: 10, bitsPerSecond: 100e6, queueBytes: 256 * 1024 }, { congestion });
      expect(r.drops).toBe(0);
      expect(r.mbps).toBeGreaterThan(80);
      const c = r.pcb.info().counters;
      expect(c.retransmits).toBe(0);
      // cwnd stops growing once the receive window, not cwnd, limits sending (RFC 7661).
      expect(r.pcb.cwnd).toBeLessThanOrEqual(256 * 1024 + 2 * r.pcb.mss);
    }
  });

  test('the same link with the simulator\'s default 64 KiB bottleneck queue, unpaced: slow start overshoots once, recovery is clean (above 50 Mbit/s)', () => {
    // The window (256 KiB) is about the BDP (250 kB), and an unpaced slow
    // start overflows a 64 KiB queue; after that loss cwnd is 0.7 (CUBIC) or
    // 0.5 (Reno) of it, below the BDP, and regrows slowly: ~57 / ~62 Mbit/s.
    // Before the fixes to SACK recovery (no second copy of a retransmitted
    // hole on a partial ACK, no burst at the exit) this was ~47 / ~46.
    for (const congestion of ['cubic', 'reno']) {
      const r = goodput({ latencyMs: 10, bitsPerSecond: 100e6 }, { congestion, pacing: false });
      expect(r.drops).toBeGreaterThan(0);
      expect(r.mbps).toBeGreaterThan(50);
      const c = r.pcb.info().counters;
      expect(c.rtoCount).toBe(0);
      // Retransmissions stay close to what the queue dropped (few spurious ones).
      expect(c.retransmits).toBeLessThanOrEqual(r.drops + 5);
    }
  });

  test('the same link paced (the default): the window-limited flow is spread at the pacing rate, nothing dropped (above 85 Mbit/s)', () => {
    // Receiver-window limited, cwnd never fills: the whole transfer is a paced run (pacing.ts).
    for (const congestion of ['cubic', 'reno']) {
      const r = goodput({ latencyMs: 10, bitsPerSecond: 100e6 }, { congestion });
      expect(r.drops).toBe(0);
      expect(r.pcb.info().counters.retransmits).toBe(0);
      expect(r.mbps).toBeGreaterThan(85);
    }
  });

  test('10 MB over 100 Mbit/s, 10 ms each way, 1% random loss: above the Mathis bound for delayed ACKs (5 Mbit/s)', () => {
    // Mathis et al.: rate <= MSS/RTT * sqrt(3/(2 b p)); MSS 1448 (timestamps), RTT ~20.5 ms,
    // b = 2 (delayed ACKs), p = 0.01 -> ~4.9 Mbit/s. Reno should sit near it, CUBIC above.
    for (const congestion of ['cubic', 'reno']) {
      const r = goodput({ latencyMs: 10, bitsPerSecond: 100e6, loss: 0.01 }, { congestion });
      expect(r.mbps).toBeGreaterThan(5);
      expect(r.pcb.info().counters.rtoCount).toBeLessThan(5);
    }
  });
});

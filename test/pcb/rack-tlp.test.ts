// RACK-TLP (RFC 8985), D-SACK-based and timestamp-based undo (RFC 2883,
// RFC 3708, RFC 3522) against a scripted peer: exact segments, timers and
// windows. Each test also runs with its mechanism switched off and shows
// the old behaviour, so it fails if the mechanism stops working.
import { describe, expect, test } from 'vitest';
import { Deadline } from '../../src/pcb/deadlines.ts';
import { RecoveryMode, type TcpPcb } from '../../src/pcb/pcb.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import { TLP_MIN_SLACK_MS } from '../../src/pcb/tlp.ts';
import { ACK, Err, flagStr, payload, scriptedPeer, type ScriptedPeer, type SentSeg, SYN } from '../support/tcp.ts';
import { anyIp } from '../support/family.ts';

const MSS = 1000;
/** The peer answers every flight this many ms after it was sent. */
const RTT = 20;

interface Conn {
  peer: ScriptedPeer;
  pcb: TcpPcb;
  /** ISS + 1: our first data byte. */
  base: number;
  rcv: number;
  ts: boolean;
  /** TSval of the segment we sent at relative sequence `rel` (its latest copy). */
  tsOf: Map<number, number>;
  send(n: number): void;
  /** The peer acknowledges `rel` with SACK blocks; `echo` is the TSval it echoes (default: of the newest data). */
  ack(rel: number, o?: { sack?: [number, number][]; echo?: number }): void;
  out(): [string, number, number][];
  finish(): void;
}

/** A passive open whose handshake takes RTT ms (so min_RTT and SRTT are RTT), SACK on. */
function conn(tcp: TcpConfig = {}, o: { ts?: boolean } = {}): Conn {
  const ts = o.ts ?? false;
  // Flights leave at once (pacing.test.ts covers pacing), slow start is plain.
  const peer = scriptedPeer({ tcp: { congestion: 'reno', hystart: false, pacing: false, ...tcp } });
  const raw = peer.raw;
  const l = raw.tcpNew()!;
  raw.tcpBind(l, anyIp(), peer.localPort);
  raw.tcpListen(l);
  let pcb: TcpPcb | null = null;
  raw.tcpAccept(l, (_a, npcb) => {
    pcb = npcb;
    return Err.OK;
  });
  const irs = 1000;
  peer.inject({ seq: irs, flags: SYN, wnd: 0xffff, mss: MSS + (ts ? 12 : 0), sackPermitted: true, ...(ts ? { ts: [5000, 0] as [number, number] } : {}) });
  const synack = peer.take().find((s) => s.flags & SYN)!;
  peer.advance(RTT);
  peer.inject({ seq: irs + 1, ack: (synack.seq + 1) >>> 0, flags: ACK, wnd: 0xffff, ...(ts ? { ts: [5001, synack.opts.tsVal] as [number, number] } : {}) });
  raw.tcpClose(l);
  const p = pcb as TcpPcb | null;
  if (p === null) throw new Error('not accepted');
  const base = (synack.seq + 1) >>> 0;
  const tsOf = new Map<number, number>();
  let written = 0;
  let lastTs = 0;
  const record = (segs: SentSeg[]): SentSeg[] => {
    for (const s of segs) {
      if (s.data.length > 0 && ts) {
        tsOf.set((s.seq - base) | 0, s.opts.tsVal);
        lastTs = s.opts.tsVal;
      }
    }
    return segs;
  };
  return {
    peer,
    pcb: p,
    base,
    rcv: irs + 1,
    ts,
    tsOf,
    send(n: number) {
      expect(raw.tcpWrite(p, payload(n, 3 + written))).toBe(Err.OK);
      written += n;
      raw.tcpOutput(p);
    },
    ack(rel: number, a = {}) {
      peer.inject({
        seq: this.rcv,
        ack: (base + rel) >>> 0,
        flags: ACK,
        wnd: 0xffff,
        ...(a.sack ? { sack: a.sack.map(([l2, r]) => [(base + l2) >>> 0, (base + r) >>> 0] as [number, number]) } : {}),
        ...(ts ? { ts: [6000, a.echo ?? lastTs] as [number, number] } : {}),
      });
    },
    out() {
      return record(peer.take()).map((s) => [flagStr(s.flags), (s.seq - base) | 0, s.data.length]);
    },
    finish() {
      raw.tcpAbort(p);
      peer.stack.pool.assertEmpty();
    },
  };
}

const seg = (rel: number, len = MSS): [string, number, number] => ['A', rel, len];

describe('RACK: losses found by time, not by counting duplicate ACKs (RFC 8985 §6)', () => {
  for (const rack of [true, false]) {
    test(`one segment SACKed above a hole: ${rack ? 'the hole is retransmitted when the reordering window (min_RTT/4) has passed' : 'RFC 6675 needs 3 SACKed segments: nothing until the RTO'}`, () => {
      const c = conn({ rack, tlp: false });
      c.send(2 * MSS);
      expect(c.out()).toEqual([seg(0), ['PA', MSS, MSS]]);
      c.peer.advance(RTT);
      c.ack(0, { sack: [[MSS, 2 * MSS]] });
      expect(c.out()).toEqual([]); // not at once: it may be reordering
      if (rack) {
        // min_RTT / 4 = 5 ms after the RTT of the SACKed segment.
        expect(c.pcb.deadlines.get(Deadline.REORDER)).toBe(c.peer.clock.now() + RTT / 4);
        c.peer.advance(RTT / 4 - 1);
        expect(c.out()).toEqual([]);
        c.peer.advance(1);
        expect(c.out()).toEqual([seg(0)]);
        expect(c.pcb.recovery).toBe(RecoveryMode.SACK);
        expect(c.pcb.info().counters).toMatchObject({ rackLosses: 1, rtoCount: 0, fastRetransmits: 1 });
      } else {
        expect(c.pcb.deadlines.armed(Deadline.REORDER)).toBe(false);
        c.peer.advance(100);
        expect(c.out()).toEqual([]);
        expect(c.pcb.info().counters.fastRetransmits).toBe(0);
      }
      c.finish();
    });

    test(`a lost retransmission: ${rack ? 'new data delivered after it shows it lost again, resent without an RTO' : 'without RACK only the RTO finds it'}`, () => {
      const c = conn({ rack, tlp: false });
      c.send(5 * MSS);
      expect(c.out().length).toBe(5);
      c.peer.advance(RTT);
      // Segment 0 lost; 1..4 arrive: with four SACKed both modes retransmit it at once.
      c.ack(0, { sack: [[MSS, 5 * MSS]] });
      expect(c.out()).toEqual([seg(0)]);
      // New data goes out behind the retransmission (the window lets it).
      c.send(MSS);
      const after = c.out();
      expect(after.some(([, rel]) => rel === 5 * MSS)).toBe(true);
      c.peer.advance(RTT);
      // The retransmission is lost too; the new segment arrives.
      c.ack(0, { sack: [[MSS, 6 * MSS]] });
      const again = c.out();
      if (rack) {
        expect(again).toEqual([seg(0)]);
        expect(c.pcb.info().counters).toMatchObject({ retransmits: 2, rtoCount: 0 });
      } else {
        expect(again).toEqual([]);
        expect(c.pcb.info().counters.rtoCount).toBe(0);
        c.peer.advance(c.pcb.deadlines.get(Deadline.RTO) - c.peer.clock.now());
        expect(c.out()[0]).toEqual(seg(0));
        expect(c.pcb.info().counters.rtoCount).toBe(1);
      }
      c.finish();
    });
  }

  test('reordering seen: the window is used even in recovery, so a late original is not retransmitted', () => {
    const c = conn({ tlp: false });
    c.send(6 * MSS);
    c.out();
    c.peer.advance(RTT);
    // Segment 1 arrives after 2 (never retransmitted, below the highest SACK): reordering.
    c.ack(MSS, { sack: [[2 * MSS, 3 * MSS]] });
    c.ack(3 * MSS);
    expect(c.pcb.info().reorderingSeen).toBe(true);
    expect(c.peer.stack.tcp.counters.sackReorder).toBe(1);
    expect(c.out()).toEqual([]);
    expect(c.pcb.info().counters.retransmits).toBe(0);
    c.finish();
  });
});

describe('undo: a congestion response that proves spurious is reverted', () => {
  for (const undo of [true, false]) {
    test(`D-SACK for the only retransmission (RFC 3708): ${undo ? 'cwnd and ssthresh go back (dsackUndo)' : 'with undo off the reduction stays'}`, () => {
      const c = conn({ undo, tlp: false });
      c.send(8 * MSS);
      c.out();
      const cwnd0 = c.pcb.cwnd;
      const ssthresh0 = c.pcb.ssthresh;
      c.peer.advance(RTT);
      // Segment 0 is late (not lost): 1..7 SACKed, so it is taken for lost.
      c.ack(0, { sack: [[MSS, 8 * MSS]] });
      expect(c.out()).toEqual([seg(0)]);
      expect(c.pcb.cwnd).toBeLessThan(cwnd0);
      // The original arrives: everything acknowledged; then the copy draws a D-SACK.
      c.peer.advance(5);
      c.ack(8 * MSS);
      expect(c.pcb.recovery).toBe(RecoveryMode.NONE);
      c.peer.advance(5);
      c.ack(8 * MSS, { sack: [[0, MSS]] });
      expect(c.peer.stack.tcp.counters.dsackRecv).toBe(1);
      if (undo) {
        expect(c.pcb.cwnd).toBeGreaterThanOrEqual(cwnd0);
        expect(c.pcb.ssthresh).toBe(ssthresh0);
        expect(c.peer.stack.tcp.counters.dsackUndo).toBe(1);
        expect(c.pcb.info().counters.undos).toBe(1);
      } else {
        expect(c.pcb.cwnd).toBeLessThan(cwnd0);
        expect(c.peer.stack.tcp.counters.dsackUndo).toBe(0);
      }
      c.finish();
    });

    test(`Eifel (RFC 3522): an ACK echoing the original's timestamp ${undo ? 'undoes the fast recovery at once (fullUndo)' : 'changes nothing with undo off'}`, () => {
      const c = conn({ undo, tlp: false }, { ts: true });
      c.send(8 * MSS);
      c.out();
      const cwnd0 = c.pcb.cwnd;
      const ssthresh0 = c.pcb.ssthresh;
      const origTs = c.tsOf.get(0)!;
      c.peer.advance(RTT);
      c.ack(0, { sack: [[MSS, 8 * MSS]] });
      expect(c.out()).toEqual([seg(0, MSS)]);
      expect(c.tsOf.get(0)).toBeGreaterThan(origTs);
      expect(c.pcb.recovery).toBe(RecoveryMode.SACK);
      // The original arrives late and fills the hole: the peer echoes its TSval.
      c.peer.advance(3);
      c.ack(8 * MSS, { echo: origTs });
      expect(c.pcb.recovery).toBe(RecoveryMode.NONE);
      if (undo) {
        expect(c.pcb.cwnd).toBeGreaterThanOrEqual(cwnd0);
        expect(c.pcb.ssthresh).toBe(ssthresh0);
        expect(c.peer.stack.tcp.counters.fullUndo).toBe(1);
      } else {
        expect(c.pcb.ssthresh).toBeLessThan(cwnd0);
        expect(c.peer.stack.tcp.counters.fullUndo).toBe(0);
      }
      c.finish();
    });

    test(`a spurious RTO (the ACK was only late): ${undo ? 'the timestamp echo undoes it (lossUndo), cwnd back from 1 MSS' : 'with undo off cwnd restarts from 1 MSS'}`, () => {
      const c = conn({ undo, tlp: false }, { ts: true });
      c.send(4 * MSS);
      c.out();
      const cwnd0 = c.pcb.cwnd;
      const origTs = c.tsOf.get(0)!;
      c.peer.advance(c.pcb.deadlines.get(Deadline.RTO) - c.peer.clock.now());
      expect(c.out()[0]).toEqual(seg(0, MSS));
      expect(c.pcb.cwnd).toBe(c.pcb.mss);
      c.peer.advance(2);
      c.ack(4 * MSS, { echo: origTs });
      if (undo) {
        expect(c.pcb.cwnd).toBeGreaterThanOrEqual(cwnd0);
        expect(c.peer.stack.tcp.counters.lossUndo).toBe(1);
      } else {
        expect(c.pcb.cwnd).toBeLessThan(cwnd0);
        expect(c.peer.stack.tcp.counters.lossUndo).toBe(0);
      }
      c.finish();
    });
  }
});

describe('tail loss probe (RFC 8985 §7)', () => {
  test('PTO = 2*SRTT + 2 ms after the last send (Linux\'s TCP_TIMEOUT_MIN slack); the probe is the last segment when nothing new is queued; the RTO is re-armed behind it', () => {
    const c = conn();
    c.send(3 * MSS);
    c.out();
    const sentAt = c.peer.clock.now();
    const srtt = c.pcb.rtt.srtt;
    expect(c.pcb.deadlines.get(Deadline.TLP)).toBe(sentAt + 2 * srtt + TLP_MIN_SLACK_MS);
    c.peer.advance(2 * srtt);
    expect(c.out(), 'nothing at 2*SRTT yet').toEqual([]);
    c.peer.advance(TLP_MIN_SLACK_MS);
    expect(c.out()).toEqual([['PA', 2 * MSS, MSS]]);
    expect(c.pcb.info().counters.lossProbes).toBe(1);
    expect(c.pcb.deadlines.get(Deadline.RTO)).toBe(c.peer.clock.now() + c.pcb.rtt.currentRto());
    // Only one probe at a time: no second PTO while it is outstanding.
    expect(c.pcb.deadlines.armed(Deadline.TLP)).toBe(false);
    c.finish();
  });

  test('the probe carries new data when the window allows it', () => {
    const c = conn({ initialWindowSegments: 2 });
    c.send(3 * MSS);
    expect(c.out()).toEqual([seg(0), seg(MSS)]);
    c.peer.advance(2 * c.pcb.rtt.srtt + TLP_MIN_SLACK_MS);
    expect(c.out()).toEqual([['PA', 2 * MSS, MSS]]);
    expect(c.pcb.tlp.isRetrans).toBe(false);
    c.finish();
  });

  test('one segment in flight: PTO adds the worst-case delayed ACK (200 ms), but comes no later than the RTO would, which moves behind it', () => {
    const c = conn();
    c.send(MSS);
    c.out();
    const now = c.peer.clock.now();
    const rto = c.pcb.rtt.currentRto();
    expect(2 * c.pcb.rtt.srtt + 200).toBeGreaterThan(rto);
    expect(c.pcb.deadlines.get(Deadline.TLP)).toBe(now + rto);
    expect(c.pcb.deadlines.get(Deadline.RTO)).toBe(now + 2 * rto);
    c.peer.advance(rto);
    expect(c.out()).toEqual([['PA', 0, MSS]]);
    expect(c.pcb.info().counters).toMatchObject({ lossProbes: 1, rtoCount: 0 });
    expect(c.pcb.cwnd).toBe(10 * MSS); // a probe, not a timeout
    c.finish();
  });
});

describe('F-RTO (RFC 5682): a spurious timeout found without timestamps', () => {
  for (const frto of [true, false]) {
    test(`the ACKs were only late: ${frto ? 'after the first ACK new data goes out, not retransmissions; the next ACK covers originals and the timeout is undone' : 'without F-RTO every segment is sent again (go-back-N) and cwnd restarts from 1 MSS'}`, () => {
      const c = conn({ frto, tlp: false, initialWindowSegments: 8 });
      c.send(8 * MSS);
      expect(c.out().length).toBe(8);
      const cwnd0 = c.pcb.cwnd;
      c.send(4 * MSS); // queued behind the window of 8
      // Nothing heard: the timeout retransmits the first segment.
      c.peer.advance(c.pcb.deadlines.get(Deadline.RTO) - c.peer.clock.now());
      expect(c.out()).toEqual([seg(0)]);
      expect(c.pcb.frto).toBe(frto ? 1 : 0);
      // The late ACK for the first original arrives.
      c.peer.advance(5);
      c.ack(MSS);
      const second = c.out();
      if (frto) {
        // New data, not segment 1 again.
        expect(second.every(([, rel]) => rel >= 8 * MSS)).toBe(true);
        expect(second.length).toBeGreaterThan(0);
        expect(c.pcb.frto).toBe(2);
        // The originals keep arriving: never retransmitted data is acknowledged.
        c.ack(4 * MSS);
        expect(c.pcb.recovery).toBe(RecoveryMode.NONE);
        expect(c.pcb.cwnd).toBeGreaterThanOrEqual(cwnd0);
        expect(c.peer.stack.tcp.counters.lossUndo).toBe(1);
        expect(c.pcb.info().counters.retransmits).toBe(1);
      } else {
        expect(second[0]).toEqual(seg(MSS));
        c.ack(4 * MSS);
        expect(c.pcb.cwnd).toBeLessThan(cwnd0);
        expect(c.peer.stack.tcp.counters.lossUndo).toBe(0);
      }
      c.finish();
    });
  }

  test('the loss was real: the new data draws SACKs above the hole, and go-back-N resumes', () => {
    const c = conn({ tlp: false, initialWindowSegments: 8 });
    c.send(8 * MSS);
    c.out();
    c.send(4 * MSS);
    c.peer.advance(c.pcb.deadlines.get(Deadline.RTO) - c.peer.clock.now());
    expect(c.out()).toEqual([seg(0)]);
    c.peer.advance(5);
    c.ack(MSS); // the retransmission arrived; segments 1..7 were all lost
    const fresh = c.out();
    expect(fresh.every(([, rel]) => rel >= 8 * MSS)).toBe(true);
    c.peer.advance(5);
    c.ack(MSS, { sack: [[8 * MSS, 8 * MSS + fresh.length * MSS]] });
    expect(c.pcb.frto).toBe(0);
    expect(c.out()[0]).toEqual(seg(MSS));
    expect(c.peer.stack.tcp.counters.lossUndo).toBe(0);
    c.finish();
  });
});

describe('PAWS and ACKs that reordering swapped', () => {
  test('a duplicate ACK overtaken by a later one (older TSval) still brings its SACK blocks (Linux tcp_disordered_ack); an old ACK of new data is still dropped', () => {
    const c = conn({ tlp: false }, { ts: true });
    c.send(4 * MSS);
    expect(c.out().length).toBe(4);
    c.peer.advance(RTT);
    const ecr = c.tsOf.get(0)!;
    const counters = c.peer.stack.tcp.counters;
    const drops = counters.pawsDrops;
    const dupAck = (tsVal: number, l: number, r: number): void =>
      c.peer.inject({ seq: c.rcv, ack: c.base, flags: ACK, wnd: 0xffff, sack: [[(c.base + l) >>> 0, (c.base + r) >>> 0]], ts: [tsVal, ecr] });
    // The peer's second duplicate ACK (segments 1 and 2 SACKed) arrives before its first (segment 1 only).
    dupAck(6010, 2 * MSS, 3 * MSS);
    expect(c.pcb.sackedBytes).toBe(MSS);
    dupAck(6005, MSS, 2 * MSS);
    expect(counters.pawsDisorderedAcks).toBe(1);
    expect(counters.pawsDrops).toBe(drops);
    expect(c.pcb.sackedBytes, 'the late ACK\'s block counted').toBe(2 * MSS);
    // An ACK with an old TSval that acknowledges new data is no duplicate: PAWS drops it.
    c.peer.inject({ seq: c.rcv, ack: (c.base + MSS) >>> 0, flags: ACK, wnd: 0xffff, ts: [6001, ecr] });
    expect(counters.pawsDrops).toBe(drops + 1);
    expect(c.pcb.sndUna).toBe(c.base);
    c.finish();
  });
});

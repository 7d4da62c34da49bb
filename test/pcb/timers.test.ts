// TCP timers in virtual time: retransmission timeout and backoff (RFC 6298),
// SYN retries, RTO recovery (RFC 5681 §3.1, go-back-N), persist timer and
// zero-window probes, sender SWS avoidance (RFC 9293 §3.8.6), keepalive
// (RFC 1122 §4.2.3.6), delayed ACK (RFC 5681 §4.2, RFC 9293 §3.8.6.3), and
// the rule that an idle connection schedules no timer at all. Every time
// asserted is exact: the clock is virtual.
//
// lwIP's test_tcp.c scenarios re-created here in behaviour terms
// (docs/research/lwip-tcp-tests.md): rto_rexmit_wraparound (§1.10),
// tx_full_window_lost_from_unacked/_from_unsent (§1.11/1.12), rto_tracking
// (§1.14), rto_timeout (§1.15), rto_timeout_syn_sent (§1.17),
// zwp_timeout (§1.19), persist_split (§1.21). Where our documented
// behaviour differs (probes are zero-length segments at SND.UNA - 1,
// timeouts report ERR_TIMEOUT, the initial RTO is 1 s with doubling), ours
// is tested.
import { describe, expect, test } from 'vitest';
import { Deadline } from '../../src/pcb/deadlines.ts';
import { RecoveryMode, type TcpPcb } from '../../src/pcb/pcb.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import {
  ACK,
  acceptConnection,
  bulkExchange,
  DropStage,
  Endpoint,
  Err,
  flagStr,
  insertStage,
  payload,
  runUntilSent,
  scriptedPeer,
  type ScriptedPeer,
  type SentSeg,
  sha256,
  simPair,
  startConnect,
  SYN,
} from '../support/tcp.ts';
import { anyIp, peerIp } from '../support/family.ts';

const MSS = 1000;

/** Run every timer up to `untilMs` (absolute); what was sent, with the time it went. */
function collect(peer: ScriptedPeer, untilMs: number): { at: number; seg: SentSeg }[] {
  const out: { at: number; seg: SentSeg }[] = [];
  for (;;) {
    const next = peer.clock.nextDeadline();
    if (next === null || next > untilMs) break;
    peer.clock.advanceTo(next);
    for (const seg of peer.take()) out.push({ at: peer.clock.now(), seg });
  }
  if (untilMs > peer.clock.now()) peer.clock.advanceTo(untilMs);
  return out;
}

interface Conn {
  peer: ScriptedPeer;
  pcb: TcpPcb;
  base: number;
  rcv: number;
  errs: number[];
  ack(rel: number, wnd?: number): void;
  rel(s: SentSeg): number;
}

/** A passive open with a scripted peer; the handshake RTT sample is 0 ms, so the RTO is minRtoMs (200). */
function conn(o: { tcp?: TcpConfig; wnd?: number; sack?: boolean } = {}): Conn {
  const peer = scriptedPeer({ tcp: { congestion: 'reno', ...o.tcp } });
  const { pcb, iss, irs } = acceptConnection(peer, { mss: MSS, wnd: o.wnd ?? 0xffff, ...(o.sack ? { sackPermitted: true } : {}) });
  peer.take();
  const errs: number[] = [];
  peer.raw.tcpErr(pcb, (_a, e) => errs.push(e));
  const base = (iss + 1) >>> 0;
  const rcv = (irs + 1) >>> 0;
  return {
    peer,
    pcb,
    base,
    rcv,
    errs,
    ack(rel: number, wnd = o.wnd ?? 0xffff) {
      peer.inject({ seq: rcv, ack: (base + rel) >>> 0, flags: ACK, wnd });
    },
    rel: (s) => (s.seq - base) | 0,
  };
}

function write(c: Conn, n: number, seed = 1): Uint8Array {
  const d = payload(n, seed);
  expect(c.peer.raw.tcpWrite(c.pcb, d)).toBe(Err.OK);
  c.peer.raw.tcpOutput(c.pcb);
  return d;
}

function done(peer: ScriptedPeer): void {
  expect(peer.clock.pendingTimers()).toBe(0);
  peer.stack.pool.assertEmpty();
}

describe('retransmission timeout (RFC 6298)', () => {
  test('SYN: first retransmission after the initial RTO of 1 s, then 2, 4, 8, 16, 32 s; ERR_TIMEOUT once after synRetries (6), no RST', () => {
    const peer = scriptedPeer();
    const { pcb, syn, errs, connected } = startConnect(peer);
    expect(flagStr(syn.flags)).toBe('S');
    const sent = collect(peer, 200_000);
    expect(sent.map((x) => x.at)).toEqual([1000, 3000, 7000, 15000, 31000, 63000]);
    expect(sent.every((x) => flagStr(x.seg.flags) === 'S' && x.seg.seq === syn.seq)).toBe(true);
    // The 6th retry waited min(64 s, maxRtoMs 60 s); then the connection is given up.
    expect(errs).toEqual([Err.TIMEOUT]);
    expect(connected()).toBe(false);
    expect(pcb.freed).toBe(true);
    expect(peer.stack.tcp.counters.attemptFails).toBe(1);
    expect(peer.stack.tcp.counters.outRsts).toBe(0);
    expect(peer.stack.tcp.pcbCount).toBe(0);
    done(peer);
  });

  test('connect to a silent peer in the simulator (loss 1 one way): 7 SYNs at 0, 1, 3, 7, 15, 31, 63 s, then ERR_TIMEOUT exactly once at 123 s', () => {
    const pair = simPair({ ab: { loss: 1 } });
    const times: number[] = [];
    insertStage(
      pair.sim.links[0]!.ab,
      new DropStage((s) => {
        if (s.flags & SYN) times.push(pair.sim.clock.now());
        return false;
      }),
    );
    const c = pair.rc.tcpNew()!;
    const errs: { err: number; at: number }[] = [];
    pair.rc.tcpErr(c, (_a, e) => errs.push({ err: e, at: pair.sim.clock.now() }));
    let connected = 0;
    expect(pair.rc.tcpConnect(c, peerIp(), 80, () => (connected++, Err.OK))).toBe(Err.OK);
    expect(pair.sim.runUntilIdle()).toBe(true);
    expect(times).toEqual([0, 1000, 3000, 7000, 15000, 31000, 63000]);
    expect(pair.sim.links[0]!.ab.stat('dropped')).toBe(7);
    expect(errs).toEqual([{ err: Err.TIMEOUT, at: 123_000 }]);
    expect(connected).toBe(0);
    expect(c.freed).toBe(true);
    expect(pair.sim.clock.pendingTimers()).toBe(0);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });

  test('SYN-ACK of a passive open: retried synAckRetries (5) times, then the half-open PCB is freed without any callback', () => {
    const peer = scriptedPeer();
    const l = peer.raw.tcpNew()!;
    peer.raw.tcpBind(l, anyIp(), 80);
    peer.raw.tcpListen(l);
    let accepted = 0;
    peer.raw.tcpAccept(l, () => (accepted++, Err.OK));
    peer.inject({ seq: 1000, flags: SYN, mss: MSS });
    const first = peer.take();
    expect(first.map((s) => flagStr(s.flags))).toEqual(['SA']);
    const sent = collect(peer, 200_000);
    expect(sent.map((x) => x.at)).toEqual([1000, 3000, 7000, 15000, 31000]);
    expect(sent.every((x) => flagStr(x.seg.flags) === 'SA' && x.seg.seq === first[0]!.seq)).toBe(true);
    expect(peer.stack.tcp.pcbCount).toBe(1); // just the listener
    expect(accepted).toBe(0);
    expect(l.acceptsPending).toBe(0);
    peer.raw.tcpClose(l);
    done(peer);
  });

  test('data: exponential backoff from the measured RTO, doubling up to maxRtoMs; ERR_TIMEOUT once after maxRetransmits (12), PCB freed, no RST (user timeout off)', () => {
    const c = conn({ tcp: { userTimeoutMs: 0 } });
    expect(c.pcb.info().rtoMs).toBe(200); // handshake sample 0 ms -> minRtoMs
    write(c, 3 * MSS);
    expect(c.peer.take()).toHaveLength(3);
    const sent = collect(c.peer, 1_000_000);
    const expected: number[] = [];
    let t = 0;
    let rto = 200;
    for (let i = 0; i < 12; i++) {
      t += rto;
      expected.push(t);
      rto = Math.min(rto * 2, 60_000);
    }
    expect(sent.map((x) => x.at)).toEqual(expected);
    // Only the oldest segment is resent by each timeout.
    expect(sent.every((x) => c.rel(x.seg) === 0 && x.seg.data.length === MSS)).toBe(true);
    // The 13th expiry (after another 60 s) gives up.
    expect(c.errs).toEqual([Err.TIMEOUT]);
    expect(c.pcb.freed).toBe(true);
    expect(c.peer.stack.tcp.counters.outRsts).toBe(0);
    expect(c.peer.stack.tcp.counters.rtoTimeouts).toBe(12);
    expect(c.peer.clock.now()).toBe(1_000_000);
    done(c.peer);
  });

  test('the give-up time: 13th expiry = 12 retransmissions + one more RTO', () => {
    const c = conn({ tcp: { maxRetransmits: 3, maxRtoMs: 1000 } });
    write(c, MSS);
    c.peer.take();
    let errAt = -1;
    c.peer.raw.tcpErr(c.pcb, (_a, e) => {
      c.errs.push(e);
      errAt = c.peer.clock.now();
    });
    const sent = collect(c.peer, 100_000);
    expect(sent.map((x) => x.at)).toEqual([200, 600, 1400]);
    expect(errAt).toBe(2400);
    expect(c.errs).toEqual([Err.TIMEOUT]);
    done(c.peer);
  });

  test('after an RTO: cwnd = 1 MSS, ssthresh = max(FlightSize/2, 2 MSS), go-back-N in slow start, recovery until the old flight is acknowledged (lwIP rto_tracking)', () => {
    // The conventional response (F-RTO, which sends new data first, is in rack-tlp.test.ts).
    const c = conn({ tcp: { initialWindowSegments: 5, frto: false } });
    write(c, 5 * MSS);
    expect(c.peer.take().map(c.rel)).toEqual([0, 1000, 2000, 3000, 4000]);
    const r = runUntilSent(c.peer)!;
    expect(r.at).toBe(200);
    expect(r.segs.map(c.rel)).toEqual([0]); // only the first segment
    expect(c.pcb.cwnd).toBe(MSS);
    expect(c.pcb.ssthresh).toBe(2500);
    expect(c.pcb.recovery).toBe(RecoveryMode.RTO);
    expect(c.pcb.recoverySeq).toBe((c.base + 5 * MSS) >>> 0);
    expect(c.pcb.info().counters.rtoCount).toBe(1);
    // A 6th segment, outside the RTO range, is queued.
    write(c, MSS, 2);
    expect(c.peer.take()).toEqual([]);
    // ACK of segment 0: cwnd 2 MSS (after an RTO slow start counts at most 1 MSS per ACK, RFC 3465), 1 and 2 go again.
    c.ack(MSS);
    expect(c.pcb.cwnd).toBe(2 * MSS);
    expect(c.peer.take().map(c.rel)).toEqual([1000, 2000]);
    expect(c.pcb.info().inRecovery).toBe(true);
    // ACK of 1 and 2 (2 MSS in one ACK): slow start stops at ssthresh (2.5 MSS); 3 and 4 go again.
    c.ack(3 * MSS);
    expect(c.pcb.cwnd).toBe(2500);
    expect(c.peer.take().map(c.rel)).toEqual([3000, 4000]);
    expect(c.pcb.info().inRecovery).toBe(true);
    // ACK of 3 and 4: everything that was in flight at the RTO is acknowledged:
    // recovery over, congestion avoidance (cwnd >= ssthresh), the new segment 5 goes.
    c.ack(5 * MSS);
    expect(c.pcb.info().inRecovery).toBe(false);
    expect(c.pcb.cwnd).toBeGreaterThanOrEqual(c.pcb.ssthresh);
    expect(c.peer.take().map(c.rel)).toEqual([5000]);
    c.ack(6 * MSS);
    expect(c.pcb.info().counters).toMatchObject({ rtoCount: 1, retransmits: 5, fastRetransmits: 0 });
    expect(c.errs).toEqual([]);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('RTO across the 2^32 wrap: only segment 0 is resent, the rest go back in order (lwIP rto_rexmit_wraparound)', () => {
    const peer = scriptedPeer({ tcp: { congestion: 'reno', initialWindowSegments: 2 } });
    peer.stack.tcp.issOverride = () => 0xfffffce8 - 1;
    const { pcb, iss, irs } = acceptConnection(peer, { mss: 536 });
    peer.take();
    const base = (iss + 1) >>> 0;
    const data = payload(6 * 536, 9);
    for (let k = 0; k < 6; k++) peer.raw.tcpWrite(pcb, data.subarray(k * 536, (k + 1) * 536));
    peer.raw.tcpOutput(pcb);
    const rel = (s: SentSeg): number => (s.seq - base) >>> 0;
    expect(peer.take().map(rel)).toEqual([0, 536]);
    const r = runUntilSent(peer)!;
    expect(r.at).toBe(200);
    expect(r.segs.map(rel)).toEqual([0]);
    // Open cwnd wide (as lwIP's test does) and everything goes, in order.
    pcb.cwnd = 0xffff;
    peer.raw.tcpOutput(pcb);
    const rest = peer.take();
    expect(rest.map(rel)).toEqual([536, 1072, 1608, 2144, 2680]);
    expect(Buffer.concat([r.segs[0]!.data, ...rest.map((s) => s.data)])).toEqual(Buffer.from(data));
    peer.inject({ seq: irs + 1, ack: (base + 6 * 536) >>> 0, flags: ACK });
    expect(pcb.unacked.empty).toBe(true);
    peer.raw.tcpAbort(pcb);
    done(peer);
  });

  test('RTO during fast recovery: the retransmission is lost too; cwnd = 1 MSS, go-back-N, ssthresh from FlightSize', () => {
    const c = conn();
    write(c, 10 * MSS);
    c.peer.take();
    c.ack(0);
    c.ack(0);
    c.ack(0);
    expect(c.peer.take().map(c.rel)).toEqual([0]);
    expect(c.pcb.recovery).toBe(RecoveryMode.NEWRENO);
    const ssthresh = c.pcb.ssthresh;
    expect(ssthresh).toBe(5 * MSS);
    // The fast retransmission is lost as well: the RTO (200 ms after it was armed) fires.
    const r = runUntilSent(c.peer)!;
    expect(r.at).toBe(200);
    expect(r.segs.map(c.rel)).toEqual([0]);
    expect(c.pcb.recovery).toBe(RecoveryMode.RTO);
    expect(c.pcb.cwnd).toBe(MSS);
    expect(c.pcb.ssthresh).toBe(5 * MSS); // FlightSize still 10 MSS: halved once, not twice
    // Further duplicate ACKs (from the segments the peer did get) do not start another fast retransmit.
    for (let i = 0; i < 5; i++) c.ack(0);
    expect(c.peer.take()).toEqual([]);
    expect(c.pcb.info().counters).toMatchObject({ fastRetransmits: 1, rtoCount: 1, retransmits: 2 });
    // The peer had 1..9: the ACK of 0 acknowledges everything.
    c.ack(10 * MSS);
    expect(c.pcb.info().inRecovery).toBe(false);
    expect(c.pcb.unacked.empty).toBe(true);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('idle longer than the RTO: cwnd restarts at the initial window (RFC 5681 §4.1); shorter idle keeps it', () => {
    // Plain RFC 5681 slow start and the window logic alone: HyStart++ would let
    // a stretch ACK add L = 8 MSS, and pacing spreads the flights after idle (pacing.test.ts).
    const c = conn({ tcp: { hystart: false, pacing: false } });
    const ackAll = (): number => {
      c.peer.inject({ seq: c.rcv, ack: c.pcb.sndMax, flags: ACK });
      return c.peer.take().length;
    };
    write(c, 40 * MSS);
    expect(c.peer.take()).toHaveLength(10);
    c.peer.advance(10);
    expect(ackAll()).toBe(12); // slow start: +2 MSS per ACK (RFC 3465 L = 2)
    c.peer.advance(10);
    expect(ackAll()).toBe(14);
    c.peer.advance(10);
    expect(ackAll()).toBe(4); // the application ran out of data
    c.peer.advance(10);
    ackAll();
    expect(c.pcb.cwnd).toBe(16 * MSS); // not grown by the ACK of an application-limited flight
    // Idle 150 ms < RTO (200 ms): the whole cwnd may go.
    c.peer.advance(150);
    write(c, 20 * MSS, 2);
    expect(c.peer.take()).toHaveLength(16);
    c.peer.advance(10);
    ackAll();
    c.peer.advance(10);
    ackAll();
    const cwnd = c.pcb.cwnd;
    expect(cwnd).toBeGreaterThan(10 * MSS);
    // Idle 1 s > RTO: restart window = IW (10 segments).
    c.peer.advance(1000);
    write(c, 20 * MSS, 3);
    expect(c.peer.take()).toHaveLength(10);
    expect(c.pcb.cwnd).toBe(10 * MSS);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('the RTO is restarted by every ACK of new data, and stopped when nothing is outstanding', () => {
    const c = conn();
    write(c, 4 * MSS);
    c.peer.take();
    expect(c.pcb.deadlines.get(Deadline.RTO)).toBe(200);
    c.peer.advance(150);
    c.ack(MSS);
    expect(c.pcb.deadlines.get(Deadline.RTO)).toBe(350);
    c.peer.advance(150);
    c.ack(4 * MSS);
    expect(c.pcb.deadlines.get(Deadline.RTO)).toBe(-1);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });
});

describe('persist timer and zero-window probes', () => {
  test('the peer advertises 0: sending stops, zero-length probes at SND.UNA - 1 with doubling intervals; the window opens and the data completes', () => {
    const c = conn();
    write(c, 3 * MSS);
    c.peer.take();
    c.peer.advance(10);
    c.ack(3 * MSS, 0);
    expect(c.pcb.sndWnd).toBe(0);
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBe(-1); // nothing queued: nothing to persist for
    expect(c.peer.clock.pendingTimers()).toBe(0);
    const data = write(c, 2500, 5);
    expect(c.peer.take()).toEqual([]);
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBe(210);
    const probes = collect(c.peer, 1600);
    expect(probes.map((p) => p.at)).toEqual([210, 610, 1410]);
    for (const p of probes) {
      expect(p.seg.data.length).toBe(0);
      expect(p.seg.seq).toBe((c.base + 3 * MSS - 1) >>> 0);
      expect(flagStr(p.seg.flags)).toBe('A');
    }
    expect(c.pcb.info().counters.probes).toBe(3);
    // The peer answers a probe with a window of 0 still: the probe count resets, the backoff does not.
    c.ack(3 * MSS, 0);
    expect(c.pcb.persistProbes).toBe(0);
    expect(collect(c.peer, 3010).map((p) => p.at)).toEqual([3010]);
    // The window opens: the two full segments go at once, persist stops; the
    // 500-byte tail waits for them (Nagle) and follows their ACK.
    c.ack(3 * MSS, 0xffff);
    const out = c.peer.take();
    expect(out.map(c.rel)).toEqual([3000, 4000]);
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBe(-1);
    c.ack(5 * MSS);
    out.push(...c.peer.take());
    expect(out.map((s) => [c.rel(s), s.data.length])).toEqual([[3000, MSS], [4000, MSS], [5000, 500]]);
    expect(Buffer.concat(out.map((s) => s.data))).toEqual(Buffer.from(data));
    c.ack(5500);
    expect(c.pcb.unacked.empty && c.pcb.unsent.empty).toBe(true);
    expect(c.errs).toEqual([]);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('persist intervals are capped at maxPersistMs', () => {
    const c = conn({ tcp: { maxPersistMs: 1000, maxRetransmits: 100 } });
    c.ack(0, 0);
    write(c, 100);
    const probes = collect(c.peer, 6000);
    expect(probes.map((p) => p.at)).toEqual([200, 600, 1400, 2400, 3400, 4400, 5400]);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('unanswered probes up to maxRetransmits: the connection is dropped with ERR_TIMEOUT, exactly once (lwIP zwp_timeout)', () => {
    const c = conn({ tcp: { maxRetransmits: 4 } });
    c.ack(0, 0);
    write(c, MSS);
    expect(c.peer.take()).toEqual([]);
    let errAt = -1;
    c.peer.raw.tcpErr(c.pcb, (_a, e) => {
      c.errs.push(e);
      errAt = c.peer.clock.now();
    });
    const probes = collect(c.peer, 100_000);
    expect(probes.map((p) => p.at)).toEqual([200, 600, 1400, 3000]);
    expect(errAt).toBe(6200);
    expect(c.errs).toEqual([Err.TIMEOUT]);
    expect(c.pcb.freed).toBe(true);
    done(c.peer);
  });

  test('a peer that keeps answering probes with a zero window keeps the connection alive', () => {
    const c = conn({ tcp: { maxRetransmits: 3, maxPersistMs: 2000 } });
    c.ack(0, 0);
    write(c, MSS);
    let answered = 0;
    const end = 60_000;
    while (c.peer.clock.now() < end) {
      const r = runUntilSent(c.peer, end - c.peer.clock.now());
      if (r === null) break;
      c.ack(0, 0);
      answered++;
    }
    expect(answered).toBeGreaterThan(25);
    expect(c.errs).toEqual([]);
    expect(c.pcb.freed).toBe(false);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('a FIN behind a zero window waits and is probed; a peer answering the probes keeps the connection (RFC 1122 §4.2.2.17; user timeout off)', () => {
    const c = conn({ tcp: { userTimeoutMs: 0 } });
    write(c, MSS);
    c.peer.take();
    c.ack(MSS, 0);
    expect(c.peer.raw.tcpShutdown(c.pcb, false, true)).toBe(Err.OK);
    // The FIN needs a sequence number of window: it is not sent into a zero window.
    expect(c.peer.take()).toEqual([]);
    expect(c.pcb.stateName).toBe('FIN_WAIT_1');
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBe(200);
    expect(c.pcb.deadlines.get(Deadline.RTO)).toBe(-1);
    // Probes (zero-length, SND.UNA - 1), each answered with a zero window, for an hour.
    let probes = 0;
    while (c.peer.clock.now() < 3_600_000) {
      const r = runUntilSent(c.peer, 3_600_000 - c.peer.clock.now());
      if (r === null) break;
      expect(r.segs.map((s) => [flagStr(s.flags), c.rel(s), s.data.length])).toEqual([['A', MSS - 1, 0]]);
      probes++;
      c.ack(MSS, 0);
    }
    expect(probes).toBeGreaterThan(50);
    expect(c.errs).toEqual([]);
    expect(c.pcb.freed).toBe(false);
    // The window opens: the FIN goes, its ACK takes us to FIN_WAIT_2.
    c.ack(MSS, 1000);
    expect(c.peer.take().map((s) => [flagStr(s.flags), c.rel(s), s.data.length])).toEqual([['FA', MSS, 0]]);
    c.ack(MSS + 1, 1000);
    expect(c.pcb.stateName).toBe('FIN_WAIT_2');
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('full window in flight: no persist timer, the RTO is in charge (lwIP tx_full_window_lost_from_unacked)', () => {
    const c = conn({ wnd: 5 * MSS });
    write(c, 5 * MSS);
    expect(c.peer.take()).toHaveLength(5);
    write(c, 1, 3);
    expect(c.peer.take()).toEqual([]);
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBe(-1);
    expect(c.pcb.deadlines.get(Deadline.RTO)).toBe(200);
    const r = runUntilSent(c.peer)!;
    expect(r.at).toBe(200);
    expect(r.segs.map(c.rel)).toEqual([0]);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('window closed by the ACK of the whole flight: the persist timer starts for queued data (lwIP tx_full_window_lost_from_unsent)', () => {
    const c = conn({ wnd: 5 * MSS });
    write(c, 5 * MSS);
    c.peer.take();
    c.peer.advance(50);
    c.ack(5 * MSS, 0);
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBe(-1);
    const d = write(c, 1, 4);
    expect(c.peer.take()).toEqual([]);
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBe(250);
    expect(c.pcb.deadlines.get(Deadline.RTO)).toBe(-1);
    const r = runUntilSent(c.peer)!;
    expect(r.at).toBe(250);
    // Our probe carries no data (lwIP sends the first queued byte instead).
    expect(r.segs).toHaveLength(1);
    expect(r.segs[0]!.data.length).toBe(0);
    expect(r.segs[0]!.seq).toBe((c.base + 5 * MSS - 1) >>> 0);
    c.ack(5 * MSS, MSS);
    const out = c.peer.take();
    expect(out.map((s) => [c.rel(s), s.data.length])).toEqual([[5 * MSS, 1]]);
    expect(out[0]!.data).toEqual(d);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('a window smaller than the next segment: sender SWS avoidance holds the data, the persist timer sends what fits (lwIP persist_split)', () => {
    const c = conn({ wnd: 3 * MSS });
    const data = write(c, 3 * MSS + 750, 6);
    expect(c.peer.take().map(c.rel)).toEqual([0, 1000, 2000]);
    c.peer.advance(10);
    // Everything acknowledged, but only 300 bytes of window (< MSS and < half the largest window).
    c.ack(3 * MSS, 300);
    expect(c.peer.take()).toEqual([]);
    expect(c.pcb.sndWnd).toBe(300);
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBe(210);
    const r = runUntilSent(c.peer)!;
    expect(r.at).toBe(210);
    expect(r.segs.map((s) => [c.rel(s), s.data.length])).toEqual([[3000, 300]]);
    expect(r.segs[0]!.data).toEqual(data.subarray(3000, 3300));
    // Now data is in flight: the RTO runs, persist is off.
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBe(-1);
    expect(c.pcb.deadlines.get(Deadline.RTO)).toBe(410);
    // The next ACK opens 300 again: still too small for 450 bytes, held back again.
    c.ack(3300, 300);
    expect(c.peer.take()).toEqual([]);
    expect(c.pcb.deadlines.get(Deadline.PERSIST)).toBeGreaterThan(0);
    // A window of half the largest one seen (1500) lets the rest go at once.
    c.ack(3300, 1500);
    const out = c.peer.take();
    expect(out.map((s) => [c.rel(s), s.data.length])).toEqual([[3300, 450]]);
    expect(out[0]!.data).toEqual(data.subarray(3300));
    c.ack(3750, 1500);
    expect(c.errs).toEqual([]);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('zero window in the simulator: the receiving application stalls, probes keep the connection, reading resumes and the transfer completes', () => {
    const pair = simPair({ seed: 2, link: { latencyMs: 5 }, tcp: { rcvWnd: 16 * 1024, windowScaling: false } });
    const data = payload(200_000, 8);
    const cli = new Endpoint(pair.rc, data);
    // The server reads but stops giving the window back (no tcpRecved) while stalled.
    let stalled = true;
    let held = 0;
    let gotFin = false;
    let spcb: TcpPcb | null = null;
    const chunks: Uint8Array[] = [];
    const l = pair.rs.tcpNew()!;
    pair.rs.tcpBind(l, anyIp(), 80);
    pair.rs.tcpListen(l);
    pair.rs.tcpAccept(l, (_a, npcb) => {
      spcb = npcb;
      pair.rs.tcpRecv(npcb, (_b, pcb, p) => {
        if (p === null) {
          gotFin = true;
          pair.rs.tcpClose(pcb);
          return Err.OK;
        }
        chunks.push(p.toBytes());
        if (stalled) held += p.totLen;
        else pair.rs.tcpRecved(pcb, p.totLen);
        p.free();
        return Err.OK;
      });
      return Err.OK;
    });
    const c = pair.rc.tcpNew()!;
    cli.attach(c);
    pair.rc.tcpConnect(c, peerIp(), 80, (_a, pcb) => {
      cli.pump(pcb);
      return Err.OK;
    });
    pair.sim.runFor(20_000);
    expect(spcb!.rcvWnd).toBe(0);
    expect(held).toBe(16 * 1024);
    expect(c.sndWnd).toBe(0);
    const probes = c.info().counters.probes;
    expect(probes).toBeGreaterThan(3);
    expect(c.info().counters.rtoCount).toBe(0);
    // Resume: give back everything held; the window update restarts the flow.
    stalled = false;
    pair.rs.tcpRecved(spcb!, held);
    expect(pair.sim.runUntil(() => gotFin, pair.sim.clock.now() + 120_000)).toBe(true);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
    expect(cli.errors).toEqual([]);
    expect(pair.sim.runUntil(() => cli.gotFin, pair.sim.clock.now() + 10_000)).toBe(true);
    expect(pair.sim.runUntilIdle()).toBe(true);
    expect(pair.sim.clock.pendingTimers()).toBe(0);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });
});

describe('keepalive (RFC 1122 §4.2.3.6)', () => {
  test('probes at idle, then every intvl; a silent peer: ERR_TIMEOUT after cnt probes, and a RST', () => {
    const c = conn();
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpKeepalive(c.pcb, true, 10_000, 1000, 3);
    expect(c.peer.clock.pendingTimers()).toBe(1);
    let errAt = -1;
    c.peer.raw.tcpErr(c.pcb, (_a, e) => {
      c.errs.push(e);
      errAt = c.peer.clock.now();
    });
    const sent = collect(c.peer, 100_000);
    expect(sent.map((x) => [x.at, flagStr(x.seg.flags), x.seg.data.length])).toEqual([
      [10_000, 'A', 0],
      [11_000, 'A', 0],
      [12_000, 'A', 0],
      [13_000, 'RA', 0],
    ]);
    // Probes are zero-length at SND.UNA - 1 (Linux style).
    for (const x of sent.slice(0, 3)) expect(x.seg.seq).toBe((c.base - 1) >>> 0);
    expect(errAt).toBe(13_000);
    expect(c.errs).toEqual([Err.TIMEOUT]);
    expect(c.pcb.freed).toBe(true);
    expect(c.pcb.info().counters.probes).toBe(3);
    done(c.peer);
  });

  test('a peer answering the probes keeps the connection; each answer restarts the idle time', () => {
    const c = conn();
    c.peer.raw.tcpKeepalive(c.pcb, true, 10_000, 1000, 3);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = runUntilSent(c.peer, 20_000)!;
      times.push(r.at);
      c.peer.advance(500);
      c.ack(0);
    }
    // Probe at 10 s; answered at 10.5 s, next probe 10 s after that, and so on.
    expect(times).toEqual([10_000, 20_500, 31_000, 41_500, 52_000]);
    expect(c.errs).toEqual([]);
    expect(c.pcb.keepProbes).toBe(0);
    // Data from the peer restarts the idle time too.
    c.peer.advance(9000);
    c.peer.inject({ seq: c.rcv, ack: c.base, flags: ACK, data: payload(10) });
    expect(c.pcb.deadlines.get(Deadline.KEEPALIVE)).toBe(c.peer.clock.now() + 10_000);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('keepalive off (the default): an idle connection has no timer at all; turning it off again removes it', () => {
    const c = conn();
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.advance(10 * 3_600_000);
    expect(c.peer.take()).toEqual([]);
    c.peer.raw.tcpKeepalive(c.pcb, true, 1000, 1000, 2);
    expect(c.peer.clock.pendingTimers()).toBe(1);
    c.peer.raw.tcpKeepalive(c.pcb, false);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.advance(100_000);
    expect(c.peer.take()).toEqual([]);
    expect(c.errs).toEqual([]);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });
});

describe('delayed ACK (RFC 5681 §4.2)', () => {
  function receiver(): Conn & { got: number[] } {
    const c = conn() as Conn & { got: number[] };
    c.got = [];
    c.peer.raw.tcpRecv(c.pcb, (_a, pcb, p) => {
      if (p !== null) {
        c.got.push(p.totLen);
        c.peer.raw.tcpRecved(pcb, p.totLen);
        p.free();
      }
      return Err.OK;
    });
    return c;
  }
  const d = payload(10 * MSS, 12);
  const seg = (c: Conn, from: number, len = MSS): void => c.peer.inject({ seq: (c.rcv + from) >>> 0, ack: c.base, flags: ACK, data: d.subarray(from, from + len) });
  const acks = (c: Conn): number[] => c.peer.take().map((s) => (s.ack - c.rcv) | 0);

  test('one segment: the ACK waits delayedAckMs (40 ms)', () => {
    const c = receiver();
    seg(c, 0);
    expect(acks(c)).toEqual([]);
    expect(c.peer.clock.pendingTimers()).toBe(1);
    const r = runUntilSent(c.peer)!;
    expect(r.at).toBe(40);
    expect(r.segs.map((s) => (s.ack - c.rcv) | 0)).toEqual([MSS]);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('two full segments: an immediate ACK on the second', () => {
    const c = receiver();
    seg(c, 0);
    expect(acks(c)).toEqual([]);
    c.peer.advance(10);
    seg(c, MSS);
    expect(acks(c)).toEqual([2 * MSS]);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('an out-of-order segment: an immediate (duplicate) ACK; filling the hole: an immediate ACK', () => {
    const c = receiver();
    seg(c, 0);
    expect(acks(c)).toEqual([]);
    seg(c, 2 * MSS);
    expect(acks(c)).toEqual([MSS]); // out of order: at once, for the expected byte
    seg(c, 3 * MSS);
    expect(acks(c)).toEqual([MSS]);
    seg(c, MSS); // fills the hole
    expect(acks(c)).toEqual([4 * MSS]);
    expect(c.got.reduce((a, b) => a + b, 0)).toBe(4 * MSS);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });

  test('a delayed ACK rides on data we send before the timer', () => {
    const c = receiver();
    seg(c, 0);
    c.peer.advance(5);
    write(c, 100);
    const out = c.peer.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.data.length).toBe(100);
    expect((out[0]!.ack - c.rcv) | 0).toBe(MSS);
    // No separate ACK at 40 ms; only the data's RTO remains.
    expect(c.pcb.deadlines.get(Deadline.DELACK)).toBe(-1);
    c.peer.inject({ seq: (c.rcv + MSS) >>> 0, ack: (c.base + 100) >>> 0, flags: ACK });
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });
});

describe('no timers when there is nothing to do', () => {
  test('an idle established connection in the simulator schedules no timer at all (either side)', () => {
    const pair = simPair({ seed: 3, link: { latencyMs: 5 } });
    const l = pair.rs.tcpNew()!;
    pair.rs.tcpBind(l, anyIp(), 80);
    pair.rs.tcpListen(l);
    let spcb: TcpPcb | null = null;
    pair.rs.tcpAccept(l, (_a, npcb) => ((spcb = npcb), Err.OK));
    const c = pair.rc.tcpNew()!;
    let connected = false;
    pair.rc.tcpConnect(c, peerIp(), 80, () => ((connected = true), Err.OK));
    expect(pair.sim.runUntil(() => connected && spcb !== null, 1000)).toBe(true);
    expect(pair.sim.runUntilIdle(1000)).toBe(true);
    expect(pair.sim.clock.pendingTimers()).toBe(0);
    pair.sim.runFor(24 * 3_600_000);
    expect(c.stateName).toBe('ESTABLISHED');
    expect(spcb!.stateName).toBe('ESTABLISHED');
    expect(pair.sim.links[0]!.ab.sent).toBe(2); // SYN and the ACK, nothing since
    expect(pair.sim.links[0]!.ba.sent).toBe(1);
    pair.rc.tcpAbort(c);
    pair.sim.runUntilIdle();
    expect(pair.sim.clock.pendingTimers()).toBe(0);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });

  test('after both sides close only TIME_WAIT (2 MSL) remains, then no timer at all', () => {
    const pair = simPair({ seed: 3, link: { latencyMs: 5 } });
    const a = payload(50_000, 1);
    const b = payload(50_000, 2);
    const { cli, srv, clientPcb } = bulkExchange(pair, a, b);
    expect(pair.sim.runUntil(() => cli.receivedBytes === b.length && srv.receivedBytes === a.length, 10_000)).toBe(true);
    expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 10_000)).toBe(true);
    // TIME_WAIT holds exactly one layer timer, for 2 MSL (timeWaitMs 60 s).
    const t = pair.sim.clock.now();
    expect(pair.sim.runUntilIdle()).toBe(true);
    expect(pair.sim.clock.now() - t).toBeGreaterThanOrEqual(60_000);
    expect(pair.sim.clock.now() - t).toBeLessThanOrEqual(60_010);
    expect(clientPcb.freed).toBe(true);
    expect(pair.sim.clock.pendingTimers()).toBe(0);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });

  test('an established connection that went quiet: once ACKs are settled, zero timers for hours', () => {
    const c = conn();
    write(c, 2 * MSS);
    c.peer.take();
    c.peer.inject({ seq: c.rcv, ack: (c.base + 2 * MSS) >>> 0, flags: ACK, data: payload(10) });
    // Our delayed ACK for their 10 bytes is the last timer.
    expect(c.peer.clock.pendingTimers()).toBe(1);
    expect(runUntilSent(c.peer)!.at).toBe(40);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    c.peer.advance(5 * 3_600_000);
    expect(c.peer.take()).toEqual([]);
    expect(c.pcb.stateName).toBe('ESTABLISHED');
    c.peer.raw.tcpAbort(c.pcb);
    done(c.peer);
  });
});

// RTT measurement and the RTO as the engine uses them (RFC 6298 with Karn's
// algorithm, RFC 7323 timestamps), observed through pcb.info() and the exact
// virtual times at which retransmissions leave. The estimator's arithmetic
// on its own is in rtt.test.ts; this is about which samples the engine feeds
// it and how the timer is armed from it.
import { describe, expect, test } from 'vitest';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import { ACK, Err, flagStr, payload, runUntilSent, scriptedPeer, type ScriptedPeer, type SentSeg, startConnect, SYN } from '../support/tcp.ts';

const MSS = 1000;
const PEER_ISN = 5000;

interface Client {
  peer: ScriptedPeer;
  pcb: TcpPcb;
  base: number;
  rcv: number;
  syn: SentSeg;
  /** The peer acknowledges `rel` bytes (optionally echoing a timestamp). */
  ack(rel: number, tsEcr?: number): void;
  send(n: number): SentSeg[];
  rel(s: SentSeg): number;
}

/**
 * Active open from the stack; the peer answers the SYN `rttMs` later (so
 * the handshake gives one RTT sample of exactly rttMs, unless the SYN had
 * to be retransmitted). Timestamps are used when `ts` is set.
 */
function client(o: { rttMs?: number; tcp?: TcpConfig; ts?: boolean; synLost?: boolean } = {}): Client {
  const peer = scriptedPeer({ tcp: { congestion: 'reno', ...(o.ts ? {} : { timestamps: false }), ...o.tcp } });
  const { pcb, syn: firstSyn } = startConnect(peer);
  let syn = firstSyn;
  if (o.synLost) {
    const r = runUntilSent(peer)!;
    expect(r.at).toBe(1000);
    syn = r.segs[0]!;
    expect(flagStr(syn.flags)).toBe('S');
  }
  peer.advance(o.rttMs ?? 100);
  peer.inject({ seq: PEER_ISN, ack: (syn.seq + 1) >>> 0, flags: SYN | ACK, mss: MSS, ...(o.ts ? { ts: [777, syn.opts.tsVal] as [number, number] } : {}) });
  const hs = peer.take();
  expect(hs.map((s) => flagStr(s.flags))).toEqual(['A']);
  expect(pcb.stateName).toBe('ESTABLISHED');
  const base = (syn.seq + 1) >>> 0;
  const rcv = PEER_ISN + 1;
  let tsv = 778;
  let written = 0;
  return {
    peer,
    pcb,
    base,
    rcv,
    syn,
    ack(rel, tsEcr) {
      peer.inject({ seq: rcv, ack: (base + rel) >>> 0, flags: ACK, ...(o.ts ? { ts: [tsv++, tsEcr ?? 0] as [number, number] } : {}) });
    },
    send(n) {
      expect(peer.raw.tcpWrite(pcb, payload(n, ++written))).toBe(Err.OK);
      peer.raw.tcpOutput(pcb);
      return peer.take();
    },
    rel: (s) => (s.seq - base) | 0,
  };
}

function done(c: Client): void {
  c.peer.raw.tcpAbort(c.pcb);
  expect(c.peer.clock.pendingTimers()).toBe(0);
  c.peer.stack.pool.assertEmpty();
}

describe('RTT samples and the RTO (RFC 6298)', () => {
  test('the handshake gives the first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR (§2.2)', () => {
    const c = client({ rttMs: 100 });
    const info = c.pcb.info();
    expect(info.srttMs).toBe(100);
    expect(info.rttvarMs).toBe(50);
    expect(info.rtoMs).toBe(300);
    expect(c.pcb.rtt.samples).toBe(1);
    done(c);
  });

  test('a data segment is retransmitted exactly RTO = max(minRtoMs, SRTT + 4 RTTVAR) after it was sent', () => {
    const c = client({ rttMs: 100 });
    c.peer.advance(1000);
    const t0 = c.peer.clock.now();
    expect(c.send(MSS)).toHaveLength(1);
    const r = runUntilSent(c.peer)!;
    expect(r.at - t0).toBe(300);
    expect(r.segs.map(c.rel)).toEqual([0]);
    done(c);
  });

  test('a second sample updates SRTT and RTTVAR (§2.3) and the next RTO follows them', () => {
    const c = client({ rttMs: 100 });
    c.send(MSS);
    c.peer.advance(60);
    c.ack(MSS);
    // RTTVAR = 3/4 * 50 + 1/4 * |100 - 60| = 47.5; SRTT = 7/8 * 100 + 1/8 * 60 = 95.
    const info = c.pcb.info();
    expect(info.rttvarMs).toBe(47.5);
    expect(info.srttMs).toBe(95);
    expect(info.rtoMs).toBe(285);
    const t0 = c.peer.clock.now();
    c.send(MSS);
    const r = runUntilSent(c.peer)!;
    expect(r.at - t0).toBe(285);
    done(c);
  });

  test('small RTTs: the RTO is clamped to minRtoMs (200 ms, as Linux and lwIP)', () => {
    const c = client({ rttMs: 10 });
    expect(c.pcb.info().rtoMs).toBe(200); // 10 + 4 * 5 = 30 < 200
    const t0 = c.peer.clock.now();
    c.send(MSS);
    expect(runUntilSent(c.peer)!.at - t0).toBe(200);
    done(c);
  });

  test('configured minRtoMs / maxRtoMs bound the RTO', () => {
    const lo = client({ rttMs: 10, tcp: { minRtoMs: 50 } });
    expect(lo.pcb.info().rtoMs).toBe(50);
    done(lo);
    // (A SYN RTO above the 4 s RTT, so the handshake gives the sample.)
    const hi = client({ rttMs: 4000, tcp: { initialRtoMs: 5000, maxRtoMs: 5000 } });
    expect(hi.pcb.info().rtoMs).toBe(5000); // 4000 + 4 * 2000 = 12000 > 5000
    const t0 = hi.peer.clock.now();
    hi.send(MSS);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) times.push(runUntilSent(hi.peer)!.at - t0);
    expect(times).toEqual([5000, 10000, 15000]); // backoff cannot exceed maxRtoMs either
    done(hi);
  });

  test('Karn: the ACK of retransmitted data gives no sample (no timestamps); the backoff is dropped on new data (§5)', () => {
    const c = client({ rttMs: 100 });
    c.send(MSS);
    expect(runUntilSent(c.peer)!.at).toBe(100 + 300);
    expect(runUntilSent(c.peer)!.at).toBe(100 + 300 + 600); // doubled
    expect(c.pcb.rtt.backoffCount).toBe(2);
    c.peer.advance(30);
    c.ack(MSS);
    // No sample: SRTT and RTTVAR unchanged, one sample in all.
    expect(c.pcb.rtt.samples).toBe(1);
    expect(c.pcb.info().srttMs).toBe(100);
    expect(c.pcb.rtt.backoffCount).toBe(0);
    expect(c.pcb.info().rtoMs).toBe(300);
    // Fresh data is timed again.
    c.send(MSS);
    c.peer.advance(80);
    c.ack(2 * MSS);
    expect(c.pcb.rtt.samples).toBe(2);
    expect(c.pcb.info().srttMs).toBe(97.5); // 7/8 * 100 + 1/8 * 80
    done(c);
  });

  test('Karn on the whole ACK (Linux): an ACK covering a retransmitted and a fresh segment gives no sample', () => {
    const c = client({ rttMs: 100 });
    expect(c.send(2 * MSS).map(c.rel)).toEqual([0, MSS]);
    expect(runUntilSent(c.peer)!.segs.map(c.rel)).toEqual([0]); // RTO resend of segment 0 only
    c.peer.advance(50);
    // Segment 1 was sent once, but the ACK also covers the retransmitted segment 0.
    c.ack(2 * MSS);
    expect(c.pcb.rtt.samples).toBe(1);
    expect(c.pcb.info().srttMs).toBe(100);
    done(c);
  });

  test('the oldest newly acknowledged segment is timed, not the newest', () => {
    const c = client({ rttMs: 100 });
    c.send(MSS);
    c.peer.advance(40);
    c.send(MSS);
    c.peer.advance(60);
    c.ack(2 * MSS); // segment 0 was sent 100 ms ago, segment 1 60 ms ago
    expect(c.pcb.rtt.samples).toBe(2);
    expect(c.pcb.info().srttMs).toBe(100);
    expect(c.pcb.info().rttvarMs).toBe(37.5); // 3/4 * 50 + 1/4 * 0
    done(c);
  });

  test('a duplicate ACK or a window update takes no sample', () => {
    const c = client({ rttMs: 100 });
    c.send(2 * MSS);
    c.peer.advance(500);
    c.ack(0);
    c.peer.inject({ seq: c.rcv, ack: c.base, flags: ACK, wnd: 1000 });
    expect(c.pcb.rtt.samples).toBe(1);
    done(c);
  });

  test('with timestamps (RFC 7323 §4), the echo of the retransmission times it even though it was retransmitted', () => {
    const c = client({ rttMs: 100, ts: true });
    expect(c.pcb.info().timestamps).toBe(true);
    expect(c.pcb.rtt.samples).toBe(1);
    const first = c.send(MSS)[0]!;
    expect(first.data.length).toBe(MSS - 12); // the timestamp option takes 12 bytes of each segment
    const r = runUntilSent(c.peer)!;
    const again = r.segs[0]!;
    expect(again.opts.tsVal - first.opts.tsVal).toBe(300);
    c.peer.advance(40);
    // The peer echoes the retransmission's TSval: RTT 40 ms.
    c.ack(MSS - 12, again.opts.tsVal);
    expect(c.pcb.rtt.samples).toBe(2);
    expect(c.pcb.info().srttMs).toBe(92.5); // 7/8 * 100 + 1/8 * 40
    done(c);
  });

  test('SYN retransmitted, no timestamps: no sample from the SYN-ACK; cwnd = 1 MSS (RFC 5681 §3.1) and the RTO falls back to 3 s (RFC 6298 §5.7)', () => {
    const c = client({ rttMs: 20, synLost: true });
    expect(c.pcb.rtt.samples).toBe(0);
    expect(c.pcb.info().srttMs).toBe(0);
    expect(c.pcb.cwnd).toBe(MSS);
    expect(c.pcb.info().rtoMs).toBe(3000);
    const t0 = c.peer.clock.now();
    c.send(MSS);
    expect(runUntilSent(c.peer)!.at - t0).toBe(3000);
    c.peer.advance(50);
    c.ack(MSS); // covers the retransmission: still no sample (Karn)
    expect(c.pcb.rtt.samples).toBe(0);
    expect(c.pcb.info().rtoMs).toBe(3000);
    // The first valid sample replaces the fallback.
    c.send(MSS);
    c.peer.advance(50);
    c.ack(2 * MSS);
    expect(c.pcb.rtt.samples).toBe(1);
    expect(c.pcb.info().rtoMs).toBe(200); // 50 + 4 * 25 = 150 -> minRtoMs
    done(c);
  });

  test('SYN retransmitted, with timestamps: the SYN-ACK echoes the retried SYN and gives a valid sample (no 3 s fallback)', () => {
    const c = client({ rttMs: 20, synLost: true, ts: true });
    expect(c.pcb.rtt.samples).toBe(1);
    expect(c.pcb.info().srttMs).toBe(20);
    expect(c.pcb.info().rtoMs).toBe(200);
    expect(c.pcb.cwnd).toBe(MSS); // the lost SYN still shrinks the initial window
    done(c);
  });

  test('the initial RTO (1 s) applies to the SYN before any sample; SYN retries do not count as samples', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb } = startConnect(peer);
    expect(pcb.info().rtoMs).toBe(1000);
    expect(pcb.rtt.samples).toBe(0);
    expect(runUntilSent(peer)!.at).toBe(1000);
    expect(pcb.info().rtoMs).toBe(2000); // backed off
    peer.raw.tcpAbort(pcb);
    expect(peer.clock.pendingTimers()).toBe(0);
    peer.stack.pool.assertEmpty();
  });
});

// TCP pacing (src/pcb/pacing.ts): a window opened at once (after idle,
// after recovery, a receiver-limited flow) leaves at the pacing rate in
// quanta; GSO super-segments are at most one quantum. Observed on the wire
// (a pcap of what each side hands its link), in virtual time, so every
// figure is exact and the same seed gives the same bytes.
import { describe, expect, test } from 'vitest';
import { RawTcp, WriteFlag } from '../../src/callbacks/raw.ts';
import { runSimTransfer } from '../../src/cli/sim-transfer-run.ts';
import { Deadline } from '../../src/pcb/deadlines.ts';
import { PACING_CA_GAIN, PACING_SS_GAIN, paceHold, pacingQuantum, pacingRate } from '../../src/pcb/pacing.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import type { LinkSpec } from '../../src/sim/link.ts';
import { PcapWriter, readPcap } from '../../src/sim/pcap.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import { ACK, acceptConnection, bulkExchange, Err, type Pair, parseSent, payload, scriptedPeer, sha256 } from '../support/tcp.ts';

const CLIENT = 0x0a000001;

/** simPair with a pcap of both directions. */
function wiredPair(o: { seed?: number; link: LinkSpec; tcp?: TcpConfig; gso?: boolean }): Pair & { pcap: PcapWriter } {
  const sim = new Simulator({ seed: o.seed ?? 1 });
  const client = sim.addStack('client', { pool: { trackLive: true }, tcp: { ...o.tcp } });
  const server = sim.addStack('server', { pool: { trackLive: true }, tcp: { ...o.tcp } });
  const pcap = new PcapWriter();
  sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: o.link, pcap, ...(o.gso ? { gso: true } : {}) });
  return { sim, client, server, rc: new RawTcp(client), rs: new RawTcp(server), pcap };
}

/** Data frames the client sent at or after `fromMs`: time and payload length. */
function clientData(pcap: PcapWriter, fromMs: number): { t: number; len: number }[] {
  const f = readPcap(pcap.bytes());
  if (f instanceof Error) throw f;
  const out: { t: number; len: number }[] = [];
  for (const r of f.records) {
    const s = parseSent(r.data);
    if (s.src === CLIENT && s.data.length > 0 && r.timeMs >= fromMs - 1e-3) out.push({ t: r.timeMs, len: s.data.length });
  }
  return out;
}

/** Everything given back: no PCB, timer or pool byte left on either side. */
function assertClean(p: Pair): void {
  expect(p.sim.runUntilIdle()).toBe(true);
  expect(p.sim.clock.pendingTimers()).toBe(0);
  expect(p.client.tcp.pcbCount + p.server.tcp.pcbCount).toBe(0);
  p.client.pool.assertEmpty();
  p.server.pool.assertEmpty();
}

/**
 * The client sends 200 kB, the connection idles 100 ms (below the RTO, so
 * cwnd is kept: RFC 5681's restart does not apply), then it writes 100 kB
 * at once. Returns the second burst's frames and the pacing figures from
 * the moment of that write.
 */
function burstAfterIdle(pacing: boolean) {
  const p = wiredPair({ link: { latencyMs: 20 }, tcp: { pacing } });
  const { rc, rs, sim } = p;
  const l = rs.tcpNew()!;
  rs.tcpBind(l, 0, 80);
  rs.tcpListen(l);
  let received = 0;
  rs.tcpAccept(l, (_a, npcb) => {
    rs.tcpRecv(npcb, (_b, pcb, q) => {
      if (q === null) {
        rs.tcpClose(pcb);
        return Err.OK;
      }
      received += q.totLen;
      rs.tcpRecved(pcb, q.totLen);
      q.free();
      return Err.OK;
    });
    rs.tcpClose(l);
    return Err.OK;
  });
  const c = rc.tcpNew()!;
  rc.tcpNagleDisable(c); // the burst's short last segment goes with it, not an RTT later
  rc.tcpConnect(c, '10.0.0.2', 80, () => Err.OK);
  const idle = (): boolean => c.unsent.empty && c.unacked.empty;
  expect(sim.runUntil(() => c.stateName === 'ESTABLISHED', 1000)).toBe(true);
  expect(rc.tcpWrite(c, payload(200_000, 1), WriteFlag.COPY)).toBe(Err.OK);
  rc.tcpOutput(c);
  expect(sim.runUntil(idle, 5000)).toBe(true);
  sim.runFor(100);
  const t0 = sim.clock.now();
  const rate = pacingRate(p.client.tcp, c);
  const quantum = pacingQuantum(c.mss - 12, rate);
  const cwnd = c.cwnd;
  const srtt = c.rtt.srtt;
  const delayedBefore = p.client.tcp.counters.pacingDelayed;
  expect(rc.tcpWrite(c, payload(100_000, 2), WriteFlag.COPY)).toBe(Err.OK);
  rc.tcpOutput(c);
  expect(sim.runUntil(idle, 5000)).toBe(true);
  expect(received).toBe(300_000);
  const frames = clientData(p.pcap, t0);
  const delayed = p.client.tcp.counters.pacingDelayed - delayedBefore;
  rc.tcpClose(c);
  assertClean(p);
  return { t0, rate, quantum, cwnd, srtt, frames, delayed };
}

describe('pacing after idle (restart after idle)', () => {
  test('a 100 kB burst after 100 ms idle leaves at the pacing rate: never ahead of it by more than a quantum, never behind it', () => {
    const r = burstAfterIdle(true);
    // Slow start (no loss yet): rate = 2 x cwnd / SRTT (SRTT ~50 ms: 40 ms and delayed ACKs).
    expect(r.rate).toBeCloseTo((PACING_SS_GAIN * r.cwnd) / r.srtt, 6);
    expect(r.cwnd).toBeGreaterThan(100_000); // cwnd alone would let the whole burst go at once
    expect(r.frames[0]!.t).toBeCloseTo(r.t0, 3);
    let before = 0;
    for (const f of r.frames) {
      // Never faster than the rate beyond one quantum (the pcap keeps microseconds).
      expect(f.t - r.t0).toBeGreaterThanOrEqual((before - r.quantum) / r.rate - 0.002);
      before += f.len;
    }
    expect(before).toBe(100_000);
    const span = r.frames.at(-1)!.t - r.t0;
    // And never slower: the last frame leaves by the time the rate allows it.
    expect(span).toBeLessThanOrEqual((before - r.frames.at(-1)!.len) / r.rate + 0.002);
    expect(span).toBeGreaterThan(0.8 * ((before - r.quantum) / r.rate));
    // Quanta, not single segments: about one PACE timer per quantum.
    expect(r.delayed).toBeGreaterThan(0);
    expect(r.delayed).toBeLessThanOrEqual(Math.ceil(before / r.quantum));
  });

  test('unpaced (pacing: false), the same burst leaves all at once', () => {
    const r = burstAfterIdle(false);
    expect(r.rate).toBe(0);
    expect(r.delayed).toBe(0);
    expect(r.frames.reduce((n, f) => n + f.len, 0)).toBe(100_000);
    expect(r.frames.at(-1)!.t - r.frames[0]!.t).toBe(0);
  });

  test('no pacing before an RTT sample; then the PACE deadline releases the held data quantum by quantum', () => {
    const MSS = 1000;
    const peer = scriptedPeer();
    const { pcb, iss, irs } = acceptConnection(peer, { mss: MSS });
    peer.take();
    // The handshake took no time: SRTT 0, no rate. The initial window goes at once.
    expect(pacingRate(peer.stack.tcp, pcb)).toBe(0);
    peer.raw.tcpWrite(pcb, payload(60 * MSS), WriteFlag.COPY);
    peer.raw.tcpOutput(pcb);
    expect(peer.take()).toHaveLength(10);
    // 40 ms later everything is acknowledged: an RTT sample, nothing in flight.
    peer.advance(40);
    peer.inject({ seq: irs + 1, ack: (iss + 1 + 10 * MSS) >>> 0, flags: ACK });
    const rate = pacingRate(peer.stack.tcp, pcb);
    expect(rate).toBeGreaterThan(0);
    const q = pacingQuantum(MSS, rate);
    const first = peer.take().length;
    expect(first).toBeLessThan(pcb.cwnd / MSS); // cwnd would allow more
    expect(first).toBe(Math.floor(q / MSS) + 1); // a quantum, plus the segment that crosses it
    const at = pcb.deadlines.get(Deadline.PACE);
    expect(at).toBeGreaterThan(peer.clock.now());
    expect(pcb.deadlines.armedByName()).toHaveProperty('pace');
    expect(peer.stack.tcp.counters.pacingDelayed).toBe(1);
    peer.clock.advanceTo(at);
    expect(peer.take().length).toBeGreaterThan(0);
    peer.raw.tcpAbort(pcb);
  });
});

describe('pacing on a zero-delay link', () => {
  // RTT samples of 0 shrink SRTT by 7/8 each, towards the smallest doubles
  // (4e-306 ms was seen): cwnd / SRTT was Infinity, the quantum time
  // Infinity / Infinity = NaN, and the hold test `now >= at - NaN` false,
  // so the PACE deadline was re-armed at now for ever (a sweep line, seed
  // 86, LAST_ACK with 1005 segments unsent: the clock's runaway guard).
  test('an SRTT worn down to almost 0 paces nothing, and a degenerate rate never holds a segment', () => {
    const MSS = 1000;
    const peer = scriptedPeer();
    const { pcb, iss, irs } = acceptConnection(peer, { mss: MSS });
    peer.take();
    pcb.rtt.sample(1);
    for (let i = 0; i < 5300; i++) pcb.rtt.sample(0);
    expect(pcb.rtt.srtt).toBeGreaterThan(0);
    expect(pcb.rtt.srtt).toBeLessThan(1e-300);
    expect(pacingRate(peer.stack.tcp, pcb)).toBe(0);
    const now = peer.clock.now();
    pcb.paceAt = now;
    expect(paceHold(peer.stack.tcp, pcb, now, Infinity, MSS)).toBe(false);
    expect(paceHold(peer.stack.tcp, pcb, now, NaN, MSS)).toBe(false);
    expect(pcb.deadlines.armed(Deadline.PACE)).toBe(false);
    // Data goes at once, and nothing is left armed at the present.
    peer.raw.tcpWrite(pcb, payload(5 * MSS), WriteFlag.COPY);
    peer.raw.tcpOutput(pcb);
    expect(peer.take()).toHaveLength(5);
    expect(pcb.deadlines.armed(Deadline.PACE)).toBe(false);
    peer.inject({ seq: irs + 1, ack: (iss + 1 + 5 * MSS) >>> 0, flags: ACK });
    peer.raw.tcpAbort(pcb);
  });
});

describe('pacing GSO super-segments over a small bottleneck queue', () => {
  // 100 Mbit/s, 10 ms each way, 64 KiB queue, 64 KiB super-segments: unpaced,
  // super-segments overflow the queue; paced they are one quantum each
  // and leave at the rate. (Fails when pacing is switched off.)
  const run = (pacing: boolean) =>
    runSimTransfer({ seed: 1, bytes: 2_000_000, serverBytes: 0, gso: true, link: { latencyMs: 10, bitsPerSecond: 100e6, queueBytes: 65536 }, tcp: { pacing } });

  test('paced: no frame dropped, no retransmission, faster; unpaced: the queue overflows', () => {
    const off = run(false);
    const on = run(true);
    expect(off.ok).toBe(true);
    expect(on.ok).toBe(true); // intact, and nothing left over (PCBs, timers, pool)
    expect(on.superSegments.client).toBeGreaterThan(100); // still GSO
    expect(off.frames.clientToServer.delivered).toBeLessThan(off.frames.clientToServer.sent);
    expect(off.retransmits).toBeGreaterThan(20);
    expect(on.frames.clientToServer.delivered).toBe(on.frames.clientToServer.sent);
    expect(on.retransmits).toBe(0);
    expect(on.virtualMs).toBeLessThan(off.virtualMs);
  });
});

describe('determinism', () => {
  test('the same paced GSO transfer over a lossy bottleneck twice: the same bytes on the wire at the same times', () => {
    const once = () => {
      const p = wiredPair({ seed: 9, gso: true, link: { latencyMs: 5, bitsPerSecond: 50e6, queueBytes: 32768, loss: 0.01 } });
      const a = payload(400_000, 3);
      const b = payload(400_000, 4);
      const { cli, srv, listener } = bulkExchange(p, a, b);
      expect(p.sim.runUntil(() => cli.gotFin && srv.gotFin, 120_000)).toBe(true);
      p.rs.tcpClose(listener);
      expect(sha256(srv.bytes)).toBe(sha256(a));
      expect(sha256(cli.bytes)).toBe(sha256(b));
      const end = p.sim.clock.now();
      const delayed = p.client.tcp.counters.pacingDelayed + p.server.tcp.counters.pacingDelayed;
      const retrans = p.client.tcp.counters.retransSegs + p.server.tcp.counters.retransSegs;
      assertClean(p);
      return { end, delayed, retrans, wire: sha256(p.pcap.bytes()), frames: p.pcap.count };
    };
    const one = once();
    const two = once();
    expect(one.delayed).toBeGreaterThan(0); // pacing did hold segments back
    expect(one.retrans).toBeGreaterThan(0); // and the loss was recovered from
    expect(two).toEqual(one);
  });
});

describe('configuration', () => {
  test('pacing is on by default, a boolean, and the gains are Linux\'s', () => {
    const sim = new Simulator();
    expect(sim.addStack('a').tcp.config.pacing).toBe(true);
    expect(sim.addStack('b', { tcp: { pacing: false } }).tcp.config.pacing).toBe(false);
    expect(() => sim.addStack('c', { tcp: { pacing: 'yes' as unknown as boolean } })).toThrow(RangeError);
    expect([PACING_SS_GAIN, PACING_CA_GAIN]).toEqual([2, 1.2]);
  });
});

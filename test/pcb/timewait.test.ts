// TIME_WAIT (RFC 9293 §3.6.1, RFC 1337, RFC 6191, lwIP test_tcp_state.c
// 3.4/3.5/3.8): its exact length, what it answers, reuse of the 4-tuple by a
// newer incarnation, connect() over a TIME_WAIT tuple, the maxTimeWait cap,
// and a long connect/close loop between two simulated stacks.
import { describe, expect, test } from 'vitest';
import type { RawTcp } from '../../src/callbacks/raw.ts';
import type { Pbuf } from '../../src/pbuf/pbuf.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import { seqAdd, seqGt } from '../../src/pcb/seq.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { ACK, acceptConnection, activeOpen, Err, FIN, flagStr, payload, PSH, RST, scriptedPeer, type ScriptedPeer, type SentSeg, simPair, SYN, u32, wire, assertAllFreed, closeAndCheck } from '../support/tcp.ts';
import { anyIp, peerIp } from '../support/family.ts';

/**
 * A connection opened actively by the stack and closed actively, now in
 * TIME_WAIT. Returns our next sequence number and the peer's.
 */
function clientTimeWait(peer: ScriptedPeer, o: { tsVal?: number } = {}): { pcb: TcpPcb; iss: number; sndNxt: number; rcvNxt: number; log: ReturnType<typeof activeOpen>['log']; tsEcr: () => number } {
  const r = activeOpen(peer, o.tsVal !== undefined ? { tsVal: o.tsVal } : {});
  const { pcb, iss, irs, log } = r;
  let lastTs = r.syn.opts.tsVal;
  const ts = (v: number): { ts?: [number, number] } => (o.tsVal !== undefined ? { ts: [v, lastTs] } : {});
  lastTs = peer.take().at(-1)?.opts.tsVal ?? lastTs;
  peer.raw.tcpClose(pcb);
  lastTs = peer.take().at(-1)?.opts.tsVal ?? lastTs;
  peer.inject({ seq: irs + 1, ack: u32(iss + 2), flags: FIN | ACK, ...ts((o.tsVal ?? 0) + 1) });
  expect(pcb.stateName).toBe('TIME_WAIT');
  expect(wire(peer.take())).toEqual([['A', u32(iss + 2), irs + 2]]);
  return { pcb, iss, sndNxt: u32(iss + 2), rcvNxt: irs + 2, log, tsEcr: () => lastTs };
}

describe('TIME_WAIT basics', () => {
  test('lasts exactly timeWaitMs (2*MSL), then the PCB is freed and no timer remains', () => {
    for (const timeWaitMs of [undefined, 5000]) {
      const peer = scriptedPeer({ tcp: { timestamps: false, ...(timeWaitMs ? { timeWaitMs } : {}) } });
      const tw = peer.stack.tcp.config.timeWaitMs;
      expect(tw).toBe(timeWaitMs ?? 60_000);
      peer.advance(12_345); // not at time 0
      const { pcb, log } = clientTimeWait(peer);
      expect(peer.clock.pendingTimers()).toBe(1); // the layer's TIME_WAIT timer only
      peer.advance(tw - 1);
      expect(pcb.stateName).toBe('TIME_WAIT');
      expect(peer.stack.tcp.timeWait.size).toBe(1);
      peer.advance(1);
      expect(pcb.freed).toBe(true);
      expect(peer.stack.tcp.timeWait.size).toBe(0);
      expect(log.events).toEqual(['connected']);
      expect(peer.take()).toEqual([]);
      assertAllFreed(peer);
    }
  });

  test('a retransmitted FIN is ACKed and restarts the 2*MSL wait', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const tw = peer.stack.tcp.config.timeWaitMs;
    const { pcb, sndNxt, rcvNxt } = clientTimeWait(peer);
    peer.advance(tw - 1000);
    peer.inject({ seq: rcvNxt - 1, ack: sndNxt, flags: FIN | ACK });
    expect(wire(peer.take())).toEqual([['A', sndNxt, rcvNxt]]);
    peer.advance(tw - 1);
    expect(pcb.stateName).toBe('TIME_WAIT');
    peer.advance(1);
    expect(pcb.freed).toBe(true);
    assertAllFreed(peer);
  });

  test('a RST does not end TIME_WAIT (RFC 1337), nor does a bare ACK draw an answer; data is ACKed', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const tw = peer.stack.tcp.config.timeWaitMs;
    const { pcb, sndNxt, rcvNxt, log } = clientTimeWait(peer);
    peer.inject({ seq: rcvNxt, flags: RST });
    peer.inject({ seq: rcvNxt, ack: sndNxt, flags: RST | ACK });
    peer.inject({ seq: rcvNxt, ack: sndNxt, flags: ACK });
    expect(peer.take()).toEqual([]);
    expect(pcb.stateName).toBe('TIME_WAIT');
    peer.inject({ seq: rcvNxt, ack: sndNxt, flags: ACK | PSH, data: payload(5) });
    expect(wire(peer.take())).toEqual([['A', sndNxt, rcvNxt]]);
    expect(log.events).toEqual(['connected']);
    peer.advance(tw);
    expect(pcb.freed).toBe(true);
    assertAllFreed(peer);
  });

  test('an in-window SYN without a listener is answered with an ACK (RFC 9293 / RFC 5961 §4; lwIP 3.8 sends a RST)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, sndNxt, rcvNxt } = clientTimeWait(peer);
    peer.inject({ seq: rcvNxt, flags: SYN, mss: 1460 });
    expect(wire(peer.take())).toEqual([['A', sndNxt, rcvNxt]]);
    expect(pcb.stateName).toBe('TIME_WAIT');
    expect(peer.stack.tcp.counters.timeWaitReuse).toBe(0);
    closeAndCheck(peer);
  });

  test('tcpAbort on a TIME_WAIT PCB frees it silently', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, log } = clientTimeWait(peer);
    peer.raw.tcpAbort(pcb);
    expect(pcb.freed).toBe(true);
    expect(peer.take()).toEqual([]);
    expect(log.events).toEqual(['connected']);
    assertAllFreed(peer);
  });

  test('maxTimeWait: beyond the cap the oldest TIME_WAIT PCB is dropped early (timeWaitOverflows)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false, maxTimeWait: 2 } });
    const pcbs: TcpPcb[] = [];
    for (let i = 0; i < 4; i++) {
      const raw = peer.raw;
      const pcb = raw.tcpNew()!;
      raw.tcpBind(pcb, anyIp(), 1000 + i);
      raw.tcpConnect(pcb, peerIp(), 80, () => Err.OK);
      const syn = peer.take()[0]!;
      expect(flagStr(syn.flags)).toBe('S');
      peer.inject({ seq: 100, ack: u32(syn.seq + 1), flags: SYN | ACK, mss: 1460, srcPort: 80, dstPort: 1000 + i });
      raw.tcpClose(pcb);
      peer.inject({ seq: 101, ack: u32(syn.seq + 2), flags: FIN | ACK, srcPort: 80, dstPort: 1000 + i });
      expect(pcb.stateName).toBe('TIME_WAIT');
      expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['A', 'FA', 'A']);
      expect(peer.stack.tcp.timeWait.size).toBe(Math.min(i + 1, 2));
      pcbs.push(pcb);
      peer.advance(10);
    }
    expect(peer.stack.tcp.timeWait.size).toBe(2);
    expect(peer.stack.tcp.counters.timeWaitOverflows).toBe(2);
    expect(pcbs.map((p) => p.freed)).toEqual([true, true, false, false]);
    // The survivors still expire on time, and nothing is left behind.
    peer.advance(peer.stack.tcp.config.timeWaitMs);
    expect(pcbs.every((p) => p.freed)).toBe(true);
    assertAllFreed(peer);
  });
});

/**
 * A passive connection on port 80 closed actively by the stack, leaving the
 * 4-tuple in TIME_WAIT while the listener stays. Peer TSvals 5000, 5001,
 * 5002 when `ts` is set.
 */
function serverTimeWait(peer: ScriptedPeer, ts: boolean): { old: TcpPcb; listener: TcpPcb; iss: number; accepted: TcpPcb[] } {
  const accepted: TcpPcb[] = [];
  const { pcb, iss, listener } = acceptConnection(peer, { peerIsn: 1000, ts, onAccept: (p) => accepted.push(p) });
  const tsv = peer.take().at(-1)?.opts.tsVal ?? 0;
  peer.raw.tcpClose(pcb);
  const fin = peer.take();
  expect(wire(fin)).toEqual([['FA', u32(iss + 1), 1001]]);
  peer.inject({ seq: 1001, ack: u32(iss + 2), flags: FIN | ACK, ...(ts ? { ts: [5002, fin[0]!.opts.tsVal || tsv] as [number, number] } : {}) });
  expect(pcb.stateName).toBe('TIME_WAIT');
  peer.take();
  return { old: pcb, listener, iss, accepted };
}

describe('TIME_WAIT reuse by a new incarnation (RFC 6191)', () => {
  test('with timestamps: a SYN with a higher TSval opens a fresh connection, ISS above the old one', () => {
    const peer = scriptedPeer();
    peer.stack.tcp.issOverride = () => 777_000; // the same ISS every time: the reuse rule must raise it
    const { old, listener, iss, accepted } = serverTimeWait(peer, true);
    expect(iss).toBe(777_000);
    peer.inject({ seq: 500, flags: SYN, mss: 1460, ts: [5003, 0] }); // even a lower sequence number
    expect(old.freed).toBe(true);
    expect(peer.stack.tcp.counters.timeWaitReuse).toBe(1);
    const sa = peer.take();
    expect(sa.map((s) => [flagStr(s.flags), s.ack])).toEqual([['SA', 501]]);
    expect(seqGt(sa[0]!.seq, seqAdd(iss, 2))).toBe(true);
    expect(sa[0]!.opts.tsEcr).toBe(5003);
    peer.inject({ seq: 501, ack: u32(sa[0]!.seq + 1), flags: ACK, ts: [5004, sa[0]!.opts.tsVal] });
    expect(accepted.length).toBe(2);
    expect(accepted[1]!.stateName).toBe('ESTABLISHED');
    expect(listener.acceptsPending).toBe(0);
    closeAndCheck(peer);
  });

  test('with timestamps: a SYN with an equal TSval and a higher sequence number is honoured too (RFC 6191 §2)', () => {
    const peer = scriptedPeer();
    const { old } = serverTimeWait(peer, true);
    peer.inject({ seq: 90_000, flags: SYN, mss: 1460, ts: [5002, 0] });
    expect(old.freed).toBe(true);
    expect(peer.stack.tcp.counters.timeWaitReuse).toBe(1);
    expect(peer.take().map((s) => [flagStr(s.flags), s.ack])).toEqual([['SA', 90_001]]);
    closeAndCheck(peer);
  });

  test('with timestamps: a SYN with a lower TSval gets an ACK and TIME_WAIT stays', () => {
    const peer = scriptedPeer();
    const { old, iss } = serverTimeWait(peer, true);
    peer.inject({ seq: 90_000, flags: SYN, mss: 1460, ts: [4000, 0] });
    expect(old.stateName).toBe('TIME_WAIT');
    const out = peer.take();
    expect(wire(out)).toEqual([['A', u32(iss + 2), 1002]]);
    expect(out[0]!.opts.tsEcr).toBe(5002);
    expect(peer.stack.tcp.counters.timeWaitReuse).toBe(0);
    closeAndCheck(peer);
  });

  test('without timestamps: a higher sequence number reopens, a lower one gets an ACK', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { old, iss, accepted } = serverTimeWait(peer, false);
    peer.inject({ seq: 900, flags: SYN, mss: 1460 });
    expect(wire(peer.take())).toEqual([['A', u32(iss + 2), 1002]]);
    expect(old.stateName).toBe('TIME_WAIT');
    // With the ACK bit a SYN is never a new connection. Its ACK waits for
    // the invalid-segment rate limit (one per 500 ms, as Linux's TIME_WAIT).
    peer.inject({ seq: 5000, ack: 1, flags: SYN | ACK, mss: 1460 });
    expect(wire(peer.take())).toEqual([]);
    expect(peer.stack.tcp.counters.invalidAcksSkipped).toBe(1);
    peer.advance(peer.stack.tcp.config.invalidAckIntervalMs);
    peer.inject({ seq: 5000, ack: 1, flags: SYN | ACK, mss: 1460 });
    expect(wire(peer.take())).toEqual([['A', u32(iss + 2), 1002]]);
    expect(old.stateName).toBe('TIME_WAIT');
    peer.inject({ seq: 5000, flags: SYN, mss: 1460 });
    expect(old.freed).toBe(true);
    expect(peer.stack.tcp.counters.timeWaitReuse).toBe(1);
    const sa = peer.take();
    expect(sa.map((s) => [flagStr(s.flags), s.ack])).toEqual([['SA', 5001]]);
    peer.inject({ seq: 5001, ack: u32(sa[0]!.seq + 1), flags: ACK });
    expect(accepted.length).toBe(2);
    closeAndCheck(peer);
  });

  test('without a listener a newer SYN does not reopen: ACK', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { old, iss, listener } = serverTimeWait(peer, false);
    peer.raw.tcpClose(listener);
    peer.inject({ seq: 5000, flags: SYN, mss: 1460 });
    expect(wire(peer.take())).toEqual([['A', u32(iss + 2), 1002]]);
    expect(old.stateName).toBe('TIME_WAIT');
    closeAndCheck(peer);
  });

  test('connect() to a 4-tuple in TIME_WAIT: ERR_USE without SO_REUSEADDR; with it the old PCB goes and the ISS starts above it', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    peer.stack.tcp.issOverride = () => 42;
    const { pcb: old, sndNxt } = clientTimeWait(peer);
    expect(old.localPort).toBe(peer.localPort);
    const raw = peer.raw;
    const a = raw.tcpNew()!;
    raw.setReuseAddr(a, true);
    // The old PCB still holds the port and did not set SO_REUSEADDR.
    expect(raw.tcpBind(a, anyIp(), peer.localPort)).toBe(Err.USE);
    raw.tcpClose(a);
    raw.setReuseAddr(old, true);
    const b = raw.tcpNew()!;
    raw.setReuseAddr(b, true);
    expect(raw.tcpBind(b, anyIp(), peer.localPort)).toBe(Err.OK);
    // Connecting over the TIME_WAIT tuple needs SO_REUSEADDR at connect time too.
    raw.setReuseAddr(b, false);
    expect(raw.tcpConnect(b, peerIp(), peer.peerPort, null)).toBe(Err.USE);
    expect(old.stateName).toBe('TIME_WAIT');
    raw.setReuseAddr(b, true);
    expect(raw.tcpConnect(b, peerIp(), peer.peerPort, null)).toBe(Err.OK);
    expect(old.freed).toBe(true);
    const syn = peer.take();
    expect(syn.map((s) => flagStr(s.flags))).toEqual(['S']);
    expect(seqGt(syn[0]!.seq, sndNxt)).toBe(true);
    closeAndCheck(peer);
  });
});

describe('connect/close loops between two simulated stacks (default timeWaitMs)', () => {
  /**
   * `n` connections one after another from the client to the server's port
   * 80. Each sends a few bytes each way; `closer` decides who closes first
   * (and so who keeps the TIME_WAIT). Returns virtual and wall time.
   */
  function loop(n: number, closer: 'client' | 'server', o: { clientTcp?: TcpConfig } = {}) {
    const pair = simPair({ seed: 77, link: { latencyMs: 1 }, ...(o.clientTcp ? { clientTcp: o.clientTcp } : {}) });
    const { rc, rs, sim } = pair;
    let done = 0;
    let failures = 0;
    let started = 0;
    const errs: number[] = [];
    const l = rs.tcpNew()!;
    rs.tcpBind(l, anyIp(), 80);
    rs.tcpListen(l);
    const take = (raw: RawTcp, pcb: TcpPcb, p: Pbuf): void => {
      raw.tcpRecved(pcb, p.totLen);
      p.free();
    };
    rs.tcpAccept(l, (_a, spcb) => {
      rs.tcpErr(spcb, (_x, e) => errs.push(e));
      rs.tcpRecv(spcb, (_x, q, p) => {
        if (p === null) {
          rs.tcpClose(q); // passive close (or the second FIN)
          return Err.OK;
        }
        take(rs, q, p);
        if (closer === 'server') {
          rs.tcpWrite(q, payload(8, 2));
          rs.tcpClose(q);
        }
        return Err.OK;
      });
      return Err.OK;
    });
    const next = (): void => {
      if (started >= n) return;
      started++;
      const c = rc.tcpNew();
      if (c === null) {
        failures++;
        return;
      }
      rc.tcpErr(c, (_x, e) => {
        errs.push(e);
        failures++;
        rc.defer(next);
      });
      rc.tcpRecv(c, (_x, q, p) => {
        if (p === null) {
          rc.tcpClose(q);
          if (closer === 'server') {
            done++;
            rc.defer(next);
          }
          return Err.OK;
        }
        take(rc, q, p);
        return Err.OK;
      });
      const err = rc.tcpConnect(c, peerIp(), 80, (_x, q) => {
        rc.tcpWrite(q, payload(8, 1));
        if (closer === 'client') {
          rc.tcpClose(q);
          rc.tcpSent(q, () => Err.OK);
        }
        return Err.OK;
      });
      if (err !== Err.OK) {
        errs.push(err);
        failures++;
        rc.tcpErr(c, null);
        rc.tcpClose(c);
        next();
        return;
      }
      if (closer === 'client') {
        // Done when the server's side is gone (our FIN acknowledged, theirs received).
        const watch = (): void => {
          if (c.freed || c.stateName === 'TIME_WAIT') {
            done++;
            next();
          } else sim.clock.after(1, () => pair.client.defer(watch));
        };
        sim.clock.after(1, () => pair.client.defer(watch));
      }
    };
    const wall0 = performance.now();
    const v0 = sim.clock.now();
    next();
    const finished = sim.runUntil(() => done + failures >= n, v0 + 3_600_000);
    const virtualMs = sim.clock.now() - v0;
    const wallMs = performance.now() - wall0;
    return { pair, listener: l, finished, done, failures, errs, virtualMs, wallMs, client: pair.client, server: pair.server };
  }

  function drain(r: ReturnType<typeof loop>): void {
    r.pair.rs.tcpClose(r.listener);
    r.pair.sim.runUntilIdle(); // every TIME_WAIT expires
    expect(r.client.tcp.pcbCount).toBe(0);
    expect(r.server.tcp.pcbCount).toBe(0);
    expect(r.pair.sim.clock.pendingTimers()).toBe(0);
    r.client.pool.assertEmpty();
    r.server.pool.assertEmpty();
  }

  function report(name: string, r: ReturnType<typeof loop>, s: Stack): void {
    // Kept in the test output for the record (virtual and wall connection rates).
    console.log(
      `${name}: ${r.done} connections, ${r.failures} failures, ${(r.virtualMs / 1000).toFixed(1)} s virtual (${((r.done * 1000) / r.virtualMs).toFixed(0)}/s), ` +
        `${(r.wallMs / 1000).toFixed(2)} s wall (${((r.done * 1000) / r.wallMs).toFixed(0)}/s), TIME_WAIT reuses ${s.tcp.counters.timeWaitReuse}`,
    );
  }

  test('5000 connections, client closes first (client keeps TIME_WAIT): all complete, ports never run out', () => {
    const r = loop(5000, 'client');
    expect(r.finished).toBe(true);
    expect(r.failures).toBe(0);
    expect(r.errs).toEqual([]);
    expect(r.done).toBe(5000);
    report('client-closes 5000', r, r.client);
    expect(r.server.tcp.timeWait.size).toBe(0);
    expect(r.client.tcp.timeWait.size).toBeGreaterThan(0);
    drain(r);
  });

  test('5000 connections, server closes first (server keeps TIME_WAIT), 500 client ports: reuse per RFC 6191', () => {
    const r = loop(5000, 'server', { clientTcp: { ephemeralLow: 50000, ephemeralHigh: 50499 } });
    expect(r.finished).toBe(true);
    expect(r.errs).toEqual([]);
    expect(r.failures).toBe(0);
    expect(r.done).toBe(5000);
    report('server-closes 5000 (500 ports)', r, r.server);
    expect(r.server.tcp.counters.timeWaitReuse).toBeGreaterThan(4000);
    drain(r);
  });

  test('client keeps TIME_WAIT with only 500 client ports: connect fails with ERR_USE once every port is in TIME_WAIT, works again after 2*MSL', () => {
    const r = loop(600, 'client', { clientTcp: { ephemeralLow: 50000, ephemeralHigh: 50499 } });
    expect(r.finished).toBe(true);
    expect(r.done).toBe(500);
    expect(r.failures).toBe(100);
    expect(r.errs).toEqual(new Array(100).fill(Err.USE));
    expect(r.client.tcp.timeWait.size).toBe(500);
    expect(r.virtualMs).toBeLessThan(r.client.tcp.config.timeWaitMs);
    // After 2*MSL the ports are free again.
    r.pair.sim.runFor(r.client.tcp.config.timeWaitMs);
    expect(r.client.tcp.timeWait.size).toBe(0);
    const c = r.pair.rc.tcpNew()!;
    expect(r.pair.rc.tcpConnect(c, peerIp(), 80, null)).toBe(Err.OK);
    r.pair.rc.tcpAbort(c);
    drain(r);
  });
});

describe('TIME_WAIT reuse and a full backlog', () => {
  test('a newer SYN while connections waiting for accept() fill the listener backlog is dropped and the TIME_WAIT is kept', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l, 1);
    const accepted: TcpPcb[] = [];
    raw.tcpAccept(l, (_a, npcb) => {
      accepted.push(npcb);
      // The second one waits for the application (as a socket does until accept()).
      if (accepted.length === 2) raw.tcpBacklogDelayed(npcb);
      return Err.OK;
    });
    // One connection from port 40000, closed by us: TIME_WAIT.
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    const iss = peer.take()[0]!.seq;
    peer.inject({ seq: 1001, ack: u32(iss + 1), flags: ACK });
    raw.tcpClose(accepted[0]!);
    peer.inject({ seq: 1001, ack: u32(iss + 2), flags: ACK | FIN });
    expect(accepted[0]!.stateName).toBe('TIME_WAIT');
    // A connection from port 40001 that the application has not taken fills the backlog.
    peer.inject({ seq: 7000, flags: SYN, mss: 1460, srcPort: 40001 });
    const iss2 = peer.take().find((x) => x.flags & SYN)!.seq;
    peer.inject({ seq: 7001, ack: u32(iss2 + 1), flags: ACK, srcPort: 40001 });
    expect(accepted.length).toBe(2);
    expect(l.acceptsPending).toBe(1);
    expect(l.synQueued).toBe(0);
    peer.take();
    // The newer incarnation from port 40000 cannot be taken now.
    peer.inject({ seq: 50_000, flags: SYN, mss: 1460 });
    expect(peer.take()).toEqual([]);
    expect(peer.stack.tcp.counters.listenOverflows).toBe(1);
    expect(peer.stack.tcp.counters.timeWaitReuse).toBe(0);
    expect(accepted[0]!.stateName).toBe('TIME_WAIT');
    closeAndCheck(peer);
  });
});

describe('TIME_WAIT reuse during a SYN flood', () => {
  test('the SYN queue full of half-open connections: a new incarnation of a TIME_WAIT connection displaces the oldest of them instead of being dropped', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false, synBacklog: 4 } });
    const { old, listener } = serverTimeWait(peer, false);
    // Spoofed SYNs from other ports fill the SYN queue; the rest get cookies.
    for (let i = 0; i < 6; i++) {
      peer.advance(1);
      peer.inject({ seq: 7000 + i, flags: SYN, mss: 1460, srcPort: 50000 + i });
    }
    expect(listener.synQueued).toBe(4);
    expect(peer.stack.tcp.counters.synCookiesSent).toBe(2);
    peer.take();
    // The client reuses its port: a SYN above the old incarnation's sequence space.
    peer.inject({ seq: 90_000, flags: SYN, mss: 1460 });
    expect(old.freed).toBe(true);
    expect(peer.stack.tcp.counters.timeWaitReuse).toBe(1);
    expect(peer.stack.tcp.counters.listenOverflows).toBe(0);
    expect(peer.take().map((s) => [flagStr(s.flags), s.ack])).toEqual([['SA', 90_001]]);
    expect(listener.synQueued).toBe(4); // the oldest half-open one made room
    expect(peer.stack.tcp.counters.pcbsReclaimed).toBe(1);
    closeAndCheck(peer);
  });
});

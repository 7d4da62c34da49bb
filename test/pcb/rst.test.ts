// Resets and segment validation (RFC 9293 §3.10.7, RFC 5961 blind-attack
// mitigations, lwIP test_tcp_state.c 3.6-3.13): RST acceptance in every
// state, challenge ACKs and their rate limit, SYN and ACK validation, RSTs
// for closed ports and listeners, and the listen backlog.
import { describe, expect, test } from 'vitest';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import { seqAdd } from '../../src/pcb/seq.ts';
import { ACK, activeOpen, Err, FIN, flagStr, payload, PSH, recordCallbacks, RST, scriptedPeer, type ScriptedPeer, type SentSeg, SYN, u32, wire, assertAllFreed, closeAndCheck } from '../support/tcp.ts';
import { anyIp, mssFor, peerIp } from '../support/family.ts';

interface Setup {
  peer: ScriptedPeer;
  pcb: TcpPcb;
  log: ReturnType<typeof recordCallbacks>;
  /** The peer's next sequence number (= our RCV.NXT). */
  rcvNxt: number;
  /** Our SND.NXT. */
  sndNxt: number;
}

/** A connection driven (by an active open) into `state`, the wire cleared. */
function inState(state: string): Setup {
  const peer = scriptedPeer({ tcp: { timestamps: false } });
  const { pcb, iss, irs, log } = activeOpen(peer, { synAck: state !== 'SYN_RCVD' });
  let rcvNxt = u32(irs + 1);
  let sndNxt = u32(iss + 1);
  switch (state) {
    case 'SYN_RCVD':
      peer.inject({ seq: irs, flags: SYN, mss: 1460 }); // simultaneous open
      break;
    case 'ESTABLISHED':
      break;
    case 'FIN_WAIT_1':
      peer.raw.tcpClose(pcb);
      sndNxt++;
      break;
    case 'FIN_WAIT_2':
      peer.raw.tcpClose(pcb);
      sndNxt++;
      peer.inject({ seq: rcvNxt, ack: sndNxt, flags: ACK });
      break;
    case 'CLOSE_WAIT':
      peer.inject({ seq: rcvNxt, ack: sndNxt, flags: ACK | FIN });
      rcvNxt++;
      break;
    case 'CLOSING':
      peer.raw.tcpClose(pcb);
      peer.inject({ seq: rcvNxt, ack: sndNxt, flags: ACK | FIN });
      sndNxt++;
      rcvNxt++;
      break;
    case 'LAST_ACK':
      peer.inject({ seq: rcvNxt, ack: sndNxt, flags: ACK | FIN });
      rcvNxt++;
      peer.raw.tcpClose(pcb);
      sndNxt++;
      break;
  }
  expect(pcb.stateName).toBe(state);
  expect(pcb.rcvNxt).toBe(rcvNxt);
  expect(pcb.sndNxt).toBe(sndNxt);
  peer.take();
  return { peer, pcb, log, rcvNxt, sndNxt };
}

const SYNCHRONIZED = ['SYN_RCVD', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSE_WAIT', 'CLOSING', 'LAST_ACK'];

describe('RST acceptance (RFC 5961 §3)', () => {
  for (const state of SYNCHRONIZED) {
    test(`${state}: RST at RCV.NXT resets: err(ERR_RST) once, PCB freed, nothing sent`, () => {
      const { peer, pcb, log, rcvNxt } = inState(state);
      const before = log.events.length;
      const resets = peer.stack.tcp.counters.estabResets;
      peer.inject({ seq: rcvNxt, flags: RST });
      expect(pcb.freed).toBe(true);
      expect(log.events.slice(before)).toEqual([`err:${Err.RST}`]);
      expect(pcb.lastError).toBe(Err.RST);
      expect(peer.take()).toEqual([]);
      expect(peer.stack.tcp.counters.estabResets).toBe(resets + (state === 'ESTABLISHED' || state === 'CLOSE_WAIT' ? 1 : 0));
      // A second RST finds no connection and is not answered.
      peer.inject({ seq: rcvNxt, flags: RST });
      expect(peer.take()).toEqual([]);
      expect(log.events.slice(before)).toEqual([`err:${Err.RST}`]);
      assertAllFreed(peer);
    });

    test(`${state}: in-window RST not at RCV.NXT draws a challenge ACK; out-of-window RST is dropped silently`, () => {
      const { peer, pcb, log, rcvNxt, sndNxt } = inState(state);
      const before = log.events.length;
      const c0 = peer.stack.tcp.counters.challengeAcks;
      peer.inject({ seq: rcvNxt + 1, flags: RST | ACK, ack: sndNxt });
      expect(pcb.stateName).toBe(state);
      expect(wire(peer.take())).toEqual([['A', sndNxt, rcvNxt]]);
      expect(peer.stack.tcp.counters.challengeAcks).toBe(c0 + 1);
      peer.inject({ seq: seqAdd(rcvNxt, pcb.rcvWnd - 1), flags: RST });
      expect(wire(peer.take())).toEqual([['A', sndNxt, rcvNxt]]);
      // Outside the window on either side: nothing.
      peer.inject({ seq: seqAdd(rcvNxt, pcb.rcvWnd), flags: RST });
      peer.inject({ seq: seqAdd(rcvNxt, pcb.rcvWnd + 100_000), flags: RST });
      peer.inject({ seq: u32(rcvNxt - 1), flags: RST });
      peer.inject({ seq: u32(rcvNxt - 100_000), flags: RST });
      expect(peer.take()).toEqual([]);
      expect(pcb.stateName).toBe(state);
      expect(log.events.slice(before)).toEqual([]);
      expect(peer.stack.tcp.counters.challengeAcks).toBe(c0 + 2);
      // The exact one still works afterwards.
      peer.inject({ seq: rcvNxt, flags: RST });
      expect(pcb.freed).toBe(true);
      expect(log.events.slice(before)).toEqual([`err:${Err.RST}`]);
      assertAllFreed(peer);
    });
  }

  test('the err callback gets the tcpArg argument and ERR_RST, after the PCB is freed', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, irs } = activeOpen(peer);
    const arg = { name: 'conn' };
    peer.raw.tcpArg(pcb, arg);
    const calls: [unknown, number, boolean][] = [];
    peer.raw.tcpErr(pcb, (a, e) => calls.push([a, e, pcb.freed]));
    peer.inject({ seq: irs + 1, flags: RST | ACK, ack: pcb.sndNxt });
    expect(calls).toEqual([[arg, Err.RST, true]]);
    expect(peer.raw.isFreed(pcb)).toBe(true);
    expect(peer.raw.tcpSndbuf(pcb)).toBe(0);
    expect(peer.raw.tcpWrite(pcb, payload(1))).toBe(Err.CONN);
    assertAllFreed(peer);
  });

  test('challenge ACKs are rate limited per connection (challengeAcksPerSecond)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false, challengeAcksPerSecond: 3 } });
    const { pcb, iss, irs } = activeOpen(peer);
    peer.take();
    const rcvNxt = irs + 1;
    for (let i = 0; i < 10; i++) peer.inject({ seq: rcvNxt + 10 + i, flags: RST });
    expect(peer.take().length).toBe(3);
    expect(peer.stack.tcp.counters.challengeAcks).toBe(3);
    peer.advance(999);
    peer.inject({ seq: rcvNxt + 10, flags: RST });
    expect(peer.take().length).toBe(0);
    peer.advance(1);
    // A new second: the budget is back, and SYNs share it.
    for (let i = 0; i < 5; i++) peer.inject({ seq: rcvNxt + 10, flags: SYN });
    expect(wire(peer.take())).toEqual([
      ['A', u32(iss + 1), rcvNxt],
      ['A', u32(iss + 1), rcvNxt],
      ['A', u32(iss + 1), rcvNxt],
    ]);
    expect(peer.stack.tcp.counters.challengeAcks).toBe(6);
    expect(pcb.stateName).toBe('ESTABLISHED');
    closeAndCheck(peer);
  });

  test('the default budget is 10 challenge ACKs per second', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { irs } = activeOpen(peer);
    peer.take();
    for (let i = 0; i < 25; i++) peer.inject({ seq: irs + 100, flags: RST });
    expect(peer.take().length).toBe(10);
    closeAndCheck(peer);
  });

  test('SYN_SENT: RST with an acceptable ACK refuses the connection: err(ERR_RST) (lwIP 3.9)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, log } = activeOpen(peer, { synAck: false });
    const fails = peer.stack.tcp.counters.attemptFails;
    peer.inject({ seq: 0, ack: u32(iss + 1), flags: RST | ACK });
    expect(pcb.freed).toBe(true);
    expect(log.events).toEqual([`err:${Err.RST}`]);
    expect(peer.stack.tcp.counters.attemptFails).toBe(fails + 1);
    expect(peer.take()).toEqual([]);
    assertAllFreed(peer);
  });

  test('SYN_SENT: RST without ACK, or with an unacceptable ACK, is ignored (RFC 9293 SYN-SENT first/second check)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, log } = activeOpen(peer, { synAck: false });
    // No ACK bit, even with the right value in the field (lwIP would take it).
    peer.inject({ seq: 0, ack: u32(iss + 1), flags: RST });
    // ACK bit but a bad value: below, at ISS, beyond SND.NXT.
    peer.inject({ seq: 0, ack: u32(iss - 10), flags: RST | ACK });
    peer.inject({ seq: 0, ack: iss, flags: RST | ACK });
    peer.inject({ seq: 0, ack: u32(iss + 2), flags: RST | ACK });
    expect(pcb.stateName).toBe('SYN_SENT');
    expect(log.events).toEqual([]);
    expect(peer.take()).toEqual([]); // never a RST for a RST
    // The handshake still completes.
    peer.inject({ seq: 700, ack: u32(iss + 1), flags: SYN | ACK, mss: 1460 });
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(log.events).toEqual(['connected']);
    closeAndCheck(peer);
  });

  test('SYN_RCVD from a passive open: RST at RCV.NXT frees the half-open PCB silently, listener and backlog restored (lwIP 3.13)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l, 1);
    let accepts = 0;
    raw.tcpAccept(l, () => {
      accepts++;
      return Err.OK;
    });
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    const sa = peer.take();
    expect(wire(sa).map((w) => w[0])).toEqual(['SA']);
    expect(l.acceptsPending).toBe(1);
    expect(peer.stack.tcp.pcbCount).toBe(2);
    // In-window but not exact: challenge ACK, kept.
    peer.inject({ seq: 1005, flags: RST });
    expect(wire(peer.take())).toEqual([['A', u32(sa[0]!.seq + 1), 1001]]);
    expect(peer.stack.tcp.pcbCount).toBe(2);
    peer.inject({ seq: 1001, flags: RST });
    expect(peer.stack.tcp.pcbCount).toBe(1);
    expect(l.acceptsPending).toBe(0);
    expect(l.stateName).toBe('LISTEN');
    expect(accepts).toBe(0);
    expect(peer.take()).toEqual([]);
    // The backlog slot is free again.
    peer.inject({ seq: 2000, flags: SYN, mss: 1460 });
    expect(wire(peer.take()).map((w) => w[0])).toEqual(['SA']);
    expect(peer.stack.tcp.counters.listenOverflows).toBe(0);
    closeAndCheck(peer);
  });
});

describe('SYN in a synchronized state (RFC 5961 §4)', () => {
  for (const state of ['ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSE_WAIT', 'CLOSING', 'LAST_ACK']) {
    test(`${state}: SYN in or out of the window draws a challenge ACK, no state change`, () => {
      const { peer, pcb, log, rcvNxt, sndNxt } = inState(state);
      const before = log.events.length;
      peer.inject({ seq: rcvNxt, flags: SYN, mss: 1460 });
      peer.inject({ seq: u32(rcvNxt + 5000), flags: SYN, mss: 1460 });
      peer.inject({ seq: u32(rcvNxt - 5000), flags: SYN | ACK, ack: sndNxt, mss: 1460 });
      expect(wire(peer.take())).toEqual([
        ['A', sndNxt, rcvNxt],
        ['A', sndNxt, rcvNxt],
        ['A', sndNxt, rcvNxt],
      ]);
      expect(pcb.stateName).toBe(state);
      expect(log.events.slice(before)).toEqual([]);
      expect(peer.stack.tcp.counters.challengeAcks).toBe(3);
      closeAndCheck(peer);
    });
  }

  /** A listener on port 80 that takes every connection. */
  const listenOn80 = (peer: ReturnType<typeof scriptedPeer>) => {
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l);
    raw.tcpAccept(l, () => Err.OK);
    return l;
  };

  test('SYN_RCVD: a retransmitted SYN gets the SYN-ACK again (same ISS, same ACK)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const l = listenOn80(peer);
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    const first = peer.take();
    // The peer resends its SYN (half a second later: before our own SYN-ACK timer, 1 s).
    peer.advance(500);
    expect(peer.take()).toEqual([]);
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    const again = peer.take();
    expect(wire(again)).toEqual(wire(first));
    expect(flagStr(again[0]!.flags)).toBe('SA');
    expect(again[0]!.opts.mss).toBe(mssFor(1500));
    expect(peer.stack.tcp.pcbCount).toBe(2); // no second connection
    expect(l.acceptsPending).toBe(1);
    // A SYN with a different ISN is a different attempt: challenge ACK, not a SYN-ACK.
    peer.inject({ seq: 3000, flags: SYN, mss: 1460 });
    expect(wire(peer.take())).toEqual([['A', u32(first[0]!.seq + 1), 1001]]);
    closeAndCheck(peer);
  });

  test('SYN_RCVD: a copy of the SYN right behind it (the network duplicated it) gets no second SYN-ACK; our timer still resends a lost one', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    listenOn80(peer);
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    const first = peer.take();
    expect(flagStr(first[0]!.flags)).toBe('SA');
    peer.advance(5);
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    expect(peer.take()).toEqual([]);
    expect(peer.stack.tcp.counters.dupSynsIgnored).toBe(1);
    expect(peer.stack.tcp.pcbCount).toBe(2);
    // Our SYN-ACK was in fact lost: the retransmission timer (1 s) sends it again all the same.
    peer.advance(1000);
    const resent = peer.take();
    expect(wire(resent)).toEqual(wire(first));
    expect(peer.stack.tcp.counters.retransSegs).toBe(1);
    closeAndCheck(peer);
  });
});

describe('ACK validation (RFC 5961 §5, RFC 9293 fifth check)', () => {
  test('ESTABLISHED: an ACK of data never sent is answered with an ACK and the segment dropped', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = activeOpen(peer);
    peer.take();
    peer.inject({ seq: irs + 1, ack: u32(iss + 1000), flags: ACK | PSH, data: payload(10) });
    expect(wire(peer.take())).toEqual([['A', u32(iss + 1), irs + 1]]);
    expect(log.events).toEqual(['connected']); // the data was dropped
    expect(pcb.rcvNxt).toBe(irs + 1);
    expect(pcb.sndUna).toBe(u32(iss + 1));
    expect(pcb.stateName).toBe('ESTABLISHED');
    // The same data with a good ACK is taken.
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | PSH, data: payload(10) });
    expect(log.events).toEqual(['connected', 'recv:10']);
    closeAndCheck(peer);
  });

  test('ESTABLISHED: an ACK older than SND.UNA - MAX.SND.WND draws a challenge ACK and is dropped; a merely old one is fine', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = activeOpen(peer, { wnd: 10_000 });
    peer.take();
    expect(pcb.sndWndMax).toBe(10_000);
    const c0 = peer.stack.tcp.counters.challengeAcks;
    peer.inject({ seq: irs + 1, ack: u32(iss + 1 - 10_001), flags: ACK | PSH, data: payload(10) });
    expect(wire(peer.take())).toEqual([['A', u32(iss + 1), irs + 1]]);
    expect(peer.stack.tcp.counters.challengeAcks).toBe(c0 + 1);
    expect(log.events).toEqual(['connected']);
    // Within MAX.SND.WND behind SND.UNA: a harmless duplicate, the data is taken.
    peer.inject({ seq: irs + 1, ack: u32(iss + 1 - 10_000), flags: ACK | PSH, data: payload(10) });
    expect(log.events).toEqual(['connected', 'recv:10']);
    expect(peer.stack.tcp.counters.challengeAcks).toBe(c0 + 1);
    expect(pcb.sndWnd).toBe(10_000); // an old ACK does not update the window
    closeAndCheck(peer);
  });

  test('SYN_SENT: a SYN-ACK or ACK with a bad ACK gets RST <SEQ=SEG.ACK> and the connection attempt goes on (lwIP 3.10, 3.11)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, log } = activeOpen(peer, { synAck: false });
    const rsts = peer.stack.tcp.counters.outRsts;
    peer.inject({ seq: 800, ack: u32(iss - 10), flags: SYN | ACK, mss: 1460 });
    expect(wire(peer.take())).toEqual([['R', u32(iss - 10), 0]]);
    peer.inject({ seq: 800, ack: iss, flags: ACK });
    expect(wire(peer.take())).toEqual([['R', iss, 0]]);
    peer.inject({ seq: 800, ack: u32(iss + 2), flags: SYN | ACK, mss: 1460 });
    expect(wire(peer.take())).toEqual([['R', u32(iss + 2), 0]]);
    expect(peer.stack.tcp.counters.outRsts).toBe(rsts + 3);
    expect(pcb.stateName).toBe('SYN_SENT');
    expect(log.events).toEqual([]);
    // Segments with neither SYN nor RST are dropped.
    peer.inject({ seq: 800, flags: PSH, data: payload(3) });
    expect(peer.take()).toEqual([]);
    expect(pcb.stateName).toBe('SYN_SENT');
    // The SYN is still retransmitted by its timer.
    peer.advance(peer.stack.tcp.config.initialRtoMs);
    expect(wire(peer.take())).toEqual([['S', iss, 0]]);
    peer.inject({ seq: 800, ack: u32(iss + 1), flags: SYN | ACK, mss: 1460 });
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(log.events).toEqual(['connected']);
    closeAndCheck(peer);
  });

  test('SYN_RCVD (passive): an unacceptable ACK gets RST <SEQ=SEG.ACK>, the half-open PCB and the listener remain (lwIP 3.12)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l);
    let accepts = 0;
    raw.tcpAccept(l, () => {
      accepts++;
      return Err.OK;
    });
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    const iss = peer.take()[0]!.seq;
    peer.inject({ seq: 1001, ack: u32(iss + 1111), flags: ACK });
    expect(wire(peer.take())).toEqual([['R', u32(iss + 1111), 0]]);
    peer.inject({ seq: 1001, ack: iss, flags: ACK });
    expect(wire(peer.take())).toEqual([['R', iss, 0]]);
    const conns = [...peer.stack.tcp.connections()];
    expect(conns.map((c) => c.stateName)).toEqual(['SYN_RCVD']);
    expect(l.stateName).toBe('LISTEN');
    expect(accepts).toBe(0);
    peer.inject({ seq: 1001, ack: u32(iss + 1), flags: ACK });
    expect(accepts).toBe(1);
    expect(conns[0]!.stateName).toBe('ESTABLISHED');
    closeAndCheck(peer);
  });
});

describe('segments that match no connection', () => {
  test('closed port: with ACK -> RST <SEQ=SEG.ACK>; without -> RST|ACK <SEQ=0><ACK=SEG.SEQ+SEG.LEN>; never RST for RST (lwIP 3.6)', () => {
    const peer = scriptedPeer();
    const rsts = peer.stack.tcp.counters.outRsts;
    peer.inject({ seq: 12345, ack: 54321, flags: ACK });
    expect(wire(peer.take())).toEqual([['R', 54321, 0]]);
    peer.inject({ seq: 12345, ack: 54321, flags: ACK | PSH, data: payload(10) });
    expect(wire(peer.take())).toEqual([['R', 54321, 0]]);
    peer.inject({ seq: 100, flags: SYN });
    expect(wire(peer.take())).toEqual([['RA', 0, 101]]);
    peer.inject({ seq: 100, flags: FIN | PSH, data: payload(10) });
    expect(wire(peer.take())).toEqual([['RA', 0, 111]]);
    peer.inject({ seq: u32(-5), flags: SYN | FIN, data: payload(10) });
    expect(wire(peer.take())).toEqual([['RA', 0, 7]]);
    peer.inject({ seq: 100, flags: 0 });
    expect(wire(peer.take())).toEqual([['RA', 0, 100]]);
    const r = peer.sent.at(-1)!;
    expect(r.tcp.srcPort).toBe(peer.localPort);
    expect(r.tcp.dstPort).toBe(peer.peerPort);
    expect(r.wnd).toBe(0);
    expect(r.data.length).toBe(0);
    peer.inject({ seq: 100, flags: RST });
    peer.inject({ seq: 100, ack: 5, flags: RST | ACK });
    expect(peer.take()).toEqual([]);
    expect(peer.stack.tcp.counters.outRsts).toBe(rsts + 6);
    assertAllFreed(peer);
  });

  test('a PCB that is only bound (not listening) does not accept: RST', () => {
    const peer = scriptedPeer();
    const b = peer.raw.tcpNew()!;
    peer.raw.tcpBind(b, anyIp(), 80);
    peer.inject({ seq: 100, flags: SYN });
    expect(wire(peer.take())).toEqual([['RA', 0, 101]]);
    peer.raw.tcpClose(b);
    assertAllFreed(peer);
  });

  test('LISTEN: an ACK gets RST <SEQ=SEG.ACK> and the listener stays; RST, FIN and SYN+FIN are dropped silently (lwIP 3.7)', () => {
    const peer = scriptedPeer();
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l);
    let accepts = 0;
    raw.tcpAccept(l, () => {
      accepts++;
      return Err.OK;
    });
    peer.inject({ seq: 12345, ack: 54321, flags: ACK });
    expect(wire(peer.take())).toEqual([['R', 54321, 0]]);
    peer.inject({ seq: 12345, ack: 54321, flags: SYN | ACK });
    expect(wire(peer.take())).toEqual([['R', 54321, 0]]);
    peer.inject({ seq: 12345, flags: RST });
    peer.inject({ seq: 12345, flags: FIN });
    peer.inject({ seq: 12345, flags: SYN | FIN });
    peer.inject({ seq: 12345, flags: PSH, data: payload(5) });
    expect(peer.take()).toEqual([]);
    expect(l.stateName).toBe('LISTEN');
    expect(peer.stack.tcp.pcbCount).toBe(1);
    expect(accepts).toBe(0);
    raw.tcpClose(l);
    assertAllFreed(peer);
  });

  test('listen backlog full, SYN cookies off (lwIP): the SYN is dropped (listenOverflows); accepting frees the slot', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false, synCookies: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l, 1);
    const accepted: TcpPcb[] = [];
    raw.tcpAccept(l, (_a, npcb) => {
      accepted.push(npcb);
      return Err.OK;
    });
    peer.inject({ seq: 1000, flags: SYN, mss: 1460, srcPort: 40000 });
    const sa = peer.take();
    expect(sa.length).toBe(1);
    peer.inject({ seq: 2000, flags: SYN, mss: 1460, srcPort: 40001 });
    expect(peer.take()).toEqual([]);
    expect(peer.stack.tcp.counters.listenOverflows).toBe(1);
    expect(peer.stack.tcp.pcbCount).toBe(2);
    // Completing the first handshake hands it over and frees the slot.
    peer.inject({ seq: 1001, ack: u32(sa[0]!.seq + 1), flags: ACK, srcPort: 40000 });
    expect(accepted.length).toBe(1);
    expect(l.acceptsPending).toBe(0);
    peer.inject({ seq: 2000, flags: SYN, mss: 1460, srcPort: 40001 });
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['SA']);
    expect(peer.stack.tcp.counters.listenOverflows).toBe(1);
    closeAndCheck(peer);
  });

  test('backlog accounting with tcpBacklogDelayed / tcpBacklogAccepted, and a delayed PCB that dies gives its slot back', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l, 1);
    const accepted: TcpPcb[] = [];
    raw.tcpAccept(l, (_a, npcb) => {
      accepted.push(npcb);
      raw.tcpBacklogDelayed(npcb); // the application is not ready for it yet
      return Err.OK;
    });
    const open = (port: number, isn: number): boolean => {
      peer.inject({ seq: isn, flags: SYN, mss: 1460, srcPort: port });
      const sa = peer.take().filter((s) => s.flags & SYN);
      if (sa.length === 0) return false;
      peer.inject({ seq: isn + 1, ack: u32(sa[0]!.seq + 1), flags: ACK, srcPort: port });
      return true;
    };
    expect(open(40000, 1000)).toBe(true);
    expect(accepted.length).toBe(1);
    expect(l.acceptsPending).toBe(1); // delayed: still counted
    expect(open(40001, 2000)).toBe(false);
    expect(peer.stack.tcp.counters.listenOverflows).toBe(1);
    raw.tcpBacklogAccepted(accepted[0]!);
    expect(l.acceptsPending).toBe(0);
    raw.tcpBacklogAccepted(accepted[0]!); // idempotent
    expect(l.acceptsPending).toBe(0);
    expect(open(40001, 2000)).toBe(true);
    expect(l.acceptsPending).toBe(1);
    // The delayed connection is reset by the peer: its slot comes back.
    peer.inject({ seq: 2001, flags: RST, srcPort: 40001 });
    expect(accepted[1]!.freed).toBe(true);
    expect(l.acceptsPending).toBe(0);
    expect(open(40002, 3000)).toBe(true);
    expect(l.acceptsPending).toBe(1);
    raw.tcpAbort(accepted[2]!);
    expect(l.acceptsPending).toBe(0);
    expect(accepted.length).toBe(3);
    closeAndCheck(peer);
  });

  test('accept callback refusing (non-OK) or missing aborts the new connection with a RST', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l);
    raw.tcpAccept(l, () => Err.BUF);
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    const iss = peer.take()[0]!.seq;
    peer.inject({ seq: 1001, ack: u32(iss + 1), flags: ACK });
    expect(wire(peer.take())).toEqual([['RA', u32(iss + 1), 1001]]);
    expect(peer.stack.tcp.pcbCount).toBe(1);
    expect(l.acceptsPending).toBe(0);
    raw.tcpAccept(l, null);
    peer.inject({ seq: 5000, flags: SYN, mss: 1460, srcPort: 40001 });
    const iss2 = peer.take()[0]!.seq;
    peer.inject({ seq: 5001, ack: u32(iss2 + 1), flags: ACK, srcPort: 40001 });
    expect(wire(peer.take())).toEqual([['RA', u32(iss2 + 1), 5001]]);
    expect(peer.stack.tcp.pcbCount).toBe(1);
    raw.tcpClose(l);
    assertAllFreed(peer);
  });

  test('listener closed during a handshake: the completing ACK is refused with a RST, nothing is accepted', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l);
    let accepts = 0;
    raw.tcpAccept(l, () => {
      accepts++;
      return Err.OK;
    });
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    const iss = peer.take()[0]!.seq;
    raw.tcpClose(l);
    expect(peer.take()).toEqual([]);
    expect(peer.stack.tcp.pcbCount).toBe(1); // the half-open connection
    peer.inject({ seq: 1001, ack: u32(iss + 1), flags: ACK });
    expect(accepts).toBe(0);
    expect(wire(peer.take())).toEqual([['RA', u32(iss + 1), 1001]]);
    assertAllFreed(peer);
  });

  test('listener closed during a handshake: a RST for the half-open connection frees it silently', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), 80);
    raw.tcpListen(l);
    raw.tcpAccept(l, () => Err.OK);
    peer.inject({ seq: 1000, flags: SYN, mss: 1460 });
    peer.take();
    raw.tcpClose(l);
    peer.inject({ seq: 1001, flags: RST });
    expect(peer.take()).toEqual([]);
    assertAllFreed(peer);
  });
});

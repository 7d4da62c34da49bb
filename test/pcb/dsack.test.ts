// D-SACK on the receive side (RFC 2883): data that arrives although we
// already hold it -- below RCV.NXT or in the out-of-order queue -- is
// reported as the first SACK block of the very next ACK, which goes out at
// once, and only there. A duplicate of queued data names its containing
// block second. Only with SACK negotiated and TcpConfig.dsack on; counted
// as Linux's nstat does (TcpExtTCPDSACKOldSent / TcpExtTCPDSACKOfoSent).
import { describe, expect, test } from 'vitest';
import { WriteFlag } from '../../src/callbacks/raw.ts';
import { seqAdd, seqDiff } from '../../src/pcb/seq.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import { Stack } from '../../src/stack/stack.ts';
import { ACK, bulkExchange, closeAndCheck, type Conn, flagStr, LWIP_TEST_TCP, openConn, payload, type SentSeg, sha256, simPair } from '../support/tcp.ts';

const MSS = 536;
const DATA = payload(40 * MSS, 7);
const SACK_TCP: TcpConfig = { ...LWIP_TEST_TCP, sack: true };

function open(o: { tcp?: TcpConfig; sackPermitted?: boolean; ts?: boolean; wnd?: number } = {}): Conn {
  return openConn({ tcp: { ...SACK_TCP, ...o.tcp }, sackPermitted: o.sackPermitted ?? true, ...(o.ts ? { ts: true } : {}), ...(o.wnd !== undefined ? { wnd: o.wnd } : {}) });
}

/** The peer's first data byte (RCV.NXT right after the handshake). */
const base = (c: Conn): number => (c.irs + 1) >>> 0;

/** The peer sends DATA[off, off + len) at its place in the stream. */
function send(c: Conn, off: number, len: number, o: { ack?: number; ts?: [number, number]; wnd?: number } = {}): void {
  c.peer.inject({ seq: seqAdd(base(c), off), ack: o.ack ?? seqAdd(c.iss, 1), flags: ACK, data: DATA.subarray(off, off + len), wnd: o.wnd ?? 0xffff, ...(o.ts ? { ts: o.ts } : {}) });
}

/** SACK blocks relative to base. */
function blocks(c: Conn, s: SentSeg): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < s.opts.sackCount; i++) out.push([seqDiff(s.opts.sackBlocks[2 * i]!, base(c)), seqDiff(s.opts.sackBlocks[2 * i + 1]!, base(c))]);
  return out;
}

/** What was sent since the last look: flags, ACK (relative), data length, SACK blocks. */
function sent(c: Conn): [string, number, number, [number, number][]][] {
  return c.peer.take().map((s) => [flagStr(s.flags), seqDiff(s.ack, base(c)), s.data.length, blocks(c, s)]);
}

const counters = (c: Conn): { old: number; ofo: number } => ({ old: c.peer.stack.tcp.counters.dsackOldSent, ofo: c.peer.stack.tcp.counters.dsackOfoSent });

/** Deliver DATA[0, 2 MSS) in order (two full segments: ACKed at once) and clear the wire. */
function deliverTwo(c: Conn, wnd = 0xffff): void {
  send(c, 0, MSS, { wnd });
  send(c, MSS, MSS, { wnd });
  expect(sent(c)).toEqual([['A', 2 * MSS, 0, []]]);
}

describe('D-SACK for data below RCV.NXT', () => {
  test('a copy of delivered data: the ACK goes out at once, its first block exactly the duplicate range; the next ACK has none', () => {
    const c = open();
    deliverTwo(c);
    send(c, 0, MSS); // a spurious retransmission
    expect(sent(c)).toEqual([['A', 2 * MSS, 0, [[0, MSS]]]]);
    expect(counters(c)).toEqual({ old: 1, ofo: 0 });
    send(c, MSS + 100, 200); // part of a segment, repacketized
    expect(sent(c)).toEqual([['A', 2 * MSS, 0, [[MSS + 100, MSS + 300]]]]);
    // Reported once: the following ACK (new data, two segments) carries no D-SACK.
    send(c, 2 * MSS, MSS);
    send(c, 3 * MSS, MSS);
    expect(sent(c)).toEqual([['A', 4 * MSS, 0, []]]);
    expect(counters(c)).toEqual({ old: 2, ofo: 0 });
    expect(c.pcb.dsackPending).toBe(false);
    expect(sha256(c.app.data)).toBe(sha256(DATA.subarray(0, 4 * MSS)));
    closeAndCheck(c.peer);
  });

  test('a segment straddling RCV.NXT: only the part below is reported, the rest is delivered, the ACK is not delayed', () => {
    const c = open();
    deliverTwo(c);
    send(c, 2 * MSS - 100, MSS + 100);
    expect(sent(c)).toEqual([['A', 3 * MSS, 0, [[2 * MSS - 100, 2 * MSS]]]]);
    expect(c.app.log).toEqual(['recv:536', 'recv:536', 'recv:536']);
    expect(sha256(c.app.data)).toBe(sha256(DATA.subarray(0, 3 * MSS)));
    expect(counters(c)).toEqual({ old: 1, ofo: 0 });
    // The next in-order segment is ACKed the usual way (delayed, no D-SACK).
    send(c, 3 * MSS, MSS);
    expect(sent(c)).toEqual([]);
    c.peer.advance(c.peer.stack.tcp.config.delayedAckMs);
    expect(sent(c)).toEqual([['A', 4 * MSS, 0, []]]);
    closeAndCheck(c.peer);
  });

  test('an in-order segment reaching into queued data: the overlap is the D-SACK (below RCV.NXT once delivered)', () => {
    const c = open();
    send(c, MSS, MSS);
    expect(sent(c)).toEqual([['A', 0, 0, [[MSS, 2 * MSS]]]]);
    send(c, 0, MSS + 200);
    expect(sent(c)).toEqual([['A', 2 * MSS, 0, [[MSS, MSS + 200]]]]);
    expect(sha256(c.app.data)).toBe(sha256(DATA.subarray(0, 2 * MSS)));
    expect(counters(c)).toEqual({ old: 1, ofo: 0 });
    closeAndCheck(c.peer);
  });

  test('a retransmitted FIN we already took is D-SACKed as its one sequence number', () => {
    const c = open();
    send(c, 0, 100);
    c.peer.inject({ seq: seqAdd(base(c), 100), ack: seqAdd(c.iss, 1), flags: ACK | 0x01 /* FIN */, wnd: 0xffff });
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    expect(sent(c)).toEqual([['A', 101, 0, []]]);
    c.peer.inject({ seq: seqAdd(base(c), 100), ack: seqAdd(c.iss, 1), flags: ACK | 0x01, wnd: 0xffff });
    expect(sent(c)).toEqual([['A', 101, 0, [[100, 101]]]]);
    closeAndCheck(c.peer);
  });
});

describe('D-SACK for data in the out-of-order queue', () => {
  test('the D-SACK first, then the block holding it, then the other blocks without repeating it', () => {
    const c = open();
    send(c, 2 * MSS, MSS);
    send(c, 3 * MSS, MSS);
    send(c, 6 * MSS, MSS);
    expect(sent(c).at(-1)).toEqual(['A', 0, 0, [[6 * MSS, 7 * MSS], [2 * MSS, 4 * MSS]]]);
    send(c, 2 * MSS + 100, 200); // inside the queued [2, 4) MSS
    expect(sent(c)).toEqual([['A', 0, 0, [[2 * MSS + 100, 2 * MSS + 300], [2 * MSS, 4 * MSS], [6 * MSS, 7 * MSS]]]]);
    expect(counters(c)).toEqual({ old: 0, ofo: 1 });
    // Not repeated: the next out-of-order segment's ACK has the usual blocks.
    send(c, 8 * MSS, MSS);
    expect(sent(c)).toEqual([['A', 0, 0, [[8 * MSS, 9 * MSS], [2 * MSS, 4 * MSS], [6 * MSS, 7 * MSS]]]]);
    // Partly new, partly queued: the new part joins, the D-SACK is the queued part, the (larger) block holding it second.
    send(c, 5 * MSS, MSS + 100);
    expect(sent(c)).toEqual([['A', 0, 0, [[6 * MSS, 6 * MSS + 100], [5 * MSS, 7 * MSS], [2 * MSS, 4 * MSS], [8 * MSS, 9 * MSS]]]]);
    // Covering several queued segments: their contiguous copies make one D-SACK.
    send(c, 5 * MSS, 2 * MSS);
    expect(sent(c)).toEqual([['A', 0, 0, [[5 * MSS, 7 * MSS], [5 * MSS, 7 * MSS], [2 * MSS, 4 * MSS], [8 * MSS, 9 * MSS]]]]);
    expect(counters(c)).toEqual({ old: 0, ofo: 3 });
    // Fill the holes: everything delivered exactly once.
    for (const k of [0, 1, 4, 7]) send(c, k * MSS, MSS);
    expect(sha256(c.app.data)).toBe(sha256(DATA.subarray(0, 9 * MSS)));
    closeAndCheck(c.peer);
  });

  test('with timestamps (3 blocks fit): the D-SACK, the block holding it and one more', () => {
    const c = open({ tcp: { timestamps: true }, ts: true });
    let tsv = 6000;
    for (const k of [2, 4, 6, 8]) send(c, k * MSS, MSS, { ts: [tsv++, 0] });
    c.peer.take();
    send(c, 6 * MSS, MSS, { ts: [tsv++, 0] });
    const [ack] = c.peer.take();
    expect(ack!.opts.hasTimestamp).toBe(true);
    expect(blocks(c, ack!)).toEqual([
      [6 * MSS, 7 * MSS],
      [6 * MSS, 7 * MSS],
      [2 * MSS, 3 * MSS],
    ]);
    closeAndCheck(c.peer);
  });
});

describe('how the D-SACK ACK is sent', () => {
  test('a PAWS-failed copy of delivered data is answered with a D-SACK too (RFC 7323: an old duplicate)', () => {
    const c = open({ tcp: { timestamps: true }, ts: true });
    send(c, 0, MSS, { ts: [6000, 0] });
    send(c, MSS, MSS, { ts: [6001, 0] });
    c.peer.take();
    const paws = c.peer.stack.tcp.counters.pawsDrops;
    send(c, 0, MSS, { ts: [5999, 0] });
    expect(c.peer.stack.tcp.counters.pawsDrops).toBe(paws + 1);
    expect(sent(c)).toEqual([['A', 2 * MSS, 0, [[0, MSS]]]]);
    closeAndCheck(c.peer);
  });

  test('beside data when it fits: data held back by Nagle and released by the duplicate carries the D-SACK, no extra ACK', () => {
    const c = open();
    deliverTwo(c);
    const raw = c.peer.raw;
    expect(raw.tcpWrite(c.pcb, DATA.subarray(0, MSS + 100), WriteFlag.COPY)).toBe(0);
    raw.tcpOutput(c.pcb);
    expect(sent(c)).toEqual([['A', 2 * MSS, MSS, []]]); // the 100-byte rest waits (Nagle)
    // The straddling duplicate acknowledges our segment: the rest goes, with the D-SACK beside its data.
    send(c, 2 * MSS - 100, MSS + 100, { ack: seqAdd(c.iss, 1 + MSS) });
    expect(sent(c)).toEqual([['PA', 3 * MSS, 100, [[2 * MSS - 100, 2 * MSS]]]]);
    expect(counters(c)).toEqual({ old: 1, ofo: 0 });
    closeAndCheck(c.peer);
  });

  test('no room beside a full-sized segment: that goes without, a bare ACK right after carries the D-SACK', () => {
    const c = open({ wnd: 0 });
    deliverTwo(c, 0);
    const raw = c.peer.raw;
    expect(raw.tcpWrite(c.pcb, DATA.subarray(0, MSS), WriteFlag.COPY)).toBe(0);
    raw.tcpOutput(c.pcb);
    expect(sent(c)).toEqual([]); // the peer's window is shut
    // The straddling duplicate opens the window.
    send(c, 2 * MSS - 100, MSS + 100, { wnd: 0xffff });
    expect(sent(c)).toEqual([
      ['PA', 3 * MSS, MSS, []],
      ['A', 3 * MSS, 0, [[2 * MSS - 100, 2 * MSS]]],
    ]);
    expect(counters(c)).toEqual({ old: 1, ofo: 0 });
    closeAndCheck(c.peer);
  });
});

describe('no D-SACK when it is off', () => {
  for (const [name, o] of [
    ['SACK not negotiated', { sackPermitted: false }],
    ['TcpConfig.dsack false', { tcp: { dsack: false } }],
  ] as const) {
    test(`${name}: duplicates draw the ACKs they drew before, without a D-SACK, and the straddling one waits for the delayed ACK`, () => {
      const c = open(o);
      const sack = !('sackPermitted' in o);
      deliverTwo(c);
      send(c, 0, MSS); // unacceptable: always answered (RFC 9293)
      expect(sent(c)).toEqual([['A', 2 * MSS, 0, []]]);
      send(c, 2 * MSS - 100, MSS + 100); // straddling: an ordinary in-order segment
      expect(sent(c)).toEqual([]);
      c.peer.advance(c.peer.stack.tcp.config.delayedAckMs);
      expect(sent(c)).toEqual([['A', 3 * MSS, 0, []]]);
      send(c, 5 * MSS, MSS);
      send(c, 5 * MSS, MSS); // a copy of queued data: the usual out-of-order ACK
      expect(sent(c)).toEqual([
        ['A', 3 * MSS, 0, sack ? [[5 * MSS, 6 * MSS]] : []],
        ['A', 3 * MSS, 0, sack ? [[5 * MSS, 6 * MSS]] : []],
      ]);
      expect(counters(c)).toEqual({ old: 0, ofo: 0 });
      expect(c.pcb.dsackPending).toBe(false);
      closeAndCheck(c.peer);
    });
  }

  test('the knob is validated', () => {
    expect(() => new Stack({ tcp: { dsack: 'yes' as unknown as boolean } })).toThrow(RangeError);
  });
});

describe('duplicates are no ACK-storm vector', () => {
  test('each duplicate draws exactly one ACK (no amplification); bare out-of-window segments stay rate-limited and get no D-SACK; data beyond the window gets no D-SACK', () => {
    const c = open();
    deliverTwo(c);
    const tcp = c.peer.stack.tcp;
    for (let i = 0; i < 20; i++) send(c, 0, MSS);
    const dups = sent(c);
    expect(dups).toHaveLength(20);
    for (const d of dups) expect(d).toEqual(['A', 2 * MSS, 0, [[0, MSS]]]);
    expect(counters(c)).toEqual({ old: 20, ofo: 0 });
    // Bare segments below the window occupy no sequence space: nothing is
    // duplicated, and the invalid-ACK rate limit holds (one per interval).
    const skipped = tcp.counters.invalidAcksSkipped;
    for (let i = 0; i < 50; i++) c.peer.inject({ seq: seqAdd(base(c), -1000), ack: seqAdd(c.iss, 1), flags: ACK, wnd: 0xffff });
    expect(sent(c)).toEqual([['A', 2 * MSS, 0, []]]);
    expect(tcp.counters.invalidAcksSkipped).toBe(skipped + 49);
    // Data beyond the right edge is not something we hold: ACKed as before, no D-SACK.
    send(c, 30 * MSS, 10);
    expect(sent(c)).toEqual([['A', 2 * MSS, 0, []]]);
    expect(counters(c)).toEqual({ old: 20, ofo: 0 });
    closeAndCheck(c.peer);
  });

  test('two stacks over a link that duplicates every frame: the transfer completes, the receiver D-SACKs, and answers no more segments than it gets', () => {
    const pair = simPair({ seed: 3, link: { duplicate: 1 } });
    const a = payload(200_000, 5);
    const { cli, srv, clientPcb } = bulkExchange(pair, a, new Uint8Array(0));
    expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 120_000)).toBe(true);
    expect(sha256(srv.bytes)).toBe(sha256(a));
    expect(pair.sim.runUntilIdle()).toBe(true);
    expect(clientPcb.freed).toBe(true);
    const st = pair.server.tcp.counters;
    expect(st.dsackOldSent).toBeGreaterThan(0);
    expect(st.outSegs).toBeLessThanOrEqual(st.inSegs);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });
});

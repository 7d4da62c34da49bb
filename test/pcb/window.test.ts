// Receive-window management (lwIP tcp_recved / tcp_update_rcv_ann_wnd,
// RFC 9293 §3.8.6.2.2 receiver SWS avoidance, RFC 7323 §2 window scaling):
// what the window field of our segments says as data arrives and as the
// application takes it with tcpRecved.
import { describe, expect, test } from 'vitest';
import { seqAdd, seqDiff } from '../../src/pcb/seq.ts';
import { ACK, type Conn, Err, flagStr, LWIP_TEST_TCP, openConn, payload, type SentSeg, sha256 } from '../support/tcp.ts';

const MSS = 536;
const WND = 20 * MSS;
/** lwIP TCP_WND_UPDATE_THRESHOLD: min(TCP_WND / 4, 4 * MSS). */
const UPDATE_THRESHOLD = Math.min(WND / 4, 4 * MSS);
/** Receiver SWS avoidance: the right edge moves by at least min(WND / 2, MSS). */
const SWS = Math.min(WND / 2, MSS);

function send(c: Conn, off: number, data: Uint8Array, flags: number = ACK, ack?: number): void {
  c.peer.inject({ seq: seqAdd(c.irs + 1, off), ack: ack ?? seqAdd(c.iss, 1), flags, data, wnd: 0xffff });
}

/** Fill `n` bytes from `off` in MSS-sized segments. */
function fill(c: Conn, off: number, n: number, data: Uint8Array): number {
  for (let end = off + n; off < end; ) {
    const k = Math.min(MSS, end - off);
    send(c, off, data.subarray(off, off + k));
    off += k;
  }
  return off;
}

/** Right edge announced by a segment, relative to the peer's first data byte. */
function edge(c: Conn, s: SentSeg, scale = 0): number {
  return seqDiff(seqAdd(s.ack, s.wnd << scale), c.irs + 1);
}

function wire(c: Conn, segs: SentSeg[]): string[] {
  return segs.map((s) => `${flagStr(s.flags)} ack=${seqDiff(s.ack, c.irs + 1)} wnd=${s.wnd}`);
}

function finish(c: Conn): void {
  if (!c.pcb.freed) c.peer.raw.tcpAbort(c.pcb);
  c.peer.stack.pool.assertEmpty();
}

describe('receive window', () => {
  test('rcvWnd shrinks as data arrives (the window field with it) and reopens on tcpRecved', () => {
    const c = openConn();
    const data = payload(4 * MSS, 1);
    fill(c, 0, 2 * MSS, data);
    expect(c.pcb.rcvWnd).toBe(WND - 2 * MSS);
    expect(wire(c, c.peer.take())).toEqual([`A ack=${2 * MSS} wnd=${WND - 2 * MSS}`]);
    fill(c, 2 * MSS, 2 * MSS, data);
    expect(c.pcb.rcvWnd).toBe(WND - 4 * MSS);
    expect(wire(c, c.peer.take())).toEqual([`A ack=${4 * MSS} wnd=${WND - 4 * MSS}`]);
    // The application takes it all: the window is whole again and announced at once (4 MSS >= threshold).
    c.peer.raw.tcpRecved(c.pcb, 4 * MSS);
    expect(c.pcb.rcvWnd).toBe(WND);
    expect(wire(c, c.peer.take())).toEqual([`A ack=${4 * MSS} wnd=${WND}`]);
    // tcpRecved never opens beyond the configured window.
    c.peer.raw.tcpRecved(c.pcb, 1000);
    expect(c.pcb.rcvWnd).toBe(WND);
    expect(c.peer.take()).toEqual([]);
    finish(c);
  });

  test(`a window update goes out once the right edge can move by the threshold min(WND/4, 4*MSS) = ${UPDATE_THRESHOLD}; below it, nothing is sent`, () => {
    const c = openConn();
    const data = payload(8 * MSS, 2);
    fill(c, 0, 8 * MSS, data);
    c.peer.advance(100);
    const last = c.peer.take().at(-1)!;
    expect(wire(c, [last])).toEqual([`A ack=${8 * MSS} wnd=${WND - 8 * MSS}`]);
    c.peer.raw.tcpRecved(c.pcb, UPDATE_THRESHOLD - 1);
    expect(c.peer.take()).toEqual([]);
    c.peer.raw.tcpRecved(c.pcb, 1);
    const upd = c.peer.take();
    expect(wire(c, upd)).toEqual([`A ack=${8 * MSS} wnd=${WND - 8 * MSS + UPDATE_THRESHOLD}`]);
    expect(edge(c, upd[0]!)).toBe(WND + UPDATE_THRESHOLD);
    finish(c);
  });

  test('an opening below the update threshold rides on the next segment we send anyway', () => {
    const c = openConn();
    fill(c, 0, 4 * MSS, payload(4 * MSS, 3));
    c.peer.take();
    c.peer.raw.tcpRecved(c.pcb, 2 * MSS); // >= SWS, < threshold
    expect(c.peer.take()).toEqual([]);
    expect(c.peer.raw.tcpWrite(c.pcb, payload(10, 4))).toBe(Err.OK);
    c.peer.raw.tcpOutput(c.pcb);
    const out = c.peer.take();
    expect(out.map((s) => s.data.length)).toEqual([10]);
    expect(out[0]!.wnd).toBe(WND - 2 * MSS);
    finish(c);
  });

  test('receiver SWS avoidance: small openings are not announced and the announced right edge never moves left', () => {
    const c = openConn();
    const data = payload(3 * WND, 5);
    const edges: number[] = [];
    let announced = WND; // the SYN-ACK's window: the peer may send up to here
    let off = 0;
    let probes = 0;
    // A trickle: the peer sends up to 300 bytes within the announced window,
    // the application takes 100 bytes after each segment.
    for (let i = 0; i < 300; i++) {
      const n = Math.min(300, announced - off);
      if (n > 0) {
        send(c, off, data.subarray(off, off + n));
        off += n;
      } else {
        // Blocked by a zero window: probe (Linux style, SEQ = RCV.NXT - 1, no data).
        send(c, off - 1, new Uint8Array(0));
        probes++;
      }
      c.peer.raw.tcpRecved(c.pcb, 100);
      c.peer.advance(50);
      for (const s of c.peer.take()) {
        const e = edge(c, s);
        edges.push(e);
        announced = Math.max(announced, e);
      }
    }
    expect(edges.length).toBeGreaterThan(50);
    expect(probes).toBeGreaterThan(0);
    let moves = 0;
    for (let i = 1; i < edges.length; i++) {
      // Never to the left ...
      expect(edges[i]!).toBeGreaterThanOrEqual(edges[i - 1]!);
      // ... and when it moves right, by at least min(WND/2, MSS).
      if (edges[i]! > edges[i - 1]!) {
        moves++;
        expect(edges[i]! - edges[i - 1]!).toBeGreaterThanOrEqual(SWS);
      }
    }
    expect(moves).toBeGreaterThan(5);
    expect(off).toBeGreaterThan(WND);
    expect(sha256(c.app.data)).toBe(sha256(data.subarray(0, off)));
    finish(c);
  });

  test('an application that never calls tcpRecved: the peer sees the window close to 0, probes get 0, then tcpRecved opens it with an update', () => {
    const c = openConn();
    const data = payload(WND + 2 * MSS, 6);
    fill(c, 0, WND, data);
    c.peer.advance(100);
    const acks = c.peer.take();
    expect(wire(c, acks.slice(-1))).toEqual([`A ack=${WND} wnd=0`]);
    // The peer's window never went up meanwhile, and it shrank with the data.
    for (let i = 1; i < acks.length; i++) expect(acks[i]!.wnd).toBeLessThan(acks[i - 1]!.wnd);
    // A zero-window probe (one byte at RCV.NXT, as lwIP sends them): not taken, answered with 0.
    send(c, WND, data.subarray(WND, WND + 1));
    expect(wire(c, c.peer.take())).toEqual([`A ack=${WND} wnd=0`]);
    expect(c.app.data.length).toBe(WND);
    // The application catches up.
    c.peer.raw.tcpRecved(c.pcb, WND);
    expect(wire(c, c.peer.take())).toEqual([`A ack=${WND} wnd=${WND}`]);
    fill(c, WND, 2 * MSS, data);
    expect(sha256(c.app.data)).toBe(sha256(data));
    finish(c);
  });

  test('reopening from a zero window: an opening of at least min(WND/2, MSS) is announced at once even below the update threshold; less is not', () => {
    const c = openConn();
    fill(c, 0, WND, payload(WND, 7));
    c.peer.advance(100);
    expect(wire(c, c.peer.take()).at(-1)).toBe(`A ack=${WND} wnd=0`);
    // Too small to announce (receiver SWS avoidance).
    c.peer.raw.tcpRecved(c.pcb, SWS - 1);
    expect(c.peer.take()).toEqual([]);
    // Now the window can open by one MSS: the peer, stuck on a zero window, hears at once.
    c.peer.raw.tcpRecved(c.pcb, 1);
    expect(wire(c, c.peer.take())).toEqual([`A ack=${WND} wnd=${SWS}`]);
    finish(c);
  });

  test('window scaling: the field is the window shifted by our scale; the SYN-ACK is unscaled (RFC 7323 §2.2)', () => {
    const rcvWnd = 200_000;
    const peer = openConn({ tcp: { ...LWIP_TEST_TCP, windowScaling: true, rcvWnd }, wscale: 7 });
    const c = peer;
    const scale = 2; // smallest shift that fits 200000 into 16 bits
    expect(c.pcb.rcvScale).toBe(scale);
    const synack = c.peer.sent.find((s) => s.flags & 0x02)!;
    expect(synack.opts.wscale).toBe(scale);
    expect(synack.wnd).toBe(0xffff);
    const data = payload(7 * MSS + 3, 8);
    const edges: number[] = [];
    let off = 0;
    for (const n of [MSS, MSS, 1, MSS, 7, MSS, MSS, MSS, MSS - 5]) {
      send(c, off, data.subarray(off, off + n));
      off += n;
      c.peer.advance(50);
      for (const s of c.peer.take()) {
        edges.push(edge(c, s, scale));
        // The field is what is free, shifted right by our scale (rounded down).
        const free = rcvWnd - seqDiff(s.ack, c.irs + 1);
        expect(s.wnd).toBe(free >> scale);
      }
    }
    // Rounding down to the scale unit can pull the edge back by less than one
    // unit: RFC 7323 Appendix F accepts that ("window retraction"; senders
    // must tolerate it). Never by a whole unit or more.
    for (let i = 1; i < edges.length; i++) expect(edges[i - 1]! - edges[i]!).toBeLessThan(1 << scale);
    expect(edges.at(-1)).toBeLessThanOrEqual(rcvWnd);
    // tcpRecved reopens in scaled units too.
    c.peer.raw.tcpRecved(c.pcb, off);
    const upd = c.peer.take();
    expect(upd.length).toBe(1);
    expect(upd[0]!.wnd).toBe(rcvWnd >> scale);
    finish(c);
  });

  test('without window scaling the window field is capped at 65535 (and the window with it)', () => {
    const c = openConn({ tcp: { ...LWIP_TEST_TCP, windowScaling: false, rcvWnd: 100_000 } });
    expect(c.pcb.rcvBufSize).toBe(0xffff);
    send(c, 0, payload(100, 9));
    c.peer.advance(100);
    expect(c.peer.take().map((s) => s.wnd)).toEqual([0xffff - 100]);
    finish(c);
  });
});

describe('send window (SND.WL1/WL2)', () => {
  test('an out-of-order segment does not lock the window: the retransmission that fills the hole below it, with a smaller window, still updates it', () => {
    const c = openConn({ tcp: { ...LWIP_TEST_TCP, sack: true }, sackPermitted: true });
    const data = payload(3 * MSS, 5);
    const ack = seqAdd(c.iss, 1);
    const seg = (off: number, wnd: number): void =>
      c.peer.inject({ seq: seqAdd(c.irs + 1, off), ack, flags: ACK, data: data.subarray(off, off + MSS), wnd });
    // Segments 1 and 2 arrive before 0 (which was lost): the peer's window is still 8000 then.
    seg(MSS, 8000);
    seg(2 * MSS, 8000);
    expect(c.pcb.sndWnd).toBe(8000);
    // Its application stopped reading meanwhile: the retransmission of 0 says 1000.
    seg(0, 1000);
    expect(c.pcb.sndWnd).toBe(1000);
    expect(sha256(c.app.data)).toBe(sha256(data));
    // An older duplicate with a stale window changes nothing.
    seg(0, 9000);
    expect(c.pcb.sndWnd).toBe(1000);
    c.peer.raw.tcpAbort(c.pcb);
    c.peer.stack.pool.assertEmpty();
  });
});

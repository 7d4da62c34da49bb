// Receive path of the TCP engine against a scripted peer: in-order data,
// trimming at both window edges, duplicates, zero window, FIN handling, and
// lwIP's test_tcp.c receive-side scenarios (docs/research/lwip-tcp-tests.md
// §1.3-1.7) restated in behaviour terms. Config as lwIP's unit tests:
// MSS 536, TCP_WND = 20 MSS = 10720, no options (LWIP_TEST_TCP).
import { describe, expect, test } from 'vitest';
import { PbufType } from '../../src/pbuf/pbuf.ts';
import { PbufLayer } from '../../src/pbuf/pool.ts';
import { seqAdd } from '../../src/pcb/seq.ts';
import { ACK, type Conn, Err, FIN, flagStr, LWIP_TEST_TCP, openConn, payload, PSH, RST, type SentSeg, scriptedPeer, sha256, SYN, tcpPacket } from '../support/tcp.ts';
import { anyIp, ipHdrLen, isV6, peerIp } from '../support/family.ts';
import { ipv6PseudoHeaderSum } from '../../src/wire/checksum6.ts';

const WND = 10720;
const MSS = 536;

/** Segment summaries: flags, ack relative to the peer's first data byte, window, data length. */
function wire(c: Conn, segs: SentSeg[]): string[] {
  const base = c.irs + 1;
  return segs.map((s) => `${flagStr(s.flags)} ack=${(s.ack - base) | 0} wnd=${s.wnd} len=${s.data.length}`);
}

/** Inject data from the peer at offset `off` from its first data byte, acking our SYN. */
function send(c: Conn, off: number, data: Uint8Array, flags: number = ACK, extra: { ack?: number; wnd?: number } = {}): void {
  c.peer.inject({ seq: seqAdd(c.irs + 1, off), ack: extra.ack ?? seqAdd(c.iss, 1), flags, data, wnd: extra.wnd ?? 0xffff });
}

function finish(c: Conn): void {
  if (!c.pcb.freed) c.peer.raw.tcpAbort(c.pcb);
  c.peer.stack.pool.assertEmpty();
}

describe('in-order receive', () => {
  test('each in-order segment is delivered in its own recv call with exactly its bytes; ACKs track RCV.NXT', () => {
    const c = openConn();
    const data = payload(3 * MSS + 100, 7);
    let off = 0;
    for (const n of [MSS, MSS, MSS, 100]) {
      send(c, off, data.subarray(off, off + n), ACK | PSH);
      off += n;
    }
    expect(c.app.log).toEqual([`recv:${MSS}`, `recv:${MSS}`, `recv:${MSS}`, 'recv:100']);
    expect(sha256(c.app.data)).toBe(sha256(data));
    expect(c.pcb.counters.bytesReceived).toBe(data.length);
    // The ACK clock (lwIP): every second segment is ACKed at once (RFC 9293
    // §3.8.6.3 asks for at least every second full-sized one).
    const acks = c.peer.take();
    expect(wire(c, acks)).toEqual([`A ack=${2 * MSS} wnd=${WND - 2 * MSS} len=0`, `A ack=${data.length} wnd=${WND - data.length} len=0`]);
    // A single segment waits for the delayed-ACK timer (40 ms).
    send(c, off, data.subarray(0, 10));
    c.peer.advance(39);
    expect(c.peer.take()).toEqual([]);
    c.peer.advance(1);
    expect(wire(c, c.peer.take())).toEqual([`A ack=${data.length + 10} wnd=${WND - data.length - 10} len=0`]);
    expect(c.pcb.stateName).toBe('ESTABLISHED');
    finish(c);
  });

  test('lwIP test_tcp_recv_inseq: 4 bytes delivered once; our difference: the segment must carry ACK (RFC 9293 §3.10.7.4 "if the ACK bit is off drop the segment")', () => {
    const c = openConn();
    // lwIP delivers text from a segment without the ACK bit; RFC 9293 says drop it. We follow the RFC.
    send(c, 0, new Uint8Array([1, 2, 3, 4]), 0);
    expect(c.app.log).toEqual([]);
    expect(c.peer.take()).toEqual([]);
    expect(c.pcb.rcvNxt).toBe(c.irs + 1);
    // The same segment with ACK: delivered exactly once.
    send(c, 0, new Uint8Array([1, 2, 3, 4]));
    expect(c.app.log).toEqual(['recv:4']);
    expect([...c.app.data]).toEqual([1, 2, 3, 4]);
    expect(c.app.errs).toEqual([]);
    expect(c.app.finCalls).toBe(0);
    expect(c.pcb.freed).toBe(false);
    finish(c);
  });

  test('lwIP test_tcp_recv_inseq_trim: a pbuf chain whose first bytes (across a piece boundary) are old delivers only the new tail, once', () => {
    // Small pool buffers so the segment arrives as a chain of several pieces.
    const c = openConn({ stack: { pool: { trackLive: true, poolBufSize: 256 } } });
    const len = 2 * 256 + 100;
    const data = payload(len, 3);
    // Its last 40 bytes are new: seq starts len - 40 before RCV.NXT (so below the peer's ISN + 1).
    const bytes = tcpPacket({ srcPort: c.peer.peerPort, dstPort: c.peer.localPort, seq: seqAdd(c.irs + 1, -(len - 40)), ack: seqAdd(c.iss, 1), flags: ACK, data });
    const stack = c.peer.stack;
    const p = stack.pool.alloc(PbufLayer.RAW, bytes.length, PbufType.POOL)!;
    p.take(bytes);
    expect(p.clen()).toBeGreaterThanOrEqual(3);
    stack.input(p, stack.netifs[1]!);
    expect(c.app.log).toEqual(['recv:40']);
    // Strengthened over lwIP (all zeros there): exactly the LAST 40 bytes.
    expect(sha256(c.app.data)).toBe(sha256(data.subarray(len - 40)));
    expect(c.app.errs).toEqual([]);
    expect(c.app.finCalls).toBe(0);
    finish(c);
  });

  test('left edge: a segment partly below RCV.NXT is trimmed; only the new bytes are delivered and ACKed', () => {
    const c = openConn();
    const data = payload(1000, 9);
    send(c, 0, data.subarray(0, 300));
    // Retransmission overlapping 200 old bytes plus 150 new ones.
    send(c, 100, data.subarray(100, 450));
    expect(c.app.log).toEqual(['recv:300', 'recv:150']);
    expect(sha256(c.app.data)).toBe(sha256(data.subarray(0, 450)));
    expect(c.pcb.rcvNxt).toBe(seqAdd(c.irs + 1, 450));
    // Two segments since the last ACK: the second owes an immediate one.
    expect(wire(c, c.peer.take())).toEqual([`A ack=450 wnd=${WND - 450} len=0`]);
    finish(c);
  });

  test('a fully old duplicate is not delivered again and is re-ACKed at once (RFC 9293 §3.10.7.4)', () => {
    const c = openConn();
    const data = payload(200, 2);
    send(c, 0, data);
    c.peer.advance(100); // the delayed ACK for it goes out
    expect(wire(c, c.peer.take())).toEqual([`A ack=200 wnd=${WND - 200} len=0`]);
    send(c, 0, data); // duplicate
    send(c, 50, data.subarray(50, 120)); // duplicate from the middle
    expect(c.app.log).toEqual(['recv:200']);
    expect(wire(c, c.peer.take())).toEqual([`A ack=200 wnd=${WND - 200} len=0`, `A ack=200 wnd=${WND - 200} len=0`]);
    finish(c);
  });

  test('an old duplicate of data+FIN after the FIN was taken is ACKed, no second EOF', () => {
    const c = openConn();
    send(c, 0, payload(10), ACK | FIN);
    expect(c.app.log).toEqual(['recv:10', 'fin']);
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    expect(wire(c, c.peer.take())).toEqual([`A ack=11 wnd=${WND - 10 - 1} len=0`]);
    send(c, 0, payload(10), ACK | FIN);
    expect(c.app.log).toEqual(['recv:10', 'fin']);
    expect(wire(c, c.peer.take())).toEqual([`A ack=11 wnd=${WND - 11} len=0`]);
    finish(c);
  });

  test('data beyond the right window edge is cut off; the peer has to send it again', () => {
    const c = openConn();
    const data = payload(WND + 600, 4);
    // Fill all but 100 bytes of the window (the app never calls tcpRecved, like lwIP's test callback).
    let off = 0;
    while (off < WND - 100) {
      const n = Math.min(MSS, WND - 100 - off);
      send(c, off, data.subarray(off, off + n));
      off += n;
    }
    c.peer.take();
    // A full segment of which only 100 bytes fit.
    send(c, off, data.subarray(off, off + MSS));
    expect(c.app.events.at(-1)).toMatchObject({ t: 'recv', len: 100 });
    expect(c.pcb.rcvNxt).toBe(seqAdd(c.irs + 1, WND));
    expect(sha256(c.app.data)).toBe(sha256(data.subarray(0, WND)));
    // The ACK shows the closed window.
    c.peer.advance(100);
    const acks = c.peer.take();
    expect(acks.length).toBeGreaterThan(0);
    expect(wire(c, acks.slice(-1))).toEqual([`A ack=${WND} wnd=0 len=0`]);
    finish(c);
  });

  test('a FIN beyond the window edge is not taken', () => {
    const c = openConn();
    const data = payload(WND + 1, 5);
    let off = 0;
    while (off < WND - 10) {
      const n = Math.min(MSS, WND - 10 - off);
      send(c, off, data.subarray(off, off + n));
      off += n;
    }
    // 10 bytes fit, FIN would be the 12th sequence number: data taken, FIN dropped.
    send(c, off, data.subarray(off, off + 11), ACK | FIN);
    expect(c.app.finCalls).toBe(0);
    expect(c.pcb.stateName).toBe('ESTABLISHED');
    expect(c.pcb.rcvNxt).toBe(seqAdd(c.irs + 1, WND));
    finish(c);
  });

  test('zero window: an in-sequence data segment is not accepted but its ACK is processed (RFC 9293 "special allowance")', () => {
    const c = openConn();
    // Give the peer something to acknowledge.
    const ours = payload(300, 8);
    expect(c.peer.raw.tcpWrite(c.pcb, ours)).toBe(Err.OK);
    c.peer.raw.tcpOutput(c.pcb);
    expect(c.peer.take().map((s) => s.data.length)).toEqual([300]);
    // Fill the window without acking our data.
    const data = payload(WND + MSS, 6);
    for (let off = 0; off < WND; off += MSS) send(c, off, data.subarray(off, Math.min(off + MSS, WND)));
    expect(c.pcb.rcvWnd).toBe(0);
    c.peer.advance(100);
    expect(wire(c, c.peer.take()).at(-1)).toBe(`A ack=${WND} wnd=0 len=0`);
    const before = c.app.recvCalls;
    // More data at RCV.NXT that also acknowledges our 300 bytes.
    send(c, WND, data.subarray(WND, WND + 100), ACK, { ack: seqAdd(c.iss, 301) });
    expect(c.app.recvCalls).toBe(before);
    expect(c.app.log.at(-1)).toBe('sent:300');
    expect(c.pcb.sndUna).toBe(seqAdd(c.iss, 301));
    // Unacceptable data is answered with an ACK at once (window still 0).
    expect(wire(c, c.peer.take())).toEqual([`A ack=${WND} wnd=0 len=0`]);
    expect(sha256(c.app.data)).toBe(sha256(data.subarray(0, WND)));
    finish(c);
  });

  test('zero window: a zero-length probe at RCV.NXT is answered with the (zero) window', () => {
    const c = openConn();
    const data = payload(WND, 6);
    for (let off = 0; off < WND; off += MSS) send(c, off, data.subarray(off, Math.min(off + MSS, WND)));
    c.peer.advance(100);
    c.peer.take();
    // A Linux-style probe (SEQ = RCV.NXT - 1, no data) and an lwIP-style one (1 byte at RCV.NXT).
    send(c, WND - 1, new Uint8Array(0));
    send(c, WND, new Uint8Array([0xfe]));
    expect(wire(c, c.peer.take())).toEqual([`A ack=${WND} wnd=0 len=0`, `A ack=${WND} wnd=0 len=0`]);
    expect(c.app.recvCalls).toBe(Math.ceil(WND / MSS));
    finish(c);
  });
});

describe('segments that never reach a PCB', () => {
  test('lwIP test_tcp_listen_passive_open: a SYN is answered at once; the same SYN cut 2 bytes short (18-byte header) is dropped before lookup', () => {
    const peer = scriptedPeer({ tcp: LWIP_TEST_TCP });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, anyIp(), peer.localPort);
    raw.tcpListen(l);
    raw.tcpAccept(l, () => Err.OK);
    const syn = { seq: 12345, ack: 54321, flags: SYN };
    peer.inject(syn);
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['SA']);
    const bytes = tcpPacket({ srcPort: peer.peerPort, dstPort: peer.localPort, ...syn });
    const short = bytes.slice(0, bytes.length - 2);
    if (isV6()) {
      short[5] = short.length - 40; // IPv6 payload length to match (no header checksum)
    } else {
      short[3] = short.length; // IP total length to match (checksum of IP header recomputed below)
      short[10] = 0;
      short[11] = 0;
      let sum = 0;
      for (let i = 0; i < 20; i += 2) sum += (short[i]! << 8) | short[i + 1]!;
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      short[10] = (~sum >> 8) & 0xff;
      short[11] = ~sum & 0xff;
    }
    const lenerr = peer.stack.stats.tcp.lenerr;
    peer.stack.input(peer.stack.pool.fromBytes(short)!, peer.stack.netifs[1]!);
    expect(peer.stack.stats.tcp.lenerr).toBe(lenerr + 1);
    // Had it been processed it would have matched the SYN_RCVD PCB as a retransmitted SYN.
    expect(peer.take()).toEqual([]);
    for (const p of [...peer.stack.tcp.connections()]) raw.tcpAbort(p);
    raw.tcpClose(l);
    peer.stack.pool.assertEmpty();
  });
});

describe('FIN and close on the receive side', () => {
  test('data + FIN in one segment: recv(data) then recv(null), CLOSE_WAIT, FIN acked at once', () => {
    const c = openConn();
    send(c, 0, payload(20), ACK | FIN);
    expect(c.app.events.map((e) => e.t)).toEqual(['recv', 'fin']);
    expect(c.app.events.map((e) => ('state' in e ? e.state : ''))).toEqual(['CLOSE_WAIT', 'CLOSE_WAIT']);
    expect(wire(c, c.peer.take())).toEqual([`A ack=21 wnd=${WND - 21} len=0`]);
    finish(c);
  });

  test('data arriving after the FIN (CLOSE_WAIT) is ignored: no recv, no second EOF', () => {
    const c = openConn();
    send(c, 0, payload(5), ACK | FIN);
    c.peer.take();
    send(c, 6, payload(5, 2));
    send(c, 6, new Uint8Array(0), ACK | FIN);
    expect(c.app.log).toEqual(['recv:5', 'fin']);
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    finish(c);
  });

  test('lwIP test_tcp_passive_close: tcpClose inside recv(null) with the byte not recved sends RST and frees the PCB after input, no err callback', () => {
    const c = openConn();
    const raw = c.peer.raw;
    const closes: number[] = [];
    c.app.recvHook = (pcb, p) => {
      if (p !== null) return undefined;
      c.app.take(pcb, p);
      closes.push(raw.tcpClose(pcb));
      // Still usable until the callback returns? The PCB may already be gone: we only check afterwards.
      return Err.OK;
    };
    // lwIP sends this without ACK; we need the ACK bit (see test above).
    send(c, 0, new Uint8Array([0x0f]), ACK | FIN);
    expect(c.app.log).toEqual(['recv:1', 'fin']);
    expect(closes).toEqual([Err.OK]);
    const out = c.peer.take();
    expect(out.map((s) => flagStr(s.flags))).toEqual(['RA']);
    expect(out[0]!.seq).toBe(seqAdd(c.iss, 1));
    expect(out[0]!.ack).toBe(seqAdd(c.irs, 3)); // the byte and the FIN
    expect(c.pcb.freed).toBe(true);
    expect(c.app.errs).toEqual([]);
    expect(c.peer.stack.tcp.pcbCount).toBe(1); // the listener
    finish(c);
  });

  test('companion: recved first, then tcpClose inside recv(null) sends FIN (LAST_ACK), and the final ACK frees the PCB quietly', () => {
    const c = openConn({ recved: true });
    const raw = c.peer.raw;
    c.app.recvHook = (pcb, p) => {
      if (p !== null) return undefined;
      c.app.take(pcb, p);
      expect(raw.tcpClose(pcb)).toBe(Err.OK);
      return Err.OK;
    };
    send(c, 0, new Uint8Array([0x0f]), ACK | FIN);
    expect(c.app.log).toEqual(['recv:1', 'fin']);
    const out = c.peer.take();
    // One segment: our FIN carrying the ACK of theirs.
    expect(out.map((s) => flagStr(s.flags))).toEqual(['FA']);
    expect(out[0]!.ack).toBe(seqAdd(c.irs, 3));
    expect(c.pcb.stateName).toBe('LAST_ACK');
    send(c, 2, new Uint8Array(0), ACK, { ack: seqAdd(c.iss, 2) });
    expect(c.pcb.freed).toBe(true);
    expect(c.app.errs).toEqual([]); // closed by the application: no ERR_CLSD
    finish(c);
  });

  test('lwIP test_tcp_malformed_header: data offset beyond the segment (FIN|ACK + reserved bits) is dropped without acting on the FIN', () => {
    const c = openConn();
    const bytes = tcpPacket({ srcPort: c.peer.peerPort, dstPort: c.peer.localPort, seq: c.irs + 1, ack: seqAdd(c.iss, 1), flags: ACK | FIN, data: new Uint8Array([1, 2, 3, 4]) });
    // The TCP header starts after the IP header: data offset 15 words (60 bytes > 24), reserved bits set.
    const h = ipHdrLen();
    bytes[h + 12] = (15 << 4) | 0x0e;
    // Fix the checksum so only the header length is wrong.
    bytes[h + 16] = 0;
    bytes[h + 17] = 0;
    const seg = bytes.subarray(h);
    let sum = isV6() ? ipv6PseudoHeaderSum(bytes, 8, bytes, 24, seg.length, 6) : 0x0a00 + 0x0002 + 0x0a00 + 0x0001 + 6 + seg.length;
    for (let i = 0; i < seg.length; i += 2) sum += (seg[i]! << 8) | (seg[i + 1] ?? 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const ck = ~sum & 0xffff;
    bytes[h + 16] = ck >> 8;
    bytes[h + 17] = ck & 0xff;
    const stats = c.peer.stack.stats.tcp;
    const lenerr = stats.lenerr;
    c.peer.stack.input(c.peer.stack.pool.fromBytes(bytes)!, c.peer.stack.netifs[1]!);
    expect(stats.lenerr).toBe(lenerr + 1);
    expect(c.app.log).toEqual([]);
    expect(c.pcb.stateName).toBe('ESTABLISHED');
    expect(c.peer.take()).toEqual([]);
    finish(c);
  });

  test('a FIN without the ACK bit is dropped (lwIP would act on it; RFC 9293 drops it)', () => {
    const c = openConn();
    send(c, 0, new Uint8Array(0), FIN);
    expect(c.app.log).toEqual([]);
    expect(c.pcb.stateName).toBe('ESTABLISHED');
    send(c, 0, new Uint8Array(0), FIN | ACK);
    expect(c.app.log).toEqual(['fin']);
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    finish(c);
  });

  test('RST with data is not delivered: err(ERR_RST) replaces recv', () => {
    const c = openConn();
    send(c, 0, payload(30), RST | ACK);
    expect(c.app.log).toEqual([`err:${Err.RST}`]);
    expect(c.pcb.freed).toBe(true);
    finish(c);
  });

  test('a SYN in ESTABLISHED draws a challenge ACK and delivers nothing (RFC 5961 §4)', () => {
    const c = openConn();
    send(c, 5, payload(10), SYN | ACK);
    expect(c.app.log).toEqual([]);
    expect(wire(c, c.peer.take())).toEqual([`A ack=0 wnd=${WND} len=0`]);
    expect(c.pcb.stateName).toBe('ESTABLISHED');
    finish(c);
  });

  test('a bare FIN at RCV.NXT with a zero window is not acceptable (RFC 9293 §3.10.7.4; Linux makes an exception); taken once the window opens', () => {
    const c = openConn();
    const data = payload(WND, 3);
    for (let off = 0; off < WND; off += MSS) send(c, off, data.subarray(off, off + MSS));
    c.peer.take();
    send(c, WND, new Uint8Array(0), ACK | FIN);
    expect(c.app.finCalls).toBe(0);
    expect(wire(c, c.peer.take())).toEqual([`A ack=${WND} wnd=0 len=0`]);
    c.peer.raw.tcpRecved(c.pcb, WND);
    c.peer.take();
    send(c, WND, new Uint8Array(0), ACK | FIN);
    expect(c.app.log.at(-1)).toBe('fin');
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    finish(c);
  });

  test('after tcpShutdown of the send side, data is still received in FIN_WAIT_1/FIN_WAIT_2, then the FIN leads to TIME_WAIT', () => {
    const c = openConn({ recved: true });
    expect(c.peer.raw.tcpShutdown(c.pcb, false, true)).toBe(Err.OK);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['FA']);
    send(c, 0, payload(100, 1)); // does not ack our FIN
    expect(c.pcb.stateName).toBe('FIN_WAIT_1');
    send(c, 100, payload(50, 2), ACK, { ack: seqAdd(c.iss, 2) });
    expect(c.pcb.stateName).toBe('FIN_WAIT_2');
    send(c, 150, payload(25, 3), ACK | FIN, { ack: seqAdd(c.iss, 2) });
    expect(c.app.log).toEqual(['recv:100', 'recv:50', 'recv:25', 'fin']);
    expect(c.app.events.map((e) => ('state' in e ? e.state : ''))).toEqual(['FIN_WAIT_1', 'FIN_WAIT_2', 'TIME_WAIT', 'TIME_WAIT']);
    expect(c.pcb.stateName).toBe('TIME_WAIT');
    expect(wire(c, c.peer.take()).at(-1)).toBe(`A ack=176 wnd=${WND - 176} len=0`); // 176 bytes: too little to move the edge (SWS)
    finish(c);
  });

  test('recv totLen sums to exactly the bytes the peer sent across mixed segment sizes', () => {
    const c = openConn({ recved: true });
    const data = payload(20_000, 11);
    const sizes = [1, 2, 535, 536, 7, 300, 536, 100];
    let off = 0;
    let i = 0;
    while (off < data.length) {
      const n = Math.min(sizes[i++ % sizes.length]!, data.length - off);
      send(c, off, data.subarray(off, off + n));
      off += n;
    }
    send(c, off, new Uint8Array(0), ACK | FIN);
    const total = c.app.events.reduce((s, e) => s + (e.t === 'recv' ? e.len : 0), 0);
    expect(total).toBe(data.length);
    expect(sha256(c.app.data)).toBe(sha256(data));
    expect(c.app.log.at(-1)).toBe('fin');
    expect(c.app.finCalls).toBe(1);
    finish(c);
  });
});

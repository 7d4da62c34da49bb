// The TCP connection state machine, segment by segment against a scripted
// peer (RFC 9293 §3.5/§3.6/§3.10, lwIP test_tcp_state.c and test_tcp.c
// scenarios restated in behaviour terms): opens, every close order,
// half-close, close with unread data, sequence wrap-around, and the errors
// of bind/listen/connect.
import { describe, expect, test } from 'vitest';
import { seqAdd } from '../../src/pcb/seq.ts';
import { foldSum, ipv4PseudoHeaderSum } from '../../src/wire/checksum.ts';
import { ipv6PseudoHeaderSum } from '../../src/wire/checksum6.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import { ACK, acceptConnection, activeOpen, bulkExchange, Err, FIN, flagStr, payload, PSH, recordCallbacks, scriptedPeer, type ScriptedPeer, sha256, simPair, SYN, tcpPacket as tcpPacketBytes, u32, assertAllFreed, closeAndCheck } from '../support/tcp.ts';
import { ipPacket } from '../support/packets.ts';
import { anyIp, foreignIp, ipHdrLen, isV6, localIp, loopbackIp, mssFor, offLinkIp, peerIp } from '../support/family.ts';

// Family-aware constants (test/support/family.ts; state.v6.test.ts runs this
// file over IPv6): the stack's and the peer's addresses, the wildcard to
// bind, the IP header length, the MSS at MTU 1500 (1460, or 1440 for IPv6).
const ANY = anyIp();
const LOCAL = localIp();
const PEER = peerIp();
const IPH = ipHdrLen();
const MSS = mssFor();

/** An ESTABLISHED connection made by an active open (peer ISN 5000, no options). */
function established(peer: ScriptedPeer, o: { recved?: boolean } = {}): { pcb: TcpPcb; iss: number; irs: number; log: ReturnType<typeof activeOpen>['log'] } {
  const r = activeOpen(peer, o.recved === false ? { recved: false } : {});
  expect(r.pcb.stateName).toBe('ESTABLISHED');
  peer.take();
  return r;
}

describe('opening', () => {
  test('active open: SYN with MSS/WS/SACK-permitted/TS, SYN-ACK, ACK at once, connected exactly once', () => {
    const peer = scriptedPeer();
    const { pcb, iss, irs, syn, log, connectErr } = activeOpen(peer, { synAck: false });
    expect(connectErr).toBe(Err.OK);
    expect(pcb.stateName).toBe('SYN_SENT');
    expect(flagStr(syn.flags)).toBe('S');
    expect(syn.ack).toBe(0);
    expect(syn.data.length).toBe(0);
    expect(syn.opts.mss).toBe(MSS);
    expect(syn.opts.wscale).toBe(3); // 256 KiB receive buffer
    expect(syn.opts.sackPermitted).toBe(true);
    expect(syn.opts.hasTimestamp).toBe(true);
    expect(syn.opts.tsEcr).toBe(0);
    expect(syn.wnd).toBe(0xffff); // never scaled in a SYN
    expect(syn.tcp.srcPort).toBe(peer.localPort);
    expect(syn.tcp.dstPort).toBe(peer.peerPort);
    expect(peer.stack.tcp.counters.activeOpens).toBe(1);
    expect(log.events).toEqual([]);

    peer.inject({ seq: irs, ack: u32(iss + 1), flags: SYN | ACK, wnd: 0xffff, mss: 1400, wscale: 2, sackPermitted: true, ts: [777, syn.opts.tsVal] });
    expect(pcb.stateName).toBe('ESTABLISHED');
    const out = peer.take();
    expect(out.length).toBe(1);
    expect(flagStr(out[0]!.flags)).toBe('A');
    expect(out[0]!.seq).toBe(u32(iss + 1));
    expect(out[0]!.ack).toBe(irs + 1);
    expect(out[0]!.opts.tsEcr).toBe(777);
    expect(out[0]!.wnd).toBe((256 * 1024) >>> 3);
    expect(log.events).toEqual(['connected']);
    expect(pcb.mss).toBe(1400);
    expect(pcb.sndScale).toBe(2);
    expect(pcb.sndWnd).toBe(0xffff); // the window of a SYN is never scaled (RFC 7323 §2.2)

    // A duplicate SYN-ACK (our ACK was lost) is answered with an ACK, not a second 'connected'.
    peer.inject({ seq: irs, ack: u32(iss + 1), flags: SYN | ACK, wnd: 0xffff, mss: 1400, wscale: 2, sackPermitted: true, ts: [778, syn.opts.tsVal] });
    const again = peer.take();
    expect(again.map((s) => flagStr(s.flags))).toEqual(['A']);
    expect(again[0]!.ack).toBe(irs + 1);
    expect(log.events).toEqual(['connected']);
    expect(pcb.stateName).toBe('ESTABLISHED');

    peer.raw.tcpAbort(pcb);
    expect(log.events).toEqual(['connected', `err:${Err.ABRT}`]);
    assertAllFreed(peer);
  });

  test('active open against the lwIP configuration (no options): handshake ACK immediately, seq/ack exact (lwIP 3.3)', () => {
    const peer = scriptedPeer({ tcp: { windowScaling: false, timestamps: false, sack: false, mss: 536 } });
    peer.stack.tcp.issOverride = () => 0xfffffce8;
    const { pcb, syn, log } = activeOpen(peer, { synAck: false });
    expect(syn.seq).toBe(0xfffffce8);
    expect(syn.opts.mss).toBe(536);
    expect(syn.opts.wscale).toBe(-1);
    expect(syn.opts.sackPermitted).toBe(false);
    expect(syn.opts.hasTimestamp).toBe(false);
    peer.inject({ seq: 12345, ack: 0xfffffce9, flags: SYN | ACK, mss: 536 });
    expect(pcb.stateName).toBe('ESTABLISHED');
    const out = peer.take();
    expect(out.map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', 0xfffffce9, 12346]]);
    expect(log.events).toEqual(['connected']);
    peer.raw.tcpAbort(pcb);
    assertAllFreed(peer);
  });

  test('passive open: SYN -> SYN-ACK (SYN_RCVD), ACK -> ESTABLISHED, accept called once with the new PCB', () => {
    const peer = scriptedPeer();
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    expect(raw.tcpBind(l, ANY, 80)).toBe(Err.OK);
    expect(raw.tcpListen(l)).toBe(l);
    expect(l.stateName).toBe('LISTEN');
    const accepted: [TcpPcb, number][] = [];
    raw.tcpArg(l, 'the-arg');
    const args: unknown[] = [];
    raw.tcpAccept(l, (arg, npcb, err) => {
      args.push(arg);
      accepted.push([npcb, err]);
      return Err.OK;
    });
    peer.inject({ seq: 1000, flags: SYN, wnd: 8192, mss: 1200 });
    const sa = peer.take();
    expect(sa.length).toBe(1);
    expect(flagStr(sa[0]!.flags)).toBe('SA');
    expect(sa[0]!.ack).toBe(1001);
    expect(sa[0]!.opts.mss).toBe(MSS);
    expect(sa[0]!.opts.wscale).toBe(-1); // the peer offered none
    expect(sa[0]!.opts.hasTimestamp).toBe(false);
    expect(sa[0]!.opts.sackPermitted).toBe(false);
    expect(accepted.length).toBe(0);
    const conns = [...peer.stack.tcp.connections()];
    expect(conns.length).toBe(1);
    expect(conns[0]!.stateName).toBe('SYN_RCVD');
    expect(l.acceptsPending).toBe(1);
    expect(peer.stack.tcp.counters.passiveOpens).toBe(1);

    const iss = sa[0]!.seq;
    peer.inject({ seq: 1001, ack: u32(iss + 1), flags: ACK, wnd: 8192 });
    expect(accepted.length).toBe(1);
    expect(accepted[0]![1]).toBe(Err.OK);
    expect(args).toEqual(['the-arg']);
    const pcb = accepted[0]![0];
    expect(pcb).toBe(conns[0]);
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(pcb.arg).toBe('the-arg'); // inherited from the listener, as lwIP
    expect(pcb.mss).toBe(1200);
    expect(pcb.sndWnd).toBe(8192);
    expect(l.acceptsPending).toBe(0);
    expect(peer.take()).toEqual([]); // nothing owed
    raw.tcpAbort(pcb);
    raw.tcpClose(l);
    assertAllFreed(peer);
  });

  test('passive open: data on the first ACK is delivered after accept, in the same input', () => {
    const peer = scriptedPeer();
    const events: string[] = [];
    const { pcb } = acceptConnection(peer, {
      onAccept: (npcb) => {
        events.push('accept');
        const log = recordCallbacks(peer.raw, npcb);
        peer.raw.tcpArg(npcb, log);
        peer.raw.tcpRecv(npcb, (_a, q, p) => {
          events.push(p === null ? 'fin' : `recv:${p.totLen}`);
          if (p !== null) {
            peer.raw.tcpRecved(q, p.totLen);
            p.free();
          }
          return Err.OK;
        });
      },
    });
    expect(events).toEqual(['accept']);
    const iss = pcb.iss;
    peer.take();
    peer.inject({ seq: 1001, ack: u32(iss + 1), flags: ACK | PSH | FIN, data: payload(10) });
    expect(events).toEqual(['accept', 'recv:10', 'fin']);
    expect(pcb.stateName).toBe('CLOSE_WAIT');
    const out = peer.take();
    expect(out.map((s) => [flagStr(s.flags), s.ack])).toEqual([['A', 1012]]);
    peer.raw.tcpClose(pcb);
    expect(pcb.stateName).toBe('LAST_ACK');
    closeAndCheck(peer);
  });

  test('simultaneous open: SYN crosses SYN -> SYN_RCVD with SYN-ACK; the peer SYN-ACK completes it', () => {
    const peer = scriptedPeer();
    const { pcb, iss, syn, log } = activeOpen(peer, { synAck: false });
    // The peer's own SYN (no ACK) crosses ours.
    peer.inject({ seq: 9000, flags: SYN, wnd: 0xffff, mss: 1000, wscale: 1, sackPermitted: true, ts: [100, 0] });
    expect(pcb.stateName).toBe('SYN_RCVD');
    const sa = peer.take();
    expect(sa.length).toBe(1);
    expect(flagStr(sa[0]!.flags)).toBe('SA');
    expect(sa[0]!.seq).toBe(iss); // the same SYN again, now with an ACK
    expect(sa[0]!.ack).toBe(9001);
    expect(sa[0]!.opts.mss).toBe(MSS);
    expect(sa[0]!.opts.wscale).toBe(3);
    expect(sa[0]!.opts.sackPermitted).toBe(true);
    expect(sa[0]!.opts.tsEcr).toBe(100);
    expect(log.events).toEqual([]);
    // The peer answers ours with its SYN-ACK (RFC 9293 §3.5 figure 7): ESTABLISHED, connected once.
    peer.inject({ seq: 9000, ack: u32(iss + 1), flags: SYN | ACK, wnd: 0xffff, mss: 1000, wscale: 1, sackPermitted: true, ts: [101, syn.opts.tsVal] });
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(log.events).toEqual(['connected']);
    expect(peer.stack.tcp.counters.challengeAcks).toBe(0);
    // Figure 7 line 6: nothing is owed (our SYN-ACK, already sent, acknowledges theirs).
    expect(peer.take()).toEqual([]);
    expect(pcb.mss).toBe(1000);
    expect(pcb.sndScale).toBe(1);
    // Data flows afterwards.
    peer.inject({ seq: 9001, ack: u32(iss + 1), flags: ACK | PSH, data: payload(20), ts: [102, syn.opts.tsVal] });
    expect(log.events).toEqual(['connected', 'recv:20']);
    peer.raw.tcpAbort(pcb);
    assertAllFreed(peer);
  });

  test('simultaneous open completed by a bare ACK instead of a SYN-ACK', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, log } = activeOpen(peer, { synAck: false });
    peer.inject({ seq: 9000, flags: SYN, mss: 1000 });
    expect(pcb.stateName).toBe('SYN_RCVD');
    peer.take();
    peer.inject({ seq: 9001, ack: u32(iss + 1), flags: ACK });
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(log.events).toEqual(['connected']);
    expect(peer.take()).toEqual([]);
    peer.raw.tcpAbort(pcb);
    assertAllFreed(peer);
  });

  test('SYN-ACK carrying data: connected, then recv with the data, ACK covers it', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const data = payload(100, 7);
    const { pcb, iss, irs, log } = activeOpen(peer, { data });
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(log.events).toEqual(['connected', 'recv:100']);
    expect(sha256(log.data[0]!)).toBe(sha256(data));
    const out = peer.take();
    expect(out.map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', u32(iss + 1), irs + 101]]);
    peer.raw.tcpAbort(pcb);
    assertAllFreed(peer);
  });

  test('SYN-ACK carrying data and FIN: connected, data, EOF, CLOSE_WAIT', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = activeOpen(peer, { synAck: false });
    peer.inject({ seq: irs, ack: u32(iss + 1), flags: SYN | ACK | FIN, mss: MSS, data: payload(5) });
    expect(pcb.stateName).toBe('CLOSE_WAIT');
    expect(log.events).toEqual(['connected', 'recv:5', 'recv:null']);
    expect(peer.take().map((s) => [flagStr(s.flags), s.ack])).toEqual([['A', irs + 7]]);
    expect(peer.raw.tcpClose(pcb)).toBe(Err.OK);
    expect(pcb.stateName).toBe('LAST_ACK');
    const fin = peer.take();
    expect(fin.map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['FA', u32(iss + 1), irs + 7]]);
    peer.inject({ seq: irs + 7, ack: u32(iss + 2), flags: ACK });
    expect(pcb.freed).toBe(true);
    expect(log.events).toEqual(['connected', 'recv:5', 'recv:null']); // closed by the app: no err
    assertAllFreed(peer);
  });

  test('a data offset beyond the segment (FIN set) is dropped as lenerr without acting on the FIN (lwIP 1.7)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    const st = peer.stack.stats.tcp;
    const lenerr = st.lenerr;
    // Data offset 15 words on a 24-byte segment, FIN set: must not close anything.
    const bytes = tcpPacketBytes({ seq: irs + 1, ack: u32(iss + 1), flags: FIN | ACK, data: payload(4) });
    bytes[IPH + 12] = 0xf0;
    fixTcpChecksum(bytes);
    peer.stack.input(peer.stack.pool.fromBytes(bytes)!, peer.stack.netifs[1]!);
    expect(st.lenerr).toBe(lenerr + 1);
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(log.events).toEqual(['connected']);
    expect(peer.take()).toEqual([]);
    peer.raw.tcpAbort(pcb);
    assertAllFreed(peer);
  });
});

/** Recompute the TCP checksum of an IPv4+TCP (or IPv6+TCP, no extension headers) packet in place (after editing the header). */
function fixTcpChecksum(pkt: Uint8Array): void {
  const v6 = pkt[0]! >> 4 === 6;
  const seg = pkt.subarray(v6 ? 40 : 20);
  seg[16] = 0;
  seg[17] = 0;
  const src = ((pkt[12]! << 24) | (pkt[13]! << 16) | (pkt[14]! << 8) | pkt[15]!) >>> 0;
  const dst = ((pkt[16]! << 24) | (pkt[17]! << 16) | (pkt[18]! << 8) | pkt[19]!) >>> 0;
  let sum = v6 ? ipv6PseudoHeaderSum(pkt, 8, pkt, 24, seg.length, 6) : ipv4PseudoHeaderSum(src, dst, 6, seg.length);
  for (let i = 0; i + 1 < seg.length; i += 2) sum += (seg[i]! << 8) | seg[i + 1]!;
  if (seg.length & 1) sum += seg[seg.length - 1]! << 8;
  const c = ~foldSum(sum) & 0xffff;
  seg[16] = c >> 8;
  seg[17] = c & 0xff;
}

describe('closing', () => {
  test('active close: FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> freed after 2*MSL (lwIP 3.4)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    expect(peer.raw.tcpClose(pcb)).toBe(Err.OK);
    expect(pcb.stateName).toBe('FIN_WAIT_1');
    const fin = peer.take();
    expect(fin.map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['FA', u32(iss + 1), irs + 1]]);
    // ACK of our FIN.
    peer.inject({ seq: irs + 1, ack: u32(iss + 2), flags: ACK });
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    expect(peer.take()).toEqual([]);
    // The peer's FIN.
    peer.inject({ seq: irs + 1, ack: u32(iss + 2), flags: FIN | ACK });
    expect(pcb.stateName).toBe('TIME_WAIT');
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', u32(iss + 2), irs + 2]]);
    // The application closed: no recv(null), no err.
    expect(log.events).toEqual(['connected']);
    expect(pcb.freed).toBe(false);
    expect(peer.stack.tcp.timeWait.size).toBe(1);
    expect(peer.stack.tcp.active.size).toBe(0);
    peer.advance(peer.stack.tcp.config.timeWaitMs - 1);
    expect(pcb.stateName).toBe('TIME_WAIT');
    peer.advance(1);
    expect(pcb.freed).toBe(true);
    expect(log.events).toEqual(['connected']);
    expect(peer.take()).toEqual([]);
    assertAllFreed(peer);
  });

  test('passive close: CLOSE_WAIT -> LAST_ACK -> CLOSED, PCB freed, no err after tcpClose', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: FIN | ACK });
    expect(pcb.stateName).toBe('CLOSE_WAIT');
    expect(log.events).toEqual(['connected', 'recv:null']);
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', u32(iss + 1), irs + 2]]);
    // We can still send in CLOSE_WAIT.
    expect(peer.raw.tcpWrite(pcb, payload(10))).toBe(Err.OK);
    peer.raw.tcpOutput(pcb);
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.data.length])).toEqual([['PA', u32(iss + 1), 10]]);
    expect(peer.raw.tcpClose(pcb)).toBe(Err.OK);
    expect(pcb.stateName).toBe('LAST_ACK');
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['FA', u32(iss + 11), irs + 2]]);
    // ACK of the data only: still LAST_ACK.
    peer.inject({ seq: irs + 2, ack: u32(iss + 11), flags: ACK });
    expect(pcb.stateName).toBe('LAST_ACK');
    expect(log.events).toEqual(['connected', 'recv:null', 'sent:10']);
    // ACK of the FIN: gone.
    peer.inject({ seq: irs + 2, ack: u32(iss + 12), flags: ACK });
    expect(pcb.freed).toBe(true);
    expect(log.events).toEqual(['connected', 'recv:null', 'sent:10']);
    expect(peer.take()).toEqual([]);
    assertAllFreed(peer);
  });

  test('passive close from inside the recv(null) callback (lwIP 1.5 companion): FIN goes out after the callback', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const r = activeOpen(peer);
    const { pcb, iss, irs } = r;
    const closes: number[] = [];
    const log = recordCallbacks(peer.raw, pcb, { onFin: (q) => closes.push(peer.raw.tcpClose(q)) });
    peer.take();
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | FIN, data: payload(1) });
    expect(log.events).toEqual(['recv:1', 'recv:null']);
    expect(closes).toEqual([Err.OK]);
    expect(pcb.stateName).toBe('LAST_ACK');
    // One segment: the FIN carrying the ACK of data + FIN.
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['FA', u32(iss + 1), irs + 3]]);
    peer.inject({ seq: irs + 3, ack: u32(iss + 2), flags: ACK });
    expect(pcb.freed).toBe(true);
    assertAllFreed(peer);
  });

  test('passive close with unread data from inside recv(null): RST, PCB freed after the callback, no err (lwIP 1.5)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const r = activeOpen(peer);
    const { pcb, iss, irs } = r;
    const closes: number[] = [];
    const log = recordCallbacks(peer.raw, pcb, { recved: false, onFin: (q) => closes.push(peer.raw.tcpClose(q)) });
    peer.take();
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | FIN, data: payload(1) });
    expect(log.events).toEqual(['recv:1', 'recv:null']);
    expect(closes).toEqual([Err.OK]);
    expect(pcb.freed).toBe(true);
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['RA', u32(iss + 1), irs + 3]]);
    expect(log.errs).toEqual([]);
    assertAllFreed(peer);
  });

  test('simultaneous close: FIN_WAIT_1 -> CLOSING -> TIME_WAIT (lwIP 3.5)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.raw.tcpClose(pcb);
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['FA']);
    // The peer's FIN crossed ours: it does not acknowledge our FIN.
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: FIN | ACK });
    expect(pcb.stateName).toBe('CLOSING');
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', u32(iss + 2), irs + 2]]);
    peer.inject({ seq: irs + 2, ack: u32(iss + 2), flags: ACK });
    expect(pcb.stateName).toBe('TIME_WAIT');
    expect(peer.take()).toEqual([]);
    expect(log.events).toEqual(['connected']);
    peer.advance(peer.stack.tcp.config.timeWaitMs);
    expect(pcb.freed).toBe(true);
    assertAllFreed(peer);
  });

  test('FIN+ACK of our FIN in one segment: FIN_WAIT_1 -> TIME_WAIT directly', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.raw.tcpClose(pcb);
    peer.take();
    const states: string[] = [];
    peer.inject({ seq: irs + 1, ack: u32(iss + 2), flags: FIN | ACK });
    states.push(pcb.stateName);
    expect(states).toEqual(['TIME_WAIT']);
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', u32(iss + 2), irs + 2]]);
    expect(log.events).toEqual(['connected']);
    expect(peer.stack.tcp.timeWait.size).toBe(1);
    peer.advance(peer.stack.tcp.config.timeWaitMs);
    assertAllFreed(peer);
  });

  test('close with queued data: data first, FIN on the last data segment, ACKed piecewise', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.raw.tcpWrite(pcb, payload(3000));
    peer.raw.tcpClose(pcb);
    const out = peer.take();
    expect(out.map((s) => [flagStr(s.flags), u32(s.seq - iss), s.data.length])).toEqual([
      ['A', 1, MSS],
      ['A', 1 + MSS, MSS],
      ['FPA', 1 + 2 * MSS, 3000 - 2 * MSS],
    ]);
    peer.inject({ seq: irs + 1, ack: u32(iss + 1 + 2 * MSS), flags: ACK });
    expect(pcb.stateName).toBe('FIN_WAIT_1');
    peer.inject({ seq: irs + 1, ack: u32(iss + 3002), flags: ACK });
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    expect(log.events).toEqual(['connected', `sent:${2 * MSS}`, `sent:${3000 - 2 * MSS}`]);
    peer.inject({ seq: irs + 1, ack: u32(iss + 3002), flags: ACK | FIN });
    expect(pcb.stateName).toBe('TIME_WAIT');
    closeAndCheck(peer);
  });

  test('half-close with tcpShutdown(tx): FIN goes out, data keeps arriving, EOF reported, TIME_WAIT', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    expect(peer.raw.tcpShutdown(pcb, false, true)).toBe(Err.OK);
    expect(pcb.stateName).toBe('FIN_WAIT_1');
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq])).toEqual([['FA', u32(iss + 1)]]);
    // No more writes after the FIN.
    expect(peer.raw.tcpWrite(pcb, payload(1))).toBe(Err.CONN);
    // Data before the FIN is acknowledged.
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | PSH, data: payload(100, 1) });
    expect(pcb.stateName).toBe('FIN_WAIT_1');
    peer.inject({ seq: irs + 101, ack: u32(iss + 2), flags: ACK | PSH, data: payload(200, 2) });
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    peer.inject({ seq: irs + 301, ack: u32(iss + 2), flags: ACK | PSH, data: payload(300, 3) });
    expect(log.events).toEqual(['connected', 'recv:100', 'recv:200', 'recv:300']);
    expect(sha256(Buffer.concat(log.data))).toBe(sha256(Buffer.concat([payload(100, 1), payload(200, 2), payload(300, 3)])));
    const acks = peer.take();
    expect(acks.length).toBeGreaterThan(0);
    expect(acks.every((s) => flagStr(s.flags) === 'A' && s.seq === u32(iss + 2))).toBe(true);
    // No FIN_WAIT_2 timeout while the application still reads.
    peer.advance(peer.stack.tcp.config.finWait2TimeoutMs + 1000);
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    // The delayed ACK covered everything.
    expect(peer.take().map((s) => s.ack)).toEqual([irs + 601]);
    peer.inject({ seq: irs + 601, ack: u32(iss + 2), flags: ACK | FIN });
    expect(pcb.stateName).toBe('TIME_WAIT');
    expect(log.events).toEqual(['connected', 'recv:100', 'recv:200', 'recv:300', 'recv:null']);
    expect(peer.take().map((s) => [flagStr(s.flags), s.ack])).toEqual([['A', irs + 602]]);
    expect(peer.raw.tcpClose(pcb)).toBe(Err.OK);
    peer.advance(peer.stack.tcp.config.timeWaitMs);
    expect(pcb.freed).toBe(true);
    assertAllFreed(peer);
  });

  test('FIN_WAIT_2 after tcpClose times out (finWait2TimeoutMs) when the peer never sends its FIN', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.raw.tcpClose(pcb);
    peer.take();
    peer.inject({ seq: irs + 1, ack: u32(iss + 2), flags: ACK });
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    peer.advance(peer.stack.tcp.config.finWait2TimeoutMs - 1);
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    peer.advance(1);
    expect(pcb.freed).toBe(true);
    expect(peer.take()).toEqual([]); // no RST
    expect(log.events).toEqual(['connected', `err:${Err.ABRT}`]);
    assertAllFreed(peer);
  });

  test('close with unread data (not tcpRecved): RST <SEQ=SND.NXT><ACK=RCV.NXT>, PCB freed at once, no err (lwIP)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer, { recved: false });
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | PSH, data: payload(50) });
    expect(log.events).toEqual(['connected', 'recv:50']);
    peer.take();
    const resets = peer.stack.tcp.counters.estabResets;
    expect(peer.raw.tcpClose(pcb)).toBe(Err.OK);
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['RA', u32(iss + 1), irs + 51]]);
    expect(pcb.freed).toBe(true);
    expect(peer.stack.tcp.timeWait.size).toBe(0);
    expect(peer.stack.tcp.counters.estabResets).toBe(resets + 1);
    expect(log.errs).toEqual([]);
    // The peer's retransmission now meets a closed port: RST.
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | PSH, data: payload(50) });
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq])).toEqual([['R', u32(iss + 1)]]);
    assertAllFreed(peer);
  });

  test('close with unread data in CLOSE_WAIT: RST and freed', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer, { recved: false });
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | FIN, data: payload(50) });
    expect(pcb.stateName).toBe('CLOSE_WAIT');
    peer.take();
    peer.raw.tcpClose(pcb);
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['RA', u32(iss + 1), irs + 52]]);
    expect(pcb.freed).toBe(true);
    expect(log.errs).toEqual([]);
    assertAllFreed(peer);
  });

  test('close after every byte was tcpRecved sends a FIN, not a RST', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs } = established(peer, { recved: false });
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | PSH, data: payload(50) });
    peer.raw.tcpRecved(pcb, 50);
    peer.take();
    peer.raw.tcpClose(pcb);
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['FA']);
    expect(pcb.stateName).toBe('FIN_WAIT_1');
    closeAndCheck(peer);
  });

  test('data arriving after tcpClose resets the connection (lwIP): RST, err(ERR_ABRT)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.raw.tcpClose(pcb);
    peer.take();
    peer.inject({ seq: irs + 1, ack: u32(iss + 2), flags: ACK | PSH, data: payload(10) });
    expect(pcb.freed).toBe(true);
    const out = peer.take();
    expect(out.map((s) => flagStr(s.flags))).toEqual(['RA']);
    expect(log.events).toEqual(['connected', `err:${Err.ABRT}`]);
    assertAllFreed(peer);
  });

  test('close of a LISTEN PCB and of a SYN_SENT PCB: freed at once, nothing sent (lwIP 3.4)', () => {
    const peer = scriptedPeer();
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, ANY, 80);
    raw.tcpListen(l);
    expect(peer.stack.tcp.listeners.size).toBe(1);
    expect(raw.tcpClose(l)).toBe(Err.OK);
    expect(l.freed).toBe(true);
    expect(peer.stack.tcp.listeners.size).toBe(0);
    expect(peer.take()).toEqual([]);
    // The port is free again.
    const l2 = raw.tcpNew()!;
    expect(raw.tcpBind(l2, ANY, 80)).toBe(Err.OK);
    raw.tcpClose(l2);

    const { pcb, log } = activeOpen(peer, { synAck: false });
    expect(pcb.stateName).toBe('SYN_SENT');
    expect(raw.tcpClose(pcb)).toBe(Err.OK);
    expect(pcb.freed).toBe(true);
    expect(peer.take()).toEqual([]);
    expect(log.events).toEqual([]);
    // The SYN's retransmission timer is gone too.
    peer.advance(10_000);
    expect(peer.take()).toEqual([]);
    assertAllFreed(peer);
  });

  test('close of a fresh and of a bound PCB: freed, port released', () => {
    const peer = scriptedPeer();
    const raw = peer.raw;
    const a = raw.tcpNew()!;
    expect(raw.tcpClose(a)).toBe(Err.OK);
    expect(a.freed).toBe(true);
    const b = raw.tcpNew()!;
    raw.tcpBind(b, ANY, 5555);
    expect(raw.tcpClose(b)).toBe(Err.OK);
    const c = raw.tcpNew()!;
    expect(raw.tcpBind(c, ANY, 5555)).toBe(Err.OK);
    raw.tcpAbort(c);
    expect(peer.take()).toEqual([]);
    assertAllFreed(peer);
  });

  test('LAST_ACK completing without the application having closed rx: err(ERR_CLSD) once', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: FIN | ACK });
    expect(pcb.stateName).toBe('CLOSE_WAIT');
    expect(peer.raw.tcpShutdown(pcb, false, true)).toBe(Err.OK);
    expect(pcb.stateName).toBe('LAST_ACK');
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['A', 'FA']);
    peer.inject({ seq: irs + 2, ack: u32(iss + 2), flags: ACK });
    expect(pcb.freed).toBe(true);
    expect(log.events).toEqual(['connected', 'recv:null', `err:${Err.CLSD}`]);
    assertAllFreed(peer);
  });

  test('abort of a synchronized connection: RST|ACK <SEQ=SND.NXT><ACK=RCV.NXT>, err(ERR_ABRT) (lwIP 1.6)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.raw.tcpAbort(pcb);
    const out = peer.take();
    expect(out.map((s) => [flagStr(s.flags), s.seq, s.ack, s.tcp.srcPort, s.tcp.dstPort])).toEqual([['RA', u32(iss + 1), irs + 1, peer.localPort, peer.peerPort]]);
    expect(out[0]!.data.length).toBe(0);
    expect(log.events).toEqual(['connected', `err:${Err.ABRT}`]);
    assertAllFreed(peer);
  });

  test('segments without the ACK bit are dropped in synchronized states (RFC 9293 §3.10.7.4, unlike lwIP 1.3/1.5)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.inject({ seq: irs + 1, flags: PSH | FIN, data: payload(4) });
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(log.events).toEqual(['connected']);
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | PSH | FIN, data: payload(4) });
    expect(log.events).toEqual(['connected', 'recv:4', 'recv:null']);
    closeAndCheck(peer);
  });
});

describe('sequence numbers across 2^32', () => {
  test('handshake, data both ways and FINs with our ISS and the peer ISN at 0xfffffff0', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    peer.stack.tcp.issOverride = () => 0xfffffff0;
    const irs = 0xfffffff0;
    const { pcb, syn, log } = activeOpen(peer, { peerIsn: irs, synAck: false });
    expect(syn.seq).toBe(0xfffffff0);
    peer.inject({ seq: irs, ack: 0xfffffff1, flags: SYN | ACK, mss: MSS });
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', 0xfffffff1, 0xfffffff1]]);

    // Our data crosses the wrap: 40 bytes starting 15 before 2^32.
    const ours = payload(40, 11);
    peer.raw.tcpWrite(pcb, ours);
    peer.raw.tcpOutput(pcb);
    const d = peer.take();
    expect(d.map((s) => [s.seq, s.data.length])).toEqual([[0xfffffff1, 40]]);
    expect(sha256(d[0]!.data)).toBe(sha256(ours));
    // The peer's data crosses the wrap too, in two segments straddling 0.
    const theirs = payload(60, 12);
    peer.inject({ seq: 0xfffffff1, ack: seqAdd(0xfffffff1, 40), flags: ACK, data: theirs.subarray(0, 20) });
    peer.inject({ seq: seqAdd(0xfffffff1, 20), ack: seqAdd(0xfffffff1, 40), flags: ACK | PSH, data: theirs.subarray(20) });
    expect(log.events).toEqual(['connected', 'sent:40', 'recv:20', 'recv:40']);
    expect(sha256(Buffer.concat(log.data))).toBe(sha256(theirs));
    const acks = peer.take();
    expect(acks.at(-1)!.ack).toBe(seqAdd(0xfffffff1, 60));
    expect(acks.at(-1)!.ack).toBe(0x2d);
    expect(pcb.sndUna).toBe(0x19);
    // An out-of-order segment after the wrap is held and filled correctly.
    const more = payload(30, 13);
    peer.inject({ seq: 0x2d + 10, ack: 0x19, flags: ACK, data: more.subarray(10) });
    expect(log.events.length).toBe(4);
    peer.inject({ seq: 0x2d, ack: 0x19, flags: ACK, data: more.subarray(0, 10) });
    expect(log.events.at(-1)).toBe('recv:30');
    expect(sha256(log.data.at(-1)!)).toBe(sha256(more));
    // Close across the wrapped space.
    peer.raw.tcpClose(pcb);
    const fin = peer.take().filter((s) => s.flags & FIN);
    expect(fin.map((s) => [s.seq, s.ack])).toEqual([[0x19, 0x4b]]);
    peer.inject({ seq: 0x4b, ack: 0x1a, flags: ACK | FIN });
    expect(pcb.stateName).toBe('TIME_WAIT');
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', 0x1a, 0x4c]]);
    peer.advance(peer.stack.tcp.config.timeWaitMs);
    assertAllFreed(peer);
  });

  test('passive open with the peer ISN at 0xffffffff: RCV.NXT wraps to 0 on the SYN', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    peer.stack.tcp.issOverride = () => 0xffffffff;
    const log: string[] = [];
    const { pcb, iss } = acceptConnection(peer, {
      peerIsn: 0xffffffff,
      onAccept: (npcb) => {
        peer.raw.tcpRecv(npcb, (_a, q, p) => {
          log.push(p === null ? 'fin' : `recv:${p.totLen}`);
          if (p !== null) {
            peer.raw.tcpRecved(q, p.totLen);
            p.free();
          }
          return Err.OK;
        });
      },
    });
    expect(iss).toBe(0xffffffff);
    expect(pcb.rcvNxt).toBe(0);
    expect(pcb.sndNxt).toBe(0);
    peer.take();
    peer.inject({ seq: 0, ack: 0, flags: ACK | PSH | FIN, data: payload(7) });
    expect(log).toEqual(['recv:7', 'fin']);
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', 0, 8]]);
    closeAndCheck(peer);
  });

  test('two simulated stacks, both ISNs at 0xfffffff0: 300 kB each way, byte-exact', () => {
    const pair = simPair({ seed: 21 });
    pair.client.tcp.issOverride = () => 0xfffffff0;
    pair.server.tcp.issOverride = () => 0xfffffff0;
    const a = payload(300_000, 31);
    const b = payload(300_000, 32);
    const { cli, srv, clientPcb, listener } = bulkExchange(pair, a, b);
    expect(clientPcb.iss).toBe(0xfffffff0);
    expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 60_000)).toBe(true);
    expect(sha256(cli.bytes)).toBe(sha256(b));
    expect(sha256(srv.bytes)).toBe(sha256(a));
    expect(cli.errors).toEqual([]);
    expect(srv.errors).toEqual([]);
    pair.sim.runUntilIdle();
    expect(clientPcb.freed).toBe(true);
    pair.rs.tcpClose(listener);
    expect(pair.client.tcp.pcbCount).toBe(0);
    expect(pair.server.tcp.pcbCount).toBe(0);
    expect(pair.sim.clock.pendingTimers()).toBe(0);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });
});

describe('bind, listen and connect errors', () => {
  test('duplicate bind: ERR_USE unless both PCBs set SO_REUSEADDR', () => {
    const peer = scriptedPeer();
    const raw = peer.raw;
    const a = raw.tcpNew()!;
    const b = raw.tcpNew()!;
    expect(raw.tcpBind(a, ANY, 7000)).toBe(Err.OK);
    expect(raw.tcpBind(b, ANY, 7000)).toBe(Err.USE);
    expect(raw.tcpBind(b, LOCAL, 7000)).toBe(Err.USE); // any-address overlaps a specific one
    raw.setReuseAddr(b, true);
    expect(raw.tcpBind(b, ANY, 7000)).toBe(Err.USE); // only one side allows it
    raw.setReuseAddr(a, true);
    expect(raw.tcpBind(b, ANY, 7000)).toBe(Err.OK);
    // Binding twice, a bad port, a foreign address.
    expect(raw.tcpBind(b, ANY, 7001)).toBe(Err.VAL);
    const c = raw.tcpNew()!;
    expect(raw.tcpBind(c, ANY, 70000)).toBe(Err.VAL);
    expect(raw.tcpBind(c, foreignIp(), 7002)).toBe(Err.VAL);
    // Different local addresses do not conflict.
    expect(raw.tcpBind(c, loopbackIp(), 7003)).toBe(Err.OK);
    const d = raw.tcpNew()!;
    expect(raw.tcpBind(d, LOCAL, 7003)).toBe(Err.OK);
    for (const p of [a, b, c, d]) raw.tcpClose(p);
    expect(peer.take()).toEqual([]);
    assertAllFreed(peer);
  });

  test('listen on a port that already has a listener: ERR_USE (even with SO_REUSEADDR)', () => {
    const peer = scriptedPeer();
    const raw = peer.raw;
    const a = raw.tcpNew()!;
    const b = raw.tcpNew()!;
    raw.setReuseAddr(a, true);
    raw.setReuseAddr(b, true);
    expect(raw.tcpBind(a, ANY, 80)).toBe(Err.OK);
    expect(raw.tcpBind(b, ANY, 80)).toBe(Err.OK);
    expect(raw.tcpListenWithErr(a)).toEqual({ pcb: a, err: Err.OK });
    expect(raw.tcpListenWithErr(b)).toEqual({ pcb: null, err: Err.USE });
    expect(b.stateName).toBe('CLOSED');
    // Listening twice on the same PCB is refused as well.
    expect(raw.tcpListenWithErr(a).err).not.toBe(Err.OK);
    expect(a.stateName).toBe('LISTEN');
    raw.tcpClose(a);
    expect(raw.tcpListenWithErr(b)).toEqual({ pcb: b, err: Err.OK });
    raw.tcpClose(b);
    assertAllFreed(peer);
  });

  test('connect: ERR_ALREADY while connecting, ERR_ISCONN when connected, ERR_RTE without a route, ERR_VAL on a listener', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const noRoute = raw.tcpNew()!;
    const layer = isV6() ? peer.stack.ip6 : peer.stack.ip;
    const dflt = layer.defaultNetif;
    layer.defaultNetif = null; // only 10.0.0.0/24 (fd00::/64) and loopback are reachable
    expect(raw.tcpConnect(noRoute, offLinkIp(), 80, null)).toBe(Err.RTE);
    layer.defaultNetif = dflt;
    expect(noRoute.stateName).toBe('CLOSED');
    expect(peer.take()).toEqual([]);
    raw.tcpClose(noRoute);

    const { pcb, iss, irs } = activeOpen(peer, { synAck: false });
    expect(pcb.stateName).toBe('SYN_SENT');
    expect(raw.tcpConnect(pcb, PEER, peer.peerPort, null)).toBe(Err.ALREADY);
    expect(peer.take()).toEqual([]); // no second SYN
    peer.inject({ seq: irs, ack: u32(iss + 1), flags: SYN | ACK, mss: MSS });
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(raw.tcpConnect(pcb, PEER, peer.peerPort, null)).toBe(Err.ISCONN);
    expect(raw.tcpConnect(pcb, PEER, 9999, null)).toBe(Err.ISCONN);

    const l = raw.tcpNew()!;
    raw.tcpBind(l, ANY, 8080);
    raw.tcpListen(l);
    expect(raw.tcpConnect(l, PEER, 80, null)).toBe(Err.VAL);
    // The same 4-tuple twice: ERR_USE.
    const e = raw.tcpNew()!;
    raw.setReuseAddr(e, true);
    expect(raw.tcpBind(e, ANY, 9090)).toBe(Err.OK);
    const f = raw.tcpNew()!;
    raw.setReuseAddr(f, true);
    expect(raw.tcpBind(f, ANY, 9090)).toBe(Err.OK);
    expect(raw.tcpConnect(e, PEER, 443, null)).toBe(Err.OK);
    expect(raw.tcpConnect(f, PEER, 443, null)).toBe(Err.USE);
    expect(raw.tcpConnect(f, PEER, 444, null)).toBe(Err.OK);
    closeAndCheck(peer);
  });

  test('PCB limit (TcpConfig.maxPcbs): tcpNew returns null, a listener at the limit drops SYNs (lwIP 3.1; nothing to reclaim, so no cookie either)', () => {
    const peer = scriptedPeer({ tcp: { maxPcbs: 3, timestamps: false } });
    const raw = peer.raw;
    const memerr = peer.stack.stats.tcp.memerr;
    const a = raw.tcpNew()!;
    const b = raw.tcpNew()!;
    const l = raw.tcpNew()!;
    expect(peer.stack.tcp.pcbCount).toBe(3);
    expect(raw.tcpNew()).toBeNull();
    expect(peer.stack.stats.tcp.memerr).toBe(memerr + 1);
    raw.tcpAbort(a);
    const a2 = raw.tcpNew();
    expect(a2).not.toBeNull();
    expect(raw.tcpNew()).toBeNull();
    raw.tcpBind(l, ANY, 80);
    raw.tcpListen(l);
    raw.tcpAccept(l, () => Err.OK);
    // No PCB for the connection: the SYN is dropped without an answer.
    peer.inject({ seq: 1, flags: SYN, mss: MSS });
    expect(peer.take()).toEqual([]);
    expect(l.acceptsPending).toBe(0);
    raw.tcpClose(b);
    peer.inject({ seq: 1, flags: SYN, mss: MSS });
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['SA']);
    expect(peer.stack.tcp.pcbCount).toBe(3);
    raw.tcpAbort(a2!);
    closeAndCheck(peer);
  });

  test('at maxPcbs tcpNew reclaims the oldest TIME_WAIT PCB (lwIP tcp_alloc, counters.pcbsReclaimed); without one it fails', () => {
    const peer = scriptedPeer({ tcp: { maxPcbs: 2, timestamps: false } });
    const raw = peer.raw;
    const { pcb, iss, irs } = established(peer);
    raw.tcpClose(pcb);
    peer.inject({ seq: irs + 1, ack: u32(iss + 2), flags: ACK | FIN });
    expect(pcb.stateName).toBe('TIME_WAIT');
    const b = raw.tcpNew();
    expect(b).not.toBeNull();
    expect(peer.stack.tcp.counters.pcbsReclaimed).toBe(0);
    const c = raw.tcpNew();
    expect(c).not.toBeNull();
    expect(pcb.freed).toBe(true);
    expect(peer.stack.tcp.counters.pcbsReclaimed).toBe(1);
    expect(peer.stack.tcp.timeWait.size).toBe(0);
    expect(raw.tcpNew()).toBeNull(); // nothing left to reclaim
    raw.tcpClose(b!);
    raw.tcpClose(c!);
    assertAllFreed(peer);
  });
});

describe('more transitions', () => {
  test('a SYN carrying data: the data is not taken (no TCP Fast Open), the SYN-ACK acknowledges only the SYN', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, ANY, 80);
    raw.tcpListen(l);
    const got: string[] = [];
    raw.tcpAccept(l, (_a, npcb) => {
      got.push('accept');
      raw.tcpRecv(npcb, (_x, q, p) => {
        got.push(p === null ? 'fin' : `recv:${p.totLen}`);
        if (p !== null) {
          raw.tcpRecved(q, p.totLen);
          p.free();
        }
        return Err.OK;
      });
      return Err.OK;
    });
    peer.inject({ seq: 1000, flags: SYN, mss: MSS, data: payload(30) });
    const sa = peer.take();
    expect(sa.map((s) => [flagStr(s.flags), s.ack])).toEqual([['SA', 1001]]);
    // The peer sends it again after the handshake.
    peer.inject({ seq: 1001, ack: u32(sa[0]!.seq + 1), flags: ACK | PSH, data: payload(30) });
    expect(got).toEqual(['accept', 'recv:30']);
    closeAndCheck(peer);
  });

  test('a retransmitted FIN in CLOSE_WAIT and in LAST_ACK is ACKed again, without a second EOF', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs, log } = established(peer);
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: FIN | ACK });
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', u32(iss + 1), irs + 2]]);
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: FIN | ACK });
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', u32(iss + 1), irs + 2]]);
    expect(pcb.stateName).toBe('CLOSE_WAIT');
    peer.raw.tcpClose(pcb);
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['FA']);
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: FIN | ACK });
    expect(peer.take().map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['A', u32(iss + 2), irs + 2]]);
    expect(pcb.stateName).toBe('LAST_ACK');
    expect(log.events).toEqual(['connected', 'recv:null']);
    peer.inject({ seq: irs + 2, ack: u32(iss + 2), flags: ACK });
    expect(pcb.freed).toBe(true);
    assertAllFreed(peer);
  });

  test('close in SYN_RCVD (simultaneous open): FIN_WAIT_1, the FIN follows once our SYN is acknowledged (RFC 9293 CLOSE call)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, log } = activeOpen(peer, { synAck: false });
    peer.inject({ seq: 9000, flags: SYN, mss: 1000 });
    expect(pcb.stateName).toBe('SYN_RCVD');
    peer.take();
    expect(peer.raw.tcpClose(pcb)).toBe(Err.OK);
    expect(pcb.stateName).toBe('FIN_WAIT_1');
    // Queued behind the unacknowledged SYN (no congestion window yet).
    expect(peer.take()).toEqual([]);
    peer.inject({ seq: 9001, ack: u32(iss + 1), flags: ACK });
    const fin = peer.take();
    expect(fin.map((s) => [flagStr(s.flags), s.seq, s.ack])).toEqual([['FA', u32(iss + 1), 9001]]);
    expect(pcb.stateName).toBe('FIN_WAIT_1');
    peer.inject({ seq: 9001, ack: u32(iss + 2), flags: ACK });
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    peer.inject({ seq: 9001, ack: u32(iss + 2), flags: ACK | FIN });
    expect(pcb.stateName).toBe('TIME_WAIT');
    expect(peer.take().map((s) => [flagStr(s.flags), s.ack])).toEqual([['A', 9002]]);
    expect(log.events).toEqual([]); // closed before it was ever connected
    closeAndCheck(peer);
  });

  test('stack counters over one connection: segments in and out, opens', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const st = peer.stack.stats.tcp;
    const c = peer.stack.tcp.counters;
    const { pcb, iss, irs } = established(peer);
    peer.raw.tcpClose(pcb);
    peer.inject({ seq: irs + 1, ack: u32(iss + 2), flags: ACK | FIN });
    expect(pcb.stateName).toBe('TIME_WAIT');
    // In: SYN-ACK, FIN. Out: SYN, ACK, FIN, ACK.
    expect(st.recv).toBe(2);
    expect(c.inSegs).toBe(2);
    expect(st.xmit).toBe(4);
    expect(c.outSegs).toBe(4);
    expect(peer.sent.length).toBe(4);
    expect(c.activeOpens).toBe(1);
    expect(c.passiveOpens).toBe(0);
    expect(c.outRsts).toBe(0);
    expect(c.estabResets).toBe(0);
    expect(peer.stack.tcp.currEstab).toBe(0);
    closeAndCheck(peer);
  });

  test('a segment shorter than a TCP header is dropped as lenerr before any lookup (lwIP 1.2)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const raw = peer.raw;
    const l = raw.tcpNew()!;
    raw.tcpBind(l, ANY, 80);
    raw.tcpListen(l);
    raw.tcpAccept(l, () => Err.OK);
    const full = tcpPacketBytes({ seq: 12345, flags: SYN });
    const seg = full.subarray(IPH, IPH + 18);
    const short = ipPacket(seg, { protocol: 6 });
    const lenerr = peer.stack.stats.tcp.lenerr;
    peer.stack.input(peer.stack.pool.fromBytes(short)!, peer.stack.netifs[1]!);
    expect(peer.stack.stats.tcp.lenerr).toBe(lenerr + 1);
    expect(peer.take()).toEqual([]);
    expect(peer.stack.tcp.pcbCount).toBe(1);
    // The full one is answered.
    peer.stack.input(peer.stack.pool.fromBytes(full)!, peer.stack.netifs[1]!);
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['SA']);
    closeAndCheck(peer);
  });
});

// Spoofed and looping segments against the TCP engine (issue 12):
// - PAWS poisoning: only acceptable segments (in the window, with an
//   acceptable ACK) may set TS.Recent (RFC 7323 §4.3, Appendix D R3; Linux
//   tcp_replace_ts_recent runs after tcp_ack accepted the segment);
// - ACKs to unacceptable segments that occupy no sequence space are rate
//   limited (RFC 5961 §5, Linux tcp_invalid_ratelimit), so no two ends (nor
//   one end and itself, LAND) can ping-pong ACKs forever.
import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import { PbufLayer } from '../../src/pbuf/pool.ts';
import { PbufType } from '../../src/pbuf/pbuf.ts';
import { Stack } from '../../src/stack/stack.ts';
import { RawTcp } from '../../src/callbacks/raw.ts';
import type { VirtualClock } from '../../src/time/virtual-clock.ts';
import { ACK, activeOpen, closeAndCheck, flagStr, parseSent, payload, PSH, scriptedPeer, SYN, tcpPacket, u32 } from '../support/tcp.ts';

const BIG = 0x40000000; // a TSval a quarter of the space ahead

describe('PAWS poisoning (RFC 7323 R3: only acceptable segments update TS.Recent)', () => {
  function established() {
    const peer = scriptedPeer();
    const o = activeOpen(peer, { tsVal: 1000 });
    peer.take();
    const snd = u32(o.iss + 1);
    peer.inject({ seq: o.irs + 1, ack: snd, flags: ACK | PSH, data: payload(10, 1), ts: [2000, 0] });
    expect(o.log.events).toEqual(['connected', 'recv:10']);
    peer.advance(100);
    peer.take();
    return { peer, ...o, snd, next: u32(o.irs + 11) };
  }

  test('a spoofed below-window data segment with a huge TSval is ACKed (echoing the real TSval) and the connection keeps working', () => {
    const { peer, pcb, log, snd, next } = established();
    peer.inject({ seq: u32(next - 5000), ack: snd, flags: ACK | PSH, data: payload(10, 7), ts: [2000 + BIG, 0] });
    const dup = peer.take();
    expect(dup.map((s) => [flagStr(s.flags), s.ack, s.opts.tsEcr])).toEqual([['A', next, 2000]]);
    expect(pcb.tsRecent).toBe(2000);
    // The real peer's next segment still passes PAWS.
    const drops = peer.stack.tcp.counters.pawsDrops;
    peer.inject({ seq: next, ack: snd, flags: ACK | PSH, data: payload(10, 2), ts: [2001, 0] });
    expect(peer.stack.tcp.counters.pawsDrops).toBe(drops);
    expect(log.events).toEqual(['connected', 'recv:10', 'recv:10']);
    expect(pcb.tsRecent).toBe(2001);
    closeAndCheck(peer);
  });

  test('a spoofed below-window bare ACK, an in-window segment acknowledging data never sent, and one with an ACK far too old: none moves TS.Recent', () => {
    const { peer, pcb, log, iss, snd, next } = established();
    peer.inject({ seq: u32(next - 5000), ack: snd, flags: ACK, ts: [2000 + BIG, 0] });
    peer.inject({ seq: next, ack: u32(snd + 100_000), flags: ACK | PSH, data: payload(10, 3), ts: [2000 + BIG, 0] });
    peer.inject({ seq: next, ack: u32(iss - 1_000_000), flags: ACK | PSH, data: payload(10, 4), ts: [2000 + BIG, 0] });
    expect(pcb.tsRecent).toBe(2000);
    expect(log.events).toEqual(['connected', 'recv:10']);
    peer.inject({ seq: next, ack: snd, flags: ACK | PSH, data: payload(10, 2), ts: [2001, 0] });
    expect(log.events).toEqual(['connected', 'recv:10', 'recv:10']);
    expect(pcb.stateName).toBe('ESTABLISHED');
    closeAndCheck(peer);
  });

  test('an acceptable segment at Last.ACK.sent still updates TS.Recent (the RFC 7323 §4.3 echo rule is kept)', () => {
    const { peer, pcb, snd, next } = established();
    peer.inject({ seq: next, ack: snd, flags: ACK, ts: [2500, 0] }); // bare ACK at RCV.NXT
    expect(pcb.tsRecent).toBe(2500);
    closeAndCheck(peer);
  });
});

describe('ACKs to unacceptable segments are rate limited (RFC 5961 §5)', () => {
  test('50 out-of-window bare ACKs at one instant draw one ACK; another after the interval; data-carrying duplicates each get theirs', () => {
    const peer = scriptedPeer();
    const { iss, irs } = activeOpen(peer, { tsVal: 1000 });
    peer.take();
    const snd = u32(iss + 1);
    const before = peer.stack.tcp.counters.invalidAcksSkipped;
    for (let i = 0; i < 50; i++) peer.inject({ seq: u32(irs + 1 + 1_000_000), ack: snd, flags: ACK, ts: [1001, 0] });
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['A']);
    expect(peer.stack.tcp.counters.invalidAcksSkipped).toBe(before + 49);
    peer.advance(peer.stack.tcp.config.invalidAckIntervalMs);
    peer.inject({ seq: u32(irs + 1 + 1_000_000), ack: snd, flags: ACK, ts: [1001, 0] });
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['A']);
    // Spurious retransmissions of data we already have: every one is answered (the peer must learn RCV.NXT).
    peer.inject({ seq: u32(irs + 1), ack: snd, flags: ACK | PSH, data: payload(10), ts: [1002, 0] }); // new data: a delayed ACK
    for (let i = 0; i < 5; i++) peer.inject({ seq: u32(irs + 1), ack: snd, flags: ACK | PSH, data: payload(10), ts: [1002, 0] });
    const acks = peer.take();
    expect(acks.filter((s) => s.ack === u32(irs + 11))).toHaveLength(5);
    closeAndCheck(peer);
  });

  test('LAND over the loopback netif (SYN from 127.0.0.1:80 to its own listener 127.0.0.1:80): a handful of packets, then silence; everything freed', () => {
    const errors: unknown[] = [];
    const stack = new Stack({ pool: { trackLive: true }, onInternalError: (e) => errors.push(e) });
    const raw = new RawTcp(stack);
    const l = raw.tcpNew()!;
    raw.tcpBind(l, '127.0.0.1', 80);
    const lp = raw.tcpListen(l)!;
    raw.tcpAccept(lp, () => Err.OK);
    // Count what the loopback carries; a runaway loop is cut at 10 000 packets.
    let packets = 0;
    const lo = stack.loopback;
    const seen: string[] = [];
    lo.runDriver = (n, p, out) => {
      if (++packets > 10_000) return Err.IF;
      const s = parseSent(p.toBytes());
      seen.push(flagStr(s.flags));
      return out(p, n);
    };
    const bytes = tcpPacket({ src: '127.0.0.1', dst: '127.0.0.1', srcPort: 80, dstPort: 80, seq: 12345, flags: SYN, mss: 1460 });
    const p = stack.pool.alloc(PbufLayer.RAW, bytes.length, PbufType.POOL)!;
    p.take(bytes);
    stack.input(p, lo);
    const clock = stack.clock as VirtualClock;
    // Let every timer run (SYN-ACK retries) until the stack is quiet.
    for (let i = 0; i < 10_000 && clock.nextDeadline() !== null; i++) clock.advanceTo(clock.nextDeadline()!);
    expect(errors).toEqual([]);
    expect(packets).toBeLessThan(100);
    expect(seen.slice(0, 3)).toEqual(['SA', 'A', 'A']); // SYN-ACK to itself, a challenge ACK, one rate-limited answer
    expect(stack.tcp.counters.invalidAcksSkipped).toBeGreaterThan(0);
    expect(stack.tcp.pcbCount).toBe(1); // only the listener is left
    raw.tcpClose(lp);
    stack.close();
    stack.pool.assertEmpty();
  });
});

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
import { IcmpDestUnreachableCode } from '../../src/wire/icmp.ts';
import { icmpMessage, ipPacket } from '../support/packets.ts';
import { ACK, acceptConnection, activeOpen, closeAndCheck, flagStr, parseSent, payload, PSH, scriptedPeer, SYN, tcpPacket, u32 } from '../support/tcp.ts';

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

describe('MSS on small links and against small MSS claims', () => {
  test('on an MTU-68 link the SYN announces MSS 28 and every segment fits the MTU (16 bytes of data beside timestamps)', () => {
    const peer = scriptedPeer({ mtu: 68 });
    const { pcb, iss, irs, syn } = activeOpen(peer, { tsVal: 1, mss: 28 });
    expect(syn.opts.mss).toBe(28);
    expect(pcb.info().mss).toBe(28);
    peer.take();
    expect(peer.raw.tcpWrite(pcb, payload(100))).toBe(Err.OK);
    peer.raw.tcpOutput(pcb);
    const segs = peer.take();
    expect(segs.length).toBeGreaterThan(0);
    for (const s of segs) expect(40 + 12 + s.data.length).toBeLessThanOrEqual(68);
    expect(segs[0]!.data.length).toBe(16);
    void iss;
    void irs;
    closeAndCheck(peer);
  });

  test('a peer announcing MSS 1 gets segments of minSndMss (48) on a normal link; our own small link still wins', () => {
    const peer = scriptedPeer();
    const { pcb } = activeOpen(peer, { mss: 1 });
    expect(pcb.info().mss).toBe(48);
    closeAndCheck(peer);
    const small = scriptedPeer({ mtu: 80 });
    const r = activeOpen(small, { mss: 1 });
    expect(r.pcb.info().mss).toBe(40);
    closeAndCheck(small);
  });

  test('tcp_sndbuf counts the send queue: with a tiny MSS a write of what it reports never fails with ERR_MEM', () => {
    const peer = scriptedPeer({ mtu: 68, tcp: { sndBuf: 65536 } });
    const { pcb } = activeOpen(peer, { tsVal: 1, mss: 28, wnd: 0 });
    const space = peer.raw.tcpSndbuf(pcb);
    expect(space).toBeLessThan(65536);
    expect(space).toBe((peer.stack.tcp.config.sndQueueLen) * 16);
    expect(peer.raw.tcpWrite(pcb, payload(space))).toBe(Err.OK);
    expect(peer.raw.tcpSndbuf(pcb)).toBe(0);
    closeAndCheck(peer);
  });

  test('ICMP "fragmentation needed" reporting MTU 68 keeps the MSS at min_pmtu (552 - 40) and clears DF, as Linux', () => {
    const peer = scriptedPeer();
    const { pcb, iss, irs } = acceptConnection(peer, { mss: 1460 });
    expect(peer.raw.tcpWrite(pcb, payload(3000))).toBe(Err.OK);
    peer.raw.tcpOutput(pcb);
    const sent = peer.take().filter((s) => s.data.length > 0);
    expect(sent.length).toBeGreaterThan(0);
    // The router quotes the IP header and 8 bytes of our first data segment.
    const quoted = ipPacket(tcpPacket({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: peer.localPort, dstPort: peer.peerPort, seq: u32(iss + 1), ack: u32(irs + 1), flags: ACK, data: payload(1448) }).subarray(20, 48), { src: '10.0.0.1', dst: '10.0.0.2', protocol: 6 });
    const msg = icmpMessage({ kind: 'dest-unreachable', code: IcmpDestUnreachableCode.FRAG_NEEDED, nextHopMtu: 68 }, quoted);
    const bytes = ipPacket(msg, { src: '10.0.0.254', dst: '10.0.0.1', protocol: 1 });
    const p = peer.stack.pool.fromBytes(bytes)!;
    peer.stack.input(p, peer.stack.netifs[1]!);
    expect(pcb.info().mss).toBe(512);
    expect(peer.stack.tcp.counters.pmtuFloored).toBe(1);
    // The retransmission is cut to the new MSS and goes out without DF.
    const dfBits: number[] = [];
    const n = peer.stack.netifs[1]!;
    const drive = n.runDriver;
    n.runDriver = (ni, q, out) => {
      dfBits.push(q.toBytes()[6]! & 0x40);
      return drive(ni, q, out);
    };
    peer.take();
    peer.advance(1500);
    const re = peer.take().filter((x) => x.data.length > 0);
    expect(re.length).toBeGreaterThan(0);
    for (const x of re) expect(x.data.length).toBeLessThanOrEqual(512);
    expect(dfBits.length).toBeGreaterThan(0);
    expect(dfBits.every((b) => b === 0)).toBe(true);
    closeAndCheck(peer);
  });
});

describe('user timeout (RFC 5482): queued data cannot be pinned forever', () => {
  function established(tcp: import('../../src/pcb/tcp.ts').TcpConfig = {}) {
    const peer = scriptedPeer({ tcp: { timestamps: false, ...tcp } });
    const c = acceptConnection(peer, { mss: 1460 });
    const errs: number[] = [];
    peer.raw.tcpErr(c.pcb, (_a, e) => errs.push(e));
    peer.take();
    return { peer, ...c, errs };
  }

  test('a peer that keeps its window shut and answers every probe: aborted after userTimeoutMs (300 s) with ETIMEDOUT and a RST', () => {
    const { peer, pcb, iss, irs, errs } = established();
    expect(peer.raw.tcpWrite(pcb, payload(3000))).toBe(Err.OK);
    peer.raw.tcpOutput(pcb);
    const first = peer.take().filter((s) => s.data.length > 0);
    // The peer takes the first segment and shuts its window.
    peer.inject({ seq: u32(irs + 1), ack: u32(iss + 1 + first[0]!.data.length), flags: ACK, wnd: 0 });
    const t0 = peer.clock.now();
    let probes = 0;
    while (!pcb.freed && peer.clock.now() < t0 + 3_600_000) {
      const next = peer.clock.nextDeadline();
      if (next === null) break;
      peer.clock.advanceTo(next);
      for (const s of peer.take()) {
        if (s.flags & 0x04) continue; // the RST
        probes++;
        peer.inject({ seq: u32(irs + 1), ack: u32(iss + 1 + first[0]!.data.length), flags: ACK, wnd: 0 });
      }
    }
    expect(pcb.freed).toBe(true);
    expect(peer.clock.now() - t0).toBe(300_000);
    expect(probes).toBeGreaterThan(5);
    expect(errs).toEqual([Err.TIMEOUT]);
    expect(peer.stack.tcp.counters.userTimeouts).toBe(1);
    closeAndCheck(peer);
  });

  test('tcpUserTimeout(pcb, 10 s) with a silent peer: aborted 10 s after the data was queued, long before the retry limit', () => {
    const { peer, pcb, errs } = established();
    peer.raw.tcpUserTimeout(pcb, 10_000);
    peer.advance(5000); // idle: nothing waits, nothing times out
    expect(pcb.freed).toBe(false);
    const t0 = peer.clock.now();
    expect(peer.raw.tcpWrite(pcb, payload(100))).toBe(Err.OK);
    peer.raw.tcpOutput(pcb);
    for (let i = 0; i < 100 && !pcb.freed; i++) peer.clock.advanceTo(peer.clock.nextDeadline()!);
    expect(peer.clock.now() - t0).toBe(10_000);
    expect(errs).toEqual([Err.TIMEOUT]);
    expect(peer.take().some((s) => s.flags & 0x04)).toBe(true);
    closeAndCheck(peer);
  });

  test('an idle connection with nothing queued is never touched by it', () => {
    const { peer, pcb, errs } = established({ userTimeoutMs: 1000 });
    peer.advance(3_600_000);
    expect(pcb.stateName).toBe('ESTABLISHED');
    expect(errs).toEqual([]);
    expect(peer.clock.pendingTimers()).toBe(0);
    closeAndCheck(peer);
  });
});

describe('FIN_WAIT_2 cannot be held forever', () => {
  test('half-closed (shutdown tx), then closed while in FIN_WAIT_2: the FIN_WAIT_2 timeout still frees it (sim seed 8693 left it for ever)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss, irs } = acceptConnection(peer, { mss: 1460 });
    peer.take();
    expect(peer.raw.tcpShutdown(pcb, false, true)).toBe(Err.OK);
    peer.inject({ seq: u32(irs + 1), ack: u32(iss + 2), flags: ACK });
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    peer.advance(3_600_000); // still reading: no timeout
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    expect(peer.raw.tcpClose(pcb)).toBe(Err.OK);
    peer.advance(peer.stack.tcp.config.finWait2TimeoutMs);
    expect(pcb.freed).toBe(true);
    expect(peer.clock.pendingTimers()).toBe(0);
    closeAndCheck(peer);
  });
});

describe('memory that cannot be pinned: idle hoarders are shed when the pool is full', () => {
  test('a connection whose peer takes nothing fills the pool; when another connection\'s write then fails, the idle hoarder is reset (RST, ERR_ABRT) and the next write succeeds', () => {
    const peer = scriptedPeer({ stack: { pool: { maxBytes: 1 << 20, trackLive: true } }, tcp: { timestamps: false, sndBuf: 4 << 20, sndQueueLen: 100_000, userTimeoutMs: 0 } });
    const { pcb: hoarder, iss, irs } = acceptConnection(peer, { mss: 1460 });
    peer.inject({ srcPort: 40001, seq: 100, flags: SYN, mss: 1460 });
    const sa = peer.take().find((s) => s.flags & 0x02)!;
    peer.inject({ srcPort: 40001, seq: 101, ack: u32(sa.seq + 1), flags: ACK });
    const other = [...peer.stack.tcp.active.values()].find((p) => p !== hoarder)!;
    const errs: number[] = [];
    peer.raw.tcpErr(hoarder, (_a, e) => errs.push(e));
    // The hoarder queues until memory pressure stops it (12.5 % of the data share left); its peer acknowledges nothing.
    const chunk = payload(8192);
    while (peer.raw.tcpWrite(hoarder, chunk) === Err.OK);
    peer.raw.tcpOutput(hoarder);
    const pool = peer.stack.pool;
    expect(pool.dataBytesLeft()).toBeLessThan(pool.dataBytesLimit * 0.125);
    expect(pool.dataBytesLeft()).toBeGreaterThan(16 * 1024);
    expect(peer.stack.tcp.counters.memoryShed).toBe(0); // a writer never sheds itself
    expect(peer.stack.tcp.counters.memoryPressureRefusals).toBe(1); // the hoarder's last write
    // A newcomer still gets its pressureSndBuf (16 KiB), then is refused too.
    expect(peer.raw.tcpWrite(other, chunk)).toBe(Err.OK);
    expect(peer.raw.tcpWrite(other, chunk)).toBe(Err.OK);
    expect(peer.raw.tcpWrite(other, chunk)).toBe(Err.MEM);
    expect(peer.stack.tcp.counters.memoryPressureRefusals).toBe(2);
    // The hoarder is not idle long enough yet: nobody is shed.
    peer.advance(5000);
    expect(peer.raw.tcpWrite(other, chunk)).toBe(Err.MEM);
    peer.advance(1);
    expect(hoarder.freed).toBe(false);
    peer.advance(6000);
    peer.take();
    expect(peer.raw.tcpWrite(other, chunk)).toBe(Err.MEM);
    peer.advance(1); // the shed runs as deferred work
    expect(peer.stack.tcp.counters.memoryShed).toBe(1);
    expect(hoarder.freed).toBe(true);
    expect(errs).toEqual([Err.ABRT]);
    expect(peer.take().some((s) => s.flags & 0x04 && s.tcp.dstPort === 40000)).toBe(true);
    expect(peer.raw.tcpWrite(other, chunk)).toBe(Err.OK);
    void iss;
    void irs;
    closeAndCheck(peer);
  });
});

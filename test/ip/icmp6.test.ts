// ICMPv6 (src/ip/icmp6.ts) over the IPv6 layer on a minimal IpHost: echo,
// errors in and out (RFC 4443 §2.4 rules, rate limit), Packet Too Big and
// the path MTU cache, neighbour solicitations.
import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import { IcmpErrorKind, type IcmpErrorReport, type IpHost } from '../../src/ip/host.ts';
import { Icmp6, type EchoReply6, type Icmp6Options } from '../../src/ip/icmp6.ts';
import { Ipv6, type Ipv6Options } from '../../src/ip/ipv6.ts';
import { Netif } from '../../src/netif/netif.ts';
import { PbufLayer, PbufPool, PbufUse } from '../../src/pbuf/pool.ts';
import { newStats } from '../../src/stats.ts';
import { Rng } from '../../src/time/rng.ts';
import { VirtualClock } from '../../src/time/virtual-clock.ts';
import { fillIcmpv6Checksum, icmpv6ChecksumOk, Icmpv6View, parseIcmpv6 } from '../../src/wire/icmpv6.ts';
import { IP6_ANY, Ip6Addr } from '../../src/wire/ipaddr.ts';
import { newIpv6ExtResult, walkIpv6Ext } from '../../src/wire/ipv6-ext.ts';
import { emitIpv6, Ipv6NextHeader, Ipv6View } from '../../src/wire/ipv6.ts';
import { Reassembler6 } from '../../src/ip/reassembly6.ts';
import { frag6 } from '../support/frag6.ts';

const ip = (s: string): Ip6Addr => Ip6Addr.parse(s)!;
const A = ip('2001:db8::1');
const LL = ip('fe80::1');
const PEER = ip('2001:db8::2');
const PEER_LL = ip('fe80::2');
const FAR = ip('2001:db8:1::9');
const ROUTER = ip('2001:db8::fe');
const ALL_NODES = ip('ff02::1');
const SOLICITED_A = ip('ff02::1:ff00:1');

function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + seed) & 0xff;
  return out;
}

function udp(sport: number, dport: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  out.set([sport >>> 8, sport & 0xff, dport >>> 8, dport & 0xff, (out.length >>> 8) & 0xff, out.length & 0xff, 0, 0]);
  out.set(data, 8);
  return out;
}

function pkt(payload: Uint8Array, o: { src?: Ip6Addr; dst?: Ip6Addr; nh?: number; hop?: number; ext?: Uint8Array } = {}): Uint8Array {
  const ext = o.ext ?? new Uint8Array(0);
  const out = new Uint8Array(40 + ext.length + payload.length);
  emitIpv6(
    { src: (o.src ?? PEER).bytes(), dst: (o.dst ?? A).bytes(), nextHeader: o.nh ?? 58, payloadLen: ext.length + payload.length, hopLimit: o.hop ?? 64, trafficClass: 0, flowLabel: 0 },
    out,
    0,
  );
  out.set(ext, 40);
  out.set(payload, 40 + ext.length);
  return out;
}

/** An ICMPv6 message (type, code, 4 bytes of rest, body) with its checksum for src -> dst. */
function icmp(type: number, code: number, rest: number, body: Uint8Array, src: Ip6Addr, dst: Ip6Addr): Uint8Array {
  const m = new Uint8Array(8 + body.length);
  m[0] = type;
  m[1] = code;
  m.set([rest >>> 24, (rest >>> 16) & 0xff, (rest >>> 8) & 0xff, rest & 0xff], 4);
  m.set(body, 8);
  fillIcmpv6Checksum(m, 0, m.length, src.bytes(), dst.bytes());
  return m;
}

/** A whole ICMPv6 packet from src to dst. */
function icmpPkt(type: number, code: number, rest: number, body: Uint8Array, o: { src?: Ip6Addr; dst?: Ip6Addr; hop?: number } = {}): Uint8Array {
  const src = o.src ?? PEER;
  const dst = o.dst ?? A;
  return pkt(icmp(type, code, rest, body, src, dst), { src, dst, hop: o.hop });
}

function setup(o: { ip6?: Ipv6Options; icmp6?: Icmp6Options } = {}) {
  const clock = new VirtualClock();
  const pool = new PbufPool({ trackLive: true });
  const stats = newStats();
  const sent: Uint8Array[] = [];
  const netifs: Netif[] = [];
  const host: IpHost = { pool, clock, rng: new Rng(3), stats, netifs, timer: (cb, name) => clock.timer(cb, name) };
  const lo = new Netif({ name: 'lo', addr: 0x7f000001, netmask: 0xff000000, mtu: 65535, output: () => Err.OK });
  const eth = new Netif({ name: 'tun0', addr: 0x0a000001, netmask: 0xffffff00, mtu: 1500, output: (p) => (sent.push(p.toBytes()), Err.OK) });
  eth.addAddr6(A, 64);
  eth.addAddr6(LL, 64);
  netifs.push(lo, eth);
  const ip6 = new Ipv6(host, { flowKey: [11, 22], ...o.ip6 });
  ip6.loopback = lo;
  ip6.defaultNetif = eth;
  const icmp6 = new Icmp6(host, ip6, o.icmp6);
  const feed = (bytes: Uint8Array): void => ip6.input(pool.fromBytes(bytes, PbufLayer.RAW, PbufUse.RX)!, eth);
  const udpOut = (payload: Uint8Array, dst: Ip6Addr): number => {
    const p = pool.fromBytes(payload, PbufLayer.TRANSPORT)!;
    const err = ip6.output(p, IP6_ANY, dst, 17);
    p.free();
    return err;
  };
  const end = (): void => {
    ip6.close();
    pool.assertEmpty();
  };
  return { clock, pool, stats, ip6, icmp6, eth, sent, feed, udpOut, end };
}

/** The ICMPv6 message in a sent packet, its checksum verified against the packet's addresses. */
function msgOf(bytes: Uint8Array) {
  expect(bytes[6]).toBe(58);
  const v = new Icmpv6View(bytes, 40, bytes.length - 40);
  expect(icmpv6ChecksumOk(v, bytes, bytes, 8, 24)).toBe(true);
  expect(new Ipv6View(bytes).payloadLength).toBe(bytes.length - 40);
  return { type: v.type, code: v.code, rest: v.rest, body: bytes.subarray(48), src: Ip6Addr.fromBytes(bytes, 8), dst: Ip6Addr.fromBytes(bytes, 24), hop: bytes[7]!, v };
}

describe('ICMPv6 echo', () => {
  test('an echo request is answered: same ident, seq and data, addresses swapped, checksum right', () => {
    const { feed, sent, stats, end } = setup();
    const data = pattern(100);
    feed(icmpPkt(128, 0, (0xbeef << 16) | 9, data));
    expect(sent).toHaveLength(1);
    const m = msgOf(sent[0]!);
    expect(m.src.equals(A)).toBe(true);
    expect(m.dst.equals(PEER)).toBe(true);
    expect(m.hop).toBe(64);
    expect(parseIcmpv6(m.v)).toEqual({ kind: 'echo-reply', ident: 0xbeef, seqNo: 9, dataLen: 100 });
    expect(m.body).toEqual(data);
    expect(stats.icmp6.recv).toBe(1);
    expect(stats.icmp6.xmit).toBe(1);
    expect(stats.icmp6x.echoAnswered).toBe(1);
    end();
  });

  test('an echo to our link-local address is answered from it', () => {
    const { feed, sent, end } = setup();
    feed(icmpPkt(128, 0, 1, pattern(8), { src: PEER_LL, dst: LL }));
    const m = msgOf(sent[0]!);
    expect(m.src.equals(LL) && m.dst.equals(PEER_LL)).toBe(true);
    end();
  });

  test('a bad checksum is counted and ignored', () => {
    const { feed, sent, stats, end } = setup();
    const b = icmpPkt(128, 0, 1, pattern(20));
    b[42]! ^= 0x40;
    feed(b);
    expect(sent).toHaveLength(0);
    expect(stats.icmp6.chkerr).toBe(1);
    expect(stats.icmp6.drop).toBe(1);
    end();
  });

  test('an echo to all-nodes is not answered by default; with replyToMulticast it is, from a unicast address', () => {
    const s = setup();
    s.feed(icmpPkt(128, 0, 1, pattern(8), { dst: ALL_NODES }));
    expect(s.sent).toHaveLength(0);
    expect(s.stats.icmp6x.echoMulticastIgnored).toBe(1);
    s.end();
    const t = setup({ icmp6: { replyToMulticast: true } });
    t.feed(icmpPkt(128, 0, 1, pattern(8), { dst: ALL_NODES }));
    expect(t.sent).toHaveLength(1);
    const m = msgOf(t.sent[0]!);
    expect(m.type).toBe(129);
    expect(m.src.equals(A) && m.dst.equals(PEER)).toBe(true);
    t.end();
  });

  test('echo replies reach the listeners with a copy of the data; sendEchoRequest sends a valid request', () => {
    const { feed, sent, icmp6, end } = setup();
    const replies: EchoReply6[] = [];
    const off = icmp6.onEchoReply((r) => replies.push(r));
    expect(icmp6.sendEchoRequest(FAR, 0x1234, 7, pattern(16), 33)).toBe(Err.OK);
    const m = msgOf(sent[0]!);
    expect(parseIcmpv6(m.v)).toEqual({ kind: 'echo-request', ident: 0x1234, seqNo: 7, dataLen: 16 });
    expect(m.src.equals(A) && m.dst.equals(FAR)).toBe(true);
    expect(m.hop).toBe(33);
    feed(icmpPkt(129, 0, (0x1234 << 16) | 7, pattern(16), { src: FAR, hop: 50 }));
    expect(replies).toHaveLength(1);
    expect((replies[0]!.src as Ip6Addr).equals(FAR)).toBe(true);
    expect(replies[0]).toMatchObject({ ident: 0x1234, seqNo: 7, ttl: 50 });
    expect(replies[0]!.data).toEqual(pattern(16));
    off();
    feed(icmpPkt(129, 0, 1, pattern(16), { src: FAR }));
    expect(replies).toHaveLength(1);
    end();
  });
});

describe('ICMPv6 over fragments', () => {
  test('a fragmented echo request is reassembled and answered, the reply fragmented on the way out', () => {
    const s = setup();
    const data = pattern(3000, 5);
    const msg = icmp(128, 0, (7 << 16) | 1, data, PEER, A);
    for (const [start, end, more] of [[1448, msg.length, false], [0, 1448, true]] as const) {
      s.feed(frag6(msg.subarray(start, end), start, more, { src: PEER.bytes(), dst: A.bytes(), nextHeader: 58, ident: 99 }));
    }
    expect(s.sent.length).toBe(3);
    // Put the reply back together and check it.
    const r = new Reassembler6({ clock: s.clock, timer: (cb, name) => s.clock.timer(cb, name) });
    const ext = newIpv6ExtResult();
    let whole: Uint8Array | null = null;
    for (const f of s.sent) {
      expect(f.length).toBeLessThanOrEqual(1500);
      const p = s.pool.fromBytes(f)!;
      expect(walkIpv6Ext(p.buf, p.off, p.len, ext)).toBe(0);
      const q = r.insert(p, ext);
      if (q !== null) {
        whole = q.toBytes();
        q.free();
      }
    }
    expect(whole).not.toBeNull();
    const m = msgOf(whole!);
    expect(m).toMatchObject({ type: 129, code: 0 });
    expect(m.body).toEqual(data);
    s.end();
  });
});

describe('ICMPv6 errors received', () => {
  /** What we sent, quoted (up to 1232 bytes) in an error from ROUTER. */
  function errorAbout(sentPkt: Uint8Array, type: number, code: number, rest: number, quoteLen = 1232): Uint8Array {
    return icmpPkt(type, code, rest, sentPkt.subarray(0, Math.min(quoteLen, sentPkt.length)), { src: ROUTER });
  }

  function listen(icmp6: Icmp6, protocol = 17): IcmpErrorReport[] {
    const reports: IcmpErrorReport[] = [];
    icmp6.onError(protocol, (e) => reports.push(e));
    return reports;
  }

  test('Packet Too Big lowers the path MTU and reaches the listener as TOO_BIG with the ports', () => {
    const s = setup();
    const reports = listen(s.icmp6);
    expect(s.udpOut(udp(5353, 9999, pattern(1392)), FAR)).toBe(Err.OK);
    expect(s.sent).toHaveLength(1);
    s.feed(errorAbout(s.sent[0]!, 2, 0, 1300));
    expect(reports).toHaveLength(1);
    const r = reports[0]!;
    expect(r).toMatchObject({ family: 6, type: 2, code: 0, kind: IcmpErrorKind.TOO_BIG, nextHopMtu: 1300, protocol: 17 });
    expect((r.reporter as Ip6Addr).equals(ROUTER)).toBe(true);
    expect((r.origSrc as Ip6Addr).equals(A)).toBe(true);
    expect((r.origDst as Ip6Addr).equals(FAR)).toBe(true);
    expect(Array.from(r.transportHeader.subarray(0, 4))).toEqual([5353 >>> 8, 5353 & 0xff, 9999 >>> 8, 9999 & 0xff]);
    expect(r.transportHeader.length).toBe(64);
    expect(s.ip6.pmtu(FAR)).toBe(1300);
    expect(s.stats.icmp6x.ptbReceived).toBe(1);
    expect(s.stats.ip6x.pmtuLearned).toBe(1);
    // The next datagram that size is cut to the new path MTU.
    s.sent.length = 0;
    s.udpOut(udp(5353, 9999, pattern(1392)), FAR);
    expect(s.sent.length).toBe(2);
    const ext = newIpv6ExtResult();
    for (const f of s.sent) {
      expect(f.length).toBeLessThanOrEqual(1300);
      expect(walkIpv6Ext(f, 0, f.length, ext)).toBe(0);
      expect(ext.hasFragment).toBe(true);
    }
    s.end();
  });

  test('a Packet Too Big below 1280 is taken as 1280 (RFC 8201)', () => {
    const s = setup();
    const reports = listen(s.icmp6);
    s.udpOut(udp(1, 2, pattern(1392)), FAR);
    s.feed(errorAbout(s.sent[0]!, 2, 0, 576));
    expect(reports[0]!.nextHopMtu).toBe(1280);
    expect(s.ip6.pmtu(FAR)).toBe(1280);
    s.end();
  });

  test('an error quoting a packet we did not send is dropped and learns nothing', () => {
    const s = setup();
    const reports = listen(s.icmp6);
    const forged = pkt(udp(1, 2, pattern(1392)), { src: ip('2001:db8::77'), dst: FAR, nh: 17 });
    s.feed(errorAbout(forged, 2, 0, 1280));
    expect(reports).toHaveLength(0);
    expect(s.ip6.pmtu(FAR)).toBe(1500);
    expect(s.stats.icmp6x.errorsNotOurs).toBe(1);
    s.end();
  });

  test('kinds by type and code, through quoted extension headers, short quotes', () => {
    const s = setup();
    const reports = listen(s.icmp6);
    const ours = pkt(udp(4000, 53, pattern(40)), { src: A, dst: FAR, nh: Ipv6NextHeader.DSTOPTS, ext: Uint8Array.of(17, 0, 1, 4, 0, 0, 0, 0) });
    const cases: [number, number, IcmpErrorKind][] = [
      [1, 4, IcmpErrorKind.REFUSED],
      [1, 0, IcmpErrorKind.UNREACHABLE],
      [1, 3, IcmpErrorKind.UNREACHABLE],
      [1, 1, IcmpErrorKind.OTHER],
      [1, 5, IcmpErrorKind.OTHER],
      [3, 0, IcmpErrorKind.TIME_EXCEEDED],
      [4, 1, IcmpErrorKind.REFUSED],
      [4, 0, IcmpErrorKind.PARAMETER],
      [100, 0, IcmpErrorKind.OTHER], // an unknown error type still goes up (RFC 4443 §2.4(a))
    ];
    for (const [type, code] of cases) s.feed(errorAbout(ours, type, code, 0, 56)); // the quote ends 8 bytes into UDP
    expect(reports.map((r) => [r.type, r.code, r.kind])).toEqual(cases);
    for (const r of reports) {
      expect(r.protocol).toBe(17);
      expect(r.nextHopMtu).toBe(0);
      expect(Array.from(r.transportHeader)).toEqual(Array.from(udp(4000, 53, pattern(40)).subarray(0, 8)));
    }
    // Too short to hold the ports, or cut inside the header chain: counted, not delivered.
    s.feed(errorAbout(ours, 1, 4, 0, 52));
    s.feed(errorAbout(ours, 1, 4, 0, 44));
    s.feed(errorAbout(ours, 1, 4, 0, 30));
    expect(reports).toHaveLength(cases.length);
    expect(s.stats.icmp6x.errorsUnparsable).toBe(3);
    // An error of unknown type shorter than the 8-byte header.
    const short = Uint8Array.of(100, 0, 0, 0, 0, 0);
    fillIcmpv6Checksum(short, 0, 6, ROUTER.bytes(), A.bytes());
    s.feed(pkt(short, { src: ROUTER }));
    expect(s.stats.icmp6.lenerr).toBe(3); // two of the short quotes above, and this
    // No listener for the protocol.
    s.feed(errorAbout(pkt(pattern(20), { src: A, dst: FAR, nh: 6 }), 1, 4, 0));
    expect(s.stats.icmp6x.errorsNoListener).toBe(1);
    expect(s.stats.icmp6x.errorsIn).toBe(cases.length + 4);
    expect(s.stats.icmp6x.errorsDelivered).toBe(cases.length);
    s.end();
  });
});

describe('ICMPv6 errors sent', () => {
  test('the IPv4-numbered sink calls map to ICMPv6 types and codes', () => {
    const s = setup();
    const offending = pkt(udp(1, 2, pattern(30)), { nh: Ipv6NextHeader.DSTOPTS, ext: Uint8Array.of(17, 0, 1, 4, 0, 0, 0, 0) });
    const call = (f: (p: import('../../src/pbuf/pbuf.ts').Pbuf) => void): ReturnType<typeof msgOf> => {
      const p = s.pool.fromBytes(offending)!;
      f(p);
      p.free();
      return msgOf(s.sent[s.sent.length - 1]!);
    };
    expect(call((p) => s.icmp6.destUnreachable(p, 3))).toMatchObject({ type: 1, code: 4, rest: 0 });
    expect(call((p) => s.icmp6.destUnreachable(p, 2))).toMatchObject({ type: 4, code: 1, rest: 40 });
    expect(call((p) => s.icmp6.destUnreachable(p, 1))).toMatchObject({ type: 1, code: 0 });
    expect(call((p) => s.icmp6.timeExceeded(p, 1))).toMatchObject({ type: 3, code: 1 });
    expect(call((p) => s.icmp6.timeExceeded(p, 0))).toMatchObject({ type: 3, code: 0 });
    expect(call((p) => s.icmp6.packetTooBig(p, 1400))).toMatchObject({ type: 2, code: 0, rest: 1400 });
    const m = call((p) => s.icmp6.paramProblem(p, 2, 42));
    expect(m).toMatchObject({ type: 4, code: 2, rest: 42 });
    // From the address the packet was sent to, to its source, quoting it whole.
    expect(m.src.equals(A) && m.dst.equals(PEER)).toBe(true);
    expect(m.body).toEqual(offending);
    s.end();
  });

  test('the quote is cut so that the error fits in 1280 bytes', () => {
    const s = setup();
    const big = pkt(udp(1, 2, pattern(3000)), { nh: 17 });
    const p = s.pool.fromBytes(big)!;
    s.icmp6.destUnreachable(p, 3);
    p.free();
    expect(s.sent[0]!.length).toBe(1280);
    expect(msgOf(s.sent[0]!).body).toEqual(big.subarray(0, 1232));
    s.end();
  });

  test('never about an ICMPv6 error or redirect, never to a group or ::, about a packet to a group only PTB and code 2', () => {
    const s = setup();
    const send = (b: Uint8Array, f: (p: import('../../src/pbuf/pbuf.ts').Pbuf) => void): void => {
      const p = s.pool.fromBytes(b)!;
      f(p);
      p.free();
    };
    send(icmpPkt(1, 4, 0, pattern(48)), (p) => s.icmp6.destUnreachable(p, 3));
    send(icmpPkt(137, 0, 0, pattern(40)), (p) => s.icmp6.destUnreachable(p, 3));
    send(pkt(udp(1, 2, pattern(8)), { src: ip('ff02::9'), nh: 17 }), (p) => s.icmp6.destUnreachable(p, 3));
    send(pkt(udp(1, 2, pattern(8)), { src: IP6_ANY, nh: 17 }), (p) => s.icmp6.destUnreachable(p, 3));
    send(pkt(udp(1, 2, pattern(8)), { dst: ALL_NODES, nh: 17 }), (p) => s.icmp6.destUnreachable(p, 3));
    send(pkt(udp(1, 2, pattern(8)), { dst: ALL_NODES, nh: 17 }), (p) => s.icmp6.paramProblem(p, 0, 4));
    expect(s.sent).toHaveLength(0);
    expect(s.stats.icmp6x.errorsSuppressed).toBe(6);
    // Errors about informational ICMPv6 (an echo) are fine.
    send(icmpPkt(128, 0, 0, pattern(8)), (p) => s.icmp6.paramProblem(p, 0, 4));
    send(pkt(udp(1, 2, pattern(8)), { dst: ALL_NODES, nh: 17 }), (p) => s.icmp6.packetTooBig(p, 1280));
    send(pkt(udp(1, 2, pattern(8)), { dst: ALL_NODES, nh: 17 }), (p) => s.icmp6.paramProblem(p, 2, 42));
    expect(s.sent).toHaveLength(3);
    // About a packet to a group, the error comes from a unicast address of ours.
    expect(msgOf(s.sent[1]!).src.equals(A)).toBe(true);
    s.end();
  });

  test('errors are rate limited (token bucket), counted', () => {
    const s = setup({ icmp6: { errorBurst: 2, errorRatePerSec: 1 } });
    for (let i = 0; i < 5; i++) s.feed(pkt(pattern(16), { nh: 253 }));
    expect(s.sent).toHaveLength(2);
    expect(s.stats.icmp6x.rateLimited).toBe(3);
    expect(s.icmp6.rateLimited).toBe(3);
    s.clock.advanceTo(1000);
    s.feed(pkt(pattern(16), { nh: 253 }));
    s.feed(pkt(pattern(16), { nh: 253 }));
    expect(s.sent).toHaveLength(3);
    expect(s.stats.icmp6x.rateLimited).toBe(4);
    expect(s.stats.icmp6x.errorsSent).toBe(3);
    s.end();
  });
});

describe('Neighbour discovery', () => {
  /** An NS for `target`, with an optional source link-layer option. */
  function ns(target: Ip6Addr, o: { src?: Ip6Addr; dst?: Ip6Addr; hop?: number; slla?: boolean } = {}): Uint8Array {
    const body = new Uint8Array(16 + (o.slla ? 8 : 0));
    target.writeTo(body, 0);
    if (o.slla) body.set([1, 1, 2, 0, 0, 0, 0, 1], 16);
    return icmpPkt(135, 0, 0, body, { src: o.src ?? PEER_LL, dst: o.dst ?? SOLICITED_A, hop: o.hop ?? 255 });
  }

  test('a solicitation for our address is answered with a solicited, override advertisement', () => {
    const s = setup();
    s.feed(ns(A, { slla: true }));
    expect(s.sent).toHaveLength(1);
    const m = msgOf(s.sent[0]!);
    expect(m.hop).toBe(255);
    expect(m.src.equals(A) && m.dst.equals(PEER_LL)).toBe(true);
    expect(parseIcmpv6(m.v)).toEqual({ kind: 'neighbor-advert', router: false, solicited: true, override: true, target: A.bytes() });
    expect(s.stats.icmp6x.ndSolicitsAnswered).toBe(1);
    // Unicast to our link-local address, for it.
    s.feed(ns(LL, { dst: LL }));
    expect(s.sent).toHaveLength(2);
    expect(msgOf(s.sent[1]!).src.equals(LL)).toBe(true);
    s.end();
  });

  test('duplicate address detection (from ::) is answered to all-nodes, not solicited', () => {
    const s = setup();
    s.feed(ns(A, { src: IP6_ANY }));
    const m = msgOf(s.sent[0]!);
    expect(m.dst.equals(ALL_NODES)).toBe(true);
    expect(parseIcmpv6(m.v)).toMatchObject({ kind: 'neighbor-advert', solicited: false, override: true });
    s.end();
  });

  test('invalid solicitations and ones for other targets are ignored, counted', () => {
    const s = setup();
    s.feed(ns(A, { hop: 64 })); // forwarded: not from this link
    s.feed(ns(PEER)); // to our group, but for a target that is not ours
    s.feed(ns(PEER, { dst: ip('ff02::1:ff00:2') })); // not our group: dropped by IP
    s.feed(ns(ip('2001:db8::1:1'), { dst: A })); // unicast, for a target that is not ours
    s.feed(ns(A, { src: IP6_ANY, dst: A })); // DAD must go to the solicited-node group
    s.feed(ns(A, { src: IP6_ANY, slla: true })); // DAD with a link-layer option
    s.feed(ns(ip('ff02::1'), { dst: A })); // multicast target
    expect(s.sent).toHaveLength(0);
    expect(s.stats.icmp6x.nsReceived).toBe(6);
    expect(s.stats.icmp6x.nsIgnored).toBe(6);
    expect(s.stats.ip6x.notForUs).toBe(1);
    s.end();
  });

  test('router and neighbour advertisements, redirects, MLD and unknown informational types are counted and ignored', () => {
    const s = setup();
    s.feed(icmpPkt(134, 0, 0, new Uint8Array(8), { src: PEER_LL, dst: ALL_NODES, hop: 255 }));
    s.feed(icmpPkt(136, 0, 0x60000000, A.bytes(), { src: PEER_LL, dst: ALL_NODES, hop: 255 }));
    s.feed(icmpPkt(133, 0, 0, new Uint8Array(0), { src: PEER_LL, dst: ALL_NODES, hop: 255 }));
    s.feed(icmpPkt(137, 0, 0, new Uint8Array(32), { src: PEER_LL, dst: LL, hop: 255 }));
    s.feed(icmpPkt(130, 0, 0, new Uint8Array(16), { src: PEER_LL, dst: ALL_NODES, hop: 1 }));
    s.feed(icmpPkt(200, 0, 0, new Uint8Array(4)));
    expect(s.sent).toHaveLength(0);
    expect(s.stats.icmp6x.ndIgnored).toBe(4);
    expect(s.stats.icmp6x.mldIgnored).toBe(1);
    expect(s.stats.icmp6x.unknownInformational).toBe(1);
    expect(s.stats.icmp6.drop).toBe(6);
    s.end();
  });
});

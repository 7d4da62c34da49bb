// The IPv6 layer (src/ip/ipv6.ts) on a minimal IpHost built from the real
// pool, clock, stats and netifs: input validation, extension headers,
// reassembly, output with flow labels, fragmentation and the path MTU cache.
import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import type { IpHost, IpInfo } from '../../src/ip/host.ts';
import { Icmp6, type Icmp6Options } from '../../src/ip/icmp6.ts';
import { Ipv6, type Ipv6Options } from '../../src/ip/ipv6.ts';
import { Netif } from '../../src/netif/netif.ts';
import { PbufType, type Pbuf } from '../../src/pbuf/pbuf.ts';
import { PbufLayer, PbufPool, PbufUse } from '../../src/pbuf/pool.ts';
import { newStats } from '../../src/stats.ts';
import { Rng } from '../../src/time/rng.ts';
import { VirtualClock } from '../../src/time/virtual-clock.ts';
import { WireErrorCode } from '../../src/wire/error.ts';
import { icmpv6ChecksumOk, Icmpv6View, parseIcmpv6 } from '../../src/wire/icmpv6.ts';
import { IP6_ANY, IP6_LOOPBACK, Ip6Addr } from '../../src/wire/ipaddr.ts';
import { newIpv6ExtResult, walkIpv6Ext } from '../../src/wire/ipv6-ext.ts';
import { emitIpv6, Ipv6NextHeader, Ipv6View } from '../../src/wire/ipv6.ts';
import { frag6 } from '../support/frag6.ts';

const ip = (s: string): Ip6Addr => Ip6Addr.parse(s)!;
/** Ours, on tun0. */
const A = ip('2001:db8::1');
const LL = ip('fe80::1');
/** A peer on tun0's prefix, and a host behind it. */
const PEER = ip('2001:db8::2');
const FAR = ip('2001:db8:1::9');
const ALL_NODES = ip('ff02::1');

function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return out;
}

/** A UDP-looking payload: ports, length, a zero checksum, then data. */
function udp(sport: number, dport: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  out.set([sport >>> 8, sport & 0xff, dport >>> 8, dport & 0xff, (out.length >>> 8) & 0xff, out.length & 0xff, 0, 0]);
  out.set(data, 8);
  return out;
}

interface PktSpec {
  src?: Ip6Addr;
  dst?: Ip6Addr;
  nh?: number;
  hop?: number;
  tc?: number;
  ext?: Uint8Array;
}

function pkt(payload: Uint8Array, o: PktSpec = {}): Uint8Array {
  const ext = o.ext ?? new Uint8Array(0);
  const out = new Uint8Array(40 + ext.length + payload.length);
  emitIpv6(
    { src: (o.src ?? PEER).bytes(), dst: (o.dst ?? A).bytes(), nextHeader: o.nh ?? 17, payloadLen: ext.length + payload.length, hopLimit: o.hop ?? 64, trafficClass: o.tc ?? 0, flowLabel: 0 },
    out,
    0,
  );
  out.set(ext, 40);
  out.set(payload, 40 + ext.length);
  return out;
}

/** An options header (8 bytes) holding one option of `type` with 4 data bytes. */
function optHdr(nextHeader: number, type = 1): Uint8Array {
  return Uint8Array.of(nextHeader, 0, type, 4, 0, 0, 0, 0);
}

function routingHdr(nextHeader: number, routingType: number, segmentsLeft: number): Uint8Array {
  // 24 bytes: an RH0-shaped header with one address.
  const h = new Uint8Array(24);
  h.set([nextHeader, 2, routingType, segmentsLeft]);
  return h;
}

function setup(o: { ip6?: Ipv6Options; icmp6?: Icmp6Options; mtu?: number } = {}) {
  const clock = new VirtualClock();
  const pool = new PbufPool({ trackLive: true });
  const stats = newStats();
  const sent: Uint8Array[] = [];
  const looped: Uint8Array[] = [];
  const netifs: Netif[] = [];
  const host: IpHost = { pool, clock, rng: new Rng(7), stats, netifs, timer: (cb, name) => clock.timer(cb, name) };
  const lo = new Netif({ name: 'lo', addr: 0x7f000001, netmask: 0xff000000, mtu: 65535, output: (p) => (looped.push(p.toBytes()), Err.OK) });
  const eth = new Netif({ name: 'tun0', addr: 0x0a000001, netmask: 0xffffff00, mtu: o.mtu ?? 1500, output: (p) => (sent.push(p.toBytes()), Err.OK) });
  lo.index = 1;
  eth.index = 2;
  eth.addAddr6(A, 64);
  eth.addAddr6(LL, 64);
  netifs.push(lo, eth);
  const ip6 = new Ipv6(host, { flowKey: [0x01234567, 0x89abcdef], ...o.ip6 });
  ip6.loopback = lo;
  ip6.defaultNetif = eth;
  const icmp6 = new Icmp6(host, ip6, o.icmp6);
  const got: { bytes: Uint8Array; info: IpInfo; infoObj: IpInfo }[] = [];
  ip6.register(17, (p, info) => {
    got.push({ bytes: p.toBytes(), info: { ...info }, infoObj: info });
    p.free();
  });
  const feed = (bytes: Uint8Array, n: Netif = eth): void => ip6.input(pool.fromBytes(bytes, PbufLayer.RAW, PbufUse.RX)!, n);
  /** Feed as a chain of POOL pieces (as the simulator delivers large packets). */
  const feedChain = (bytes: Uint8Array, n: Netif = eth): void => {
    const p = pool.alloc(PbufLayer.RAW, bytes.length, PbufType.POOL, PbufUse.RX)!;
    expect(p.next).not.toBeNull();
    p.take(bytes);
    ip6.input(p, n);
  };
  const end = (): void => {
    ip6.close();
    pool.assertEmpty();
  };
  return { clock, pool, stats, host, lo, eth, ip6, icmp6, sent, looped, got, feed, feedChain, end };
}

/** The ICMPv6 message of a sent packet (no extension headers), checked. */
function icmpOf(bytes: Uint8Array) {
  const v = new Icmpv6View(bytes, 40, bytes.length - 40);
  expect(icmpv6ChecksumOk(v, bytes, bytes, 8, 24)).toBe(true);
  expect(bytes[6]).toBe(58);
  return { type: v.type, code: v.code, rest: v.rest, v, repr: parseIcmpv6(v) };
}

describe('IPv6 input', () => {
  test('delivers to the registered handler with the IpInfo filled, and reuses addresses and info', () => {
    const { got, feed, stats, end } = setup();
    const payload = udp(1000, 2000, pattern(50));
    feed(pkt(payload, { hop: 17, tc: 0xb8 }));
    feed(pkt(payload, { hop: 17, tc: 0xb8 }));
    expect(got).toHaveLength(2);
    const { info, bytes } = got[0]!;
    expect(bytes).toEqual(payload);
    expect(info.src).toBeInstanceOf(Ip6Addr);
    expect((info.src as Ip6Addr).equals(PEER)).toBe(true);
    expect((info.dst as Ip6Addr).equals(A)).toBe(true);
    expect(info).toMatchObject({ protocol: 17, ttl: 17, tos: 0xb8, headerLen: 40, broadcast: false, multicast: false });
    expect(info.netif.name).toBe('tun0');
    // Steady traffic allocates no addresses and one IpInfo for all.
    expect(got[1]!.info.src).toBe(info.src);
    expect(got[1]!.info.dst).toBe(info.dst);
    expect(got[1]!.infoObj).toBe(got[0]!.infoObj);
    expect(stats.ip6.recv).toBe(2);
    expect(stats.ip6.drop).toBe(0);
    end();
  });

  test('a hop limit of 0 is delivered (a host never forwards), and counted', () => {
    const { got, feed, stats, end } = setup();
    feed(pkt(udp(1, 2, pattern(4)), { hop: 0 }));
    expect(got).toHaveLength(1);
    expect(got[0]!.info.ttl).toBe(0);
    expect(stats.ip6x.hopLimitZero).toBe(1);
    end();
  });

  test('link padding is trimmed', () => {
    const { got, feed, end } = setup();
    const payload = udp(1, 2, pattern(20));
    const b = pkt(payload);
    const padded = new Uint8Array(b.length + 7).fill(0xee);
    padded.set(b);
    feed(padded);
    expect(got).toHaveLength(1);
    expect(got[0]!.bytes).toEqual(payload);
    end();
  });

  const drops: { name: string; bytes: () => Uint8Array; counter: string; netif?: 'lo' }[] = [
    { name: 'shorter than the fixed header', bytes: () => pkt(udp(1, 2, pattern(8))).subarray(0, 39), counter: 'ip6.lenerr' },
    { name: 'payload length past the buffer', bytes: () => pkt(udp(1, 2, pattern(8))).subarray(0, 50), counter: 'ip6.lenerr' },
    { name: 'version 4', bytes: () => ((b) => ((b[0] = 0x45), b))(pkt(udp(1, 2, pattern(8)))), counter: 'ip6.proterr' },
    { name: 'multicast source', bytes: () => pkt(udp(1, 2, pattern(8)), { src: ip('ff02::5') }), counter: 'ip6x.multicastSrc' },
    { name: 'unspecified source on UDP', bytes: () => pkt(udp(1, 2, pattern(8)), { src: IP6_ANY }), counter: 'ip6x.unspecifiedSrc' },
    { name: 'our own address as source (LAND)', bytes: () => pkt(udp(1, 2, pattern(8)), { src: A }), counter: 'ip6x.ownSrc' },
    { name: '::1 from outside', bytes: () => pkt(udp(1, 2, pattern(8)), { dst: IP6_LOOPBACK }), counter: 'ip6x.loopbackAddr' },
    { name: 'source ::1 from outside', bytes: () => pkt(udp(1, 2, pattern(8)), { src: IP6_LOOPBACK }), counter: 'ip6x.loopbackAddr' },
    { name: 'IPv4-mapped source', bytes: () => pkt(udp(1, 2, pattern(8)), { src: Ip6Addr.v4Mapped(0x0a000002) }), counter: 'ip6x.v4MappedAddr' },
    { name: 'not for us', bytes: () => pkt(udp(1, 2, pattern(8)), { dst: ip('2001:db8::99') }), counter: 'ip6x.notForUs' },
    { name: 'a group we did not join', bytes: () => pkt(udp(1, 2, pattern(8)), { dst: ip('ff02::2') }), counter: 'ip6x.notForUs' },
    { name: 'the solicited-node group of another address', bytes: () => pkt(udp(1, 2, pattern(8)), { dst: ip('ff02::1:ff00:99') }), counter: 'ip6x.notForUs' },
    { name: 'no next header (59)', bytes: () => pkt(new Uint8Array(0), { nh: 59 }), counter: 'ip6x.noNextHeader' },
  ];
  for (const c of drops) {
    test(`drops, counted, unanswered: ${c.name}`, () => {
      const s = setup();
      s.feed(c.bytes());
      const [group, name] = c.counter.split('.') as [string, string];
      expect((s.stats as unknown as Record<string, Record<string, number>>)[group]![name]).toBe(1);
      expect(s.stats.ip6.recv).toBe(1);
      expect(s.stats.ip6.drop).toBe(1);
      expect(s.got).toHaveLength(0);
      expect(s.sent).toHaveLength(0);
      s.end();
    });
  }

  test('a netif without IPv6 (no address, or an MTU below 1280) drops everything', () => {
    const s = setup();
    const plain = new Netif({ name: 'v4only', addr: 0x0b000001, netmask: 0xffffff00, output: () => Err.OK });
    s.feed(pkt(udp(1, 2, pattern(8))), plain);
    s.eth.mtu = 1000;
    s.feed(pkt(udp(1, 2, pattern(8))));
    expect(s.stats.ip6x.disabledNetif).toBe(2);
    expect(s.got).toHaveLength(0);
    s.end();
  });

  test('all-nodes and our solicited-node group are accepted as multicast; ::1 only over the loopback', () => {
    const { got, feed, lo, end } = setup();
    feed(pkt(udp(1, 2, pattern(8)), { dst: ALL_NODES }));
    feed(pkt(udp(1, 2, pattern(8)), { dst: ip('ff02::1:ff00:1') }));
    feed(pkt(udp(1, 2, pattern(8)), { src: IP6_LOOPBACK, dst: IP6_LOOPBACK }), lo);
    feed(pkt(udp(1, 2, pattern(8)), { src: A, dst: A }), lo);
    expect(got.map((g) => g.info.multicast)).toEqual([true, true, false, false]);
    expect(got[2]!.info.netif).toBe(lo);
    end();
  });

  test('an unknown next header is answered with a parameter problem, code 1, pointing at the Next Header byte', () => {
    const { feed, sent, stats, end } = setup();
    const bad = pkt(pattern(16), { nh: 253 });
    feed(bad);
    expect(sent).toHaveLength(1);
    const m = icmpOf(sent[0]!);
    expect(m).toMatchObject({ type: 4, code: 1, rest: 6 });
    expect(sent[0]!.subarray(48)).toEqual(bad);
    const v = new Ipv6View(sent[0]!);
    expect(Ip6Addr.fromBytes(sent[0]!, 8).equals(A)).toBe(true);
    expect(Ip6Addr.fromBytes(sent[0]!, 24).equals(PEER)).toBe(true);
    expect(v.hopLimit).toBe(64);
    // Behind a destination options header the pointer moves with it.
    feed(pkt(pattern(16), { nh: Ipv6NextHeader.DSTOPTS, ext: optHdr(253) }));
    expect(icmpOf(sent[1]!)).toMatchObject({ type: 4, code: 1, rest: 40 });
    // Never for a packet to a group.
    feed(pkt(pattern(16), { nh: 253, dst: ALL_NODES }));
    expect(sent).toHaveLength(2);
    expect(stats.ip6x.unknownNextHeader).toBe(3);
    expect(stats.ip6.proterr).toBe(3);
    expect(stats.icmp6x.errorsSent).toBe(2);
    end();
  });

  test('a routing header with segments left is refused with a parameter problem at its type (RFC 5095); with none it is skipped', () => {
    const { feed, sent, got, stats, end } = setup();
    feed(pkt(udp(1, 2, pattern(8)), { nh: Ipv6NextHeader.ROUTING, ext: routingHdr(17, 0, 1) }));
    expect(sent).toHaveLength(1);
    expect(icmpOf(sent[0]!)).toMatchObject({ type: 4, code: 0, rest: 42 });
    expect(stats.ip6x.routingHeader).toBe(1);
    expect(stats.ip6x.routingType0).toBe(1);
    feed(pkt(udp(1, 2, pattern(8)), { nh: Ipv6NextHeader.ROUTING, ext: routingHdr(17, 0, 0) }));
    expect(got).toHaveLength(1);
    expect(got[0]!.info.headerLen).toBe(64);
    expect(stats.ip6x.extHeaderDrops).toBe(1);
    end();
  });

  test('unknown options follow their two high bits (RFC 8200 §4.2) and the multicast rule (RFC 4443 §2.4(e.3))', () => {
    const { feed, sent, got, stats, end } = setup();
    const withOpt = (type: number, dst: Ip6Addr): Uint8Array => pkt(udp(1, 2, pattern(8)), { nh: Ipv6NextHeader.DSTOPTS, ext: optHdr(17, type), dst });
    feed(withOpt(0x05, A)); // 00: skipped
    expect(got).toHaveLength(1);
    feed(withOpt(0x45, A)); // 01: silent drop
    feed(withOpt(0x45, ALL_NODES));
    expect(sent).toHaveLength(0);
    feed(withOpt(0x85, A)); // 10: parameter problem, even to a group
    feed(withOpt(0x85, ALL_NODES));
    expect(sent).toHaveLength(2);
    feed(withOpt(0xc5, A)); // 11: only when not to a group
    feed(withOpt(0xc5, ALL_NODES));
    expect(sent).toHaveLength(3);
    for (const s of sent) expect(icmpOf(s)).toMatchObject({ type: 4, code: 2, rest: 42 });
    // The error about a packet to the group comes from our unicast address.
    expect(Ip6Addr.fromBytes(sent[1]!, 8).equals(A)).toBe(true);
    expect(stats.ip6x.unknownOption).toBe(6);
    expect(stats.ip6.opterr).toBe(6);
    expect(got).toHaveLength(1);
    end();
  });

  test('more extension headers than allowed are counted and dropped silently', () => {
    const { feed, sent, got, stats, end } = setup({ ip6: { maxExtHeaders: 4 } });
    const chain = (n: number): Uint8Array => {
      const ext = new Uint8Array(8 * n);
      for (let i = 0; i < n; i++) ext.set(optHdr(i === n - 1 ? 17 : Ipv6NextHeader.DSTOPTS), 8 * i);
      return pkt(udp(1, 2, pattern(8)), { nh: Ipv6NextHeader.DSTOPTS, ext });
    };
    feed(chain(4));
    expect(got).toHaveLength(1);
    expect(got[0]!.info.headerLen).toBe(72);
    feed(chain(5));
    expect(got).toHaveLength(1);
    expect(sent).toHaveLength(0);
    expect(stats.ip6x.tooManyExt).toBe(1);
    expect(stats.ip6x.extHeaderDrops).toBe(1);
    end();
  });

  test('hop-by-hop options after the first header are refused (code 1)', () => {
    const { feed, sent, stats, end } = setup();
    const ext = new Uint8Array([...optHdr(Ipv6NextHeader.HOPOPTS), ...optHdr(17)]);
    feed(pkt(udp(1, 2, pattern(8)), { nh: Ipv6NextHeader.DSTOPTS, ext }));
    expect(icmpOf(sent[0]!)).toMatchObject({ type: 4, code: 1, rest: 40 });
    expect(stats.ip6x.hbhNotFirst).toBe(1);
    end();
  });

  test('a chained packet with extension headers is walked like a contiguous one', () => {
    const { feedChain, got, end } = setup();
    const payload = udp(5, 6, pattern(3000));
    feedChain(pkt(payload, { nh: Ipv6NextHeader.HOPOPTS, ext: optHdr(17) }));
    expect(got).toHaveLength(1);
    expect(got[0]!.bytes).toEqual(payload);
    expect(got[0]!.info.headerLen).toBe(48);
    end();
  });
});

describe('IPv6 fragments', () => {
  const spec = { src: PEER.bytes(), dst: A.bytes(), nextHeader: 17, ident: 0x55 };

  test('are reassembled and delivered to the handler, in any order', () => {
    const { feed, got, stats, ip6, end } = setup();
    const payload = udp(7, 8, pattern(3000));
    const frags = [frag6(payload.subarray(2896), 2896, false, spec), frag6(payload.subarray(1448, 2896), 1448, true, spec), frag6(payload.subarray(0, 1448), 0, true, spec)];
    for (const f of frags) feed(f);
    expect(got).toHaveLength(1);
    expect(got[0]!.bytes).toEqual(payload);
    expect(got[0]!.info).toMatchObject({ protocol: 17, headerLen: 40 });
    expect(stats.ip6x.fragmentsIn).toBe(3);
    expect(stats.ip6x.reassembled).toBe(1);
    expect(ip6.reassembler.counters.reassembled).toBe(1);
    end();
  });

  test('an atomic fragment is a packet of its own', () => {
    const { feed, got, end } = setup();
    const payload = udp(7, 8, pattern(100));
    feed(frag6(payload, 0, false, spec));
    expect(got[0]!.bytes).toEqual(payload);
    end();
  });

  test('overlapping fragments discard the whole packet (RFC 5722)', () => {
    const { feed, got, ip6, end } = setup();
    const payload = udp(7, 8, pattern(3000));
    feed(frag6(payload.subarray(0, 1448), 0, true, spec));
    feed(frag6(payload.subarray(1400, 2896), 1400, true, spec));
    feed(frag6(payload.subarray(1448, 2896), 1448, true, spec));
    feed(frag6(payload.subarray(2896), 2896, false, spec));
    expect(got).toHaveLength(0);
    expect(ip6.reassembler.counters.overlaps).toBe(1);
    end();
  });

  test('a packet that does not complete in time is answered with time exceeded, code 1, if its first fragment came', () => {
    const { feed, sent, clock, end } = setup();
    const payload = udp(7, 8, pattern(3000));
    feed(frag6(payload.subarray(0, 1448), 0, true, spec));
    clock.advanceTo(61_000);
    expect(sent).toHaveLength(1);
    const m = icmpOf(sent[0]!);
    expect(m).toMatchObject({ type: 3, code: 1 });
    expect(Ip6Addr.fromBytes(sent[0]!, 24).equals(PEER)).toBe(true);
    end();
  });
});

describe('IPv6 output', () => {
  function send(s: ReturnType<typeof setup>, payload: Uint8Array, dst: Ip6Addr, nh = 17, extra: { df?: boolean; rom?: boolean; gso?: number } = {}): number {
    const p = extra.rom ? s.pool.wrap(payload)! : s.pool.fromBytes(payload, PbufLayer.TRANSPORT)!;
    if (extra.gso !== undefined) p.gsoSize = extra.gso;
    const before = { off: p.off, len: p.len, totLen: p.totLen };
    const err = s.ip6.output(p, IP6_ANY, dst, nh, undefined, undefined, extra.df);
    // Output does not take p, and gives it back as it was.
    expect({ off: p.off, len: p.len, totLen: p.totLen }).toEqual(before);
    p.free();
    return err;
  }

  test('builds the header, picks the source, labels the flow', () => {
    const s = setup();
    const payload = udp(4000, 53, pattern(30));
    expect(send(s, payload, PEER)).toBe(Err.OK);
    expect(send(s, payload, PEER)).toBe(Err.OK);
    expect(send(s, udp(4001, 53, pattern(30)), PEER)).toBe(Err.OK);
    expect(send(s, payload, FAR, 17, { rom: true })).toBe(Err.OK);
    expect(s.sent).toHaveLength(4);
    const v = new Ipv6View(s.sent[0]!);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(v.version).toBe(6);
    expect(v.payloadLength).toBe(payload.length);
    expect(v.nextHeader).toBe(17);
    expect(v.hopLimit).toBe(64);
    expect(v.trafficClass).toBe(0);
    expect(Ip6Addr.fromBytes(s.sent[0]!, 8).equals(A)).toBe(true);
    expect(Ip6Addr.fromBytes(s.sent[0]!, 24).equals(PEER)).toBe(true);
    expect(s.sent[0]!.subarray(40)).toEqual(payload);
    const label = (b: Uint8Array): number => new Ipv6View(b).flowLabel;
    expect(label(s.sent[0]!)).not.toBe(0);
    expect(label(s.sent[1]!)).toBe(label(s.sent[0]!));
    expect(label(s.sent[2]!)).not.toBe(label(s.sent[0]!));
    // A payload without header room gets a header piece of its own.
    expect(s.sent[3]!.subarray(40)).toEqual(payload);
    expect(label(s.sent[3]!)).not.toBe(label(s.sent[0]!));
    // The label is keyed: another key labels the same flow differently.
    const t = setup({ ip6: { flowKey: [5, 6] } });
    send(t, payload, PEER);
    expect(label(t.sent[0]!)).not.toBe(label(s.sent[0]!));
    expect(s.stats.ip6.xmit).toBe(4);
    t.end();
    s.end();
  });

  test('an explicit flow label, hop limit and traffic class are used as given', () => {
    const s = setup();
    const p = s.pool.fromBytes(udp(1, 2, pattern(8)), PbufLayer.TRANSPORT)!;
    expect(s.ip6.output(p, A, PEER, 17, 9, 0x2e, false, 0xabcde)).toBe(Err.OK);
    p.free();
    const v = new Ipv6View(s.sent[0]!);
    expect([v.flowLabel, v.hopLimit, v.trafficClass]).toEqual([0xabcde, 9, 0x2e]);
    s.end();
  });

  test('routes and sources: loopback for our addresses and ::1, on-link, default; RFC 6724 scope and prefix', () => {
    const s = setup();
    const { ip6, lo, eth } = s;
    expect(ip6.route(A)).toBe(lo);
    expect(ip6.route(IP6_LOOPBACK)).toBe(lo);
    expect(ip6.route(PEER)).toBe(eth);
    expect(ip6.route(FAR)).toBe(eth);
    expect(ip6.route(0x0a000002)).toBeNull();
    expect(ip6.sourceFor(lo, A)).toBe(A);
    expect(ip6.sourceFor(eth, ip('fe80::2'))).toBe(LL);
    expect(ip6.sourceFor(eth, ALL_NODES)).toBe(LL);
    expect(ip6.sourceFor(eth, FAR)).toBe(A);
    eth.addAddr6(ip('2001:db8:1::1'), 64);
    expect(ip6.sourceFor(eth, FAR).equals(ip('2001:db8:1::1'))).toBe(true);
    const bare = new Netif({ name: 'bare', addr: 0, netmask: 0, output: () => Err.OK });
    expect(ip6.sourceFor(bare, FAR)).toBe(IP6_ANY);
    expect(ip6.mtuOf(bare)).toBe(0);
    expect(ip6.mtuOf(eth)).toBe(1500);
    expect(ip6.mtuOf(lo)).toBe(65535);
    expect(ip6.isLocal(A) && ip6.isLocal(IP6_LOOPBACK) && !ip6.isLocal(PEER) && !ip6.isOwn(IP6_LOOPBACK)).toBe(true);
    // No IPv6 on the default netif: no route off-link.
    eth.mtu = 1000;
    expect(ip6.route(FAR)).toBeNull();
    const p = s.pool.fromBytes(udp(1, 2, pattern(8)), PbufLayer.TRANSPORT)!;
    expect(ip6.output(p, IP6_ANY, FAR, 17)).toBe(Err.RTE);
    p.free();
    expect(s.stats.ip6.rterr).toBe(1);
    s.end();
  });

  test('sending to ourselves goes over the loopback from that address', () => {
    const s = setup();
    expect(send(s, udp(1, 2, pattern(8)), A)).toBe(Err.OK);
    expect(send(s, udp(1, 2, pattern(8)), IP6_LOOPBACK)).toBe(Err.OK);
    expect(s.looped).toHaveLength(2);
    expect(Ip6Addr.fromBytes(s.looped[0]!, 8).equals(A)).toBe(true);
    expect(Ip6Addr.fromBytes(s.looped[1]!, 8).equals(IP6_LOOPBACK)).toBe(true);
    // And what loops back is taken in.
    for (const b of s.looped) s.feed(b, s.lo);
    expect(s.got).toHaveLength(2);
    s.end();
  });

  test('a datagram above the MTU is fragmented into valid fragments that reassemble to it', () => {
    const s = setup();
    const payload = udp(9, 10, pattern(4000));
    expect(send(s, payload, PEER)).toBe(Err.OK);
    expect(s.sent.length).toBe(3);
    const ext = newIpv6ExtResult();
    const idents = new Set<number>();
    for (const f of s.sent) {
      expect(f.length).toBeLessThanOrEqual(1500);
      expect(walkIpv6Ext(f, 0, f.length, ext)).toBe(WireErrorCode.OK);
      expect(ext.hasFragment).toBe(true);
      idents.add(ext.fragIdent);
    }
    expect(idents.size).toBe(1);
    expect(s.stats.ip6x.fragmented).toBe(1);
    expect(s.stats.ip6x.fragmentsOut).toBe(3);
    expect(s.stats.ip6.xmit).toBe(1);
    // The peer puts them back together.
    const peer = peerOf(s);
    for (const f of [...s.sent].reverse()) peer.feed(f);
    expect(peer.got).toHaveLength(1);
    expect(peer.got[0]!.bytes).toEqual(payload);
    // The next datagram gets another identification.
    s.sent.length = 0;
    send(s, payload, PEER);
    walkIpv6Ext(s.sent[0]!, 0, s.sent[0]!.length, ext);
    expect(idents.has(ext.fragIdent)).toBe(false);
    peer.end();
    s.end();
  });

  test('dontFragment refuses what is too big; a GSO super-segment passes whole', () => {
    const s = setup();
    expect(send(s, udp(9, 10, pattern(4000)), PEER, 17, { df: true })).toBe(Err.VAL);
    expect(s.sent).toHaveLength(0);
    expect(s.stats.ip6x.tooBigNoFrag).toBe(1);
    s.eth.gsoMaxSize = 65535;
    expect(send(s, pattern(5000), PEER, 6, { df: true, gso: 1440 })).toBe(Err.OK);
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]!.length).toBe(5040);
    expect(s.eth.counters.txGso).toBe(1);
    s.end();
  });

  test('the path MTU cache: learned from below, never under 1280 nor raised, ages out after 10 minutes, bounded', () => {
    const s = setup({ ip6: { pmtuCacheSize: 2 } });
    const { ip6, clock, stats } = s;
    expect(ip6.pmtu(FAR)).toBe(1500);
    expect(ip6.learnPmtu(FAR, 1300)).toBe(true);
    expect(ip6.pmtu(FAR)).toBe(1300);
    expect(ip6.learnPmtu(FAR, 1400)).toBe(false);
    expect(ip6.learnPmtu(FAR, 600)).toBe(true);
    expect(ip6.pmtu(FAR)).toBe(1280);
    // UDP is cut to the path MTU; TCP sizes itself and is not.
    expect(send(s, udp(1, 2, pattern(1392)), FAR)).toBe(Err.OK);
    expect(s.sent.length).toBe(2);
    for (const f of s.sent) expect(f.length).toBeLessThanOrEqual(1280);
    s.sent.length = 0;
    expect(send(s, pattern(1400), FAR, 6)).toBe(Err.OK);
    expect(s.sent.map((b) => b.length)).toEqual([1440]);
    clock.advanceTo(600_000);
    expect(ip6.pmtu(FAR)).toBe(1500);
    expect(stats.ip6x.pmtuExpired).toBe(1);
    ip6.learnPmtu(ip('2001:db8:2::1'), 1300);
    ip6.learnPmtu(ip('2001:db8:3::1'), 1300);
    ip6.learnPmtu(ip('2001:db8:4::1'), 1300);
    expect(ip6.pmtuEntries).toBe(2);
    expect(stats.ip6x.pmtuEvicted).toBe(1);
    expect(ip6.pmtu(ip('2001:db8:2::1'))).toBe(1500);
    expect(ip6.pmtu(ip('2001:db8:4::1'))).toBe(1300);
    expect(stats.ip6x.pmtuLearned).toBe(5);
    s.end();
  });

  test('an unusable src/dst type is refused, not thrown', () => {
    const s = setup();
    const p = s.pool.fromBytes(udp(1, 2, pattern(8)), PbufLayer.TRANSPORT)!;
    expect(s.ip6.output(p, IP6_ANY, 0x0a000002, 17)).toBe(Err.VAL);
    expect(s.ip6.output(p, 0x0a000001, PEER, 17)).toBe(Err.VAL);
    p.free();
    expect(s.stats.ip6.err).toBe(2);
    s.end();
  });
});

/** A second host owning PEER, to receive what `s` sends. */
function peerOf(s: ReturnType<typeof setup>) {
  const pool = s.pool;
  const stats = newStats();
  const netifs: Netif[] = [];
  const host: IpHost = { pool, clock: s.clock, rng: new Rng(9), stats, netifs, timer: (cb, name) => s.clock.timer(cb, name) };
  const eth = new Netif({ name: 'peer0', addr: 0x0a000002, netmask: 0xffffff00, output: () => Err.OK });
  eth.addAddr6(PEER, 64);
  netifs.push(eth);
  const ip6 = new Ipv6(host);
  ip6.defaultNetif = eth;
  const got: { bytes: Uint8Array }[] = [];
  ip6.register(17, (p: Pbuf) => {
    got.push({ bytes: p.toBytes() });
    p.free();
  });
  return { ip6, got, feed: (b: Uint8Array) => ip6.input(pool.fromBytes(b, PbufLayer.RAW, PbufUse.RX)!, eth), end: () => ip6.close() };
}

describe('IPv6 input fuzz', () => {
  test('mutated and truncated packets never throw, and every pbuf comes back', () => {
    const rng = new Rng(14);
    const s = setup();
    s.ip6.register(6, (p) => p.free());
    const seeds = [
      pkt(udp(1, 2, pattern(40))),
      pkt(udp(1, 2, pattern(40)), { nh: Ipv6NextHeader.HOPOPTS, ext: new Uint8Array([...optHdr(Ipv6NextHeader.DSTOPTS, 0x05), ...optHdr(17, 0xc5)]) }),
      pkt(udp(1, 2, pattern(40)), { nh: Ipv6NextHeader.ROUTING, ext: routingHdr(17, 0, 1) }),
      frag6(udp(1, 2, pattern(1440)).subarray(0, 1448), 0, true, { src: PEER.bytes(), dst: A.bytes(), ident: 3 }),
      frag6(pattern(100), 1448, false, { src: PEER.bytes(), dst: A.bytes(), ident: 3 }),
      pkt(Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1, 9, 9), { nh: 58 }),
      pkt(udp(1, 2, pattern(3000)), { nh: Ipv6NextHeader.DSTOPTS, ext: optHdr(17) }),
      pkt(udp(1, 2, pattern(3000)), { nh: Ipv6NextHeader.HOPOPTS, ext: optHdr(Ipv6NextHeader.FRAGMENT).subarray(0, 8) }),
      pkt(Uint8Array.of(1, 4, 0, 0, 0, 0, 0, 0, ...pkt(udp(1, 2, pattern(8)), { src: A, dst: PEER })), { nh: 58 }),
    ];
    for (let i = 0; i < 4000; i++) {
      const b = seeds[rng.int(seeds.length)]!.slice();
      const flips = 1 + rng.int(4);
      for (let k = 0; k < flips; k++) {
        // Mostly header bytes: that is where the parsing is.
        const at = rng.int(2) === 0 ? rng.int(Math.min(b.length, 96)) : rng.int(b.length);
        b[at] = rng.int(256);
      }
      const cut = rng.int(4) === 0 ? rng.int(b.length + 1) : b.length;
      const bytes = b.subarray(0, cut);
      if (rng.int(3) === 0 && bytes.length > s.pool.opts.poolBufSize) s.feedChain(bytes);
      else s.feed(bytes, rng.int(8) === 0 ? s.lo : s.eth);
      if (i % 500 === 0) s.clock.advanceTo(s.clock.now() + 61_000);
    }
    expect(s.stats.ip6.recv).toBe(4000);
    expect(s.stats.ip6.drop).toBeGreaterThan(0);
    s.end();
  });
});

import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import { PbufLayer } from '../../src/pbuf/pool.ts';
import { PbufType } from '../../src/pbuf/pbuf.ts';
import type { VirtualClock } from '../../src/time/virtual-clock.ts';
import { internetChecksum } from '../../src/wire/checksum.ts';
import { isWireError } from '../../src/wire/error.ts';
import { parseIcmp } from '../../src/wire/icmp.ts';
import { Ipv4View, parseIpv4 } from '../../src/wire/ipv4.ts';
import { addr, captureStack, echoRequest, ipPacket, pattern } from '../support/packets.ts';

function mutate(bytes: Uint8Array, f: (b: Uint8Array) => void, fixChecksum = true): Uint8Array {
  const b = bytes.slice();
  f(b);
  if (fixChecksum) new Ipv4View(b, 0, Math.min(b.length, ((b[0]! & 0xf) * 4) || 20)).fillChecksum();
  return b;
}

const ping = (): Uint8Array => ipPacket(echoRequest(7, 1, pattern(32)));

describe('IPv4 input validation', () => {
  // Each malformed datagram must be dropped, counted under the right
  // reason, answered by nothing, and leak nothing.
  const cases: { name: string; bytes: () => Uint8Array; counter: 'lenerr' | 'proterr' | 'chkerr' | null }[] = [
    { name: 'empty', bytes: () => new Uint8Array(0), counter: 'lenerr' },
    { name: '19 bytes', bytes: () => ping().subarray(0, 19), counter: 'lenerr' },
    { name: 'version 6', bytes: () => mutate(ping(), (b) => (b[0] = 0x65)), counter: 'proterr' },
    { name: 'IHL 4', bytes: () => mutate(ping(), (b) => (b[0] = 0x44), false), counter: 'proterr' },
    { name: 'IHL 15 beyond the packet', bytes: () => mutate(ping().subarray(0, 40), (b) => (b[0] = 0x4f), false), counter: 'lenerr' },
    { name: 'total length < header', bytes: () => mutate(ping(), (b) => ((b[2] = 0), (b[3] = 19))), counter: 'lenerr' },
    { name: 'total length > buffer', bytes: () => mutate(ping(), (b) => ((b[2] = 0x01), (b[3] = 0x00))), counter: 'lenerr' },
    { name: 'bad header checksum', bytes: () => mutate(ping(), (b) => (b[10]! ^= 0x01), false), counter: 'chkerr' },
    { name: 'TTL 0', bytes: () => ipPacket(echoRequest(7, 1, pattern(8)), { ttl: 0 }), counter: null },
    { name: 'broadcast source', bytes: () => ipPacket(echoRequest(7, 1, pattern(8)), { src: '255.255.255.255' }), counter: null },
    { name: 'multicast source', bytes: () => ipPacket(echoRequest(7, 1, pattern(8)), { src: '224.0.0.1' }), counter: null },
    { name: 'subnet-broadcast source', bytes: () => ipPacket(echoRequest(7, 1, pattern(8)), { src: '10.0.0.255' }), counter: null },
    { name: 'not addressed to us', bytes: () => ipPacket(echoRequest(7, 1, pattern(8)), { dst: '10.0.0.9' }), counter: null },
    { name: 'loopback source from outside', bytes: () => ipPacket(echoRequest(7, 1, pattern(8)), { src: '127.0.0.1' }), counter: null },
  ];

  for (const c of cases) {
    test(`drops: ${c.name}`, () => {
      const { stack, sent, feed } = captureStack();
      feed(c.bytes());
      const ip = stack.stats.ip;
      expect(ip.recv).toBe(1);
      expect(ip.drop).toBe(1);
      if (c.counter) expect(ip[c.counter]).toBe(1);
      expect(ip.lenerr + ip.proterr + ip.chkerr).toBe(c.counter ? 1 : 0);
      expect(stack.stats.icmp.recv).toBe(0);
      expect(sent).toHaveLength(0);
      stack.pool.assertEmpty();
    });
  }

  test('a valid echo request is answered with the same data, addresses swapped, checksums right', () => {
    const { stack, sent, feed } = captureStack();
    const data = pattern(100);
    feed(ipPacket(echoRequest(0xbeef, 9, data), { src: '10.0.0.7' }));
    expect(sent).toHaveLength(1);
    const ip = parseIpv4(sent[0]!);
    if (isWireError(ip)) throw new Error(ip.message);
    expect(ip.src).toBe(addr('10.0.0.1'));
    expect(ip.dst).toBe(addr('10.0.0.7'));
    expect(ip.protocol).toBe(1);
    expect(ip.ttl).toBe(64);
    const icmp = parseIcmp(sent[0]!.subarray(20));
    expect(icmp).toEqual({ kind: 'echo-reply', ident: 0xbeef, seqNo: 9, dataLen: 100 });
    expect(sent[0]!.subarray(28)).toEqual(data);
    expect(stack.stats.icmp.xmit).toBe(1);
    expect(stack.stats.ip.xmit).toBe(1);
    stack.pool.assertEmpty();
  });

  test('link padding after the datagram is trimmed before processing', () => {
    const { stack, sent, feed } = captureStack();
    const pkt = ping();
    const padded = new Uint8Array(pkt.length + 6);
    padded.set(pkt);
    padded.fill(0xee, pkt.length);
    feed(padded);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.length).toBe(pkt.length);
    stack.pool.assertEmpty();
  });

  test('header options are accepted and skipped', () => {
    const { stack, sent, feed } = captureStack();
    const base = ping();
    // Insert 4 bytes of options (NOP NOP NOP EOL) after the fixed header.
    const withOpts = new Uint8Array(base.length + 4);
    withOpts.set(base.subarray(0, 20));
    withOpts.set([1, 1, 1, 0], 20);
    withOpts.set(base.subarray(20), 24);
    withOpts[0] = 0x46;
    withOpts[2] = withOpts.length >> 8;
    withOpts[3] = withOpts.length & 0xff;
    new Ipv4View(withOpts, 0, 24).fillChecksum();
    feed(withOpts);
    expect(sent).toHaveLength(1);
    expect(parseIcmp(sent[0]!.subarray(20))).toMatchObject({ kind: 'echo-reply', ident: 7 });
    stack.pool.assertEmpty();
  });

  test('an ICMP message with a bad checksum is counted and ignored', () => {
    const { stack, sent, feed } = captureStack();
    const msg = echoRequest(1, 1, pattern(10));
    msg[2]! ^= 0xff;
    feed(ipPacket(msg));
    expect(stack.stats.icmp.chkerr).toBe(1);
    expect(sent).toHaveLength(0);
    stack.pool.assertEmpty();
  });

  test('echo requests to a broadcast address are not answered by default', () => {
    const { stack, sent, feed } = captureStack();
    feed(ipPacket(echoRequest(1, 1, pattern(10)), { dst: '10.0.0.255' }));
    feed(ipPacket(echoRequest(1, 2, pattern(10)), { dst: '255.255.255.255' }));
    expect(sent).toHaveLength(0);
    expect(stack.stats.icmp.recv).toBe(2);
    expect(stack.stats.icmp.drop).toBe(2);
    stack.pool.assertEmpty();
  });

  test('random garbage never throws and never leaks', () => {
    const { stack, feed } = captureStack();
    let x = 12345;
    const rnd = (): number => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 3000; i++) {
      const n = rnd() % 80;
      const b = new Uint8Array(n);
      for (let j = 0; j < n; j++) b[j] = rnd();
      if (n > 0 && i % 2 === 0) b[0] = 0x45; // half of them look like IPv4
      feed(b);
    }
    expect(stack.stats.ip.recv).toBe(3000);
    stack.pool.assertEmpty();
  });
});

describe('IPv4 protocol dispatch and ICMP errors', () => {
  test('an unknown protocol is answered with protocol-unreachable quoting the datagram', () => {
    const { stack, sent, feed } = captureStack();
    const dgram = ipPacket(pattern(40), { protocol: 253, src: '10.0.0.5' });
    feed(dgram);
    expect(stack.stats.ip.proterr).toBe(1);
    expect(sent).toHaveLength(1);
    const ip = parseIpv4(sent[0]!);
    if (isWireError(ip)) throw new Error(ip.message);
    expect(ip.dst).toBe(addr('10.0.0.5'));
    const icmp = parseIcmp(sent[0]!.subarray(20));
    expect(icmp).toMatchObject({ kind: 'dest-unreachable', code: 2 });
    // The quote is the offending datagram as it arrived.
    expect(sent[0]!.subarray(28)).toEqual(dgram);
    stack.pool.assertEmpty();
  });

  test('ICMP errors are rate limited (token bucket on the stack clock)', () => {
    const { stack, sent, feed } = captureStack({ icmp: { errorRatePerSec: 10, errorBurst: 5 } });
    for (let i = 0; i < 50; i++) feed(ipPacket(pattern(8), { protocol: 253, ident: i }));
    expect(sent).toHaveLength(5);
    expect(stack.icmp.rateLimited).toBe(45);
    (stack.clock as VirtualClock).advanceBy(1000);
    for (let i = 0; i < 50; i++) feed(ipPacket(pattern(8), { protocol: 253, ident: 100 + i }));
    expect(sent).toHaveLength(10); // the bucket refilled to its burst of 5
    stack.pool.assertEmpty();
  });

  test('no ICMP error about a datagram sent to a broadcast address', () => {
    const { stack, sent, feed } = captureStack();
    feed(ipPacket(pattern(8), { protocol: 253, dst: '10.0.0.255' }));
    feed(ipPacket(pattern(8), { protocol: 253, dst: '255.255.255.255' }));
    expect(stack.stats.ip.proterr).toBe(2);
    expect(sent).toHaveLength(0);
    stack.pool.assertEmpty();
  });

  test('ICMP errors about our own datagrams reach the registered transport', () => {
    const { stack, feed } = captureStack();
    const reports: unknown[] = [];
    stack.icmp.onError(17, (e) => reports.push(e));
    const quoted = ipPacket(new Uint8Array([0x12, 0x34, 0x00, 0x35, 0, 16, 0, 0]), { src: '10.0.0.1', dst: '10.0.0.9', protocol: 17 });
    const msg = new Uint8Array(8 + quoted.length);
    msg.set(quoted, 8);
    msg[0] = 3;
    msg[1] = 4;
    msg[6] = 0x05;
    msg[7] = 0x00; // next-hop MTU 1280
    const c = internetChecksum(msg, 0, msg.length);
    msg[2] = c >> 8;
    msg[3] = c & 0xff;
    feed(ipPacket(msg, { src: '10.0.0.254' }));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ type: 3, code: 4, nextHopMtu: 1280, reporter: addr('10.0.0.254'), origSrc: addr('10.0.0.1'), origDst: addr('10.0.0.9'), protocol: 17 });
    expect((reports[0] as { transportHeader: Uint8Array }).transportHeader.subarray(0, 4)).toEqual(new Uint8Array([0x12, 0x34, 0x00, 0x35]));
    stack.pool.assertEmpty();
  });
});

describe('IPv4 output', () => {
  test('routes by subnet, picks the netif address as source, no route gives ERR_RTE', () => {
    const { stack, sent } = captureStack();
    const p = stack.pool.alloc(PbufLayer.TRANSPORT, 10, PbufType.RAM)!;
    p.take(pattern(10));
    expect(stack.ip.output(p, 0, addr('10.0.0.50'), 253)).toBe(Err.OK);
    expect(p.len).toBe(10); // the header was taken off again
    expect(sent).toHaveLength(1);
    const ip = parseIpv4(sent[0]!);
    if (isWireError(ip)) throw new Error(ip.message);
    expect(ip.src).toBe(addr('10.0.0.1'));
    // The default route is the first netif added, so off-subnet goes there too.
    expect(stack.ip.output(p, 0, addr('192.0.2.1'), 253)).toBe(Err.OK);
    stack.ip.defaultNetif = null;
    expect(stack.ip.output(p, 0, addr('192.0.2.1'), 253)).toBe(Err.RTE);
    expect(stack.stats.ip.rterr).toBe(1);
    p.free();
    stack.pool.assertEmpty();
  });

  test('a payload without header room (ROM) gets its header in a piece of its own', () => {
    const { stack, sent } = captureStack();
    const data = pattern(33);
    const rom = stack.pool.wrap(data, PbufType.ROM)!;
    expect(stack.ip.output(rom, 0, addr('10.0.0.2'), 253)).toBe(Err.OK);
    expect(rom.ref).toBe(1);
    expect(sent[0]!.subarray(20)).toEqual(data);
    expect(parseIpv4(sent[0]!)).toMatchObject({ payloadLen: 33 });
    rom.free();
    stack.pool.assertEmpty();
  });

  test('datagrams larger than the MTU leave as fragments with 8-byte-aligned offsets', () => {
    const { stack, sent } = captureStack({ mtu: 576 });
    const data = pattern(3000);
    const p = stack.pool.alloc(PbufLayer.TRANSPORT, data.length, PbufType.RAM)!;
    p.take(data);
    expect(stack.ip.output(p, 0, addr('10.0.0.2'), 253)).toBe(Err.OK);
    p.free();
    expect(sent.length).toBe(Math.ceil(3000 / 552));
    const rebuilt = new Uint8Array(3000);
    let ident = -1;
    sent.forEach((f, i) => {
      expect(f.length).toBeLessThanOrEqual(576);
      const r = parseIpv4(f);
      if (isWireError(r)) throw new Error(r.message);
      if (ident < 0) ident = r.ident;
      expect(r.ident).toBe(ident);
      expect(r.fragOffset % 8).toBe(0);
      expect(r.moreFragments).toBe(i < sent.length - 1);
      rebuilt.set(f.subarray(20), r.fragOffset);
    });
    expect(rebuilt).toEqual(data);
    expect(stack.stats.ipFrag.xmit).toBe(sent.length);
    stack.pool.assertEmpty();
  });

  test('a datagram over the MTU with DF set is refused', () => {
    const { stack, sent } = captureStack({ mtu: 576 });
    const p = stack.pool.alloc(PbufLayer.TRANSPORT, 1000, PbufType.RAM)!;
    expect(stack.ip.output(p, 0, addr('10.0.0.2'), 253, 64, 0, true)).toBe(Err.VAL);
    expect(sent).toHaveLength(0);
    p.free();
    stack.pool.assertEmpty();
  });

  test('an echo reply that cannot get memory is counted, not thrown', () => {
    const { stack, sent, feed } = captureStack({ pool: { maxPbufs: 1, trackLive: true } });
    feed(ping());
    expect(sent).toHaveLength(0);
    expect(stack.stats.icmp.memerr).toBe(1);
    expect(stack.pool.stats.allocFailures).toBeGreaterThan(0);
    stack.pool.assertEmpty();
  });
});

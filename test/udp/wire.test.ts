// UDP at the wire: crafted datagrams into a capturing stack, replies and
// counters out (RFC 768, RFC 1122 4.1.3). Every test ends with the pbuf
// pool empty.
import { describe, expect, test } from 'vitest';
import { RawUdp } from '../../src/callbacks/raw-udp.ts';
import { Err } from '../../src/err.ts';
import type { Pbuf } from '../../src/pbuf/pbuf.ts';
import type { UdpPcb } from '../../src/udp/pcb.ts';
import { internetChecksum } from '../../src/wire/checksum.ts';
import { formatIpv4Address } from '../../src/wire/address.ts';
import { addr, captureStack, ipPacket, pattern } from '../support/packets.ts';
import { parseSentUdp, udpPacket } from './helpers.ts';

interface Got {
  data: Uint8Array;
  from: string;
  port: number;
  pcb: UdpPcb;
}

/** A capture stack with the raw API and a collecting receiver helper. */
function setup(opts: { mtu?: number } = {}) {
  const env = captureStack(opts);
  const raw = new RawUdp(env.stack);
  const got: Got[] = [];
  const collect = (pcb: UdpPcb): void =>
    raw.udpRecv(pcb, (_a, pcb2, p: Pbuf, a, port) => {
      got.push({ data: p.toBytes(), from: formatIpv4Address(a as number), port, pcb: pcb2 });
      p.free();
    });
  const bound = (ip: string, port: number): UdpPcb => {
    const pcb = raw.udpNew()!;
    expect(raw.udpBind(pcb, ip, port)).toBe(Err.OK);
    collect(pcb);
    return pcb;
  };
  const done = (): void => {
    env.stack.close();
    env.stack.pool.assertEmpty();
  };
  return { ...env, raw, got, collect, bound, done };
}

/** The ICMP message inside a sent IPv4 packet (type, code, quoted bytes). */
function icmpOf(bytes: Uint8Array): { type: number; code: number; quoted: Uint8Array; dst: number } {
  expect(bytes[9]).toBe(1);
  const hl = (bytes[0]! & 0xf) * 4;
  expect(internetChecksum(bytes, hl, bytes.length - hl)).toBe(0);
  const dst = ((bytes[16]! << 24) | (bytes[17]! << 16) | (bytes[18]! << 8) | bytes[19]!) >>> 0;
  return { type: bytes[hl]!, code: bytes[hl + 1]!, quoted: bytes.slice(hl + 8), dst };
}

describe('UDP input and the raw API', () => {
  test('echo via the raw API: the reply goes back with a valid checksum, counters move', () => {
    const { stack, raw, sent, feed, done } = setup();
    const pcb = raw.udpNew()!;
    expect(raw.udpBind(pcb, '0.0.0.0', 7)).toBe(Err.OK);
    raw.udpRecv(pcb, (_a, pcb2, p, a, port) => {
      // The payload is a view of the received buffer (header removed), sent back as is.
      raw.udpSendTo(pcb2, p, a, port);
      p.free();
    });
    const data = pattern(100, 3);
    feed(udpPacket(data, { srcPort: 40000 }));
    expect(sent).toHaveLength(1);
    const r = parseSentUdp(sent[0]!);
    expect(r).toMatchObject({ src: addr('10.0.0.1'), dst: addr('10.0.0.2'), srcPort: 7, dstPort: 40000, checksumOk: true });
    expect(r.payload).toEqual(data);
    expect(stack.stats.udp).toMatchObject({ recv: 1, xmit: 1, drop: 0 });
    expect(stack.udp.counters).toMatchObject({ inDatagrams: 1, outDatagrams: 1, noPorts: 0, inErrors: 0 });
    raw.udpRemove(pcb);
    done();
  });

  test('a zero checksum is accepted (IPv4 allows "no checksum")', () => {
    const { stack, got, bound, feed, done } = setup();
    bound('0.0.0.0', 7);
    feed(udpPacket(pattern(33), { checksum: 'zero' }));
    expect(got).toHaveLength(1);
    expect(got[0]!.data).toEqual(pattern(33));
    expect(stack.stats.udp.chkerr).toBe(0);
    done();
  });

  test('a bad checksum is dropped and counted, with no reply', () => {
    const { stack, got, bound, sent, feed, done } = setup();
    bound('0.0.0.0', 7);
    feed(udpPacket(pattern(40), { checksum: 'bad' }));
    // ... also to a closed port: no ICMP about a corrupt datagram.
    feed(udpPacket(pattern(40), { checksum: 'bad', dstPort: 9 }));
    expect(got).toHaveLength(0);
    expect(sent).toHaveLength(0);
    expect(stack.stats.udp).toMatchObject({ recv: 2, chkerr: 2, drop: 2 });
    expect(stack.udp.counters).toMatchObject({ inErrors: 2, inCsumErrors: 2, inDatagrams: 0 });
    done();
  });

  test('length field shorter than the IP payload: trimmed; longer: dropped as lenerr; below 8: lenerr', () => {
    const { stack, got, bound, sent, feed, done } = setup();
    bound('0.0.0.0', 7);
    // 20 payload bytes on the wire, the header says 8 + 12: the datagram is the first 12.
    // (Checksum 0: the checksum covers the datagram per its length field.)
    feed(udpPacket(pattern(20), { lengthField: 20, checksum: 'zero' }));
    expect(got).toHaveLength(1);
    expect(got[0]!.data).toEqual(pattern(20).subarray(0, 12));
    feed(udpPacket(pattern(20), { lengthField: 29, checksum: 'zero' }));
    feed(udpPacket(pattern(20), { lengthField: 7, checksum: 'zero' }));
    feed(ipPacket(new Uint8Array([0, 1, 0, 7, 0]), { protocol: 17 })); // 5 bytes: no header
    expect(got).toHaveLength(1);
    expect(sent).toHaveLength(0);
    expect(stack.stats.udp).toMatchObject({ lenerr: 3, drop: 3 });
    done();
  });

  test('a trimmed datagram verifies its checksum over the length field only', () => {
    const { got, bound, feed, done } = setup();
    bound('0.0.0.0', 7);
    const good = udpPacket(pattern(12));
    // Append trailing junk and grow the IP total length to include it.
    const padded = ipPacket(new Uint8Array([...good.subarray(20), 0xde, 0xad, 0xbe, 0xef]), { protocol: 17 });
    feed(padded);
    expect(got).toHaveLength(1);
    expect(got[0]!.data).toEqual(pattern(12));
    done();
  });

  test('closed port: ICMP port unreachable quoting the original IP header and UDP header', () => {
    const { stack, sent, feed, done } = setup();
    const dgram = udpPacket(pattern(64), { dstPort: 9999, srcPort: 1234 });
    feed(dgram);
    expect(sent).toHaveLength(1);
    const m = icmpOf(sent[0]!);
    expect(m).toMatchObject({ type: 3, code: 3, dst: addr('10.0.0.2') });
    // The whole offending datagram fits in 576 bytes: quoted byte for byte.
    expect(m.quoted).toEqual(dgram);
    expect(stack.udp.counters.noPorts).toBe(1);
    expect(stack.stats.udp.drop).toBe(1);
    expect(stack.stats.icmp.xmit).toBe(1);
    expect(stack.stats.ip.proterr).toBe(0); // no longer "protocol unreachable"
    done();
  });

  test('port unreachable is rate limited through ICMP', () => {
    const { stack, sent, feed, done } = setup();
    for (let i = 0; i < 30; i++) feed(udpPacket(pattern(8), { dstPort: 9999 }));
    expect(sent.length).toBe(10); // the default burst
    expect(stack.icmp.rateLimited).toBe(20);
    expect(stack.udp.counters.noPorts).toBe(30);
    done();
  });

  test('no ICMP for datagrams to a broadcast address; bound PCBs still get them', () => {
    const { stack, got, bound, sent, feed, done } = setup();
    feed(udpPacket(pattern(8), { dst: '10.0.0.255', dstPort: 9999 }));
    feed(udpPacket(pattern(8), { dst: '255.255.255.255', dstPort: 9999 }));
    expect(sent).toHaveLength(0);
    expect(stack.udp.counters.noPorts).toBe(2);
    bound('0.0.0.0', 67);
    bound('10.0.0.1', 68); // bound to the netif's address: its broadcasts too
    feed(udpPacket(pattern(8), { dst: '255.255.255.255', dstPort: 67 }));
    feed(udpPacket(pattern(8), { dst: '10.0.0.255', dstPort: 68 }));
    expect(got.map((g) => g.pcb.localPort)).toEqual([67, 68]);
    expect(sent).toHaveLength(0);
    done();
  });

  test('demux: connected beats bound-to-address beats wildcard', () => {
    const { raw, got, bound, collect, feed, done } = setup();
    const wild = bound('0.0.0.0', 5353);
    const reuse = (p: UdpPcb): void => raw.setReuseAddr(p, true);
    reuse(wild);
    const spec = raw.udpNew()!;
    reuse(spec);
    expect(raw.udpBind(spec, '10.0.0.1', 5353)).toBe(Err.OK);
    collect(spec);
    const conn = raw.udpNew()!;
    reuse(conn);
    expect(raw.udpBind(conn, '0.0.0.0', 5353)).toBe(Err.OK);
    expect(raw.udpConnect(conn, '10.0.0.2', 6000)).toBe(Err.OK);
    collect(conn);
    feed(udpPacket(pattern(4), { dstPort: 5353, srcPort: 6000 })); // -> conn
    feed(udpPacket(pattern(4), { dstPort: 5353, srcPort: 6001 })); // -> spec
    feed(udpPacket(pattern(4), { dstPort: 5353, srcPort: 6000, src: '10.0.0.3' })); // -> spec
    raw.udpRemove(spec);
    feed(udpPacket(pattern(4), { dstPort: 5353, srcPort: 6001 })); // -> wild
    // To 127.0.0.1? Loopback addresses are refused from outside; another
    // local address would go to wild too. Bound order does not matter:
    expect(got.map((g) => g.pcb)).toEqual([conn, spec, spec, wild]);
    expect(got[0]!.from).toBe('10.0.0.2');
    expect(got[0]!.port).toBe(6000);
    raw.udpRemove(conn);
    raw.udpRemove(wild);
    done();
  });

  test('a connected PCB filters foreign sources (they get port unreachable, as Linux)', () => {
    const { stack, raw, got, collect, sent, feed, done } = setup();
    const pcb = raw.udpNew()!;
    expect(raw.udpBind(pcb, '0.0.0.0', 4000)).toBe(Err.OK);
    expect(raw.udpConnect(pcb, '10.0.0.2', 53)).toBe(Err.OK);
    collect(pcb);
    feed(udpPacket(pattern(8), { dstPort: 4000, srcPort: 54 })); // wrong port
    feed(udpPacket(pattern(8), { dstPort: 4000, srcPort: 53, src: '10.0.0.3' })); // wrong address
    expect(got).toHaveLength(0);
    expect(sent.map((b) => icmpOf(b).code)).toEqual([3, 3]);
    feed(udpPacket(pattern(8), { dstPort: 4000, srcPort: 53 }));
    expect(got).toHaveLength(1);
    // Disconnected: anyone again.
    raw.udpDisconnect(pcb);
    feed(udpPacket(pattern(8), { dstPort: 4000, srcPort: 54, src: '10.0.0.3' }));
    expect(got).toHaveLength(2);
    expect(stack.udp.counters.noPorts).toBe(2);
    done();
  });

  test('ICMP port unreachable about a datagram we sent reaches the connected PCB as an error', () => {
    const { stack, raw, sent, feed, done } = setup();
    const pcb = raw.udpNew()!;
    expect(raw.udpConnect(pcb, '10.0.0.2', 9)).toBe(Err.OK);
    expect(pcb.localPort).toBeGreaterThanOrEqual(49152); // ephemeral
    const errs: [number, number, number][] = [];
    raw.udpErr(pcb, (_a, _p, err, type, code) => errs.push([err, type, code]));
    expect(raw.udpSendBytes(pcb, pattern(20))).toBe(Err.OK);
    expect(sent).toHaveLength(1);
    // The peer answers with port unreachable quoting our datagram.
    const quoted = sent[0]!;
    const icmp = new Uint8Array(8 + quoted.length);
    icmp[0] = 3;
    icmp[1] = 3;
    icmp.set(quoted, 8);
    const c = internetChecksum(icmp, 0, icmp.length);
    icmp[2] = c >> 8;
    icmp[3] = c & 0xff;
    feed(ipPacket(icmp, { protocol: 1 }));
    expect(errs).toEqual([[Err.RST, 3, 3]]);
    expect(stack.udp.counters.icmpErrorsDelivered).toBe(1);
    // An unconnected PCB is not told (as Linux without IP_RECVERR).
    raw.udpDisconnect(pcb);
    feed(ipPacket(icmp, { protocol: 1 }));
    expect(errs).toHaveLength(1);
    raw.udpRemove(pcb);
    done();
  });

  test('bind: conflicts, SO_REUSEADDR, ephemeral ports, addresses that are not ours', () => {
    const { raw, done } = setup();
    const a = raw.udpNew()!;
    const b = raw.udpNew()!;
    expect(raw.udpBind(a, '0.0.0.0', 1000)).toBe(Err.OK);
    expect(raw.udpBind(b, '10.0.0.1', 1000)).toBe(Err.USE);
    expect(raw.udpBind(b, '0.0.0.0', 1000)).toBe(Err.USE);
    raw.setReuseAddr(a, true);
    raw.setReuseAddr(b, true);
    expect(raw.udpBind(b, '0.0.0.0', 1000)).toBe(Err.OK);
    const c = raw.udpNew()!;
    expect(raw.udpBind(c, '10.9.9.9', 1001)).toBe(Err.VAL);
    expect(raw.udpBind(c, '10.0.0.1', 70000)).toBe(Err.VAL);
    expect(raw.udpBind(c, '10.0.0.1', 0)).toBe(Err.OK);
    expect(c.localPort).toBeGreaterThanOrEqual(49152);
    const d = raw.udpNew()!;
    expect(raw.udpSend(d, null as unknown as Pbuf)).toBe(Err.CONN);
    for (const p of [a, b, c, d]) raw.udpRemove(p);
    raw.udpRemove(a); // idempotent
    expect(raw.udpBind(a, '0.0.0.0', 1000)).toBe(Err.VAL);
    done();
  });

  test('output: a computed checksum of 0 is sent as 0xFFFF', () => {
    const { raw, sent, done } = setup();
    const pcb = raw.udpNew()!;
    expect(raw.udpBind(pcb, '0.0.0.0', 1111)).toBe(Err.OK);
    expect(raw.udpSendBytes(pcb, new Uint8Array(2), '10.0.0.2', 2222)).toBe(Err.OK);
    const c0 = parseSentUdp(sent[0]!).checksum;
    // A payload word equal to that checksum makes the sum all ones: checksum 0.
    expect(raw.udpSendBytes(pcb, new Uint8Array([c0 >> 8, c0 & 0xff]), '10.0.0.2', 2222)).toBe(Err.OK);
    const r = parseSentUdp(sent[1]!);
    expect(r.checksum).toBe(0xffff);
    expect(r.checksumOk).toBe(true);
    raw.udpRemove(pcb);
    done();
  });

  test('output above the MTU leaves as IP fragments; too large is ERR_VAL; ROM payloads get a header piece', () => {
    const { stack, raw, sent, done } = setup();
    const pcb = raw.udpNew()!;
    const data = pattern(4000);
    const rom = stack.pool.wrap(data)!;
    expect(raw.udpSendTo(pcb, rom, '10.0.0.2', 9)).toBe(Err.OK);
    rom.free();
    expect(sent.length).toBe(3);
    const total = sent.reduce((n, b) => n + b.length - 20, 0);
    expect(total).toBe(4008);
    expect(raw.udpSendBytes(pcb, new Uint8Array(65508), '10.0.0.2', 9)).toBe(Err.VAL);
    expect(raw.udpSendBytes(pcb, pattern(10), '192.168.77.1', 9)).toBe(Err.OK); // via default netif
    raw.udpRemove(pcb);
    done();
  });

  test('a recv callback that throws: counted, reported, the pbuf freed', () => {
    const errors: unknown[] = [];
    const env = captureStack({ onInternalError: (e) => errors.push(e) });
    const raw = new RawUdp(env.stack);
    const pcb = raw.udpNew()!;
    raw.udpBind(pcb, 0, 7);
    raw.udpRecv(pcb, () => {
      throw new Error('boom');
    });
    env.feed(udpPacket(pattern(10)));
    expect(errors).toHaveLength(1);
    expect(env.stack.udp.counters.callbackErrors).toBe(1);
    raw.udpRemove(pcb);
    env.stack.close();
    env.stack.pool.assertEmpty();
  });

  test('a recv callback that removes its PCB and sends to itself over loopback', () => {
    const { stack, raw, feed, done } = setup();
    const a = raw.udpNew()!;
    const b = raw.udpNew()!;
    raw.udpBind(a, 0, 7);
    raw.udpBind(b, '127.0.0.1', 8);
    const seen: string[] = [];
    raw.udpRecv(a, (_x, pcb, p) => {
      seen.push('a');
      raw.udpSendTo(pcb, p, '127.0.0.1', 8); // queued as stack input, not recursive
      p.free();
      seen.push('a-done');
      raw.udpRemove(pcb);
    });
    raw.udpRecv(b, (_x, _pcb, p) => {
      seen.push(`b:${p.totLen}`);
      p.free();
    });
    feed(udpPacket(pattern(10)));
    (stack.clock as unknown as { advanceBy(ms: number): void }).advanceBy(1);
    expect(seen).toEqual(['a', 'a-done', 'b:10']);
    raw.udpRemove(b);
    done();
  });

  test('random bytes as UDP never throw: every datagram is delivered or counted', () => {
    const { stack, bound, got, feed, done } = setup();
    bound('0.0.0.0', 7);
    let x = 12345;
    const rnd = (n: number): number => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), (x >>> 16) % n);
    for (let i = 0; i < 2000; i++) {
      const len = rnd(40);
      const b = new Uint8Array(len);
      for (let j = 0; j < len; j++) b[j] = rnd(256);
      if (len >= 4 && rnd(2) === 0) ((b[2] = 0), (b[3] = 7)); // often aimed at the bound port
      if (len >= 6 && rnd(2) === 0) ((b[4] = 0), (b[5] = Math.max(0, len - rnd(3)))); // plausible lengths
      if (len >= 8 && rnd(2) === 0) ((b[6] = 0), (b[7] = 0)); // no checksum
      feed(ipPacket(b, { protocol: 17 }));
    }
    const st = stack.stats.udp;
    const c = stack.udp.counters;
    expect(st.recv).toBe(2000);
    expect(c.inDatagrams + c.noPorts + st.lenerr + st.chkerr).toBe(2000);
    expect(got.length).toBe(c.inDatagrams);
    expect(got.length).toBeGreaterThan(100);
    done();
  });
});

import { describe, expect, test } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/error.ts';
import { IPV4_HEADER_LEN, IpProtocol, type Ipv4Repr, Ipv4View, emitIpv4, parseIpv4 } from '../../src/wire/ipv4.ts';
import { hex, refChecksum } from './helpers.ts';

const CAPTURED = '45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7';

function packet(header: string, payloadLen: number, extra = 0): Uint8Array {
  const h = hex(header);
  const b = new Uint8Array(h.length + payloadLen + extra);
  b.set(h);
  return b;
}

describe('Ipv4View', () => {
  test('getters on a captured header', () => {
    const b = packet(CAPTURED, 0x73 - 20);
    const v = new Ipv4View().wrap(b);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(v.version).toBe(4);
    expect(v.ihl).toBe(5);
    expect(v.headerLen).toBe(20);
    expect(v.dscp).toBe(0);
    expect(v.ecn).toBe(0);
    expect(v.totalLength).toBe(0x73);
    expect(v.ident).toBe(0);
    expect(v.dontFragment).toBe(true);
    expect(v.moreFragments).toBe(false);
    expect(v.reservedFlag).toBe(false);
    expect(v.fragOffset).toBe(0);
    expect(v.ttl).toBe(64);
    expect(v.protocol).toBe(IpProtocol.UDP);
    expect(v.checksum).toBe(0xb861);
    expect(v.src).toBe(0xc0a80001);
    expect(v.dst).toBe(0xc0a800c7);
    expect(v.optionsOffset).toBe(20);
    expect(v.optionsLength).toBe(0);
    expect(v.payloadOffset).toBe(20);
    expect(v.payloadLength).toBe(0x73 - 20);
    expect(v.payload().length).toBe(0x73 - 20);
    expect(v.verifyChecksum()).toBe(true);
  });

  test('setters write exactly their bits', () => {
    const b = new Uint8Array(30).fill(0);
    const v = new Ipv4View(b, 5, 24);
    v.version = 4;
    v.ihl = 6;
    v.dscp = 0x2e;
    v.ecn = 3;
    v.totalLength = 24;
    v.ident = 0xbeef;
    v.dontFragment = true;
    v.moreFragments = true;
    v.reservedFlag = true;
    v.fragOffset = 8 * 0x1abc;
    v.ttl = 200;
    v.protocol = IpProtocol.TCP;
    v.src = 0xdeadbeef;
    v.dst = 0x01020304;
    v.fillChecksum();
    expect(Array.from(b.subarray(0, 5))).toEqual([0, 0, 0, 0, 0]);
    expect(b[5]).toBe(0x46);
    expect(b[6]).toBe((0x2e << 2) | 3);
    expect(v.dscp).toBe(0x2e);
    expect(v.ecn).toBe(3);
    expect(v.fragOffset).toBe(8 * 0x1abc);
    expect(v.dontFragment && v.moreFragments && v.reservedFlag).toBe(true);
    expect(b[11]).toBe(0xe0 | 0x1a);
    expect(b[12]).toBe(0xbc);
    v.dontFragment = false;
    v.reservedFlag = false;
    expect(v.moreFragments).toBe(true);
    expect(v.fragOffset).toBe(8 * 0x1abc);
    v.moreFragments = false;
    expect(b[11]).toBe(0x1a);
    v.ecn = 1;
    expect(v.dscp).toBe(0x2e);
    v.dscp = 1;
    expect(v.ecn).toBe(1);
    v.version = 6;
    expect(v.ihl).toBe(6);
    v.version = 4;
    v.headerLen = 24;
    expect(v.ihl).toBe(6);
    expect(v.src).toBe(0xdeadbeef);
    expect(v.dst).toBe(0x01020304);
    expect(v.optionsLength).toBe(4);
    expect(v.optionsOffset).toBe(25);
    expect(v.payloadOffset).toBe(29);
    v.fillChecksum();
    expect(v.verifyChecksum()).toBe(true);
    expect(v.checksum).toBe(refChecksum(Object.assign(b.slice(5, 29), { 10: 0, 11: 0 })));
    v.checksum = v.checksum ^ 1;
    expect(v.verifyChecksum()).toBe(false);
    expect(b[29]).toBe(0);
  });

  test('wrap re-points one instance and rejects ranges outside the buffer', () => {
    const v = new Ipv4View();
    expect(v.check()).toBe(WireErrorCode.TRUNCATED);
    const a = packet(CAPTURED, 0x73 - 20);
    expect(v.wrap(a)).toBe(v);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(v.wrap(a, 10).len).toBe(a.length - 10);
    expect(() => v.wrap(a, 0, a.length + 1)).toThrow(RangeError);
    expect(() => v.wrap(a, -1)).toThrow(RangeError);
  });
});

describe('Ipv4Repr', () => {
  const reprs: Ipv4Repr[] = [
    { src: 0x0a000001, dst: 0x0a000002, protocol: IpProtocol.TCP, payloadLen: 40, ttl: 64, ident: 1, dontFragment: true, moreFragments: false, fragOffset: 0, dscp: 0, ecn: 0 },
    { src: 0xffffffff, dst: 0, protocol: IpProtocol.UDP, payloadLen: 0, ttl: 255, ident: 0xffff, dontFragment: false, moreFragments: true, fragOffset: 65528, dscp: 63, ecn: 3 },
    { src: 0xc0a80001, dst: 0xc0a800c7, protocol: IpProtocol.ICMP, payloadLen: 65515, ttl: 1, ident: 0x1234, dontFragment: false, moreFragments: false, fragOffset: 1480, dscp: 10, ecn: 2 },
  ];

  test.each(reprs)('emit → parse round-trip %#', (repr) => {
    const buf = new Uint8Array(3 + IPV4_HEADER_LEN + repr.payloadLen);
    expect(emitIpv4(repr, buf, 3)).toBe(20);
    const v = new Ipv4View(buf, 3);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(v.verifyChecksum()).toBe(true);
    expect(parseIpv4(v)).toEqual(repr);
    expect(parseIpv4(buf.subarray(3))).toEqual(repr);
  });

  test('emit reproduces the captured header', () => {
    const b = hex(CAPTURED);
    const repr = parseIpv4(packet(CAPTURED, 0x73 - 20));
    expect(repr).not.toBeInstanceOf(WireError);
    const out = new Uint8Array(0x73);
    emitIpv4(repr as Ipv4Repr, out, 0);
    expect(out.subarray(0, 20)).toEqual(b);
  });

  test('parse: bad checksum, unless told not to verify; options are skipped', () => {
    const b = packet(CAPTURED, 0x73 - 20);
    b[11]! ^= 0xff;
    const r = parseIpv4(b);
    expect(r).toBeInstanceOf(WireError);
    expect((r as WireError).code).toBe(WireErrorCode.BAD_CHECKSUM);
    expect(parseIpv4(b, { verifyChecksum: false })).not.toBeInstanceOf(WireError);

    const o = packet('46 00 00 20 00 00 00 00 40 06 00 00 01 02 03 04 05 06 07 08 01 01 01 00', 8);
    const v = new Ipv4View(o);
    v.fillChecksum();
    const p = parseIpv4(v) as Ipv4Repr;
    expect(p.payloadLen).toBe(8);
    expect(v.payloadOffset).toBe(24);
    expect(v.optionsLength).toBe(4);
  });

  test('Ethernet padding after total length is fine; payload follows total length', () => {
    const b = packet(CAPTURED, 0x73 - 20, 18);
    const v = new Ipv4View(b);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(v.payloadLength).toBe(0x73 - 20);
    expect(v.payload().length).toBe(0x73 - 20);
  });

  test('emit refuses a header that does not fit or an oversize payload', () => {
    const r = reprs[0]!;
    expect(() => emitIpv4(r, new Uint8Array(19), 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...r, payloadLen: 65516 }, new Uint8Array(20), 0)).toThrow(RangeError);
  });
});

describe('malformed IPv4', () => {
  const good = () => packet(CAPTURED, 0x73 - 20);
  const cases: [string, () => Uint8Array, number][] = [
    ['empty buffer', () => new Uint8Array(0), WireErrorCode.TRUNCATED],
    ...Array.from({ length: 20 }, (_, n) => [`truncated to ${n} bytes`, () => good().slice(0, n), WireErrorCode.TRUNCATED] as [string, () => Uint8Array, number]),
    ['version 6', () => Object.assign(good(), { 0: 0x65 }), WireErrorCode.BAD_VERSION],
    ['version 0', () => Object.assign(good(), { 0: 0x05 }), WireErrorCode.BAD_VERSION],
    ['IHL 0', () => Object.assign(good(), { 0: 0x40 }), WireErrorCode.BAD_HEADER_LENGTH],
    ['IHL 4', () => Object.assign(good(), { 0: 0x44 }), WireErrorCode.BAD_HEADER_LENGTH],
    ['IHL*4 > len (IHL 15, 24-byte buffer, total 24)', () => Object.assign(packet(CAPTURED, 4), { 0: 0x4f, 2: 0, 3: 60 }), WireErrorCode.TRUNCATED],
    ['total length < header length', () => Object.assign(good(), { 2: 0, 3: 19 }), WireErrorCode.BAD_TOTAL_LENGTH],
    ['total length 0', () => Object.assign(good(), { 2: 0, 3: 0 }), WireErrorCode.BAD_TOTAL_LENGTH],
    ['total length < IHL*4 with options', () => Object.assign(good(), { 0: 0x46, 2: 0, 3: 23 }), WireErrorCode.BAD_TOTAL_LENGTH],
    ['total length > buffer', () => good().slice(0, 0x72), WireErrorCode.TRUNCATED],
    ['total length 65535, 20-byte buffer', () => Object.assign(hex(CAPTURED), { 2: 0xff, 3: 0xff }), WireErrorCode.TRUNCATED],
  ];

  test.each(cases)('%s', (_name, make, code) => {
    const b = make();
    const v = new Ipv4View(b);
    expect(v.check()).toBe(code);
    for (const verifyChecksum of [true, false]) {
      const r = parseIpv4(b, { verifyChecksum });
      expect(r).toBeInstanceOf(WireError);
      expect((r as WireError).code).toBe(code);
    }
    expect(() => v.verifyChecksum()).not.toThrow();
  });
});

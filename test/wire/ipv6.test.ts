import { describe, expect, test } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/error.ts';
import { parseIpv6Address } from '../../src/wire/address6.ts';
import { IPV6_HEADER_LEN, Ipv6NextHeader, type Ipv6Repr, Ipv6View, emitIpv6, parseIpv6 } from '../../src/wire/ipv6.ts';
import { Rng, hex } from './helpers.ts';

function a6(s: string): Uint8Array {
  return parseIpv6Address(s)!;
}

// An ICMPv6 echo request header from fe80::1 to ff02::1, traffic class 0xb8, flow label 0xabcde.
const CAPTURED = '6b 8a bc de 00 08 3a ff fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 01 ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 01';

function packet(header: string, payloadLen: number, extra = 0): Uint8Array {
  const h = hex(header);
  const b = new Uint8Array(h.length + payloadLen + extra);
  b.set(h);
  return b;
}

describe('Ipv6View', () => {
  test('getters on a captured header', () => {
    const b = packet(CAPTURED, 8);
    const v = new Ipv6View().wrap(b);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(v.version).toBe(6);
    expect(v.trafficClass).toBe(0xb8);
    expect(v.dscp).toBe(46);
    expect(v.ecn).toBe(0);
    expect(v.flowLabel).toBe(0xabcde);
    expect(v.payloadLength).toBe(8);
    expect(v.nextHeader).toBe(Ipv6NextHeader.ICMPV6);
    expect(v.hopLimit).toBe(255);
    expect(v.readSrc(new Uint8Array(16))).toEqual(a6('fe80::1'));
    expect(v.readDst(new Uint8Array(16))).toEqual(a6('ff02::1'));
    expect(v.srcEquals(a6('fe80::1'))).toBe(true);
    expect(v.dstEquals(a6('fe80::1'))).toBe(false);
    expect(v.dstIsMulticast).toBe(true);
    expect(v.srcOffset).toBe(8);
    expect(v.dstOffset).toBe(24);
    expect(v.payloadOffset).toBe(40);
    expect(v.payload().length).toBe(8);
  });

  test('setters write exactly their bits', () => {
    const b = new Uint8Array(50);
    const v = new Ipv6View(b, 5, 40);
    v.version = 6;
    v.trafficClass = 0xff;
    expect(v.flowLabel).toBe(0);
    v.flowLabel = 0xfffff;
    expect(v.trafficClass).toBe(0xff);
    v.trafficClass = 0x12;
    expect(v.flowLabel).toBe(0xfffff);
    expect(v.version).toBe(6);
    v.flowLabel = 0x12345;
    expect(v.trafficClass).toBe(0x12);
    v.payloadLength = 0;
    v.nextHeader = Ipv6NextHeader.NONE;
    v.hopLimit = 1;
    v.writeSrc(a6('2001:db8::1'));
    const d = new Uint8Array(20);
    d.set(a6('2001:db8::2'), 4);
    v.writeDst(d, 4);
    expect(Array.from(b.subarray(5, 13))).toEqual([0x61, 0x21, 0x23, 0x45, 0, 0, 59, 1]);
    expect(v.dstEquals(d, 4)).toBe(true);
    expect(Array.from(b.subarray(0, 5))).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(b.subarray(45))).toEqual([0, 0, 0, 0, 0]);
    expect(v.check()).toBe(WireErrorCode.OK);
  });

  test('wrap re-points one instance and rejects ranges outside the buffer', () => {
    const v = new Ipv6View();
    expect(v.check()).toBe(WireErrorCode.TRUNCATED);
    const a = packet(CAPTURED, 8);
    expect(v.wrap(a).check()).toBe(WireErrorCode.OK);
    expect(() => v.wrap(a, 0, a.length + 1)).toThrow(RangeError);
  });
});

describe('Ipv6Repr', () => {
  const reprs: Ipv6Repr[] = [
    { src: a6('2001:db8::1'), dst: a6('2001:db8::2'), nextHeader: Ipv6NextHeader.TCP, payloadLen: 20, hopLimit: 64, trafficClass: 0, flowLabel: 0 },
    { src: a6('::'), dst: a6('ff02::1:ff00:1'), nextHeader: Ipv6NextHeader.ICMPV6, payloadLen: 0, hopLimit: 255, trafficClass: 0xff, flowLabel: 0xfffff },
    { src: a6('fe80::1'), dst: a6('fe80::2'), nextHeader: Ipv6NextHeader.UDP, payloadLen: 65535, hopLimit: 1, trafficClass: 0x03, flowLabel: 1 },
  ];

  test.each(reprs)('emit → parse round-trip %#', (repr) => {
    const buf = new Uint8Array(3 + IPV6_HEADER_LEN + repr.payloadLen);
    expect(emitIpv6(repr, buf, 3)).toBe(40);
    const v = new Ipv6View(buf, 3);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(parseIpv6(v)).toEqual(repr);
    expect(parseIpv6(buf.subarray(3))).toEqual(repr);
  });

  test('emit reproduces the captured header', () => {
    const b = packet(CAPTURED, 8);
    const r = parseIpv6(b) as Ipv6Repr;
    const out = new Uint8Array(48);
    emitIpv6(r, out, 0);
    expect(out).toEqual(b);
  });

  test('emit refuses a header that does not fit, an oversize payload, short addresses', () => {
    const r = reprs[0]!;
    expect(() => emitIpv6(r, new Uint8Array(39), 0)).toThrow(RangeError);
    expect(() => emitIpv6({ ...r, payloadLen: 65536 }, new Uint8Array(40), 0)).toThrow(RangeError);
    expect(() => emitIpv6({ ...r, src: new Uint8Array(4) }, new Uint8Array(40), 0)).toThrow(RangeError);
  });
});

describe('malformed IPv6', () => {
  const good = () => packet(CAPTURED, 8);
  // A jumbogram: payload length 0, HBH with a Jumbo Payload option (RFC 2675).
  const jumbo = () => {
    const b = packet(CAPTURED, 8);
    b[4] = 0;
    b[5] = 0;
    b[6] = Ipv6NextHeader.HOPOPTS;
    b.set([58, 0, 0xc2, 4, 0, 1, 0, 0], 40);
    return b;
  };
  const cases: [string, () => Uint8Array, number][] = [
    ['empty buffer', () => new Uint8Array(0), WireErrorCode.TRUNCATED],
    ...Array.from({ length: 40 }, (_, n) => [`truncated to ${n} bytes`, () => good().slice(0, n), WireErrorCode.TRUNCATED] as [string, () => Uint8Array, number]),
    ['payload length > buffer', () => good().slice(0, 47), WireErrorCode.TRUNCATED],
    ['payload length 65535, 48-byte buffer', () => Object.assign(good(), { 4: 0xff, 5: 0xff }), WireErrorCode.TRUNCATED],
    ['version 4', () => Object.assign(good(), { 0: 0x4b }), WireErrorCode.BAD_VERSION],
    ['version 0', () => Object.assign(good(), { 0: 0x0b }), WireErrorCode.BAD_VERSION],
    ['jumbogram', jumbo, WireErrorCode.UNSUPPORTED],
    ['jumbo option after padding', () => Object.assign(jumbo(), { 42: 0, 43: 1, 44: 0, 45: 0xc2 }), WireErrorCode.UNSUPPORTED],
  ];

  test.each(cases)('%s', (_name, make, code) => {
    const b = make();
    expect(new Ipv6View(b).check()).toBe(code);
    const r = parseIpv6(b);
    expect(r).toBeInstanceOf(WireError);
    expect((r as WireError).code).toBe(code);
  });

  test('payload length 0 with HBH but no jumbo option is not a jumbogram; padding after the payload is fine', () => {
    const b = jumbo();
    b[42] = 1; // PadN instead of the jumbo option
    expect(new Ipv6View(b).check()).toBe(WireErrorCode.OK);
    expect(new Ipv6View(packet(CAPTURED, 8, 18)).check()).toBe(WireErrorCode.OK);
  });

  test('random bytes and truncations never throw', () => {
    const rng = new Rng(0x1b6);
    const v = new Ipv6View();
    for (let i = 0; i < 5000; i++) {
      const b = rng.fill(new Uint8Array(rng.int(100)));
      if (b.length > 0 && rng.chance(0.7)) b[0] = 0x60 | (b[0]! & 0x0f);
      if (b.length > 6 && rng.chance(0.3)) b[6] = 0;
      if (b.length > 5 && rng.chance(0.3)) b[4] = b[5] = 0;
      const off = rng.int(b.length + 1);
      v.wrap(b, off, rng.int(b.length - off + 1));
      expect(() => v.check()).not.toThrow();
      expect(() => parseIpv6(v)).not.toThrow();
    }
  });
});

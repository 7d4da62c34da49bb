import { describe, expect, test } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/error.ts';
import { parseIpv6Address } from '../../src/wire/address6.ts';
import { IPV6_HEADER_LEN, Ipv6NextHeader, type Ipv6Repr, Ipv6View, emitIpv6, parseIpv6 } from '../../src/wire/ipv6.ts';
import { type Ipv6FragmentRepr, Ipv6FragmentView, emitIpv6Fragment, newIpv6ExtResult, walkIpv6Ext } from '../../src/wire/ipv6-ext.ts';
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
      const len = rng.int(b.length - off + 1);
      v.wrap(b, off, len);
      const code = v.check();
      expect(() => parseIpv6(v)).not.toThrow();
      // The same window inside buffers with other bytes around it gives the same answer.
      for (const fill of [0, 0xff]) {
        const x = new Uint8Array(len + 90).fill(fill);
        x.set(b.subarray(off, off + len), 5);
        expect(v.wrap(x, 5, len).check()).toBe(code);
      }
    }
  });
});

describe('walkIpv6Ext', () => {
  const out = newIpv6ExtResult();
  const N = Ipv6NextHeader;
  const SRC = a6('2001:db8::1');
  const UNICAST = a6('2001:db8::2');
  const MCAST = a6('ff02::1');

  /** A packet whose payload is `chain` followed by `upper` bytes, starting with `first` as Next Header. */
  function build(first: number, chain: number[], upper = 20, dst = UNICAST, at = 0): Uint8Array {
    const b = new Uint8Array(at + 40 + chain.length + upper);
    emitIpv6({ src: SRC, dst, nextHeader: first, payloadLen: chain.length + upper, hopLimit: 64, trafficClass: 0, flowLabel: 0 }, b, at);
    b.set(chain, at + 40);
    return b;
  }
  function walk(b: Uint8Array, at = 0): number {
    return walkIpv6Ext(b, at, b.length - at, out);
  }

  const HBH_PAD = [N.DSTOPTS, 0, 0, 1, 2, 0, 0, 0]; // Pad1, PadN(2 data bytes), Pad1 x... (8 bytes)
  const DST_PADN = [N.FRAGMENT, 0, 1, 4, 0, 0, 0, 0];
  const FRAG_ATOMIC = [N.TCP, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];

  test('no extension headers', () => {
    const b = build(N.TCP, []);
    expect(walk(b)).toBe(WireErrorCode.OK);
    expect(out).toMatchObject({ protocol: N.TCP, offset: 40, count: 0, hasFragment: false, icmpCode: -1 });
  });

  test('HBH + DST + FRAG (atomic) + TCP, at an offset', () => {
    const b = build(N.HOPOPTS, [...HBH_PAD, ...DST_PADN, ...FRAG_ATOMIC], 20, UNICAST, 5);
    expect(walk(b, 5)).toBe(WireErrorCode.OK);
    expect(out).toMatchObject({ protocol: N.TCP, offset: 5 + 64, count: 3, hasFragment: true, fragHeaderOffset: 5 + 56, fragNextHeader: N.TCP, fragDataOffset: 5 + 64, fragOffset: 0, moreFragments: false, fragIdent: 0xdeadbeef });
  });

  test('a 24-byte destination options header with Router Alert in HBH', () => {
    const b = build(N.HOPOPTS, [N.DSTOPTS, 0, 5, 2, 0, 0, 1, 0, N.UDP, 2, 1, 20, ...new Array<number>(20).fill(0)], 8);
    expect(walk(b)).toBe(WireErrorCode.OK);
    expect(out).toMatchObject({ protocol: N.UDP, offset: 40 + 32, count: 2, routerAlert: true });
  });

  test('first fragment: chain walked to the upper layer, options after the fragment header left for reassembly', () => {
    // FRAG(offset 0, M) + DST with an unknown "11" option: not acted on before reassembly.
    const b = build(N.FRAGMENT, [N.DSTOPTS, 0, 0, 1, 0, 0, 0, 7, N.TCP, 0, 0xc7, 4, 0, 0, 0, 0], 16);
    expect(walk(b)).toBe(WireErrorCode.OK);
    expect(out).toMatchObject({ protocol: N.TCP, offset: 56, hasFragment: true, fragNextHeader: N.DSTOPTS, fragDataOffset: 48, moreFragments: true, fragIdent: 7 });
  });

  test('later fragment: the walk stops after the fragment header', () => {
    const b = build(N.FRAGMENT, [N.DSTOPTS, 0, 0x05, 0x68, 0, 0, 0, 9], 24);
    expect(walk(b)).toBe(WireErrorCode.OK);
    expect(out).toMatchObject({ protocol: N.DSTOPTS, offset: 48, fragOffset: 0x568 & 0xfff8, moreFragments: false, fragIdent: 9 });
  });

  test('fragment checks of RFC 8200 §4.5 and RFC 7112', () => {
    // M set but 20 data bytes (not a multiple of 8): pointer to Payload Length.
    expect(walk(build(N.FRAGMENT, [N.TCP, 0, 0, 1, 0, 0, 0, 1], 20))).toBe(WireErrorCode.PARAMETER_PROBLEM);
    expect(out).toMatchObject({ icmpCode: 0, icmpPointer: 4, sendIcmp: true });
    // Offset 65528 + 16 bytes > 65535: pointer to the Fragment Offset field.
    expect(walk(build(N.FRAGMENT, [N.TCP, 0, 0xff, 0xf8, 0, 0, 0, 1], 16))).toBe(WireErrorCode.PARAMETER_PROBLEM);
    expect(out).toMatchObject({ icmpCode: 0, icmpPointer: 42, sendIcmp: true });
    // First fragment whose chain does not end inside it: code 3, pointer 0.
    expect(walk(build(N.FRAGMENT, [N.DSTOPTS, 0, 0, 1, 0, 0, 0, 1, N.TCP, 3], 6))).toBe(WireErrorCode.PARAMETER_PROBLEM);
    expect(out).toMatchObject({ icmpCode: 3, icmpPointer: 0, sendIcmp: true });
  });

  test('hop-by-hop anywhere but first: code 1 pointing at the Next Header that named it', () => {
    const b = build(N.DSTOPTS, [N.HOPOPTS, 0, 1, 4, 0, 0, 0, 0, N.TCP, 0, 1, 4, 0, 0, 0, 0]);
    expect(walk(b)).toBe(WireErrorCode.PARAMETER_PROBLEM);
    expect(out).toMatchObject({ icmpCode: 1, icmpPointer: 40, sendIcmp: true });
    expect(walk(build(N.DSTOPTS, [N.HOPOPTS, 0, 1, 4, 0, 0, 0, 0, N.TCP, 0, 1, 4, 0, 0, 0, 0], 20, MCAST))).toBe(WireErrorCode.PARAMETER_PROBLEM);
    expect(out.sendIcmp).toBe(false);
  });

  test.each([0, 2, 3, 4, 253])('routing type %i: refused with segments left, skipped without', (type) => {
    expect(walk(build(N.ROUTING, [N.TCP, 0, type, 1, 0, 0, 0, 0]))).toBe(WireErrorCode.PARAMETER_PROBLEM);
    expect(out).toMatchObject({ icmpCode: 0, icmpPointer: 42, sendIcmp: true });
    expect(walk(build(N.ROUTING, [N.TCP, 0, type, 0, 0, 0, 0, 0]))).toBe(WireErrorCode.OK);
    expect(out).toMatchObject({ protocol: N.TCP, offset: 48, count: 1 });
  });

  // Unknown option type 0x?e after Pad1: pointer 43 (40 + 2 + 1).
  const patterns: [number, number, boolean, boolean][] = [
    // high bits, code, ICMP to unicast dst, ICMP to multicast dst
    [0b00, WireErrorCode.OK, false, false],
    [0b01, WireErrorCode.PARAMETER_PROBLEM, false, false],
    [0b10, WireErrorCode.PARAMETER_PROBLEM, true, true],
    [0b11, WireErrorCode.PARAMETER_PROBLEM, true, false],
  ];
  test.each(patterns)('unknown option with high bits %i', (bits, code, toUnicast, toMulticast) => {
    const type = (bits << 6) | 0x1e;
    for (const [first, dst, send] of [
      [N.HOPOPTS, UNICAST, toUnicast],
      [N.DSTOPTS, UNICAST, toUnicast],
      [N.DSTOPTS, MCAST, toMulticast],
    ] as const) {
      expect(walk(build(first, [N.TCP, 0, 0, type, 2, 0, 0, 0], 20, dst))).toBe(code);
      if (code === WireErrorCode.OK) {
        expect(out).toMatchObject({ protocol: N.TCP, offset: 48, icmpCode: -1 });
      } else {
        expect(out).toMatchObject({ icmpCode: 2, icmpPointer: 43, sendIcmp: send });
      }
    }
  });

  test('options overrunning their header: BAD_LENGTH; jumbo option: UNSUPPORTED', () => {
    expect(walk(build(N.DSTOPTS, [N.TCP, 0, 1, 5, 0, 0, 0, 0]))).toBe(WireErrorCode.BAD_LENGTH);
    expect(walk(build(N.DSTOPTS, [N.TCP, 0, 0, 0, 0, 0, 0, 1]))).toBe(WireErrorCode.BAD_LENGTH);
    expect(walk(build(N.DSTOPTS, [N.TCP, 0, 1, 4, 0, 0, 0, 0]))).toBe(WireErrorCode.OK);
    expect(walk(build(N.HOPOPTS, [N.TCP, 0, 0xc2, 4, 0, 1, 0, 0]))).toBe(WireErrorCode.UNSUPPORTED);
  });

  test('limits on header count and chain length', () => {
    const dst = (next: number) => [next, 0, 1, 4, 0, 0, 0, 0];
    const chain = (n: number) => Array.from({ length: n }, (_, i) => dst(i === n - 1 ? N.TCP : N.DSTOPTS)).flat();
    expect(walk(build(N.DSTOPTS, chain(8)))).toBe(WireErrorCode.OK);
    expect(out.count).toBe(8);
    expect(walk(build(N.DSTOPTS, chain(9)))).toBe(WireErrorCode.UNSUPPORTED);
    const b = build(N.DSTOPTS, chain(9));
    expect(walkIpv6Ext(b, 0, b.length, out, 9)).toBe(WireErrorCode.OK);
    // One 2048-byte destination options header (Hdr Ext Len 255).
    const big = [N.TCP, 255, 1, 254, ...new Array<number>(2044).fill(0)];
    expect(walk(build(N.DSTOPTS, big))).toBe(WireErrorCode.UNSUPPORTED);
    const c = build(N.DSTOPTS, big);
    expect(walkIpv6Ext(c, 0, c.length, out, 8, 4096)).toBe(WireErrorCode.OK);
  });

  test('a chain truncated at every byte gives a non-OK code and never throws', () => {
    const chains: [number, number[]][] = [
      [N.HOPOPTS, [...HBH_PAD, ...DST_PADN, ...FRAG_ATOMIC]],
      [N.HOPOPTS, [N.ROUTING, 0, 0, 0, 0, 0, 0, 0, N.FRAGMENT, 0, 0, 0, 0, 0, 0, 0, N.DSTOPTS, 0, 0, 1, 0, 0, 0, 0, N.TCP, 1, 1, 12, ...new Array<number>(12).fill(0)]],
    ];
    for (const [first, chain] of chains) {
      for (let cut = 0; cut < chain.length; cut++) {
        // The payload length says `cut` bytes; the buffer holds the rest anyway, filled with junk.
        const b = build(first, chain, 0);
        b[4] = 0;
        b[5] = cut;
        const padded = new Uint8Array(b.length + 16).fill(0xff);
        padded.set(b);
        expect(() => walkIpv6Ext(padded, 0, 40 + cut, out)).not.toThrow();
        expect(walkIpv6Ext(padded, 0, 40 + cut, out), `cut ${cut}`).not.toBe(WireErrorCode.OK);
        // And a buffer that really ends there, with the original payload length.
        const short = build(first, chain, 0).slice(0, 40 + cut);
        expect(walkIpv6Ext(short, 0, short.length, out)).toBe(WireErrorCode.TRUNCATED);
      }
    }
    for (let n = 0; n < 40; n++) expect(walkIpv6Ext(new Uint8Array(n), 0, n, out)).toBe(WireErrorCode.TRUNCATED);
    expect(walkIpv6Ext(Object.assign(build(N.TCP, []), { 0: 0x40 }), 0, 60, out)).toBe(WireErrorCode.BAD_VERSION);
  });

  test('fuzz: random chains and truncations never throw or read outside the window', () => {
    const rng = new Rng(0x6e78);
    const nhs = [N.HOPOPTS, N.DSTOPTS, N.ROUTING, N.FRAGMENT, N.TCP, N.UDP, N.NONE];
    const a = newIpv6ExtResult();
    const c = newIpv6ExtResult();
    let ok = 0;
    for (let i = 0; i < 20000; i++) {
      const chain = rng.fill(new Uint8Array(rng.int(64)));
      // Bias toward plausible chains: small lengths, known next headers.
      for (let j = 0; j < chain.length; j += 8) {
        chain[j] = nhs[rng.int(nhs.length)]!;
        if (j + 1 < chain.length && rng.chance(0.8)) chain[j + 1] = rng.int(2);
      }
      const b = build(nhs[rng.int(nhs.length)]!, Array.from(chain), rng.int(8), rng.chance(0.2) ? MCAST : UNICAST);
      const len = rng.chance(0.5) ? b.length : rng.int(b.length + 1);
      // Same bytes inside a larger buffer with different sentinels: a read past the window would change the answer.
      const x = new Uint8Array(b.length + 20).fill(0x00);
      const y = new Uint8Array(b.length + 20).fill(0xff);
      x.set(b.subarray(0, len), 7);
      y.set(b.subarray(0, len), 7);
      const r1 = walkIpv6Ext(b, 0, len, out);
      const r2 = walkIpv6Ext(x, 7, len, a);
      const r3 = walkIpv6Ext(y, 7, len, c);
      expect(r2).toBe(r1);
      expect(r3).toBe(r1);
      // Absolute offsets, made relative to the packet.
      const shift = (r: typeof a, by: number) => ({
        ...r,
        offset: r1 === WireErrorCode.OK ? r.offset - by : r.offset,
        fragHeaderOffset: r.hasFragment ? r.fragHeaderOffset - by : 0,
        fragDataOffset: r.hasFragment ? r.fragDataOffset - by : 0,
      });
      expect(shift(a, 7)).toEqual(shift(out, 0));
      expect(c).toEqual(a);
      if (r1 === WireErrorCode.OK) {
        ok++;
        expect(out.offset).toBeLessThanOrEqual(40 + ((b[4]! << 8) | b[5]!));
      }
    }
    expect(ok).toBeGreaterThan(1000);
  });
});

describe('Ipv6FragmentView and emitIpv6Fragment', () => {
  const reprs: Ipv6FragmentRepr[] = [
    { nextHeader: Ipv6NextHeader.UDP, fragOffset: 0, moreFragments: true, ident: 1 },
    { nextHeader: Ipv6NextHeader.TCP, fragOffset: 1232, moreFragments: false, ident: 0xffffffff },
    { nextHeader: Ipv6NextHeader.ICMPV6, fragOffset: 65528, moreFragments: true, ident: 0x80000000 },
  ];
  test.each(reprs)('emit → view round-trip %#', (r) => {
    const b = new Uint8Array(12).fill(0xaa);
    expect(emitIpv6Fragment(r, b, 2)).toBe(8);
    expect(b[3]).toBe(0);
    expect([b[0], b[1], b[10], b[11]]).toEqual([0xaa, 0xaa, 0xaa, 0xaa]);
    const v = new Ipv6FragmentView(b, 2, 8);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect({ nextHeader: v.nextHeader, fragOffset: v.fragOffset, moreFragments: v.moreFragments, ident: v.ident }).toEqual(r);
  });

  test('setters keep the other bits; check and emit refuse bad input', () => {
    const b = new Uint8Array(8);
    const v = new Ipv6FragmentView(b);
    v.moreFragments = true;
    v.fragOffset = 0x1238;
    expect(v.moreFragments).toBe(true);
    v.moreFragments = false;
    expect(v.fragOffset).toBe(0x1238);
    v.nextHeader = 6;
    v.ident = 0x01020304;
    expect(Array.from(b)).toEqual([6, 0, 0x12, 0x38, 1, 2, 3, 4]);
    for (let n = 0; n < 8; n++) expect(new Ipv6FragmentView(b, 0, n).check()).toBe(WireErrorCode.TRUNCATED);
    expect(() => emitIpv6Fragment(reprs[0]!, new Uint8Array(7), 0)).toThrow(RangeError);
    expect(() => emitIpv6Fragment({ ...reprs[0]!, fragOffset: 7 }, new Uint8Array(8), 0)).toThrow(RangeError);
    expect(() => emitIpv6Fragment({ ...reprs[0]!, fragOffset: 65536 }, new Uint8Array(8), 0)).toThrow(RangeError);
  });
});

import { describe, expect, test } from 'vitest';
import {
  formatIpv6Address,
  ipv6Compare,
  ipv6Equal,
  ipv6FromIpv4Mapped,
  ipv6IsDocumentation,
  ipv6IsIpv4Mapped,
  ipv6IsLinkLocal,
  ipv6IsLoopback,
  ipv6IsMulticast,
  ipv6IsUniqueLocal,
  ipv6IsUnspecified,
  ipv6ToIpv4Mapped,
  parseIpv6Address,
} from '../../src/wire/address6.ts';
import { Rng, hex } from './helpers.ts';

function p(s: string): Uint8Array {
  const a = parseIpv6Address(s);
  if (a === null) throw new Error(`did not parse: ${s}`);
  return a;
}

describe('parseIpv6Address', () => {
  const good: [string, string][] = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['2001:0DB8::0001', '20010db8000000000000000000000001'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['fe80::1:2', 'fe800000000000000000000000010002'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
    ['::10.0.0.1', '0000000000000000000000000a000001'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255', 'ffffffffffffffffffffffffffffffff'],
  ];
  test.each(good)('%s', (s, h) => {
    expect(p(s)).toEqual(hex(h));
  });

  const bad = [
    '', ':', ':::', '1::2::3', '::1::', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', ':1', '1:', '1:2:3:4:5:6:7:8:',
    '1:2:3:4:5:6:7', 'g::', '1:::2', ' ::1', '::1 ', '::1%eth0', 'fe80::1%1', '::1/128', '[::1]', '::ffff:10.0.0', '::ffff:10.0.0.256', '::ffff:010.0.0.1',
    '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4', '::1.2.3.4:5', '::ffff:1.2.3.4.5', '-1::', '+1::', '0x1::', '1:2:3:4:5:6:7:8:1.2.3.4',
  ];
  test.each(bad)('rejects %j', (s) => {
    expect(parseIpv6Address(s)).toBeNull();
  });

  test('writes into a caller array at an offset, leaving the rest', () => {
    const out = new Uint8Array(20).fill(0xaa);
    expect(parseIpv6Address('1::2', out, 2)).toBe(out);
    expect(Array.from(out.subarray(0, 2))).toEqual([0xaa, 0xaa]);
    expect(out.subarray(2, 18)).toEqual(hex('00010000000000000000000000000002'));
    expect(Array.from(out.subarray(18))).toEqual([0xaa, 0xaa]);
    expect(() => parseIpv6Address('::', out, 5)).toThrow(RangeError);
  });
});

describe('formatIpv6Address (RFC 5952)', () => {
  const vectors: [string, string][] = [
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8::0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['0:0:0:0:0:ffff:c000:201', '::ffff:192.0.2.1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group: not compressed (§4.2.2)
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins (§4.2.3)
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first on ties
    ['2001:DB8:AAAA:BBBB:CCCC:DDDD:EEEE:0001', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1'],
    ['fe80::0:1', 'fe80::1'],
    ['0:1:0:1:0:1:0:1', '0:1:0:1:0:1:0:1'],
    ['1:0:0:2:0:0:0:0', '1:0:0:2::'],
    ['::10.0.0.1', '::a00:1'],
  ];
  test.each(vectors)('%s → %s', (s, f) => {
    expect(formatIpv6Address(p(s))).toBe(f);
    expect(formatIpv6Address(p(f))).toBe(f);
  });

  test('random addresses round-trip through format and parse', () => {
    const rng = new Rng(6);
    for (let i = 0; i < 2000; i++) {
      const a = rng.fill(new Uint8Array(16));
      // Plenty of zero groups so that compression is exercised.
      for (let g = 0; g < 8; g++) if (rng.chance(0.5)) a[2 * g] = a[2 * g + 1] = 0;
      const s = formatIpv6Address(a);
      expect(p(s), s).toEqual(a);
      expect(s).toBe(s.toLowerCase());
      expect(s.split('::').length).toBeLessThanOrEqual(2);
    }
  });

  test('reads at an offset', () => {
    const b = new Uint8Array(20).fill(7);
    b.set(p('2001:db8::1'), 3);
    expect(formatIpv6Address(b, 3)).toBe('2001:db8::1');
  });
});

describe('classification', () => {
  const table: [string, string[]][] = [
    ['::', ['unspecified']],
    ['::1', ['loopback']],
    ['ff02::1', ['multicast']],
    ['fe80::1', ['linkLocal']],
    ['febf:ffff::1', ['linkLocal']],
    ['fec0::1', []],
    ['fc00::1', ['uniqueLocal']],
    ['fdff::1', ['uniqueLocal']],
    ['fe00::1', []],
    ['::ffff:10.0.0.1', ['mapped']],
    ['::ffff:0:0', ['mapped']],
    ['::fffe:10.0.0.1', []],
    ['2001:db8::1', ['documentation']],
    ['2001:db9::1', []],
    ['2606:4700::1111', []],
  ];
  test.each(table)('%s', (s, kinds) => {
    const a = p(s);
    const got: string[] = [];
    if (ipv6IsUnspecified(a)) got.push('unspecified');
    if (ipv6IsLoopback(a)) got.push('loopback');
    if (ipv6IsMulticast(a)) got.push('multicast');
    if (ipv6IsLinkLocal(a)) got.push('linkLocal');
    if (ipv6IsUniqueLocal(a)) got.push('uniqueLocal');
    if (ipv6IsIpv4Mapped(a)) got.push('mapped');
    if (ipv6IsDocumentation(a)) got.push('documentation');
    expect(got).toEqual(kinds);
  });

  test('IPv4-mapped conversion both ways', () => {
    const a = ipv6FromIpv4Mapped(0xc0000201, new Uint8Array(16).fill(9));
    expect(formatIpv6Address(a)).toBe('::ffff:192.0.2.1');
    expect(ipv6ToIpv4Mapped(a)).toBe(0xc0000201);
    expect(ipv6ToIpv4Mapped(p('::1'))).toBe(-1);
  });
});

describe('equality and order', () => {
  test('in place, at offsets', () => {
    const b = new Uint8Array(40);
    b.set(p('2001:db8::1'), 1);
    b.set(p('2001:db8::1'), 20);
    expect(ipv6Equal(b, 1, b, 20)).toBe(true);
    b[35] = 2;
    expect(ipv6Equal(b, 1, b, 20)).toBe(false);
    expect(ipv6Compare(b, 1, b, 20)).toBeLessThan(0);
    expect(ipv6Compare(b, 20, b, 1)).toBeGreaterThan(0);
    expect(ipv6Compare(p('::'), 0, p('::'), 0)).toBe(0);
    expect(ipv6Compare(p('8000::'), 0, p('7fff:ffff::'), 0)).toBeGreaterThan(0);
  });
});

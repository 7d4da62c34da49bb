import { describe, expect, test } from 'vitest';
import {
  IPV4_ANY,
  IPV4_BROADCAST,
  IPV4_LOOPBACK,
  formatIpv4Address,
  ipv4InSubnet,
  ipv4IsLoopback,
  ipv4IsMulticast,
  ipv4SubnetBroadcast,
  maskToPrefix,
  parseIpv4Address,
  prefixToMask,
} from '../../src/wire/address.ts';
import { WireError, WireErrorCode, isWireError, wireErrorName } from '../../src/wire/error.ts';
import { Rng } from './helpers.ts';

describe('IPv4 addresses', () => {
  test('parse valid dotted quads', () => {
    expect(parseIpv4Address('192.168.0.1')).toBe(0xc0a80001);
    expect(parseIpv4Address('0.0.0.0')).toBe(IPV4_ANY);
    expect(parseIpv4Address('255.255.255.255')).toBe(IPV4_BROADCAST);
    expect(parseIpv4Address('127.0.0.1')).toBe(IPV4_LOOPBACK);
    expect(parseIpv4Address('10.0.200.9')).toBe(0x0a00c809);
  });

  test.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '1.2.3.256',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.00',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1..3.4',
    '.1.2.3',
    '1.2.3.',
    '1.2.3.-4',
    '+1.2.3.4',
    '1.2.3.4a',
    '0x1.2.3.4',
    '1.2.3.1000',
    '10',
    '1.2.3.4/24',
  ])('reject %j', (s) => {
    expect(parseIpv4Address(s)).toBeNull();
  });

  test('format and parse round-trip on random addresses', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 1000; i++) {
      const a = rng.u32();
      expect(parseIpv4Address(formatIpv4Address(a))).toBe(a);
    }
    expect(formatIpv4Address(0xc0a800c7)).toBe('192.168.0.199');
    expect(formatIpv4Address(-1)).toBe('255.255.255.255');
  });

  test('prefixes and masks', () => {
    expect(prefixToMask(0)).toBe(0);
    expect(prefixToMask(8)).toBe(0xff000000);
    expect(prefixToMask(24)).toBe(0xffffff00);
    expect(prefixToMask(32)).toBe(0xffffffff);
    for (let p = 0; p <= 32; p++) expect(maskToPrefix(prefixToMask(p))).toBe(p);
    expect(maskToPrefix(0xff00ff00)).toBe(-1);
    expect(maskToPrefix(0x00ffffff)).toBe(-1);
    expect(maskToPrefix(1)).toBe(-1);
    expect(() => prefixToMask(33)).toThrow(RangeError);
    expect(() => prefixToMask(-1)).toThrow(RangeError);
    expect(() => prefixToMask(1.5)).toThrow(RangeError);
  });

  test('subnet membership, broadcast, classes', () => {
    const net = 0xc0a80000;
    const mask = prefixToMask(24);
    expect(ipv4InSubnet(0xc0a80001, net, mask)).toBe(true);
    expect(ipv4InSubnet(0xc0a800ff, net, mask)).toBe(true);
    expect(ipv4InSubnet(0xc0a80100, net, mask)).toBe(false);
    expect(ipv4InSubnet(0xffffffff, 0, 0)).toBe(true);
    expect(ipv4SubnetBroadcast(0xc0a80001, mask)).toBe(0xc0a800ff);
    expect(ipv4IsMulticast(0xe0000001)).toBe(true);
    expect(ipv4IsMulticast(0xc0a80001)).toBe(false);
    expect(ipv4IsLoopback(0x7f000001)).toBe(true);
    expect(ipv4IsLoopback(0x80000001)).toBe(false);
  });
});

describe('WireError', () => {
  test('codes are distinct small integers with names', () => {
    const values = Object.values(WireErrorCode);
    expect(new Set(values).size).toBe(values.length);
    expect(WireErrorCode.OK).toBe(0);
    for (const [k, v] of Object.entries(WireErrorCode)) expect(wireErrorName(v)).toBe(k);
    expect(wireErrorName(999)).toBe('WIRE_999');
  });

  test('a plain value', () => {
    const e = new WireError(WireErrorCode.TRUNCATED, 'short');
    expect(isWireError(e)).toBe(true);
    expect(isWireError({ code: 1 })).toBe(false);
    expect(e.name).toBe('TRUNCATED');
    expect(String(e)).toContain('TRUNCATED');
    expect(e).not.toBeInstanceOf(Error);
  });
});

import { describe, expect, test } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/error.ts';
import {
  ICMP_HEADER_LEN,
  IcmpDestUnreachableCode,
  type IcmpRepr,
  IcmpType,
  IcmpView,
  emitIcmp,
  parseIcmp,
} from '../../src/wire/icmp.ts';
import { Rng, hex, refChecksum, toHex } from './helpers.ts';

function message(r: IcmpRepr, data: Uint8Array, at = 0): Uint8Array {
  const b = new Uint8Array(at + ICMP_HEADER_LEN + data.length);
  b.set(data, at + ICMP_HEADER_LEN);
  emitIcmp(r, b, at);
  return b;
}

describe('IcmpView', () => {
  test('a captured echo request (ping from Linux)', () => {
    // type 8 code 0 cksum ident 0x0a3b seq 1, 8 bytes of data
    const body = hex('08 00 00 00 0a 3b 00 01 61 62 63 64 65 66 67 68');
    const ck = refChecksum(body);
    body[2] = ck >>> 8;
    body[3] = ck;
    const v = new IcmpView(body);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(v.type).toBe(IcmpType.ECHO_REQUEST);
    expect(v.code).toBe(0);
    expect(v.ident).toBe(0x0a3b);
    expect(v.seqNo).toBe(1);
    expect(v.rest).toBe(0x0a3b0001);
    expect(v.restOfHeader).toBe(0x0a3b0001);
    expect(v.payloadOffset).toBe(8);
    expect(v.payloadLength).toBe(8);
    expect(v.verifyChecksum()).toBe(true);
    expect(parseIcmp(v)).toEqual({ kind: 'echo-request', ident: 0x0a3b, seqNo: 1, dataLen: 8 });
  });

  test('setters', () => {
    const b = new Uint8Array(10);
    const v = new IcmpView(b, 1, 8);
    v.type = IcmpType.DEST_UNREACHABLE;
    v.code = IcmpDestUnreachableCode.FRAG_NEEDED;
    v.rest = 0;
    v.nextHopMtu = 1400;
    expect(toHex(b)).toBe('00 03 04 00 00 00 00 05 78 00');
    v.ident = 0xabcd;
    v.seqNo = 0x0102;
    expect(v.rest).toBe(0xabcd0102);
    v.rest = 0xffffffff;
    expect(v.ident).toBe(0xffff);
    v.pointer = 12;
    expect(v.rest).toBe(0x0cffffff);
    v.restOfHeader = 0x01020304;
    expect(v.pointer).toBe(1);
    v.fillChecksum();
    expect(v.verifyChecksum()).toBe(true);
    v.checksum = 0;
    expect(v.verifyChecksum()).toBe(false);
    expect(b[9]).toBe(0);
  });
});

describe('IcmpRepr', () => {
  const reprs: IcmpRepr[] = [
    { kind: 'echo-request', ident: 1, seqNo: 2, dataLen: 56 },
    { kind: 'echo-reply', ident: 0xffff, seqNo: 0, dataLen: 0 },
    { kind: 'echo-reply', ident: 7, seqNo: 0xffff, dataLen: 1 },
    { kind: 'dest-unreachable', code: IcmpDestUnreachableCode.PORT, dataLen: 28 },
    { kind: 'dest-unreachable', code: IcmpDestUnreachableCode.FRAG_NEEDED, nextHopMtu: 1280, dataLen: 28 },
    { kind: 'time-exceeded', code: 0, dataLen: 28 },
    { kind: 'time-exceeded', code: 1, dataLen: 548 },
    { kind: 'other', type: IcmpType.PARAM_PROBLEM, code: 0, rest: 0x14000000, dataLen: 28 },
    { kind: 'other', type: 13, code: 0, rest: 0x12345678, dataLen: 12 },
  ];
  test.each(reprs)('emit → parse round-trip %#', (r) => {
    const data = new Rng(r.dataLen).fill(new Uint8Array(r.dataLen));
    for (const at of [0, 1, 2]) {
      const b = message(r, data, at);
      const v = new IcmpView(b, at);
      expect(v.verifyChecksum()).toBe(true);
      expect(parseIcmp(v)).toEqual(r);
      expect(parseIcmp(b.subarray(at))).toEqual(r);
    }
  });

  test('echo with a non-zero code parses as other; bad checksum; verify=false', () => {
    const b = message({ kind: 'other', type: 8, code: 1, rest: 0x00010002, dataLen: 0 }, new Uint8Array(0));
    expect(parseIcmp(b)).toEqual({ kind: 'other', type: 8, code: 1, rest: 0x00010002, dataLen: 0 });
    b[7]! ^= 1;
    expect((parseIcmp(b) as WireError).code).toBe(WireErrorCode.BAD_CHECKSUM);
    expect(parseIcmp(b, { verifyChecksum: false })).not.toBeInstanceOf(WireError);
  });

  test('emit refuses when header + data are not in the buffer', () => {
    expect(() => emitIcmp({ kind: 'echo-request', ident: 1, seqNo: 1, dataLen: 10 }, new Uint8Array(17), 0)).toThrow(RangeError);
  });
});

describe('malformed ICMP', () => {
  const cases: [string, () => Uint8Array, number][] = [
    ['empty buffer', () => new Uint8Array(0), WireErrorCode.TRUNCATED],
    ...Array.from({ length: 8 }, (_, n) => [`truncated to ${n} bytes`, () => message({ kind: 'echo-request', ident: 1, seqNo: 1, dataLen: 0 }, new Uint8Array(0)).slice(0, n), WireErrorCode.TRUNCATED] as [string, () => Uint8Array, number]),
  ];
  test.each(cases)('%s', (_name, make, code) => {
    const b = make();
    const v = new IcmpView(b);
    expect(v.check()).toBe(code);
    for (const verifyChecksum of [true, false]) {
      const r = parseIcmp(b, { verifyChecksum });
      expect(r).toBeInstanceOf(WireError);
      expect((r as WireError).code).toBe(code);
    }
  });
});

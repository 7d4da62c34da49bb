import { describe, expect, test } from 'vitest';
import { onesSum } from '../../src/wire/checksum.ts';
import { WireError, WireErrorCode } from '../../src/wire/error.ts';
import { UDP_HEADER_LEN, type UdpRepr, UdpView, emitUdp, parseUdp } from '../../src/wire/udp.ts';
import { Rng, hex, toHex } from './helpers.ts';

const SRC = 0xc0a80001;
const DST = 0xc0a800c7;

function datagram(r: UdpRepr, payload: Uint8Array, at = 0, extra = 0): Uint8Array {
  const b = new Uint8Array(at + UDP_HEADER_LEN + payload.length + extra);
  b.set(payload, at + UDP_HEADER_LEN);
  emitUdp({ ...r, payloadLen: payload.length }, b, at, SRC, DST);
  return b;
}

describe('UdpView', () => {
  test('getters and setters', () => {
    const b = new Uint8Array(12);
    const v = new UdpView(b, 1, 10);
    v.srcPort = 53;
    v.dstPort = 0xfffe;
    v.length = 10;
    v.checksum = 0x1234;
    expect(toHex(b)).toBe('00 00 35 ff fe 00 0a 12 34 00 00 00');
    expect(v.srcPort).toBe(53);
    expect(v.dstPort).toBe(0xfffe);
    expect(v.length).toBe(10);
    expect(v.checksum).toBe(0x1234);
    expect(v.payloadOffset).toBe(9);
    expect(v.payloadLength).toBe(2);
    expect(v.payload().length).toBe(2);
    expect(v.check()).toBe(WireErrorCode.OK);
  });

  test('checksum: fill, verify, 0 means none, computed 0 is sent as 0xffff', () => {
    const b = datagram({ srcPort: 1, dstPort: 2, payloadLen: 0 }, hex('de ad be ef 01'));
    const v = new UdpView(b);
    expect(v.verifyChecksum(SRC, DST)).toBe(true);
    b[9]! ^= 1;
    expect(v.verifyChecksum(SRC, DST)).toBe(false);
    v.checksum = 0;
    expect(v.verifyChecksum(SRC, DST)).toBe(true);
    v.fillChecksum(SRC, DST);
    expect(v.verifyChecksum(SRC, DST)).toBe(true);

    // Choose the last payload word so that the sum is 0xffff: the computed
    // checksum is then 0, which must go out as 0xffff (0 means "none").
    const c = new Uint8Array(10);
    const w = new UdpView(c);
    w.srcPort = 1000;
    w.dstPort = 2000;
    w.length = 10;
    w.fillChecksum(SRC, DST); // payload word 0
    const sumWithoutWord = ~w.checksum & 0xffff;
    const word = 0xffff - sumWithoutWord;
    c[8] = word >>> 8;
    c[9] = word;
    w.fillChecksum(SRC, DST);
    expect(w.checksum).toBe(0xffff);
    expect(w.verifyChecksum(SRC, DST)).toBe(true);
    emitUdp({ srcPort: 1000, dstPort: 2000, payloadLen: 2 }, c, 0, SRC, DST);
    expect(w.checksum).toBe(0xffff);
  });

  test('length shorter than the view: the checksum covers `length` bytes only', () => {
    const b = datagram({ srcPort: 7, dstPort: 7, payloadLen: 0 }, hex('01 02 03'), 0, 5);
    b.fill(0xee, 11);
    const v = new UdpView(b);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(v.verifyChecksum(SRC, DST)).toBe(true);
    expect(parseUdp(v, SRC, DST)).toEqual({ srcPort: 7, dstPort: 7, payloadLen: 3 });
  });
});

describe('UdpRepr', () => {
  const reprs: UdpRepr[] = [
    { srcPort: 53, dstPort: 33000, payloadLen: 0 },
    { srcPort: 0, dstPort: 65535, payloadLen: 1 },
    { srcPort: 1234, dstPort: 5678, payloadLen: 1472 },
  ];
  test.each(reprs)('emit → parse round-trip %#', (r) => {
    const payload = new Rng(r.payloadLen).fill(new Uint8Array(r.payloadLen));
    for (const at of [0, 1, 3]) {
      const b = datagram(r, payload, at);
      const v = new UdpView(b, at);
      expect(v.check()).toBe(WireErrorCode.OK);
      expect(v.checksum).not.toBe(0);
      expect(parseUdp(v, SRC, DST)).toEqual(r);
      expect(parseUdp(b.subarray(at), SRC, DST)).toEqual(r);
      expect((parseUdp(b.subarray(at), SRC, DST + 1) as WireError).code).toBe(WireErrorCode.BAD_CHECKSUM);
    }
  });

  test('emit with skipChecksum sends 0; with payloadSum uses it', () => {
    const b = new Uint8Array(12);
    emitUdp({ srcPort: 1, dstPort: 2, payloadLen: 4 }, b, 0, SRC, DST, { skipChecksum: true });
    expect(new UdpView(b).checksum).toBe(0);
    b.set([9, 8, 7, 6], 8);
    const hdr = new Uint8Array(8);
    emitUdp({ srcPort: 1, dstPort: 2, payloadLen: 4 }, hdr, 0, SRC, DST, { payloadSum: onesSum(b, 8, 4) });
    b.set(hdr);
    expect(new UdpView(b).verifyChecksum(SRC, DST)).toBe(true);
    expect(() => emitUdp({ srcPort: 1, dstPort: 2, payloadLen: 0 }, new Uint8Array(7), 0, SRC, DST)).toThrow(RangeError);
    expect(() => emitUdp({ srcPort: 1, dstPort: 2, payloadLen: 65528 }, new Uint8Array(8), 0, SRC, DST)).toThrow(RangeError);
  });
});

describe('malformed UDP', () => {
  const good = () => datagram({ srcPort: 1, dstPort: 2, payloadLen: 0 }, hex('aa bb cc'));
  const cases: [string, () => Uint8Array, number][] = [
    ['empty buffer', () => new Uint8Array(0), WireErrorCode.TRUNCATED],
    ...Array.from({ length: 8 }, (_, n) => [`truncated to ${n} bytes`, () => good().slice(0, n), WireErrorCode.TRUNCATED] as [string, () => Uint8Array, number]),
    ['length 0', () => Object.assign(good(), { 4: 0, 5: 0 }), WireErrorCode.BAD_LENGTH],
    ['length 7', () => Object.assign(good(), { 4: 0, 5: 7 }), WireErrorCode.BAD_LENGTH],
    ['length > buffer', () => Object.assign(good(), { 4: 0, 5: 12 }), WireErrorCode.BAD_LENGTH],
    ['length 65535', () => Object.assign(good(), { 4: 0xff, 5: 0xff }), WireErrorCode.BAD_LENGTH],
  ];
  test.each(cases)('%s', (_name, make, code) => {
    const b = make();
    const v = new UdpView(b);
    expect(v.check()).toBe(code);
    for (const verifyChecksum of [true, false]) {
      const r = parseUdp(b, SRC, DST, { verifyChecksum });
      expect(r).toBeInstanceOf(WireError);
      expect((r as WireError).code).toBe(code);
    }
    expect(v.verifyChecksum(SRC, DST)).toBe(false);
  });
});

import { describe, expect, test } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/error.ts';
import {
  TCP_MAX_OPTIONS_LEN,
  TcpFlag,
  type TcpOptions,
  type TcpRepr,
  TcpView,
  emitTcp,
  emitTcpOptions,
  newTcpOptions,
  parseTcp,
  parseTcpOptions,
  tcpHeaderLength,
  tcpOptionsLength,
} from '../../src/wire/tcp.ts';
import { onesSum, ipv4PseudoHeaderSum, chainOnesSum } from '../../src/wire/checksum.ts';
import { Rng, hex, toHex } from './helpers.ts';

const SRC = 0xc0a80001;
const DST = 0xc0a80002;

function opts(p: Partial<TcpOptions> & { sack?: number[] } = {}): TcpOptions {
  const o = newTcpOptions();
  const { sack, ...rest } = p;
  Object.assign(o, rest);
  if (sack) {
    o.sackCount = sack.length / 2;
    o.sackBlocks.set(sack);
  }
  return o;
}

function repr(p: Partial<TcpRepr> = {}): TcpRepr {
  return { srcPort: 49152, dstPort: 80, seq: 0x01020304, ack: 0xfffffff0, flags: TcpFlag.ACK, window: 65535, urgent: 0, options: newTcpOptions(), payloadLen: 0, ...p };
}

/** Emit a segment with `payload` into a fresh buffer at offset `at`. */
function segment(r: TcpRepr, payload: Uint8Array = new Uint8Array(0), at = 0): Uint8Array {
  const hl = tcpHeaderLength(r);
  const buf = new Uint8Array(at + hl + payload.length);
  buf.set(payload, at + hl);
  emitTcp({ ...r, payloadLen: payload.length }, buf, at, SRC, DST);
  return buf;
}

describe('TcpView', () => {
  test('getters and setters', () => {
    const b = new Uint8Array(44);
    const v = new TcpView(b, 2, 40);
    v.srcPort = 0xabcd;
    v.dstPort = 443;
    v.seq = 0xfedcba98;
    v.ack = 0x12345678;
    v.headerLen = 24;
    v.flags = TcpFlag.SYN | TcpFlag.ACK | TcpFlag.ECE | TcpFlag.CWR | TcpFlag.NS;
    v.window = 0x8000;
    v.urgent = 0x0102;
    v.checksum = 0x5555;
    expect(v.srcPort).toBe(0xabcd);
    expect(v.dstPort).toBe(443);
    expect(v.seq).toBe(0xfedcba98);
    expect(v.ack).toBe(0x12345678);
    expect(v.dataOffset).toBe(6);
    expect(v.headerLen).toBe(24);
    expect(v.flags).toBe(0x1d2);
    expect(v.syn && v.ackFlag).toBe(true);
    expect(v.fin || v.rst || v.psh || v.urg).toBe(false);
    expect(v.window).toBe(0x8000);
    expect(v.urgent).toBe(0x0102);
    expect(v.checksum).toBe(0x5555);
    expect(v.reserved).toBe(0);
    v.reserved = 7;
    expect(v.reserved).toBe(7);
    expect(v.dataOffset).toBe(6);
    expect(v.flags).toBe(0x1d2);
    v.reserved = 0;
    v.flags = TcpFlag.FIN;
    expect(b[2 + 12]).toBe(0x60);
    expect(b[2 + 13]).toBe(0x01);
    v.dataOffset = 5;
    expect(v.flags).toBe(TcpFlag.FIN);
    expect(v.optionsOffset).toBe(22);
    expect(v.optionsLength).toBe(0);
    expect(v.payloadOffset).toBe(22);
    expect(v.payloadLength).toBe(20);
    expect(v.payload().length).toBe(20);
    expect(toHex(b.subarray(2, 14))).toBe('ab cd 01 bb fe dc ba 98 12 34 56 78');
    expect(b[0]).toBe(0);
    expect(b[43]).toBe(0);
  });

  test('checksum fill/verify over the view length with the pseudo-header', () => {
    const payload = new Rng(1).fill(new Uint8Array(1001));
    const b = segment(repr(), payload, 3);
    const v = new TcpView(b, 3);
    expect(v.verifyChecksum(SRC, DST)).toBe(true);
    expect(v.verifyChecksum(SRC, DST + 1)).toBe(false);
    b[b.length - 1]! ^= 0x10;
    expect(v.verifyChecksum(SRC, DST)).toBe(false);
    v.fillChecksum(SRC, DST);
    expect(v.verifyChecksum(SRC, DST)).toBe(true);
    expect(onesSum(b, 3, v.len, ipv4PseudoHeaderSum(SRC, DST, 6, v.len))).toBe(0xffff);
  });
});

describe('TCP options', () => {
  test('Linux SYN layout: MSS, SACK_PERM+TS, NOP WS', () => {
    const o = opts({ mss: 1460, sackPermitted: true, hasTimestamp: true, tsVal: 0x11223344, tsEcr: 0, wscale: 7 });
    const b = new Uint8Array(40);
    expect(tcpOptionsLength(o)).toBe(20);
    expect(emitTcpOptions(o, b, 0)).toBe(20);
    expect(toHex(b.subarray(0, 20))).toBe('02 04 05 b4 04 02 08 0a 11 22 33 44 00 00 00 00 01 03 03 07');
  });

  test.each([
    ['nothing', {}, ''],
    ['MSS only', { mss: 536 }, '02 04 02 18'],
    ['TS without SACK-perm', { hasTimestamp: true, tsVal: 1, tsEcr: 2 }, '01 01 08 0a 00 00 00 01 00 00 00 02'],
    ['SACK-perm without TS', { sackPermitted: true }, '01 01 04 02'],
    ['WS 0', { wscale: 0 }, '01 03 03 00'],
    ['WS clamped to 14', { wscale: 15 }, '01 03 03 0e'],
    ['SACK blocks', { sack: [1, 2, 0xfffffffe, 0xffffffff] }, '01 01 05 12 00 00 00 01 00 00 00 02 ff ff ff fe ff ff ff ff'],
  ] as [string, Partial<TcpOptions> & { sack?: number[] }, string][])('%s', (_n, p, want) => {
    const o = opts(p);
    const b = new Uint8Array(40);
    const n = emitTcpOptions(o, b, 0);
    expect(toHex(b.subarray(0, n))).toBe(want);
    expect(n % 4).toBe(0);
    expect(tcpOptionsLength(o)).toBe(n);
  });

  test('SACK blocks that do not fit in 40 bytes are left out', () => {
    const o = opts({ hasTimestamp: true, tsVal: 5, sack: [1, 2, 3, 4, 5, 6, 7, 8] });
    expect(tcpOptionsLength(o)).toBe(12 + 4 + 3 * 8);
    const b = new Uint8Array(40);
    expect(emitTcpOptions(o, b, 0)).toBe(40);
    const back = newTcpOptions();
    expect(parseTcpOptions(b, 0, 40, back)).toBe(WireErrorCode.OK);
    expect(back.sackCount).toBe(3);
    expect(Array.from(back.sackBlocks.subarray(0, 6))).toEqual([1, 2, 3, 4, 5, 6]);
    const all = opts({ sack: [1, 2, 3, 4, 5, 6, 7, 8] });
    expect(tcpOptionsLength(all)).toBe(36);
  });

  test('random option sets round-trip through emit → parse', () => {
    const rng = new Rng(77);
    const back = newTcpOptions();
    for (let i = 0; i < 1000; i++) {
      const o = newTcpOptions();
      if (rng.chance(0.5)) o.mss = 1 + rng.int(0xffff);
      if (rng.chance(0.5)) o.wscale = rng.int(15);
      o.sackPermitted = rng.chance(0.5);
      if (rng.chance(0.5)) {
        o.hasTimestamp = true;
        o.tsVal = rng.u32();
        o.tsEcr = rng.u32();
      }
      const sc = rng.chance(0.5) ? rng.int(5) : 0;
      for (let k = 0; k < 2 * sc; k++) o.sackBlocks[k] = rng.u32();
      o.sackCount = sc;
      const b = new Uint8Array(TCP_MAX_OPTIONS_LEN);
      const n = emitTcpOptions(o, b, 0);
      expect(n).toBeLessThanOrEqual(40);
      expect(parseTcpOptions(b, 0, n, back)).toBe(WireErrorCode.OK);
      expect(back.mss).toBe(o.mss);
      expect(back.wscale).toBe(o.wscale);
      expect(back.sackPermitted).toBe(o.sackPermitted);
      expect(back.hasTimestamp).toBe(o.hasTimestamp);
      expect(back.tsVal).toBe(o.tsVal);
      expect(back.tsEcr).toBe(o.tsEcr);
      expect(back.sackCount).toBeLessThanOrEqual(o.sackCount);
      expect(Array.from(back.sackBlocks.subarray(0, 2 * back.sackCount))).toEqual(Array.from(o.sackBlocks.subarray(0, 2 * back.sackCount)));
      expect(back.unknownCount).toBe(0);
    }
  });

  test('parsing: EOL stops, NOPs skip, unknown kinds skipped by length, WS > 14 clamped, reuse resets', () => {
    const o = newTcpOptions();
    const b = hex('01 01 fe 04 aa bb 03 03 1e 02 04 05 dc 00 02 01');
    expect(parseTcpOptions(b, 0, b.length, o)).toBe(WireErrorCode.OK);
    expect(o.unknownCount).toBe(1);
    expect(o.wscale).toBe(14);
    expect(o.mss).toBe(1500);
    // Garbage after EOL is ignored.
    const c = hex('08 0a 00 00 00 07 00 00 00 09');
    expect(parseTcpOptions(c, 0, c.length, o)).toBe(WireErrorCode.OK);
    expect(o.mss).toBe(0);
    expect(o.wscale).toBe(-1);
    expect(o.hasTimestamp).toBe(true);
    expect(o.tsVal).toBe(7);
    expect(o.tsEcr).toBe(9);
    expect(parseTcpOptions(new Uint8Array(0), 0, 0, o)).toBe(WireErrorCode.OK);
    expect(o.hasTimestamp).toBe(false);
  });

  const bad: [string, string][] = [
    ['unknown kind, length 0', 'fe 00'],
    ['unknown kind, length 1', 'fe 01'],
    ['MSS length 0', '02 00 00 00'],
    ['MSS length 1', '02 01 00 00'],
    ['kind with no length byte', '01 01 01 02'],
    ['option overruns the region', '01 01 fe 05 00 00'],
    ['MSS overruns', '01 01 02 04 05'],
    ['MSS length 3', '02 03 05 01'],
    ['MSS length 5', '02 05 05 b4 00 00 00 00'],
    ['WS length 2', '03 02 01 01'],
    ['WS length 4', '03 04 07 00'],
    ['SACK-perm length 3', '04 03 00 00'],
    ['TS length 8', '08 08 00 00 00 00 00 00'],
    ['TS length 12', '08 0c 00 00 00 00 00 00 00 00 00 00'],
    ['SACK with 0 blocks', '05 02 00 00'],
    ['SACK length 9', '05 09 00 00 00 00 00 00 00 00 00 00'],
    ['SACK with 5 blocks (in a 44-byte region)', '05 2a' + ' 00'.repeat(40) + ' 00 00'],
    ['SACK overruns', '05 0a 00 00 00 00 00 00 00'],
  ];

  test.each(bad)('BAD_OPTION: %s', (_n, h) => {
    const b = hex(h);
    const o = newTcpOptions();
    expect(parseTcpOptions(b, 0, b.length, o)).toBe(WireErrorCode.BAD_OPTION);
    // The same bytes inside a segment: check() passes, parse fails.
    if (b.length <= 40 && b.length % 4 === 0) {
      const seg = new Uint8Array(20 + b.length);
      seg.set(b, 20);
      seg[12] = ((20 + b.length) / 4) << 4;
      const v = new TcpView(seg);
      expect(v.check()).toBe(WireErrorCode.OK);
      expect(v.parseOptions(o)).toBe(WireErrorCode.BAD_OPTION);
      const r = parseTcp(seg, SRC, DST, { verifyChecksum: false });
      expect((r as WireError).code).toBe(WireErrorCode.BAD_OPTION);
    }
  });

  test('the option parser never looks past its region', () => {
    // An MSS option cut by the region end; the bytes after it would complete it.
    const b = hex('01 02 04 05 b4');
    expect(parseTcpOptions(b, 0, 3, newTcpOptions())).toBe(WireErrorCode.BAD_OPTION);
    expect(parseTcpOptions(b, 0, 2, newTcpOptions())).toBe(WireErrorCode.BAD_OPTION);
    expect(parseTcpOptions(b, 0, 1, newTcpOptions())).toBe(WireErrorCode.OK);
    expect(parseTcpOptions(b, 1, 4, newTcpOptions())).toBe(WireErrorCode.OK);
  });
});

describe('TcpRepr', () => {
  const reprs: TcpRepr[] = [
    repr(),
    repr({ flags: TcpFlag.SYN, ack: 0, options: opts({ mss: 1460, sackPermitted: true, hasTimestamp: true, tsVal: 99, wscale: 7 }) }),
    repr({ flags: TcpFlag.SYN | TcpFlag.ACK | TcpFlag.ECE, options: opts({ mss: 536, wscale: 0 }) }),
    repr({ flags: TcpFlag.ACK | TcpFlag.PSH | TcpFlag.URG | TcpFlag.NS, urgent: 3, options: opts({ hasTimestamp: true, tsVal: 0xffffffff, tsEcr: 1, sack: [10, 20, 30, 40, 50, 60] }) }),
    repr({ flags: TcpFlag.RST, seq: 0, ack: 0, window: 0 }),
    repr({ flags: TcpFlag.FIN | TcpFlag.ACK | TcpFlag.CWR, srcPort: 0, dstPort: 65535 }),
  ];

  test.each(reprs)('emit → parse round-trip %#', (r) => {
    for (const plen of [0, 1, 2, 1460]) {
      const payload = new Rng(plen).fill(new Uint8Array(plen));
      for (const at of [0, 1, 6]) {
        const b = segment(r, payload, at);
        const v = new TcpView(b, at);
        expect(v.check()).toBe(WireErrorCode.OK);
        expect(v.verifyChecksum(SRC, DST)).toBe(true);
        const p = parseTcp(v, SRC, DST);
        expect(p).toEqual({ ...r, payloadLen: plen });
        expect(v.payloadLength).toBe(plen);
        expect(b.subarray(v.payloadOffset, v.payloadOffset + plen)).toEqual(payload);
        const into = newTcpOptions();
        const q = parseTcp(b.subarray(at), SRC, DST, { into }) as TcpRepr;
        expect(q.options).toBe(into);
      }
    }
  });

  test('emit with a payload sum taken from elsewhere (chained payload)', () => {
    const r = repr({ options: opts({ mss: 1000 }) });
    const payload = new Rng(3).fill(new Uint8Array(777));
    const hl = tcpHeaderLength(r);
    const hdr = new Uint8Array(hl);
    emitTcp({ ...r, payloadLen: payload.length }, hdr, 0, SRC, DST, { payloadSum: chainOnesSum({ buf: payload, off: 0, len: payload.length, next: null }) });
    const whole = new Uint8Array(hl + payload.length);
    whole.set(hdr);
    whole.set(payload, hl);
    expect(parseTcp(whole, SRC, DST)).toEqual({ ...r, payloadLen: 777 });
    emitTcp(r, hdr, 0, SRC, DST, { skipChecksum: true });
    expect(new TcpView(hdr).checksum).toBe(0);
  });

  test('bad checksum and verify=false', () => {
    const b = segment(repr(), hex('01 02 03'));
    b[16]! ^= 1;
    expect((parseTcp(b, SRC, DST) as WireError).code).toBe(WireErrorCode.BAD_CHECKSUM);
    expect(parseTcp(b, SRC, DST, { verifyChecksum: false })).not.toBeInstanceOf(WireError);
  });

  test('emit refuses when the header does not fit', () => {
    const r = repr({ options: opts({ mss: 1 }) });
    expect(() => emitTcp(r, new Uint8Array(23), 0, SRC, DST)).toThrow(RangeError);
    expect(() => emitTcp({ ...r, payloadLen: 10 }, new Uint8Array(30), 0, SRC, DST)).toThrow(RangeError);
  });
});

describe('malformed TCP', () => {
  const good = () => segment(repr(), new Uint8Array(10));
  const cases: [string, () => Uint8Array, number][] = [
    ['empty buffer', () => new Uint8Array(0), WireErrorCode.TRUNCATED],
    ...Array.from({ length: 20 }, (_, n) => [`truncated to ${n} bytes`, () => good().slice(0, n), WireErrorCode.TRUNCATED] as [string, () => Uint8Array, number]),
    ['data offset 0', () => Object.assign(good(), { 12: 0x00 }), WireErrorCode.BAD_DATA_OFFSET],
    ['data offset 4', () => Object.assign(good(), { 12: 0x40 }), WireErrorCode.BAD_DATA_OFFSET],
    ['data offset past the segment (15, 30 bytes)', () => Object.assign(good(), { 12: 0xf0 }), WireErrorCode.BAD_DATA_OFFSET],
    ['data offset 6 with a 20-byte segment', () => Object.assign(good().slice(0, 20), { 12: 0x60 }), WireErrorCode.BAD_DATA_OFFSET],
  ];
  test.each(cases)('%s', (_name, make, code) => {
    const b = make();
    const v = new TcpView(b);
    expect(v.check()).toBe(code);
    expect(v.parseOptions(newTcpOptions())).toBe(code);
    for (const verifyChecksum of [true, false]) {
      const r = parseTcp(b, SRC, DST, { verifyChecksum });
      expect(r).toBeInstanceOf(WireError);
      expect((r as WireError).code).toBe(code);
    }
    expect(() => v.verifyChecksum(SRC, DST)).not.toThrow();
  });
});

import { describe, expect, test } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/error.ts';
import {
  ICMPV6_HEADER_LEN,
  ICMPV6_MAX_QUOTE,
  ICMPV6_ERROR_MAX_LEN,
  ICMPV6_NEXT_HEADER,
  Icmpv6DestUnreachableCode,
  Icmpv6ParamProblemCode,
  type Icmpv6Repr,
  Icmpv6TimeExceededCode,
  Icmpv6Type,
  Icmpv6View,
  NaFlag,
  NdOptionType,
  emitIcmpv6,
  emitIcmpv6Error,
  emitNeighborAdvertForSolicit,
  fillIcmpv6Checksum,
  icmpv6ChecksumOk,
  icmpv6FixedLength,
  icmpv6IsError,
  icmpv6ReprLength,
  naDestination,
  ndNeighborMessageOk,
  parseIcmpv6,
} from '../../src/wire/icmpv6.ts';
import { Rng, hex, toHex } from './helpers.ts';

const FE80_1 = hex('fe800000 00000000 00000000 00000001');
const FE80_2 = hex('fe800000 00000000 00000000 00000002');
const UNSPEC = new Uint8Array(16);
const MAC = hex('02 00 5e 10 00 01');
const PEER_MAC = hex('02 00 5e 10 00 02');

/** emit `r` at `at` in a fresh buffer, with `data` as the body (non-ND kinds). */
function message(r: Icmpv6Repr, data: Uint8Array, at = 0, src = FE80_1, dst = FE80_2): Uint8Array {
  const len = icmpv6ReprLength(r);
  const b = new Uint8Array(at + len);
  b.set(data, at + len - data.length);
  expect(emitIcmpv6(r, b, at, src, dst)).toBe(len);
  return b;
}

describe('Icmpv6View', () => {
  test("smoltcp's echo request vector: fields, checksum with its addresses, parse", () => {
    const b = hex('80 00 19 b3 12 34 ab cd aa 00 00 ff');
    const v = new Icmpv6View(b);
    expect(v.check()).toBe(WireErrorCode.OK);
    expect(v.type).toBe(Icmpv6Type.ECHO_REQUEST);
    expect(v.code).toBe(0);
    expect(v.checksum).toBe(0x19b3);
    expect(v.ident).toBe(0x1234);
    expect(v.seqNo).toBe(0xabcd);
    expect(v.rest).toBe(0x1234abcd);
    expect(v.fixedLength).toBe(8);
    expect(v.payloadOffset).toBe(8);
    expect(v.payloadLength).toBe(4);
    expect(toHex(v.payload())).toBe('aa 00 00 ff');
    expect(icmpv6ChecksumOk(v, FE80_1, FE80_2)).toBe(true);
    expect(icmpv6ChecksumOk(v, FE80_2, FE80_1)).toBe(true); // the sum is symmetric in src/dst
    expect(icmpv6ChecksumOk(v, FE80_1, FE80_1)).toBe(false);
    expect(parseIcmpv6(v)).toEqual({ kind: 'echo-request', ident: 0x1234, seqNo: 0xabcd, dataLen: 4 });
    const r = message({ kind: 'echo-request', ident: 0x1234, seqNo: 0xabcd, dataLen: 4 }, hex('aa 00 00 ff'));
    expect(toHex(r)).toBe(toHex(b));
  });

  test('addresses read in place from an IPv6 header (offsets 8 and 24)', () => {
    const ip = new Uint8Array(40);
    ip.set(FE80_1, 8);
    ip.set(FE80_2, 24);
    const v = new Icmpv6View(hex('80 00 19 b3 12 34 ab cd aa 00 00 ff'));
    expect(icmpv6ChecksumOk(v, ip, ip, 8, 24)).toBe(true);
  });

  test('setters and NA flag getters', () => {
    const b = new Uint8Array(26);
    const v = new Icmpv6View(b, 1, 24);
    v.type = Icmpv6Type.PACKET_TOO_BIG;
    v.code = 0;
    v.mtu = 1280;
    expect(toHex(b.subarray(0, 9))).toBe('00 02 00 00 00 00 00 05 00');
    v.pointer = 0xffffffff;
    expect(v.rest).toBe(0xffffffff);
    v.ident = 0xabcd;
    v.seqNo = 0x0102;
    expect(v.rest).toBe(0xabcd0102);
    v.rest = NaFlag.SOLICITED << 24;
    expect([v.router, v.solicited, v.override, v.naFlags]).toEqual([false, true, false, 0x40]);
    v.rest = 0xffffffff;
    expect([v.router, v.solicited, v.override, v.naFlags]).toEqual([true, true, true, 0xe0]);
    expect(v.targetOffset).toBe(9);
    fillIcmpv6Checksum(b, 1, 24, FE80_1, FE80_2);
    expect(icmpv6ChecksumOk(v, FE80_1, FE80_2)).toBe(true);
    v.checksum = v.checksum ^ 1;
    expect(icmpv6ChecksumOk(v, FE80_1, FE80_2)).toBe(false);
    expect(b[25]).toBe(0);
  });

  test('fixed lengths per type, error classification', () => {
    expect([1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137, 130, 200].map(icmpv6FixedLength)).toEqual([
      8, 8, 8, 8, 8, 8, 8, 16, 24, 24, 40, 4, 4,
    ]);
    expect([0, 1, 4, 127].every(icmpv6IsError)).toBe(true);
    expect([128, 135, 255].some(icmpv6IsError)).toBe(false);
  });
});

describe('Icmpv6Repr round trips', () => {
  const reprs: Icmpv6Repr[] = [
    { kind: 'echo-request', ident: 1, seqNo: 2, dataLen: 56 },
    { kind: 'echo-reply', ident: 0xffff, seqNo: 0, dataLen: 0 },
    { kind: 'echo-reply', ident: 7, seqNo: 0xffff, dataLen: 1 },
    ...Object.values(Icmpv6DestUnreachableCode).map((code): Icmpv6Repr => ({ kind: 'dest-unreachable', code, dataLen: 48 })),
    { kind: 'packet-too-big', mtu: 1280, dataLen: 1232 },
    { kind: 'packet-too-big', mtu: 0xffffffff, dataLen: 0 },
    ...Object.values(Icmpv6TimeExceededCode).map((code): Icmpv6Repr => ({ kind: 'time-exceeded', code, dataLen: 48 })),
    ...Object.values(Icmpv6ParamProblemCode).map((code): Icmpv6Repr => ({ kind: 'param-problem', code, pointer: 40 + code, dataLen: 48 })),
    { kind: 'param-problem', code: 0, pointer: 0x01020304, dataLen: 3 },
    { kind: 'neighbor-solicit', target: FE80_1 },
    { kind: 'neighbor-solicit', target: FE80_1, sourceLinkAddr: PEER_MAC },
    { kind: 'neighbor-advert', router: false, solicited: true, override: true, target: FE80_1, targetLinkAddr: MAC },
    { kind: 'neighbor-advert', router: true, solicited: false, override: false, target: FE80_2 },
    { kind: 'other', type: Icmpv6Type.ROUTER_SOLICIT, code: 0, dataLen: 4 },
    { kind: 'other', type: Icmpv6Type.ROUTER_ADVERT, code: 0, dataLen: 12 },
    { kind: 'other', type: Icmpv6Type.REDIRECT, code: 0, dataLen: 36 },
    { kind: 'other', type: Icmpv6Type.ECHO_REQUEST, code: 1, dataLen: 4 },
    { kind: 'other', type: Icmpv6Type.NEIGHBOR_SOLICIT, code: 3, dataLen: 20 },
    { kind: 'other', type: 130, code: 0, dataLen: 20 },
    { kind: 'other', type: 200, code: 9, dataLen: 0 },
    { kind: 'other', type: 200, code: 9, dataLen: 3 },
  ];
  test.each(reprs)('emit → parse %#: $kind', (r) => {
    const bodyLen = 'dataLen' in r ? r.dataLen : 0;
    // ND bodies of kind 'other' must hold well-formed options (none here): zero bytes are options
    // of length 0, so give RS/RA/Redirect no body bytes beyond their fixed part.
    const body = r.kind === 'other' && r.type >= 133 && r.type <= 137 ? new Uint8Array(0) : new Rng(bodyLen).fill(new Uint8Array(bodyLen));
    for (const at of [0, 1, 2]) {
      const b = message(r, body, at);
      const v = new Icmpv6View(b, at);
      expect(v.check()).toBe(WireErrorCode.OK);
      expect(icmpv6ChecksumOk(v, FE80_1, FE80_2)).toBe(true);
      expect(parseIcmpv6(v)).toEqual(r);
      expect(parseIcmpv6(b.subarray(at))).toEqual(r);
    }
  });

  test('NS/NA wire layout (RFC 4861 §4.3, §4.4, §4.6)', () => {
    const b = message({ kind: 'neighbor-advert', router: true, solicited: true, override: true, target: FE80_1, targetLinkAddr: MAC }, new Uint8Array(0));
    expect(b.length).toBe(32);
    expect(toHex(b.subarray(4, 8))).toBe('e0 00 00 00');
    expect(toHex(b.subarray(8, 24))).toBe(toHex(FE80_1));
    expect(toHex(b.subarray(24))).toBe('02 01 02 00 5e 10 00 01');
    const ns = message({ kind: 'neighbor-solicit', target: FE80_2, sourceLinkAddr: PEER_MAC }, new Uint8Array(0));
    expect(toHex(ns.subarray(0, 8))).toBe(`87 00 ${toHex(ns.subarray(2, 4))} 00 00 00 00`);
    expect(toHex(ns.subarray(24))).toBe('01 01 02 00 5e 10 00 02');
    expect(new Icmpv6View(ns).findOption(NdOptionType.SOURCE_LINK_ADDR)).toBe(24);
    expect(new Icmpv6View(ns).findOption(NdOptionType.TARGET_LINK_ADDR)).toBe(-1);
  });

  test('a link address that does not fill its option comes back with the zero padding (length is in units of 8)', () => {
    const ll = hex('01 02 03 04 05 06 07 08');
    const b = message({ kind: 'neighbor-advert', router: false, solicited: false, override: true, target: FE80_2, targetLinkAddr: ll }, new Uint8Array(0));
    expect(b.length).toBe(24 + 16);
    const r = parseIcmpv6(b);
    expect(r).toMatchObject({ kind: 'neighbor-advert', override: true });
    expect(toHex((r as { targetLinkAddr: Uint8Array }).targetLinkAddr)).toBe('01 02 03 04 05 06 07 08 00 00 00 00 00 00');
  });

  test('unknown options are skipped; the link-layer option is found after them', () => {
    const b = new Uint8Array(24 + 16 + 8);
    b[0] = Icmpv6Type.NEIGHBOR_SOLICIT;
    b.set(FE80_1, 8);
    b[24] = 14; // a nonce option (RFC 7527), 16 bytes
    b[25] = 2;
    b.set([1, 1, ...PEER_MAC], 40);
    fillIcmpv6Checksum(b, 0, b.length, FE80_2, FE80_1);
    expect(parseIcmpv6(b)).toEqual({ kind: 'neighbor-solicit', target: FE80_1, sourceLinkAddr: PEER_MAC });
  });

  test('emit refuses a message not inside the buffer, bad dataLen or a short target', () => {
    expect(() => emitIcmpv6({ kind: 'echo-request', ident: 1, seqNo: 1, dataLen: 10 }, new Uint8Array(17), 0, FE80_1, FE80_2)).toThrow(RangeError);
    expect(() => emitIcmpv6({ kind: 'echo-request', ident: 1, seqNo: 1, dataLen: -1 }, new Uint8Array(17), 0, FE80_1, FE80_2)).toThrow(RangeError);
    expect(() => emitIcmpv6({ kind: 'neighbor-solicit', target: FE80_1 }, new Uint8Array(23), 0, FE80_1, FE80_2)).toThrow(RangeError);
    expect(() => emitIcmpv6({ kind: 'neighbor-solicit', target: new Uint8Array(4) }, new Uint8Array(24), 0, FE80_1, FE80_2)).toThrow(RangeError);
  });
});

describe('checksum accept/reject', () => {
  test('flipping any bit of the message or of either address breaks the checksum', () => {
    const b = message({ kind: 'neighbor-solicit', target: FE80_1, sourceLinkAddr: PEER_MAC }, new Uint8Array(0));
    const v = new Icmpv6View(b);
    const src = FE80_2.slice();
    const dst = FE80_1.slice();
    fillIcmpv6Checksum(b, 0, b.length, src, dst);
    expect(icmpv6ChecksumOk(v, src, dst)).toBe(true);
    for (const region of [b, src, dst]) {
      for (let i = 0; i < region.length * 8; i++) {
        region[i >>> 3]! ^= 1 << (i & 7);
        expect(icmpv6ChecksumOk(v, src, dst), `bit ${i}`).toBe(false);
        region[i >>> 3]! ^= 1 << (i & 7);
      }
    }
    expect(icmpv6ChecksumOk(v, src, dst)).toBe(true);
    // The length is in the pseudo-header: a view one byte shorter fails too.
    expect(icmpv6ChecksumOk(new Icmpv6View(b, 0, b.length - 1), src, dst)).toBe(false);
  });
});

describe('check() codes', () => {
  const ok = (r: Icmpv6Repr, body = new Uint8Array('dataLen' in r ? r.dataLen : 0)) => message(r, body);
  const cases: [string, () => Uint8Array, number][] = [
    ['empty', () => new Uint8Array(0), WireErrorCode.TRUNCATED],
    ['3 bytes', () => hex('c8 00 00'), WireErrorCode.TRUNCATED],
    ['unknown type, 4 bytes', () => hex('c8 00 00 00'), WireErrorCode.OK],
    ...[1, 2, 3, 4, 128, 129, 133].map((t): [string, () => Uint8Array, number] => [`type ${t} with 7 bytes`, () => new Uint8Array([t, 0, 0, 0, 0, 0, 0]), WireErrorCode.TRUNCATED]),
    ['RA with 15 bytes', () => new Uint8Array([134, ...new Array<number>(14).fill(0)]), WireErrorCode.TRUNCATED],
    ['NS with 23 bytes', () => ok({ kind: 'neighbor-solicit', target: FE80_1 }).slice(0, 23), WireErrorCode.TRUNCATED],
    ['NA with 23 bytes', () => ok({ kind: 'neighbor-advert', router: false, solicited: false, override: false, target: FE80_1 }).slice(0, 23), WireErrorCode.TRUNCATED],
    ['redirect with 39 bytes', () => new Uint8Array([137, ...new Array<number>(38).fill(0)]), WireErrorCode.TRUNCATED],
    ['NS with an option of length 0', () => new Uint8Array([...ok({ kind: 'neighbor-solicit', target: FE80_1 }), 1, 0, 0, 0, 0, 0, 0, 0]), WireErrorCode.BAD_OPTION],
    ['NS with an option past the end', () => ok({ kind: 'neighbor-solicit', target: FE80_1, sourceLinkAddr: MAC }).slice(0, 31), WireErrorCode.BAD_OPTION],
    ['NS with one trailing byte', () => new Uint8Array([...ok({ kind: 'neighbor-solicit', target: FE80_1 }), 1]), WireErrorCode.BAD_OPTION],
    ['RS with an option of length 0', () => new Uint8Array([133, 0, 0, 0, 0, 0, 0, 0, 1, 0]), WireErrorCode.BAD_OPTION],
    ['echo body is not options', () => new Uint8Array([128, 0, 0, 0, 0, 0, 0, 0, 1, 0]), WireErrorCode.OK],
  ];
  test.each(cases)('%s', (_name, make, code) => {
    const b = make();
    expect(new Icmpv6View(b).check()).toBe(code);
    const r = parseIcmpv6(b);
    if (code === WireErrorCode.OK) expect(r).not.toBeInstanceOf(WireError);
    else expect((r as WireError).code).toBe(code);
  });
});

describe('error messages (RFC 4443 §2.4(c))', () => {
  function invoking(len: number, seed = len): Uint8Array {
    const p = new Rng(seed).fill(new Uint8Array(len));
    p[0] = 0x60;
    return p;
  }

  test('a large invoking packet is cut so the error fills exactly 1280 bytes with its IPv6 header', () => {
    const inv = invoking(2000);
    const out = new Uint8Array(1500);
    const n = emitIcmpv6Error(Icmpv6Type.DEST_UNREACHABLE, Icmpv6DestUnreachableCode.PORT_UNREACHABLE, 0, inv, 0, inv.length, out, 0, FE80_1, FE80_2);
    expect(n).toBe(ICMPV6_HEADER_LEN + ICMPV6_MAX_QUOTE);
    expect(n).toBe(ICMPV6_ERROR_MAX_LEN);
    expect(40 + n).toBe(1280);
    expect(ICMPV6_NEXT_HEADER).toBe(58);
    const v = new Icmpv6View(out, 0, n);
    expect(icmpv6ChecksumOk(v, FE80_1, FE80_2)).toBe(true);
    expect(parseIcmpv6(v)).toEqual({ kind: 'dest-unreachable', code: 4, dataLen: 1232 });
    expect(toHex(out.subarray(8, n))).toBe(toHex(inv.subarray(0, 1232)));
    expect(out[n]).toBe(0);
  });

  test('a small invoking packet is quoted whole; fields per type', () => {
    const inv = invoking(61);
    const out = new Uint8Array(200);
    let n = emitIcmpv6Error(Icmpv6Type.PACKET_TOO_BIG, 7, 1400, inv, 0, 61, out, 3, FE80_1, FE80_2);
    expect(n).toBe(69);
    // Code is 0 for Packet Too Big whatever the caller says (§3.2).
    expect(parseIcmpv6(new Icmpv6View(out, 3, n))).toEqual({ kind: 'packet-too-big', mtu: 1400, dataLen: 61 });
    n = emitIcmpv6Error(Icmpv6Type.PARAM_PROBLEM, Icmpv6ParamProblemCode.UNRECOGNIZED_NEXT_HEADER, 6, inv, 0, 61, out, 0, FE80_1, FE80_2);
    expect(parseIcmpv6(new Icmpv6View(out, 0, n))).toEqual({ kind: 'param-problem', code: 1, pointer: 6, dataLen: 61 });
    n = emitIcmpv6Error(Icmpv6Type.TIME_EXCEEDED, Icmpv6TimeExceededCode.FRAGMENT_REASSEMBLY, 99, inv, 0, 61, out, 0, FE80_1, FE80_2);
    expect(parseIcmpv6(new Icmpv6View(out, 0, n))).toEqual({ kind: 'time-exceeded', code: 1, dataLen: 61 });
    expect(new Icmpv6View(out, 0, n).rest).toBe(0);
    expect(icmpv6ChecksumOk(new Icmpv6View(out, 0, n), FE80_1, FE80_2)).toBe(true);
  });

  test('the quote also stops at the end of the output buffer', () => {
    const inv = invoking(1500);
    const out = new Uint8Array(108);
    const n = emitIcmpv6Error(Icmpv6Type.DEST_UNREACHABLE, 0, 0, inv, 0, 1500, out, 8, FE80_1, FE80_2);
    expect(n).toBe(100);
    expect(icmpv6ChecksumOk(new Icmpv6View(out, 8, n), FE80_1, FE80_2)).toBe(true);
  });

  test('in place: the invoking packet may sit where the error goes', () => {
    const inv = invoking(1400);
    const buf = new Uint8Array(1500);
    buf.set(inv, 48);
    // Quote starts at 48 + 0, error header at 40: the quote lands on itself.
    let n = emitIcmpv6Error(Icmpv6Type.DEST_UNREACHABLE, 3, 0, buf, 48, 1400, buf, 40, FE80_1, FE80_2);
    expect(n).toBe(1240);
    expect(toHex(buf.subarray(48, 40 + n))).toBe(toHex(inv.subarray(0, 1232)));
    // Packet at 0, error at 40 (room for an IPv6 header in front): overlapping forward move.
    buf.fill(0).set(inv, 0);
    n = emitIcmpv6Error(Icmpv6Type.DEST_UNREACHABLE, 3, 0, buf, 0, 1400, buf, 40, FE80_1, FE80_2);
    expect(toHex(buf.subarray(48, 40 + n))).toBe(toHex(inv.subarray(0, 1232)));
    expect(icmpv6ChecksumOk(new Icmpv6View(buf, 40, n), FE80_1, FE80_2)).toBe(true);
  });

  test('in place through two different views of one ArrayBuffer', () => {
    const inv = invoking(300);
    const ab = new ArrayBuffer(400);
    const pkt = new Uint8Array(ab, 0, 300);
    pkt.set(inv);
    const out = new Uint8Array(ab, 20, 380);
    // Error at absolute 40, quote at 48: a forward overlapping move.
    const n = emitIcmpv6Error(Icmpv6Type.TIME_EXCEEDED, 0, 0, pkt, 0, 300, out, 20, FE80_1, FE80_2);
    expect(n).toBe(308);
    expect(toHex(new Uint8Array(ab, 48, 300))).toBe(toHex(inv));
    expect(icmpv6ChecksumOk(new Icmpv6View(out, 20, n), FE80_1, FE80_2)).toBe(true);
    // And backwards: quote from absolute 100 to 8 (error header at 0).
    const inv2 = invoking(200, 9);
    new Uint8Array(ab).set(inv2, 100);
    const n2 = emitIcmpv6Error(Icmpv6Type.TIME_EXCEEDED, 0, 0, new Uint8Array(ab, 50), 50, 200, new Uint8Array(ab, 0, 300), 0, FE80_1, FE80_2);
    expect(toHex(new Uint8Array(ab, 8, 200))).toBe(toHex(inv2));
    expect(n2).toBe(208);
  });

  test('programming errors throw RangeError', () => {
    const inv = invoking(10);
    expect(() => emitIcmpv6Error(128, 0, 0, inv, 0, 10, new Uint8Array(100), 0, FE80_1, FE80_2)).toThrow(RangeError);
    expect(() => emitIcmpv6Error(1, 0, 0, inv, 0, 11, new Uint8Array(100), 0, FE80_1, FE80_2)).toThrow(RangeError);
    expect(() => emitIcmpv6Error(1, 0, 0, inv, 0, 10, new Uint8Array(7), 0, FE80_1, FE80_2)).toThrow(RangeError);
  });
});

describe('answering a Neighbor Solicitation (RFC 4861 §7.2.4)', () => {
  test('NS from fe80::2 for our fe80::1 → solicited, override NA to fe80::2 with our MAC', () => {
    const ns = message({ kind: 'neighbor-solicit', target: FE80_1, sourceLinkAddr: PEER_MAC }, new Uint8Array(0), 0, FE80_2, FE80_1);
    const nv = new Icmpv6View(ns);
    expect(nv.check()).toBe(WireErrorCode.OK);
    expect(icmpv6ChecksumOk(nv, FE80_2, FE80_1)).toBe(true);
    const dst = new Uint8Array(16);
    naDestination(FE80_2, 0, dst, 0);
    expect(toHex(dst)).toBe(toHex(FE80_2));
    const out = new Uint8Array(64);
    const n = emitNeighborAdvertForSolicit(nv, FE80_2, 0, MAC, false, out, 4, FE80_1, dst);
    expect(n).toBe(32);
    const av = new Icmpv6View(out, 4, n);
    expect(av.check()).toBe(WireErrorCode.OK);
    expect(icmpv6ChecksumOk(av, FE80_1, FE80_2)).toBe(true);
    expect(parseIcmpv6(av)).toEqual({ kind: 'neighbor-advert', router: false, solicited: true, override: true, target: FE80_1, targetLinkAddr: MAC });
  });

  test('DAD probe from :: → unsolicited NA to all-nodes ff02::1; router flag', () => {
    const ns = message({ kind: 'neighbor-solicit', target: FE80_1 }, new Uint8Array(0), 0, UNSPEC, FE80_1);
    const dst = new Uint8Array(16);
    naDestination(UNSPEC, 0, dst, 0);
    expect(toHex(dst)).toBe('ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 01');
    const out = new Uint8Array(32);
    const n = emitNeighborAdvertForSolicit(new Icmpv6View(ns), UNSPEC, 0, MAC, true, out, 0, FE80_1, dst);
    expect(icmpv6ChecksumOk(new Icmpv6View(out, 0, n), FE80_1, dst)).toBe(true);
    expect(parseIcmpv6(out)).toEqual({ kind: 'neighbor-advert', router: true, solicited: false, override: true, target: FE80_1, targetLinkAddr: MAC });
  });

  test('in place: the NA overwrites the NS buffer', () => {
    const buf = new Uint8Array(40);
    emitIcmpv6({ kind: 'neighbor-solicit', target: FE80_1, sourceLinkAddr: PEER_MAC }, buf, 0, FE80_2, FE80_1);
    const n = emitNeighborAdvertForSolicit(new Icmpv6View(buf, 0, 32), FE80_2, 0, MAC, false, buf, 0, FE80_1, FE80_2);
    expect(parseIcmpv6(new Icmpv6View(buf, 0, n))).toEqual({ kind: 'neighbor-advert', router: false, solicited: true, override: true, target: FE80_1, targetLinkAddr: MAC });
    expect(() => emitNeighborAdvertForSolicit(new Icmpv6View(buf, 0, 32), FE80_2, 0, MAC, false, new Uint8Array(31), 0, FE80_1, FE80_2)).toThrow(RangeError);
  });
});

describe('ndNeighborMessageOk (RFC 4861 §7.1.1, §7.1.2)', () => {
  const ALL_NODES = hex('ff020000 00000000 00000000 00000001');
  const ns = (src: Uint8Array, r: Icmpv6Repr) => new Icmpv6View(message(r, new Uint8Array(0), 0, src, FE80_1));
  test('accepts a normal NS and NA, rejects each rule broken', () => {
    const good = ns(FE80_2, { kind: 'neighbor-solicit', target: FE80_1, sourceLinkAddr: PEER_MAC });
    expect(ndNeighborMessageOk(good, 255, FE80_2, 0, FE80_1, 0)).toBe(true);
    expect(ndNeighborMessageOk(good, 254, FE80_2, 0, FE80_1, 0)).toBe(false);
    // DAD: from :: without the option is fine, with it is not.
    expect(ndNeighborMessageOk(ns(UNSPEC, { kind: 'neighbor-solicit', target: FE80_1 }), 255, UNSPEC, 0, FE80_1, 0)).toBe(true);
    expect(ndNeighborMessageOk(good, 255, UNSPEC, 0, FE80_1, 0)).toBe(false);
    expect(ndNeighborMessageOk(ns(FE80_2, { kind: 'neighbor-solicit', target: ALL_NODES }), 255, FE80_2, 0, FE80_1, 0)).toBe(false);
    const codeNs = message({ kind: 'neighbor-solicit', target: FE80_1 }, new Uint8Array(0));
    codeNs[1] = 1;
    expect(ndNeighborMessageOk(new Icmpv6View(codeNs), 255, FE80_2, 0, FE80_1, 0)).toBe(false);
    const na = (solicited: boolean) =>
      new Icmpv6View(message({ kind: 'neighbor-advert', router: false, solicited, override: true, target: FE80_2 }, new Uint8Array(0)));
    expect(ndNeighborMessageOk(na(true), 255, FE80_2, 0, FE80_1, 0)).toBe(true);
    expect(ndNeighborMessageOk(na(false), 255, FE80_2, 0, ALL_NODES, 0)).toBe(true);
    expect(ndNeighborMessageOk(na(true), 255, FE80_2, 0, ALL_NODES, 0)).toBe(false);
    const echo = new Icmpv6View(message({ kind: 'echo-request', ident: 1, seqNo: 1, dataLen: 16 }, new Uint8Array(16)));
    expect(ndNeighborMessageOk(echo, 255, FE80_2, 0, FE80_1, 0)).toBe(false);
  });
});

describe('fuzz: bad bytes never throw', () => {
  const valid: Icmpv6Repr[] = [
    { kind: 'echo-request', ident: 3, seqNo: 4, dataLen: 20 },
    { kind: 'packet-too-big', mtu: 1280, dataLen: 40 },
    { kind: 'neighbor-solicit', target: FE80_1, sourceLinkAddr: PEER_MAC },
    { kind: 'neighbor-advert', router: false, solicited: true, override: true, target: FE80_1, targetLinkAddr: MAC },
  ];

  function exercise(b: Uint8Array, off: number, len: number): void {
    const v = new Icmpv6View(b, off, len);
    const code = v.check();
    const r = parseIcmpv6(v);
    expect(r instanceof WireError ? r.code : WireErrorCode.OK).toBe(code);
    icmpv6ChecksumOk(v, FE80_1, FE80_2);
    if (code === WireErrorCode.OK) {
      for (let t = 0; t < 6; t++) v.findOption(t);
      ndNeighborMessageOk(v, 255, UNSPEC, 0, FE80_2, 0);
      expect(v.payloadOffset).toBeLessThanOrEqual(off + len);
    }
  }

  test('random bytes, random lengths, random types biased to the known ones', () => {
    const rng = new Rng('icmpv6-fuzz');
    const types = [1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137];
    for (let k = 0; k < 5000; k++) {
      const len = rng.int(80);
      const b = rng.fill(new Uint8Array(len + 4));
      if (len > 0 && rng.chance(0.8)) b[2] = types[rng.int(types.length)]!;
      // Small option lengths make the option walk go somewhere.
      for (let i = 0; i < b.length; i++) if (rng.chance(0.2)) b[i] = rng.int(4);
      exercise(b, 2, len);
    }
  });

  test('every truncation and random corruption of valid messages', () => {
    const rng = new Rng(1443);
    for (const r of valid) {
      const b = message(r, new Uint8Array('dataLen' in r ? r.dataLen : 0));
      for (let len = 0; len <= b.length; len++) exercise(b, 0, len);
      for (let k = 0; k < 500; k++) {
        const c = b.slice();
        for (let j = rng.int(4); j >= 0; j--) c[rng.int(c.length)] = rng.int(256);
        exercise(c, 0, rng.int(c.length + 1));
      }
    }
  });
});

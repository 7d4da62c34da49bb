import { describe, expect, test } from 'vitest';
import { type ByteChain, chainOnesSum, finishChecksum, foldSum, internetChecksum, onesSum } from '../../src/wire/checksum.ts';
import { ipv6PseudoHeaderSum } from '../../src/wire/checksum6.ts';
import { Rng, hex, refChecksum } from './helpers.ts';

/** The RFC 8200 §8.1 pseudo-header written out as 40 bytes, for the reference checksum. */
function pseudoHeaderBytes(src: Uint8Array, dst: Uint8Array, len: number, nh: number): Uint8Array {
  const b = new Uint8Array(40);
  b.set(src, 0);
  b.set(dst, 16);
  b[32] = len >>> 24;
  b[33] = len >>> 16;
  b[34] = len >>> 8;
  b[35] = len;
  b[39] = nh;
  return b;
}

/** Straightforward reference: checksum over pseudo-header bytes followed by the message. */
function refChecksum6(src: Uint8Array, dst: Uint8Array, nh: number, msg: Uint8Array): number {
  const all = new Uint8Array(40 + msg.length);
  all.set(pseudoHeaderBytes(src, dst, msg.length, nh), 0);
  all.set(msg, 40);
  return refChecksum(all);
}

const LOOPBACK = hex('00000000 00000000 00000000 00000001');
const FE80_1 = hex('fe800000 00000000 00000000 00000001');
const FE80_2 = hex('fe800000 00000000 00000000 00000002');

function checksum6(src: Uint8Array, dst: Uint8Array, nh: number, msg: Uint8Array): number {
  return finishChecksum(onesSum(msg, 0, msg.length, ipv6PseudoHeaderSum(src, 0, dst, 0, msg.length, nh)));
}

describe('ipv6PseudoHeaderSum (RFC 8200 §8.1)', () => {
  test('smoltcp published vector: echo request fe80::1 -> fe80::2 has checksum 0x19b3', () => {
    // From smoltcp's src/wire/icmpv6.rs tests (ECHO_PACKET_BYTES with
    // MOCK_IP_ADDR_1/2). By hand: pseudo-header fe80+1+fe80+2+12+58 =
    // 0x1fd49; message 0x8000+0x1234+0xabcd+0xaa00+0x00ff = 0x1e900;
    // 0x3e649 folds to 0xe64c, inverted 0x19b3.
    const msg = hex('80 00 00 00 12 34 ab cd aa 00 00 ff');
    expect(checksum6(FE80_1, FE80_2, 58, msg)).toBe(0x19b3);
    expect(refChecksum6(FE80_1, FE80_2, 58, msg)).toBe(0x19b3);
    msg[2] = 0x19;
    msg[3] = 0xb3;
    expect(onesSum(msg, 0, msg.length, ipv6PseudoHeaderSum(FE80_1, 0, FE80_2, 0, 12, 58))).toBe(0xffff);
  });

  test('hand-computed: the shape of `ping -6 ::1` (echo request ::1 -> ::1, id 1, seq 1, no data)', () => {
    // Linux ping -6 ::1 sends type 128 code 0 from ::1 to ::1; with the
    // 56-byte timestamp payload dropped (it changes per run) the fields
    // left are fixed. Pseudo-header: 0x0001 + 0x0001 + length 8 + next
    // header 58 = 0x44. Message: 0x8000 + 0x0001 + 0x0001 = 0x8002.
    // Sum 0x8046, checksum ~0x8046 = 0x7fb9.
    const msg = hex('80 00 00 00 00 01 00 01');
    expect(ipv6PseudoHeaderSum(LOOPBACK, 0, LOOPBACK, 0, 8, 58)).toBe(0x44);
    expect(checksum6(LOOPBACK, LOOPBACK, 58, msg)).toBe(0x7fb9);
    expect(refChecksum6(LOOPBACK, LOOPBACK, 58, msg)).toBe(0x7fb9);
  });

  test('a UDP datagram over IPv6 matches the reference, and verifies once filled', () => {
    // 2001:db8::1 port 5353 -> 2001:db8::2 port 53, 5 bytes "hello".
    const src = hex('20010db8 00000000 00000000 00000001');
    const dst = hex('20010db8 00000000 00000000 00000002');
    const udp = hex('14 e9 00 35 00 0d 00 00 68 65 6c 6c 6f');
    const c = checksum6(src, dst, 17, udp);
    expect(c).toBe(refChecksum6(src, dst, 17, udp));
    udp[6] = c >>> 8;
    udp[7] = c;
    expect(onesSum(udp, 0, udp.length, ipv6PseudoHeaderSum(src, 0, dst, 0, udp.length, 17))).toBe(0xffff);
    // Next header is part of the sum: the same bytes as TCP (6) do not verify.
    expect(onesSum(udp, 0, udp.length, ipv6PseudoHeaderSum(src, 0, dst, 0, udp.length, 6))).not.toBe(0xffff);
  });

  test('addresses read in place from an IPv6 header at any offset', () => {
    const rng = new Rng(6);
    for (let k = 0; k < 200; k++) {
      const at = rng.int(9);
      const hdr = rng.fill(new Uint8Array(at + 40));
      const src = hdr.slice(at + 8, at + 24);
      const dst = hdr.slice(at + 24, at + 40);
      const len = rng.int(3) === 0 ? rng.u32() : rng.int(70000);
      const nh = rng.int(256);
      const s = ipv6PseudoHeaderSum(hdr, at + 8, hdr, at + 24, len, nh);
      expect(Number.isInteger(s) && s >= 0 && s < 2 ** 21).toBe(true);
      const ref = pseudoHeaderBytes(src, dst, len, nh);
      expect(foldSum(s)).toBe(onesSum(ref, 0, 40));
    }
  });

  test('random messages: onesSum and chainOnesSum with the pseudo-header agree with the reference', () => {
    const rng = new Rng(66);
    for (let k = 0; k < 300; k++) {
      const src = rng.fill(new Uint8Array(16));
      const dst = rng.fill(new Uint8Array(16));
      const msg = rng.fill(new Uint8Array(rng.int(400)));
      const nh = [6, 17, 58][rng.int(3)]!;
      const ph = ipv6PseudoHeaderSum(src, 0, dst, 0, msg.length, nh);
      const want = refChecksum6(src, dst, nh, msg);
      expect(internetChecksum(msg, 0, msg.length, ph)).toBe(want);
      const cut = rng.int(msg.length + 1);
      const chain: ByteChain = { buf: msg, off: 0, len: cut, next: { buf: msg, off: cut, len: msg.length - cut, next: null } };
      expect(~chainOnesSum(chain, 0, undefined, ph) & 0xffff).toBe(want);
    }
  });

  test('upper-layer length is 32 bits (jumbograms, RFC 2675)', () => {
    const a = ipv6PseudoHeaderSum(LOOPBACK, 0, LOOPBACK, 0, 0x00010000, 17);
    const b = ipv6PseudoHeaderSum(LOOPBACK, 0, LOOPBACK, 0, 0x00000001, 17);
    expect(foldSum(a)).toBe(foldSum(b)); // 0x0001 0000 sums as 0x0001
    expect(ipv6PseudoHeaderSum(LOOPBACK, 0, LOOPBACK, 0, 0xffffffff, 0)).toBe(2 + 0xffff * 2);
  });

  test('an address outside its buffer is a RangeError (programming error)', () => {
    expect(() => ipv6PseudoHeaderSum(new Uint8Array(15), 0, LOOPBACK, 0, 8, 58)).toThrow(RangeError);
    expect(() => ipv6PseudoHeaderSum(LOOPBACK, 0, new Uint8Array(20), 5, 8, 58)).toThrow(RangeError);
    expect(() => ipv6PseudoHeaderSum(LOOPBACK, -1, LOOPBACK, 0, 8, 58)).toThrow(RangeError);
  });
});

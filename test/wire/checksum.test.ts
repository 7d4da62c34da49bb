import { describe, expect, test } from 'vitest';
import {
  type ByteChain,
  HOST_IS_LITTLE_ENDIAN,
  WORD_PATH_MIN,
  chainChecksum,
  chainOnesSum,
  checksumUpdate16,
  checksumUpdate32,
  finishChecksum,
  foldSum,
  internetChecksum,
  ipv4PseudoHeaderSum,
  onesSum,
  swap16,
} from '../../src/wire/checksum.ts';
import type { Pbuf } from '../../src/pbuf/pbuf.ts';
import { Rng, hex, refChecksum, refOnesSum } from './helpers.ts';

// Compile-time: a pbuf chain is a ByteChain (structurally), so the IP and
// TCP layers can pass pbufs straight to chainOnesSum.
export const pbufIsByteChain: (p: Pbuf) => ByteChain = (p) => p;

describe('known vectors', () => {
  test('RFC 1071 §3 example sums to 0xddf2', () => {
    const b = hex('00 01 f2 03 f4 f5 f6 f7');
    expect(onesSum(b, 0, 8)).toBe(0xddf2);
    expect(internetChecksum(b, 0, 8)).toBe(0x220d);
    expect(finishChecksum(0xddf2)).toBe(0x220d);
  });

  test('a captured IPv4 header has checksum 0xb861', () => {
    const b = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');
    expect(onesSum(b, 0, 20)).toBe(0xffff);
    const z = b.slice();
    z[10] = 0;
    z[11] = 0;
    expect(internetChecksum(z, 0, 20)).toBe(0xb861);
  });

  test('empty region, odd single byte, all-zero and all-ones data', () => {
    const b = hex('ab');
    expect(onesSum(b, 0, 0)).toBe(0);
    expect(internetChecksum(b, 0, 0)).toBe(0xffff);
    expect(onesSum(b, 0, 1)).toBe(0xab00);
    expect(onesSum(new Uint8Array(4000), 0, 4000)).toBe(0);
    expect(onesSum(new Uint8Array(4000).fill(0xff), 0, 4000)).toBe(0xffff);
    expect(onesSum(new Uint8Array(4001).fill(0xff), 1, 4000)).toBe(0xffff);
    expect(onesSum(new Uint8Array(0), 0, 0, 0x1234)).toBe(0x1234);
  });

  test('foldSum matches iterative end-around carry', () => {
    const rng = new Rng(7);
    const cases = [0, 1, 0xffff, 0x10000, 0x1fffe, 0x1ffff, 0xffffffff, 2 ** 52 + 12345, 2 ** 53 - 1];
    for (let i = 0; i < 2000; i++) cases.push(rng.u32() * 2 ** rng.int(21) + rng.u32());
    for (const s of cases) {
      let t = s;
      while (t > 0xffff) t = (t % 0x10000) + Math.floor(t / 0x10000);
      expect(foldSum(s), `fold ${s}`).toBe(t);
    }
  });

  test('swap16 and host endianness detection', () => {
    expect(swap16(0x1234)).toBe(0x3412);
    expect(swap16(0xff00)).toBe(0x00ff);
    const u = new Uint8Array(new Uint32Array([0x01020304]).buffer);
    expect(HOST_IS_LITTLE_ENDIAN).toBe(u[0] === 4);
  });

  test('region outside the buffer is a RangeError (programming error)', () => {
    const b = new Uint8Array(10);
    expect(() => onesSum(b, 5, 6)).toThrow(RangeError);
    expect(() => onesSum(b, -1, 2)).toThrow(RangeError);
    expect(() => onesSum(b, 0, -1)).toThrow(RangeError);
    expect(() => onesSum(b.subarray(2, 6), 0, 5)).toThrow(RangeError);
  });
});

describe('fast onesSum against the byte-pair reference', () => {
  test('every length 0..300 at every alignment and offset parity', () => {
    const rng = new Rng(1);
    const ab = new ArrayBuffer(400);
    rng.fill(new Uint8Array(ab));
    for (let byteOffset = 0; byteOffset < 4; byteOffset++) {
      const b = new Uint8Array(ab, byteOffset, 390);
      for (let off = 0; off < 4; off++) {
        for (let len = 0; len <= 300; len++) {
          const got = onesSum(b, off, len);
          const want = refOnesSum(b, off, len);
          if (got !== want) expect(got, `byteOffset ${byteOffset} off ${off} len ${len}`).toBe(want);
        }
      }
    }
    expect(WORD_PATH_MIN).toBeLessThan(300);
  });

  test('3000 random buffers, lengths 0..3000, random offsets, subarrays of larger buffers, random initial', () => {
    const rng = new Rng(0xc0ffee);
    for (let iter = 0; iter < 3000; iter++) {
      const len = rng.int(3001);
      const pre = rng.int(9);
      const off = rng.int(9);
      const ab = new ArrayBuffer(pre + off + len + rng.int(9));
      const all = new Uint8Array(ab);
      // Sometimes all 0xff to stress carries, sometimes random.
      if (rng.chance(0.1)) all.fill(0xff);
      else rng.fill(all);
      const b = new Uint8Array(ab, pre);
      const initial = rng.chance(0.5) ? 0 : rng.chance(0.5) ? rng.int(0x10000) : rng.u32() * 1024;
      const got = onesSum(b, off, len, initial);
      const want = refOnesSum(b, off, len, initial);
      if (got !== want) expect(got, `seed 0xc0ffee iter ${iter} pre ${pre} off ${off} len ${len}`).toBe(want);
      expect(internetChecksum(b, off, len, initial)).toBe(refChecksum(b, off, len, initial));
    }
  });

  test('a region larger than one fold chunk (5 MiB of 0xff and of random bytes)', () => {
    const n = 5 * 1024 * 1024 + 3;
    const b = new Uint8Array(n + 1).fill(0xff);
    expect(onesSum(b, 1, n)).toBe(refOnesSum(b, 1, n));
    new Rng(3).fill(b);
    expect(onesSum(b, 1, n)).toBe(refOnesSum(b, 1, n));
    expect(onesSum(b, 0, n + 1)).toBe(refOnesSum(b, 0, n + 1));
  });

  test('never reads outside [off, off+len)', () => {
    const rng = new Rng(11);
    for (let iter = 0; iter < 500; iter++) {
      const len = rng.int(600);
      const data = rng.fill(new Uint8Array(len));
      const want = refOnesSum(data, 0, len);
      for (const fill of [0x00, 0xff, 0x5a]) {
        const at = rng.int(16);
        const big = new Uint8Array(at + len + 16).fill(fill);
        big.set(data, at);
        expect(onesSum(big, at, len)).toBe(want);
      }
    }
  });
});

function makeChain(rng: Rng, data: Uint8Array): ByteChain {
  // Split at random points (zero-length and odd pieces included); every
  // piece lives in its own ArrayBuffer at a random offset.
  const pieces: ByteChain[] = [];
  let i = 0;
  while (i < data.length || pieces.length === 0) {
    const r = rng.int(10);
    const n = Math.min(data.length - i, r === 0 ? 0 : r < 4 ? rng.int(8) : rng.int(700));
    const pad = rng.int(7);
    const buf = new Uint8Array(new ArrayBuffer(pad + n + 5 + rng.int(4)), rng.int(3));
    rng.fill(buf);
    buf.set(data.subarray(i, i + n), pad);
    pieces.push({ buf, off: pad, len: n, next: null });
    i += n;
  }
  if (rng.chance(0.3)) pieces.push({ buf: new Uint8Array(4), off: 1, len: 0, next: null });
  for (let k = 0; k + 1 < pieces.length; k++) pieces[k]!.next = pieces[k + 1]!;
  return pieces[0]!;
}

describe('chains', () => {
  test('random splits with odd and zero-length pieces match the flat sum', () => {
    const rng = new Rng(42);
    for (let iter = 0; iter < 1500; iter++) {
      const total = rng.int(4000);
      const data = rng.fill(new Uint8Array(total));
      const chain = makeChain(rng, data);
      const offset = rng.int(total + 1);
      const len = rng.int(total - offset + 1);
      const initial = rng.chance(0.5) ? 0 : rng.int(0x10000);
      expect(chainOnesSum(chain), `iter ${iter} whole`).toBe(refOnesSum(data, 0, total));
      const got = chainOnesSum(chain, offset, len, initial);
      const want = refOnesSum(data, offset, len, initial);
      if (got !== want) expect(got, `seed 42 iter ${iter} total ${total} offset ${offset} len ${len}`).toBe(want);
      expect(chainOnesSum(chain, offset)).toBe(refOnesSum(data, offset, total - offset));
      expect(chainChecksum(chain, offset, len, initial)).toBe(refChecksum(data, offset, len, initial));
    }
  });

  test('every piece of length 1', () => {
    const data = new Rng(5).fill(new Uint8Array(301));
    let head: ByteChain | null = null;
    for (let i = data.length - 1; i >= 0; i--) head = { buf: data, off: i, len: 1, next: head };
    expect(chainOnesSum(head!)).toBe(refOnesSum(data, 0, data.length));
    expect(chainOnesSum(head!, 1, 299)).toBe(refOnesSum(data, 1, 299));
  });

  test('offset/len beyond the chain are RangeErrors; offset == total is empty', () => {
    const b = new Uint8Array(10);
    const c: ByteChain = { buf: b, off: 0, len: 4, next: { buf: b, off: 4, len: 3, next: null } };
    expect(chainOnesSum(c, 7)).toBe(0);
    expect(chainOnesSum(c, 7, 0)).toBe(0);
    expect(() => chainOnesSum(c, 8)).toThrow(RangeError);
    expect(() => chainOnesSum(c, 2, 6)).toThrow(RangeError);
  });
});

describe('pseudo-header', () => {
  test('ipv4PseudoHeaderSum equals the sum of the 12-byte pseudo-header', () => {
    const rng = new Rng(9);
    for (let i = 0; i < 500; i++) {
      const src = rng.u32();
      const dst = rng.u32();
      const proto = rng.int(256);
      const len = rng.int(0x10000);
      const ph = new Uint8Array(12);
      const dv = new DataView(ph.buffer);
      dv.setUint32(0, src);
      dv.setUint32(4, dst);
      ph[9] = proto;
      dv.setUint16(10, len);
      expect(ipv4PseudoHeaderSum(src, dst, proto, len)).toBe(refOnesSum(ph, 0, 12));
    }
  });
});

describe('incremental update (RFC 1624)', () => {
  test('16- and 32-bit rewrites agree with full recomputation', () => {
    const rng = new Rng(1624);
    for (let iter = 0; iter < 4000; iter++) {
      const words = 4 + rng.int(40);
      const b = rng.fill(new Uint8Array(words * 2));
      if (rng.chance(0.1)) b.fill(0);
      if (rng.chance(0.05)) b.fill(0xff);
      const ck = 2 * rng.int(words); // checksum field position
      b[ck] = 0;
      b[ck + 1] = 0;
      const c0 = internetChecksum(b, 0, b.length);
      b[ck] = c0 >>> 8;
      b[ck + 1] = c0;
      // Pick a field that does not overlap the checksum.
      const wide = rng.chance(0.5);
      let pos: number;
      do pos = 2 * rng.int(words - (wide ? 1 : 0));
      while (pos === ck || (wide && pos + 2 === ck));
      const dv = new DataView(b.buffer);
      let c1: number;
      if (wide) {
        const oldV = dv.getUint32(pos);
        const newV = rng.chance(0.1) ? (rng.chance(0.5) ? 0 : 0xffffffff) : rng.u32();
        dv.setUint32(pos, newV);
        c1 = checksumUpdate32(c0, oldV, newV);
      } else {
        const oldV = dv.getUint16(pos);
        const newV = rng.chance(0.1) ? (rng.chance(0.5) ? 0 : 0xffff) : rng.int(0x10000);
        dv.setUint16(pos, newV);
        c1 = checksumUpdate16(c0, oldV, newV);
      }
      b[ck] = 0;
      b[ck + 1] = 0;
      const full = internetChecksum(b, 0, b.length);
      // The one inexact case (RFC 1624 §3): if every covered word is now
      // zero a full recomputation gives 0xffff and eqn. 3 gives 0 (both
      // mean "zero"). Real headers never are all zero.
      if (b.every((x) => x === 0)) {
        expect([0, 0xffff]).toContain(c1);
        continue;
      }
      if (c1 !== full) expect(c1, `seed 1624 iter ${iter}`).toBe(full);
    }
  });

  test('NAT-style address rewrite in a real IPv4 header', () => {
    const b = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');
    const dv = new DataView(b.buffer);
    const oldSrc = dv.getUint32(12);
    const newSrc = 0x0a000001;
    dv.setUint32(12, newSrc);
    const upd = checksumUpdate32(0xb861, oldSrc, newSrc);
    dv.setUint16(10, upd);
    expect(onesSum(b, 0, 20)).toBe(0xffff);
  });
});

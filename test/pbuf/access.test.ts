// Reading and writing through chains: skip, getAt/putAt, copyPartial,
// take/takeAt, memcmp, memfind. Checked at the edges by name, then
// exhaustively against a flat array over small chains that include
// zero-length pieces in the middle and at the ends.
import { describe, expect, it } from 'vitest';
import { PbufPool } from '../../src/pbuf/pool.ts';
import { PbufLayer, PbufType, buildChain, checkInvariants, must, pattern, sha } from './helpers.ts';

const SHAPES: number[][] = [
  [1],
  [0],
  [4, 4],
  [7, 0, 5, 0, 0, 9, 1],
  [0, 3, 0],
  [1, 1, 1, 1, 1],
  [2, 0, 0, 0, 2],
];

function modelMemcmp(data: Uint8Array, offset: number, s2: Uint8Array, n: number): number {
  if (offset < 0 || n > s2.length || offset + n > data.length) return -1;
  for (let i = 0; i < n; i++) if (data[offset + i] !== s2[i]) return i + 1;
  return 0;
}

function modelFind(data: Uint8Array, needle: Uint8Array, start: number): number {
  const from = Math.max(0, start);
  if (needle.length === 0) return from <= data.length ? from : -1;
  outer: for (let i = from; i + needle.length <= data.length; i++) {
    for (let j = 0; j < needle.length; j++) if (data[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

describe('skip', () => {
  it('offset 0, a piece boundary, the last byte, totLen and beyond', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = buildChain(pool, [10, 0, 20, 30]);
    const [a, z, b, c] = [p, must(p.next), must(p.next?.next), must(p.next?.next?.next)];
    expect(p.skip(0)).toEqual({ pbuf: a, offset: 0 });
    expect(p.skip(9)).toEqual({ pbuf: a, offset: 9 });
    // Exactly at the boundary: the next non-empty piece at offset 0 (the
    // zero-length piece cannot hold a byte, as in lwIP's pbuf_skip).
    expect(p.skip(10)).toEqual({ pbuf: b, offset: 0 });
    expect(p.skip(30)).toEqual({ pbuf: c, offset: 0 });
    expect(p.skip(59)).toEqual({ pbuf: c, offset: 29 });
    expect(p.skip(60)).toBeNull();
    expect(p.skip(61)).toBeNull();
    expect(p.skip(-1)).toBeNull();
    expect(z.len).toBe(0);
    p.free();
    pool.assertEmpty();
  });
});

describe('getAt / putAt', () => {
  it('edges of a chain', () => {
    const pool = new PbufPool({ trackLive: true });
    const data = pattern(60);
    const p = buildChain(pool, [10, 0, 20, 30], data);
    expect(p.getAt(0)).toBe(data[0]);
    expect(p.getAt(10)).toBe(data[10]);
    expect(p.getAt(59)).toBe(data[59]);
    expect(p.getAt(60)).toBe(-1);
    expect(p.getAt(-1)).toBe(-1);
    expect(p.putAt(10, 0x5a)).toBe(true);
    expect(p.getAt(10)).toBe(0x5a);
    expect(p.putAt(59, 0xff)).toBe(true);
    expect(p.putAt(60, 1)).toBe(false);
    expect(p.putAt(-1, 1)).toBe(false);
    expect(p.putAt(0, 0x1ff)).toBe(true); // stored as a byte
    expect(p.getAt(0)).toBe(0xff);
    p.free();
    pool.assertEmpty();
  });
});

describe('copyPartial', () => {
  it('spanning pieces, from a boundary, into a short dst, at dstOff', () => {
    const pool = new PbufPool({ trackLive: true });
    const data = pattern(60);
    const p = buildChain(pool, [10, 0, 20, 30], data);
    const dst = new Uint8Array(60);
    expect(p.copyPartial(dst, 60, 0)).toBe(60);
    expect(sha(dst)).toBe(sha(data));
    const d2 = new Uint8Array(25);
    expect(p.copyPartial(d2, 25, 10)).toBe(25);
    expect(Array.from(d2)).toEqual(Array.from(data.subarray(10, 35)));
    // dst shorter than requested: copies what fits
    const d3 = new Uint8Array(5);
    expect(p.copyPartial(d3, 50, 8)).toBe(5);
    expect(Array.from(d3)).toEqual(Array.from(data.subarray(8, 13)));
    // past the end: only what exists
    const d4 = new Uint8Array(100);
    expect(p.copyPartial(d4, 100, 55)).toBe(5);
    expect(p.copyPartial(d4, 1, 59)).toBe(1);
    expect(d4[0]).toBe(data[59]);
    expect(p.copyPartial(d4, 10, 60)).toBe(0);
    expect(p.copyPartial(d4, 0, 0)).toBe(0);
    expect(p.copyPartial(d4, 10, -1)).toBe(0);
    // dstOff
    const d5 = new Uint8Array(12).fill(0xee);
    expect(p.copyPartial(d5, 4, 9, 8)).toBe(4);
    expect(Array.from(d5.subarray(0, 8))).toEqual(new Array<number>(8).fill(0xee));
    expect(Array.from(d5.subarray(8))).toEqual(Array.from(data.subarray(9, 13)));
    expect(p.copyPartial(d5, 4, 0, 12)).toBe(0);
    expect(p.copyPartial(d5, 4, 0, 13)).toBe(0);
    p.free();
    pool.assertEmpty();
  });
});

describe('take / takeAt', () => {
  it('write across pieces; refuse what does not fit without writing', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = buildChain(pool, [10, 0, 20, 30], new Uint8Array(60));
    const src = pattern(60, 99);
    expect(p.take(src.subarray(0, 61 - 1))).toBe(true);
    expect(sha(p.toBytes())).toBe(sha(src));
    const zero = new Uint8Array(60);
    expect(p.take(new Uint8Array(61))).toBe(false);
    expect(p.takeAt(zero, 2, 59)).toBe(false);
    expect(p.takeAt(zero, 1, -1)).toBe(false);
    expect(p.takeAt(zero, -1, 0)).toBe(false);
    expect(p.takeAt(zero.subarray(0, 3), 4, 0)).toBe(false); // len > src.length
    expect(sha(p.toBytes())).toBe(sha(src)); // nothing written by refusals
    expect(p.takeAt(zero, 1, 59)).toBe(true);
    expect(p.getAt(59)).toBe(0);
    expect(p.takeAt(zero, 12, 5)).toBe(true); // spans the 10|0|20 boundary
    expect(Array.from(p.toBytes().subarray(4, 18))).toEqual([src[4], ...new Array<number>(12).fill(0), src[17]]);
    expect(p.takeAt(zero, 0, 60)).toBe(true); // zero bytes at the end
    expect(p.take(pattern(3, 1), 2)).toBe(true); // explicit len shorter than src
    expect(p.getAt(2)).toBe(src[2]);
    p.free();
    pool.assertEmpty();
  });
});

describe('memcmp / memfind', () => {
  it('named edges', () => {
    const pool = new PbufPool({ trackLive: true });
    const text = new TextEncoder().encode('GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n');
    const p = buildChain(pool, [3, 0, 5, 7, 0, 22], text, 'mixed');
    expect(p.memcmp(0, text, text.length)).toBe(0);
    expect(p.memcmp(4, new TextEncoder().encode('/index'), 6)).toBe(0);
    expect(p.memcmp(4, new TextEncoder().encode('/inDex'), 6)).toBe(4);
    expect(p.memcmp(30, text, 10)).toBe(-1);
    expect(p.memcmp(text.length, text, 0)).toBe(0);
    expect(p.memcmp(text.length + 1, text, 0)).toBe(-1);
    expect(p.memcmp(-1, text, 1)).toBe(-1);
    expect(p.memcmp(0, text.subarray(0, 2), 3)).toBe(-1);
    const crlf2 = new TextEncoder().encode('\r\n\r\n');
    expect(p.memfind(crlf2)).toBe(text.length - 4);
    expect(p.memfind(new TextEncoder().encode('\r\n'))).toBe(24);
    expect(p.memfind(new TextEncoder().encode('\r\n'), 25)).toBe(33);
    expect(p.memfind(new TextEncoder().encode('nope'))).toBe(-1);
    expect(p.memfind(text)).toBe(0);
    expect(p.memfind(new Uint8Array([...text, 0]))).toBe(-1);
    expect(p.memfind(new Uint8Array(0), 5)).toBe(5);
    expect(p.memfind(new Uint8Array(0), text.length)).toBe(text.length);
    expect(p.memfind(new Uint8Array(0), text.length + 1)).toBe(-1);
    // A negative start means "from the beginning", with or without a needle.
    expect(p.memfind(new TextEncoder().encode('GET'), -3)).toBe(0);
    expect(p.memfind(new Uint8Array(0), -3)).toBe(0);
    p.free();
    pool.assertEmpty();
  });

  it('finds a needle beyond 64 KiB (no 0xffff ambiguity)', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.RAW, 70_000, PbufType.POOL));
    p.take(new Uint8Array(70_000));
    const needle = new Uint8Array([1, 2, 3]);
    expect(p.takeAt(needle, 3, 65_535)).toBe(true);
    expect(p.memfind(needle, 65_000)).toBe(65_535);
    expect(p.memcmp(65_535, needle, 3)).toBe(0);
    p.free();
    pool.assertEmpty();
  });
});

describe.each(SHAPES.map((s) => [s.join(','), s] as const))('exhaustive against a flat model: [%s]', (_name, sizes) => {
  it('every offset and length', () => {
    const pool = new PbufPool({ trackLive: true });
    const total = sizes.reduce((a, b) => a + b, 0);
    const data = pattern(total, 11);
    const p = buildChain(pool, sizes, data, 'mixed');
    expect(p.totLen).toBe(total);
    for (let off = -1; off <= total + 1; off++) {
      // getAt / skip
      expect(p.getAt(off), `getAt ${off}`).toBe(off >= 0 && off < total ? data[off] : -1);
      const cur = p.skip(off);
      if (off < 0 || off >= total) expect(cur).toBeNull();
      else {
        const c = must(cur);
        expect(c.pbuf.buf[c.pbuf.off + c.offset]).toBe(data[off]);
        expect(c.offset).toBeLessThan(c.pbuf.len);
      }
      for (let len = 0; len <= total + 1; len++) {
        // copyPartial
        const dst = new Uint8Array(len);
        const n = p.copyPartial(dst, len, off);
        const want = off < 0 ? 0 : Math.max(0, Math.min(len, total - off));
        expect(n, `copyPartial ${off}+${len}`).toBe(want);
        if (want > 0) expect(Array.from(dst.subarray(0, n))).toEqual(Array.from(data.subarray(off, off + n)));
        // memcmp: equal slice, then a changed byte at each position
        const slice = off >= 0 ? data.slice(off, off + len) : new Uint8Array(len);
        const s2 = slice.length === len ? slice : new Uint8Array(len);
        expect(p.memcmp(off, s2, len), `memcmp ${off}+${len}`).toBe(modelMemcmp(data, off, s2, len));
        if (len > 0 && off >= 0 && off + len <= total) {
          const bad = s2.slice();
          bad[len - 1] = bad[len - 1]! ^ 0x80;
          expect(p.memcmp(off, bad, len)).toBe(len);
        }
        // memfind of the slice from every start
        expect(p.memfind(s2, off), `memfind ${off}+${len}`).toBe(modelFind(data, s2, off));
      }
    }
    // takeAt: every in-range window, then verify through the flat copy
    const model = data.slice();
    let salt = 0;
    for (let off = 0; off <= total; off++) {
      for (let len = 0; off + len <= total; len++) {
        const src = pattern(len, ++salt);
        expect(p.takeAt(src, len, off)).toBe(true);
        model.set(src, off);
        expect(sha(p.toBytes())).toBe(sha(model));
      }
      expect(p.takeAt(new Uint8Array(total + 1), total - off + 1, off)).toBe(false);
    }
    // putAt on every byte
    for (let off = 0; off < total; off++) {
      expect(p.putAt(off, 255 - (off & 0xff))).toBe(true);
      model[off] = 255 - (off & 0xff);
    }
    expect(Array.from(p.toBytes())).toEqual(Array.from(model));
    checkInvariants(p);
    p.free();
    pool.assertEmpty();
  });
});

// realloc (lwIP pbuf_realloc): shrinking only, trailing pieces freed.
import { describe, expect, it } from 'vitest';
import { PbufPool } from '../../src/pbuf/pool.ts';
import { PbufLayer, PbufType, buildChain, checkInvariants, must, pattern, pieces } from './helpers.ts';

function setup(sizes = [10, 20, 30]) {
  const pool = new PbufPool({ trackLive: true });
  const data = pattern(sizes.reduce((a, b) => a + b, 0));
  const p = buildChain(pool, sizes, data);
  return { pool, data, p };
}

describe('realloc', () => {
  it('shrinks within the first piece and frees the rest', () => {
    const { pool, data, p } = setup();
    expect(p.realloc(4)).toBe(true);
    expect([p.len, p.totLen, p.next]).toEqual([4, 4, null]);
    expect(Array.from(p.toBytes())).toEqual(Array.from(data.subarray(0, 4)));
    expect(pool.stats.pbufsInUse).toBe(1);
    expect(pool.stats.frees).toBe(2);
    p.free();
    pool.assertEmpty();
  });

  it('shrinks exactly at a piece boundary: the boundary piece keeps its len', () => {
    const { pool, data, p } = setup();
    expect(p.realloc(30)).toBe(true);
    expect(p.clen()).toBe(2);
    expect(pieces(p).map((q) => [q.len, q.totLen])).toEqual([
      [10, 30],
      [20, 20],
    ]);
    checkInvariants(p);
    expect(Array.from(p.toBytes())).toEqual(Array.from(data.subarray(0, 30)));
    expect(pool.stats.pbufsInUse).toBe(2);
    p.free();
    pool.assertEmpty();
  });

  it('shrinks into a later piece, freeing trailing pieces (pool stats)', () => {
    const { pool, data, p } = setup([10, 20, 30, 40]);
    const before = { ...pool.stats };
    expect(p.realloc(45)).toBe(true);
    expect(pieces(p).map((q) => [q.len, q.totLen])).toEqual([
      [10, 45],
      [20, 35],
      [15, 15],
    ]);
    checkInvariants(p);
    expect(Array.from(p.toBytes())).toEqual(Array.from(data.subarray(0, 45)));
    expect(pool.stats.pbufsInUse).toBe(before.pbufsInUse - 1);
    expect(pool.stats.frees).toBe(before.frees + 1);
    expect(pool.stats.bytesInUse).toBe(before.bytesInUse - 64); // a 40-byte RAW block is 64 bytes
    p.free();
    pool.assertEmpty();
  });

  it('shrinks a POOL chain: poolPbufsInUse follows', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.RAW, 8000, PbufType.POOL));
    expect(pool.stats.poolPbufsInUse).toBe(5);
    expect(p.realloc(1601)).toBe(true);
    expect(p.clen()).toBe(2);
    expect(pool.stats.poolPbufsInUse).toBe(2);
    checkInvariants(p);
    p.free();
    pool.assertEmpty();
  });

  it('to 0 keeps one empty piece', () => {
    const { pool, p } = setup();
    expect(p.realloc(0)).toBe(true);
    expect([p.len, p.totLen, p.next]).toEqual([0, 0, null]);
    expect(pool.stats.pbufsInUse).toBe(1);
    expect(p.free()).toBe(1);
    pool.assertEmpty();
  });

  it('to the same length changes nothing', () => {
    const { pool, data, p } = setup();
    expect(p.realloc(60)).toBe(true);
    expect(p.clen()).toBe(3);
    expect(Array.from(p.toBytes())).toEqual(Array.from(data));
    expect(pool.stats.frees).toBe(0);
    p.free();
    pool.assertEmpty();
  });

  it('growing, negative and non-integer lengths return false and change nothing', () => {
    const { pool, p } = setup();
    for (const n of [61, 1000, -1, 2.5, Number.NaN]) expect(p.realloc(n), String(n)).toBe(false);
    expect(p.totLen).toBe(60);
    expect(p.clen()).toBe(3);
    checkInvariants(p);
    p.free();
    pool.assertEmpty();
  });

  it('with zero-length pieces in the middle', () => {
    const { pool, data, p } = setup([5, 0, 0, 5, 0, 5]);
    expect(p.realloc(5)).toBe(true); // boundary before the empty pieces: they go
    expect(p.clen()).toBe(1);
    expect(Array.from(p.toBytes())).toEqual(Array.from(data.subarray(0, 5)));
    p.free();
    pool.assertEmpty();
    const s = setup([5, 0, 0, 5, 0, 5]);
    expect(s.p.realloc(7)).toBe(true);
    expect(pieces(s.p).map((q) => q.len)).toEqual([5, 0, 0, 2]);
    checkInvariants(s.p);
    s.p.free();
    s.pool.assertEmpty();
  });

  it('a trailing piece with another holder survives realloc', () => {
    const pool = new PbufPool({ trackLive: true });
    const a = buildChain(pool, [10]);
    const b = buildChain(pool, [10]);
    a.chain(b);
    expect(a.realloc(10)).toBe(true);
    expect(b.ref).toBe(1);
    expect(b.len).toBe(10);
    expect(pool.stats.pbufsInUse).toBe(2);
    a.free();
    b.free();
    pool.assertEmpty();
  });
});

// Reference counting and chain surgery: free walks, addRef, double free,
// cat / chain / dechain.
import { describe, expect, it } from 'vitest';
import { PbufError } from '../../src/pbuf/pbuf.ts';
import { PbufPool } from '../../src/pbuf/pool.ts';
import { PbufLayer, PbufType, buildChain, checkInvariants, must, pattern, pieces, sha } from './helpers.ts';

describe('free and addRef', () => {
  it('free returns the number of pieces released', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = buildChain(pool, [5, 6, 7, 8]);
    expect(p.free()).toBe(4);
    expect(pool.stats.frees).toBe(4);
    pool.assertEmpty();
  });

  it('a second reference keeps the whole chain alive', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = buildChain(pool, [5, 6, 7]);
    p.addRef();
    expect(p.ref).toBe(2);
    expect(p.free()).toBe(0);
    expect(p.ref).toBe(1);
    expect(pool.stats.pbufsInUse).toBe(3);
    expect(p.totLen).toBe(18);
    expect(p.free()).toBe(3);
    pool.assertEmpty();
  });

  it('the walk stops at a middle piece still referenced (chain takes a ref)', () => {
    const pool = new PbufPool({ trackLive: true });
    const a = must(pool.fromBytes(pattern(10, 1)));
    const b = must(pool.fromBytes(pattern(20, 2)));
    const c = must(pool.fromBytes(pattern(30, 3)));
    b.cat(c); // b's chain owns c
    a.chain(b); // a's chain takes a new reference to b; we keep ours
    expect(b.ref).toBe(2);
    expect(c.ref).toBe(1);
    expect(a.totLen).toBe(60);
    checkInvariants(a);
    expect(a.free()).toBe(1); // only a; b drops to 1 and the walk stops
    expect(a.len).toBe(0);
    expect(a.next).toBeNull();
    expect(b.ref).toBe(1);
    expect(c.ref).toBe(1);
    expect(b.totLen).toBe(50);
    expect(pool.stats.pbufsInUse).toBe(2);
    expect(b.free()).toBe(2);
    pool.assertEmpty();
  });

  it('double free throws PbufError; the freed pbuf has len 0', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.TRANSPORT, 100));
    expect(p.free()).toBe(1);
    expect(p.len).toBe(0);
    expect(p.totLen).toBe(0);
    expect(p.ref).toBe(0);
    expect(p.next).toBeNull();
    expect(() => p.free()).toThrow(PbufError);
    expect(() => p.addRef()).toThrow(PbufError);
    expect(pool.stats.frees).toBe(1);
    pool.assertEmpty();
  });

  it('a freed POOL chain drops every piece and its links', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.RAW, 5000, PbufType.POOL));
    const ps = pieces(p);
    expect(p.free()).toBe(ps.length);
    for (const q of ps) {
      expect(q.len).toBe(0);
      expect(q.next).toBeNull();
      expect(q.ref).toBe(0);
    }
    pool.assertEmpty();
  });

  it('assertEmpty describes what leaked', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.RAW, 33));
    expect(() => pool.assertEmpty()).toThrow(/1 pbufs.*len=33/);
    p.free();
    pool.assertEmpty();
  });
});

describe('cat / chain / dechain', () => {
  it('cat propagates totLen across 3+ pieces', () => {
    const pool = new PbufPool({ trackLive: true });
    const a = buildChain(pool, [3, 4]);
    const b = buildChain(pool, [5, 6, 7]);
    const bytes = new Uint8Array([...a.toBytes(), ...b.toBytes()]);
    a.cat(b);
    expect(a.clen()).toBe(5);
    expect(pieces(a).map((q) => q.totLen)).toEqual([25, 22, 18, 13, 7]);
    checkInvariants(a);
    expect(sha(a.toBytes())).toBe(sha(bytes));
    expect(b.ref).toBe(1); // cat takes over the caller's reference
    expect(a.free()).toBe(5);
    pool.assertEmpty();
  });

  it('cat of a pbuf onto itself throws', () => {
    const pool = new PbufPool({ trackLive: true });
    const a = must(pool.alloc(PbufLayer.RAW, 1));
    expect(() => a.cat(a)).toThrow(PbufError);
    expect(a.next).toBeNull();
    a.free();
    pool.assertEmpty();
  });

  it('chain takes an extra reference; both holders free', () => {
    const pool = new PbufPool({ trackLive: true });
    const a = buildChain(pool, [10, 10]);
    const b = buildChain(pool, [10]);
    a.chain(b);
    expect(b.ref).toBe(2);
    expect(a.totLen).toBe(30);
    checkInvariants(a);
    expect(b.free()).toBe(0);
    expect(a.free()).toBe(3);
    pool.assertEmpty();
  });

  it('dechain returns the tail with its totLen and passes the reference', () => {
    const pool = new PbufPool({ trackLive: true });
    const data = pattern(60);
    const a = buildChain(pool, [10, 20, 30], data);
    const tail = must(a.dechain());
    expect(a.next).toBeNull();
    expect(a.totLen).toBe(10);
    expect(tail.totLen).toBe(50);
    expect(tail.ref).toBe(1);
    expect(tail.clen()).toBe(2);
    checkInvariants(a);
    checkInvariants(tail);
    expect(Array.from(tail.toBytes())).toEqual(Array.from(data.subarray(10)));
    expect(a.dechain()).toBeNull();
    expect(a.free()).toBe(1);
    expect(tail.free()).toBe(2);
    pool.assertEmpty();
  });

  it('dechain after removeHeader on the head keeps the tail length right', () => {
    const pool = new PbufPool({ trackLive: true });
    const a = buildChain(pool, [10, 20]);
    a.removeHeader(4);
    const tail = must(a.dechain());
    expect(tail.totLen).toBe(20);
    expect(a.totLen).toBe(6);
    a.free();
    tail.free();
    pool.assertEmpty();
  });

  it('dechain of a chained (ref 2) tail hands over the chain reference', () => {
    const pool = new PbufPool({ trackLive: true });
    const a = buildChain(pool, [4]);
    const b = buildChain(pool, [4]);
    a.chain(b);
    const t = must(a.dechain());
    expect(t).toBe(b);
    expect(b.ref).toBe(2);
    expect(t.free()).toBe(0);
    expect(b.free()).toBe(1);
    a.free();
    pool.assertEmpty();
  });
});

// coalesce / clone / copy, and every ERR_MEM path: limits make alloc return
// null (counted), never throw, and never leak what was half built.
import { describe, expect, it } from 'vitest';
import { PbufPool } from '../../src/pbuf/pool.ts';
import { PbufFlag } from '../../src/pbuf/pbuf.ts';
import { PbufLayer, PbufType, buildChain, checkInvariants, must, pattern, sha } from './helpers.ts';

describe('clone', () => {
  it('a contiguous RAM copy with the same bytes, flags and ifIdx; the source is untouched', () => {
    const pool = new PbufPool({ trackLive: true });
    const data = pattern(3000, 5);
    const p = buildChain(pool, [1000, 0, 1500, 500], data, 'mixed');
    p.flags = PbufFlag.PUSH;
    p.ifIdx = 3;
    const q = must(pool.clone(p, PbufLayer.IP));
    expect(q.type).toBe(PbufType.RAM);
    expect(q.next).toBeNull();
    expect([q.len, q.totLen]).toEqual([3000, 3000]);
    expect(q.headerRoom()).toBe(pool.headerRoom(PbufLayer.IP));
    expect(sha(q.toBytes())).toBe(sha(data));
    expect([q.flags, q.ifIdx]).toEqual([PbufFlag.PUSH, 3]);
    // Independent memory: writing the clone leaves the source alone.
    q.putAt(0, data[0]! ^ 1);
    expect(p.getAt(0)).toBe(data[0]);
    expect(p.ref).toBe(1);
    q.free();
    p.free();
    pool.assertEmpty();
  });

  it('of an empty pbuf', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.RAW, 0));
    const q = must(pool.clone(p));
    expect(q.totLen).toBe(0);
    p.free();
    q.free();
    pool.assertEmpty();
  });
});

describe('coalesce', () => {
  it('of a single piece returns the same object and frees nothing', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.RAW, 100));
    expect(pool.coalesce(p)).toBe(p);
    expect(p.ref).toBe(1);
    expect(pool.stats.frees).toBe(0);
    p.free();
    pool.assertEmpty();
  });

  it('of a chain frees the original and returns one piece with identical bytes', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.TRANSPORT, 10_000, PbufType.POOL));
    const data = pattern(10_000, 42);
    p.take(data);
    const n = p.clen();
    const q = must(pool.coalesce(p, PbufLayer.LINK));
    expect(q).not.toBe(p);
    expect(p.ref).toBe(0); // original freed
    expect(pool.stats.frees).toBe(n);
    expect(pool.stats.poolPbufsInUse).toBe(0);
    expect(pool.stats.pbufsInUse).toBe(1);
    expect(q.next).toBeNull();
    expect(q.off).toBe(pool.headerRoom(PbufLayer.LINK));
    expect(sha(q.toBytes())).toBe(sha(data));
    q.free();
    pool.assertEmpty();
  });

  it('on ERR_MEM returns null and leaves the original intact', () => {
    // Two 1000-byte RAW pieces use 2 x 1024 block bytes; the 2000-byte copy
    // needs a 2048 block, which does not fit under 4000.
    const pool = new PbufPool({ trackLive: true, maxBytes: 4000 });
    const data = pattern(2000);
    const p = buildChain(pool, [1000, 1000], data);
    const stats = { ...pool.stats };
    expect(pool.coalesce(p)).toBeNull();
    expect(pool.stats.allocFailures).toBe(stats.allocFailures + 1);
    expect(p.ref).toBe(1);
    expect(p.clen()).toBe(2);
    checkInvariants(p);
    expect(sha(p.toBytes())).toBe(sha(data));
    expect(pool.stats.pbufsInUse).toBe(2);
    expect(pool.clone(p)).toBeNull();
    expect(p.free()).toBe(2);
    pool.assertEmpty();
  });
});

describe('copy', () => {
  it('copies a chain into a differently split chain', () => {
    const pool = new PbufPool({ trackLive: true });
    const data = pattern(5000, 8);
    const src = buildChain(pool, [100, 0, 2000, 2900], data, 'mixed');
    const dst = must(pool.alloc(PbufLayer.RAW, 5000, PbufType.POOL));
    expect(pool.copy(dst, src)).toBe(true);
    expect(sha(dst.toBytes())).toBe(sha(data));
    src.free();
    dst.free();
    pool.assertEmpty();
  });

  it('into a longer dst writes only the front; a shorter dst fails untouched', () => {
    const pool = new PbufPool({ trackLive: true });
    const src = buildChain(pool, [3, 4], pattern(7, 1));
    const long = buildChain(pool, [5, 5], new Uint8Array(10));
    expect(pool.copy(long, src)).toBe(true);
    expect(Array.from(long.toBytes())).toEqual([...pattern(7, 1), 0, 0, 0]);
    const short = buildChain(pool, [6], new Uint8Array(6));
    expect(pool.copy(short, src)).toBe(false);
    expect(Array.from(short.toBytes())).toEqual([0, 0, 0, 0, 0, 0]);
    src.free();
    long.free();
    short.free();
    pool.assertEmpty();
  });
});

describe('limits (ERR_MEM)', () => {
  it('maxBytes: alloc returns null and counts a failure', () => {
    // No input reserve: DATA allocations may use all of maxBytes (reserve.test.ts covers it).
    const pool = new PbufPool({ trackLive: true, maxBytes: 4096, rxReserveBytes: 0 });
    const a = must(pool.alloc(PbufLayer.TRANSPORT, 1500)); // 1636 -> 2048 block
    const b = must(pool.alloc(PbufLayer.TRANSPORT, 1500));
    expect(pool.stats.bytesInUse).toBe(4096);
    expect(pool.alloc(PbufLayer.RAW, 0)).toBeNull();
    expect(pool.stats.allocFailures).toBe(1);
    expect(pool.stats.pbufsInUse).toBe(2);
    // ROM/REF take no block bytes: still allowed.
    const w = must(pool.wrap(new Uint8Array(10)));
    a.free();
    const c = must(pool.alloc(PbufLayer.TRANSPORT, 1500));
    b.free();
    c.free();
    w.free();
    pool.assertEmpty();
  });

  it('maxPbufs counts every type, wraps included', () => {
    const pool = new PbufPool({ trackLive: true, maxPbufs: 2 });
    const a = must(pool.wrap(new Uint8Array(1)));
    const b = must(pool.alloc(PbufLayer.RAW, 1));
    expect(pool.wrap(new Uint8Array(1))).toBeNull();
    expect(pool.alloc(PbufLayer.RAW, 1)).toBeNull();
    expect(pool.alloc(PbufLayer.RAW, 1, PbufType.POOL)).toBeNull();
    expect(pool.fromBytes(new Uint8Array(1))).toBeNull();
    expect(pool.stats.allocFailures).toBe(4);
    expect(pool.stats.allocs).toBe(2);
    a.free();
    b.free();
    pool.assertEmpty();
  });

  it('maxPoolPbufs limits POOL pieces only', () => {
    const pool = new PbufPool({ trackLive: true, maxPoolPbufs: 3 });
    const p = must(pool.alloc(PbufLayer.RAW, 4800, PbufType.POOL)); // exactly 3 units
    expect(p.clen()).toBe(3);
    expect(pool.alloc(PbufLayer.RAW, 1, PbufType.POOL)).toBeNull();
    const r = must(pool.alloc(PbufLayer.RAW, 1, PbufType.RAM));
    expect(pool.stats.allocFailures).toBe(1);
    p.free();
    r.free();
    pool.assertEmpty();
  });

  it('a POOL chain that fails midway releases the pieces it had', () => {
    const pool = new PbufPool({ trackLive: true, maxPoolPbufs: 3 });
    const keep = must(pool.alloc(PbufLayer.RAW, 10, PbufType.POOL));
    expect(pool.alloc(PbufLayer.TRANSPORT, 5000, PbufType.POOL)).toBeNull(); // needs 4
    expect(pool.stats.allocFailures).toBe(1);
    expect(pool.stats.allocs).toBe(1 + 2); // keep + the two pieces that did fit
    expect(pool.stats.frees).toBe(2);
    expect(pool.stats.poolPbufsInUse).toBe(1);
    expect(pool.stats.poolPbufsHighWater).toBe(3);
    keep.free();
    pool.assertEmpty();
  });

  it('a POOL chain failing midway on maxBytes also cleans up', () => {
    const pool = new PbufPool({ trackLive: true, maxBytes: 3 * 2048, rxReserveBytes: 0 });
    expect(pool.alloc(PbufLayer.RAW, 100_000, PbufType.POOL)).toBeNull();
    expect(pool.stats.allocs).toBe(3);
    expect(pool.stats.frees).toBe(3);
    expect(pool.stats.bytesHighWater).toBe(3 * 2048);
    pool.assertEmpty();
  });
});

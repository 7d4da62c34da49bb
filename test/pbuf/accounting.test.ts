// Exact pool accounting after sequences of operations, and backing-memory
// reuse: steady-state traffic must not create an ArrayBuffer per packet.
import { describe, expect, it } from 'vitest';
import { PbufPool, type PbufPoolStats } from '../../src/pbuf/pool.ts';
import { PbufLayer, PbufType, must } from './helpers.ts';

function pick(s: PbufPoolStats) {
  return { ...s };
}

describe('pool stats', () => {
  it('are exact through a sequence of allocs, refs and frees', () => {
    const pool = new PbufPool({ trackLive: true });
    const zero = pick(pool.stats);
    expect(zero).toEqual({
      pbufsInUse: 0,
      poolPbufsInUse: 0,
      bytesInUse: 0,
      pbufsHighWater: 0,
      poolPbufsHighWater: 0,
      bytesHighWater: 0,
      allocs: 0,
      frees: 0,
      allocFailures: 0,
      reserveAllocs: 0,
      rxAllocFailures: 0,
      controlAllocFailures: 0,
    });
    const ram = must(pool.alloc(PbufLayer.TRANSPORT, 1500)); // 1636 -> 2048
    expect(pick(pool.stats)).toMatchObject({ pbufsInUse: 1, poolPbufsInUse: 0, bytesInUse: 2048, allocs: 1 });
    // POOL 1500 at TRANSPORT: 1464 in a 1600 block (2048 class) + 36 (64 class)
    const chain = must(pool.alloc(PbufLayer.TRANSPORT, 1500, PbufType.POOL));
    expect(chain.clen()).toBe(2);
    expect(pick(pool.stats)).toMatchObject({ pbufsInUse: 3, poolPbufsInUse: 2, bytesInUse: 2048 + 2048 + 64, allocs: 3 });
    const rom = must(pool.wrap(new Uint8Array(9000)));
    expect(pick(pool.stats)).toMatchObject({ pbufsInUse: 4, bytesInUse: 4160, allocs: 4 });
    ram.addRef();
    expect(ram.free()).toBe(0);
    expect(pool.stats.frees).toBe(0);
    chain.cat(rom); // chain now owns rom
    expect(chain.free()).toBe(3);
    expect(pick(pool.stats)).toEqual({
      pbufsInUse: 1,
      poolPbufsInUse: 0,
      bytesInUse: 2048,
      pbufsHighWater: 4,
      poolPbufsHighWater: 2,
      bytesHighWater: 4160,
      allocs: 4,
      frees: 3,
      allocFailures: 0,
      reserveAllocs: 0,
      rxAllocFailures: 0,
      controlAllocFailures: 0,
    });
    expect(ram.free()).toBe(1);
    expect(pool.isEmpty()).toBe(true);
    // High-water marks stay after everything is freed; a new, smaller peak does not move them.
    const small = must(pool.alloc(PbufLayer.RAW, 10));
    expect(pool.stats.bytesHighWater).toBe(4160);
    expect(pool.stats.pbufsHighWater).toBe(4);
    small.free();
    expect(pool.stats.allocs).toBe(pool.stats.frees);
    pool.assertEmpty();
  });

  it('block bytes follow the size classes (64-byte minimum, powers of two, exact beyond 128 KiB)', () => {
    const pool = new PbufPool({ trackLive: true });
    const cases: [number, number][] = [
      [0, 64],
      [64, 64],
      [65, 128],
      [1024, 1024],
      [1025, 2048],
      [65_536, 65_536],
      [131_072, 131_072],
      [131_073, 131_073],
    ];
    for (const [n, block] of cases) {
      const p = must(pool.alloc(PbufLayer.RAW, n));
      expect(pool.stats.bytesInUse, `${n}`).toBe(block);
      expect(p.buf.byteLength).toBe(block);
      p.free();
      expect(pool.stats.bytesInUse).toBe(0);
    }
    pool.assertEmpty();
  });

  it('a realloc that drops pieces returns their bytes and counts', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.RAW, 6400, PbufType.POOL)); // 4 x 1600 -> 4 x 2048
    expect(pool.stats.bytesInUse).toBe(4 * 2048);
    p.realloc(100);
    expect(pick(pool.stats)).toMatchObject({ pbufsInUse: 1, poolPbufsInUse: 1, bytesInUse: 2048, frees: 3, poolPbufsHighWater: 4 });
    p.free();
    pool.assertEmpty();
  });
});

describe('backing memory reuse', () => {
  it.each([
    ['RAM', PbufType.RAM],
    ['POOL', PbufType.POOL],
  ] as const)('10,000 alloc/free of 1500-byte %s pbufs create no new ArrayBuffers', (_n, type) => {
    const pool = new PbufPool({ trackLive: true });
    // Warm up: the first allocation carves slabs.
    must(pool.alloc(PbufLayer.TRANSPORT, 1500, type)).free();
    const created = pool.memory.stats.buffersCreated;
    const reserved = pool.memory.stats.reservedBytes;
    for (let i = 0; i < 10_000; i++) {
      const p = must(pool.alloc(PbufLayer.TRANSPORT, 1500, type));
      p.free();
    }
    expect(pool.memory.stats.buffersCreated).toBe(created);
    expect(pool.memory.stats.reservedBytes).toBe(reserved);
    expect(pool.stats.allocs).toBe(pool.stats.frees);
    pool.assertEmpty();
  });

  it('a window of 64 packets in flight reaches a steady state too', () => {
    const pool = new PbufPool({ trackLive: true });
    const ring: ReturnType<PbufPool['alloc']>[] = [];
    const step = (i: number) => {
      ring.push(must(pool.alloc(PbufLayer.TRANSPORT, 1500, i % 2 === 0 ? PbufType.RAM : PbufType.POOL)));
      if (ring.length > 64) must(ring.shift()).free();
    };
    for (let i = 0; i < 200; i++) step(i);
    const created = pool.memory.stats.buffersCreated;
    for (let i = 200; i < 10_200; i++) step(i);
    expect(pool.memory.stats.buffersCreated).toBe(created);
    for (const p of ring) must(p).free();
    pool.assertEmpty();
  });

  it('freed blocks are reused, not zeroed (like malloc)', () => {
    const pool = new PbufPool({ trackLive: true });
    const a = must(pool.alloc(PbufLayer.RAW, 100));
    const buf = a.buf;
    a.buf.fill(0xaa, a.off, a.off + a.len);
    a.free();
    const b = must(pool.alloc(PbufLayer.RAW, 100));
    expect(b.buf).toBe(buf); // LIFO free list: the same block comes back
    expect(b.getAt(0)).toBe(0xaa);
    b.free();
    pool.assertEmpty();
  });
});

describe('pool configuration', () => {
  it('refuses a POOL piece size that cannot hold the header room', () => {
    expect(() => new PbufPool({ poolBufSize: 136 })).toThrow(RangeError);
    expect(() => new PbufPool({ poolBufSize: 137 })).not.toThrow();
    expect(() => new PbufPool({ poolBufSize: 64, linkHeaderRoom: 0, ipHeaderRoom: 20, transportHeaderRoom: 20 })).not.toThrow();
  });
});

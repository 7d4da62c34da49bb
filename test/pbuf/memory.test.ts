// The size-classed block allocator behind RAM and POOL pbufs.
import { describe, expect, it } from 'vitest';
import { BlockAllocator, MAX_BLOCK, MIN_BLOCK, blockBytesFor, classBytes, sizeClass } from '../../src/pbuf/memory.ts';

describe('size classes', () => {
  it('round up to powers of two from 64 to 128 KiB', () => {
    expect(sizeClass(0)).toBe(0);
    expect(sizeClass(1)).toBe(0);
    expect(sizeClass(MIN_BLOCK)).toBe(0);
    expect(sizeClass(MIN_BLOCK + 1)).toBe(1);
    expect(sizeClass(MAX_BLOCK)).toBe(Math.log2(MAX_BLOCK / MIN_BLOCK));
    expect(sizeClass(MAX_BLOCK + 1)).toBe(-1);
    for (let k = 6; k <= 17; k++) {
      const n = 2 ** k;
      expect(classBytes(sizeClass(n))).toBe(n);
      expect(classBytes(sizeClass(n - 1))).toBe(n); // 63 -> 64, 127 -> 128, ...
      expect(blockBytesFor(n + 1)).toBe(n + 1 > MAX_BLOCK ? n + 1 : 2 * n);
    }
    expect(blockBytesFor(200_000)).toBe(200_000);
  });
});

describe('BlockAllocator', () => {
  it('carves small blocks from 64 KiB slabs and reuses them', () => {
    const m = new BlockAllocator();
    const a = m.get(100);
    expect(a.byteLength).toBe(128);
    expect(m.stats.buffersCreated).toBe(1);
    expect(m.stats.reservedBytes).toBe(65_536);
    expect(m.stats.cachedBytes).toBe(65_536 - 128);
    const blocks = [a];
    for (let i = 1; i < 512; i++) blocks.push(m.get(128));
    expect(m.stats.buffersCreated).toBe(1); // 512 x 128 = one slab
    expect(new Set(blocks.map((b) => b.byteOffset)).size).toBe(512); // no overlap
    expect(m.stats.cachedBytes).toBe(0);
    blocks.push(m.get(128));
    expect(m.stats.buffersCreated).toBe(2);
    for (const b of blocks) m.put(b);
    expect(m.stats.cachedBytes).toBe(m.stats.reservedBytes);
  });

  it('caches large blocks up to the cap and trims them', () => {
    const m = new BlockAllocator(256 * 1024);
    const bs = [m.get(100_000), m.get(100_000), m.get(100_000)];
    expect(bs.every((b) => b.byteLength === 131_072)).toBe(true);
    expect(m.stats.buffersCreated).toBe(3);
    for (const b of bs) m.put(b);
    // Two fit under the 256 KiB cap; the third goes to the GC.
    expect(m.stats.cachedBytes).toBe(2 * 131_072);
    expect(m.stats.reservedBytes).toBe(2 * 131_072);
    m.get(70_000);
    expect(m.stats.buffersCreated).toBe(3);
    m.trim();
    expect(m.stats.cachedBytes).toBe(0);
    expect(m.stats.reservedBytes).toBe(131_072); // the one still out
  });

  it('exact-size buffers beyond MAX_BLOCK are not cached', () => {
    const m = new BlockAllocator();
    const b = m.get(MAX_BLOCK + 1);
    expect(b.byteLength).toBe(MAX_BLOCK + 1);
    expect(m.stats.reservedBytes).toBe(MAX_BLOCK + 1);
    m.put(b);
    expect(m.stats.reservedBytes).toBe(0);
    expect(m.stats.cachedBytes).toBe(0);
    m.get(MAX_BLOCK + 1);
    expect(m.stats.buffersCreated).toBe(2);
  });
});

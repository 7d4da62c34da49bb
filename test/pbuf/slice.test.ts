// PbufPool.slice: zero-copy views that keep the bytes they show alive,
// however the original chain and intermediate slices are freed.
import { describe, expect, it } from 'vitest';
import { PbufPool } from '../../src/pbuf/pool.ts';
import { Rng } from '../../src/time/rng.ts';
import { PbufLayer, buildChain, must, pattern } from './helpers.ts';

const bytesOf = (p: { totLen: number; copyPartial(dst: Uint8Array, len: number, off: number, dstOff?: number): number }): Uint8Array => {
  const out = new Uint8Array(p.totLen);
  p.copyPartial(out, p.totLen, 0);
  return out;
};

/** Allocate and scribble over every block the pool has free, so freed memory cannot still look right. */
function scribble(pool: PbufPool, sizes: number[]): void {
  const held = sizes.map((n) => must(pool.alloc(PbufLayer.RAW, n)));
  for (const h of held) h.buf.fill(0xee, h.off, h.off + h.len);
  for (const h of held) h.free();
}

describe('PbufPool.slice', () => {
  it('shows the bytes without copying and outlives the original chain', () => {
    const pool = new PbufPool({ trackLive: true });
    const data = pattern(300, 7);
    const p = buildChain(pool, [100, 100, 100], data);
    const s = must(pool.slice(p, 150, 100));
    expect(s.buf).toBe(p.next!.buf); // the same memory
    p.free();
    scribble(pool, [100, 100, 100]);
    expect(bytesOf(s)).toEqual(data.subarray(150, 250));
    s.free();
    pool.assertEmpty();
  });

  it('a slice of a slice starting past its head keeps its bytes when the outer slice and the original go', () => {
    // The retransmission case: a super-segment (a slice spanning two pieces)
    // is cut per MSS; the second cut starts in the slice's second piece.
    const pool = new PbufPool({ trackLive: true });
    const data = pattern(3000, 3);
    const p = buildChain(pool, [1000, 1000, 1000], data);
    const outer = must(pool.slice(p, 500, 2000)); // pieces: [500,1000) [1000,2000) [2000,2500)
    p.free();
    const inner = must(pool.slice(outer, 1200, 600)); // starts in outer's second piece
    outer.free(); // the first original piece may go now, the others must not
    scribble(pool, [1000, 1000, 1000, 1000]);
    expect(bytesOf(inner)).toEqual(data.subarray(1700, 2300));
    inner.free();
    pool.assertEmpty();
  });

  it('random nesting and free orders never lose bytes and leave the pool empty', () => {
    const rng = new Rng(42);
    for (let round = 0; round < 200; round++) {
      const pool = new PbufPool({ trackLive: true });
      const sizes = Array.from({ length: 1 + rng.int(5) }, () => 1 + rng.int(400));
      const total = sizes.reduce((a, b) => a + b, 0);
      const data = pattern(total, round);
      const live: { p: ReturnType<typeof buildChain>; from: number }[] = [{ p: buildChain(pool, sizes, data), from: 0 }];
      for (let k = 0; k < 12 && live.length > 0; k++) {
        const i = rng.int(live.length);
        const src = live[i]!;
        if (rng.int(3) === 0) {
          src.p.free();
          live.splice(i, 1);
          scribble(pool, [64, 400, 1500]);
          continue;
        }
        const off = rng.int(src.p.totLen + 1);
        const len = rng.int(src.p.totLen - off + 1);
        live.push({ p: must(pool.slice(src.p, off, len)), from: src.from + off });
      }
      for (const l of live) expect(bytesOf(l.p)).toEqual(data.subarray(l.from, l.from + l.p.totLen));
      for (const l of live) l.p.free();
      pool.assertEmpty();
    }
  });
});

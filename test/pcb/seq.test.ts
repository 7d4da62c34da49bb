// Sequence arithmetic modulo 2^32: tables around 0, 2^31 and 2^32 − 1,
// properties over random values (checked against BigInt modular
// arithmetic), and between/inWindow across the wrap.
import { describe, expect, it } from 'vitest';
import {
  seqAdd,
  seqBetween,
  seqDiff,
  seqGeq,
  seqGt,
  seqInWindow,
  seqLeq,
  seqLt,
  seqMax,
  seqMin,
} from '../../src/pcb/seq.ts';
import { Rng } from '../../src/time/rng.ts';

const TWO31 = 2 ** 31;
const TWO32 = 2 ** 32;
const MAX = TWO32 - 1;

/** Signed distance a − b by BigInt, the definition rather than the trick. */
function refDiff(a: number, b: number): number {
  let d = (BigInt(a) - BigInt(b)) % 2n ** 32n;
  if (d < 0n) d += 2n ** 32n;
  if (d >= 2n ** 31n) d -= 2n ** 32n;
  return Number(d);
}

describe('seqAdd', () => {
  it.each([
    [0, 0, 0],
    [0, 1, 1],
    [MAX, 1, 0],
    [MAX, 2, 1],
    [MAX, MAX, MAX - 1],
    [TWO31 - 1, 1, TWO31],
    [TWO31, TWO31, 0],
    [5, -1, 4],
    [0, -1, MAX],
    [3, -TWO31, TWO31 + 3],
    [1000, TWO32, 1000],
  ])('seqAdd(%d, %d) = %d', (a, n, r) => {
    expect(seqAdd(a, n)).toBe(r);
  });

  it('always returns a u32', () => {
    const rng = new Rng('seqAdd');
    for (let i = 0; i < 10_000; i++) {
      const r = seqAdd(rng.u32(), rng.u32());
      expect(Number.isInteger(r) && r >= 0 && r < TWO32).toBe(true);
    }
  });
});

describe('seqDiff', () => {
  it.each([
    [0, 0, 0],
    [1, 0, 1],
    [0, 1, -1],
    [0, MAX, 1], // 0 is one past 2^32 − 1
    [MAX, 0, -1],
    [5, MAX - 4, 10],
    [MAX - 4, 5, -10],
    [TWO31 - 1, 0, TWO31 - 1], // largest positive distance
    [TWO31, 0, -TWO31], // 2^31 apart: the ambiguous point reads as "behind"
    [0, TWO31, -TWO31],
    [TWO31 + 1, 1, -TWO31],
    [TWO31 + 1, 2, TWO31 - 1],
    [TWO31, TWO31 - 1, 1],
    [TWO31 - 1, TWO31, -1],
  ])('seqDiff(%d, %d) = %d', (a, b, d) => {
    expect(seqDiff(a, b)).toBe(d);
  });

  it('matches BigInt modular arithmetic on random values and stays in [-2^31, 2^31)', () => {
    const rng = new Rng('seqDiff');
    for (let i = 0; i < 10_000; i++) {
      const a = rng.u32();
      // Half the pairs close together, so the interesting region is covered.
      const b = i & 1 ? rng.u32() : seqAdd(a, rng.int(2001) - 1000);
      const d = seqDiff(a, b);
      expect(d).toBe(refDiff(a, b));
      expect(d >= -TWO31 && d < TWO31).toBe(true);
      expect(seqAdd(b, d)).toBe(a);
    }
  });
});

describe('comparisons', () => {
  // [a, b, a < b]: a table of pairs that are not equal.
  const LESS: Array<[number, number]> = [
    [0, 1],
    [MAX, 0],
    [MAX - 10, 10],
    [MAX, TWO31 - 2], // 2^31 − 1 ahead, across the wrap
    [0, TWO31 - 1],
    [TWO31 - 1, TWO31],
    [TWO31, TWO32 - 1],
    [TWO31 + 1, 0], // b is 2^31 − 1 ahead of a
    [123456, 123457],
  ];

  it.each(LESS)('%d < %d in sequence space (and every relation agrees)', (a, b) => {
    expect(seqLt(a, b)).toBe(true);
    expect(seqLeq(a, b)).toBe(true);
    expect(seqGt(a, b)).toBe(false);
    expect(seqGeq(a, b)).toBe(false);
    expect(seqGt(b, a)).toBe(true);
    expect(seqGeq(b, a)).toBe(true);
    expect(seqLt(b, a)).toBe(false);
    expect(seqLeq(b, a)).toBe(false);
    expect(seqMax(a, b)).toBe(b);
    expect(seqMax(b, a)).toBe(b);
    expect(seqMin(a, b)).toBe(a);
    expect(seqMin(b, a)).toBe(a);
  });

  it.each([0, 1, TWO31 - 1, TWO31, MAX])('equal values: %d', (a) => {
    expect(seqLt(a, a)).toBe(false);
    expect(seqGt(a, a)).toBe(false);
    expect(seqLeq(a, a)).toBe(true);
    expect(seqGeq(a, a)).toBe(true);
    expect(seqMax(a, a)).toBe(a);
    expect(seqMin(a, a)).toBe(a);
  });

  it('exactly 2^31 apart: each reads as behind the other (signed-distance convention)', () => {
    expect(seqLt(TWO31, 0)).toBe(true);
    expect(seqLt(0, TWO31)).toBe(true);
    expect(seqGt(0, TWO31)).toBe(false);
  });

  it('symmetric properties hold on random values', () => {
    const rng = new Rng('seq-compare');
    for (let i = 0; i < 5_000; i++) {
      const a = rng.u32();
      const b = i & 1 ? rng.u32() : seqAdd(a, rng.int(65) - 32);
      const d = refDiff(a, b);
      expect(seqLt(a, b)).toBe(d < 0);
      expect(seqLeq(a, b)).toBe(d <= 0);
      expect(seqGt(a, b)).toBe(d > 0);
      expect(seqGeq(a, b)).toBe(d >= 0);
      if (d !== -TWO31) {
        // Away from the antipode the order is a proper one.
        expect(seqLt(a, b)).toBe(seqGt(b, a));
        expect(seqLeq(a, b)).toBe(seqGeq(b, a));
        expect(seqLt(a, b) || seqLt(b, a) || a === b).toBe(true);
        expect(seqLt(a, b) && seqLt(b, a)).toBe(false);
      }
      expect(seqLeq(a, b)).toBe(seqLt(a, b) || a === b);
      expect(seqGeq(a, b)).toBe(!seqLt(a, b));
      expect(seqMax(a, b)).toBe(seqGeq(a, b) ? a : b);
      expect(seqMin(a, b)).toBe(seqLeq(a, b) ? a : b);
    }
  });

  it('seqAdd(a, n) > a for 0 < n < 2^31, and < a for 2^31 < n < 2^32', () => {
    const rng = new Rng('seq-add-gt');
    for (let i = 0; i < 5_000; i++) {
      const a = rng.u32();
      const n = 1 + rng.int(TWO31 - 1); // 1 .. 2^31 − 1
      expect(seqGt(seqAdd(a, n), a)).toBe(true);
      expect(seqLt(a, seqAdd(a, n))).toBe(true);
      expect(seqDiff(seqAdd(a, n), a)).toBe(n);
      expect(seqLt(seqAdd(a, TWO32 - n), a)).toBe(true); // the same as a − n
    }
    // The extremes of the range.
    for (const a of [0, 1, TWO31 - 1, TWO31, MAX]) {
      expect(seqGt(seqAdd(a, 1), a)).toBe(true);
      expect(seqGt(seqAdd(a, TWO31 - 1), a)).toBe(true);
      expect(seqGt(seqAdd(a, TWO31), a)).toBe(false);
    }
  });
});

describe('seqBetween (inclusive, lwIP TCP_SEQ_BETWEEN)', () => {
  it.each([
    // x, lo, hi, expected
    [5, 5, 10, true],
    [10, 5, 10, true],
    [7, 5, 10, true],
    [4, 5, 10, false],
    [11, 5, 10, false],
    [5, 5, 5, true],
    [6, 5, 5, false],
    // Across the wrap: [2^32 − 3, 2]
    [MAX - 2, MAX - 2, 2, true],
    [MAX, MAX - 2, 2, true],
    [0, MAX - 2, 2, true],
    [2, MAX - 2, 2, true],
    [3, MAX - 2, 2, false],
    [MAX - 3, MAX - 2, 2, false],
    // Around 2^31.
    [TWO31, TWO31 - 1, TWO31 + 1, true],
    [TWO31 - 2, TWO31 - 1, TWO31 + 1, false],
    [TWO31 + 2, TWO31 - 1, TWO31 + 1, false],
    // A window of 2^31 − 1: both ends are still inside.
    [TWO31 - 1, 0, TWO31 - 1, true],
    [0, 0, TWO31 - 1, true],
    [MAX, 0, TWO31 - 1, false],
  ])('seqBetween(%d, %d, %d) = %s', (x, lo, hi, r) => {
    expect(seqBetween(x, lo, hi)).toBe(r);
  });

  it('is seqGeq(x, lo) && seqLeq(x, hi) on random windows, wrapping or not', () => {
    const rng = new Rng('seq-between');
    for (let i = 0; i < 20_000; i++) {
      const lo = i % 4 === 0 ? seqAdd(MAX, -rng.int(100)) : rng.u32();
      const len = rng.int(1 << 20);
      const hi = seqAdd(lo, len);
      const off = rng.int(len + 200) - 100; // some before, most inside, some after
      const x = seqAdd(lo, off);
      expect(seqBetween(x, lo, hi)).toBe(off >= 0 && off <= len);
      expect(seqBetween(x, lo, hi)).toBe(seqGeq(x, lo) && seqLeq(x, hi));
    }
  });
});

describe('seqInWindow (lo <= x < lo + len)', () => {
  it.each([
    // x, lo, len, expected
    [5, 5, 0, false], // empty window
    [5, 5, 1, true],
    [6, 5, 1, false],
    [4, 5, 10, false],
    [14, 5, 10, true],
    [15, 5, 10, false],
    // Across the wrap.
    [MAX, MAX, 3, true],
    [0, MAX, 3, true],
    [1, MAX, 3, true],
    [2, MAX, 3, false],
    [MAX - 1, MAX, 3, false],
    [0, MAX, 0, false],
    // Around 2^31.
    [TWO31, TWO31 - 1, 2, true],
    [TWO31 + 1, TWO31 - 1, 2, false],
    // Large windows (a scaled receive window is at most 2^30).
    [seqAdd(7, 2 ** 30 - 1), 7, 2 ** 30, true],
    [seqAdd(7, 2 ** 30), 7, 2 ** 30, false],
    [seqAdd(7, -1), 7, 2 ** 30, false],
    // The whole space.
    [123, 7, TWO32, true],
    [6, 7, TWO32, true],
  ])('seqInWindow(%d, %d, %d) = %s', (x, lo, len, r) => {
    expect(seqInWindow(x, lo, len)).toBe(r);
  });

  it('negative lengths contain nothing', () => {
    expect(seqInWindow(5, 5, -1)).toBe(false);
    expect(seqInWindow(4, 5, -1)).toBe(false);
  });

  it('agrees with the offset definition and with seqBetween on random windows', () => {
    const rng = new Rng('seq-window');
    for (let i = 0; i < 20_000; i++) {
      const lo = i % 4 === 0 ? seqAdd(MAX, -rng.int(100)) : rng.u32();
      const len = rng.int(1 << 20);
      const off = rng.int(len + 200) - 100;
      const x = seqAdd(lo, off);
      expect(seqInWindow(x, lo, len)).toBe(off >= 0 && off < len);
      if (len > 0) expect(seqInWindow(x, lo, len)).toBe(seqBetween(x, lo, seqAdd(lo, len - 1)));
    }
  });
});

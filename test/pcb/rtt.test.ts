// RFC 6298 RTO estimation: first and later samples against hand-computed
// values (chosen to be exact binary fractions), clamping, the granularity
// term, backoff doubling with its cap, Karn's split between sampling and
// backoff, reset, invalid samples and option validation.
import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../../src/pcb/rtt.ts';
import { Rng } from '../../src/time/rng.ts';

function snapshot(e: RttEstimator) {
  return { srtt: e.srtt, rttvar: e.rttvar, rto: e.rto, samples: e.samples, backoffCount: e.backoffCount, current: e.currentRto() };
}

describe('RttEstimator: defaults and the first sample', () => {
  it('starts at the initial RTO with no samples', () => {
    const e = new RttEstimator();
    expect(snapshot(e)).toEqual({ srtt: 0, rttvar: 0, rto: 1000, samples: 0, backoffCount: 0, current: 1000 });
    expect([e.initialRtoMs, e.minRtoMs, e.maxRtoMs, e.granularityMs]).toEqual([1000, 200, 60000, 1]);
  });

  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4 RTTVAR) (§2.2)', () => {
    const e = new RttEstimator();
    e.sample(100);
    expect(snapshot(e)).toEqual({ srtt: 100, rttvar: 50, rto: 300, samples: 1, backoffCount: 0, current: 300 });
  });

  it('a fractional first sample', () => {
    const e = new RttEstimator({ minRtoMs: 1 });
    e.sample(2.5);
    expect([e.srtt, e.rttvar, e.rto]).toEqual([2.5, 1.25, 7.5]);
  });

  it('a zero sample counts (virtual time can measure 0 ms) and the next one is a later sample', () => {
    const e = new RttEstimator({ minRtoMs: 1 });
    e.sample(0);
    expect(snapshot(e)).toEqual({ srtt: 0, rttvar: 0, rto: 1, samples: 1, backoffCount: 0, current: 1 });
    e.sample(80);
    // RTTVAR = 3/4·0 + 1/4·|0 − 80| = 20; SRTT = 7/8·0 + 1/8·80 = 10; RTO = 10 + 80.
    expect([e.srtt, e.rttvar, e.rto, e.samples]).toEqual([10, 20, 90, 2]);
  });
});

describe('RttEstimator: later samples (§2.3)', () => {
  it('follows hand-computed values, RTTVAR updated with the old SRTT', () => {
    const e = new RttEstimator();
    e.sample(100); // SRTT 100, RTTVAR 50, RTO 300
    e.sample(200);
    // RTTVAR = 3/4·50 + 1/4·|100 − 200| = 37.5 + 25 = 62.5
    // SRTT   = 7/8·100 + 1/8·200 = 87.5 + 25 = 112.5
    // RTO    = 112.5 + 4·62.5 = 362.5
    expect([e.srtt, e.rttvar, e.rto, e.samples]).toEqual([112.5, 62.5, 362.5, 2]);
    e.sample(80);
    // RTTVAR = 3/4·62.5 + 1/4·|112.5 − 80| = 46.875 + 8.125 = 55
    // SRTT   = 7/8·112.5 + 1/8·80 = 98.4375 + 10 = 108.4375
    // RTO    = 108.4375 + 4·55 = 328.4375
    expect([e.srtt, e.rttvar, e.rto, e.samples]).toEqual([108.4375, 55, 328.4375, 3]);
    e.sample(108.4375);
    // RTTVAR = 3/4·55 = 41.25; SRTT unchanged; RTO = 108.4375 + 165
    expect([e.srtt, e.rttvar, e.rto]).toEqual([108.4375, 41.25, 273.4375]);
  });

  it('converges on a steady RTT: SRTT → R and RTTVAR → 0', () => {
    const e = new RttEstimator({ minRtoMs: 1 });
    e.sample(400);
    for (let i = 0; i < 300; i++) e.sample(40);
    expect(e.srtt).toBeCloseTo(40, 9);
    expect(e.rttvar).toBeCloseTo(0, 9);
    expect(e.rto).toBeCloseTo(41, 6); // SRTT + G
  });

  it('keeps its invariants over random sample streams', () => {
    const rng = new Rng('rtt-random');
    for (let run = 0; run < 50; run++) {
      const e = new RttEstimator({ minRtoMs: 50, initialRtoMs: 1000, maxRtoMs: 30000 });
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < 200; i++) {
        const r = rng.float() * 5000;
        lo = Math.min(lo, r);
        hi = Math.max(hi, r);
        e.sample(r);
        if (rng.chance(0.1)) e.backoff();
        if (rng.chance(0.05)) e.resetBackoff();
        expect(e.srtt).toBeGreaterThanOrEqual(lo - 1e-9);
        expect(e.srtt).toBeLessThanOrEqual(hi + 1e-9);
        expect(e.rttvar).toBeGreaterThanOrEqual(0);
        expect(e.rto).toBeGreaterThanOrEqual(50);
        expect(e.rto).toBeLessThanOrEqual(30000);
        expect(e.rto).toBe(Math.min(30000, Math.max(50, e.srtt + Math.max(1, 4 * e.rttvar))));
        expect(e.currentRto()).toBe(Math.min(30000, e.rto * 2 ** e.backoffCount));
      }
      expect(e.samples).toBe(200);
    }
  });
});

describe('RttEstimator: clamping and granularity', () => {
  it('clamps a small RTO up to minRto', () => {
    const e = new RttEstimator();
    e.sample(10); // 10 + 20 = 30
    expect([e.srtt, e.rttvar, e.rto]).toEqual([10, 5, 200]);
    const f = new RttEstimator({ minRtoMs: 1000 }); // the RFC's conservative 1 s
    f.sample(100); // 300
    expect(f.rto).toBe(1000);
  });

  it('clamps a large RTO down to maxRto', () => {
    const e = new RttEstimator();
    e.sample(50_000); // 50000 + 100000
    expect([e.srtt, e.rttvar, e.rto, e.currentRto()]).toEqual([50_000, 25_000, 60_000, 60_000]);
    const f = new RttEstimator({ maxRtoMs: 2000 });
    f.sample(1000); // 3000
    expect(f.rto).toBe(2000);
  });

  it('the granularity term G wins over a small 4·RTTVAR', () => {
    const e = new RttEstimator({ minRtoMs: 1, granularityMs: 100 });
    e.sample(8); // RTTVAR 4, 4·RTTVAR = 16 < G
    expect(e.rto).toBe(108);
    e.sample(8); // RTTVAR 3
    expect(e.rto).toBe(108);
    const f = new RttEstimator({ minRtoMs: 1, granularityMs: 10 });
    f.sample(8); // 4·RTTVAR = 16 > G
    expect(f.rto).toBe(24);
  });

  it('with a steady RTT the RTO settles at SRTT + G', () => {
    const e = new RttEstimator({ minRtoMs: 1, granularityMs: 10 });
    for (let i = 0; i < 200; i++) e.sample(50);
    expect(e.rto).toBe(60);
  });
});

describe('RttEstimator: backoff (§5.5) and Karn', () => {
  it('doubles per backoff up to maxRto', () => {
    const e = new RttEstimator();
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      seen.push(e.currentRto());
      e.backoff();
    }
    seen.push(e.currentRto());
    expect(seen).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect(e.rto).toBe(1000); // the base is untouched
  });

  it('doubles a measured RTO', () => {
    const e = new RttEstimator();
    e.sample(100); // 300
    e.backoff();
    expect(e.currentRto()).toBe(600);
    e.backoff();
    expect(e.currentRto()).toBe(1200);
    expect(e.backoffCount).toBe(2);
  });

  it('saturates the count once any base RTO would be pinned at maxRto', () => {
    const e = new RttEstimator(); // 60000 / 200 = 300 → 2^9 = 512 is enough
    for (let i = 0; i < 100; i++) e.backoff();
    expect(e.backoffCount).toBe(9);
    expect(e.currentRto()).toBe(60000);
    // Even a sample that drops the base to minRto keeps the timer at the cap.
    e.sample(1);
    expect(e.rto).toBe(200);
    expect(e.currentRto()).toBe(60000);
    expect(Number.isFinite(e.currentRto())).toBe(true);

    const tight = new RttEstimator({ minRtoMs: 500, initialRtoMs: 500, maxRtoMs: 500 });
    tight.backoff();
    expect(tight.backoffCount).toBe(0);
    expect(tight.currentRto()).toBe(500);
  });

  it('a sample does not reset the backoff; resetBackoff does', () => {
    const e = new RttEstimator();
    e.backoff();
    e.backoff();
    e.sample(100); // base 300
    expect(e.backoffCount).toBe(2);
    expect(e.currentRto()).toBe(1200);
    e.resetBackoff();
    expect(e.backoffCount).toBe(0);
    expect(e.currentRto()).toBe(300);
    expect([e.srtt, e.rttvar, e.samples]).toEqual([100, 50, 1]); // estimates kept
  });

  it('reset() returns to the initial state, and the next sample is a first sample', () => {
    const e = new RttEstimator({ initialRtoMs: 3000 });
    e.sample(100);
    e.sample(300);
    e.backoff();
    e.backoff();
    e.reset();
    expect(snapshot(e)).toEqual({ srtt: 0, rttvar: 0, rto: 3000, samples: 0, backoffCount: 0, current: 3000 });
    e.sample(400);
    expect([e.srtt, e.rttvar, e.rto, e.samples]).toEqual([400, 200, 1200, 1]);
  });
});

describe('RttEstimator: invalid input', () => {
  it('ignores negative, NaN and infinite samples', () => {
    const e = new RttEstimator();
    for (const bad of [-1, -0.001, Number.NaN, Infinity, -Infinity]) e.sample(bad);
    expect(snapshot(e)).toEqual({ srtt: 0, rttvar: 0, rto: 1000, samples: 0, backoffCount: 0, current: 1000 });
    e.sample(100);
    const before = snapshot(e);
    for (const bad of [-5, Number.NaN, Infinity]) e.sample(bad);
    expect(snapshot(e)).toEqual(before);
  });

  it.each([
    ['initialRtoMs', 0],
    ['initialRtoMs', -1],
    ['minRtoMs', 0],
    ['minRtoMs', Number.NaN],
    ['maxRtoMs', Infinity],
    ['maxRtoMs', -60000],
    ['granularityMs', 0],
    ['granularityMs', Number.NaN],
    ['granularityMs', -1],
    ['initialRtoMs', '1000'],
  ])('rejects %s = %s with RangeError', (key, value) => {
    expect(() => new RttEstimator({ [key]: value } as never)).toThrow(RangeError);
  });

  it('rejects min > initial and initial > max', () => {
    expect(() => new RttEstimator({ minRtoMs: 2000 })).toThrow(RangeError); // initial 1000
    expect(() => new RttEstimator({ maxRtoMs: 500 })).toThrow(RangeError); // initial 1000
    expect(() => new RttEstimator({ minRtoMs: 300, initialRtoMs: 200, maxRtoMs: 400 })).toThrow(RangeError);
    expect(() => new RttEstimator({ minRtoMs: 100, initialRtoMs: 500, maxRtoMs: 400 })).toThrow(RangeError);
  });

  it('accepts min = initial = max and explicit undefined options', () => {
    const e = new RttEstimator({ minRtoMs: 700, initialRtoMs: 700, maxRtoMs: 700 });
    e.sample(1);
    expect(e.rto).toBe(700);
    e.sample(100_000);
    expect(e.rto).toBe(700);
    const d = new RttEstimator({ initialRtoMs: undefined, minRtoMs: undefined, maxRtoMs: undefined, granularityMs: undefined });
    expect([d.initialRtoMs, d.minRtoMs, d.maxRtoMs, d.granularityMs]).toEqual([1000, 200, 60000, 1]);
  });
});

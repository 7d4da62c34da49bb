// Shrinking a failing fault schedule (issue 16, part 5): ddmin down to a
// 1-minimal failing subsequence, deterministic and bounded; then smaller
// numbers in what is left.
import { describe, expect, test } from 'vitest';
import { ShrinkError, shrinkNumbers, shrinkSchedule } from '../../src/sim/index.ts';

interface Fault {
  t: number;
  do: string;
  host: string;
}

const schedule: Fault[] = Array.from({ length: 20 }, (_v, i) => ({ t: i * 100, do: i % 3 === 0 ? 'crash' : 'partition', host: `h${i}` }));
/** Fails only when both h4 and h13 are in the schedule. */
const pairFails = (evs: readonly Fault[]): boolean => evs.some((e) => e.host === 'h4') && evs.some((e) => e.host === 'h13');

describe('shrinkSchedule', () => {
  test('finds the failing pair among 20 events, in order, within a few dozen runs', async () => {
    const calls: string[] = [];
    const r = await shrinkSchedule(schedule, (evs) => {
      calls.push(evs.map((e) => e.host).join(','));
      return pairFails(evs);
    });
    expect(r.events.map((e) => e.host)).toEqual(['h4', 'h13']);
    expect(r.events[0]).toBe(schedule[4]);
    expect(r.minimal).toBe(true);
    expect(r.runs).toBe(calls.length);
    expect(r.runs).toBeLessThan(60);
    // No subset is run twice.
    expect(new Set(calls).size).toBe(calls.length);
  });

  test('deterministic: the same runs in the same order, async or not', async () => {
    const log1: string[] = [];
    const log2: string[] = [];
    const a = await shrinkSchedule(schedule, (evs) => (log1.push(evs.map((e) => e.host).join(',')), pairFails(evs)));
    const b = await shrinkSchedule(schedule, async (evs) => {
      await Promise.resolve();
      log2.push(evs.map((e) => e.host).join(','));
      return pairFails(evs);
    });
    expect(log2).toEqual(log1);
    expect(b).toEqual(a);
  });

  test('1-minimal with three culprits, and a single one', async () => {
    const three = (evs: readonly Fault[]) => ['h1', 'h7', 'h19'].every((h) => evs.some((e) => e.host === h));
    expect((await shrinkSchedule(schedule, three)).events.map((e) => e.host)).toEqual(['h1', 'h7', 'h19']);
    const one = await shrinkSchedule(schedule, (evs) => evs.some((e) => e.host === 'h10'));
    expect(one.events.map((e) => e.host)).toEqual(['h10']);
    // Any of several events suffices: one is kept.
    const any = await shrinkSchedule(schedule, (evs) => evs.some((e) => e.do === 'crash'));
    expect(any.events).toHaveLength(1);
    expect(any.events[0]!.do).toBe('crash');
  });

  test('a failure without any event shrinks to the empty schedule', async () => {
    const r = await shrinkSchedule(schedule, () => true);
    expect(r).toEqual({ events: [], runs: 2, minimal: true });
  });

  test('bounded: maxRuns stops it with the smallest failing schedule found so far', async () => {
    let calls = 0;
    const r = await shrinkSchedule(schedule, (evs) => (calls++, pairFails(evs)), { maxRuns: 10 });
    expect(calls).toBe(10);
    expect(r.runs).toBe(10);
    expect(r.minimal).toBe(false);
    expect(pairFails(r.events)).toBe(true);
    expect(r.events.length).toBeLessThan(20);
  });

  test('a schedule that does not fail is an error; a failing check that throws propagates', async () => {
    await expect(shrinkSchedule(schedule, () => false)).rejects.toBeInstanceOf(ShrinkError);
    await expect(shrinkSchedule(schedule, (evs) => {
      if (evs.length < 5) throw new Error('harness broke');
      return true;
    })).rejects.toThrow('harness broke');
    // assumeFails skips the first run.
    let calls = 0;
    await shrinkSchedule(schedule, (evs) => (calls++, pairFails(evs)), { assumeFails: true });
    const again = await shrinkSchedule(schedule, pairFails);
    expect(calls).toBe(again.runs - 1);
  });

  test('empty and one-event schedules', async () => {
    expect(await shrinkSchedule([], () => true)).toEqual({ events: [], runs: 1, minimal: true });
    expect(await shrinkSchedule([schedule[0]!], (e) => e.length === 1)).toEqual({ events: [schedule[0]], runs: 2, minimal: true });
  });
});

describe('shrinkNumbers', () => {
  test('smaller loss and delay that still fail; integers stay integers; the input is untouched', async () => {
    const evs = [
      { t: 5, do: 'loss', link: 'a->b', rate: 0.8 },
      { t: 9, do: 'delay', link: 'a->b', ms: 400 },
    ];
    const fails = (e: readonly (typeof evs)[number][]): boolean => (e[0]!.rate ?? 0) >= 0.3 && (e[1]!.ms ?? 0) > 50;
    const logs: string[] = [];
    const r = await shrinkNumbers(evs, fails, { steps: 10, log: (m) => logs.push(m) });
    expect(r.events[0]!.t).toBe(5);
    expect(r.events[0]!.rate).toBeGreaterThanOrEqual(0.3);
    expect(r.events[0]!.rate).toBeLessThan(0.31);
    expect(r.events[1]!.ms).toBe(51);
    expect(Number.isInteger(r.events[1]!.ms)).toBe(true);
    expect(evs[0]!.rate).toBe(0.8);
    expect(fails(r.events)).toBe(true);
    expect(logs.length).toBe(2);
    // Deterministic.
    expect(await shrinkNumbers(evs, fails, { steps: 10 })).toEqual(r);
    // Zero when the number does not matter.
    const z = await shrinkNumbers(evs, (e) => (e[1]!.ms ?? 0) > 50, { fields: ['rate'] });
    expect(z.events[0]!.rate).toBe(0);
    expect(z.events[1]!.ms).toBe(400);
  });
});

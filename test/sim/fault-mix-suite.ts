// The fault-mix suite's test cases (issue 12), shared by the test files
// that split the seeds between them so vitest runs them on both cores.
// Each case runs a block of consecutive seeds; a failure lists, per mix,
// what went wrong and the `tsip sim transfer` line that reproduces it.
import { expect, test } from 'vitest';
import { describeFailure, runMix } from './fault-mix.ts';

/** Mixes per test case: small enough that the progress shows, large enough to keep the overhead low. */
const BLOCK = 50;

/** Test cases for seeds [from, from + count). */
export function faultMixCases(from: number, count: number): void {
  for (let start = from; start < from + count; start += BLOCK) {
    const end = Math.min(from + count, start + BLOCK);
    test(`fault mixes ${start}..${end - 1}: intact both ways, nothing left over, within budget`, () => {
      const failures: string[] = [];
      for (let seed = start; seed < end; seed++) {
        const m = runMix(seed);
        if (!m.ok) failures.push(describeFailure(m));
      }
      expect(failures, failures.join('\n')).toEqual([]);
    });
  }
}

// Fault-mix seeds 0..599 of 1 200 (the other half is in fault-mix-2.test.ts,
// so the two run in parallel). What a mix is: test/sim/fault-mix.ts.
import { describe } from 'vitest';
import { faultMixCases } from './fault-mix-suite.ts';

describe('fault mixes (issue 12)', () => {
  faultMixCases(0, 600);
});

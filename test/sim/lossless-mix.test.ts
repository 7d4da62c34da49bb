// Lossless mixes (test/sim/lossless-mix.ts): on a link that loses nothing,
// nothing is retransmitted. Payloads up to 1 MB each way here; the by-hand
// sweep takes 3 MB.
import { describe, expect, test } from 'vitest';
import { runLossless } from './lossless-mix.ts';

const BLOCK = 20;

describe('lossless mixes retransmit nothing', () => {
  for (let start = 0; start < 160; start += BLOCK) {
    test(`lossless mixes ${start}..${start + BLOCK - 1}`, () => {
      const failures: string[] = [];
      for (let seed = start; seed < start + BLOCK; seed++) {
        const m = runLossless(seed, 1_000_000);
        if (m.problems.length > 0) failures.push(`lossless mix ${seed}: ${m.problems.join('; ')}\n  npx tsx src/cli/main.ts sim transfer ${m.argv.join(' ')}`);
      }
      expect(failures, failures.join('\n')).toEqual([]);
    }, 120_000);
  }
});

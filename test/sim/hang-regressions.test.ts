// Mixes that hung the simulator forever (issue 12, finding 5): late in a
// lossy, long-delay run at a high rate, the rate limiter's wake-up for a
// token shortfall below the float resolution of `now` rounded back to now,
// and it re-armed for that same instant without end, inside one
// advanceTo() where no step guard looked.
//
// Seed 1499 is the line. The engine has changed since (its timing
// with it), and that line no longer reaches the bad instant with the old
// limiter; it stays as the witness. The others came from a hunt
// over the ranges (loss to 0.25, dup to 0.02, corrupt to 0.005,
// delay to 100 ms, rate to 1000 Mbit/s, 1 MB each way) with the old
// limiter put back: 13 of 2 000 such lines hung on today's engine. Each of
// them fails at once without the fix: the clock's runaway guard names the
// timer ('server->client/rate-limit'), and the step budget bounds the run
// besides, so none can hang the suite. (test/sim/link.test.ts pins the
// same fault on the limiter alone, whatever the engine does.)
import { describe, expect, test } from 'vitest';
import { runSimTransfer, transferOptionsFromArgv } from '../../src/cli/sim-transfer.ts';

const HUNG = [
  '--seed 1499 --loss 0.2128 --dup 0.0102 --corrupt 0.00402 --delay 95.9652 --rate 888.6914 --bytes 1000000 --cc cubic --gso',
  '--seed 217 --loss 0.2391 --dup 0.0041 --corrupt 0.00429 --delay 90.848 --rate 975.226 --bytes 1000000 --cc reno --gso',
  '--seed 1167 --loss 0.2386 --dup 0.0176 --corrupt 0.00327 --delay 88.1739 --rate 885.1992 --bytes 1000000 --cc cubic',
  '--seed 255 --loss 0.216 --dup 0.0013 --corrupt 0.004 --delay 26.5758 --rate 641.3074 --bytes 1000000 --cc cubic --gso',
];

/** Far more timer events than a 1 MB transfer needs (about 3 000 here), far fewer than a hang would take. */
const STEP_BUDGET = 1_000_000;

describe('mixes that used to hang finish intact', () => {
  for (const line of HUNG) {
    test(`tsip sim transfer ${line}`, () => {
      const o = transferOptionsFromArgv([...line.split(' '), '--max-steps', String(STEP_BUDGET)])!;
      const { json: _j, pcap: _p, ...run } = o;
      const r = runSimTransfer(run);
      expect(r.problems).toEqual([]);
      expect(r.delivered).toEqual({ clientToServer: 1_000_000, serverToClient: 1_000_000 });
      expect(r.sha256Match).toBe(true);
      expect([r.pcbsLeft, r.timersPending, r.poolInUse, r.pbufsInUse]).toEqual([0, 0, 0, 0]);
      expect(r.ok).toBe(true);
    });
  }
});

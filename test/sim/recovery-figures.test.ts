// Issue 13's acceptance runs, as deterministic regression checks: virtual
// time and packet counts of `tsip sim transfer` runs (the same seed gives
// the same run, so these are exact, not timing). bench/recovery.bench.ts
// prints the same runs as a table. Each also runs with the mechanism off,
// to show what it buys.
import { describe, expect, test } from 'vitest';
import { runSimTransfer, type SimTransferOptions, type SimTransferResult } from '../../src/cli/sim-transfer-run.ts';

function run(o: SimTransferOptions): SimTransferResult {
  const r = runSimTransfer(o);
  expect(r.problems).toEqual([]);
  expect(r.ok).toBe(true);
  return r;
}

const dataSegs = (r: SimTransferResult): number => (r.client.counters?.dataSegsOut ?? 0) + (r.server.counters?.dataSegsOut ?? 0);
const undos = (r: SimTransferResult): number => (r.client.counters?.undos ?? 0) + (r.server.counters?.undos ?? 0);

describe('reordering and duplication are not loss', () => {
  const clean20 = (): number => run({ seed: 1, bytes: 1_000_000, link: { latencyMs: 20 } }).virtualMs;

  for (const reorder of [0.01, 0.13]) {
    test(`--delay 20 --reorder ${reorder}: retransmissions <= 1 % of data segments, each spurious recovery undone, within 1.2x the clean time; RFC 6675 alone is fooled`, () => {
      const r = run({ seed: 1, bytes: 1_000_000, link: { latencyMs: 20, reorder } });
      expect(r.retransmits).toBeLessThanOrEqual(0.01 * dataSegs(r));
      expect(undos(r)).toBe(r.fastRecoveries);
      expect(r.virtualMs).toBeLessThanOrEqual(1.2 * clean20());
      const old = run({ seed: 1, bytes: 1_000_000, link: { latencyMs: 20, reorder }, tcp: { rack: false, undo: false } });
      expect(old.retransmits).toBeGreaterThan(0.01 * dataSegs(old));
    });
  }

  test('--dup 1: no fast retransmit at all, the clean time (duplicated ACKs and D-SACKs are not duplicate ACKs, a duplicated SYN is not a lost SYN-ACK)', () => {
    const clean = run({ seed: 1, bytes: 1_000_000, link: { latencyMs: 1 } });
    const r = run({ seed: 1, bytes: 1_000_000, link: { latencyMs: 1, duplicate: 1 } });
    expect(r.fastRetransmits).toBe(0);
    expect(r.rtoCount).toBe(0);
    // The one retransmission is the SYN-ACK answering the duplicated SYN.
    expect(r.retransmits).toBeLessThanOrEqual(1);
    expect(r.virtualMs).toBeLessThanOrEqual(1.2 * clean.virtualMs);
    expect((r.server.counters?.dsacksIn ?? 0) + (r.client.counters?.dsacksIn ?? 0)).toBeGreaterThan(1000);
  });
});

describe('random loss', () => {
  test('README run (seed 7, 5 % loss, 10 MB): lost retransmissions and tails are recovered without RTOs (29 before RACK-TLP)', () => {
    const r = run({ seed: 7, bytes: 10_000_000, link: { latencyMs: 1, loss: 0.05 } });
    expect(r.rtoCount).toBeLessThanOrEqual(5);
    const old = run({ seed: 7, bytes: 10_000_000, link: { latencyMs: 1, loss: 0.05 }, tcp: { rack: false, tlp: false } });
    expect(old.rtoCount).toBeGreaterThan(5 * r.rtoCount);
  }, 60_000);
});

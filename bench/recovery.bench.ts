// Macro: loss recovery in virtual time (issue 13). Each row is one
// `tsip sim transfer` run (the same options, the same seed, the same
// bytes on the wire every time): pure duplication, pure reordering, the
// README's 5 %-loss run, a 100 Mbit/s bottleneck with a 64 KiB queue, and
// paired GSO / non-GSO runs. Figures are virtual (simulated) time and
// packet counts, so they do not depend on this machine's speed.
import { runSimTransfer, type SimTransferOptions, type SimTransferResult } from '../src/cli/sim-transfer-run.ts';
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';

interface Scenario {
  name: string;
  /** The equivalent command line, for the closing note. */
  cli: string;
  opts: SimTransferOptions;
}

const MB = 1_000_000;

/** The runs the issue's acceptance figures name. */
export const SCENARIOS: readonly Scenario[] = [
  { name: 'clean', cli: '--seed 1 --bytes 1000000 --delay 20', opts: { seed: 1, bytes: MB, link: { latencyMs: 20 } } },
  { name: 'dup-1', cli: '--seed 1 --bytes 1000000 --dup 1', opts: { seed: 1, bytes: MB, link: { latencyMs: 1, duplicate: 1 } } },
  { name: 'clean-1ms', cli: '--seed 1 --bytes 1000000', opts: { seed: 1, bytes: MB, link: { latencyMs: 1 } } },
  { name: 'reorder-0.01', cli: '--seed 1 --bytes 1000000 --delay 20 --reorder 0.01', opts: { seed: 1, bytes: MB, link: { latencyMs: 20, reorder: 0.01 } } },
  { name: 'reorder-0.13', cli: '--seed 1 --bytes 1000000 --delay 20 --reorder 0.13', opts: { seed: 1, bytes: MB, link: { latencyMs: 20, reorder: 0.13 } } },
  { name: 'loss-5%-seed7', cli: '--seed 7 --loss 0.05 --bytes 10000000', opts: { seed: 7, bytes: 10 * MB, link: { latencyMs: 1, loss: 0.05 } } },
  {
    name: 'bottleneck-cubic',
    cli: '--seed 1 --bytes 20000000 --server-bytes 0 --delay 10 --rate 100 --queue 65536',
    opts: { seed: 1, bytes: 20 * MB, serverBytes: 0, link: { latencyMs: 10, bitsPerSecond: 100e6, queueBytes: 65536 } },
  },
  {
    name: 'bottleneck-reno',
    cli: '--seed 1 --bytes 20000000 --server-bytes 0 --delay 10 --rate 100 --queue 65536 --cc reno',
    opts: { seed: 1, bytes: 20 * MB, serverBytes: 0, link: { latencyMs: 10, bitsPerSecond: 100e6, queueBytes: 65536 }, tcp: { congestion: 'reno' } },
  },
];

/** Paired GSO comparison: the same link with and without 64 KiB super-segments. */
export const GSO_PAIRS: readonly Scenario[] = Array.from({ length: 12 }, (_, i) => {
  const seed = i + 1;
  const loss = [0, 0.005, 0.01, 0.02][i % 4]!;
  const rate = [100e6, 1e9, 0][i % 3]!;
  const delay = [1, 5, 20][i % 3]!;
  const link = { latencyMs: delay, ...(loss > 0 ? { loss } : {}), ...(rate > 0 ? { bitsPerSecond: rate } : {}) };
  const cli = `--seed ${seed} --bytes 2000000 --delay ${delay}${loss > 0 ? ` --loss ${loss}` : ''}${rate > 0 ? ` --rate ${rate / 1e6}` : ''}`;
  return { name: `gso-pair-${seed}`, cli, opts: { seed, bytes: 2 * MB, link } };
});

function row(s: Scenario, r: SimTransferResult, cleanMs: number | null): Row {
  const segs = r.frames.clientToServer.sent + r.frames.serverToClient.sent;
  return {
    run: s.name,
    ok: r.ok ? 'yes' : 'NO',
    'virtual ms': round(r.virtualMs, 1),
    'x clean': cleanMs === null ? '' : round(r.virtualMs / cleanMs, 2),
    'Mbit/s': round(r.mbitPerVirtualSecond, 1),
    retransmits: r.retransmits,
    'rexmit %': round((100 * r.retransmits) / Math.max(1, segs), 2),
    RTOs: r.rtoCount,
    recoveries: r.fastRecoveries,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export function runRecoveryBench(): BenchReport {
  const rows: Row[] = [];
  const figures: Record<string, number> = {};
  const results = new Map<string, SimTransferResult>();
  for (const s of SCENARIOS) results.set(s.name, runSimTransfer(s.opts));
  const clean20 = results.get('clean')!.virtualMs;
  const clean1 = results.get('clean-1ms')!.virtualMs;
  for (const s of SCENARIOS) {
    const r = results.get(s.name)!;
    const base = s.name.startsWith('reorder') ? clean20 : s.name === 'dup-1' ? clean1 : null;
    rows.push(row(s, r, base));
    figures[`${s.name}.virtualMs`] = r.virtualMs;
    figures[`${s.name}.retransmits`] = r.retransmits;
    figures[`${s.name}.rtos`] = r.rtoCount;
    figures[`${s.name}.mbitPerVirtualSecond`] = r.mbitPerVirtualSecond;
  }
  const ratios: number[] = [];
  for (const s of GSO_PAIRS) {
    const plain = runSimTransfer(s.opts);
    const gso = runSimTransfer({ ...s.opts, gso: true });
    const ratio = gso.virtualMs / plain.virtualMs;
    ratios.push(ratio);
    rows.push({ run: `${s.name} (${s.cli})`, ok: plain.ok && gso.ok ? 'yes' : 'NO', 'virtual ms': `${round(plain.virtualMs, 1)} / gso ${round(gso.virtualMs, 1)}`, 'x clean': round(ratio, 2), 'Mbit/s': '', retransmits: `${plain.retransmits} / ${gso.retransmits}`, 'rexmit %': '', RTOs: `${plain.rtoCount} / ${gso.rtoCount}`, recoveries: '' });
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  figures['gso.medianRatio'] = median(ratios);
  figures['gso.p90Ratio'] = sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]!;
  return {
    name: 'recovery',
    rows,
    figures,
    notes: [
      'each run is `tsip sim transfer <cli>` (see SCENARIOS / GSO_PAIRS in bench/recovery.bench.ts); figures are virtual time, deterministic',
      `'x clean' is virtual time over the same link without faults (reorder: --delay 20, dup: --delay 1); for gso pairs it is gso/plain`,
      `gso paired ratio: median ${round(figures['gso.medianRatio']!, 3)}, p90 ${round(figures['gso.p90Ratio']!, 3)}`,
    ],
  };
}

const spec: BenchSpec = {
  name: 'recovery',
  description: 'loss recovery in virtual time: duplication, reordering, 5 % loss, a 64 KiB bottleneck queue, GSO pairs (deterministic)',
  run: async () => runRecoveryBench(),
};
export default spec;

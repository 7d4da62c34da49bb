// The anchors benchmark (bench/anchors.bench.ts): its C programs compile
// (warnings are errors), and a tiny run measures every stack end to end —
// the kernel over veth, C lwIP and tsip over TUN — with the C clients.
// Skips without cc/liblwip-dev (bash scripts/ensure-system-deps.sh bench)
// or without TUN (root, /dev/net/tun), as the other TUN tests do.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { buildAnchorPrograms, CLIENTS } from '../../bench/cbuild.ts';
import { skipReason, skipTun } from '../support/tun.ts';

const lwipHeaders = existsSync('/usr/include/lwip/lwip/tcp.h');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsip-anchors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!lwipHeaders)('anchors: C programs', () => {
  test('the clients, the kernel server and the C lwIP server compile with -Werror', () => {
    const bins = buildAnchorPrograms(() => {}, tmp, true);
    for (const name of [...CLIENTS, 'lwip-tun'] as const) expect(existsSync(bins[name]), name).toBe(true);
  });
});
if (!lwipHeaders) test.skip('anchors: liblwip-dev is not installed (bash scripts/ensure-system-deps.sh bench)', () => {});

describe.skipIf(skipTun || !lwipHeaders)('anchors: a tiny run', () => {
  test('every stack answers every client; figures and ratios are finite', { timeout: 120_000 }, async () => {
    Object.assign(process.env, {
      TSIP_BENCH_ANCHORS_QUICK: '1',
      TSIP_BENCH_ANCHORS_BYTES: '4000000',
      TSIP_BENCH_ANCHORS_PP_COUNT: '300',
      TSIP_BENCH_ANCHORS_CONN_COUNT: '40',
      TSIP_BENCH_ANCHORS_SECONDS: '1',
      TSIP_BENCH_ANCHORS_REPS: '1',
      TSIP_BENCH_ANCHORS_IPERF3_SECONDS: '1',
    });
    const { runAnchors } = await import('../../bench/anchors.bench.ts');
    const r = await runAnchors(() => {});
    expect(r.notes?.join('\n')).not.toMatch(/^(skipped|failed):/m);
    // Two iperf3 rows when the iperf3 client is installed (bench/anchors-iperf3.ts).
    const { iperf3Available } = await import('../../bench/anchors-iperf3.ts');
    expect(r.rows.length).toBe(iperf3Available() ? 14 : 12);
    if (iperf3Available()) {
      for (const key of ['iperf3 kernel-to-stack', 'iperf3 stack-to-kernel']) {
        for (const id of ['kernel', 'tsip', 'tsip-offload']) expect(r.figures[`${key} ${id} Gbit/s`], `${key} ${id}`).toBeGreaterThan(0);
        expect(Number.isFinite(r.figures[`${key} tsip/kernel`]), key).toBe(true);
      }
    }
    for (const key of ['kernel-to-stack', 'stack-to-kernel', 'pingpong pinned', 'pingpong unpinned', 'connect unpinned', 'connect pinned']) {
      for (const id of ['kernel', 'lwip', 'tsip']) {
        const unit = key.includes('stack') ? 'Gbit/s' : key.startsWith('pingpong') ? 'transactions/s' : 'connections/s';
        const v = r.figures[`${key} ${id} ${unit}`];
        expect(v, `${key} ${id}`).toBeGreaterThan(0);
      }
      expect(Number.isFinite(r.figures[`${key} tsip/lwIP`]), key).toBe(true);
      expect(Number.isFinite(r.figures[`${key} tsip/kernel`]), key).toBe(true);
    }
    expect(r.figures['kernel-to-stack tsip-offload Gbit/s']).toBeGreaterThan(0);
    expect(r.notes?.join('\n')).not.toContain('namespaces left behind');
  });
});
if (skipTun) test.skip(skipReason, () => {});

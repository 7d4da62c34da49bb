// The unmodified iperf3 client (Debian's iperf3, installed by
// scripts/ensure-system-deps.sh) against tsip's iperf3 service on a TUN
// device, from the kernel side of a private namespace: forward, -R and
// -P 2, its -J report checked against tsip's own counters.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { iperf3Service, type Iperf3Service } from '../../src/services/iperf3.ts';
import { skipReason, skipTun, startTunEnv, type TunEnv } from '../support/tun.ts';

const IPERF3 = spawnSync('iperf3', ['--version'], { encoding: 'utf8' }).status === 0;
const skipIperf3 = skipTun || !IPERF3;
const why = skipTun ? skipReason : 'iperf3 interop skipped: no iperf3 client (bash scripts/ensure-system-deps.sh installs it)';

interface Sum {
  bytes: number;
  seconds: number;
  bits_per_second: number;
}
interface Report {
  start: { test_start: { num_streams: number; reverse: number } };
  end: { streams: unknown[]; sum_sent: Sum; sum_received: Sum };
  error?: string;
}

/** SEND_CHUNK in iperf3.ts: a reverse stream may hand the stack at most one more chunk after the results. */
const CHUNK = 256 * 1024;

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

describe.skipIf(skipIperf3)('iperf3 -c (unmodified) against tsip on a TUN device', () => {
  let env: TunEnv | null = null;
  let svc: Iperf3Service | null = null;
  afterEach(() => {
    svc?.stop();
    svc = null;
    const ns = env?.ns;
    env?.close();
    env = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  test('forward, -R and -P 2: iperf3 reports what tsip counted; a second client meanwhile is turned away', async () => {
    env = startTunEnv({ offload: true });
    const e = env;
    const s = (svc = iperf3Service(e.stack.sockets));
    const poolBefore = e.stack.pool.stats.bytesInUse;
    for (const args of [['-t', '2'], ['-t', '2', '-R'], ['-t', '2', '-P', '2'], ['-n', '3M', '-R', '-P', '2', '-l', '1000']]) {
      const inBefore = s.counters.bytesIn;
      const outBefore = s.counters.bytesOut;
      const r = await e.exec(['iperf3', '-c', e.tsip, '-J', ...args], { timeoutMs: 60_000 });
      const j = JSON.parse(r.stdout.toString()) as Report;
      expect(j.error, `${args.join(' ')}: ${j.error ?? ''} ${r.stderr}`).toBeUndefined();
      expect(r.code).toBe(0);
      const reverse = args.includes('-R');
      const parallel = args.includes('-P') ? 2 : 1;
      expect(j.start.test_start.num_streams).toBe(parallel);
      expect(j.end.streams.length).toBe(parallel);
      const tsipSide = s.lastResult!.streams.reduce((a, x) => a + x.bytes, 0);
      expect(s.lastResult!.streams.map((x) => x.id)).toEqual(parallel === 2 ? [1, 3] : [1]);
      if (!reverse) {
        // tsip received; it waits for bytes in flight, so both sums agree exactly.
        expect(j.end.sum_received.bytes).toBe(tsipSide);
        expect(j.end.sum_sent.bytes).toBe(tsipSide);
        expect(s.counters.bytesIn - inBefore).toBe(tsipSide);
      } else {
        // tsip sent: its sum is what it handed the stack; the client got that minus what was still in flight.
        expect(j.end.sum_sent.bytes).toBe(tsipSide);
        expect(j.end.sum_received.bytes).toBeLessThanOrEqual(tsipSide);
        expect(j.end.sum_received.bytes).toBeGreaterThan(0);
        const out = s.counters.bytesOut - outBefore;
        expect(out).toBeGreaterThanOrEqual(tsipSide);
        expect(out).toBeLessThanOrEqual(tsipSide + parallel * CHUNK);
        if (args.includes('-n')) expect(j.end.sum_received.bytes).toBe(3 * 1024 * 1024);
      }
      expect(j.end.sum_received.bits_per_second).toBeGreaterThan(0);
    }
    // One test at a time: a client that comes during a test is told the server is busy.
    const long = e.exec(['iperf3', '-c', e.tsip, '-t', '3', '-J'], { timeoutMs: 60_000 });
    expect(await waitFor(() => s.iperf3.tests === 5, 10_000)).toBe(true);
    const busy = await e.exec(['iperf3', '-c', e.tsip, '-t', '1'], { timeoutMs: 30_000 });
    expect(busy.code).not.toBe(0);
    expect(busy.stdout.toString() + busy.stderr).toMatch(/busy/);
    expect((JSON.parse((await long).stdout.toString()) as Report).error).toBeUndefined();
    expect(s.iperf3).toMatchObject({ tests: 5, completed: 5, deniedBusy: 1, aborted: 0, timeouts: 0 });
    // UDP is refused with an error the client prints.
    const udp = await e.exec(['iperf3', '-c', e.tsip, '-u', '-t', '1'], { timeoutMs: 30_000 });
    expect(udp.code).not.toBe(0);
    expect(s.iperf3.refusedTests).toBe(1);
    s.stop();
    svc = null;
    expect(await waitFor(() => e.stack.pool.stats.bytesInUse <= poolBefore, 10_000), `pool ${e.stack.pool.stats.bytesInUse} > ${poolBefore}`).toBe(true);
  }, 120_000);

  test('a client killed mid-test (SIGINT: CLIENT_TERMINATE) frees the server for the next', async () => {
    env = startTunEnv();
    const e = env;
    const s = (svc = iperf3Service(e.stack.sockets));
    const r = await e.exec(['timeout', '-s', 'INT', '1.5', 'iperf3', '-c', e.tsip, '-t', '10', '-R'], { timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(await waitFor(() => s.iperf3.clientTerminated + s.iperf3.aborted === 1, 10_000)).toBe(true);
    const ok = await e.exec(['iperf3', '-c', e.tsip, '-t', '1', '-J'], { timeoutMs: 30_000 });
    expect((JSON.parse(ok.stdout.toString()) as Report).error).toBeUndefined();
    expect(s.iperf3.completed).toBe(1);
  }, 60_000);
});

if (skipIperf3) test.skip(why, () => {});

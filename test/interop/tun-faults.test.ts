// The simulator's link faults on a real wire: tsip's TUN link shaped in user
// space (sim/device-faults.ts, what `tsip up --loss --delay` uses) with 2%
// loss and 10 ms delay each way; the kernel's curl still downloads 5 MB
// intact, tsip's TCP retransmits, and the pipeline counted its drops.
import { afterEach, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { DeviceFaults } from '../../src/sim/device-faults.ts';
import { generatedSha256, skipReason, skipTun, startTunEnv, type TunEnv } from '../support/tun.ts';

describe.skipIf(skipTun)('TUN link with user-space faults (kernel peer in a private namespace)', () => {
  let env: TunEnv | null = null;
  let faults: DeviceFaults | null = null;
  afterEach(() => {
    const ns = env?.ns;
    faults?.close();
    env?.close();
    env = null;
    faults = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  for (const offload of [false, true]) test(`2% loss and 10 ms delay each way (offload ${offload ? 'on' : 'off'}): curl gets 5 MB intact, tsip retransmits, drops are counted`, async () => {
    env = startTunEnv({
      offload,
      shaper: (clock) => (faults = new DeviceFaults({ clock, seed: 1, link: { loss: 0.02, latencyMs: 10 } })),
    });
    const n = 5_000_000;
    const dl = await env.sh(`curl -s -m 120 http://${env.tsip}/bytes/${n} | sha256sum`, { timeoutMs: 150_000 });
    expect(dl.stdout.toString().slice(0, 64), dl.stderr).toBe(generatedSha256(n));
    expect(env.stack.tcp.counters.retransSegs).toBeGreaterThan(0);
    const st = faults!.stats();
    expect(st.out.dropped).toBeGreaterThan(0);
    expect(st.in.dropped).toBeGreaterThan(0);
    expect(st.out.stages.latency!.passed).toBeGreaterThan(offload ? 50 : 1000);
    // The round trip includes both delays.
    const ping = await env.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', env.tsip]);
    const rtt = /= [\d.]+\/([\d.]+)\//.exec(ping.stdout.toString());
    if (rtt !== null) expect(Number(rtt[1])).toBeGreaterThanOrEqual(19);
  }, 180_000);
});

if (skipTun) test.skip(skipReason, () => {});

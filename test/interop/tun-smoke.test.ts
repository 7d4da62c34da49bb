import { afterEach, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { generatedSha256, skipReason, skipTun, startTunEnv, TUN, type TunEnv } from '../support/tun.ts';

describe.skipIf(skipTun)('TUN smoke (kernel peer in a private namespace)', () => {
  let env: TunEnv | null = null;
  afterEach(() => {
    const ns = env?.ns;
    env?.close();
    env = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  test('TUN is available (REQUIRE_TUN=1 makes its absence a failure)', () => {
    expect(TUN.ok, TUN.why).toBe(true);
  });

  for (const offload of [false, true]) {
    test(`ping and a 1 MB HTTP download (offload ${offload ? 'on' : 'off'})`, async () => {
      env = startTunEnv({ offload });
      const ping = await env.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', env.tsip]);
      expect(ping.code, ping.stdout.toString() + ping.stderr).toBe(0);
      const dl = await env.sh(`curl -s -m 20 http://${env.tsip}/bytes/1000000 | sha256sum`);
      expect(dl.stdout.toString().slice(0, 64)).toBe(generatedSha256(1_000_000));
    });
  }
});

if (skipTun) test.skip(skipReason, () => {});

// `tsip up` (npm start) end to end: on a TUN device in a namespace of the
// test's own naming (self-check passes, the namespace is gone afterwards),
// in the simulator on request, and the fallback without privileges.
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { skipTun } from '../support/tun.ts';

const MAIN = 'src/cli/main.ts';

function tsip(args: string[], wrap: string[] = []): { code: number | null; out: string } {
  const argv = [...wrap, process.execPath, '--import', 'tsx', MAIN, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('tsip up', () => {
  test('--simulate: the services in the simulator, checked by a simulated client (1 MB, sha256)', () => {
    const r = tsip(['up', '--simulate', '--duration', '1']);
    expect(r.out).toMatch(/--simulate: running the services in the simulator/);
    expect(r.out).toMatch(/self-check \(simulated client\): 1 MB over HTTP, sha256 matches/);
    expect(r.code, r.out).toBe(0);
  }, 100_000);

  test.skipIf(skipTun)('on a TUN device in its own namespace: self-check passes, the namespace is deleted on exit', () => {
    const ns = `tsipt-${process.pid}-up`;
    const r = tsip(['up', '--netns', ns, '--addr', '10.88.251.2/30', '--duration', '1']);
    expect(r.out).toMatch(new RegExp(`on tsip0 in network namespace ${ns}`));
    expect(r.out).toMatch(/self-check: ping 10\.88\.251\.1 \(the kernel\) from tsip: ok/);
    expect(r.out).toMatch(/self-check: ping 10\.88\.251\.2 from the kernel: ok/);
    expect(r.out).toMatch(/self-check: GET http:\/\/10\.88\.251\.2\/status\.json: ok/);
    expect(r.out).toMatch(/self-check: 1 MB download, sha256 matches/);
    expect(r.out).toMatch(/self-check passed/);
    expect(r.out).toMatch(new RegExp(`removed network namespace ${ns}`));
    expect(r.code, r.out).toBe(0);
    expect(netnsExists(ns)).toBe(false);
  }, 100_000);

  test.skipIf(skipTun)('without privileges (uid 65534): falls back to the simulator and says why', () => {
    // setpriv drops to an unprivileged user; the tree must be readable by it (it is: a checkout is world-readable).
    const r = tsip(['up', '--duration', '1'], ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']);
    expect(r.out).toMatch(/cannot use a TUN device here \(not root/);
    expect(r.out).toMatch(/self-check \(simulated client\): 1 MB over HTTP, sha256 matches/);
    expect(r.code, r.out).toBe(0);
  }, 100_000);
});

// `tsip up` (npm start) end to end: on a TUN device in a namespace of the
// test's own naming (self-check passes, the namespace is gone afterwards),
// in the simulator on request, and the fallback without privileges.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { up } from '../../src/cli/up.ts';
import { upOptionsOf } from '../../src/cli/up-command.ts';
import { execAsync, skipTun } from '../support/tun.ts';

const MAIN = 'src/cli/main.ts';

function tsip(args: string[], wrap: string[] = [], env: NodeJS.ProcessEnv = process.env): { code: number | null; out: string } {
  const argv = [...wrap, process.execPath, '--import', 'tsx', MAIN, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 90_000, env });
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

  test.skipIf(skipTun)('--busy-poll 100: the self-check passes with busy polling on the device', () => {
    const ns = `tsipt-${process.pid}-upbp`;
    const r = tsip(['up', '--netns', ns, '--addr', '10.88.250.2/30', '--busy-poll', '100', '--duration', '1']);
    expect(r.out).toMatch(/self-check: 1 MB download, sha256 matches/);
    expect(r.out).toMatch(/self-check passed/);
    expect(r.code, r.out).toBe(0);
    expect(netnsExists(ns)).toBe(false);
  }, 100_000);

  test('link fault options: the LinkSpec of tsip sim, no delay unless asked for, none given: no shaping', () => {
    const spec = (args: string[]) => {
      const o = upOptionsOf(args, {});
      return o === 'help' ? 'help' : o.faults;
    };
    expect(spec([])).toBeUndefined();
    expect(spec(['--loss', '0.01'])).toEqual({ spec: { loss: 0.01 }, seed: 1 });
    expect(spec(['--loss', '0.01', '--latency', '20', '--rate', '100', '--reorder', '0.01', '--seed', '9'])).toEqual({
      spec: { latencyMs: 20, loss: 0.01, reorder: 0.01, bitsPerSecond: 100e6 },
      seed: 9,
    });
    expect(() => upOptionsOf(['--seed', '3'], {})).toThrow(/--seed needs a link option/);
    expect(() => upOptionsOf(['--loss', '2'], {})).toThrow();
  });

  test.skipIf(skipTun)('--loss 0.01 --delay 5 --rate 100 --reorder 0.01: self-check passes, /status.json counts the faults', async () => {
    const ns = `tsipt-${process.pid}-upf`;
    const lines: string[] = [];
    let status: Promise<string> = Promise.resolve('');
    const o = upOptionsOf(['--netns', ns, '--addr', '10.88.252.2/30', '--duration', '2', '--loss', '0.01', '--delay', '5', '--rate', '100', '--reorder', '0.01'], {});
    if (o === 'help') throw new Error('help');
    const code = await up({
      ...o,
      log: (l) => {
        lines.push(l);
        if (/^serving for/.test(l)) status = execAsync(['ip', 'netns', 'exec', ns, 'curl', '-s', '-m', '1.5', 'http://10.88.252.2/status.json']).then((r) => r.stdout.toString());
      },
    });
    const out = lines.join('\n');
    expect(out).toMatch(/link faults \(user space, each way, seed 1\): loss 1%, delay 5 ms, rate 100 Mbit\/s, reorder 1%/);
    expect(out).toMatch(/self-check passed/);
    expect(code, out).toBe(0);
    const st = JSON.parse(await status) as { linkFaults: { out: { sent: number; stages: Record<string, unknown> }; in: { sent: number } } };
    expect(st.linkFaults.out.sent).toBeGreaterThan(100);
    expect(st.linkFaults.in.sent).toBeGreaterThan(100);
    expect(Object.keys(st.linkFaults.out.stages)).toEqual(['loss', 'rate-limit', 'reorder', 'latency']);
    expect(netnsExists(ns)).toBe(false);
  }, 100_000);

  test.skipIf(skipTun)('without privileges (uid 65534): falls back to the simulator and says why', () => {
    // setpriv drops to an unprivileged user, who must be able to read the
    // program. A checkout in a private directory (mktemp -d is 0700) is not
    // readable to it: then the sources are compiled into a world-readable
    // temporary directory and run from there with plain node.
    const drop = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
    const readable = spawnSync(drop[0]!, [...drop.slice(1), 'test', '-r', join(process.cwd(), MAIN)]).status === 0;
    let built: string | null = null;
    try {
      let r: { code: number | null; out: string };
      if (readable) r = tsip(['up', '--duration', '1'], drop);
      else {
        built = mkdtempSync(join(tmpdir(), 'tsip-unpriv-'));
        chmodSync(built, 0o755);
        execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', join(built, 'dist'), '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false']);
        writeFileSync(join(built, 'package.json'), JSON.stringify({ type: 'module' }));
        const c = spawnSync(drop[0]!, [...drop.slice(1), process.execPath, join(built, 'dist/cli/main.js'), 'up', '--duration', '1'], { encoding: 'utf8', timeout: 90_000, cwd: built });
        r = { code: c.status, out: `${c.stdout}${c.stderr}` };
      }
      expect(r.out).toMatch(/cannot use a TUN device here \(not root/);
      expect(r.out).toMatch(/self-check \(simulated client\): 1 MB over HTTP, sha256 matches/);
      expect(r.out).toMatch(/self-check \(simulated client\): 1 MB over HTTP over IPv6, sha256 matches/);
      expect(r.code, r.out).toBe(0);
    } finally {
      if (built !== null) rmSync(built, { recursive: true, force: true });
    }
  }, 100_000);

  test.skipIf(skipTun)('with only ip on PATH (no ping, no curl): the self-check passes, the kernel-side ping is "skipped: why"', () => {
    // A PATH holding ip (and sysctl, which tsip uses if present) and nothing else.
    const bin = mkdtempSync(join(tmpdir(), 'tsip-path-'));
    try {
      for (const tool of ['ip', 'sysctl']) {
        const where = execFileSync('sh', ['-c', `command -v ${tool} || true`], { encoding: 'utf8' }).trim();
        if (where !== '') symlinkSync(where, join(bin, tool));
      }
      const ns = `tsipt-${process.pid}-nt`;
      const r = tsip(['up', '--netns', ns, '--addr', '10.88.252.2/30', '--duration', '1'], [], { ...process.env, PATH: bin });
      expect(r.out).toMatch(/self-check: ping 10\.88\.252\.1 \(the kernel\) from tsip: ok/);
      expect(r.out).toMatch(/self-check: ping 10\.88\.252\.2 from the kernel: skipped: ping is not installed/);
      expect(r.out).toMatch(/self-check: GET http:\/\/10\.88\.252\.2\/status\.json: ok/);
      expect(r.out).toMatch(/self-check: 1 MB download, sha256 matches/);
      // IPv6 is on by default: the same four checks over IPv6, ping -6 skipped as well.
      expect(r.out).toMatch(/self-check: ping fd00:7473::1 \(the kernel\) from tsip: ok/);
      expect(r.out).toMatch(/self-check: ping -6 fd00:7473::2 from the kernel: skipped: ping is not installed/);
      expect(r.out).toMatch(/self-check: 1 MB download over IPv6, sha256 matches/);
      expect(r.out).toMatch(/\nself-check passed \(2 checks skipped\)\n/);
      expect(r.out).not.toMatch(/FAILED/);
      expect(r.out).toMatch(/serving for 1 s/);
      expect(r.code, r.out).toBe(0);
      expect(netnsExists(ns)).toBe(false);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  }, 100_000);
});

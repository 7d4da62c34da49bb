// Without the native addon (no prebuilt binary for the platform, no local
// build), everything but TUN devices works, and opening one says why and
// how to fix it. Each case runs in a child process: the addon is looked up
// once per process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;

function child(script: string, env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the TUN addon is optional', () => {
  test('missing addon: TunDevice.open throws a TunError naming the platform and the fix; tunAvailable says why; the simulator still runs', () => {
    const r = child(
      `import { TunDevice, TunError, tunAddonStatus, tunAvailable, Simulator, Pinger } from 'tsip';
       const out = {};
       try { TunDevice.open({ name: 'tsipnone0' }); out.opened = true; } catch (e) { out.error = e instanceof TunError; out.message = e.message; }
       out.status = tunAddonStatus();
       out.available = tunAvailable();
       const sim = new Simulator();
       const a = sim.addStack('a'), b = sim.addStack('b');
       sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2' });
       const p = new Pinger(a, a.icmp, { dst: '10.0.0.2', count: 2 });
       p.start();
       sim.runUntil(() => p.done, 10000);
       out.received = p.result.received;
       console.log(JSON.stringify(out));`,
      { TSIP_TUN_ADDON: '/nonexistent/tsip_tun.node' },
    );
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { error: boolean; message: string; status: { ok: boolean; platform: string }; available: { ok: boolean; why: string }; received: number };
    const platform = `${process.platform}-${process.arch}`;
    expect(out.error).toBe(true);
    expect(out.message).toContain(platform);
    expect(out.message).toContain('npm rebuild tsip');
    expect(out.message).toContain('/nonexistent/tsip_tun.node');
    expect(out.status.ok).toBe(false);
    expect(out.status.platform.startsWith(platform)).toBe(true);
    expect(out.available.ok).toBe(false);
    expect(out.received).toBe(2);
  });

  test('a file that is not an addon, or not this one: the load error is in the message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsip-addon-'));
    writeFileSync(join(dir, 'garbage.node'), 'not an ELF file');
    const script = `import { TunDevice } from 'tsip';
       try { TunDevice.open({ name: 'tsipnone0' }); } catch (e) { console.log(e.name + ': ' + e.message); }`;
    try {
      expect(child(script, { TSIP_TUN_ADDON: join(dir, 'garbage.node') }).stdout).toMatch(/^TunError: tsip's TUN addon is not available on linux-\S+: it failed to load \(.*garbage\.node: .*(invalid ELF header|file too short)/);
      expect(child(script, { TSIP_TUN_ADDON: `${root}package.json` }).stdout).toMatch(/it failed to load \(.*package\.json: not tsip's TUN addon/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the local build is found and loads', () => {
    const r = child(`import { tunAddonStatus } from 'tsip'; console.log(JSON.stringify(tunAddonStatus()));`, {});
    const status = JSON.parse(r.stdout) as { ok: boolean; path?: string; why?: string };
    expect(status.why).toBeUndefined();
    expect(status.ok).toBe(true);
    expect(status.path).toMatch(/(build\/Release|prebuilds\/linux-x64)\/tsip_tun(\.glibc)?\.node$/);
  });
});

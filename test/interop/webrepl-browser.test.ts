// WebREPL with a real browser: headless Chromium, run inside the test's own
// network namespace (`ip netns exec`, test/support/tun.ts), opens a page of
// our own (written to a temp dir, no third-party code) whose script uses the
// browser's WebSocket to log in to tsip's WebREPL, run a shell command and
// write what came back into the DOM, which the test reads over the DevTools
// protocol on a pipe (no debugging port).
// All traffic is between Chromium in the namespace and tsip on its TUN
// device; the namespace is created and deleted by the test; Chromium is
// bounded by a timeout and killed by its PID only.
//
// Skips when TUN is unavailable or chromium is not installed, unless
// REQUIRE_TUN=1 (.ci/run), where either is a failure
// (scripts/ensure-system-deps.sh installs chromium).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { webreplService } from '../../src/services/webrepl.ts';
import { REQUIRE_TUN, skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

const CHROMIUM = (() => {
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
})();
const skipBrowser = skipTun || (CHROMIUM === null && !REQUIRE_TUN);
const browserSkipReason = skipTun ? skipReason : 'WebREPL browser test skipped: chromium not installed (bash scripts/ensure-system-deps.sh installs it; REQUIRE_TUN=1 makes this a failure)';

/** The TCP PCBs of startServices' listeners (echo, discard, chargen, http). */
const SERVICE_PCBS = 4;

const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox', // root in CI
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-extensions',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// The page: parameters in the fragment (url, pw, cmd, want). It logs in as
// webrepl.html does (text frames, the password ending in "\r"), sends `cmd`
// after the banner, collects text until `want` shows up after the banner
// (or "Access denied"), closes, and only then sets the result and title.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>RUNNING</title></head>
<body><pre id="result"></pre><pre id="log"></pre>
<script>
(function () {
  var p = new URLSearchParams(location.hash.slice(1));
  var url = p.get('url'), pw = p.get('pw'), cmd = p.get('cmd'), want = p.get('want');
  var text = '', state = 'password', finished = false;
  function log(s) { document.getElementById('log').textContent += s + '\\n'; }
  function done(status) {
    if (finished) return;
    finished = true;
    document.getElementById('result').textContent = 'STATUS=' + status + '\\n' + text;
    document.title = 'DONE';
  }
  var ws;
  try { ws = new WebSocket(url); } catch (e) { done('throw ' + e); return; }
  ws.binaryType = 'arraybuffer';
  var closedStatus = null;
  ws.onopen = function () { log('open'); };
  ws.onerror = function () { log('error'); };
  ws.onclose = function (ev) { log('close ' + ev.code); done((closedStatus || 'closed-early') + ' code=' + ev.code); };
  ws.onmessage = function (ev) {
    if (typeof ev.data !== 'string') return;
    text += ev.data;
    if (state === 'password' && text.endsWith('Password: ')) {
      state = 'login';
      ws.send(pw + '\\r');
    } else if (state === 'login' && text.indexOf('WebREPL connected') >= 0) {
      state = 'command';
      ws.send(cmd + '\\r');
    } else if (state === 'login' && text.indexOf('Access denied') >= 0) {
      state = 'end';
      closedStatus = 'denied';
      ws.close(1000);
    } else if (state === 'command' && text.split('WebREPL connected')[1].indexOf(want) >= 0) {
      state = 'end';
      closedStatus = 'ok';
      ws.close(1000);
    }
  };
  setTimeout(function () { done('page-timeout'); }, 25000);
})();
</script></body></html>
`;

describe.skipIf(skipBrowser)('WebREPL in a real browser (headless Chromium in the test namespace, TUN)', () => {
  let env: TunEnv | null = null;
  let dir: string | null = null;
  afterEach(() => {
    const ns = env?.ns;
    env?.close();
    env = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  /**
   * Chromium, in the namespace, loads the page; over the DevTools protocol on
   * a pipe (--remote-debugging-pipe: fd 3 in, fd 4 out, NUL-separated JSON;
   * no port is opened) the test waits until the page's title is DONE and
   * reads its DOM, then closes the browser (SIGKILL to its PID if it hangs).
   * --dump-dom does not do: it dumps at the load event, before the socket
   * talks, and --virtual-time-budget fast-forwards the page's timers past it.
   */
  async function runPage(e: TunEnv, d: string, params: Record<string, string>): Promise<{ dom: string; result: string; stderr: string }> {
    expect(CHROMIUM, 'chromium is required (REQUIRE_TUN=1): bash scripts/ensure-system-deps.sh installs it').not.toBeNull();
    const page = path.join(d, 'page.html');
    fs.writeFileSync(page, PAGE);
    const profile = fs.mkdtempSync(path.join(d, 'profile-'));
    const url = `file://${page}#${new URLSearchParams(params).toString()}`;
    // `ip netns exec` execs chromium in place: the child's PID is the browser's.
    const p = spawn('ip', ['netns', 'exec', e.ns, CHROMIUM!, ...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<void>((res) => p.on('close', () => res()));
    const toBrowser = p.stdio[3] as Writable;
    const fromBrowser = p.stdio[4] as Readable;
    toBrowser.on('error', () => {});
    const pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
    let inbuf = '';
    fromBrowser.on('data', (b: Buffer) => {
      inbuf += b.toString('utf8');
      let i;
      while ((i = inbuf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(inbuf.slice(0, i)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
        inbuf = inbuf.slice(i + 1);
        const w = msg.id !== undefined ? pending.get(msg.id) : undefined;
        if (!w) continue;
        pending.delete(msg.id!);
        if (msg.error) w.reject(new Error(msg.error.message));
        else w.resolve(msg.result ?? {});
      }
    });
    let nextId = 1;
    const call = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
        setTimeout(() => {
          if (pending.delete(id)) reject(new Error(`${method}: no answer in 40 s; chromium stderr: ${stderr}`));
        }, 40_000); // a cold Chromium start on a loaded 2-core machine can take more than 15 s
      });
    const killer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    try {
      const { targetInfos } = (await call('Target.getTargets')) as { targetInfos: { targetId: string; type: string }[] };
      const target = targetInfos.find((t) => t.type === 'page');
      expect(target, JSON.stringify(targetInfos)).toBeDefined();
      const { sessionId } = (await call('Target.attachToTarget', { targetId: target!.targetId, flatten: true })) as { sessionId: string };
      await call('Page.navigate', { url }, sessionId);
      const evaluate = async (expression: string): Promise<unknown> =>
        ((await call('Runtime.evaluate', { expression, returnByValue: true }, sessionId)) as { result: { value?: unknown } }).result.value;
      const end = performance.now() + 30_000;
      while (performance.now() < end && (await evaluate('document.title')) !== 'DONE') await new Promise((r) => setTimeout(r, 100));
      const dom = String(await evaluate('document.documentElement.outerHTML'));
      const result = String(await evaluate("document.getElementById('result').textContent"));
      await call('Browser.close').catch(() => {});
      return { dom, result, stderr };
    } finally {
      toBrowser.end();
      if (p.exitCode === null && p.signalCode === null) {
        const slow = setTimeout(() => p.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(slow);
      }
      clearTimeout(killer);
    }
  }

  test('the page logs in (the browser\'s own WebSocket), runs a shell command and shows its output; nothing left behind', async () => {
    env = startTunEnv();
    const e = env;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsip-webrepl-browser-'));
    const svc = webreplService(e.stack, { port: 8266, password: 'pw-chromium', mode: 'shell' });
    try {
      const tcp = e.stack.tcp;
      const pool = e.stack.pool.stats;
      expect(tcp.pcbCount).toBe(SERVICE_PCBS + 1);
      const before = pool.bytesInUse;
      const r = await runPage(e, dir, { url: `ws://${e.tsip}:8266/`, pw: 'pw-chromium', cmd: 'echo hello-from-chromium', want: 'hello-from-chromium' });
      expect(r.dom, r.stderr).toContain('<title>DONE</title>');
      expect(r.result, r.dom).toMatch(/^STATUS=ok code=1000\n/);
      expect(r.result).toContain('Password: ');
      expect(r.result).toContain('WebREPL connected (tsip shell');
      expect(r.result.split('WebREPL connected')[1]).toContain('hello-from-chromium');
      expect(await waitFor(() => svc.sessions.size === 0 && svc.counters.active === 0, 5000), JSON.stringify(svc.counters)).toBe(true);
      expect(svc.counters).toMatchObject({ sessions: 1, logins: 1, badPasswords: 0, badHandshakes: 0, errors: 0 });
      const freed = () => tcp.active.size === 0 && tcp.pcbCount === SERVICE_PCBS + 1 + tcp.timeWait.size && pool.bytesInUse === before;
      expect(await waitFor(freed, 5000), `pcbs ${tcp.pcbCount} (timewait ${tcp.timeWait.size}), pool ${pool.bytesInUse} (before ${before})`).toBe(true);
    } finally {
      svc.stop();
    }
    expect(e.stack.tcp.pcbCount).toBe(SERVICE_PCBS + e.stack.tcp.timeWait.size);
  }, 90_000);

  test('a wrong password: the page sees "Access denied", no login', async () => {
    env = startTunEnv();
    const e = env;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsip-webrepl-browser-'));
    const svc = webreplService(e.stack, { port: 8266, password: 'pw-chromium', mode: 'shell', maxAttempts: 1 });
    try {
      const pool = e.stack.pool.stats;
      const before = pool.bytesInUse;
      const r = await runPage(e, dir, { url: `ws://${e.tsip}:8266/`, pw: 'not-the-password', cmd: 'echo never', want: 'never' });
      expect(r.dom, r.stderr).toContain('<title>DONE</title>');
      expect(r.result, r.dom).toMatch(/^STATUS=denied code=/);
      expect(r.result).toContain('Access denied');
      expect(r.result).not.toContain('WebREPL connected');
      expect(await waitFor(() => svc.sessions.size === 0 && svc.counters.active === 0, 5000), JSON.stringify(svc.counters)).toBe(true);
      expect(svc.counters).toMatchObject({ sessions: 1, logins: 0, badPasswords: 1 });
      const tcp = e.stack.tcp;
      expect(await waitFor(() => tcp.active.size === 0 && pool.bytesInUse === before, 5000), `pcbs ${tcp.pcbCount}, pool ${pool.bytesInUse} (before ${before})`).toBe(true);
    } finally {
      svc.stop();
    }
  }, 90_000);
});

if (skipBrowser) test.skip(browserSkipReason, () => {});

// Slow and silent clients against tsip's services over a real TUN device
// (issue 12), from the kernel side of a namespace each test creates and
// deletes (test/support/tun.ts): python3 clients that talk too slowly
// (slowloris) or never read. A load test (vitest project 'load'): it runs
// after the rest, with the machine to itself. Load is bounded in count
// (200, 2000 connections) and time (every wait has a limit); only
// processes started here are killed, by PID.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { startServices, type Services, type ServicesOptions } from '../../src/services/start.ts';
import { skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

// n connections to (host, port), each sending a request line and then one
// header line every `gap` seconds, never the blank line; each is watched
// for the server closing it. Prints JSON per connection: how it ended, after
// how many extra lines, and whether a 408 came first. Ends after `maxt` s.
const PY_SLOWLORIS = `
import json, selectors, socket, sys, time
host, port, n, gap, maxt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
t0 = time.monotonic()
sel = selectors.DefaultSelector()
conns = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b'GET / HTTP/1.1\\r\\n')
    s.setblocking(False)
    c = {'i': i, 's': s, 'lines': 0, 'data': b'', 'end': None, 'secs': None, 'at': time.monotonic()}
    conns.append(c)
    sel.register(s, selectors.EVENT_READ, c)
next_line = time.monotonic() + gap
live = n
def close(c, how):
    global live
    c['end'] = how
    c['secs'] = time.monotonic() - c['at']
    sel.unregister(c['s'])
    c['s'].close()
    live -= 1
while live and time.monotonic() - t0 < maxt:
    for key, _ in sel.select(timeout=max(0.0, min(0.5, next_line - time.monotonic()))):
        c = key.data
        try:
            d = c['s'].recv(4096)
        except ConnectionResetError:
            close(c, 'reset')
            continue
        if d:
            c['data'] += d
        else:
            close(c, 'eof')
    if time.monotonic() >= next_line:
        for c in conns:
            if c['end'] is None:
                try:
                    c['s'].send(b'X-Slow-%d: aaaaaaaaaa\\r\\n' % c['lines'])
                    c['lines'] += 1
                except OSError:
                    close(c, 'send-error')
        next_line += gap
print(json.dumps([{'end': c['end'], 'lines': c['lines'], 'secs': c['secs'], 'got408': c['data'].startswith(b'HTTP/1.1 408')} for c in conns]))
`;

// n connections with a small receive buffer, opened all at once
// (non-blocking), each asking for 100 MB once connected and never reading.
// Prints "ready CONNECTED FAILED PENDING" when all are settled or after
// `conns` s, then sleeps (at most `maxt` s) until the test kills it.
const PY_NOREAD = `
import resource, selectors, socket, sys, time
host, port, n, conns, maxt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 64
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
req = b'GET /bytes/100000000 HTTP/1.1\\r\\nHost: tsip\\r\\n\\r\\n'
sel = selectors.DefaultSelector()
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    s.connect_ex((host, port))
    sel.register(s, selectors.EVENT_WRITE)
keep, failed = [], 0
deadline = time.monotonic() + conns
while len(keep) + failed < n and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=0.5):
        s = key.fileobj
        sel.unregister(s)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
            failed += 1
            s.close()
            continue
        try:
            s.send(req)
            keep.append(s)
        except OSError:
            failed += 1
            s.close()
print('ready', len(keep), failed, n - len(keep) - failed, flush=True)
time.sleep(maxt)
`;

let dir = '';
let python = 'python3';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsip-slow-'));
  writeFileSync(join(dir, 'slowloris.py'), PY_SLOWLORIS);
  writeFileSync(join(dir, 'noread.py'), PY_NOREAD);
  // The interpreter itself (not a shim that may fork), so its PID is the one to kill.
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim() !== '') python = r.stdout.trim();
});
afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

interface StatusPage {
  pool: { bytesInUse: number; reserveAllocs: number; rxAllocFailures: number };
  connectionCount: number;
  services: Record<string, Record<string, number>>;
}

/** GET /status.json with curl from the namespace: the page, or why not. */
async function fetchStatus(env: TunEnv, timeoutS = 10): Promise<StatusPage | string> {
  const r = await env.exec(['curl', '-sSf', '-m', String(timeoutS), `http://${env.tsip}/status.json`], { timeoutMs: (timeoutS + 5) * 1000 });
  if (r.code !== 0) return `curl exit ${r.code}: ${r.stderr.trim()} after ${Math.round(r.ms)} ms`;
  try {
    return JSON.parse(r.stdout.toString()) as StatusPage;
  } catch {
    return `not JSON: ${r.stdout.subarray(0, 200).toString()}`;
  }
}

async function curlStatus(env: TunEnv, timeoutS = 10): Promise<StatusPage | null> {
  const r = await fetchStatus(env, timeoutS);
  return typeof r === 'string' ? null : r;
}

/**
 * ping answered: at least one of 3 echo requests (a burst of 2000 SYNs
 * overflows the kernel's own input backlog, which may drop a packet on
 * either side of tsip; tsip being unreachable means none come back).
 */
async function pingAnswered(env: TunEnv): Promise<boolean> {
  const r = await env.exec(['ping', '-c', '3', '-i', '0.5', '-W', '5', env.tsip], { timeoutMs: 20_000 });
  return r.code === 0;
}

/** A process in the namespace whose PID is ours to kill; resolves its output at exit. */
function startInNs(env: TunEnv, argv: string[]): { child: ChildProcess; out: () => string; exited: Promise<void> } {
  const child = spawn('ip', ['netns', 'exec', env.ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return { child, out: () => out, exited };
}

/** Connections (listeners are not among them) other than TIME_WAIT, which holds no data. */
function busyPcbs(env: TunEnv): number {
  let n = 0;
  for (const p of env.stack.tcp.connections()) if (p.stateName !== 'TIME_WAIT') n++;
  return n;
}

/** What is still held, for failure messages. */
function leftovers(env: TunEnv): string {
  const states: Record<string, number> = {};
  for (const p of env.stack.tcp.connections()) states[p.stateName] = (states[p.stateName] ?? 0) + 1;
  return `pcbs ${JSON.stringify(states)}, pool ${env.stack.pool.stats.bytesInUse} bytes in ${env.stack.pool.stats.pbufsInUse} pbufs`;
}

describe.skipIf(skipTun)('slow and silent clients over TUN', () => {
  let env: TunEnv | null = null;
  let services: Services | null = null;
  let client: ChildProcess | null = null;
  if (skipTun) console.warn(skipReason);

  afterEach(async () => {
    if (client !== null && client.exitCode === null && client.signalCode === null) client.kill('SIGKILL');
    client = null;
    services?.stop();
    services = null;
    if (env) {
      const ns = env.ns;
      env.close();
      expect(netnsExists(ns)).toBe(false);
    }
    env = null;
  });

  /** The env with services started by this test (options given), the default ones stopped. */
  function withServices(o: ServicesOptions): TunEnv {
    const e = startTunEnv();
    e.services.stop();
    services = startServices(e.stack, o);
    return e;
  }

  test('slowloris: 200 connections sending one header line every 20 s are all reset by the 10 s head deadline, counted', async () => {
    env = startTunEnv();
    const e = env;
    const base = e.stack.pool.stats.bytesInUse;
    const r = await e.exec([python, join(dir, 'slowloris.py'), e.tsip, '80', '200', '20', '60'], { timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    const conns = JSON.parse(r.stdout.toString()) as { end: string | null; lines: number; secs: number | null; got408: boolean }[];
    expect(conns).toHaveLength(200);
    // Every one closed by tsip before its first extra line (due 20 s in): the head deadline, not a per-line one.
    expect(conns.filter((c) => c.end === null)).toEqual([]);
    expect(conns.filter((c) => c.lines > 0)).toEqual([]);
    expect(conns.filter((c) => c.end === 'send-error')).toEqual([]);
    const http = e.services.list.find((s) => s.name === 'http')!.counters;
    expect(http.headerTimeouts).toBe(200);
    expect(http.errors).toBe(0);
    expect(http.refused + http.shed).toBe(0);
    // Most see the 408 before the reset (a reset may overtake unread data in the kernel).
    expect(conns.filter((c) => c.got408).length).toBeGreaterThan(100);
    expect(await waitFor(() => busyPcbs(e) === 0 && e.stack.pool.stats.bytesInUse === base, 10_000), leftovers(e)).toBe(true);
    expect(e.dev.counters.rxNoMem).toBe(0);
  }, 120_000);

  /**
   * 2000 clients ask for /bytes/100000000 and never read. From the first
   * SYN until well after all are connected, tsip answers ping and a fresh
   * curl of /status.json every time; once the client process is killed,
   * tsip's pool is back to its baseline within a minute.
   */
  async function noReadFlood(e: TunEnv, label: string): Promise<void> {
    const baseline = await curlStatus(e);
    expect(baseline, 'status page before the flood').not.toBeNull();
    const flood = startInNs(e, [python, join(dir, 'noread.py'), e.tsip, '80', '2000', '60', '300']);
    const proc = flood.child;
    client = proc;
    const ready = (): boolean => /ready \d+ \d+ \d+/.test(flood.out());
    const httpCounters = (): string => JSON.stringify((services ?? e.services).list.find((x) => x.name === 'http')!.counters);
    const failures: string[] = [];
    let peak = 0;
    let rounds = 0;
    let afterReady = 0;
    const t1 = performance.now();
    // Reachability while the clients connect and then hold their connections
    // (bounded: 8 rounds after all are connected, at most 120 s).
    while (afterReady < 8 && performance.now() - t1 < 120_000 && proc.exitCode === null) {
      if (ready()) afterReady++;
      if (!(await pingAnswered(e))) failures.push(`round ${rounds}: ping not answered`);
      const st = await fetchStatus(e, 20);
      if (typeof st === 'string') failures.push(`round ${rounds}: ${st}; http ${httpCounters()}; sockets ${JSON.stringify(e.stack.sockets.counters)}`);
      else peak = Math.max(peak, st.pool.bytesInUse);
      rounds++;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const diag = (): string => `peak pool ${peak} bytes; clients: ${flood.out().trim()}; http ${httpCounters()}; sockets ${JSON.stringify(e.stack.sockets.counters)}; tun ${JSON.stringify(e.dev.counters)}; pool ${JSON.stringify(e.stack.pool.stats)}; ${leftovers(e)}`;
    if (!ready()) failures.push(`the clients never finished connecting (${diag()})`);
    if (proc.exitCode !== null) failures.push(`the client exited during the checks: ${flood.out()}`);
    // The clients vanish: the kernel resets their connections.
    proc.kill('SIGKILL');
    await flood.exited;
    const t0 = performance.now();
    let back = false;
    let last: StatusPage | null = null;
    while (performance.now() - t0 < 60_000) {
      last = await curlStatus(e);
      // The page counts its own connection; nothing else may hold memory.
      if (last !== null && last.pool.bytesInUse <= baseline!.pool.bytesInUse) {
        back = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
    console.info(`${label}: ${diag()}; back to baseline ${back ? `after ${Math.round(performance.now() - t0)} ms` : 'NOT within 60 s'}`);
    if (!back) failures.push(`pool not back to baseline within a minute of the clients going: last ${JSON.stringify(last?.pool)}; ${leftovers(e)}`);
    expect(failures, `${label}: ${diag()}`).toEqual([]);
    expect(await waitFor(() => busyPcbs(e) === 0 && e.stack.pool.stats.bytesInUse === 0, 10_000), leftovers(e)).toBe(true);
  }

  test('2000 clients that never read (default services): ping and curl answered throughout, memory back within a minute of the clients going', async () => {
    env = startTunEnv();
    await noReadFlood(env, 'default services');
    const http = env.services.list.find((s) => s.name === 'http')!.counters;
    expect(http.accepted).toBeGreaterThan(1000);
    expect(env.dev.counters.rxNoMem).toBe(0);
  }, 300_000);

  test('2000 clients that never read, services unbounded (no cap, no write timeout): the stack alone keeps tsip reachable and frees everything', async () => {
    env = withServices({ http: { maxConnections: 0, writeTimeoutMs: 0 } });
    await noReadFlood(env, 'unbounded services');
    expect(env.dev.counters.rxNoMem).toBe(0);
  }, 300_000);
});

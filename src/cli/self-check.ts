// The self-check of `tsip up`: is tsip reachable from the kernel side of its
// TUN device? It needs no tool beyond iproute2 (which made the namespace):
//   1. ICMP from tsip: tsip's own Pinger pings the kernel's address (the
//      kernel answers), so echo requests and replies cross the TUN both ways;
//   2. ICMP from the kernel with ping(8), when it is installed; without it
//      this check is reported as "skipped: ..." and is not a failure;
//   3. HTTP: a Node child run inside the namespace (the Node running this,
//      so it is always there) fetches /status.json ...
//   4. ... and a 1 MB /bytes/1000000, whose sha256 it compares.
// With IPv6 on the device the four checks run again over IPv6 (ICMPv6,
// ping -6, http://[addr]/).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { Pinger } from '../ip/ping.ts';
import { generatedBody } from '../services/index.ts';
import type { Stack } from '../stack/stack.ts';
import { parseIp } from '../wire/ipaddr.ts';
import type { Progress } from './progress.ts';

export type CheckStatus = 'ok' | 'FAILED' | 'skipped';

export interface CheckOutcome {
  /** Every check passed or was skipped. */
  ok: boolean;
  skipped: number;
  failed: number;
}

export interface SelfCheckOptions {
  stack: Stack;
  /** tsip's address and the kernel's. */
  tsip: string;
  kernel: string;
  /** The IPv6 pair, when the device carries IPv6 too. */
  tsip6?: string;
  kernel6?: string;
  /** Namespace of the kernel side; null = the current one. */
  netns: string | null;
  log: (line: string) => void;
  progress: Progress;
}

/** Run a command without blocking the event loop (the stack must keep answering). */
export function runAsync(argv: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    p.on('error', (e) => {
      clearTimeout(t);
      resolve({ code: -1, stdout, stderr: String(e) });
    });
  });
}

/** The executable `name` on PATH, or null (no `which` binary needed). */
export function findOnPath(name: string, pathVar = process.env.PATH ?? ''): string | null {
  for (const dir of pathVar.split(path.delimiter)) {
    if (dir === '') continue;
    const full = path.join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The HTTP probe the Node child runs: GET argv[1] on a fresh connection,
 * print one JSON line { status, bytes, sha256, text } (text: with argv[2]
 * = "text", the first MiB of the body as UTF-8); exit 1 with the error on
 * stderr.
 */
const HTTP_PROBE = `
const http = require('node:http');
const crypto = require('node:crypto');
const url = process.argv[1];
const keep = process.argv[2] === 'text' ? 1048576 : 0;
const hash = crypto.createHash('sha256');
let bytes = 0;
const head = [];
const req = http.get(url, { agent: false, timeout: 15000 }, (res) => {
  res.on('data', (d) => { hash.update(d); if (bytes < keep) head.push(d); bytes += d.length; });
  res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, bytes, sha256: hash.digest('hex'), text: Buffer.concat(head).subarray(0, keep).toString('utf8') }) + '\\n'));
  res.on('error', (e) => { process.stderr.write(String(e.message)); process.exitCode = 1; });
});
req.on('timeout', () => req.destroy(new Error('timed out after 15 s')));
req.on('error', (e) => { process.stderr.write(String(e.message)); process.exitCode = 1; });
`;

interface ProbeResult {
  status: number;
  bytes: number;
  sha256: string;
  text: string;
}

/** GET `url` from a Node child in the namespace. */
async function httpProbe(inNs: string[], url: string, keepText: boolean): Promise<ProbeResult | string> {
  const r = await runAsync([...inNs, process.execPath, '-e', HTTP_PROBE, url, keepText ? 'text' : 'hash'], 30_000);
  if (r.code !== 0) return `exit ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}`;
  try {
    return JSON.parse(r.stdout) as ProbeResult;
  } catch {
    return `unreadable output: ${r.stdout.slice(0, 80)}`;
  }
}

/** Ping `dst` from tsip's own stack; resolves with the result line. */
function pingFromTsip(stack: Stack, dst: string): Promise<{ status: CheckStatus; detail: string }> {
  const count = 3;
  return new Promise((resolve) => {
    const addr = parseIp(dst)!;
    const pinger = new Pinger(stack, typeof addr === 'number' ? stack.icmp : stack.icmp6, { dst: addr, count, intervalMs: 200, timeoutMs: 2000, ident: 0x7473 });
    pinger.start((r) => {
      const avg = r.rttsMs.length > 0 ? r.rttsMs.reduce((a, b) => a + b, 0) / r.rttsMs.length : 0;
      const detail = `${r.sent} sent, ${r.received} received${r.received > 0 ? `, rtt avg ${avg.toFixed(3)} ms` : ''}`;
      resolve({ status: r.received > 0 ? 'ok' : 'FAILED', detail });
    });
  });
}

/** Run the checks, one line each, then the overall line ("self-check passed" / "self-check FAILED"). */
export async function selfCheck(o: SelfCheckOptions): Promise<CheckOutcome> {
  const inNs = o.netns !== null ? ['ip', 'netns', 'exec', o.netns] : [];
  const counts = { ok: 0, FAILED: 0, skipped: 0 };
  const families: { tsip: string; kernel: string; six: boolean }[] = [{ tsip: o.tsip, kernel: o.kernel, six: false }];
  if (o.tsip6 !== undefined && o.kernel6 !== undefined) families.push({ tsip: o.tsip6, kernel: o.kernel6, six: true });
  const total = 4 * families.length;
  let step = 0;
  const begin = (what: string): void => o.progress.update(`self-check ${++step}/${total}: ${what} …`, true);
  const report = (what: string, status: CheckStatus, detail: string): void => {
    counts[status]++;
    o.progress.clear();
    o.log(`self-check: ${what}: ${status === 'skipped' ? `skipped: ${detail}` : `${status} (${detail})`}`);
  };

  for (const f of families) {
    const host = f.six ? `[${f.tsip}]` : f.tsip;
    const fromTsip = `ping ${f.kernel} (the kernel) from tsip`;
    begin(fromTsip);
    const p1 = await pingFromTsip(o.stack, f.kernel);
    report(fromTsip, p1.status, p1.detail);

    const fromKernel = `ping${f.six ? ' -6' : ''} ${f.tsip} from the kernel`;
    begin(fromKernel);
    if (findOnPath('ping') === null) {
      report(fromKernel, 'skipped', 'ping is not installed (Debian: apt-get install iputils-ping); ICMP was checked from tsip above');
    } else {
      const ping = await runAsync([...inNs, 'ping', ...(f.six ? ['-6'] : []), '-c', '3', '-i', '0.2', '-W', '2', f.tsip]);
      const line = ping.stdout.split('\n').find((l) => /packets transmitted/.test(l)) ?? ping.stderr.trim();
      report(fromKernel, ping.code === 0 ? 'ok' : 'FAILED', line);
    }

    const statusUrl = `http://${host}/status.json`;
    begin(`GET ${statusUrl}`);
    const st = await httpProbe(inNs, statusUrl, true);
    if (typeof st === 'string') report(`GET ${statusUrl}`, 'FAILED', st);
    else {
      let pcbsOk = false;
      try {
        pcbsOk = typeof (JSON.parse(st.text) as { tcp?: { pcbs?: unknown } }).tcp?.pcbs === 'number';
      } catch {
        pcbsOk = false;
      }
      report(`GET ${statusUrl}`, st.status === 200 && pcbsOk ? 'ok' : 'FAILED', `HTTP ${st.status}, ${st.bytes} bytes of ${pcbsOk ? 'JSON' : 'unexpected content'}`);
    }

    const size = 1_000_000;
    const what = `1 MB download${f.six ? ' over IPv6' : ''}`;
    begin(`${what} from http://${host}/bytes/${size}`);
    const want = createHash('sha256').update(generatedBody(size)).digest('hex');
    const dl = await httpProbe(inNs, `http://${host}/bytes/${size}`, false);
    o.progress.clear();
    if (typeof dl === 'string') {
      counts.FAILED++;
      o.log(`self-check: ${what}, sha256 MISMATCH (${dl})`);
    } else if (dl.status === 200 && dl.bytes === size && dl.sha256 === want) {
      counts.ok++;
      o.log(`self-check: ${what}, sha256 matches (${dl.bytes} bytes)`);
    } else {
      counts.FAILED++;
      o.log(`self-check: ${what}, sha256 MISMATCH (HTTP ${dl.status}, ${dl.bytes} bytes, ${dl.sha256.slice(0, 16)} vs ${want.slice(0, 16)})`);
    }
  }

  const ok = counts.FAILED === 0;
  o.log(ok ? `self-check passed${counts.skipped > 0 ? ` (${counts.skipped} check${counts.skipped > 1 ? 's' : ''} skipped)` : ''}` : `self-check FAILED (${counts.FAILED} of ${total} checks)`);
  return { ok, skipped: counts.skipped, failed: counts.FAILED };
}

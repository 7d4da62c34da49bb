// Interop test support: tsip on a real TUN device against the Linux kernel.
//
// Network safety: every test gets a network namespace of its own, created
// here and deleted here (also when the test fails); the TUN device is
// created inside it (setns in the addon) and all traffic stays between the
// kernel side of that device and tsip. Nothing touches the host's network.
//
// Skips with a clear message when not root or without /dev/net/tun, unless
// REQUIRE_TUN=1 (set by .ci/run), which turns that into a failure.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { TunDevice, type TunOptions } from '../../src/netif/tun.ts';
import { configureTunLink, createNetns, deleteNetns, netnsExists, tunAvailable } from '../../src/netif/tun-ip.ts';
import { BODY_BLOCK_SIZE, bodyBlock } from '../../src/services/http.ts';
import { startServices, type Services } from '../../src/services/index.ts';
import { Stack, type StackOptions } from '../../src/stack/stack.ts';
import { RealClock } from '../../src/time/real-clock.ts';

export const TUN = tunAvailable();
export const REQUIRE_TUN = process.env.REQUIRE_TUN === '1';

/** Use as `describe.skipIf(skipTun)(...)`; with REQUIRE_TUN=1 missing TUN fails instead. */
export const skipTun = !TUN.ok && !REQUIRE_TUN;
export const skipReason = `interop tests skipped: ${TUN.why} (set REQUIRE_TUN=1 to make this a failure)`;

let counter = 0;

/**
 * A second run of the TUN tests in another receive mode:
 * TSIP_TEST_TUN_RX=thread (the receive thread reads every packet),
 * inline (no receive thread: uv_poll on the JavaScript thread); unset: the
 * device's default (the thread engages under load). A test's own options win.
 */
const RX_MODE: Pick<TunOptions, 'rxThread' | 'rxThreadEngage'> =
  process.env.TSIP_TEST_TUN_RX === 'thread' ? { rxThread: true, rxThreadEngage: 0 } : process.env.TSIP_TEST_TUN_RX === 'inline' ? { rxThread: false } : {};

export interface TunEnv {
  ns: string;
  stack: Stack;
  dev: TunDevice;
  clock: RealClock;
  services: Services;
  /** tsip's address and the kernel's. */
  tsip: string;
  kernel: string;
  /** With `ipv6: true`: tsip's IPv6 address and the kernel's (fd00:88:N::2 and ::1, /64); else undefined. */
  tsip6?: string;
  kernel6?: string;
  /** Run a command inside the namespace without blocking the event loop (the stack keeps serving). */
  exec(argv: string[], o?: { input?: Uint8Array | string; timeoutMs?: number }): Promise<ExecResult>;
  /** Run a shell command line inside the namespace. */
  sh(script: string, o?: { input?: Uint8Array | string; timeoutMs?: number }): Promise<ExecResult>;
  /** Close everything and delete the namespace. */
  close(): void;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  ms: number;
}

/** Spawn `argv` (asynchronously) and collect its output. */
export function execAsync(argv: string[], o: { input?: Uint8Array | string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err, ms: performance.now() - t0 });
    });
    p.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, signal: null, stdout: Buffer.concat(out), stderr: String(e), ms: performance.now() - t0 });
    });
    p.stdin.on('error', () => {
      /* the command may exit before reading everything */
    });
    if (o.input !== undefined) p.stdin.end(o.input);
    else p.stdin.end();
  });
}

/**
 * tsip on a TUN device in a fresh namespace, services running, the kernel
 * side configured. Subnet 10.88.N.0/30 (or /prefixLength: a wider one
 * leaves on-link addresses nobody owns) with N unique per test in this
 * process; the namespace name carries the pid so parallel workers never clash.
 * With `ipv6: true` the link also carries IPv6: tsip fd00:88:N::2/64, the
 * kernel fd00:88:N::1/64 (DAD and router solicitations off); without it
 * IPv6 is off on the device, as before.
 */
export function startTunEnv(o: { offload?: boolean; mtu?: number; prefixLength?: number; stack?: StackOptions; filter?: TunOptions['filter']; shaper?: (clock: RealClock) => NonNullable<TunOptions['shaper']>; ipv6?: boolean; tun?: Pick<TunOptions, 'txThread' | 'txRingBytes' | 'txSpinUs' | 'txPublishBytes' | 'txInlineRecords' | 'txSegmentation' | 'rxThread' | 'rxRingBytes' | 'rxThreadEngage' | 'rxThreadIdleWakes' | 'rxCoalesce' | 'busyPollUs' | 'batch' | 'batchBytes' | 'tap'> } = {}): TunEnv {
  const n = ++counter % 250;
  const prefix = o.prefixLength ?? 30;
  const ns = `tsipt-${process.pid}-${n}`;
  const tsip = `10.88.${n}.2`;
  const kernel = `10.88.${n}.1`;
  const tsip6 = o.ipv6 ? `fd00:88:${n}::2` : undefined;
  const kernel6 = o.ipv6 ? `fd00:88:${n}::1` : undefined;
  if (netnsExists(ns)) deleteNetns(ns);
  createNetns(ns);
  const clock = new RealClock();
  let stack: Stack | null = null;
  let dev: TunDevice | null = null;
  try {
    stack = new Stack({ name: 'tsip', clock, rng: n, ...o.stack });
    dev = TunDevice.open({ name: 'tsip0', netns: ns, offload: o.offload ?? false, ...(o.filter ? { filter: o.filter } : {}), ...(o.shaper ? { shaper: o.shaper(clock) } : {}), ...RX_MODE, ...o.tun });
    dev.attach(stack, { addr: tsip, prefixLength: prefix, ...(tsip6 !== undefined ? { addr6: tsip6, prefixLength6: 64 } : {}), mtu: o.mtu ?? 1500 });
    configureTunLink({ dev: dev.name, address: `${kernel}/${prefix}`, ...(kernel6 !== undefined ? { address6: `${kernel6}/64` } : {}), mtu: o.mtu ?? 1500, netns: ns });
  } catch (e) {
    dev?.close();
    stack?.close();
    clock.dispose();
    deleteNetns(ns);
    throw e;
  }
  const services = startServices(stack);
  const s = stack;
  const d = dev;
  let closed = false;
  return {
    ns,
    stack: s,
    dev: d,
    clock,
    services,
    tsip,
    kernel,
    ...(tsip6 !== undefined ? { tsip6, kernel6 } : {}),
    exec: (argv, eo) => execAsync(['ip', 'netns', 'exec', ns, ...argv], eo),
    sh: (script, eo) => execAsync(['ip', 'netns', 'exec', ns, 'sh', '-c', script], eo),
    close() {
      if (closed) return;
      closed = true;
      services.stop();
      d.close();
      s.close();
      clock.dispose();
      deleteNetns(ns);
    },
  };
}

/** sha256 of the first `n` bytes tsip's HTTP server generates for /bytes/n. */
export function generatedSha256(n: number): string {
  const block = bodyBlock();
  const h = createHash('sha256');
  for (let off = 0; off < n; off += BODY_BLOCK_SIZE) h.update(block.subarray(0, Math.min(BODY_BLOCK_SIZE, n - off)));
  return h.digest('hex');
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Wait (real time) until `cond` holds or `ms` pass. */
export async function waitFor(cond: () => boolean, ms: number, stepMs = 20): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}

/**
 * tcpdump capturing on `dev` in the namespace until stop() (SIGINT to that
 * process, by its PID). tcpdump rather than tshark for the capture itself:
 * dumpcap says "Capturing on" before the capture is live (the first packets
 * went missing), while tcpdump says "listening on" after pcap_activate.
 * --immediate-mode: no packets held back in a half-filled ring block when
 * it stops; a 2 KiB snap length (offload off: packets are at most the MTU)
 * keeps the 64 MiB ring at many frames, so it does not drop.
 */
export function startCapture(ns: string, dev: string, file: string): { ready: Promise<void>; stop(): Promise<string> } {
  // `ip netns exec` execs the command in place: the child's PID is tcpdump's.
  const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '--immediate-mode', '-U', '-n', '-i', dev, '-B', '65536', '-s', '2048', '-w', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  let readyResolve: () => void = () => {};
  let readyReject: (e: Error) => void = () => {};
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  const startTimer = setTimeout(() => readyReject(new Error(`tcpdump did not start: ${err}`)), 10_000);
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    if (/listening on/.test(err)) {
      clearTimeout(startTimer);
      readyResolve();
    }
  });
  const exited = new Promise<void>((res) =>
    p.on('close', () => {
      clearTimeout(startTimer);
      readyReject(new Error(`tcpdump exited: ${err}`));
      res();
    }),
  );
  return {
    ready,
    async stop() {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGINT');
      const killer = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      return err;
    },
  };
}

// Namespaces, veth pairs, TUN set-ups and child processes for the macro
// benchmarks (bench/tun-*.bench.ts), with clean-up that always runs.
//
// Network safety: everything a benchmark creates lives in network
// namespaces named `tsipb-<pid>-<tag>`, created here and deleted by
// BenchNet.cleanup() — from a finally block, and from SIGINT/SIGTERM/exit
// handlers for Ctrl-C. Load only ever targets addresses inside them. Child
// processes are tracked by PID and only those are killed.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TunDevice } from '../src/netif/tun.ts';
import { configureTunLink, createNetns, deleteNetns, ip, netnsExists, run, tunAvailable } from '../src/netif/tun-ip.ts';
import { startServices, type Services } from '../src/services/index.ts';
import { Stack } from '../src/stack/stack.ts';
import { RealClock } from '../src/time/real-clock.ts';

export { tunAvailable };

/** Why the TUN benchmarks cannot run here, or null if they can. */
export function benchSkipReason(): string | null {
  const t = tunAvailable();
  if (!t.ok) return t.why;
  try {
    resolvePython();
  } catch {
    return 'python3 is not installed (the kernel-side load generator)';
  }
  return null;
}

let pythonPath: string | null = null;

/** The real python3 binary (not a pyenv shim: its start-up costs ~100 ms). */
export function resolvePython(): string {
  if (pythonPath === null) pythonPath = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  return pythonPath;
}

/** CPU seconds (user+system) a live process has used so far, from /proc (10 ms resolution); NaN if unreadable. */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, utime 14, stime 15 → indexes 11, 12 here.
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds this (Node) process has used: user + system. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export interface Child {
  pid: number;
  proc: ChildProcess;
  /** Resolves when the process has exited. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** The next stdout line (waits up to `ms`); rejects on timeout or exit. */
  line(ms: number): Promise<string>;
  /** Kill it (by PID) if it is still running. */
  kill(): void;
}

/** Everything one benchmark run created, and the code that removes it. */
export class BenchNet {
  private readonly namespaces: string[] = [];
  private readonly children = new Set<Child>();
  private readonly closers: (() => void)[] = [];
  private cleaned = false;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  private readonly onExit = (): void => this.cleanup();

  constructor(readonly tag: string) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('exit', this.onExit);
  }

  /** `tsipb-<pid>-<tag><suffix>`: namespace names carry the benchmark's pid. */
  nsName(suffix: string): string {
    return `tsipb-${process.pid}-${this.tag}${suffix}`;
  }

  /** Create (and track) a namespace with loopback up. */
  netns(suffix: string): string {
    const ns = this.nsName(suffix);
    if (netnsExists(ns)) deleteNetns(ns);
    this.namespaces.push(ns);
    createNetns(ns);
    return ns;
  }

  /** Run `close` at clean-up (before the namespaces are deleted). */
  onCleanup(close: () => void): void {
    this.closers.push(close);
  }

  /** Spawn `argv` inside `ns` (ip netns exec execs in place: the PID is the tool's). */
  spawnIn(ns: string, argv: string[]): Child {
    const proc = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let buf = '';
    const lines: string[] = [];
    const waiters: { ok: (l: string) => void; fail: (e: Error) => void }[] = [];
    let exited = false;
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = waiters.shift();
        if (w) w.ok(l);
        else lines.push(l);
      }
    });
    proc.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
      proc.on('close', (code, signal) => {
        exited = true;
        for (const w of waiters.splice(0)) w.fail(new Error(`${argv[0]} exited (${code ?? signal}) ${stderr.trim()}`));
        this.children.delete(child);
        resolve({ code, signal, stderr });
      });
      proc.on('error', (e) => {
        exited = true;
        stderr += String(e);
      });
    });
    const child: Child = {
      pid: proc.pid ?? -1,
      proc,
      done,
      line: (ms) => {
        const l = lines.shift();
        if (l !== undefined) return Promise.resolve(l);
        if (exited) return Promise.reject(new Error(`${argv[0]} exited: ${stderr.trim()}`));
        return new Promise((ok, fail) => {
          const w = {
            ok: (x: string) => {
              clearTimeout(t);
              ok(x);
            },
            fail: (e: Error) => {
              clearTimeout(t);
              fail(e);
            },
          };
          const t = setTimeout(() => {
            const k = waiters.indexOf(w);
            if (k >= 0) waiters.splice(k, 1);
            fail(new Error(`no output from ${argv[0]} within ${ms} ms ${stderr.trim()}`));
          }, ms);
          waiters.push(w);
        });
      },
      kill: () => {
        if (!exited && child.pid > 0) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      },
    };
    this.children.add(child);
    return child;
  }

  /** Spawn python3 code (passed with -c) inside `ns`. */
  python(ns: string, code: string, args: (string | number)[]): Child {
    return this.spawnIn(ns, [resolvePython(), '-c', code, ...args.map(String)]);
  }

  /** Kill our children (by PID), run the closers, delete our namespaces. Idempotent; never throws. */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
    for (const c of this.children) c.kill();
    for (const close of this.closers.splice(0).reverse()) {
      try {
        close();
      } catch {
        /* keep cleaning */
      }
    }
    for (const ns of this.namespaces.splice(0)) {
      try {
        deleteNetns(ns);
      } catch (e) {
        console.error(`bench: could not delete namespace ${ns}: ${String(e)}`);
      }
    }
  }
}

export interface TunSetup {
  ns: string;
  stack: Stack;
  dev: TunDevice;
  services: Services;
  tsip: string;
  kernel: string;
  /** The IPv6 pair on the same device (fd00:89:N::2 and ::1, /64). */
  tsip6: string;
  kernel6: string;
}

/**
 * tsip on a TUN device in a namespace of its own (tsip at 10.89.N.2, the
 * kernel at 10.89.N.1, /30; and fd00:89:N::2 / ::1 over IPv6), the
 * built-in services running.
 */
export function tunSetup(net: BenchNet, suffix: string, subnet: number, o: { offload: boolean; mtu?: number }): TunSetup {
  const ns = net.netns(suffix);
  const tsip = `10.89.${subnet}.2`;
  const kernel = `10.89.${subnet}.1`;
  const tsip6 = `fd00:89:${subnet}::2`;
  const kernel6 = `fd00:89:${subnet}::1`;
  const clock = new RealClock();
  const stack = new Stack({ name: 'tsip', clock, rng: subnet });
  net.onCleanup(() => {
    stack.close();
    clock.dispose();
  });
  const dev = TunDevice.open({ name: 'tsip0', netns: ns, offload: o.offload });
  net.onCleanup(() => dev.close());
  dev.attach(stack, { addr: tsip, prefixLength: 30, addr6: tsip6, prefixLength6: 64, mtu: o.mtu ?? 1500 });
  configureTunLink({ dev: dev.name, address: `${kernel}/30`, address6: `${kernel6}/64`, mtu: o.mtu ?? 1500, netns: ns });
  const services = startServices(stack);
  net.onCleanup(() => services.stop());
  return { ns, stack, dev, services, tsip, kernel, tsip6, kernel6 };
}

export interface VethSetup {
  /** Namespace and address of each end. */
  a: { ns: string; dev: string; addr: string };
  b: { ns: string; dev: string; addr: string };
}

/** Two namespaces joined by a veth pair (10.90.N.1 — 10.90.N.2, /30), MTU 1500 by default. */
export function vethSetup(net: BenchNet, suffix: string, subnet: number, mtu = 1500): VethSetup {
  const nsA = net.netns(`${suffix}a`);
  const nsB = net.netns(`${suffix}b`);
  const a = { ns: nsA, dev: 'vba', addr: `10.90.${subnet}.1` };
  const b = { ns: nsB, dev: 'vbb', addr: `10.90.${subnet}.2` };
  ip(['link', 'add', a.dev, 'type', 'veth', 'peer', 'name', b.dev, 'netns', nsB], nsA);
  for (const e of [a, b]) {
    ip(['addr', 'add', `${e.addr}/30`, 'dev', e.dev], e.ns);
    ip(['link', 'set', 'dev', e.dev, 'mtu', String(mtu), 'up'], e.ns);
    try {
      run(['sysctl', '-q', '-w', `net.ipv6.conf.${e.dev}.disable_ipv6=1`], e.ns);
    } catch {
      /* harmless */
    }
  }
  return { a, b };
}

// Legacy ethtool ioctls (no ethtool binary needed): set/get one offload flag.
const ETHTOOL_PY = `
import ctypes, fcntl, socket, struct, sys, json
SIOCETHTOOL = 0x8946
CMDS = {  # name: (get, set)
  'rx': (0x14, 0x15), 'tx': (0x16, 0x17), 'sg': (0x18, 0x19),
  'tso': (0x1e, 0x1f), 'gso': (0x23, 0x24), 'gro': (0x2b, 0x2c),
}
dev, want = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def call(cmd, data=0):
    ev = ctypes.create_string_buffer(struct.pack('II', cmd, data))
    ifr = struct.pack('16sP', dev.encode(), ctypes.addressof(ev)) + b'\\0' * 16
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
    return struct.unpack('II', ev.raw[:8])[1]
order = ['gro', 'gso', 'tso', 'sg', 'tx', 'rx'] if want == 'off' else ['rx', 'tx', 'sg', 'tso', 'gso', 'gro']
errs = {}
for name in (order if want in ('on', 'off') else []):
    try: call(CMDS[name][1], 1 if want == 'on' else 0)
    except OSError as e: errs[name] = e.strerror
state = {}
for name in CMDS:
    try: state[name] = 'on' if call(CMDS[name][0]) else 'off'
    except OSError as e: state[name] = '?'
print(json.dumps({'state': state, 'errors': errs}))
`;

/**
 * Turn a veth end's offloads (rx/tx checksum, scatter-gather, TSO, GSO,
 * GRO) all off or all on, or leave them as they are ('default'); returns
 * what the device reports afterwards, e.g. "rx off, tx off, sg off, tso
 * off, gso off, gro off".
 */
export function setOffloads(ns: string, dev: string, want: 'on' | 'off' | 'default'): string {
  const out = run([resolvePython(), '-c', ETHTOOL_PY, dev, want], ns);
  const r = JSON.parse(out) as { state: Record<string, string>; errors: Record<string, string> };
  return Object.entries(r.state)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** Names of this process's benchmark namespaces still present (should be none after cleanup). */
export function leftoverNamespaces(): string[] {
  try {
    return run(['ip', 'netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(`tsipb-${process.pid}-`));
  } catch {
    return [];
  }
}

/** Median, min and max of a few numbers. */
export function stats3(xs: number[]): { median: number; min: number; max: number } {
  const s = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN };
  const m = s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: m, min: s[0]!, max: s[s.length - 1]! };
}

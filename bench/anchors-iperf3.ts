// The iperf3 rows of the anchors benchmark: the unmodified iperf3 client
// (Debian's iperf3) from the kernel side against
//   kernel        `iperf3 -s` in the server namespace of the kernel's veth pair
//   tsip          tsip's iperf3 service in the anchors' tsip child (TUN, MTU
//                 1500), plain and with offload
// kernel→stack is `iperf3 -c` (the client sends), stack→kernel `iperf3 -c -R`.
// The figure is iperf3's own: the receiver sum of -J (end.sum_received).
// C lwIP has no iperf3 server (its lwiperf speaks iperf2): "—".
import { spawn, spawnSync } from 'node:child_process';
import { type Row, round } from './lib.ts';
import { type BenchNet, type Child, stats3 } from './netns.ts';

export type Iperf3StackId = 'kernel' | 'lwip' | 'tsip' | 'tsip-offload';

export interface Iperf3Target {
  id: Iperf3StackId;
  clientNs: string;
  addr: string;
}

export interface Iperf3AnchorOptions {
  net: BenchNet;
  /** The anchors' servers (lwIP is skipped); the kernel's gets `iperf3 -s` started in kernelServerNs. */
  servers: Iperf3Target[];
  kernelServerNs: string;
  reps: number;
  /** iperf3 -t; -O 1 is added when seconds > 2 (slow start and the JIT are not counted). */
  seconds: number;
  rows: Row[];
  figures: Record<string, number>;
  notes: string[];
  log: (l: string) => void;
}

const LABEL: Record<Iperf3StackId, string> = { kernel: 'kernel', lwip: 'C lwIP', tsip: 'tsip', 'tsip-offload': 'tsip offload' };
const PORT = 5201;

export const iperf3Available = (): boolean => spawnSync('iperf3', ['--version'], { stdio: 'ignore' }).status === 0;

/** One `iperf3 -c` inside `ns`: its -J report's receiver sum in Gbit/s. */
function client(ns: string, addr: string, args: string[], limitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, 'iperf3', '-c', addr, '-p', String(PORT), '-J', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), limitMs);
    p.on('close', (code) => {
      clearTimeout(t);
      try {
        const j = JSON.parse(out) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
        if (j.error !== undefined || code !== 0) throw new Error(j.error ?? `exit ${String(code)}`);
        resolve(j.end!.sum_received!.bits_per_second / 1e9);
      } catch (e) {
        reject(new Error(`iperf3 -c ${addr} ${args.join(' ')}: ${e instanceof Error ? e.message : String(e)} ${err.trim().slice(0, 200)}`));
      }
    });
  });
}

/** Measure and append the two iperf3 rows (and their figures); says why when it cannot. */
export async function iperf3Anchors(o: Iperf3AnchorOptions): Promise<void> {
  if (!iperf3Available()) {
    o.notes.push('iperf3 rows skipped: no iperf3 (bash scripts/ensure-system-deps.sh bench installs it)');
    return;
  }
  let ks: Child | null = null;
  try {
    ks = o.net.spawnIn(o.kernelServerNs, ['iperf3', '-s', '-p', String(PORT), '--forceflush']);
    for (;;) if (/listening/i.test(await ks.line(10_000))) break;
    const targets = o.servers.filter((s) => s.id !== 'lwip');
    const omit = o.seconds > 2 ? ['-O', '1'] : [];
    const limitMs = (o.seconds + 30) * 1000;
    for (const [key, title, extra] of [
      ['iperf3 kernel-to-stack', 'iperf3 -c: kernel→stack', []],
      ['iperf3 stack-to-kernel', 'iperf3 -c -R: stack→kernel', ['-R']],
    ] as const) {
      const samples = new Map<Iperf3StackId, number[]>(targets.map((t) => [t.id, []]));
      // Unmeasured first run per stack (tsip's JIT, the caches), then alternate the stacks rep by rep.
      for (const t of targets) await client(t.clientNs, t.addr, ['-t', '1', ...extra], limitMs);
      for (let i = 0; i < o.reps; i++) for (const t of targets) samples.get(t.id)!.push(await client(t.clientNs, t.addr, ['-t', String(o.seconds), ...omit, ...extra], limitMs));
      const med = (id: Iperf3StackId): number => (samples.get(id)?.length ? stats3(samples.get(id)!).median : NaN);
      const row: Row = { test: title, unit: 'Gbit/s' };
      for (const id of ['kernel', 'lwip', 'tsip', 'tsip-offload'] as Iperf3StackId[]) row[LABEL[id]] = id === 'lwip' ? '—' : samples.has(id) ? round(med(id), 3) : '';
      row['tsip/lwIP'] = '—';
      row['tsip/kernel'] = round(med('tsip') / med('kernel'), 3);
      row['tsip offload/lwIP'] = '—';
      o.rows.push(row);
      for (const [id, xs] of samples) {
        const g = stats3(xs);
        o.figures[`${key} ${id} Gbit/s`] = round(g.median, 3);
        o.figures[`${key} ${id} min`] = round(g.min, 3);
        o.figures[`${key} ${id} max`] = round(g.max, 3);
      }
      o.figures[`${key} tsip/kernel`] = round(med('tsip') / med('kernel'), 4);
      if (samples.has('tsip-offload')) o.figures[`${key} tsip-offload/kernel`] = round(med('tsip-offload') / med('kernel'), 4);
    }
    o.notes.push(
      `iperf3 rows: Debian's unmodified iperf3 client in the client namespace, -t ${o.seconds}${omit.length ? ' -O 1' : ''}, ${o.reps} run(s) per stack after one unmeasured -t 1, median of iperf3's receiver sum (-J end.sum_received); kernel = iperf3 -s over the veth pair; tsip = tsip's iperf3 service (src/services/iperf3.ts) in the same tsip child; C lwIP has no iperf3 server (lwiperf is iperf2): —.`,
    );
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    o.log(`iperf3 rows failed: ${msg}`);
    o.notes.push(`iperf3 rows failed: ${msg.slice(0, 300)}`);
  } finally {
    ks?.kill();
  }
}

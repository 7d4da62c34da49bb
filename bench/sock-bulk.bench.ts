// Macro benchmark: stack→kernel bulk through tsip's socket API (chargen
// :19) beside the same through its HTTP service (GET /bytes/N on :80), on
// TUN, plain MTU 1500 and with offload (vnet header: csum + TSO/GSO); issue
// 17 part 3 asks for chargen within 10 % of HTTP with offload.
//
// The server is bench/child/tsip-server.ts (a Node process hosting tsip and
// its services, as `tsip up` does and as the anchors run it), in a
// namespace of its own; the client is bench/clients/bulk-recv.c (the
// anchors' client; with an HTTP path it sends the request first) in the
// same namespace. Gbit/s of payload at the client, connect → last byte.
// Median of REPS runs, every (tree, mode, service) interleaved in each run,
// after one unmeasured warm-up transfer each.
//
// Knobs (environment): TSIP_BENCH_SOCK_BYTES (default 400 MB),
// TSIP_BENCH_SOCK_REPS (3), TSIP_BENCH_SOCK_TREES: "name=DIR,name=DIR" to
// compare source trees in the same run (each DIR a checkout with its own
// bench/child/tsip-server.ts and node_modules; default: this one, "tsip"),
// TSIP_BENCH_SOCK_MODES ("plain,offload"),
// TSIP_BENCH_SOCK_SERVICES ("chargen,http"), TSIP_BENCH_SOCK_PROF=DIR (the
// servers run under node --cpu-prof, profiles in DIR; read them with
// npx tsx bench/tools/cpuprofile-top.ts DIR/*.cpuprofile).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAnchorPrograms } from './cbuild.ts';
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';
import { BenchNet, type Child, leftoverNamespaces, procCpuSeconds, stats3, tunAvailable } from './netns.ts';

const BYTES = Number(process.env.TSIP_BENCH_SOCK_BYTES ?? 400_000_000);
const WARMUP_BYTES = Math.min(BYTES, 50_000_000);
const REPS = Number(process.env.TSIP_BENCH_SOCK_REPS ?? 3);
const MAX_SECONDS = 20;
const MODES = (process.env.TSIP_BENCH_SOCK_MODES ?? 'plain,offload').split(',') as ('plain' | 'offload')[];
const PROF = process.env.TSIP_BENCH_SOCK_PROF;
const SERVER_MAX_SECONDS = 600 + REPS * 8 * (MAX_SECONDS + 5);

const here = path.dirname(fileURLToPath(import.meta.url));

function trees(): { name: string; dir: string }[] {
  const spec = process.env.TSIP_BENCH_SOCK_TREES;
  if (spec === undefined || spec === '') return [{ name: 'tsip', dir: path.dirname(here) }];
  return spec.split(',').map((t) => {
    const i = t.indexOf('=');
    if (i <= 0) throw new Error(`TSIP_BENCH_SOCK_TREES: expected name=DIR, got ${t}`);
    return { name: t.slice(0, i), dir: path.resolve(t.slice(i + 1)) };
  });
}

interface Server {
  tree: string;
  mode: 'plain' | 'offload';
  ns: string;
  addr: string;
  proc: Child;
}

const SERVICES = [
  { key: 'chargen', port: 19, http: false },
  { key: 'http', port: 80, http: true },
].filter((s) => (process.env.TSIP_BENCH_SOCK_SERVICES ?? 'chargen,http').split(',').includes(s.key));

async function measure(): Promise<BenchReport> {
  const bins = buildAnchorPrograms();
  const net = new BenchNet('sock');
  const rows: Row[] = [];
  const figures: Record<string, number> = {};
  const notes: string[] = [
    `bulk-recv (C) from tsip's chargen :19 (socket API) and HTTP GET /bytes/N :80; ${BYTES / 1e6} MB per transfer, ${REPS} run(s), median (min–max in figures), after a ${WARMUP_BYTES / 1e6} MB warm-up; every server in its own namespace, all interleaved.`,
    'server CPU: the tsip process (/proc utime+stime) per GB sent.',
  ];
  try {
    const servers: Server[] = [];
    let subnet = 1;
    for (const t of trees()) {
      const tsx = path.join(t.dir, 'node_modules', 'tsx', 'dist', 'loader.mjs');
      for (const mode of MODES) {
        const ns = net.netns(`${servers.length}`);
        const addr = `10.87.${subnet}.2`;
        const prof = PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(PROF)];
        const child = net.spawnIn(ns, [process.execPath, ...prof, '--import', tsx, path.join(t.dir, 'bench', 'child', 'tsip-server.ts'), ns, addr, `10.87.${subnet}.1`, '30', mode, String(SERVER_MAX_SECONDS)]);
        subnet++;
        const l = await child.line(30_000);
        if (!l.startsWith('READY')) throw new Error(`tsip server (${t.name} ${mode}) did not start: ${l}`);
        servers.push({ tree: t.name, mode, ns, addr, proc: child });
      }
    }
    const one = async (s: Server, svc: { key: string; port: number; http: boolean }, bytes: number): Promise<{ gbps: number; cpuPerGb: number }> => {
      const cpu0 = procCpuSeconds(s.proc.pid);
      const argv = [bins['bulk-recv'], s.addr, String(svc.port), String(bytes), String(MAX_SECONDS)];
      if (svc.http) argv.push(`/bytes/${bytes}`);
      const c = net.spawnIn(s.ns, argv);
      const line = await c.line((MAX_SECONDS + 30) * 1000);
      const res = await c.done;
      if (res.code !== 0) throw new Error(`bulk-recv against ${s.tree} ${s.mode} ${svc.key} exited ${res.code ?? res.signal}: ${res.stderr.trim()}`);
      const cpu1 = procCpuSeconds(s.proc.pid);
      const r = JSON.parse(line) as { bytes: number; gbps: number };
      return { gbps: r.gbps, cpuPerGb: (cpu1 - cpu0) / (r.bytes / 1e9) };
    };
    for (const s of servers) for (const svc of SERVICES) await one(s, svc, WARMUP_BYTES);
    const samples = new Map<string, { gbps: number; cpuPerGb: number }[]>();
    for (let i = 0; i < REPS; i++) {
      for (const svc of SERVICES) {
        for (const s of servers) {
          const k = `${s.tree} ${s.mode} ${svc.key}`;
          const r = await one(s, svc, BYTES);
          if (!samples.has(k)) samples.set(k, []);
          samples.get(k)!.push(r);
          console.error(`sock-bulk: run ${i + 1} ${k}: ${r.gbps.toFixed(3)} Gbit/s, ${r.cpuPerGb.toFixed(2)} CPU s/GB`);
        }
      }
    }
    for (const s of servers) {
      const row: Row = { tree: s.tree, mode: s.mode };
      const med: Record<string, number> = {};
      for (const svc of SERVICES) {
        const xs = samples.get(`${s.tree} ${s.mode} ${svc.key}`)!;
        const g = stats3(xs.map((x) => x.gbps));
        const c = stats3(xs.map((x) => x.cpuPerGb));
        med[svc.key] = g.median;
        row[`${svc.key} Gbit/s`] = round(g.median, 3);
        row[`${svc.key} CPU s/GB`] = round(c.median, 2);
        const f = `${s.tree} ${s.mode} ${svc.key}`;
        figures[`${f} Gbit/s`] = round(g.median, 3);
        figures[`${f} min`] = round(g.min, 3);
        figures[`${f} max`] = round(g.max, 3);
        figures[`${f} server CPU s/GB`] = round(c.median, 2);
      }
      if (med.chargen !== undefined && med.http !== undefined) {
        row['chargen/http'] = round(med.chargen / med.http, 3);
        figures[`${s.tree} ${s.mode} chargen/http`] = round(med.chargen / med.http, 4);
      }
      rows.push(row);
    }
    for (const s of servers) s.proc.proc.kill('SIGTERM');
    for (const s of servers) {
      const r = await Promise.race([s.proc.done, new Promise<null>((ok) => setTimeout(() => ok(null), 5_000))]);
      const last = r?.stderr.trim().split('\n').pop();
      if (last) notes.push(`${s.tree} ${s.mode}: ${last}`);
    }
  } finally {
    net.cleanup();
  }
  const left = leftoverNamespaces();
  if (left.length > 0) notes.push(`WARNING: namespaces left behind: ${left.join(', ')}`);
  return { name: 'sock-bulk', rows, figures, notes };
}

const spec: BenchSpec = {
  name: 'sock-bulk',
  description: 'stack→kernel through the socket API (chargen :19) beside HTTP /bytes/N, TUN plain and offload, C client; chargen/HTTP ratio',
  run: async () => {
    const t = tunAvailable();
    if (!t.ok) return { name: 'sock-bulk', rows: [{ skipped: t.why }], figures: {}, notes: [`skipped: ${t.why}`] };
    try {
      return await measure();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return { name: 'sock-bulk', rows: [{ failed: msg.slice(0, 300) }], figures: {}, notes: [`failed: ${msg}`] };
    }
  },
};
export default spec;

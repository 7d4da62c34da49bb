// Macro benchmark: tsip beside two anchors, measured in the same run with
// the same small C clients (bench/clients/, built by the harness with cc;
// no python3 anywhere in the measured path):
//
//   kernel        the Linux kernel over a veth pair: a one-thread epoll
//                 server (bench/clients/kserver.c) in one namespace, the
//                 clients in the other; the veth's default offloads.
//   C lwIP        lwIP 2.1.3 from Debian's liblwip-dev, raw API, in one
//                 thread on a TUN device of its own (bench/lwip/lwip-tun.c).
//   tsip          tsip as `tsip up` hosts it (bench/child/tsip-server.ts: a
//                 Node process, TUN, the built-in services), MTU 1500
//                 without offload; "tsip offload" is the same with the TUN
//                 vnet header (checksum + TSO/GSO), measured for bulk only.
//
// Every server runs echo (7), discard (9) and chargen (19). The figures:
//
//   kernel→stack  bulk-send writes BYTES to discard :9, shuts down and waits
//                 for the close: payload Gbit/s over connect → close.
//   stack→kernel  bulk-recv reads BYTES from chargen :19: Gbit/s.
//   ping-pong     1 byte each way on one TCP_NODELAY connection to echo :7:
//                 transactions/s; "pinned" runs server and client on CPU 0
//                 (taskset), "unpinned" lets the scheduler place them.
//   connect       connect + 1-byte echo + close, sequentially: connections/s,
//                 unpinned and pinned.
//
// Each figure is the median of REPS runs (stacks interleaved within each
// run), each bounded by a count and a time. Server CPU is the server
// process's utime+stime from /proc (10 ms ticks; for the kernel server that
// is its syscalls, softirq work lands wherever it runs).
//
// Knobs (environment): TSIP_BENCH_ANCHORS_QUICK=1 (tiny counts, 1 run),
// TSIP_BENCH_ANCHORS_BYTES, _PP_COUNT, _CONN_COUNT, _SECONDS, _REPS,
// _IPERF3_SECONDS; TSIP_BENCH_ANCHORS_ONLY=iperf3 runs only the iperf3 rows.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';
import { buildAnchorPrograms, type Program } from './cbuild.ts';
import { BenchNet, type Child, leftoverNamespaces, procCpuSeconds, stats3, tunAvailable, vethSetup } from './netns.ts';
import { configureTunLink, run } from '../src/netif/tun-ip.ts';
import { iperf3Anchors } from './anchors-iperf3.ts';

const QUICK = process.env.TSIP_BENCH_ANCHORS_QUICK === '1';
const num = (name: string, full: number, quick: number): number => Number(process.env[`TSIP_BENCH_ANCHORS_${name}`] ?? (QUICK ? quick : full));
const BYTES = num('BYTES', 400_000_000, 10_000_000);
const WARMUP_BYTES = Math.min(BYTES, 50_000_000);
const PP_COUNT = num('PP_COUNT', 50_000, 1_000);
const CONN_COUNT = num('CONN_COUNT', 4_000, 100);
const SECONDS = num('SECONDS', 3, 1);
const REPS = num('REPS', 3, 1);
/** TSIP_BENCH_ANCHORS_ONLY=iperf3: only the iperf3 rows (bench/anchors-iperf3.ts). */
const ONLY_IPERF3 = process.env.TSIP_BENCH_ANCHORS_ONLY === 'iperf3';
const IPERF3_SECONDS = num('IPERF3_SECONDS', 5, 1);
// (With it, the results go to bench/results/anchors-iperf3.json instead of anchors.json.)
/** Longest a bulk transfer may run before the client stops (and the figure counts what went). */
const BULK_MAX_SECONDS = 20;
/**
 * Hard lifetime of every server process, should this process die without
 * cleaning up (normally they are killed by PID at the end): a generous
 * bound on the whole run (warm-up + REPS runs of 4 bulk and 12 short tests).
 */
const SERVER_MAX_SECONDS = Math.ceil(120 + (REPS + 1) * (8 * (BULK_MAX_SECONDS + 10) + 12 * (SECONDS + 10)));

const here = path.dirname(fileURLToPath(import.meta.url));

type StackId = 'kernel' | 'lwip' | 'tsip' | 'tsip-offload' | 'tsip-busy';
const LABEL: Record<StackId, string> = { kernel: 'kernel', lwip: 'C lwIP', tsip: 'tsip', 'tsip-offload': 'tsip offload', 'tsip-busy': 'tsip busy-poll' };
/** The busy-polling tsip server's window (TunOptions.busyPollUs), µs. */
const BUSY_POLL_US = 100;
/** The columns, in order: each stack's rate, then the ratios. */
const COLUMNS: StackId[] = ['kernel', 'lwip', 'tsip', 'tsip-offload', 'tsip-busy'];

interface Server {
  id: StackId;
  /** Where the clients run, and the address they reach the server at. */
  clientNs: string;
  addr: string;
  proc: Child;
}

interface TestDef {
  key: string;
  title: string;
  unit: string;
  program: Program;
  port: number;
  pinned: boolean;
  bulk: boolean;
  /** Client arguments after HOST PORT. */
  args: () => (string | number)[];
  stacks: StackId[];
}

const ALL: StackId[] = ['kernel', 'lwip', 'tsip'];
const TESTS: TestDef[] = [
  { key: 'kernel-to-stack', title: 'kernel→stack bulk (discard :9)', unit: 'Gbit/s', program: 'bulk-send', port: 9, pinned: false, bulk: true, args: () => [BYTES, BULK_MAX_SECONDS], stacks: [...ALL, 'tsip-offload'] },
  { key: 'stack-to-kernel', title: 'stack→kernel bulk (chargen :19)', unit: 'Gbit/s', program: 'bulk-recv', port: 19, pinned: false, bulk: true, args: () => [BYTES, BULK_MAX_SECONDS], stacks: [...ALL, 'tsip-offload'] },
  { key: 'pingpong pinned', title: '1-byte ping-pong, all on one CPU', unit: 'transactions/s', program: 'pingpong', port: 7, pinned: true, bulk: false, args: () => [PP_COUNT, SECONDS], stacks: [...ALL, 'tsip-busy'] },
  { key: 'pingpong unpinned', title: '1-byte ping-pong, unpinned', unit: 'transactions/s', program: 'pingpong', port: 7, pinned: false, bulk: false, args: () => [PP_COUNT, SECONDS], stacks: [...ALL, 'tsip-busy'] },
  { key: 'connect unpinned', title: 'connect + 1-byte echo + close, unpinned', unit: 'connections/s', program: 'connrate', port: 7, pinned: false, bulk: false, args: () => [CONN_COUNT, SECONDS], stacks: [...ALL, 'tsip-busy'] },
  { key: 'connect pinned', title: 'connect + 1-byte echo + close, all on one CPU', unit: 'connections/s', program: 'connrate', port: 7, pinned: true, bulk: false, args: () => [CONN_COUNT, SECONDS], stacks: [...ALL, 'tsip-busy'] },
];

interface Sample {
  /** Gbit/s for bulk, operations/s otherwise. */
  rate: number;
  /** Server CPU: seconds per GB (bulk) or µs per operation. */
  serverCpu: number;
  /** Client CPU, the same units. */
  clientCpu: number;
}

/** Why the anchors cannot run here, or null. */
export function anchorsSkipReason(): string | null {
  const t = tunAvailable();
  if (!t.ok) return t.why;
  try {
    run(['taskset', '-V']);
  } catch {
    return 'taskset (util-linux) is not installed';
  }
  return null;
}

const cpuList = (pinned: boolean): string => (pinned ? '0' : `0-${os.cpus().length - 1}`);

/** Move every thread of a running server onto CPU 0, or back onto all CPUs. */
function setAffinity(pid: number, pinned: boolean): void {
  run(['taskset', '-a', '-p', '-c', cpuList(pinned), String(pid)]);
}

async function ready(c: Child, what: string): Promise<string> {
  const l = await c.line(30_000);
  if (!l.startsWith('READY')) throw new Error(`${what} did not start: ${l}`);
  return l;
}

async function startServers(net: BenchNet, bins: Record<Program, string>, tsipOffload: boolean): Promise<Server[]> {
  const servers: Server[] = [];
  // The kernel: veth between a client namespace and a server namespace.
  const veth = vethSetup(net, 'k', 3);
  const ks = net.spawnIn(veth.b.ns, [bins.kserver, veth.b.addr, String(SERVER_MAX_SECONDS)]);
  await ready(ks, 'the kernel server');
  servers.push({ id: 'kernel', clientNs: veth.a.ns, addr: veth.b.addr, proc: ks });
  // C lwIP: its own TUN in its own namespace; the kernel side is the client.
  const lns = net.netns('l');
  const lwip = net.spawnIn(lns, [bins['lwip-tun'], 'lwip0', '10.91.1.2', '255.255.255.252', '10.91.1.1', String(SERVER_MAX_SECONDS)]);
  await ready(lwip, 'the C lwIP server');
  configureTunLink({ dev: 'lwip0', address: '10.91.1.1/30', mtu: 1500, netns: lns });
  servers.push({ id: 'lwip', clientNs: lns, addr: '10.91.1.2', proc: lwip });
  // tsip in a Node child of its own, as tsip up hosts it.
  const tsx = import.meta.resolve('tsx');
  // tsip-busy: the same plain server with busy polling on its reads (request/response rows only).
  for (const [id, subnet, offload, nsTag] of [['tsip', 1, false, 'tp'], ['tsip-offload', 2, true, 'to'], ['tsip-busy', 3, false, 'tb']] as const) {
    if (offload && !tsipOffload) continue;
    const ns = net.netns(nsTag);
    const env = id === 'tsip-busy' ? ['env', `TSIP_TUN_BUSY_POLL_US=${BUSY_POLL_US}`] : [];
    const child = net.spawnIn(ns, [...env, process.execPath, '--import', tsx, path.join(here, 'child', 'tsip-server.ts'), ns, `10.89.${subnet}.2`, `10.89.${subnet}.1`, '30', offload ? 'offload' : 'plain', String(SERVER_MAX_SECONDS)]);
    await ready(child, `tsip (${id})`);
    servers.push({ id, clientNs: ns, addr: `10.89.${subnet}.2`, proc: child });
  }
  // Connection tests leave thousands of client sockets in TIME_WAIT: use the whole port range.
  for (const s of servers) run(['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535'], s.clientNs);
  return servers;
}

/** One client run against one server; parses the client's JSON line. */
async function clientRun(net: BenchNet, bins: Record<Program, string>, s: Server, t: TestDef, args: (string | number)[]): Promise<Sample> {
  setAffinity(s.proc.pid, t.pinned);
  const cpu0 = procCpuSeconds(s.proc.pid);
  const argv = [bins[t.program], s.addr, String(t.port), ...args.map(String)];
  const c = net.spawnIn(s.clientNs, t.pinned ? ['taskset', '-c', '0', ...argv] : argv);
  const limitMs = (t.bulk ? BULK_MAX_SECONDS : SECONDS) * 1000 + 30_000;
  let line: string;
  try {
    line = await c.line(limitMs);
  } catch (e) {
    c.kill();
    throw new Error(`${t.program} against ${LABEL[s.id]}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const res = await c.done;
  const cpu1 = procCpuSeconds(s.proc.pid);
  if (res.code !== 0) throw new Error(`${t.program} against ${LABEL[s.id]} exited ${res.code ?? res.signal}: ${res.stderr.trim()}`);
  const r = JSON.parse(line) as { bytes?: number; n?: number; secs: number; gbps?: number; ops?: number; cpu: number };
  if (t.bulk) {
    const gb = r.bytes! / 1e9;
    return { rate: r.gbps!, serverCpu: (cpu1 - cpu0) / gb, clientCpu: r.cpu / gb };
  }
  // The server's CPU also spans the client's warm-up (500 transactions / 50 connections).
  return { rate: r.ops!, serverCpu: ((cpu1 - cpu0) / r.n!) * 1e6, clientCpu: (r.cpu / r.n!) * 1e6 };
}

async function measure(log: (l: string) => void): Promise<BenchReport> {
  let bins: Record<Program, string>;
  try {
    bins = buildAnchorPrograms(log);
  } catch (e) {
    const why = `the C programs did not build: ${e instanceof Error ? e.message : String(e)}`;
    return { name: 'anchors', rows: [{ skipped: why.slice(0, 300) }], figures: {}, notes: [`skipped: ${why}`] };
  }
  const net = new BenchNet('anc');
  const rows: Row[] = [];
  const figures: Record<string, number> = {};
  const notes: string[] = [
    `Same C clients for every stack (bench/clients/*.c, cc -O2); ${REPS} run(s) each, median (min–max in the JSON figures); bulk ${BYTES / 1e6} MB per transfer after one ${WARMUP_BYTES / 1e6} MB warm-up per stack; ping-pong ≤ ${PP_COUNT} transactions after 500 unmeasured, connections ≤ ${CONN_COUNT} after 50 unmeasured, each ≤ ${SECONDS} s.`,
    'kernel = Linux over a veth pair (default offloads) with a one-thread epoll server; C lwIP = Debian liblwip 2.1.3, raw API, one thread, own TUN (MTU 1500, no offload); tsip = a Node process hosting tsip and its services on TUN, MTU 1500 without offload ("tsip offload": vnet header, csum + TSO/GSO; bulk only).',
    `tsip busy-poll = the plain tsip server with TunOptions.busyPollUs = ${BUSY_POLL_US} (after a batch it keeps reading for ${BUSY_POLL_US} µs past the last packet instead of sleeping in epoll; off by default); request/response rows only.`,
    'pinned = server (all threads, taskset -a -p) and client (taskset -c 0) on CPU 0; unpinned = all CPUs. Ratios: tsip/lwIP and tsip/kernel from the medians; "tsip offload/lwIP" compares tsip with offload against plain-MTU lwIP.',
    'server CPU: the server process (/proc utime+stime, 10 ms ticks), per GB for bulk and per operation otherwise; for the kernel server that is its syscalls only (softirq time lands on whichever task runs).',
  ];
  try {
    const servers = await startServers(net, bins, true);
    const byId = new Map(servers.map((s) => [s.id, s]));
    // One unmeasured bulk transfer per stack each way (tsip's JIT, the caches).
    for (const t of TESTS.filter((x) => x.bulk && !ONLY_IPERF3)) for (const id of t.stacks) await clientRun(net, bins, byId.get(id)!, t, [WARMUP_BYTES, BULK_MAX_SECONDS]);
    for (const t of ONLY_IPERF3 ? [] : TESTS) {
      const samples = new Map<StackId, Sample[]>(t.stacks.map((id) => [id, []]));
      for (let i = 0; i < REPS; i++) for (const id of t.stacks) samples.get(id)!.push(await clientRun(net, bins, byId.get(id)!, t, t.args()));
      const med = (id: StackId, f: (s: Sample) => number): number => (samples.has(id) ? stats3(samples.get(id)!.map(f)).median : NaN);
      const digits = t.bulk ? 3 : 0;
      const row: Row = { test: t.title, unit: t.unit };
      for (const id of COLUMNS) row[LABEL[id]] = samples.has(id) ? round(med(id, (s) => s.rate), digits) : '';
      const tsip = med('tsip', (s) => s.rate);
      const lwip = med('lwip', (s) => s.rate);
      const kern = med('kernel', (s) => s.rate);
      row['tsip/lwIP'] = round(tsip / lwip, 3);
      row['tsip/kernel'] = round(tsip / kern, 3);
      row['tsip offload/lwIP'] = samples.has('tsip-offload') ? round(med('tsip-offload', (s) => s.rate) / lwip, 3) : '';
      row['tsip busy-poll/lwIP'] = samples.has('tsip-busy') ? round(med('tsip-busy', (s) => s.rate) / lwip, 3) : '';
      rows.push(row);
      const cpuRow: Row = { test: `  server CPU, ${t.key}`, unit: t.bulk ? 'CPU s/GB' : 'CPU µs/op' };
      for (const id of COLUMNS) cpuRow[LABEL[id]] = samples.has(id) ? round(med(id, (s) => s.serverCpu), 2) : '';
      const lwipCpu = med('lwip', (s) => s.serverCpu);
      cpuRow['tsip/lwIP'] = lwipCpu > 0 ? round(med('tsip', (s) => s.serverCpu) / lwipCpu, 3) : '';
      cpuRow['tsip/kernel'] = '';
      cpuRow['tsip offload/lwIP'] = '';
      cpuRow['tsip busy-poll/lwIP'] = samples.has('tsip-busy') && lwipCpu > 0 ? round(med('tsip-busy', (s) => s.serverCpu) / lwipCpu, 3) : '';
      rows.push(cpuRow);
      for (const id of t.stacks) {
        const xs = samples.get(id)!;
        const g = stats3(xs.map((s) => s.rate));
        figures[`${t.key} ${id} ${t.unit}`] = round(g.median, t.bulk ? 3 : 0);
        figures[`${t.key} ${id} min`] = round(g.min, t.bulk ? 3 : 0);
        figures[`${t.key} ${id} max`] = round(g.max, t.bulk ? 3 : 0);
        figures[`${t.key} ${id} server ${t.bulk ? 'CPU s/GB' : 'CPU µs/op'}`] = round(med(id, (s) => s.serverCpu), 2);
        figures[`${t.key} ${id} client ${t.bulk ? 'CPU s/GB' : 'CPU µs/op'}`] = round(med(id, (s) => s.clientCpu), 2);
      }
      figures[`${t.key} tsip/lwIP`] = round(tsip / lwip, 4);
      figures[`${t.key} tsip/kernel`] = round(tsip / kern, 4);
      if (samples.has('tsip-offload')) {
        figures[`${t.key} tsip-offload/lwIP`] = round(med('tsip-offload', (s) => s.rate) / lwip, 4);
        figures[`${t.key} tsip-offload/kernel`] = round(med('tsip-offload', (s) => s.rate) / kern, 4);
      }
      if (samples.has('tsip-busy')) {
        figures[`${t.key} tsip-busy/lwIP`] = round(med('tsip-busy', (s) => s.rate) / lwip, 4);
        figures[`${t.key} tsip-busy/kernel`] = round(med('tsip-busy', (s) => s.rate) / kern, 4);
      }
    }
    await iperf3Anchors({ net, servers: servers.filter((s): s is Server & { id: Exclude<StackId, 'tsip-busy'> } => s.id !== 'tsip-busy'), kernelServerNs: net.nsName('kb'), reps: REPS, seconds: IPERF3_SECONDS, rows, figures, notes, log });
    // The servers' own counters (they print them on stderr when stopped).
    for (const s of servers) if (s.id !== 'kernel') s.proc.proc.kill('SIGTERM');
    for (const s of servers) {
      if (s.id === 'kernel') continue;
      const r = await Promise.race([s.proc.done, new Promise<null>((ok) => setTimeout(() => ok(null), 5_000))]);
      const last = r?.stderr.trim().split('\n').pop();
      if (last) notes.push(`${LABEL[s.id]}: ${last}`);
    }
  } finally {
    net.cleanup();
  }
  const left = leftoverNamespaces();
  if (left.length > 0) notes.push(`WARNING: namespaces left behind: ${left.join(', ')}`);
  // Only the iperf3 rows: their own file, so a partial run never replaces the full anchors.json.
  return { name: ONLY_IPERF3 ? 'anchors-iperf3' : 'anchors', rows, figures, notes };
}

/** Run the anchors (build, measure) or say why not; `log` gets build lines. */
export async function runAnchors(log: (l: string) => void = (l) => console.log(l)): Promise<BenchReport> {
  const why = anchorsSkipReason();
  if (why !== null) return { name: 'anchors', rows: [{ skipped: why }], figures: {}, notes: [`skipped: ${why}`] };
  try {
    return await measure(log);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { name: 'anchors', rows: [{ failed: msg.slice(0, 300) }], figures: {}, notes: [`failed: ${msg}`] };
  }
}

const spec: BenchSpec = {
  name: 'anchors',
  description: 'tsip beside C lwIP (Debian liblwip, own TUN) and the kernel (veth), same C clients: bulk both ways, 1-byte ping-pong pinned/unpinned, connect-echo-close; tsip/lwIP and tsip/kernel',
  run: () => runAnchors(),
};
export default spec;

// A/B of the TUN transmit path, stack→kernel plain MTU as the anchors
// measure it (bench/child/tsip-server.ts hosting tsip's chargen :19 on TUN
// in its own namespace, bench/clients/bulk-recv reading BYTES), with the
// TX thread off and on, alternating, median of REPS; C lwIP beside it as
// the anchor. Optionally strace -c -f on the tsip servers during one
// transfer each (syscalls per MB).
//
//   npx tsx bench/tools/tun-tx-ab.ts [BYTES] [REPS] [--strace] [--offload] [--no-lwip] [--modes=off,on,on:SPIN_US:PUBLISH_BYTES] [--cpu-prof=DIR] [--test=bulk|recv|pingpong|pingpong-pinned|connrate|connrate-pinned] [--json=FILE]
//   (with --test other than bulk/recv the figures are operations/s and server CPU µs per operation)
//
// --test=recv is the other direction, kernel→stack (bulk-send writing BYTES
// to discard :9), as the anchors measure it. A mode may also set the
// receive thread (tun-rx-ab.ts runs this tool so): rx-off (uv_poll on the
// JavaScript thread), rx-on (the default: the thread engages under a
// backlog), rx-always (TSIP_TUN_RX_ENGAGE=0: the thread reads every packet),
// rx-on:ENGAGE:IDLE_WAKES; the transmit thread stays at its default then.
// base=DIR: the tsip server of another checkout (its bench/child/tsip-server.ts,
// its own addon build), at its defaults: a before/after in one run.
//
// Every namespace and process is the run's own (BenchNet), removed at exit.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAnchorPrograms } from '../cbuild.ts';
import { BenchNet, type Child, procCpuSeconds, stats3 } from '../netns.ts';
import { configureTunLink, run } from '../../src/netif/tun-ip.ts';

const args = process.argv.slice(2);
const nums = args.filter((a) => /^\d+$/.test(a)).map(Number);
const BYTES = nums[0] ?? 200_000_000;
const REPS = nums[1] ?? 5;
const STRACE = args.includes('--strace');
const OFFLOAD = args.includes('--offload');
const LWIP = !args.includes('--no-lwip');
const PROF = args.find((a) => a.startsWith('--cpu-prof='))?.slice(11);
/** --test=pingpong|pingpong-pinned|connrate: a transaction test instead of bulk (rate = operations/s). */
const TEST = args.find((a) => a.startsWith('--test='))?.slice(7) ?? 'bulk';
const MODES = (args.find((a) => a.startsWith('--modes='))?.slice(8) ?? 'off,on').split(',');
const JSON_OUT = args.find((a) => a.startsWith('--json='))?.slice(7);
const here = path.dirname(fileURLToPath(import.meta.url));
/** The tsip server's environment for a mode (see the header). */
function modeEnv(mode: string): string[] {
  const [what, a, b] = mode.split(':');
  if (what!.startsWith('base=')) return [];
  if (what === 'rx-off') return ['TSIP_TUN_RX_THREAD=0'];
  if (what === 'rx-always') return ['TSIP_TUN_RX_THREAD=1', 'TSIP_TUN_RX_ENGAGE=0'];
  if (what === 'rx-on') return ['TSIP_TUN_RX_THREAD=1', ...(a ? [`TSIP_TUN_RX_ENGAGE=${a}`] : []), ...(b ? [`TSIP_TUN_RX_IDLE_WAKES=${b}`] : [])];
  return [`TSIP_TUN_TX_THREAD=${what === 'on' ? 1 : 0}`, ...(a ? [`TSIP_TUN_TX_SPIN_US=${a}`] : []), ...(b ? [`TSIP_TUN_TX_PUBLISH_BYTES=${b}`] : [])];
}
const bins = buildAnchorPrograms();
const net = new BenchNet('ab');
interface Srv { id: string; ns: string; addr: string; proc: Child }
const servers: Srv[] = [];
try {
  const tsx = import.meta.resolve('tsx');
  let subnet = 1;
  for (const mode of MODES) {
    const ns = net.netns(`t${subnet}`);
    const script = mode.startsWith('base=') ? path.join(mode.slice(5), 'bench', 'child', 'tsip-server.ts') : path.join(here, '..', 'child', 'tsip-server.ts');
    const child = net.spawnIn(ns, ['env', ...modeEnv(mode), process.execPath, ...(PROF ? ['--cpu-prof', '--cpu-prof-dir', PROF] : []), '--import', tsx, script, ns, `10.89.${subnet}.2`, `10.89.${subnet}.1`, '30', OFFLOAD ? 'offload' : 'plain', '900']);
    const l = await child.line(30_000);
    if (!l.startsWith('READY')) throw new Error(`tsip ${mode}: ${l}`);
    servers.push({ id: mode.startsWith('base=') ? 'tsip base' : mode.startsWith('rx-') ? `tsip ${mode}` : `tsip tx-thread ${mode}`, ns, addr: `10.89.${subnet}.2`, proc: child });
    subnet++;
  }
  if (LWIP) {
    const lns = net.netns('l');
    const lwip = net.spawnIn(lns, [bins['lwip-tun'], 'lwip0', '10.91.1.2', '255.255.255.252', '10.91.1.1', '900']);
    if (!(await lwip.line(30_000)).startsWith('READY')) throw new Error('lwip');
    configureTunLink({ dev: 'lwip0', address: '10.91.1.1/30', mtu: 1500, netns: lns });
    servers.push({ id: 'C lwIP', ns: lns, addr: '10.91.1.2', proc: lwip });
  }
  /** Per-thread CPU seconds of a process by thread name (/proc/PID/task/TID/stat). */
  const threadCpu = (pid: number): Map<string, number> => {
    const m = new Map<string, number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        m.set(name, (m.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
      } catch {
        /* thread gone */
      }
    }
    return m;
  };
  const threadCpus = new Map<string, Map<string, number[]>>();
  const once = async (s: Srv, n: number): Promise<{ gbps: number; cpuPerGB: number }> => {
    const cpu0 = procCpuSeconds(s.proc.pid);
    const th0 = threadCpu(s.proc.pid);
    if (TEST !== 'bulk' && TEST !== 'recv') {
      const pinned = TEST.endsWith('-pinned');
      run(['taskset', '-a', '-p', '-c', pinned ? '0' : '0-1', String(s.proc.pid)]);
      const prog = TEST.startsWith('pingpong') ? bins.pingpong : bins.connrate;
      const argv = [prog, s.addr, '7', String(TEST.startsWith('pingpong') ? 30000 : 3000), '3'];
      const c = net.spawnIn(s.ns, pinned ? ['taskset', '-c', '0', ...argv] : argv);
      const line = await c.line(60_000);
      await c.done;
      const r = JSON.parse(line) as { ops: number; n: number };
      return { gbps: r.ops, cpuPerGB: (procCpuSeconds(s.proc.pid) - cpu0) / r.n * 1e6 };
    }
    const c = net.spawnIn(s.ns, TEST === 'recv' ? [bins['bulk-send'], s.addr, '9', String(n), '20'] : [bins['bulk-recv'], s.addr, '19', String(n), '20']);
    const line = await c.line(60_000);
    await c.done;
    const r = JSON.parse(line) as { bytes: number; gbps: number };
    const th1 = threadCpu(s.proc.pid);
    const per = threadCpus.get(s.id) ?? new Map<string, number[]>();
    threadCpus.set(s.id, per);
    for (const [k, v] of th1) if (v - (th0.get(k) ?? 0) >= 0.01) per.set(k, [...(per.get(k) ?? []), (v - (th0.get(k) ?? 0)) / (r.bytes / 1e9)]);
    return { gbps: r.gbps, cpuPerGB: (procCpuSeconds(s.proc.pid) - cpu0) / (r.bytes / 1e9) };
  };
  for (const s of servers) await once(s, Math.min(BYTES, 50_000_000)); // warm-up
  const res = new Map(servers.map((s) => [s.id, [] as { gbps: number; cpuPerGB: number }[]]));
  for (let i = 0; i < REPS; i++) for (const s of servers) res.get(s.id)!.push(await once(s, BYTES));
  const summary: Record<string, unknown>[] = [];
  for (const s of servers) {
    const xs = res.get(s.id)!;
    const g = stats3(xs.map((x) => x.gbps));
    const cpu = stats3(xs.map((x) => x.cpuPerGB));
    summary.push({ server: s.id, test: TEST, bytes: BYTES, reps: REPS, median: g.median, min: g.min, max: g.max, runs: xs.map((x) => x.gbps), cpuMedian: cpu.median, unit: TEST === 'bulk' || TEST === 'recv' ? 'Gbit/s; server CPU s/GB' : 'ops/s; server CPU µs/op', perThreadCpu: Object.fromEntries([...(threadCpus.get(s.id) ?? new Map<string, number[]>())].map(([k, v]) => [k, stats3(v).median])) });
    console.log(`${s.id.padEnd(20)} ${g.median.toFixed(3)} Gbit/s (min ${g.min.toFixed(3)} max ${g.max.toFixed(3)}), server CPU ${cpu.median.toFixed(2)} s/GB  [${xs.map((x) => x.gbps.toFixed(2)).join(' ')}]`);
    const per = [...(threadCpus.get(s.id) ?? new Map<string, number[]>())].map(([k, v]) => `${k} ${stats3(v).median.toFixed(2)}`);
    console.log(`${''.padEnd(20)} per thread, CPU s/GB (median): ${per.join(', ')}`);
  }
  if (STRACE) {
    // strace -c on the JavaScript thread (the process's main thread) and, apart, on the transmit thread.
    for (const s of servers.filter((x) => x.id.startsWith('tsip'))) {
      const comm = (t: string): string => readFileSync(`/proc/${s.proc.pid}/task/${t}/comm`, 'utf8').trim();
      const tids = readdirSync(`/proc/${s.proc.pid}/task`).filter((t) => t === String(s.proc.pid) || comm(t) === 'tsip-tun-tx' || comm(t) === 'tsip-tun-rx');
      const traces = tids.map((tid) => {
        const st = spawn('strace', ['-c', '-p', tid], { stdio: ['ignore', 'ignore', 'pipe'] });
        let out = '';
        st.stderr.on('data', (d: Buffer) => (out += d.toString()));
        return { tid, name: tid === String(s.proc.pid) ? 'main' : comm(tid), st, out: () => out, closed: new Promise((ok) => st.on('close', ok)) };
      });
      await new Promise((ok) => setTimeout(ok, 1000));
      const r = await once(s, BYTES);
      for (const t of traces) process.kill(t.st.pid!, 'SIGINT');
      for (const t of traces) {
        await t.closed;
        const what = t.tid === String(s.proc.pid) ? 'JavaScript (main) thread' : `${t.name} thread`;
        const body = t.out().split('\n').filter((l) => !/attached|detached/.test(l)).join('\n').trim();
        // The total line: % time, seconds, usecs/call, calls, [errors], "total": calls is the 4th field.
        const totalLine = body.split('\n').find((l) => /\stotal\s*$/.test(l))?.trim().split(/\s+/);
        const total = totalLine && totalLine.length >= 5 ? [totalLine.join(' '), totalLine[3]!] : null;
        console.log(`--- strace -c -p ${t.tid} (${what}) of ${s.id}, ${BYTES / 1e6} MB at ${r.gbps.toFixed(3)} Gbit/s under strace ---\n${body}`);
        if (total) console.log(`${what}: syscalls per MB ${(Number(total[1]) / (BYTES / 1e6)).toFixed(1)}`);
        if (total) summary.push({ server: s.id, strace: what, syscallsPerMB: Number(total[1]) / (BYTES / 1e6), gbpsUnderStrace: r.gbps, table: body });
      }
    }
  }
  for (const s of servers) s.proc.proc.kill('SIGTERM');
  for (const s of servers) {
    const r = await Promise.race([s.proc.done, new Promise<null>((ok) => setTimeout(() => ok(null), 5_000))]);
    const last = r?.stderr.trim().split('\n').pop();
    if (last) console.log(`${s.id}: ${last}`);
    if (last) summary.push({ server: s.id, exit: last });
  }
  if (JSON_OUT) writeFileSync(JSON_OUT, `${JSON.stringify({ date: new Date().toISOString(), argv: process.argv.slice(2), loadavg: readFileSync('/proc/loadavg', 'utf8').trim(), results: summary }, null, 1)}\n`);
} finally {
  net.cleanup();
}

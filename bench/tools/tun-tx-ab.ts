// A/B of the TUN transmit path, stack→kernel plain MTU as the anchors
// measure it (bench/child/tsip-server.ts hosting tsip's chargen :19 on TUN
// in its own namespace, bench/clients/bulk-recv reading BYTES), with the
// TX thread off and on, alternating, median of REPS; C lwIP beside it as
// the anchor. Optionally strace -c -f on the tsip servers during one
// transfer each (syscalls per MB).
//
//   npx tsx bench/tools/tun-tx-ab.ts [BYTES] [REPS] [--strace] [--offload] [--no-lwip] [--modes=off,on,on:SPIN_US:PUBLISH_BYTES] [--cpu-prof=DIR] [--test=bulk|recv|pingpong|pingpong-pinned|connrate|connrate-pinned] [--json=FILE] [--dirs=LABEL=DIR,...] [--ops=N] [--perf=PREFIX] [--tcpdump=PREFIX]
//   (with --test other than bulk/recv the figures are operations/s and server CPU µs per operation;
//   BYTES is then unused and --ops=N sets the transactions/connections per run, default 30000/3000)
//
// --test=recv is the other direction, kernel→stack (bulk-send writing BYTES
// to discard :9), as the anchors measure it. A mode may also set the
// receive thread (tun-rx-ab.ts runs this tool so): rx-off (uv_poll on the
// JavaScript thread), rx-on (the default: the thread engages under a
// backlog), rx-always (TSIP_TUN_RX_ENGAGE=0: the thread reads every packet),
// rx-on:ENGAGE:IDLE_WAKES, gro-off (TSIP_TUN_RX_GRO=0: no receive
// coalescing), gso-off (TSIP_TUN_TX_GSO=0: TCP sends MTU-sized segments),
// no-inline (TSIP_TUN_TX_INLINE=0: every write through the transmit thread),
// busy[:US] (TSIP_TUN_BUSY_POLL_US=US, default 50: busy polling on the reads);
// the transmit thread stays at its default then.
// base=DIR: the tsip server of another checkout (its bench/child/tsip-server.ts,
// its own addon build), at its defaults: a before/after in one run.
// --dirs: one tsip server per mode per checkout (e.g. --dirs=base=/tmp/base,mine=.), each running
// that checkout's bench/child/tsip-server.ts, so a change is A/B'd against its base in one run
// (servers alternate within every rep); without it, this checkout only.
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
/** --perf=PREFIX: perf record -g each tsip server over one extra run (PREFIX.N.data). */
const PERF = args.find((a) => a.startsWith('--perf='))?.slice(7);
/** --tcpdump=PREFIX: the first 60 TCP packets of one extra run on each tsip server's TUN (PREFIX.N.txt). */
const TCPDUMP = args.find((a) => a.startsWith('--tcpdump='))?.slice(10);
const PROF = args.find((a) => a.startsWith('--cpu-prof='))?.slice(11);
/** --test=pingpong|pingpong-pinned|connrate: a transaction test instead of bulk (rate = operations/s). */
const TEST = args.find((a) => a.startsWith('--test='))?.slice(7) ?? 'bulk';
const MODES = (args.find((a) => a.startsWith('--modes='))?.slice(8) ?? 'off,on').split(',');
const JSON_OUT = args.find((a) => a.startsWith('--json='))?.slice(7);
const OPS = Number(args.find((a) => a.startsWith('--ops='))?.slice(6) ?? 0);
const here = path.dirname(fileURLToPath(import.meta.url));
/** The tsip server's environment for a mode (see the header). */
function modeEnv(mode: string): string[] {
  const [what, a, b] = mode.split(':');
  if (what!.startsWith('base=')) return [];
  if (what === 'rx-off') return ['TSIP_TUN_RX_THREAD=0'];
  if (what === 'gro-off') return ['TSIP_TUN_RX_GRO=0'];
  if (what === 'gso-off') return ['TSIP_TUN_TX_GSO=0'];
  if (what === 'no-inline') return ['TSIP_TUN_TX_INLINE=0'];
  if (what === 'busy') return [`TSIP_TUN_BUSY_POLL_US=${a ?? 50}`];
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
  const dirsArg = args.find((a) => a.startsWith('--dirs='))?.slice(7);
  const dirs = dirsArg === undefined ? [['', path.join(here, '..', '..')]] : dirsArg.split(',').map((d) => [`${d.slice(0, d.indexOf('='))} `, path.resolve(d.slice(d.indexOf('=') + 1))]);
  for (const mode of MODES) {
    for (const [label, dir] of dirs) {
      const ns = net.netns(`t${subnet}`);
      const base = mode.startsWith('base=');
      const script = path.join(base ? mode.slice(5) : dir!, 'bench', 'child', 'tsip-server.ts');
      const child = net.spawnIn(ns, ['env', ...modeEnv(mode), process.execPath, ...(PROF ? ['--cpu-prof', '--cpu-prof-dir', PROF] : []), '--import', tsx, script, ns, `10.89.${subnet}.2`, `10.89.${subnet}.1`, '30', OFFLOAD ? 'offload' : 'plain', '900']);
      const l = await child.line(30_000);
      if (!l.startsWith('READY')) throw new Error(`tsip ${label}${mode}: ${l}`);
      servers.push({ id: base ? 'tsip base' : mode.startsWith('rx-') ? `tsip ${label}${mode}` : `tsip ${label}tx ${mode}`, ns, addr: `10.89.${subnet}.2`, proc: child });
      subnet++;
    }
  }
  if (LWIP) {
    const lns = net.netns('l');
    const lwip = net.spawnIn(lns, [bins['lwip-tun'], 'lwip0', '10.91.1.2', '255.255.255.252', '10.91.1.1', '900']);
    if (!(await lwip.line(30_000)).startsWith('READY')) throw new Error('lwip');
    configureTunLink({ dev: 'lwip0', address: '10.91.1.1/30', mtu: 1500, netns: lns });
    servers.push({ id: 'C lwIP', ns: lns, addr: '10.91.1.2', proc: lwip });
  }
  // Connection tests leave every client port in TIME_WAIT for a minute: the whole port range (as the anchors bench does).
  for (const s of servers) run(['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535'], s.ns);
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
  /** [user, system] CPU seconds of a process (/proc/PID/stat utime, stime). */
  const userSys = (pid: number): [number, number] => {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return [Number(f[11]) / 100, Number(f[12]) / 100];
  };
  /** Per server: user and system µs per operation of each transaction run. */
  const userSysPer = new Map<string, [number, number][]>();
  /** gbps: Gbit/s, or operations/s for a transaction test; units: MB moved, or operations done. */
  const once = async (s: Srv, n: number): Promise<{ gbps: number; cpuPerGB: number; units: number }> => {
    const cpu0 = procCpuSeconds(s.proc.pid);
    const th0 = threadCpu(s.proc.pid);
    if (TEST !== 'bulk' && TEST !== 'recv') {
      const us0 = userSys(s.proc.pid);
      const pinned = TEST.endsWith('-pinned');
      run(['taskset', '-a', '-p', '-c', pinned ? '0' : '0-1', String(s.proc.pid)]);
      const prog = TEST.startsWith('pingpong') ? bins.pingpong : bins.connrate;
      const argv = [prog, s.addr, '7', String(OPS || (TEST.startsWith('pingpong') ? 30000 : 3000)), '3'];
      const c = net.spawnIn(s.ns, pinned ? ['taskset', '-c', '0', ...argv] : argv);
      const line = await c.line(60_000);
      await c.done;
      const r = JSON.parse(line) as { ops: number; n: number };
      const us1 = userSys(s.proc.pid);
      userSysPer.set(s.id, [...(userSysPer.get(s.id) ?? []), [((us1[0] - us0[0]) / r.n) * 1e6, ((us1[1] - us0[1]) / r.n) * 1e6]]);
      return { gbps: r.ops, cpuPerGB: ((procCpuSeconds(s.proc.pid) - cpu0) / r.n) * 1e6, units: r.n };
    }
    const c = net.spawnIn(s.ns, TEST === 'recv' ? [bins['bulk-send'], s.addr, '9', String(n), '20'] : [bins['bulk-recv'], s.addr, '19', String(n), '20']);
    const line = await c.line(60_000);
    await c.done;
    const r = JSON.parse(line) as { bytes: number; gbps: number };
    const th1 = threadCpu(s.proc.pid);
    const per = threadCpus.get(s.id) ?? new Map<string, number[]>();
    threadCpus.set(s.id, per);
    for (const [k, v] of th1) if (v - (th0.get(k) ?? 0) >= 0.01) per.set(k, [...(per.get(k) ?? []), (v - (th0.get(k) ?? 0)) / (r.bytes / 1e9)]);
    return { gbps: r.gbps, cpuPerGB: (procCpuSeconds(s.proc.pid) - cpu0) / (r.bytes / 1e9), units: r.bytes / 1e6 };
  };
  for (const s of servers) await once(s, Math.min(BYTES, 50_000_000)); // warm-up
  const res = new Map(servers.map((s) => [s.id, [] as { gbps: number; cpuPerGB: number; units: number }[]]));
  for (let i = 0; i < REPS; i++) for (const s of servers) res.get(s.id)!.push(await once(s, BYTES));
  const summary: Record<string, unknown>[] = [];
  for (const s of servers) {
    const xs = res.get(s.id)!;
    const g = stats3(xs.map((x) => x.gbps));
    const cpu = stats3(xs.map((x) => x.cpuPerGB));
    const isBulk = TEST === 'bulk' || TEST === 'recv';
    summary.push({ server: s.id, test: TEST, bytes: BYTES, reps: REPS, median: g.median, min: g.min, max: g.max, runs: xs.map((x) => x.gbps), cpuMedian: cpu.median, unit: isBulk ? 'Gbit/s; server CPU s/GB' : 'ops/s; server CPU µs/op', perThreadCpu: Object.fromEntries([...(threadCpus.get(s.id) ?? new Map<string, number[]>())].map(([k, v]) => [k, stats3(v).median])) });
    if (isBulk) console.log(`${s.id.padEnd(20)} ${g.median.toFixed(3)} Gbit/s (min ${g.min.toFixed(3)} max ${g.max.toFixed(3)}), server CPU ${cpu.median.toFixed(2)} s/GB  [${xs.map((x) => x.gbps.toFixed(2)).join(' ')}]`);
    else console.log(`${s.id.padEnd(20)} ${g.median.toFixed(0)} ops/s (min ${g.min.toFixed(0)} max ${g.max.toFixed(0)}), server CPU ${cpu.median.toFixed(1)} µs/op  [${xs.map((x) => x.gbps.toFixed(0)).join(' ')}]`);
    const usr = userSysPer.get(s.id);
    if (usr !== undefined) console.log(`${''.padEnd(20)} user ${stats3(usr.map((x) => x[0])).median.toFixed(1)} µs/op, system ${stats3(usr.map((x) => x[1])).median.toFixed(1)} µs/op (medians)`);
    const per = [...(threadCpus.get(s.id) ?? new Map<string, number[]>())].map(([k, v]) => `${k} ${stats3(v).median.toFixed(2)}`);
    console.log(`${''.padEnd(20)} per thread, CPU s/GB (median): ${per.join(', ')}`);
  }
  if (TCPDUMP !== undefined) {
    // The first packets of one more run on each tsip server's TUN (as the kernel sees them): TCPDUMP.<n>.txt.
    let i = 0;
    for (const s of servers.filter((x) => x.id.startsWith('tsip'))) {
      const file = `${TCPDUMP}.${i++}.txt`;
      const td = spawn('ip', ['netns', 'exec', s.ns, 'tcpdump', '-n', '-l', '-S', '-i', 'tsip0', '-c', process.env.TSIP_AB_TCPDUMP_COUNT ?? '60', 'tcp'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      td.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const closed = new Promise((ok) => td.on('close', ok));
      await new Promise((ok) => setTimeout(ok, 500));
      await once(s, BYTES);
      td.kill('SIGINT');
      await closed;
      writeFileSync(file, out);
      console.log(`tcpdump of ${s.id}: ${file}`);
    }
  }
  if (PERF !== undefined) {
    // perf record (call graphs, user + kernel) of each tsip server over one more run: PERF.<n>.data.
    let i = 0;
    for (const s of servers.filter((x) => x.id.startsWith('tsip'))) {
      const file = `${PERF}.${i++}.data`;
      const pr = spawn('perf', ['record', '-q', '-g', '-o', file, '-p', String(s.proc.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
      const closed = new Promise((ok) => pr.on('close', ok));
      await new Promise((ok) => setTimeout(ok, 500));
      const r = await once(s, BYTES);
      process.kill(pr.pid!, 'SIGINT');
      await closed;
      console.log(`perf record of ${s.id} (${r.units.toFixed(0)} ${TEST === 'bulk' || TEST === 'recv' ? 'MB' : 'operations'} at ${r.gbps.toFixed(1)}): ${file}`);
    }
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
        const calls = totalLine && totalLine.length >= 5 ? Number(totalLine[3]) : null;
        const isBulk = TEST === 'bulk' || TEST === 'recv';
        const unit = isBulk ? 'MB' : 'operation';
        console.log(`--- strace -c -p ${t.tid} (${what}) of ${s.id}, ${r.units.toFixed(0)} ${unit}s at ${r.gbps.toFixed(3)} ${isBulk ? 'Gbit' : 'op'}/s under strace ---\n${body}`);
        if (calls !== null) console.log(`${what}: syscalls per ${unit} ${(calls / r.units).toFixed(2)}`);
        if (calls !== null) summary.push({ server: s.id, strace: what, [`syscallsPer${isBulk ? 'MB' : 'Op'}`]: calls / r.units, rateUnderStrace: r.gbps, table: body });
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

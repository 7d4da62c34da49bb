// Macro benchmark: one bulk TCP flow over a real TUN device, tsip against
// the Linux kernel, beside the same transfer between two kernel endpoints
// over a veth pair, in the same run.
//
//   kernel→tsip   a python3 sender (sendall of 1 MiB chunks, then
//                 shutdown(SHUT_WR) and wait for the peer's close) uploads N
//                 bytes to tsip's discard service on :9 (the service's loop,
//                 timed: accept → EOF).
//   tsip→kernel   tsip connects out to a python3 sink in the namespace and
//                 writes N bytes in 64 KiB blocks (as the HTTP server does
//                 for /bytes/N), then closes.
//   kernel→kernel the same python3 sender and sink, in two namespaces joined
//                 by a veth pair.
//
// Throughput is payload Gbit/s (10^9) measured at the receiver from accept
// to EOF. CPU seconds: the sender's and receiver's own (os.times() in
// python, process.cpuUsage() for tsip: the Node process hosting the stack).
// Modes: "plain" = MTU 1500, no offload (TUN without vnet header; the veth
// with checksum/SG/TSO/GSO/GRO off) and "offload" (TUN with vnet header:
// checksum + TSO/GSO, 64 KiB segments both ways; the veth with its default
// offloads on). Each figure is the median of 3 runs (min–max beside it),
// tsip and kernel runs interleaved, after one unmeasured warm-up transfer.
//
// Run as a script to profile the tsip receive path on its own:
//   node --cpu-prof --cpu-prof-dir /tmp/tsip-prof --import tsx bench/tun-bulk.bench.ts rx|tx [--offload] [BYTES]
//   npx tsx bench/tools/cpuprofile-top.ts /tmp/tsip-prof/*.cpuprofile
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';
import { BenchNet, type TunSetup, benchSkipReason, leftoverNamespaces, selfCpuSeconds, setOffloads, stats3, tunSetup, vethSetup } from './netns.ts';
import { bodyBlock, BODY_BLOCK_SIZE } from '../src/services/http.ts';
import { serve } from '../src/services/serve.ts';
import { AF_INET } from '../src/socket/constants.ts';
/** socket(AF_INET6) (Linux's 10; the constant lands with the dual-stack sockets). */
const AF_INET6 = 10;

const BYTES = Number(process.env.TSIP_BENCH_TUN_BYTES ?? 400_000_000);
const WARMUP_BYTES = Math.min(BYTES, 50_000_000);
const REPS = 3;
/** Longest one transfer may take before it counts as failed. */
const TRANSFER_TIMEOUT_MS = 30_000;

const PY_SINK = `
import socket, sys, time, os, json
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ls = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(8)
print('READY', flush=True)
buf = memoryview(bytearray(1 << 20))
for _ in range(count):
    c, _a = ls.accept()
    t0 = time.perf_counter(); c0 = os.times()
    got = 0
    while True:
        k = c.recv_into(buf)
        if k == 0: break
        got += k
    t1 = time.perf_counter(); c1 = os.times()
    c.close()
    print(json.dumps({'bytes': got, 'secs': t1 - t0, 'cpu': (c1.user - c0.user) + (c1.system - c0.system)}), flush=True)
`;

const PY_SEND = `
import socket, sys, time, os, json
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = memoryview(bytearray(1 << 20))
c0 = os.times(); t0 = time.perf_counter()
s = socket.create_connection((host, port))
left = n
while left > 0:
    k = min(left, len(buf))
    s.sendall(buf[:k])
    left -= k
s.shutdown(socket.SHUT_WR)
while s.recv(65536): pass
t1 = time.perf_counter(); c1 = os.times()
print(json.dumps({'secs': t1 - t0, 'cpu': (c1.user - c0.user) + (c1.system - c0.system)}), flush=True)
`;

interface Sample {
  gbps: number;
  senderCpu: number;
  receiverCpu: number;
}

interface TimedSink {
  next(): Promise<{ bytes: number; secs: number; cpu: number }>;
}

/** Replace tsip's discard service by the same loop with timing (accept → EOF) and CPU. */
function timedDiscard(env: TunSetup): TimedSink {
  const builtin = env.services.list.find((s) => s.name === 'discard');
  builtin?.stop();
  const waiting: ((r: { bytes: number; secs: number; cpu: number }) => void)[] = [];
  const done: { bytes: number; secs: number; cpu: number }[] = [];
  const svc = serve(env.stack.sockets, 'discard', 9, async (sock, _addr, c) => {
    const t0 = performance.now();
    const cpu0 = selfCpuSeconds();
    let got = 0;
    // As the built-in discard service: one reused buffer (recv_into), no allocation per read.
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await sock.recvInto(buf);
      if (n === 0) break;
      got += n;
    }
    c.bytesIn += got;
    const r = { bytes: got, secs: (performance.now() - t0) / 1000, cpu: selfCpuSeconds() - cpu0 };
    const w = waiting.shift();
    if (w) w(r);
    else done.push(r);
  });
  env.services.list.push(svc);
  return {
    next: () => {
      const r = done.shift();
      if (r) return Promise.resolve(r);
      return new Promise((ok) => waiting.push(ok));
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, fail) => (t = setTimeout(() => fail(new Error(`${what}: timed out after ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

const gbps = (bytes: number, secs: number): number => (bytes * 8) / secs / 1e9;

/** kernel → tsip: one python3 upload to the timed discard sink (over IPv6 with `six`). */
async function kernelToTsip(net: BenchNet, env: TunSetup, sink: TimedSink, n: number, six = false): Promise<Sample> {
  const sender = net.python(env.ns, PY_SEND, [six ? env.tsip6 : env.tsip, 9, n]);
  const r = await withTimeout(sink.next(), TRANSFER_TIMEOUT_MS, 'kernel→tsip');
  const s = JSON.parse(await sender.line(TRANSFER_TIMEOUT_MS)) as { secs: number; cpu: number };
  await sender.done;
  if (r.bytes !== n) throw new Error(`kernel→tsip: tsip received ${r.bytes} of ${n} bytes`);
  return { gbps: gbps(n, r.secs), senderCpu: s.cpu, receiverCpu: r.cpu };
}

/** tsip → kernel: tsip connects out to a python3 sink and writes n bytes. */
async function tsipToKernel(env: TunSetup, sink: ReturnType<BenchNet['python']>, port: number, n: number, six = false): Promise<Sample> {
  const block = bodyBlock();
  const cpu0 = selfCpuSeconds();
  const s = env.stack.sockets.socket(six ? AF_INET6 : AF_INET);
  s.settimeout(TRANSFER_TIMEOUT_MS / 1000);
  await s.connect([six ? env.kernel6 : env.kernel, port]);
  for (let off = 0; off < n; off += BODY_BLOCK_SIZE) {
    const k = Math.min(BODY_BLOCK_SIZE, n - off);
    await s.write(k === BODY_BLOCK_SIZE ? block : block.subarray(0, k));
  }
  s.close();
  const r = JSON.parse(await sink.line(TRANSFER_TIMEOUT_MS)) as { bytes: number; secs: number; cpu: number };
  const cpu = selfCpuSeconds() - cpu0;
  if (r.bytes !== n) throw new Error(`tsip→kernel: the kernel received ${r.bytes} of ${n} bytes`);
  return { gbps: gbps(n, r.secs), senderCpu: cpu, receiverCpu: r.cpu };
}

/** kernel → kernel over the veth: python3 sender in a, sink in b. */
async function kernelToKernel(net: BenchNet, from: { ns: string }, to: { ns: string; addr: string }, sink: ReturnType<BenchNet['python']>, port: number, n: number): Promise<Sample> {
  const sender = net.python(from.ns, PY_SEND, [to.addr, port, n]);
  const r = JSON.parse(await sink.line(TRANSFER_TIMEOUT_MS)) as { bytes: number; secs: number; cpu: number };
  const s = JSON.parse(await sender.line(TRANSFER_TIMEOUT_MS)) as { secs: number; cpu: number };
  await sender.done;
  if (r.bytes !== n) throw new Error(`kernel→kernel: received ${r.bytes} of ${n} bytes`);
  return { gbps: gbps(n, r.secs), senderCpu: s.cpu, receiverCpu: r.cpu };
}

type Direction = 'kernel→tsip' | 'tsip→kernel';
type Mode = 'plain' | 'offload';

function row(direction: string, mode: Mode, stack: string, xs: Sample[], ratio?: number): Row {
  const g = stats3(xs.map((x) => x.gbps));
  const sc = stats3(xs.map((x) => x.senderCpu));
  const rc = stats3(xs.map((x) => x.receiverCpu));
  const r: Row = {
    transfer: direction,
    mode,
    stack,
    'Gbit/s': round(g.median, 3),
    'min–max': `${round(g.min, 3)}–${round(g.max, 3)}`,
    'sender CPU s': round(sc.median, 3),
    'receiver CPU s': round(rc.median, 3),
    'CPU s/GB': round((sc.median + rc.median) / (BYTES / 1e9), 3),
  };
  if (ratio !== undefined) r['tsip/kernel'] = round(ratio, 3);
  return r;
}

async function measure(): Promise<BenchReport> {
  const net = new BenchNet('bulk');
  const rows: Row[] = [];
  const figures: Record<string, number> = {};
  const notes: string[] = [
    'tsip (TUN) is IPv4; tsip IPv6 (TUN) is the same transfer over IPv6 on the same device (fd00:89:N::2), measured in the same run; its tsip/kernel ratio is against the IPv4 veth figure.',
    `${BYTES / 1e6} MB per transfer, ${REPS} runs each (median, min–max), 1 warm-up transfer of ${WARMUP_BYTES / 1e6} MB per tsip set-up; Gbit/s = payload bits / receiver's accept→EOF time.`,
    'CPU s: sender and receiver process CPU (user+system) over the transfer; for tsip the Node process hosting the stack (process.cpuUsage), for the kernel side python3 (os.times()): mostly the kernel TCP work done in its syscalls; softirq work may be charged to whichever process runs.',
  ];
  try {
    let subnet = 1;
    for (const mode of ['plain', 'offload'] as Mode[]) {
      const offload = mode === 'offload';
      const env = tunSetup(net, offload ? 'to' : 'tp', subnet++, { offload });
      const veth = vethSetup(net, offload ? 'vo' : 'vp', subnet++);
      const state = [setOffloads(veth.a.ns, veth.a.dev, offload ? 'default' : 'off'), setOffloads(veth.b.ns, veth.b.dev, offload ? 'default' : 'off')];
      notes.push(`${mode}: veth offloads ${state[0]} (both ends); TUN ${offload ? 'with vnet header, csum + TSO/GSO (tsip gsoMaxSize 65535)' : 'without vnet header'}, MTU 1500.`);
      const sink = timedDiscard(env);
      // One python sink per kernel-side receiver, for warm-up + REPS connections.
      const tunSink = net.python(env.ns, PY_SINK, [env.kernel, 5001, REPS + 1]);
      const tunSink6 = net.python(env.ns, PY_SINK, [env.kernel6, 5002, REPS]);
      const vethSinkAB = net.python(veth.b.ns, PY_SINK, [veth.b.addr, 5001, REPS]);
      const vethSinkBA = net.python(veth.a.ns, PY_SINK, [veth.a.addr, 5001, REPS]);
      for (const s of [tunSink, tunSink6, vethSinkAB, vethSinkBA]) if ((await s.line(10_000)) !== 'READY') throw new Error('python sink did not start');

      for (const dir of ['kernel→tsip', 'tsip→kernel'] as Direction[]) {
        const tsipRun = (n: number): Promise<Sample> => (dir === 'kernel→tsip' ? kernelToTsip(net, env, sink, n) : tsipToKernel(env, tunSink, 5001, n));
        const tsipRun6 = (n: number): Promise<Sample> => (dir === 'kernel→tsip' ? kernelToTsip(net, env, sink, n, true) : tsipToKernel(env, tunSink6, 5002, n, true));
        const kernRun = (): Promise<Sample> => (dir === 'kernel→tsip' ? kernelToKernel(net, veth.a, veth.b, vethSinkAB, 5001, BYTES) : kernelToKernel(net, veth.b, veth.a, vethSinkBA, 5001, BYTES));
        await tsipRun(WARMUP_BYTES);
        const t: Sample[] = [];
        const t6: Sample[] = [];
        const k: Sample[] = [];
        for (let i = 0; i < REPS; i++) {
          t.push(await tsipRun(BYTES));
          t6.push(await tsipRun6(BYTES));
          k.push(await kernRun());
        }
        const tg = stats3(t.map((x) => x.gbps)).median;
        const kg = stats3(k.map((x) => x.gbps)).median;
        const key = `${dir === 'kernel→tsip' ? 'kernel-to-tsip' : 'tsip-to-kernel'} ${mode}`;
        rows.push(row(dir, mode, 'tsip (TUN)', t, tg / kg));
        const t6g = stats3(t6.map((x) => x.gbps)).median;
        rows.push(row(dir, mode, 'tsip IPv6 (TUN)', t6, t6g / kg));
        rows.push(row(dir.replace('tsip', 'kernel'), mode, 'kernel (veth)', k));
        figures[`${key} tsip IPv6 Gbit/s`] = round(t6g, 3);
        figures[`${key} tsip IPv6/IPv4`] = round(t6g / tg, 4);
        figures[`${key} tsip Gbit/s`] = round(tg, 3);
        figures[`${key} kernel Gbit/s`] = round(kg, 3);
        figures[`${key} tsip/kernel`] = round(tg / kg, 4);
        figures[`${key} tsip CPU s`] = round(stats3(t.map((x) => (dir === 'kernel→tsip' ? x.receiverCpu : x.senderCpu))).median, 3);
      }
      const c = env.dev.counters;
      notes.push(`${mode}: TUN counters rx ${c.rxPackets} pkts (${c.rxGso} GSO), tx ${c.txPackets} pkts (${c.txGso} GSO), drops rx ${c.rxDrops} tx ${c.txDrops}; tsip TCP segments in ${env.stack.tcp.counters.inSegs}, out ${env.stack.tcp.counters.outSegs}, retransmitted ${env.stack.tcp.counters.retransSegs}.`);
    }
  } finally {
    net.cleanup();
  }
  const left = leftoverNamespaces();
  if (left.length > 0) notes.push(`WARNING: namespaces left behind: ${left.join(', ')}`);
  return { name: 'tun-bulk', rows, figures, notes };
}

const spec: BenchSpec = {
  name: 'tun-bulk',
  description: 'one bulk TCP flow over TUN (kernel→tsip, tsip→kernel; MTU 1500 and offload) beside kernel↔kernel over veth: Gbit/s, CPU s',
  async run() {
    const why = benchSkipReason();
    if (why !== null) {
      return { name: 'tun-bulk', rows: [{ skipped: why }], figures: {}, notes: [`skipped: ${why}`] };
    }
    try {
      return await measure();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return { name: 'tun-bulk', rows: [{ failed: msg.slice(0, 300) }], figures: {}, notes: [`failed: ${msg}`] };
    }
  },
};
export default spec;

/** `tsx bench/tun-bulk.bench.ts rx [--offload] [BYTES]`: kernel→tsip transfers only, for `node --cpu-prof`. */
async function profileRx(args: string[]): Promise<void> {
  const offload = args.includes('--offload');
  const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 500_000_000);
  const why = benchSkipReason();
  if (why !== null) {
    console.log(`skipped: ${why}`);
    return;
  }
  const net = new BenchNet('prof');
  try {
    const env = tunSetup(net, 't', 1, { offload });
    const sink = timedDiscard(env);
    await kernelToTsip(net, env, sink, WARMUP_BYTES);
    const r = await kernelToTsip(net, env, sink, n);
    const c = env.dev.counters;
    console.log(`kernel→tsip ${offload ? 'offload' : 'plain'}: ${n} bytes at ${round(r.gbps, 3)} Gbit/s, tsip CPU ${round(r.receiverCpu, 3)} s; TUN rx ${c.rxPackets} packets (${c.rxGso} GSO) in ${c.rxBatches} batches, tx ${c.txPackets}`);
  } finally {
    net.cleanup();
  }
}

/** `tsx bench/tun-bulk.bench.ts tx [--offload] [BYTES]`: tsip→kernel transfers only (for --cpu-prof). */
async function profileTx(args: string[]): Promise<void> {
  const offload = args.includes('--offload');
  const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 500_000_000);
  const why = benchSkipReason();
  if (why !== null) {
    console.log(`skipped: ${why}`);
    return;
  }
  const net = new BenchNet('prof');
  try {
    const env = tunSetup(net, 't', 1, { offload });
    const sink = net.python(env.ns, PY_SINK, [env.kernel, 5001, 2]);
    if ((await sink.line(10_000)) !== 'READY') throw new Error('python sink did not start');
    await tsipToKernel(env, sink, 5001, WARMUP_BYTES);
    const r = await tsipToKernel(env, sink, 5001, n);
    const c = env.dev.counters;
    console.log(`tsip→kernel ${offload ? 'offload' : 'plain'}: ${n} bytes at ${round(r.gbps, 3)} Gbit/s, tsip CPU ${round(r.senderCpu, 3)} s; TUN tx ${c.txPackets} packets (${c.txGso} GSO), rx ${c.rxPackets} in ${c.rxBatches} batches`);
  } finally {
    net.cleanup();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === 'rx') await profileRx(process.argv.slice(3));
  else if (process.argv[2] === 'tx') await profileTx(process.argv.slice(3));
}

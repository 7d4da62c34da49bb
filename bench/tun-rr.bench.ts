// Macro benchmark: request/response and connection rate over a real TUN
// device, tsip's echo service (:7) against a kernel client, beside the same
// client against a kernel echo server over a veth pair, in the same run.
//
//   ping-pong   one connection (TCP_NODELAY), send 1 byte / recv 1 byte in
//               a loop: transactions/s.
//   connections connect, send 1 byte, recv the echo, close: connections/s
//               (sequential; the client closes first, so TIME_WAIT is on
//               the client's side).
//
// The client is python3 (the same script for both servers); the kernel
// echo server is a single-threaded python3 accept loop with TCP_NODELAY.
// Each run stops after COUNT operations or SECONDS, whichever comes first;
// 3 runs each (median, min–max), tsip and kernel interleaved. CPU per
// operation: the server's (tsip: process.cpuUsage() of the Node process
// hosting the stack; kernel: the python3 server's utime+stime from /proc)
// and the client's (os.times()). MTU 1500, TUN without offload, the veth
// with its default offloads (irrelevant for 1-byte payloads).
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';
import { run } from '../src/netif/tun-ip.ts';
import { BenchNet, type Child, benchSkipReason, leftoverNamespaces, procCpuSeconds, selfCpuSeconds, stats3, tunSetup, vethSetup } from './netns.ts';

const REPS = 3;
const RR_COUNT = Number(process.env.TSIP_BENCH_RR_COUNT ?? 50_000);
const CONN_COUNT = Number(process.env.TSIP_BENCH_CONN_COUNT ?? 4_000);
const SECONDS = Number(process.env.TSIP_BENCH_RR_SECONDS ?? 3);

const PY_PINGPONG = `
import socket, sys, time, os, json
host, port, count, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.create_connection((host, port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
b = b'x'
for _ in range(500):
    s.send(b)
    if s.recv(1) != b: raise SystemExit('bad echo')
c0 = os.times(); t0 = time.perf_counter(); deadline = t0 + secs
n = 0
while n < count:
    s.send(b)
    if s.recv(1) != b: raise SystemExit('bad echo')
    n += 1
    if n & 255 == 0 and time.perf_counter() > deadline: break
t1 = time.perf_counter(); c1 = os.times()
s.close()
print(json.dumps({'n': n, 'secs': t1 - t0, 'cpu': (c1.user - c0.user) + (c1.system - c0.system)}), flush=True)
`;

const PY_CONNECT = `
import socket, sys, time, os, json
host, port, count, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
b = b'x'
def one():
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((host, port))
    s.send(b)
    if s.recv(1) != b: raise SystemExit('bad echo')
    s.close()
for _ in range(50): one()
c0 = os.times(); t0 = time.perf_counter(); deadline = t0 + secs
n = 0
while n < count:
    one()
    n += 1
    if n & 15 == 0 and time.perf_counter() > deadline: break
t1 = time.perf_counter(); c1 = os.times()
print(json.dumps({'n': n, 'secs': t1 - t0, 'cpu': (c1.user - c0.user) + (c1.system - c0.system)}), flush=True)
`;

const PY_ECHO_SERVER = `
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(64)
print('READY', flush=True)
while True:
    c, _a = ls.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
`;

interface Sample {
  rate: number;
  serverCpuUs: number;
  clientCpuUs: number;
}

/** One client run in `ns` against host:port; `serverCpu` reads the server's CPU seconds so far. */
async function clientRun(net: BenchNet, ns: string, code: string, count: number, host: string, port: number, serverCpu: () => number): Promise<Sample> {
  const cpu0 = serverCpu();
  const c = net.python(ns, code, [host, port, count, SECONDS]);
  const line = await c.line(SECONDS * 1000 + 30_000);
  const r = JSON.parse(line) as { n: number; secs: number; cpu: number };
  const res = await c.done;
  const cpu1 = serverCpu();
  if (res.code !== 0) throw new Error(`client failed: ${res.stderr.trim()}`);
  // The server's CPU spans the client's warm-up and start-up too (a few % more operations than n).
  return { rate: r.n / r.secs, serverCpuUs: ((cpu1 - cpu0) / r.n) * 1e6, clientCpuUs: (r.cpu / r.n) * 1e6 };
}

function row(test: string, server: string, xs: Sample[], ratio?: number): Row {
  const g = stats3(xs.map((x) => x.rate));
  const r: Row = {
    test,
    server,
    'ops/s': Math.round(g.median),
    'min–max': `${Math.round(g.min)}–${Math.round(g.max)}`,
    'µs/op': round(1e6 / g.median, 1),
    'server CPU µs/op': round(stats3(xs.map((x) => x.serverCpuUs)).median, 1),
    'client CPU µs/op': round(stats3(xs.map((x) => x.clientCpuUs)).median, 1),
  };
  if (ratio !== undefined) r['tsip/kernel'] = round(ratio, 3);
  return r;
}

async function measure(): Promise<BenchReport> {
  const net = new BenchNet('rr');
  const rows: Row[] = [];
  const figures: Record<string, number> = {};
  const notes: string[] = [
    'ops/s = transactions/s for ping-pong, connections/s for connect+echo+close. The clients\' namespaces use ephemeral ports 1024-65535 (ip_local_port_range) so TIME_WAIT does not exhaust them.',
    `${REPS} runs each (median, min–max), each at most ${SECONDS} s (ping-pong ≤ ${RR_COUNT} transactions after 500 unmeasured, connections ≤ ${CONN_COUNT} after 50 unmeasured); client python3 with TCP_NODELAY.`,
    'server CPU µs/op: tsip = the Node process hosting the stack (process.cpuUsage), kernel = the python3 echo server (/proc utime+stime, 10 ms ticks; includes its share of kernel TCP work); client CPU µs/op: python3 os.times().',
  ];
  try {
    const env = tunSetup(net, 't', 1, { offload: false });
    const veth = vethSetup(net, 'v', 2);
    // Each client namespace makes up to ~12k connections to one server, all
    // left in TIME_WAIT: connect() prefers even ports of the ephemeral range
    // and slows down sharply once they run out (28k ports by default).
    for (const ns of [env.ns, veth.a.ns]) run(['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535'], ns);
    const server: Child = net.python(veth.b.ns, PY_ECHO_SERVER, [veth.b.addr, 7]);
    if ((await server.line(10_000)) !== 'READY') throw new Error('kernel echo server did not start');
    const kernelCpu = (): number => procCpuSeconds(server.pid);
    const tests = [
      { test: '1-byte ping-pong', key: 'pingpong', unit: 'transactions/s', code: PY_PINGPONG, count: RR_COUNT },
      { test: 'connect+1-byte echo+close', key: 'connect', unit: 'connections/s', code: PY_CONNECT, count: CONN_COUNT },
    ];
    for (const t of tests) {
      const ts: Sample[] = [];
      const ks: Sample[] = [];
      for (let i = 0; i < REPS; i++) {
        ts.push(await clientRun(net, env.ns, t.code, t.count, env.tsip, 7, selfCpuSeconds));
        ks.push(await clientRun(net, veth.a.ns, t.code, t.count, veth.b.addr, 7, kernelCpu));
      }
      const tr = stats3(ts.map((x) => x.rate)).median;
      const kr = stats3(ks.map((x) => x.rate)).median;
      rows.push(row(`${t.test} (${t.unit})`, 'tsip (TUN)', ts, tr / kr));
      rows.push(row(`${t.test} (${t.unit})`, 'kernel (veth)', ks));
      figures[`${t.key} tsip ${t.unit}`] = Math.round(tr);
      figures[`${t.key} kernel ${t.unit}`] = Math.round(kr);
      figures[`${t.key} tsip/kernel`] = round(tr / kr, 4);
      figures[`${t.key} tsip server CPU µs/op`] = round(stats3(ts.map((x) => x.serverCpuUs)).median, 1);
    }
    const echo = env.services.list.find((s) => s.name === 'echo')!.counters;
    const tc = env.stack.tcp.counters;
    notes.push(`tsip echo: ${echo.accepted} connections, ${echo.errors} errors; TCP segments in ${tc.inSegs}, out ${tc.outSegs}, retransmitted ${tc.retransSegs}; TUN drops rx ${env.dev.counters.rxDrops} tx ${env.dev.counters.txDrops}.`);
  } finally {
    net.cleanup();
  }
  const left = leftoverNamespaces();
  if (left.length > 0) notes.push(`WARNING: namespaces left behind: ${left.join(', ')}`);
  return { name: 'tun-rr', rows, figures, notes };
}

const spec: BenchSpec = {
  name: 'tun-rr',
  description: '1-byte ping-pong (transactions/s) and connection rate (connections/s) against tsip over TUN, beside a kernel echo server over veth',
  async run() {
    const why = benchSkipReason();
    if (why !== null) {
      return { name: 'tun-rr', rows: [{ skipped: why }], figures: {}, notes: [`skipped: ${why}`] };
    }
    try {
      return await measure();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return { name: 'tun-rr', rows: [{ failed: msg.slice(0, 300) }], figures: {}, notes: [`failed: ${msg}`] };
    }
  },
};
export default spec;

// Macro: what the APIs above the raw TCP API cost. 50 MB one way between two
// simulated stacks (1 ms latency, MTU 1500, every checksum verified, sha256
// checked), sent and received through (a) the node:net façade (stream.pipeline
// of 64 KiB Buffers into a tsip Socket; the server hashes 'data' events) and
// (b) the MicroPython-style sockets (sendall / recv_into). A third row uses
// node's 16 KiB highWaterMark: unacknowledged bytes count against it, so it
// limits what is in flight (why tsip's default is the TCP send buffer). The simulator runs
// under sim.settle(), letting the event loop turn between virtual events, as
// application code over tsip does. Compare with sim-bulk (raw API, no event
// loop turns). Median of 3 runs after a warm-up; bounded by a wall-clock cap.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Simulator } from '../src/sim/simulator.ts';
import { Rng } from '../src/time/rng.ts';
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';

const BYTES = 50 * 1024 * 1024;
const WARMUP = 10 * 1024 * 1024;
const CHUNK = 64 * 1024;
const REPEATS = 3;
const WALL_CAP_MS = 60_000;

interface Run {
  api: string;
  wallMs: number;
  cpuMs: number;
  virtualMs: number;
  sha256Match: boolean;
}

function pairOf(): { sim: Simulator; a: ReturnType<Simulator['addStack']>; b: ReturnType<Simulator['addStack']> } {
  const sim = new Simulator({ seed: 7 });
  const a = sim.addStack('client');
  const b = sim.addStack('server');
  sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 1 } });
  return { sim, a, b };
}

function chunks(data: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += CHUNK) out.push(Buffer.from(data.buffer, data.byteOffset + off, Math.min(CHUNK, data.length - off)));
  return out;
}

async function viaNet(data: Uint8Array, sha: string, highWaterMark?: number): Promise<Run> {
  const { sim, a, b } = pairOf();
  const h = createHash('sha256');
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    b.net
      .createServer((s) => {
        s.on('data', (d: Buffer) => {
          h.update(d);
          got += d.length;
        });
        s.on('end', () => resolve());
        s.on('error', reject);
      })
      .listen(80);
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sock = await sim.settle(a.connectTcp({ host: '10.0.0.2', port: 80, ...(highWaterMark !== undefined ? { highWaterMark } : {}) }));
  await sim.settle(Promise.all([pipeline(Readable.from(chunks(data)), sock), done]), 3_600_000);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const r: Run = { api: `node:net (stream.pipeline)${highWaterMark !== undefined ? `, highWaterMark ${highWaterMark / 1024} KiB` : ''}`, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, virtualMs: sim.clock.now(), sha256Match: got === data.length && h.digest('hex') === sha };
  sim.close();
  return r;
}

async function viaSockets(data: Uint8Array, sha: string): Promise<Run> {
  const { sim, a, b } = pairOf();
  const ls = b.socket();
  ls.bind(['0.0.0.0', 80]);
  ls.listen(1);
  const h = createHash('sha256');
  let got = 0;
  const server = (async () => {
    const [s] = await ls.accept();
    const buf = new Uint8Array(CHUNK);
    for (;;) {
      const n = await s.recvInto(buf);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      got += n;
    }
    s.close();
  })();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const c = a.socket();
  const client = (async () => {
    await c.connect(['10.0.0.2', 80]);
    await c.sendall(data);
    c.close();
  })();
  await sim.settle(Promise.all([server, client]), 3_600_000);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  ls.close();
  const r: Run = { api: 'sockets (sendall / recv_into)', wallMs, cpuMs: (cpu.user + cpu.system) / 1000, virtualMs: sim.clock.now(), sha256Match: got === data.length && h.digest('hex') === sha };
  sim.close();
  return r;
}

async function capped<T>(p: Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, fail) => (t = setTimeout(() => fail(new Error(`over ${WALL_CAP_MS} ms`)), WALL_CAP_MS)))]);
  } finally {
    clearTimeout(t);
  }
}

const spec: BenchSpec = {
  name: 'net-bulk',
  description: '50 MB one way over the simulator through the node:net façade and through the MicroPython-style sockets (event loop turning), sha256 checked',
  async run(): Promise<BenchReport> {
    const data = new Rng(11).fill(new Uint8Array(BYTES));
    const sha = createHash('sha256').update(data).digest('hex');
    const warm = data.subarray(0, WARMUP);
    const warmSha = createHash('sha256').update(warm).digest('hex');
    const rows: Row[] = [];
    const figures: Record<string, number> = {};
    for (const [name, fn] of [
      ['node:net', (d: Uint8Array, h: string) => viaNet(d, h)],
      ['node:net hwm16k', (d: Uint8Array, h: string) => viaNet(d, h, 16 * 1024)],
      ['sockets', viaSockets],
    ] as const) {
      await capped(fn(warm, warmSha));
      const runs: Run[] = [];
      for (let i = 0; i < REPEATS; i++) runs.push(await capped(fn(data, sha)));
      const sorted = [...runs].sort((x, y) => x.wallMs - y.wallMs);
      const med = sorted[Math.floor(sorted.length / 2)]!;
      const gbps = (BYTES * 8) / (med.wallMs / 1000) / 1e9;
      const perCpu = (BYTES * 8) / (med.cpuMs / 1000) / 1e9;
      rows.push({
        api: med.api,
        MB: round(BYTES / 1e6, 1),
        sha256: runs.every((r) => r.sha256Match) ? 'match' : 'MISMATCH',
        'wall ms (median)': round(med.wallMs, 0),
        'wall ms min–max': `${round(sorted[0]!.wallMs, 0)}–${round(sorted[sorted.length - 1]!.wallMs, 0)}`,
        'CPU ms': round(med.cpuMs, 0),
        'Gbit/s (wall)': round(gbps, 3),
        'Gbit/s per CPU s': round(perCpu, 3),
        'virtual ms': round(med.virtualMs, 0),
      });
      figures[`${name} Gbit/s`] = round(gbps, 3);
      figures[`${name} Gbit/s per CPU s`] = round(perCpu, 3);
    }
    return { name: 'net-bulk', rows, figures, notes: ['compare with sim-bulk (raw API, the simulator driven synchronously): the difference is the API layers plus event-loop turns between virtual events'] };
  },
};

export default spec;

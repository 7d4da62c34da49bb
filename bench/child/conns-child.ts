// Child process of bench/conns-1m.bench.ts (run with --expose-gc and
// --max-old-space-size=3072): N idle ESTABLISHED connections between two
// simulator stacks (bench/child/conns-world.ts), heap per connection end,
// then every connection closed cleanly. JSON lines on stdout:
//   {"type":"progress", opened, heapUsed, ms}   every 100k connections (heap without gc)
//   {"type":"open", ...}    after gc, with the heap figures
//   {"type":"result", ...}  after the clean close
//
//   conns-child.ts N
import { performance } from 'node:perf_hooks';
import { BATCH, ConnWorld } from './conns-world.ts';

const gcFn = (globalThis as { gc?: () => void }).gc;
if (gcFn === undefined) {
  console.error('conns-child: run with --expose-gc');
  process.exit(2);
}
const gc = gcFn;

function heapAfterGc(): { heapUsed: number; rss: number; arrayBuffers: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, arrayBuffers: m.arrayBuffers };
}

function out(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

const n = Number(process.argv[2]);
if (!(Number.isInteger(n) && n > 0)) {
  console.error('usage: conns-child.ts N');
  process.exit(2);
}
const w = new ConnWorld(n);
// One connection opened and closed first: the code paths have run and the
// listener exists before the baseline.
w.open(1);
const base = heapAfterGc();
const t0 = performance.now();
const STEP = 100_000;
while (w.opened - 1 < n) {
  const k = Math.min(STEP - ((w.opened - 1) % STEP), n - (w.opened - 1));
  w.open(Math.min(k, n - (w.opened - 1)));
  if ((w.opened - 1) % STEP === 0 || w.opened - 1 === n) out({ type: 'progress', opened: w.opened - 1, heapUsed: process.memoryUsage().heapUsed, ms: performance.now() - t0 });
}
const openMs = performance.now() - t0;
const after = heapAfterGc();
const est = w.established();
const pending = w.sim.clock.pendingTimers();
out({
  type: 'open',
  connections: n,
  links: w.links,
  openMs,
  handshakesPerSecond: n / (openMs / 1000),
  base,
  after,
  established: est,
  pendingTimers: pending,
  bytesPerEnd: (after.heapUsed - base.heapUsed) / (2 * n),
  bytesPerConnection: (after.heapUsed - base.heapUsed) / n,
  pcbs: { client: w.client.tcp.pcbCount, server: w.server.tcp.pcbCount },
});
const t1 = performance.now();
const c = w.closeAll();
const closeMs = performance.now() - t1;
const end = heapAfterGc();
out({
  type: 'result',
  connections: n,
  openMs,
  closeMs,
  batch: BATCH,
  maxTimeWait: c.timeWait,
  leftovers: w.leftovers(),
  pcbs: { client: w.client.tcp.pcbCount, server: w.server.tcp.pcbCount },
  pbufsInUse: { client: w.client.pool.stats.pbufsInUse, server: w.server.pool.stats.pbufsInUse },
  pendingTimers: w.sim.clock.pendingTimers(),
  heapUsedAfterClose: end.heapUsed,
  virtualMs: w.sim.clock.now(),
});

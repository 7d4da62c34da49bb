// Child process of bench/memory.bench.ts (run with --expose-gc, and
// --max-old-space-size for the "max" mode). Builds idle ESTABLISHED TCP
// connections between two simulator stacks through real handshakes and
// reports heap figures as JSON lines on stdout.
//
//   memory-child.ts per-conn N
//     gc; heapUsed; N connection pairs; gc; heapUsed; then the server
//     stack is closed (its PCBs freed), gc, heapUsed again: the drop is the
//     server ends' share, the rest the client ends'. One "result" line.
//   memory-child.ts snapshot N FILE
//     N connection pairs, gc, a heap snapshot written to FILE.
//   memory-child.ts max LIMIT_BYTES MAX_PAIRS TIME_MS STEP
//     grow by STEP pairs at a time; after each step gc and a "step" line;
//     near the limit the step shrinks (STEP/5, STEP/25); stop before
//     heapUsed after gc would pass LIMIT_BYTES (judged from the bytes per
//     pair of the last step), at MAX_PAIRS, or after TIME_MS. One "result"
//     line.
//
// The fast path: the client has one address, the server listens on as many
// ports as needed (60k connections each) with a backlog of 65535; the client
// opens BATCH connections at one virtual instant and the simulator runs the
// handshakes (1 ms links) until every one is ESTABLISHED at both ends.
// Nothing else is kept per connection: no callbacks or arrays of our own.
import { performance } from 'node:perf_hooks';
import { RawTcp } from '../../src/callbacks/raw.ts';
import { Err } from '../../src/err.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import { TcpState } from '../../src/pcb/state.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { Handshakes } from './handshakes.ts';

const gcFn = (globalThis as { gc?: () => void }).gc;
if (gcFn === undefined) {
  console.error('memory-child: run with --expose-gc');
  process.exit(2);
}
const gc = gcFn;

function heapAfterGc(rounds = 3): { heapUsed: number; external: number; arrayBuffers: number; rss: number } {
  for (let i = 0; i < rounds; i++) gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss };
}

const PER_PORT = 60_000;
const BATCH = 5_000;
const BASE_PORT = 10_000;

class World {
  readonly sim = new Simulator({ seed: 'memory' });
  readonly client: Stack;
  readonly server: Stack;
  readonly rc: RawTcp;
  readonly rs: RawTcp;
  pairs = 0;
  readonly hs = new Handshakes();
  private listeners = 0;

  constructor() {
    // Default TCP configuration, except a wider ephemeral range on the client.
    this.client = this.sim.addStack('client', { tcp: { ephemeralLow: 1024 } });
    this.server = this.sim.addStack('server');
    this.sim.connect(this.client, this.server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 1 } });
    this.rc = new RawTcp(this.client);
    this.rs = new RawTcp(this.server);
  }

  /** Open `n` more pairs, BATCH at a time, each batch run until all are ESTABLISHED. */
  grow(n: number): void {
    const target = this.pairs + n;
    while (this.pairs < target) {
      const b = Math.min(BATCH, target - this.pairs);
      this.hs.batch(
        this.sim,
        b,
        () => {
          const port = BASE_PORT + Math.floor(this.pairs / PER_PORT);
          while (this.listeners <= port - BASE_PORT) this.listen(BASE_PORT + this.listeners);
          this.hs.connect(this.rc, '10.0.0.2', port, `${this.pairs} pairs`);
          this.pairs++;
        },
        () => this.pairs,
      );
    }
  }

  private listen(port: number): void {
    const l = this.rs.tcpNew()!;
    if (this.rs.tcpBind(l, 0, port) !== Err.OK) throw new Error(`bind ${port} failed`);
    if (this.rs.tcpListen(l, 0xffff) === null) throw new Error(`listen ${port} failed`);
    this.rs.tcpAccept(l, this.hs.onAccept);
    this.listeners++;
  }

  /** Both ends ESTABLISHED, counted from the tables. */
  established(): { client: number; server: number } {
    const count = (s: Stack): number => {
      let n = 0;
      for (const p of s.tcp.active.values()) if (p.state === TcpState.ESTABLISHED) n++;
      return n;
    };
    return { client: count(this.client), server: count(this.server) };
  }
}

function out(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'per-conn') {
  const n = Number(args[0]);
  const w = new World();
  w.grow(1); // the listener exists, the code paths have run once
  const before = heapAfterGc();
  const t0 = performance.now();
  w.grow(n);
  const ms = performance.now() - t0;
  const after = heapAfterGc();
  const est = w.established();
  const pending = w.sim.clock.pendingTimers();
  // Drop the server ends: what the heap gives back is their share.
  w.server.close();
  const serverGone = heapAfterGc();
  out({
    type: 'result',
    mode,
    pairs: n,
    ms,
    before,
    after,
    serverGone,
    established: est,
    pendingTimers: pending,
    bytesPerPair: (after.heapUsed - before.heapUsed) / n,
    bytesPerServerEnd: (after.heapUsed - serverGone.heapUsed) / n,
    bytesPerClientEnd: (serverGone.heapUsed - before.heapUsed) / n,
    arrayBuffersPerPair: (after.arrayBuffers - before.arrayBuffers) / n,
  });
} else if (mode === 'snapshot') {
  // N pairs open, then a heap snapshot to FILE (aggregate it by constructor
  // to see where an idle end's bytes are).
  const n = Number(args[0]);
  const w = new World();
  w.grow(n);
  heapAfterGc();
  const { writeHeapSnapshot } = await import('node:v8');
  out({ type: 'result', mode, pairs: n, file: writeHeapSnapshot(args[1]) });
} else if (mode === 'max') {
  const limit = Number(args[0]);
  const maxPairs = Number(args[1]);
  const timeMs = Number(args[2]);
  let step = Number(args[3]);
  const minStep = Math.max(1, Math.floor(step / 25));
  const w = new World();
  const base = heapAfterGc();
  const t0 = performance.now();
  let last = base.heapUsed;
  /** Heap bytes per pair over the last step. */
  let perPair = 0;
  let reason = '';
  /** The last step that ended with heapUsed (after gc) within the limit. */
  let within = { pairs: 0, heapUsed: base.heapUsed };
  for (;;) {
    if (w.pairs >= maxPairs) {
      reason = `reached the bound of ${maxPairs} pairs`;
      break;
    }
    if (performance.now() - t0 > timeMs) {
      reason = `reached the time bound of ${timeMs / 1000} s`;
      break;
    }
    // Near the limit the steps get smaller (25k, 5k, 1k), down to minStep.
    while (perPair > 0 && last + perPair * step > limit && step > minStep) step = Math.max(minStep, Math.floor(step / 5));
    if (perPair > 0 && last + perPair * step > limit) {
      reason = `another ${step} pairs would take heapUsed past ${limit} bytes (at ${Math.round(perPair)} bytes per pair over the last step)`;
      break;
    }
    const n = Math.min(step, maxPairs - w.pairs);
    w.grow(n);
    // One full gc per step: at 1 GB each takes the better part of a second.
    const m = heapAfterGc(1);
    perPair = Math.max(0, (m.heapUsed - last) / n);
    last = m.heapUsed;
    out({ type: 'step', pairs: w.pairs, heapUsed: m.heapUsed, rss: m.rss, ms: performance.now() - t0 });
    if (m.heapUsed > limit) {
      reason = `the step to ${w.pairs} pairs took heapUsed past the limit (${m.heapUsed} bytes); the count is the step before`;
      break;
    }
    within = { pairs: w.pairs, heapUsed: m.heapUsed };
  }
  const est = w.established();
  out({
    type: 'result',
    mode,
    pairs: within.pairs,
    heapUsed: within.heapUsed,
    pairsOpened: w.pairs,
    heapUsedAtEnd: last,
    baseHeapUsed: base.heapUsed,
    limit,
    ms: performance.now() - t0,
    reason,
    established: est,
    pendingTimers: w.sim.clock.pendingTimers(),
  });
} else {
  console.error('usage: memory-child.ts per-conn N | max LIMIT_BYTES MAX_PAIRS TIME_MS STEP');
  process.exit(2);
}

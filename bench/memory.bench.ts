// Macro: memory of idle ESTABLISHED connections in the simulator, measured
// in child processes (bench/child/memory-child.ts) started with
// --expose-gc, so each figure comes from a clean heap and gc() before
// every reading:
// - heap bytes per connection with 10k and 100k connections: heapUsed
//   after gc before and after opening N connection pairs (client end and
//   server end, both stacks in the same heap) through real handshakes,
//   divided by N; then the server stack is closed (its PCBs freed), and the
//   heap given back is the server ends' share;
// - the most connection pairs the simulator holds within 1 GiB of heap:
//   grow in steps (25k, then 5k and 1k near the limit) until heapUsed after
//   gc would pass 2^30 bytes, or a bound on count (1M pairs) or time is hit.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, 'child', 'memory-child.ts');
const GIB = 2 ** 30;
const MAX_PAIRS = 1_000_000;
const MAX_TIME_MS = 35_000;
const STEP = 25_000;
/** Old-space ceiling for the "max" child: 1 GiB plus the room V8's collector needs near its limit. */
const MAX_OLD_SPACE_MB = 1300;

interface ChildLine {
  type: string;
  [k: string]: unknown;
}

function runChild(nodeFlags: string[], args: string[], timeoutMs: number): { lines: ChildLine[]; status: number | null; stderr: string; signal: string | null } {
  const r = spawnSync(process.execPath, [...nodeFlags, '--import', 'tsx', CHILD, ...args], {
    cwd: path.resolve(here, '..'),
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  const lines: ChildLine[] = [];
  for (const l of (r.stdout ?? '').split('\n')) {
    if (l.trim() === '') continue;
    try {
      lines.push(JSON.parse(l) as ChildLine);
    } catch {
      // not ours (a warning)
    }
  }
  return { lines, status: r.status, stderr: r.stderr ?? '', signal: r.signal };
}

interface PerConn {
  pairs: number;
  ms: number;
  bytesPerPair: number;
  bytesPerServerEnd: number;
  bytesPerClientEnd: number;
  arrayBuffersPerPair: number;
  established: { client: number; server: number };
  pendingTimers: number;
  before: { heapUsed: number };
  after: { heapUsed: number };
}

const mb = (b: number): number => round(b / 2 ** 20, 1);

const spec: BenchSpec = {
  name: 'memory',
  description: 'heap bytes per idle ESTABLISHED connection (10k, 100k) and the most connections within 1 GiB of heap, in child processes with --expose-gc',
  async run(): Promise<BenchReport> {
    const rows: Row[] = [];
    const figures: Record<string, number> = {};
    const notes: string[] = [];
    for (const n of [10_000, 100_000]) {
      const c = runChild(['--expose-gc'], ['per-conn', String(n)], 120_000);
      const r = c.lines.find((l) => l.type === 'result') as unknown as PerConn | undefined;
      if (r === undefined) throw new Error(`memory child (per-conn ${n}) failed: status ${c.status} ${c.signal ?? ''}\n${c.stderr.slice(-2000)}`);
      // One more on each side: the connection opened before the baseline.
      if (r.established.client !== n + 1 || r.established.server !== n + 1) throw new Error(`memory child: expected ${n + 1} ESTABLISHED at each end, got ${JSON.stringify(r.established)}`);
      const k = `${n / 1000}k`;
      rows.push({
        measure: `${k} connection pairs`,
        pairs: n,
        'heapUsed MiB': mb(r.after.heapUsed),
        'heap B per pair': Math.round(r.bytesPerPair),
        'B per server end': Math.round(r.bytesPerServerEnd),
        'B per client end': Math.round(r.bytesPerClientEnd),
        'handshakes/s': Math.round(n / (r.ms / 1000)),
        'timers pending': r.pendingTimers,
      });
      figures[`${k} heap bytes per connection pair`] = Math.round(r.bytesPerPair);
      figures[`${k} heap bytes per server end`] = Math.round(r.bytesPerServerEnd);
      figures[`${k} heap bytes per client end`] = Math.round(r.bytesPerClientEnd);
      figures[`${k} ArrayBuffer bytes per pair`] = round(r.arrayBuffersPerPair, 1);
      figures[`${k} handshakes per second`] = Math.round(n / (r.ms / 1000));
    }

    const m = runChild(['--expose-gc', `--max-old-space-size=${MAX_OLD_SPACE_MB}`], ['max', String(GIB), String(MAX_PAIRS), String(MAX_TIME_MS), String(STEP)], MAX_TIME_MS + 60_000);
    const steps = m.lines.filter((l) => l.type === 'step') as unknown as { pairs: number; heapUsed: number; rss: number; ms: number }[];
    const res = m.lines.find((l) => l.type === 'result') as unknown as { pairs: number; heapUsed: number; baseHeapUsed: number; reason: string; ms: number; pendingTimers: number; established: { client: number; server: number }; pairsOpened: number; heapUsedAtEnd: number } | undefined;
    let maxPairs: number;
    let maxHeap: number;
    if (res !== undefined) {
      maxPairs = res.pairs;
      maxHeap = res.heapUsed;
      notes.push(`max: ${res.reason}; ${res.pairsOpened} pairs opened in ${(res.ms / 1000).toFixed(1)} s (heapUsed ${mb(res.heapUsedAtEnd)} MiB at the end), ${res.established.client} + ${res.established.server} ESTABLISHED ends, ${res.pendingTimers} timers pending`);
    } else {
      // The child died (out of heap, or the timeout): the last step within the limit stands.
      const ok = steps.filter((s) => s.heapUsed <= GIB);
      const last = ok[ok.length - 1];
      maxPairs = last?.pairs ?? 0;
      maxHeap = last?.heapUsed ?? 0;
      notes.push(`max: the child ended without a result (status ${m.status}, signal ${m.signal ?? 'none'}); the figure is the last step within 1 GiB. stderr: ${m.stderr.split('\n').find((l) => /FATAL|Error/.test(l)) ?? ''}`);
    }
    const base = res?.baseHeapUsed ?? 0;
    rows.push({
      measure: 'most pairs within 1 GiB heap',
      pairs: maxPairs,
      'heapUsed MiB': mb(maxHeap),
      'heap B per pair': maxPairs > 0 && base > 0 ? Math.round((maxHeap - base) / maxPairs) : '',
      'B per server end': '',
      'B per client end': '',
      'handshakes/s': res !== undefined && res.ms > 0 ? Math.round(res.pairsOpened / (res.ms / 1000)) : '',
      'timers pending': res?.pendingTimers ?? '',
    });
    figures['max connection pairs within 1 GiB heap'] = maxPairs;
    figures['max heapUsed bytes at that count'] = maxHeap;
    notes.push(
      'a connection pair = the client PCB and the server PCB of one connection, both ESTABLISHED and idle, both stacks in the one heap; per end = half a pair roughly (the split comes from closing the server stack)',
      'connections are real: SYN, SYN-ACK, ACK over a 1 ms simulated link, 5000 handshakes at a time; default TCP config (client ephemeral ports from 1024), one server port per 60k connections',
      `per-conn children: node --expose-gc; heapUsed after 3x gc() before/after; the max child: node --expose-gc --max-old-space-size=${MAX_OLD_SPACE_MB} (with 1100 V8 dies of "ineffective mark-compacts" near 990 MB heapUsed), one gc() per step, limit heapUsed <= 2^30 after gc, bounds ${MAX_PAIRS} pairs and ${MAX_TIME_MS / 1000} s`,
      'ArrayBuffer bytes (pbuf pool slabs) are outside heapUsed; idle connections hold no pbufs',
    );
    return { name: 'memory', rows, figures, notes };
  },
};

export default spec;

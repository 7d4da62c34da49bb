// Macro: one million idle ESTABLISHED connections in one simulator process
// (issue 17 part 6). A child process (bench/child/conns-child.ts, node
// --expose-gc --max-old-space-size=3072) opens N connections between two
// simulated stacks (client addresses spread over several links so ephemeral
// ports last; raw API; tcp maxPcbs raised), reports heap bytes per idle
// connection end (heapUsed after gc, before and after, over 2N ends), then
// closes every one from the client side and checks the close was clean: no
// PCB, no pbuf in use, no timer pending on either stack.
//
// TSIP_CONNS=N sets N (default 1000000).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, 'child', 'conns-child.ts');
const HEAP_MB = 3072;

interface Line {
  type: string;
  [k: string]: unknown;
}

const mb = (b: number): number => round(b / 2 ** 20, 1);

const spec: BenchSpec = {
  name: 'conns-1m',
  description: `N idle ESTABLISHED connections (TSIP_CONNS, default 1M) in one simulator process within ${HEAP_MB} MB of heap: heap per connection end, open and clean-close wall time`,
  async run(): Promise<BenchReport> {
    const n = Number(process.env.TSIP_CONNS ?? 1_000_000);
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`TSIP_CONNS must be a positive integer, got ${process.env.TSIP_CONNS}`);
    const flags = ['--expose-gc', `--max-old-space-size=${HEAP_MB}`];
    const r = spawnSync(process.execPath, [...flags, '--import', 'tsx', CHILD, String(n)], {
      cwd: path.resolve(here, '..'),
      encoding: 'utf8',
      timeout: 60 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const lines: Line[] = [];
    for (const l of (r.stdout ?? '').split('\n')) {
      if (l.trim() === '') continue;
      try {
        lines.push(JSON.parse(l) as Line);
      } catch {
        // not ours
      }
    }
    const open = lines.find((l) => l.type === 'open') as
      | { links: number; openMs: number; handshakesPerSecond: number; base: { heapUsed: number; rss: number }; after: { heapUsed: number; rss: number }; established: { client: number; server: number }; pendingTimers: number; bytesPerEnd: number }
      | undefined;
    const res = lines.find((l) => l.type === 'result') as { closeMs: number; leftovers: string[]; maxTimeWait: number; heapUsedAfterClose: number; virtualMs: number } | undefined;
    const progress = lines.filter((l) => l.type === 'progress') as unknown as { opened: number; heapUsed: number; ms: number }[];
    const rows: Row[] = [];
    const figures: Record<string, number> = {};
    const notes: string[] = [
      `child: node ${flags.join(' ')} --import tsx bench/child/conns-child.ts ${n}`,
      'connections opened 5000 at a time through real handshakes over 1 ms simulated links (one per 60k connections, client 10.k.0.1 -> server 10.k.0.2:5001), one listener; closed 5000 at a time from the client (FIN both ways, TIME_WAIT run out in virtual time)',
      'bytes per end = (heapUsed after gc with N open - heapUsed after gc before) / 2N: client and server ends together',
    ];
    if (open === undefined) {
      const last = progress[progress.length - 1];
      notes.push(`the child ended before all ${n} were open (status ${r.status}, signal ${r.signal ?? 'none'}); last progress: ${last === undefined ? 'none' : `${last.opened} open, heapUsed ${mb(last.heapUsed)} MiB (no gc), ${(last.ms / 1000).toFixed(1)} s`}. stderr: ${(r.stderr ?? '').split('\n').find((l) => /FATAL|Error|heap/i.test(l)) ?? ''}`);
      rows.push({ measure: `${n} connections`, opened: last?.opened ?? 0, 'heapUsed MiB': last === undefined ? '' : mb(last.heapUsed), 'B per end': '', 'open s': last === undefined ? '' : round(last.ms / 1000, 1), 'close s': '', clean: 'no (child died)' });
      figures['connections opened before the child died'] = last?.opened ?? 0;
      return { name: 'conns-1m', rows, figures, notes };
    }
    const clean = res !== undefined && res.leftovers.length === 0;
    rows.push({
      measure: `${n} connections`,
      opened: n,
      links: open.links,
      'heapUsed MiB': mb(open.after.heapUsed),
      'rss MiB': mb(open.after.rss),
      'B per end': Math.round(open.bytesPerEnd),
      'open s': round(open.openMs / 1000, 1),
      'handshakes/s': Math.round(open.handshakesPerSecond),
      'close s': res === undefined ? '' : round(res.closeMs / 1000, 1),
      clean: res === undefined ? `no (close did not finish: status ${r.status}, signal ${r.signal ?? 'none'})` : clean ? 'yes' : `no: ${res.leftovers.join('; ')}`,
    });
    figures.connections = n;
    figures['heap bytes per idle connection end'] = Math.round(open.bytesPerEnd);
    figures['heapUsed bytes with all open'] = open.after.heapUsed;
    figures['open wall seconds'] = round(open.openMs / 1000, 2);
    figures['handshakes per second'] = Math.round(open.handshakesPerSecond);
    if (res !== undefined) figures['close wall seconds'] = round(res.closeMs / 1000, 2);
    figures['closed cleanly'] = clean ? 1 : 0;
    notes.push(`ESTABLISHED ends: ${open.established.client} client + ${open.established.server} server (one more each: the connection opened before the baseline); ${open.pendingTimers} timers pending while idle`);
    if (res !== undefined) notes.push(`close: up to ${res.maxTimeWait} client PCBs in TIME_WAIT at once; heapUsed ${mb(res.heapUsedAfterClose)} MiB after; virtual time ${(res.virtualMs / 1000).toFixed(0)} s`);
    if (res === undefined) notes.push(`close did not finish: status ${r.status}, signal ${r.signal ?? 'none'}; stderr: ${(r.stderr ?? '').slice(-500)}`);
    return { name: 'conns-1m', rows, figures, notes };
  },
};

export default spec;

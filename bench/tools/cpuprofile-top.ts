// Summarise a V8 .cpuprofile (from `node --cpu-prof`) by self time per
// function: the top N functions, with their self and total (inclusive) time
// and where they live.
//
//   npx tsx bench/tools/cpuprofile-top.ts PROFILE.cpuprofile [--top 25] [--json]
//       [--focus NAME] [--per N] [--idle]
//
// --focus NAME counts only samples with a function called NAME on the stack
// (e.g. --focus onBatch: the TUN receive path, everything a batch of
// received packets sets off); --per N adds a column of µs per unit (e.g. N
// = packets received: µs per segment); --idle keeps V8's "(idle)" samples,
// which under Node include native I/O callbacks run from the event loop's
// poll phase (the TUN addon's read() calls) as well as real waiting.
//
// Self time of a function = the sampled time spent in its own code (the
// time deltas of the samples whose leaf frame is that function); total
// time = samples with the function anywhere on the stack (counted once per
// sample even when it recurses). Functions are keyed by name + file + line,
// so the same function reached through different call paths is one row.
// --tree PCT prints the call tree instead (top-down, merged by function
// name along each path), every node with at least PCT% of the sampled time:
// where the time of a hot caller goes, which the flat list cannot show.
//
// "(garbage collector)", "(program)" (native code outside JS: the addon's
// read(), libuv) and "(idle)" are V8's own pseudo-frames.
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface FunctionTime {
  name: string;
  where: string;
  selfMs: number;
  totalMs: number;
  selfPct: number;
  totalPct: number;
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const u = url.replace(/^file:\/\//, '');
  const i = u.indexOf('/src/');
  if (i >= 0) return u.slice(i + 1);
  const j = u.indexOf('/node_modules/');
  if (j >= 0) return u.slice(j + 1);
  return u.startsWith('node:') ? u : path.basename(u);
}

/** Self and total time per function, sorted by self time (largest first). */
export function summarise(p: CpuProfile, o: { includeIdle?: boolean; focus?: string } = {}): { rows: FunctionTime[]; totalMs: number } {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Line and column: tsx's transpiled modules may put everything on one line.
  const key = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'}\u0000${n.callFrame.url}\u0000${n.callFrame.lineNumber}:${n.callFrame.columnNumber}`;
  const inFocus = (leafId: number): boolean => {
    if (o.focus === undefined) return true;
    for (let id: number | undefined = leafId; id !== undefined; id = parent.get(id)) if (byId.get(id)!.callFrame.functionName === o.focus) return true;
    return false;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const meta = new Map<string, ProfileNode>();
  let totalUs = 0;
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  // A sample's duration: the delta to the next sample (V8 records the delta
  // before each sample); the last one gets the mean.
  const mean = samples.length > 0 ? (p.endTime - p.startTime) / samples.length : 0;
  for (let i = 0; i < samples.length; i++) {
    const leaf = byId.get(samples[i]!);
    if (leaf === undefined) continue;
    if (!o.includeIdle && leaf.callFrame.functionName === '(idle)') continue;
    if (!inFocus(leaf.id)) continue;
    const us = i + 1 < deltas.length ? Math.max(0, deltas[i + 1]!) : mean;
    totalUs += us;
    const k = key(leaf);
    meta.set(k, leaf);
    self.set(k, (self.get(k) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      if (n.callFrame.functionName === '(root)') break;
      const kk = key(n);
      if (seen.has(kk)) continue;
      seen.add(kk);
      meta.set(kk, n);
      total.set(kk, (total.get(kk) ?? 0) + us);
    }
  }
  const rows: FunctionTime[] = [];
  for (const [k, t] of total) {
    const n = meta.get(k)!;
    const s = self.get(k) ?? 0;
    const f = n.callFrame;
    rows.push({
      name: f.functionName || '(anonymous)',
      where: f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}:${f.columnNumber + 1}` : '',
      selfMs: s / 1000,
      totalMs: t / 1000,
      selfPct: totalUs > 0 ? (100 * s) / totalUs : 0,
      totalPct: totalUs > 0 ? (100 * t) / totalUs : 0,
    });
  }
  rows.sort((a, b) => b.selfMs - a.selfMs || b.totalMs - a.totalMs);
  return { rows, totalMs: totalUs / 1000 };
}

/** The call tree, merged by function name per path, as indented lines (nodes with at least minPct of the time). */
export function tree(p: CpuProfile, o: { includeIdle?: boolean; minPct: number; per: number }): string[] {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const mean = samples.length > 0 ? (p.endTime - p.startTime) / samples.length : 0;
  let totalUs = 0;
  for (let i = 0; i < samples.length; i++) {
    const leaf = byId.get(samples[i]!);
    if (leaf === undefined || (!o.includeIdle && leaf.callFrame.functionName === '(idle)')) continue;
    const us = i + 1 < deltas.length ? Math.max(0, deltas[i + 1]!) : mean;
    totalUs += us;
    selfUs.set(leaf.id, (selfUs.get(leaf.id) ?? 0) + us);
  }
  interface T { name: string; self: number; total: number; kids: Map<string, T> }
  const mk = (name: string): T => ({ name, self: 0, total: 0, kids: new Map() });
  const walk = (n: ProfileNode, into: T): number => {
    const f = n.callFrame;
    const name = `${f.functionName || '(anonymous)'}${f.url ? ` ${shortUrl(f.url).replace(/^src\//, '')}` : ''}`;
    let t = into.kids.get(name);
    if (t === undefined) into.kids.set(name, (t = mk(name)));
    const s = selfUs.get(n.id) ?? 0;
    let sum = s;
    t.self += s;
    for (const c of n.children ?? []) sum += walk(byId.get(c)!, t);
    t.total += sum;
    return sum;
  };
  const root = mk('(root)');
  const r = p.nodes.find((n) => n.callFrame.functionName === '(root)') ?? p.nodes[0]!;
  for (const c of r.children ?? []) walk(byId.get(c)!, root);
  const out: string[] = [];
  const fmt = (us: number): string => (o.per > 0 ? `${(us / o.per).toFixed(2)}µs/u` : `${(us / 1000).toFixed(1)}ms`);
  const show = (t: T, depth: number): void => {
    for (const k of [...t.kids.values()].sort((a, b) => b.total - a.total)) {
      if (totalUs === 0 || (100 * k.total) / totalUs < o.minPct) continue;
      out.push(`${'  '.repeat(depth)}${fmt(k.total)} (self ${fmt(k.self)}) ${k.name}`);
      show(k, depth + 1);
    }
  };
  show(root, 0);
  return out;
}

function main(argv: string[]): number {
  const files = argv.filter((a, i) => !a.startsWith('--') && !['--top', '--focus', '--per', '--tree'].includes(argv[i - 1] ?? ''));
  const tri = argv.indexOf('--tree');
  if (tri >= 0) {
    const pi = argv.indexOf('--per');
    for (const f of files) for (const l of tree(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile, { includeIdle: argv.includes('--idle'), minPct: Number(argv[tri + 1]), per: pi >= 0 ? Number(argv[pi + 1]) : 0 })) console.log(l);
    return 0;
  }
  const ti = argv.indexOf('--top');
  const top = ti >= 0 ? Number(argv[ti + 1]) : 25;
  const json = argv.includes('--json');
  const includeIdle = argv.includes('--idle');
  const fi = argv.indexOf('--focus');
  const focus = fi >= 0 ? argv[fi + 1] : undefined;
  const pi = argv.indexOf('--per');
  const per = pi >= 0 ? Number(argv[pi + 1]) : 0;
  if (files.length === 0) {
    console.error('usage: tsx bench/tools/cpuprofile-top.ts PROFILE.cpuprofile [--top N] [--json] [--idle] [--focus NAME] [--per N] [--tree MIN_PCT]');
    return 2;
  }
  for (const f of files) {
    const { rows, totalMs } = summarise(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile, { includeIdle, ...(focus !== undefined ? { focus } : {}) });
    const shown = rows.slice(0, top);
    if (json) {
      console.log(JSON.stringify({ file: f, totalMs, top: shown }, null, 2));
      continue;
    }
    const perUs = (ms: number): string => (per > 0 ? ((ms * 1000) / per).toFixed(3).padStart(8) + ' ' : '');
    console.log(`${f}: ${totalMs.toFixed(0)} ms sampled${includeIdle ? '' : ' (idle excluded)'}${focus !== undefined ? `, only stacks through ${focus}` : ''}${per > 0 ? `, ${perUs(totalMs).trim()} µs per unit (of ${per})` : ''}; top ${shown.length} by self time`);
    console.log(`${'self ms'.padStart(9)} ${'self%'.padStart(6)} ${per > 0 ? 'self µs/u'.padStart(9) + ' ' : ''}${'total ms'.padStart(9)} ${'total%'.padStart(6)}  function (file:line:col)`);
    for (const r of shown) {
      console.log(`${r.selfMs.toFixed(1).padStart(9)} ${r.selfPct.toFixed(1).padStart(6)} ${per > 0 ? perUs(r.selfMs).padStart(10) : ''}${r.totalMs.toFixed(1).padStart(9)} ${r.totalPct.toFixed(1).padStart(6)}  ${r.name}${r.where ? ` (${r.where})` : ''}`);
    }
  }
  return 0;
}

if (process.argv[1] !== undefined && /cpuprofile-top\.ts$/.test(process.argv[1])) process.exitCode = main(process.argv.slice(2));

// `tsip bench compare A.json B.json`: two benchmark result files (as
// bench/lib.ts publish() writes them: name, date, node, machine, figures)
// side by side. For every figure present in both, the ratio B/A; figures
// found in only one file are listed after the table. The ratio is neutral:
// whether higher is better depends on the figure (ops/s, MB/s and Gbit/s
// up; ns, ms and bytes down).
import { readFileSync } from 'node:fs';
import { defineCommand, formatGroupHelp, formatHelp, parseCommand, showValue, UsageError } from './args.ts';

/** The parts of a bench/results/NAME.json file compare reads. */
export interface BenchResultDoc {
  name?: string;
  date?: string;
  node?: string;
  machine?: { platform?: string; arch?: string; cpu?: string; cores?: number; memoryBytes?: number };
  figures: Record<string, number>;
}

export interface FigureComparison {
  figure: string;
  a: number;
  b: number;
  /** b / a; null when a is 0 (or either is not finite). */
  ratio: number | null;
}

export interface BenchComparison {
  both: FigureComparison[];
  onlyA: { figure: string; value: number }[];
  onlyB: { figure: string; value: number }[];
}

/** Thrown for a file that cannot be read or is not a result file. */
export class BenchFileError extends Error {}

/** Read and check one result file. */
export function readBenchResult(file: string): BenchResultDoc {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new BenchFileError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new BenchFileError(`${file} is not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || typeof (doc as { figures?: unknown }).figures !== 'object' || (doc as { figures?: unknown }).figures === null) {
    throw new BenchFileError(`${file} has no "figures" object (expected a bench/results/NAME.json file)`);
  }
  const figures: Record<string, number> = {};
  for (const [k, v] of Object.entries((doc as { figures: Record<string, unknown> }).figures)) {
    if (typeof v === 'number') figures[k] = v;
  }
  return { ...(doc as BenchResultDoc), figures };
}

/** Figures in both (in A's order, then B's new ones), with B/A. */
export function compareBenchResults(a: BenchResultDoc, b: BenchResultDoc): BenchComparison {
  const both: FigureComparison[] = [];
  const onlyA: { figure: string; value: number }[] = [];
  const onlyB: { figure: string; value: number }[] = [];
  for (const [figure, av] of Object.entries(a.figures)) {
    const bv = b.figures[figure];
    if (bv === undefined) {
      onlyA.push({ figure, value: av });
      continue;
    }
    const ratio = av !== 0 && Number.isFinite(av) && Number.isFinite(bv) ? bv / av : null;
    both.push({ figure, a: av, b: bv, ratio });
  }
  for (const [figure, bv] of Object.entries(b.figures)) if (!(figure in a.figures)) onlyB.push({ figure, value: bv });
  return { both, onlyA, onlyB };
}

function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  const abs = Math.abs(x);
  return abs >= 100 ? x.toFixed(1) : abs >= 1 ? x.toFixed(3) : x.toPrecision(3);
}

function fmtRatio(r: number | null): string {
  return r === null ? 'n/a' : `${r.toFixed(3)}x`;
}

function describeDoc(label: string, file: string, d: BenchResultDoc): string {
  const m = d.machine;
  const machine = m === undefined ? 'machine unknown' : `${m.cpu ?? '?'}, ${m.cores ?? '?'} cores, ${m.platform ?? '?'}/${m.arch ?? '?'}`;
  return `${label}: ${file} (${d.name ?? 'unnamed'}, ${d.date ?? 'no date'}, node ${d.node ?? '?'}, ${machine})`;
}

/** The report compare prints. */
export function formatBenchComparison(aFile: string, a: BenchResultDoc, bFile: string, b: BenchResultDoc): string {
  const c = compareBenchResults(a, b);
  const lines = [describeDoc('A', aFile, a), describeDoc('B', bFile, b)];
  if (a.name !== undefined && b.name !== undefined && a.name !== b.name) lines.push(`warning: comparing different benchmarks (${a.name} vs ${b.name})`);
  lines.push('');
  if (c.both.length === 0) {
    lines.push('no figure is present in both files');
  } else {
    const head = ['figure', 'A', 'B', 'B/A'];
    const rows = c.both.map((f) => [f.figure, fmtNum(f.a), fmtNum(f.b), fmtRatio(f.ratio)]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]): string => cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join('  ').trimEnd();
    lines.push(line(head));
    lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) lines.push(line(r));
  }
  if (c.onlyA.length > 0) {
    lines.push('', `only in A (${c.onlyA.length}):`);
    for (const f of c.onlyA) lines.push(`  ${f.figure} = ${fmtNum(f.value)}`);
  }
  if (c.onlyB.length > 0) {
    lines.push('', `only in B (${c.onlyB.length}):`);
    for (const f of c.onlyB) lines.push(`  ${f.figure} = ${fmtNum(f.value)}`);
  }
  return lines.join('\n');
}

export const BENCH_COMPARE = defineCommand({
  name: 'tsip bench compare',
  usage: 'tsip bench compare A.json B.json',
  brief: 'two benchmark result files side by side (B/A per figure)',
  summary: 'Two benchmark result files (bench/results/NAME.json, as npm run bench writes them) side by side: B/A for every figure present in both, then the figures found in only one of them.',
  details: ['The ratio is neutral: whether higher is better depends on the figure (ops/s, MB/s and Gbit/s up; ns, ms and bytes down).'],
  options: {},
  positionals: { names: 'two result files A.json B.json', min: 2, max: 2 },
  exits: ['0  the comparison was printed', '1  a file cannot be read or is not a result file'],
});

export const BENCH_GROUP_SUMMARY = 'Benchmark tools. The benchmarks themselves run with npm run bench (npm run bench -- --help lists them).';

/**
 * `tsip bench ...` from argv (after "bench"): prints through `print`,
 * returns the exit status (0; 1 if a file cannot be read or is not a
 * result file). Bad arguments throw UsageError.
 */
export function benchCommand(argv: string[], print: (s: string) => void = (s) => console.log(s), printErr: (s: string) => void = (s) => console.error(s)): number {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help') {
    print(formatGroupHelp('tsip bench', BENCH_GROUP_SUMMARY, [BENCH_COMPARE]));
    return 0;
  }
  if (sub === undefined) throw new UsageError('tsip bench', 'missing subcommand (there is one: compare)');
  if (sub !== 'compare') throw new UsageError('tsip bench', `unknown subcommand ${showValue(sub)} (there is one: compare)`);
  const p = parseCommand(BENCH_COMPARE, rest);
  if (p.help) {
    print(formatHelp(BENCH_COMPARE));
    return 0;
  }
  const [aFile, bFile] = p.positionals as [string, string];
  try {
    const a = readBenchResult(aFile);
    const b = readBenchResult(bFile);
    print(formatBenchComparison(aFile, a, bFile, b));
    return 0;
  } catch (e) {
    if (e instanceof BenchFileError) {
      printErr(`tsip bench compare: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

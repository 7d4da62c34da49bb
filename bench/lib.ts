// Shared plumbing for benchmarks: run tinybench tasks, turn the results into
// table rows, print them and write bench/results/NAME.json with enough
// context (machine, Node version, date) to compare two runs.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';

export type Row = Record<string, string | number>;

export interface BenchReport {
  /** Short name: the JSON file is bench/results/NAME.json. */
  name: string;
  rows: Row[];
  /** Headline numbers, flat, for `tsip bench compare`. */
  figures: Record<string, number>;
  notes?: string[];
}

export interface BenchSpec {
  name: string;
  description: string;
  run(): Promise<BenchReport>;
}

export interface MicroTask {
  name: string;
  fn: () => void;
  /** Payload bytes one call processes: adds a MB/s column. */
  bytesPerOp?: number;
  /**
   * Operations one call performs (a batch, to keep tinybench's own ~40 ns
   * per call out of cheap operations): ops/s, ns/op and p99 are then per
   * operation, and bytesPerOp is per operation too. Default 1.
   */
  opsPerCall?: number;
}

/** Run tasks with tinybench; one row per task (ops/s, ns per op with p99 and margin, MB/s). */
export async function runMicro(tasks: MicroTask[], opts: { timeMs?: number; warmupMs?: number } = {}): Promise<{ rows: Row[]; figures: Record<string, number> }> {
  const bench = new Bench({ time: opts.timeMs ?? 400, warmupTime: opts.warmupMs ?? 100 });
  for (const t of tasks) bench.add(t.name, t.fn);
  await bench.run();
  const rows: Row[] = [];
  const figures: Record<string, number> = {};
  bench.tasks.forEach((task, i) => {
    const spec = tasks[i]!;
    const r = task.result;
    if (r.state !== 'completed') {
      rows.push({ task: spec.name, state: r.state });
      return;
    }
    const k = spec.opsPerCall ?? 1;
    const nsMean = (r.latency.mean * 1e6) / k;
    const row: Row = {
      task: spec.name,
      'ops/s': Math.round(r.throughput.mean * k),
      'ns/op': round(nsMean, 1),
      'p99 ns': round((r.latency.p99 * 1e6) / k, 1),
      '±%': round(r.latency.rme, 2),
      samples: r.latency.samplesCount,
    };
    figures[`${spec.name} ops/s`] = Math.round(r.throughput.mean * k);
    if (spec.bytesPerOp !== undefined) {
      const mbs = spec.bytesPerOp / (nsMean / 1e9) / 1e6;
      row['MB/s'] = round(mbs, 0);
      figures[`${spec.name} MB/s`] = round(mbs, 1);
    }
    rows.push(row);
  });
  return { rows, figures };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

/** Print the report as a table and write its JSON; returns the file written. */
export function publish(report: BenchReport, dir = RESULTS_DIR): string {
  console.log(`\n## ${report.name}`);
  console.table(report.rows);
  for (const n of report.notes ?? []) console.log(`  note: ${n}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${report.name}.json`);
  const cpus = os.cpus();
  const doc = {
    name: report.name,
    date: new Date().toISOString(),
    node: process.version,
    machine: { platform: process.platform, arch: process.arch, cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryBytes: os.totalmem() },
    figures: report.figures,
    rows: report.rows,
    notes: report.notes ?? [],
  };
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}

// `npm run bench` runs every bench/*.bench.ts; `npm run bench -- NAME...`
// runs those; `npm run bench -- --help` lists them and runs none. Unknown
// names and options are one-line usage errors (exit 2), never a silent
// full run. On a terminal, stderr shows which benchmark runs (n of N).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { defineCommand, EXIT_USAGE, formatHelp, parseCommand, showValue, UsageError } from '../src/cli/args.ts';
import { Progress } from '../src/cli/progress.ts';
import { type BenchSpec, publish } from './lib.ts';

const RUN = defineCommand({
  name: 'npm run bench',
  usage: 'npm run bench [-- NAME...]',
  summary: 'Run the benchmarks: all of them without a NAME (several minutes), or the ones named. Each prints a table and writes bench/results/NAME.json; compare two such files with tsip bench compare A.json B.json.',
  options: {},
  positionals: { names: 'benchmark names', min: 0, max: Infinity },
  exits: ['0  the benchmarks ran (one that cannot run here, such as tun-* without root, says "skipped: why" in its results)'],
  helpHint: 'npm run bench -- --help',
});

const here = path.dirname(fileURLToPath(import.meta.url));

/** Every bench/*.bench.ts, sorted by file name (importing one runs nothing). */
async function loadSpecs(): Promise<BenchSpec[]> {
  const files = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).sort();
  const specs: BenchSpec[] = [];
  for (const f of files) specs.push(((await import(pathToFileURL(path.join(here, f)).href)) as { default: BenchSpec }).default);
  return specs;
}

function listing(specs: readonly BenchSpec[]): string {
  const col = Math.max(...specs.map((s) => s.name.length)) + 3;
  return ['benchmarks:', ...specs.map((s) => `  ${s.name.padEnd(col)}${s.description}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const specs = await loadSpecs();
  const p = parseCommand(RUN, argv);
  if (p.help) {
    console.log(`${formatHelp(RUN)}\n\n${listing(specs)}`);
    return 0;
  }
  const names = specs.map((s) => s.name);
  const unknown = p.positionals.filter((n) => !names.includes(n));
  if (unknown.length > 0) throw new UsageError(RUN.name, `no benchmark named ${unknown.map(showValue).join(', ')}; valid names: ${names.join(', ')}`, RUN.helpHint);
  const selected = p.positionals.length === 0 ? specs : specs.filter((s) => p.positionals.includes(s.name));
  const progress = Progress.forStderr();
  const restore = progress.around(process.stdout);
  try {
    for (const [i, spec] of selected.entries()) {
      const label = `bench ${i + 1} of ${selected.length}: ${spec.name}`;
      const t0 = performance.now();
      const show = (): void => progress.update(`${label}, ${((performance.now() - t0) / 1000).toFixed(0)} s`, true);
      show();
      // Elapsed time while an asynchronous benchmark runs (a synchronous one just holds the line).
      const tick = setInterval(show, 1000).unref();
      console.log(`running ${spec.name} (${i + 1} of ${selected.length}): ${spec.description}`);
      try {
        const report = await spec.run();
        console.log(`wrote ${publish(report)}`);
      } finally {
        clearInterval(tick);
      }
    }
  } finally {
    progress.clear();
    restore();
  }
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(e.message);
  process.exitCode = EXIT_USAGE;
}

// Instructions per operation, counted by valgrind's callgrind instead of
// timed: the count is the same whatever else the machine is doing, so two
// versions of the code compare on a noisy 2-core VM. The command runs twice,
// with OPS = A and OPS = B operations ({OPS} in its argv); the difference
// of the two totals over B - A removes start-up (Node, tsx, module
// loading) and leaves the cost of one operation. Pair it with a workload
// that does the same work every run (a virtual clock: rr-micro --virtual),
// bundled to one JavaScript file (--bundle=ENTRY.ts, esbuild; {BUNDLE} in
// the command) so that no TypeScript loader runs, and run Node with
// --single-threaded --predictable (no concurrent compiler or GC threads):
// then two runs agree to a few instructions per operation.
//
//   npx tsx bench/tools/callgrind-per-op.ts A B [--reps N] [--dirs=LABEL=DIR,...] [--bundle=ENTRY.ts] -- CMD ARGS... ({OPS}, {BUNDLE} in ARGS)
//
// e.g.
//   npx tsx bench/tools/callgrind-per-op.ts 10000 30000 --bundle=bench/tools/rr-micro.ts -- node --single-threaded --predictable {BUNDLE} {OPS} service --virtual
//
// --dirs runs the command in each source tree (a git worktree of another
// commit, say) alternately, and prints each tree's figures. Needs valgrind
// (Debian's package). Bounded: each run is killed after 20 minutes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
if (sep < 2 || sep === argv.length - 1) {
  console.error('usage: callgrind-per-op.ts A B [--reps N] [--dirs=LABEL=DIR,...] [--bundle=ENTRY.ts] -- CMD ARGS... ({OPS}, {BUNDLE} in ARGS)');
  process.exit(2);
}
const own = argv.slice(0, sep);
const cmd = argv.slice(sep + 1);
const [a, b] = own.slice(0, 2).map(Number);
if (!Number.isInteger(a) || !Number.isInteger(b) || a! < 0 || b! <= a!) {
  console.error('A and B must be integers with 0 <= A < B');
  process.exit(2);
}
const repsAt = own.indexOf('--reps');
const reps = repsAt >= 0 ? Number(own[repsAt + 1]) : 1;
const dirsArg = own.find((x) => x.startsWith('--dirs='));
const dirs: [string, string][] = dirsArg
  ? dirsArg
      .slice('--dirs='.length)
      .split(',')
      .map((d) => {
        const i = d.indexOf('=');
        return [d.slice(0, i), d.slice(i + 1)] as [string, string];
      })
  : [['.', process.cwd()]];
const bundleEntry = own.find((x) => x.startsWith('--bundle='))?.slice('--bundle='.length);
if (!cmd.some((x) => x.includes('{OPS}'))) {
  console.error('the command must contain {OPS}');
  process.exit(2);
}

const tmp = mkdtempSync(join(tmpdir(), 'tsip-cg-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
/** Each tree's bundle of the entry (one .mjs), built with this tree's esbuild. */
const bundles = new Map<string, string>();
if (bundleEntry !== undefined) {
  for (const [label, dir] of dirs) {
    const out = join(tmp, `${bundles.size}.mjs`);
    const r = spawnSync(resolve('node_modules/.bin/esbuild'), [join(dir, bundleEntry), '--bundle', '--platform=node', '--format=esm', `--outfile=${out}`, '--log-level=warning'], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`esbuild failed for ${label}: ${r.stderr}`);
    bundles.set(label, out);
  }
}

/** Total instructions (Ir) of one run of the command with `ops` operations in `cwd`. */
function count(ops: number, label: string, cwd: string): number {
  const args = ['--tool=callgrind', '--callgrind-out-file=/dev/null', '--smc-check=all-non-file', ...cmd.map((x) => x.replaceAll('{OPS}', String(ops)).replaceAll('{BUNDLE}', bundles.get(label) ?? '{BUNDLE}'))];
  const r = spawnSync('valgrind', args, { cwd, encoding: 'utf8', timeout: 20 * 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  const m = /Collected : (\d+)/.exec(r.stderr);
  if (r.status !== 0 || m === null) throw new Error(`valgrind run failed in ${cwd} (status ${String(r.status)}):\n${r.stderr.slice(-2000)}\n${r.stdout.slice(-2000)}`);
  return Number(m[1]);
}

const results = new Map<string, number[]>(dirs.map(([label]) => [label, []]));
for (let rep = 0; rep < reps; rep++) {
  for (const [label, dir] of dirs) {
    const ia = count(a!, label, dir);
    const ib = count(b!, label, dir);
    const per = (ib - ia) / (b! - a!);
    results.get(label)!.push(per);
    console.log(`${label.padEnd(10)} rep ${rep + 1}: ${ia} Ir at ${a}, ${ib} Ir at ${b}: ${Math.round(per)} instructions per operation`);
  }
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
for (const [label, xs] of results) console.log(`${label.padEnd(10)} median ${Math.round(median(xs))} instructions per operation (${xs.length} runs: ${xs.map((x) => Math.round(x)).join(' ')})`);

// A/B of the TUN receive path (issue 17 part 2): kernel→stack plain-MTU
// bulk and 1-byte ping-pong, pinned and unpinned, with tsip's receive
// thread off / on (the default: engaged under a backlog) / always, and C
// lwIP beside them, alternating per repetition. It runs tun-tx-ab.ts (the
// servers, clients, per-thread CPU and strace are there) once per test.
//
//   npx tsx bench/tools/tun-rx-ab.ts [BYTES] [REPS] [--strace] [--modes=rx-off,rx-on,rx-always] [--tests=recv,pingpong-pinned,pingpong] [--json=FILE]
//
// --json writes every test's results (tun-tx-ab.ts --json) into one file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const nums = args.filter((a) => /^\d+$/.test(a));
const BYTES = nums[0] ?? '200000000';
const REPS = nums[1] ?? '5';
const MODES = args.find((a) => a.startsWith('--modes='))?.slice(8) ?? 'rx-off,rx-on,rx-always';
const TESTS = (args.find((a) => a.startsWith('--tests='))?.slice(8) ?? 'recv,pingpong-pinned,pingpong').split(',');
const JSON_OUT = args.find((a) => a.startsWith('--json='))?.slice(7);
const tool = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tun-tx-ab.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'tsip-rx-ab-'));
const all: Record<string, unknown> = {};
try {
  for (const t of TESTS) {
    const out = path.join(dir, `${t}.json`);
    const argv = ['--import', 'tsx', tool, t === 'recv' ? BYTES : '0', REPS, `--test=${t}`, `--modes=${MODES}`, `--json=${out}`, ...(args.includes('--strace') && t === 'recv' ? ['--strace'] : [])];
    console.log(`=== ${t}: node ${argv.slice(2).join(' ')}`);
    const r = spawnSync(process.execPath, argv, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${t}: tun-tx-ab.ts exited ${r.status}`);
    all[t] = JSON.parse(readFileSync(out, 'utf8'));
  }
  if (JSON_OUT) writeFileSync(JSON_OUT, `${JSON.stringify(all, null, 1)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

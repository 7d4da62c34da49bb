// Every file in examples/ runs as documented, from the sources (tsx maps
// 'tsip' to src/ through tsconfig.json's paths). test/package/ runs them
// again from the packed and installed package.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { REQUIRE_TUN, TUN } from '../support/tun.ts';
import { EXAMPLE_OUTPUT } from '../support/examples.ts';

const root = new URL('../../', import.meta.url).pathname;

function run(file: string, args: string[] = []): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `examples/${file}`, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSIP_DEMO_NETNS: `tsipex-${process.pid}` } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('examples/', () => {
  test('every example has an expected output here', () => {
    // Scripts only: examples/sim-testing/ holds examples that are vitest tests (they run with npm test).
    const scripts = readdirSync(`${root}examples`, { withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
    expect(scripts.sort()).toEqual(Object.keys(EXAMPLE_OUTPUT).sort());
  });
  for (const [file, spec] of Object.entries(EXAMPLE_OUTPUT)) {
    const skip = spec.needsTun === true && !TUN.ok && !REQUIRE_TUN;
    test.skipIf(skip)(`${file} ${spec.args?.join(' ') ?? ''}`, () => {
      const r = run(file, spec.args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(spec.stdout);
    });
  }
});

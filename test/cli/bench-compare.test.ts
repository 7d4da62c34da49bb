import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { UsageError } from '../../src/cli/args.ts';
import { benchCommand, compareBenchResults, readBenchResult } from '../../src/cli/bench-compare.ts';

const machine = { platform: 'linux', arch: 'x64', cpu: 'Test CPU', cores: 2, memoryBytes: 1 << 30 };
const A = {
  name: 'tcp-micro',
  date: '2026-01-01T00:00:00.000Z',
  node: 'v20.0.0',
  machine,
  figures: { 'parse ops/s': 1_000_000, 'emit ops/s': 500_000, 'lookup ns': 40, 'gone ops/s': 7, 'zero base': 0 },
  rows: [],
  notes: [],
};
const B = {
  name: 'tcp-micro',
  date: '2026-01-02T00:00:00.000Z',
  node: 'v20.1.0',
  machine,
  figures: { 'parse ops/s': 1_500_000, 'emit ops/s': 250_000, 'lookup ns': 50, 'zero base': 3, 'new MB/s': 123.5 },
  rows: [],
  notes: [],
};

let dir = '';
let aFile = '';
let bFile = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsip-bench-compare-'));
  aFile = join(dir, 'a.json');
  bFile = join(dir, 'b.json');
  writeFileSync(aFile, JSON.stringify(A));
  writeFileSync(bFile, JSON.stringify(B));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('tsip bench compare', () => {
  test('ratios B/A for figures in both; the others listed by side', () => {
    const c = compareBenchResults(readBenchResult(aFile), readBenchResult(bFile));
    expect(c.both.map((f) => [f.figure, f.a, f.b, f.ratio])).toEqual([
      ['parse ops/s', 1_000_000, 1_500_000, 1.5],
      ['emit ops/s', 500_000, 250_000, 0.5],
      ['lookup ns', 40, 50, 1.25],
      ['zero base', 0, 3, null],
    ]);
    expect(c.onlyA).toEqual([{ figure: 'gone ops/s', value: 7 }]);
    expect(c.onlyB).toEqual([{ figure: 'new MB/s', value: 123.5 }]);
  });

  test('prints a table with the ratios, both files described, one-sided figures listed; exit 0', () => {
    const out: string[] = [];
    const code = benchCommand(['compare', aFile, bFile], (s) => out.push(s));
    expect(code).toBe(0);
    expect(out).toHaveLength(1);
    const text = out[0]!;
    const lines = text.split('\n');
    expect(lines[0]).toBe(`A: ${aFile} (tcp-micro, 2026-01-01T00:00:00.000Z, node v20.0.0, Test CPU, 2 cores, linux/x64)`);
    expect(lines[1]).toBe(`B: ${bFile} (tcp-micro, 2026-01-02T00:00:00.000Z, node v20.1.0, Test CPU, 2 cores, linux/x64)`);
    const row = (name: string): string[] => lines.find((l) => l.startsWith(name))!.trim().split(/\s{2,}/);
    expect(row('parse ops/s')).toEqual(['parse ops/s', '1000000', '1500000', '1.500x']);
    expect(row('emit ops/s')).toEqual(['emit ops/s', '500000', '250000', '0.500x']);
    expect(row('lookup ns')).toEqual(['lookup ns', '40', '50', '1.250x']);
    expect(row('zero base')).toEqual(['zero base', '0', '3', 'n/a']);
    expect(text).toContain('only in A (1):\n  gone ops/s = 7');
    expect(text).toContain('only in B (1):\n  new MB/s = 123.5');
    expect(text).not.toContain('warning');
  });

  test('a missing file or one without figures: message and exit 1', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'x' }));
    const errs: string[] = [];
    expect(benchCommand(['compare', aFile, join(dir, 'missing.json')], () => {}, (s) => errs.push(s))).toBe(1);
    expect(benchCommand(['compare', bad, bFile], () => {}, (s) => errs.push(s))).toBe(1);
    expect(errs[0]).toMatch(/cannot read .*missing\.json/);
    expect(errs[1]).toMatch(/has no "figures" object/);
  });

  test('wrong arguments are usage errors: one line naming the problem', () => {
    expect(() => benchCommand(['compare', aFile])).toThrow(UsageError);
    expect(() => benchCommand(['compare', aFile])).toThrow(`tsip bench compare: missing two result files A.json B.json (got ${aFile}) (see tsip bench compare --help)`);
    expect(() => benchCommand(['compare', aFile, bFile, aFile])).toThrow(/^tsip bench compare: too many arguments/);
    expect(() => benchCommand(['frobnicate'])).toThrow('tsip bench: unknown subcommand frobnicate (there is one: compare) (see tsip bench --help)');
  });
});

// The determinism rule of ARCHITECTURE.md as a test: the core takes time and
// randomness only from the Stack's Clock and Rng. Only time/real*, netif/tun*
// and cli/ may touch the real clock.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const FORBIDDEN = /\b(Date\.now|performance\.now|setTimeout|setInterval|setImmediate|Math\.random)\s*\(/;
const ALLOWED = [/^time\/real[^/]*$/, /^netif\/tun/, /^cli\//];

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else if (/\.(ts|js|mjs|cjs)$/.test(name)) out.push(full);
  }
  return out;
}

/** Lines of `source` that call a forbidden API, ignoring comments. */
function forbiddenCalls(source: string): string[] {
  const hits: string[] = [];
  const noBlockComments = source.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '));
  noBlockComments.split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    if (FORBIDDEN.test(code)) hits.push(`${i + 1}: ${line.trim()}`);
  });
  return hits;
}

describe('determinism lint', () => {
  test('the checker catches each forbidden call and ignores comments', () => {
    for (const call of ['Date.now()', 'performance.now()', 'setTimeout(f, 1)', 'setInterval(f, 1)', 'setImmediate(f)', 'Math.random()']) {
      expect(forbiddenCalls(`const x = ${call};`)).toHaveLength(1);
    }
    expect(forbiddenCalls('// Date.now() in a comment\n/* Math.random() */ const y = 1;')).toEqual([]);
  });

  test('nothing in src/ outside time/real*, netif/tun* and cli/ reads the real clock or Math.random', () => {
    const offenders: string[] = [];
    const files = walk(SRC);
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const rel = path.relative(SRC, file).split(path.sep).join('/');
      if (ALLOWED.some((re) => re.test(rel))) continue;
      for (const hit of forbiddenCalls(readFileSync(file, 'utf8'))) offenders.push(`src/${rel}:${hit}`);
    }
    expect(offenders).toEqual([]);
  });
});

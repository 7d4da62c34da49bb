// The determinism rule of ARCHITECTURE.md as a test: the core takes time and
// randomness only from the Stack's Clock and Rng. Only time/real*, netif/tun*
// and cli/ may touch the real clock.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
// The global timer functions called bare or through globalThis (a member
// call such as sock.setTimeout(...) is some object's method, not the
// global), the clock and random APIs, and imports of node:timers.
const FORBIDDEN = [
  /(?:^|[^.\w$])(setTimeout|setInterval|setImmediate)\s*\(/,
  /\bglobalThis\.(setTimeout|setInterval|setImmediate)\s*\(/,
  /\b(Date\.now|performance\.now|Math\.random)\s*\(/,
  /\bfrom\s+['"](node:)?timers(\/promises)?['"]/,
];
/** A class method that merely has one of those names (node:net's Socket.setTimeout), not a call. */
const METHOD_DEF = /^\s*(?:(?:public|private|protected|override|static|async)\s+)*(setTimeout|setInterval|setImmediate)\s*\(.*\)\s*(?::\s*[^={]+)?\{\s*$/;
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
    if (!METHOD_DEF.test(code) && FORBIDDEN.some((re) => re.test(code))) hits.push(`${i + 1}: ${line.trim()}`);
  });
  return hits;
}

describe('determinism lint', () => {
  test('the checker catches each forbidden call and ignores comments', () => {
    for (const call of ['Date.now()', 'performance.now()', 'setTimeout(f, 1)', 'setInterval(f, 1)', 'setImmediate(f)', 'Math.random()']) {
      expect(forbiddenCalls(`const x = ${call};`)).toHaveLength(1);
    }
    expect(forbiddenCalls('// Date.now() in a comment\n/* Math.random() */ const y = 1;')).toEqual([]);
    for (const code of ['globalThis.setTimeout(f, 1);', "import { setTimeout as sleep } from 'node:timers/promises';", 'if (x) setImmediate(f);', 'const t = setInterval(f, 1);']) {
      expect(forbiddenCalls(code), code).toHaveLength(1);
    }
    // A method of that name (node:net's Socket.setTimeout) and calls of it on an object are not the global.
    expect(forbiddenCalls('  setTimeout(ms: number, cb?: () => void): this {\n    return this;\n  }')).toEqual([]);
    expect(forbiddenCalls('  override setTimeout(ms: number): this {')).toEqual([]);
    expect(forbiddenCalls('sock.setTimeout(1000); this.setTimeout(0);')).toEqual([]);
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

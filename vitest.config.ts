import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Inside the repository `import ... from 'tsip'` and 'tsip/<entry>' resolve
// to the sources, following package.json's "exports" (dist/X.js -> src/X.ts),
// as tsconfig.json's "paths" do for tsc and tsx.
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { exports: Record<string, string | { default: string }> };
const alias = Object.entries(pkg.exports)
  .filter((e): e is [string, { default: string }] => typeof e[1] === 'object')
  .map(([sub, t]) => ({
    find: new RegExp(`^${`tsip${sub.slice(1)}`.replace('/', '\\/')}$`),
    replacement: new URL(t.default.replace('./dist/', './src/').replace(/\.js$/, '.ts'), import.meta.url).pathname,
  }));

const common = { testTimeout: 30_000, hookTimeout: 30_000 };

export default defineConfig({
  resolve: { alias },
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      // Everything but the load tests, files in parallel.
      { extends: true, test: { ...common, name: 'main', include: ['test/**/*.test.ts', 'examples/**/*.test.ts'], exclude: ['test/load/**'], sequence: { groupOrder: 0 } } },
      // Floods and slow clients against a real device measure latency under
      // load: they run afterwards, one file at a time, with the machine to themselves.
      { extends: true, test: { ...common, name: 'load', include: ['test/load/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});

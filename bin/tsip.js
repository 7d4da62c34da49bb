#!/usr/bin/env node
// The tsip command. In a checkout (tsconfig.json beside bin/, not shipped
// in the package) it runs the TypeScript sources through tsx, so it never
// runs a stale dist/; an installed package runs the compiled dist/.
import { existsSync } from 'node:fs';

const checkout = existsSync(new URL('../tsconfig.json', import.meta.url));
const dist = new URL('../dist/cli/main.js', import.meta.url);
if (!checkout && existsSync(dist)) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}

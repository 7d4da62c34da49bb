// `npm run bench` runs every bench/*.bench.ts; `npm run bench -- NAME` runs one.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BenchSpec, publish } from './lib.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).sort();
const specs: BenchSpec[] = [];
for (const f of files) {
  const mod = (await import(pathToFileURL(path.join(here, f)).href)) as { default: BenchSpec };
  specs.push(mod.default);
}
const selected = wanted.length === 0 ? specs : specs.filter((s) => wanted.includes(s.name));
if (selected.length === 0) {
  console.error(`no benchmark named ${wanted.join(', ')}; have: ${specs.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
for (const spec of selected) {
  console.log(`running ${spec.name}: ${spec.description}`);
  const report = await spec.run();
  console.log(`wrote ${publish(report)}`);
}

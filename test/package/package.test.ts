// The user's view of tsip: pack it as it would be published, install the
// tarball into a new project with production dependencies only and no
// compiler on PATH, then, from there:
//   - every entry point in package.json "exports" imports, and exports
//     exactly the names docs/api.md lists for it (types included);
//   - every file of examples/ runs as plain ESM JavaScript;
//   - every README/docs snippet type-checks under `tsc --strict` as a
//     consumer's code, and runs (transpiled to JavaScript) printing what the
//     document says it prints.
// The repository is copied first (tracked and untracked, not ignored files)
// so packing never rewrites this checkout's dist/ or build/ under other tests.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseApiDoc, type ApiEntry } from '../support/api-doc.ts';
import { EXAMPLE_OUTPUT } from '../support/examples.ts';
import { allSnippets } from '../support/snippets.ts';
import { REQUIRE_TUN, TUN } from '../support/tun.ts';

const repo = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const work = mkdtempSync(join(tmpdir(), 'tsip-package-'));
const consumer = join(work, 'consumer');
const installed = join(consumer, 'node_modules', 'tsip');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const api = parseApiDoc(readFileSync(join(repo, 'docs/api.md'), 'utf8'));
const snippets = allSnippets(repo);
const skipTun = !TUN.ok && !REQUIRE_TUN;

let tarball = '';
let installLog = '';
/** The environment of a machine with no compiler: PATH = bareBin(). */
let bareEnv: NodeJS.ProcessEnv = {};

/** Tools a machine without a compiler still has; gcc, g++, cc, make and python3 are not among them. */
const BASE_TOOLS = ['sh', 'bash', 'env', 'cat', 'ls', 'mkdir', 'rm', 'cp', 'mv', 'ln', 'chmod', 'touch', 'tar', 'gzip', 'uname', 'id', 'grep', 'sed', 'dirname', 'basename', 'readlink', 'true', 'false', 'ip', 'sysctl'];

/** A PATH with node, npm and BASE_TOOLS only. */
function bareBin(): string {
  const dir = join(work, 'bin');
  mkdirSync(dir, { recursive: true });
  symlinkSync(process.execPath, join(dir, 'node'));
  for (const tool of BASE_TOOLS) {
    const where = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (where.startsWith('/')) symlinkSync(where, join(dir, tool));
  }
  const npmCli = execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim() + '/npm/bin/npm-cli.js';
  writeFileSync(join(dir, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
  return dir;
}

function run(argv: string[], cwd: string, env: NodeJS.ProcessEnv = process.env, timeout = 120_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env, encoding: 'utf8', timeout });
  return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

beforeAll(() => {
  // 1. A copy of the checkout, packed as npm would publish it (prepare builds dist/, prepack the prebuilt addon).
  const copy = join(work, 'repo');
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo }).toString('utf8').split('\0').filter((f) => f !== '' && f !== 'node_modules' && existsSync(join(repo, f))); // a worktree's node_modules may be an untracked symlink
  for (const f of files) cpSync(join(repo, f), join(copy, f), { preserveTimestamps: true });
  symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
  if (existsSync(join(repo, 'build/Release/tsip_tun.node'))) cpSync(join(repo, 'build/Release/tsip_tun.node'), join(copy, 'build/Release/tsip_tun.node'), { preserveTimestamps: true });
  const pack = run(['npm', 'pack', '--pack-destination', work], copy);
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
  tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);

  // 2. A new project installs it: production dependencies only, no compiler on PATH.
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'tsip-consumer', private: true, type: 'module' }));
  bareEnv = { HOME: process.env.HOME, PATH: bareBin(), npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? '/root', '.npm') };
  const inst = run(['npm', 'install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], consumer, bareEnv);
  installLog = inst.stdout + inst.stderr;
  if (inst.code !== 0) throw new Error(`npm install of the tarball failed:\n${installLog}`);

  // 3. Tools for the consumer's type check (not tsip's dependencies): Node's types, undici for its snippet.
  mkdirSync(join(consumer, 'node_modules/@types'), { recursive: true });
  symlinkSync(join(repo, 'node_modules/@types/node'), join(consumer, 'node_modules/@types/node'));
  symlinkSync(join(repo, 'node_modules/undici'), join(consumer, 'node_modules/undici'));
}, 300_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  test('installs without a compiler: the prebuilt addon is used, nothing is built, no warning', () => {
    expect(run([join(work, 'bin/sh'), '-c', 'command -v gcc g++ cc make python3 || true'], consumer, { PATH: join(work, 'bin') }).stdout).toBe('');
    expect(existsSync(join(installed, 'build'))).toBe(false);
    expect(readdirSync(join(installed, 'prebuilds/linux-x64'))).toEqual(['tsip_tun.glibc.node']);
    expect(installLog).not.toMatch(/tsip:.*fail/i);
  });

  test('ships what users need and nothing of the repository\'s own', () => {
    const list = run(['tar', 'tzf', tarball], work).stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'bin/tsip.js', 'docs/api.md', 'examples/sim-echo.js', 'native/tun/tun.cc', 'binding.gyp', 'scripts/install-native.js']) expect(list).toContain(f);
    expect(list.filter((f) => /^(test|bench|\.ci|node_modules|build)\//.test(f) || f.endsWith('.tgz'))).toEqual([]);
    const sizeKb = statSync(tarball).size / 1024;
    console.log(`package: ${list.length} files, ${sizeKb.toFixed(0)} KiB packed`);
  });

  test('the tsip command runs from the installed package', () => {
    const r = run([join(consumer, 'node_modules/.bin/tsip'), 'sim', 'ping', '--count', '2', '--quiet'], consumer);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 packets transmitted, 2 (packets )?received/);
  });
});

describe('entry points match docs/api.md', () => {
  test('docs/api.md documents exactly the entry points in package.json', () => {
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? 'tsip' : `tsip/${k.slice(2)}`));
    expect(api.map((e) => e.entry).sort()).toEqual(subpaths.sort());
  });

  for (const entry of api) {
    test(`${entry.entry}: runtime exports`, async () => {
      const r = run([process.execPath, '--input-type=module', '-e', `import * as m from '${entry.entry}'; console.log(JSON.stringify(Object.keys(m).sort()))`], consumer);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual(expectedValues(entry).sort());
    });
  }

  test('every entry point\'s types: exactly the documented names, under tsc --strict', () => {
    const exported = typeExports(api.map((e) => e.entry));
    for (const entry of api) expect([...exported.get(entry.entry)!].sort(), entry.entry).toEqual(expectedAll(entry).sort());
  });
});

describe('examples/ from the installed package, as plain JavaScript', () => {
  for (const [file, spec] of Object.entries(EXAMPLE_OUTPUT)) {
    test.skipIf(spec.needsTun === true && skipTun)(file, () => {
      cpSync(join(installed, 'examples', file), join(consumer, file));
      const r = run([process.execPath, file, ...(spec.args ?? [])], consumer, { ...process.env, TSIP_DEMO_NETNS: `tsippk-${process.pid}` });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(spec.stdout);
    });
  }
});

describe('README and docs snippets, as a consumer writes them', () => {
  test('there are snippets, and every one type-checks under tsc --strict', () => {
    expect(snippets.length).toBeGreaterThan(5);
    const dir = join(consumer, 'snippets');
    mkdirSync(dir, { recursive: true });
    for (const s of snippets) writeFileSync(join(dir, `${s.slug}.${s.lang === 'ts' ? 'ts' : 'js'}`), s.code);
    const diags = typeCheck(readdirSync(dir).map((f) => join(dir, f)));
    expect(diags).toEqual([]);
  });

  for (const s of snippets) {
    test.skipIf(s.needsTun && skipTun)(`${s.id} (line ${s.line}) runs${s.prints === undefined ? '' : ' and prints what the document shows'}`, () => {
      const js = ts.transpileModule(s.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      const file = join(consumer, `${s.slug}.mjs`);
      writeFileSync(file, js);
      if (/\b(key|cert)\.pem\b/.test(s.code) && !existsSync(join(consumer, 'key.pem'))) {
        run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=tsip.test'], consumer);
      }
      const r = run([process.execPath, file], consumer, process.env, 60_000);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      if (s.prints !== undefined) expect(r.stdout).toBe(s.prints);
    });
  }
});

/** Names an entry must export at runtime: its values, plus those of the entries it re-exports. */
function expectedValues(entry: ApiEntry): string[] {
  const names = new Set(entry.names.filter((n) => n.runtime).map((n) => n.name));
  for (const sub of entry.reexports) for (const n of api.find((e) => e.entry === sub)!.names) if (n.runtime) names.add(n.name);
  return [...names];
}

function expectedAll(entry: ApiEntry): string[] {
  const names = new Set(entry.names.map((n) => n.name));
  for (const sub of entry.reexports) for (const n of api.find((e) => e.entry === sub)!.names) names.add(n.name);
  return [...names];
}

const CONSUMER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  types: ['node'],
  allowJs: true,
  checkJs: true,
  skipLibCheck: false,
};

function typeCheck(files: string[]): string[] {
  const program = ts.createProgram(files, { ...CONSUMER_OPTIONS, typeRoots: [join(consumer, 'node_modules/@types')] });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName.replace(`${consumer}/`, '')}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

/** Every name (value or type) each entry point exports, as the consumer's compiler sees it. */
function typeExports(entries: string[]): Map<string, Set<string>> {
  const file = join(consumer, 'entries.ts');
  writeFileSync(file, entries.map((e, i) => `import * as m${i} from '${e}';\nexport { m${i} };\n`).join(''));
  const program = ts.createProgram([file], { ...CONSUMER_OPTIONS, typeRoots: [join(consumer, 'node_modules/@types')] });
  const diags = ts.getPreEmitDiagnostics(program);
  if (diags.length > 0) throw new Error(diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  const checker = program.getTypeChecker();
  const out = new Map<string, Set<string>>();
  const sf = program.getSourceFile(file)!;
  sf.statements.filter(ts.isImportDeclaration).forEach((imp, i) => {
    const sym = checker.getSymbolAtLocation(imp.moduleSpecifier)!;
    out.set(entries[i]!, new Set(checker.getExportsOfModule(sym).map((s) => s.name)));
  });
  return out;
}

describe('a platform without a prebuilt addon, on a machine without a compiler', () => {
  test('the install step finishes with one warning (a failure only under REQUIRE_TUN=1), and opening a TUN device says why and how to fix it', () => {
    const prebuilds = join(installed, 'prebuilds');
    renameSync(prebuilds, `${prebuilds}.off`);
    try {
      const inst = run([process.execPath, 'scripts/install-native.js'], installed, bareEnv);
      expect(inst.code).toBe(0);
      expect(inst.stderr).toMatch(/^tsip: no prebuilt TUN addon for linux-x64-glibc and building it failed \(.*\)\.\ntsip: everything but TUN devices works without it\. To use TUN devices, install python3, make and g\+\+, then run `npm rebuild tsip`\.\n$/);
      expect(existsSync(join(installed, 'build/Release/tsip_tun.node'))).toBe(false);
      expect(run([process.execPath, 'scripts/install-native.js'], installed, { ...bareEnv, REQUIRE_TUN: '1' }).code).toBe(1);
      const open = run([process.execPath, '--input-type=module', '-e', "import { TunDevice } from 'tsip'; try { TunDevice.open(); } catch (e) { console.log(`${e.name}: ${e.message}`); }"], consumer, bareEnv);
      expect(open.stdout).toMatch(/^TunError: tsip's TUN addon is not available on linux-x64-glibc: no prebuilt binary ships for linux-x64-glibc and there is no local build\. Fix: .*npm rebuild tsip/);
    } finally {
      renameSync(`${prebuilds}.off`, prebuilds);
    }
  });
});

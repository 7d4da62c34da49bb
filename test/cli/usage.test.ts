// The command line end to end, as a user meets it: the CLI runs as a child
// process (node --import tsx src/cli/main.ts ...), and each case of the
// issue is checked by exit status, stdout and stderr. Help goes to stdout
// with status 0 and shows only that command; a usage error is exactly one
// line on stderr naming the option and its range, status 2.
import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { simPingCommand } from '../../src/cli/sim-ping.ts';
import { simTransferCommand } from '../../src/cli/sim-transfer.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command line as a child; the timeout is only a bound against hanging, never an assertion. */
function run(argv: string[], opts: { timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
      resolve({ code, stdout, stderr });
    });
  });
}

const tsip = (...args: string[]): Promise<Run> => run([process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args]);
const bench = (...args: string[]): Promise<Run> => run([process.execPath, '--import', 'tsx', 'bench/run.ts', ...args]);

/** A usage error: status 2, nothing on stdout, exactly `line` on stderr. */
function expectUsageError(r: Run, line: string): void {
  expect(r.stderr).toBe(`${line}\n`);
  expect(r.stdout).toBe('');
  expect(r.code).toBe(2);
}

const USAGE_LINES = ['usage: tsip up', 'usage: tsip sim ping', 'usage: tsip sim transfer', 'usage: tsip bench compare'];

/** Help of `usage` only: status 0, stdout starts with its usage line and has no other command's. */
function expectOwnHelp(r: Run, usage: string): void {
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  expect(r.stdout.startsWith(`${usage}\n`)).toBe(true);
  for (const other of USAGE_LINES) if (!usage.startsWith(other)) expect(r.stdout).not.toContain(other);
  expect(r.stdout).toContain('-h, --help');
  expect(r.stdout).not.toContain('Unknown option');
}

describe('help', () => {
  test.concurrent('tsip up --help, -h: its own usage, status 0', async () => {
    for (const flag of ['--help', '-h']) expectOwnHelp(await tsip('up', flag), 'usage: tsip up [options]');
  });

  test.concurrent('tsip sim transfer --help, -h, and help after other options', async () => {
    for (const args of [['--help'], ['-h'], ['--loss', '-1', '--help']]) expectOwnHelp(await tsip('sim', 'transfer', ...args), 'usage: tsip sim transfer [options]');
  });

  test.concurrent('tsip sim ping --help, tsip bench compare -h; tsip help sim transfer is tsip sim transfer --help', async () => {
    expectOwnHelp(await tsip('sim', 'ping', '--help'), 'usage: tsip sim ping [options]');
    expectOwnHelp(await tsip('bench', 'compare', '-h'), 'usage: tsip bench compare A.json B.json');
    const [a, b] = await Promise.all([tsip('help', 'sim', 'transfer'), tsip('sim', 'transfer', '--help')]);
    expect(a).toEqual(b);
  });

  test.concurrent('the help states units, ranges and defaults', async () => {
    const t = (await tsip('sim', 'transfer', '--help')).stdout;
    expect(t).toMatch(/--bytes N +payload bytes each way.*\(0 to 100000000000 = 100 GB; default 1000000\)/s);
    expect(t).toMatch(/--delay MS +one-way link delay \(0 to 60000 ms; default 1; old name: --latency\)/);
    expect(t).toMatch(/--rate RATE +link rate: a bare number is Mbit\/s/);
    const u = (await tsip('up', '--help')).stdout.replace(/\s+/g, ' ');
    expect(u).toMatch(/--duration S serve for S seconds, then clean up and exit \(greater than 0, at most 31536000 seconds = 365 days; default until Ctrl-C\)/);
    expect(u).toMatch(/--mtu N device MTU \(68 to 65535 bytes; default 1500\)/);
  });

  test.concurrent('tsip, tsip help, tsip --help: the short overview of commands', async () => {
    const runs = await Promise.all([tsip(), tsip('help'), tsip('--help'), tsip('-h')]);
    for (const r of runs) {
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(runs[0]!.stdout);
      expect(r.stdout).toMatch(/^tsip — a userspace TCP\/IP stack\n/);
      for (const c of ['tsip up', 'tsip sim ping', 'tsip sim transfer', 'tsip bench compare', 'tsip help [COMMAND]']) expect(r.stdout).toContain(`  ${c} `);
      expect(r.stdout).not.toContain('--loss'); // options live in each command's help
      expect(r.stdout.split('\n').length).toBeLessThan(20);
    }
  });
});

describe('usage errors: one line, status 2', () => {
  test.concurrent('--loss -1 and --loss=-1 are values refused by range, not "ambiguous"', async () => {
    const line = 'tsip sim transfer: --loss must be a number from 0 to 1, got -1 (see tsip sim transfer --help)';
    expectUsageError(await tsip('sim', 'transfer', '--loss', '-1'), line);
    expectUsageError(await tsip('sim', 'transfer', '--loss=-1'), line);
    expectUsageError(await tsip('sim', 'ping', '--loss', '-1'), 'tsip sim ping: --loss must be a number from 0 to 1, got -1 (see tsip sim ping --help)');
    expectUsageError(await tsip('sim', 'ping', '--delay', '-5'), 'tsip sim ping: --delay must be a number from 0 to 60000 ms, got -5 (see tsip sim ping --help)');
  });

  test.concurrent('up --duration -1', async () => {
    expectUsageError(await tsip('up', '--duration', '-1'), 'tsip up: --duration must be a number greater than 0 and at most 31536000 seconds (365 days), got -1 (see tsip up --help)');
  });

  test.concurrent('up --netns "" and --terminal 99999', async () => {
    expectUsageError(await tsip('up', '--netns', ''), `tsip up: --netns must be a namespace name: 1 to 64 letters, digits, '_', '.' or '-', got "" (see tsip up --help)`);
    expectUsageError(await tsip('up', '--terminal', '99999'), 'tsip up: --terminal must be a TCP port from 1 to 65535 other than 7, 9, 19, 80 (the services use them), got 99999 (see tsip up --help)');
  });

  test.concurrent('sim transfer --bytes 1e12: the maximum, not a crash', async () => {
    expectUsageError(await tsip('sim', 'transfer', '--bytes', '1e12'), 'tsip sim transfer: --bytes must be an integer from 0 to 100000000000 (100 GB), got 1e12 (see tsip sim transfer --help)');
  });

  test.concurrent('unknown options, commands and scenarios name themselves; no usage dump', async () => {
    expectUsageError(await tsip('up', '--frobnicate'), 'tsip up: unknown option --frobnicate (see tsip up --help)');
    expectUsageError(await tsip('sim', 'transfer', '--lose', '0.1'), 'tsip sim transfer: unknown option --lose (did you mean --loss?) (see tsip sim transfer --help)');
    expectUsageError(await tsip('sim', 'walk'), 'tsip sim: unknown scenario walk: ping or transfer (see tsip sim --help)');
    expectUsageError(await tsip('frob'), 'tsip: unknown command frob: up, sim, bench or help (see tsip --help)');
  });
});

describe('the same option, the same name and unit', () => {
  test('sim ping --delay and --latency (old name) give the same run for the same seed', () => {
    const out = (args: string[]): string[] => {
      const lines: string[] = [];
      expect(simPingCommand(['--seed', '5', '--count', '20', '--interval', '50', '--loss', '0.1', ...args], (s) => lines.push(s))).toBe(0);
      return lines;
    };
    const a = out(['--delay', '7']);
    expect(a).toEqual(out(['--latency', '7']));
    expect(a.join('\n')).toContain('delay 7 ms');
    expect(a.join('\n')).toContain('time=14.');
    expect(a).not.toEqual(out(['--delay', '3']));
  });

  test('sim ping --rate 10 is --rate 10M (Mbit/s, as sim transfer); 64k is 64 kbit/s', () => {
    const out = (rate: string): string => {
      const lines: string[] = [];
      simPingCommand(['--seed', '2', '--count', '3', '--size', '20000', '--interval', '10000', '--rate', rate, '--json'], (s) => lines.push(s));
      expect(lines).toHaveLength(1);
      return lines[0]!;
    };
    const a = JSON.parse(out('10')) as { link: { bitsPerSecond: number }; received: number; rttMs: { avg: number } };
    expect(out('10')).toBe(out('10M'));
    expect(a.link.bitsPerSecond).toBe(10e6);
    expect(a.received).toBe(3);
    const slow = JSON.parse(out('64k')) as { link: { bitsPerSecond: number }; rttMs: { avg: number } };
    expect(slow.link.bitsPerSecond).toBe(64e3);
    // 20 KB each way (fragmented, well beyond the token bucket's 3000-byte burst):
    // about 2 x 2.5 s at 64 kbit/s less the burst, some 30 ms at 10 Mbit/s.
    expect(slow.rttMs.avg).toBeGreaterThan(4000);
    expect(a.rttMs.avg).toBeLessThan(100);
    const lines: string[] = [];
    simTransferCommand(['--bytes', '1000', '--rate', '10M'], (s) => lines.push(s));
    expect(lines.join('\n')).toContain('rate 10 Mbit/s');
  });
});

describe('npm run bench', () => {
  const RESULTS = path.resolve('bench/results');
  const snapshot = (): string =>
    readdirSync(RESULTS)
      .map((f) => `${f}:${statSync(path.join(RESULTS, f)).mtimeMs}`)
      .sort()
      .join('\n');

  test('npm run bench -- --help (and -h) lists the benchmarks with their descriptions and runs none', async () => {
    const before = snapshot();
    const r = await run(['npm', 'run', '--silent', 'bench', '--', '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run bench \[-- NAME\.\.\.\]/);
    for (const name of ['anchors', 'checksum', 'memory', 'net-bulk', 'pbuf', 'sim-bulk', 'tcp-micro', 'timers', 'tun-bulk', 'tun-rr']) expect(r.stdout).toMatch(new RegExp(`\\n  ${name} +\\S`));
    expect(r.stdout).toContain('RFC 1071 Internet checksum');
    expect(r.stdout).not.toContain('running ');
    expect(r.stdout).not.toContain('wrote ');
    const h = await bench('-h');
    expect(h.code).toBe(0);
    expect(h.stdout).toBe(r.stdout);
    expect(snapshot()).toBe(before);
  });

  test.concurrent('an unknown name lists the valid ones; an unknown flag is a usage error; both status 2, nothing run', async () => {
    const before = snapshot();
    expectUsageError(
      await bench('sim-bulk', 'nope'),
      'npm run bench: no benchmark named nope; valid names: anchors, checksum, conns-1m, memory, net-bulk, pbuf, recovery, sim-bulk, sim-idle-hour, sock-bulk, tcp-micro, timers, tun-bulk, tun-rr (see npm run bench -- --help)',
    );
    expectUsageError(await bench('--fast'), 'npm run bench: unknown option --fast (see npm run bench -- --help)');
    expect(snapshot()).toBe(before);
  });
});

// The declarative option module (src/cli/args.ts) and the commands'
// declarations, tested directly: parsing, ranges, one-line errors, help.
import { afterEach, describe, expect, test, vi } from 'vitest';
import { choice, defineCommand, flag, formatHelp, integer, number, parseCommand, parseDecimal, text, UsageError } from '../../src/cli/args.ts';
import { formatRate, parseRate } from '../../src/cli/common-options.ts';
import { MAX_TIMER_MS, setLongTimeout } from '../../src/cli/long-timeout.ts';
import { Progress } from '../../src/cli/progress.ts';
import { SIM_PING } from '../../src/cli/sim-ping.ts';
import { BYTES_MAX, SIM_TRANSFER } from '../../src/cli/sim-transfer.ts';
import { DURATION_MAX_S, UP, upOptionsOf } from '../../src/cli/up-command.ts';

const DEMO = defineCommand({
  name: 'tsip demo',
  usage: 'tsip demo [options]',
  summary: 'A command for the tests.',
  options: {
    loss: number({ description: 'drop probability', min: 0, max: 1, default: 0 }),
    count: integer({ description: 'how many', min: 1, max: 100, default: 10 }),
    wait: number({ description: 'how long', metavar: 'S', min: 0, minExclusive: true, max: 60, unit: 'seconds' }),
    delay: number({ description: 'one-way delay', metavar: 'MS', min: 0, max: 1000, unit: 'ms', default: 1, aliases: ['latency'] }),
    name: text({ description: 'a name', metavar: 'NAME' }),
    cc: choice({ description: 'congestion control', values: ['cubic', 'reno'], default: 'cubic' }),
    quiet: flag({ description: 'say less' }),
  },
});

/** The one-line message a parse fails with. */
function usageError(argv: string[]): string {
  try {
    parseCommand(DEMO, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    const msg = (e as UsageError).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

const values = (argv: string[]) => {
  const r = parseCommand(DEMO, argv);
  if (r.help) throw new Error('help');
  return r.values;
};

describe('args: parsing', () => {
  test('defaults, --name VALUE, --name=VALUE, flags, the last repetition wins', () => {
    expect(values([])).toEqual({ loss: 0, count: 10, wait: undefined, delay: 1, name: undefined, cc: 'cubic', quiet: false });
    expect(values(['--loss', '0.25', '--count=3', '--quiet', '--name', 'x', '--cc', 'reno', '--count', '4'])).toMatchObject({ loss: 0.25, count: 4, quiet: true, name: 'x', cc: 'reno' });
  });

  test('negative numbers are values, refused by the range check (not "ambiguous")', () => {
    expect(usageError(['--loss', '-1'])).toBe('tsip demo: --loss must be a number from 0 to 1, got -1 (see tsip demo --help)');
    expect(usageError(['--loss=-1'])).toBe('tsip demo: --loss must be a number from 0 to 1, got -1 (see tsip demo --help)');
    expect(usageError(['--wait', '-1'])).toBe('tsip demo: --wait must be a number greater than 0 and at most 60 seconds, got -1 (see tsip demo --help)');
    // A value that merely starts with '-' is still the option's value.
    expect(values(['--name', '-x']).name).toBe('-x');
  });

  test('integers, ranges and number syntax', () => {
    expect(usageError(['--count', '0'])).toBe('tsip demo: --count must be an integer from 1 to 100, got 0 (see tsip demo --help)');
    expect(usageError(['--count', '2.5'])).toContain('--count must be an integer from 1 to 100, got 2.5');
    expect(usageError(['--count', '1e3'])).toContain('got 1e3');
    expect(values(['--count', '1e1']).count).toBe(10);
    for (const bad of ['', ' ', 'abc', '0x10', 'Infinity', 'NaN', '1..2']) expect(parseDecimal(bad), bad).toBeUndefined();
    expect([parseDecimal('-1'), parseDecimal('.5'), parseDecimal('1_000_000'), parseDecimal('1e12')]).toEqual([-1, 0.5, 1_000_000, 1e12]);
    expect(usageError(['--wait', '0'])).toContain('greater than 0');
    expect(values(['--wait', '60']).wait).toBe(60);
  });

  test('empty strings, enums, flags with values, missing values', () => {
    expect(usageError(['--name', ''])).toBe('tsip demo: --name must be a non-empty string, got "" (see tsip demo --help)');
    expect(usageError(['--cc', 'bbr'])).toBe('tsip demo: --cc must be one of cubic, reno, got bbr (see tsip demo --help)');
    expect(usageError(['--quiet=yes'])).toBe('tsip demo: --quiet takes no value, got --quiet=yes (see tsip demo --help)');
    expect(usageError(['--loss'])).toBe('tsip demo: --loss needs a value: a number from 0 to 1 (see tsip demo --help)');
  });

  test('unknown options name themselves (with the closest valid one); stray arguments are refused', () => {
    expect(usageError(['--lose', '0.1'])).toBe('tsip demo: unknown option --lose (did you mean --loss?) (see tsip demo --help)');
    expect(usageError(['--frobnicate'])).toBe('tsip demo: unknown option --frobnicate (see tsip demo --help)');
    expect(usageError(['-x'])).toBe('tsip demo: unknown option -x (see tsip demo --help)');
    expect(usageError(['extra'])).toBe('tsip demo: unexpected argument extra (this command takes options only) (see tsip demo --help)');
  });

  test('old spellings are aliases of the new name', () => {
    expect(values(['--latency', '7']).delay).toBe(7);
    expect(values(['--delay', '7']).delay).toBe(7);
    expect(usageError(['--latency', '-7'])).toContain('--delay must be a number from 0 to 1000 ms, got -7');
  });

  test('-h / --help anywhere before -- asks for help, even after a bad value', () => {
    for (const argv of [['--help'], ['-h'], ['--loss', '-1', '-h'], ['--count', '--help'], ['--nope', '--help']]) expect(parseCommand(DEMO, argv), argv.join(' ')).toEqual({ help: true });
    const r = parseCommand({ ...DEMO, positionals: { names: 'FILE', min: 0, max: 1 } }, ['--', '-h']);
    expect(r.help === false && r.positionals).toEqual(['-h']);
  });

  test('the help lists every option with its range, unit, default and old names', () => {
    const h = formatHelp(DEMO);
    expect(h.split('\n')[0]).toBe('usage: tsip demo [options]');
    expect(h).toMatch(/--loss N +drop probability \(0 to 1; default 0\)/);
    expect(h).toMatch(/--wait S +how long \(greater than 0, at most 60 seconds\)/);
    expect(h).toMatch(/--delay MS +one-way delay \(0 to 1000 ms; default 1; old name: --latency\)/);
    expect(h).toMatch(/--cc VALUE +congestion control \(cubic or reno; default cubic\)/);
    expect(h).toMatch(/-h, --help +print this help and exit/);
    expect(h).toContain('2  usage error');
  });
});

describe('args: the commands', () => {
  const upErr = (argv: string[]): string => {
    try {
      upOptionsOf(argv, {});
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };

  test('up --duration 3000000 is accepted (timers are chained); -1 and beyond a year are refused', () => {
    const o = upOptionsOf(['--duration', '3000000'], {});
    expect(o !== 'help' && o.duration).toBe(3_000_000);
    expect(upErr(['--duration', '-1'])).toBe(`tsip up: --duration must be a number greater than 0 and at most ${DURATION_MAX_S} seconds (365 days), got -1 (see tsip up --help)`);
    expect(upErr(['--duration', '0'])).toContain('--duration must be a number greater than 0');
    expect(upErr(['--duration', String(DURATION_MAX_S + 1)])).toContain(`at most ${DURATION_MAX_S} seconds`);
  });

  test('up --busy-poll US: passed to the device as busyPollUs; off unless given; out of 0..1e6 refused', () => {
    expect(upOptionsOf(['--busy-poll', '100'], {})).toMatchObject({ busyPollUs: 100 });
    expect(upOptionsOf([], {})).not.toHaveProperty('busyPollUs');
    expect(upErr(['--busy-poll', '-3'])).toBe('tsip up: --busy-poll must be a number from 0 to 1000000 microseconds, got -3 (see tsip up --help)');
    expect(upErr(['--busy-poll', '2e6'])).toContain('--busy-poll must be a number from 0 to 1000000 microseconds');
  });

  test('up: names non-empty, device names within IFNAMSIZ, ports, addresses, MTU, option combinations', () => {
    expect(upErr(['--netns', ''])).toBe(`tsip up: --netns must be a namespace name: 1 to 64 letters, digits, '_', '.' or '-', got "" (see tsip up --help)`);
    expect(upErr(['--dev', ''])).toContain('--dev must be a device name of 1 to 15 characters');
    expect(upErr(['--dev', 'x'.repeat(16)])).toContain('--dev must be a device name of 1 to 15 characters');
    expect(upOptionsOf(['--dev', 'x'.repeat(15)], {})).toMatchObject({ dev: 'x'.repeat(15) });
    expect(upErr(['--terminal', '99999'])).toBe('tsip up: --terminal must be a TCP port from 1 to 65535 other than 7, 9, 19, 80 (the services use them), got 99999 (see tsip up --help)');
    expect(upErr(['--terminal', '80', '--terminal-password', 'pw'])).toContain('--terminal must be a TCP port');
    expect(upErr(['--terminal', '2323'])).toBe('tsip up: --terminal needs a password: --terminal-password PW or env TSIP_TERMINAL_PASSWORD (see tsip up --help)');
    expect(upOptionsOf(['--terminal', '2323'], { TSIP_TERMINAL_PASSWORD: 'pw' })).toMatchObject({ terminal: { port: 2323, password: 'pw', mode: 'repl' } });
    expect(upErr(['--terminal-mode', 'shell'])).toContain('--terminal-mode needs --terminal PORT');
    expect(upErr(['--webrepl', '8266'])).toBe('tsip up: --webrepl needs a password: --webrepl-password PW or env TSIP_WEBREPL_PASSWORD (see tsip up --help)');
    expect(upErr(['--webrepl', '80', '--webrepl-password', 'pw'])).toContain('--webrepl must be a TCP port');
    expect(upOptionsOf(['--webrepl', '8266', '--webrepl-root', '/tmp/x'], { TSIP_WEBREPL_PASSWORD: 'pw' })).toMatchObject({ webrepl: { port: 8266, password: 'pw', mode: 'repl', root: '/tmp/x' } });
    expect(upErr(['--webrepl-root', '/tmp'])).toContain('--webrepl-root needs --webrepl PORT');
    expect(upErr(['--webrepl', '2323', '--terminal', '2323', '--webrepl-password', 'a', '--terminal-password', 'b'])).toContain('cannot share port 2323');
    expect(upErr(['--addr', '10.77.0.2'])).toContain('--addr must be an IPv4 address with a prefix length from 1 to 30');
    expect(upErr(['--addr', '10.77.0.3/30'])).toContain('--addr must be a host address, not the network or broadcast address of its /30, got 10.77.0.3/30');
    expect(upErr(['--mtu', '67'])).toContain('--mtu must be an integer from 68 to 65535 bytes, got 67');
    expect(upErr(['--netns', 'a', '--no-netns'])).toContain('--netns and --no-netns exclude each other');
    expect(upOptionsOf(['--no-netns'], {})).toMatchObject({ netns: null });
  });

  test('sim transfer --bytes has a stated maximum; the link options are the same as sim ping', () => {
    const r = parseCommand(SIM_TRANSFER, ['--bytes', String(BYTES_MAX)]);
    expect(r.help === false && r.values.bytes).toBe(BYTES_MAX);
    expect(() => parseCommand(SIM_TRANSFER, ['--bytes', '1e12'])).toThrow(`tsip sim transfer: --bytes must be an integer from 0 to ${BYTES_MAX} (100 GB), got 1e12 (see tsip sim transfer --help)`);
    for (const key of ['seed', 'delay', 'rate', 'loss', 'dup', 'reorder', 'corrupt', 'mtu', 'pcap']) {
      const a = SIM_PING.options[key as keyof typeof SIM_PING.options];
      const b = SIM_TRANSFER.options[key as keyof typeof SIM_TRANSFER.options];
      expect(a, key).toBeDefined();
      // Same kind, range, unit, default and aliases (descriptions may differ: "packet" vs "frame").
      expect({ ...a, description: '' }, key).toEqual({ ...b, description: '' });
    }
    expect(UP.options.mtu.min).toBe(SIM_PING.options.mtu.min);
  });

  test('--rate: a bare number is Mbit/s, an SI prefix means bit/s', () => {
    expect(parseRate('10')).toBe(10e6);
    expect(parseRate('10M')).toBe(10e6);
    expect(parseRate('10Mbit/s')).toBe(10e6);
    expect(parseRate('64k')).toBe(64e3);
    expect(parseRate('1.5G')).toBe(1.5e9);
    expect(parseRate('9600bps')).toBe(9600);
    expect(parseRate('0.5')).toBe(5e5);
    for (const bad of ['', '-1', 'fast', '10Q', ' 10', '1e']) expect(parseRate(bad), bad).toBeUndefined();
    expect([formatRate(10e6), formatRate(64e3), formatRate(1.5e9), formatRate(300)]).toEqual(['10 Mbit/s', '64 kbit/s', '1.5 Gbit/s', '300 bit/s']);
    const rate = (v: string) => {
      const r = parseCommand(SIM_PING, ['--rate', v]);
      return r.help ? null : r.values.rate;
    };
    expect(rate('10')).toBe(rate('10M'));
    expect(() => rate('0')).toThrow('tsip sim ping: --rate must be a rate from 1 bit/s to 1 Tbit/s: a bare number is Mbit/s, with an SI prefix bit/s (64k, 10M, 1.5G), got 0 (see tsip sim ping --help)');
    expect(() => rate('2T')).toThrow(UsageError);
  });
});

describe('long timeouts', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test('a delay beyond what one Node timer holds fires after the whole delay, not at once', () => {
    vi.useFakeTimers();
    const fired: number[] = [];
    setLongTimeout(() => fired.push(1), 3_000_000 * 1000);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(3_000_000 * 1000 - MAX_TIMER_MS - 2);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([1]);
  });

  test('clear() stops it', () => {
    vi.useFakeTimers();
    let n = 0;
    const t = setLongTimeout(() => n++, 10);
    t.clear();
    vi.advanceTimersByTime(100);
    expect(n).toBe(0);
  });
});

describe('progress', () => {
  const stream = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, s: { isTTY, columns: 40, write: (x: string) => writes.push(x) } };
  };

  test('shown on a terminal with \\r, cleared; nothing on a pipe or under --json', () => {
    const tty = stream(true);
    const p = Progress.forStream(tty.s);
    p.update('step 1', true);
    p.update('step 2', true);
    p.clear();
    expect(tty.writes).toEqual(['\rstep 1\x1b[K', '\rstep 2\x1b[K', '\r\x1b[K']);
    for (const [st, json] of [[stream(false), false], [stream(true), true]] as const) {
      const q = Progress.forStream(st.s, { json });
      q.update('x', true);
      q.clear();
      expect(q.active).toBe(false);
      expect(st.writes).toEqual([]);
    }
  });
});

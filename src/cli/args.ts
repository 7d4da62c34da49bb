// Declarative command-line options. Each command declares its options once
// (name, aliases, kind, range, unit, default, description) and gets from
// that declaration its parser, its validation and its --help text, so the
// three cannot drift apart.
//
// Parsing rules (our own parser, not node:util parseArgs, whose strict mode
// calls `--loss -1` "ambiguous"):
//   --name VALUE and --name=VALUE; the word after an option that takes a
//     value is always its value, so negative numbers are values, not flags
//     (and are then refused by the range check when out of range);
//   --flag for booleans (no value);
//   -h / --help anywhere before `--` asks for the command's help;
//   `--` ends the options; the rest are positional arguments;
//   a repeated option: the last one wins.
// Every problem is a UsageError whose message is one line:
//   tsip sim transfer: --loss must be a number from 0 to 1, got -1 (see tsip sim transfer --help)

/** A problem with the command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    /** The command as typed, e.g. `tsip sim transfer`. */
    readonly command: string,
    /** What is wrong, e.g. `--loss must be a number from 0 to 1, got -1`. */
    readonly detail: string,
    /** Where the user can read more, e.g. `tsip sim transfer --help`. */
    readonly helpHint: string = `${command} --help`,
  ) {
    super(`${command}: ${detail} (see ${helpHint})`);
  }
}

/** Thrown by a custom option's parse() to say why a value is wrong ("must be ..."). */
export class BadValue extends Error {}

/** The usage-error exit status. */
export const EXIT_USAGE = 2;

interface Common {
  description: string;
  /** Other spellings accepted (old names), without the leading dashes. */
  aliases?: readonly string[];
  /** A one-dash short form, without the dash (e.g. '6' for -6, as ping(8) spells it). */
  short?: string;
  /** The value's placeholder in the help, e.g. N, MS, FILE. */
  metavar?: string;
  /** How the help shows the default when it is not a plain value ("until Ctrl-C"). */
  defaultText?: string;
}

export interface BooleanOption extends Common {
  kind: 'boolean';
}

export interface StringOption extends Common {
  kind: 'string';
  default?: string;
  /** A value must match this (it must always be non-empty). */
  pattern?: RegExp;
  /** What a valid value is, for the error message: "a device name of 1 to 15 characters ...". */
  expects?: string;
}

export interface EnumOption extends Common {
  kind: 'enum';
  values: readonly string[];
  default?: string;
}

export interface NumberOption extends Common {
  kind: 'integer' | 'number';
  min: number;
  max: number;
  /** The minimum itself is not allowed (durations: > 0). */
  minExclusive?: boolean;
  /** Unit of the value, shown in the help and in errors: "ms", "bytes", "seconds". */
  unit?: string;
  /** A readable form of the maximum, e.g. "100 GB", shown beside it. */
  maxNote?: string;
  default?: number;
}

export interface CustomOption<T> extends Common {
  kind: 'custom';
  /** What a valid value is, for errors and the help: "an IPv4 address/prefix such as 10.77.0.2/30". */
  expects: string;
  /** The value, or undefined (or a thrown BadValue) when it is not valid. */
  parse(raw: string): T | undefined;
  default?: T;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OptionSpec = BooleanOption | StringOption | EnumOption | NumberOption | CustomOption<any>;
export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<O> = O extends { kind: 'boolean' }
  ? boolean
  : O extends { kind: 'integer' | 'number' }
    ? number
    : O extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : O extends { kind: 'custom'; parse(raw: string): infer T }
        ? Exclude<T, undefined>
        : string;
type HasDefault<O> = O extends { kind: 'boolean' } ? true : O extends { default: infer D } ? (undefined extends D ? false : true) : false;

/** The parsed values: options with a default (and booleans) are always set. */
export type Values<S extends OptionSpecs> = { -readonly [K in keyof S]: HasDefault<S[K]> extends true ? ValueOf<S[K]> : ValueOf<S[K]> | undefined };

// Builders: keep each option's literal type (its default, its enum values)
// so Values<> knows which options are always set.
export const flag = <const O extends Omit<BooleanOption, 'kind'>>(o: O): O & { kind: 'boolean' } => ({ ...o, kind: 'boolean' });
export const text = <const O extends Omit<StringOption, 'kind'>>(o: O): O & { kind: 'string' } => ({ ...o, kind: 'string' });
export const choice = <const O extends Omit<EnumOption, 'kind'>>(o: O): O & { kind: 'enum' } => ({ ...o, kind: 'enum' });
export const integer = <const O extends Omit<NumberOption, 'kind'>>(o: O): O & { kind: 'integer' } => ({ ...o, kind: 'integer' });
export const number = <const O extends Omit<NumberOption, 'kind'>>(o: O): O & { kind: 'number' } => ({ ...o, kind: 'number' });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const custom = <const O extends Omit<CustomOption<any>, 'kind'>>(o: O): O & { kind: 'custom' } => ({ ...o, kind: 'custom' });

export interface CommandSpec<S extends OptionSpecs = OptionSpecs> {
  /** The command as typed: `tsip sim transfer`. */
  name: string;
  /** The usage line after "usage: ", e.g. `tsip sim transfer [options]`. */
  usage: string;
  /** What the command does: the first paragraph of its help. */
  summary: string;
  /** A short line for the overview of commands (default: the summary). */
  brief?: string;
  /** Paragraphs printed after the summary. */
  details?: readonly string[];
  options: S;
  /** Positional arguments; none are accepted when absent. */
  positionals?: { names: string; min: number; max: number };
  /** Exit-status lines for the help, e.g. "1  the data did not arrive intact". */
  exits?: readonly string[];
  /** Where to read more; default `NAME --help`. */
  helpHint?: string;
}

export const defineCommand = <S extends OptionSpecs>(spec: CommandSpec<S>): CommandSpec<S> => spec;

export type ParseResult<S extends OptionSpecs> =
  | { help: true }
  | {
      help: false;
      values: Values<S>;
      positionals: string[];
      /** Options given on the command line (by their main name). */
      given: ReadonlySet<keyof S & string>;
    };

const HELP_WORDS = new Set(['-h', '--help']);

/** Is help asked for anywhere before `--`? */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (HELP_WORDS.has(a)) return true;
  }
  return false;
}

/** Show a value in an error: quoted when empty or when it has spaces. */
export function showValue(raw: string): string {
  return raw === '' || /\s|["']/.test(raw) ? JSON.stringify(raw) : raw;
}

/** Parse argv (the words after the command name) against the command's options. */
export function parseCommand<S extends OptionSpecs>(cmd: CommandSpec<S>, argv: readonly string[]): ParseResult<S> {
  if (wantsHelp(argv)) return { help: true };
  const fail = (detail: string): never => {
    throw new UsageError(cmd.name, detail, cmd.helpHint);
  };
  const byName = new Map<string, string>();
  for (const [key, o] of Object.entries(cmd.options)) {
    byName.set(key, key);
    for (const a of o.aliases ?? []) byName.set(a, key);
    if (o.short !== undefined) byName.set(`-${o.short}`, key);
  }
  const raw = new Map<string, string | true>();
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (onlyPositionals || !word.startsWith('-') || word === '-') {
      positionals.push(word);
      continue;
    }
    if (word === '--') {
      onlyPositionals = true;
      continue;
    }
    const short = !word.startsWith('--') ? byName.get(word) : undefined;
    if (!word.startsWith('--') && short === undefined) fail(`unknown option ${word}${suggest(word.replace(/^-+/, ''), byName)}`);
    const eq = short !== undefined ? -1 : word.indexOf('=');
    const typed = short !== undefined ? short : eq >= 0 ? word.slice(2, eq) : word.slice(2);
    const key = byName.get(typed);
    if (key === undefined) fail(`unknown option --${typed}${suggest(typed, byName)}`);
    const o = cmd.options[key!]!;
    if (o.kind === 'boolean') {
      if (eq >= 0) fail(`--${typed} takes no value, got --${typed}=${word.slice(eq + 1)}`);
      raw.set(key!, true);
      continue;
    }
    let value: string;
    if (eq >= 0) value = word.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i]!;
    else value = fail(`--${typed} needs a value: ${expectation(o)}`);
    raw.set(key!, value);
  }

  const pos = cmd.positionals ?? { names: '', min: 0, max: 0 };
  if (positionals.length > pos.max) {
    const extra = positionals[pos.max]!;
    fail(pos.max === 0 ? `unexpected argument ${showValue(extra)} (this command takes options only)` : `too many arguments: expected ${pos.names}, got ${positionals.map(showValue).join(' ')}`);
  }
  if (positionals.length < pos.min) fail(`missing ${pos.names}${positionals.length > 0 ? ` (got ${positionals.map(showValue).join(' ')})` : ''}`);

  const values: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(cmd.options)) {
    const r = raw.get(key);
    if (o.kind === 'boolean') values[key] = r === true;
    else if (r === undefined) values[key] = o.default;
    else values[key] = convert(key, o, r as string, fail);
  }
  return { help: false, values: values as Values<S>, positionals, given: new Set(raw.keys()) as ReadonlySet<keyof S & string> };
}

/** Turn one raw value into its typed value, or fail with a one-line message. */
function convert(key: string, o: Exclude<OptionSpec, BooleanOption>, raw: string, fail: (d: string) => never): unknown {
  const bad = (): never => fail(`--${key} must be ${expectation(o)}, got ${showValue(raw)}`);
  switch (o.kind) {
    case 'string':
      if (raw === '' || (o.pattern !== undefined && !o.pattern.test(raw))) bad();
      return raw;
    case 'enum':
      if (!o.values.includes(raw)) bad();
      return raw;
    case 'integer':
    case 'number': {
      const n = parseDecimal(raw);
      if (n === undefined || (o.kind === 'integer' && !Number.isInteger(n)) || !inRange(o, n)) bad();
      return n;
    }
    case 'custom': {
      let v: unknown;
      try {
        v = o.parse(raw);
      } catch (e) {
        if (e instanceof BadValue) fail(`--${key} ${e.message}, got ${showValue(raw)}`);
        throw e;
      }
      if (v === undefined) bad();
      return v;
    }
  }
}

/** A decimal number as people type them: 1500, -1, 0.05, 1e6, 1_000_000. No hex, no Infinity, no blanks. */
export function parseDecimal(raw: string): number | undefined {
  if (!/^[+-]?(\d[\d_]*(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(raw)) return undefined;
  const n = Number(raw.replace(/_/g, ''));
  return Number.isFinite(n) ? n : undefined;
}

function inRange(o: NumberOption, n: number): boolean {
  return (o.minExclusive ? n > o.min : n >= o.min) && n <= o.max;
}

/** "a number from 0 to 1", "an integer from 1 to 65535", "one of cubic, reno"... */
export function expectation(o: Exclude<OptionSpec, BooleanOption>): string {
  switch (o.kind) {
    case 'string':
      return o.expects ?? 'a non-empty string';
    case 'enum':
      return `one of ${o.values.join(', ')}`;
    case 'custom':
      return o.expects;
    case 'integer':
    case 'number': {
      const what = o.kind === 'integer' ? 'an integer' : 'a number';
      const max = `${o.max}${o.unit ? ` ${o.unit}` : ''}${o.maxNote ? ` (${o.maxNote})` : ''}`;
      return `${what} ${o.minExclusive ? `greater than ${o.min} and at most ${max}` : `from ${o.min} to ${max}`}`;
    }
  }
}

/** " (did you mean --loss?)" for a near miss, else "". */
function suggest(typed: string, names: ReadonlyMap<string, string>): string {
  let best = '';
  let bestD = Infinity;
  for (const n of names.keys()) {
    const d = n.startsWith(typed) && typed.length >= 2 ? 1 : editDistance(typed, n);
    if (d < bestD) {
      best = n;
      bestD = d;
    }
  }
  return bestD <= Math.max(1, Math.floor(typed.length / 3)) ? ` (did you mean --${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

// ---- help text ----

const WIDTH = 100;

function wrap(textIn: string, indent: number, first: number): string[] {
  const lines: string[] = [];
  let line = '';
  let room = WIDTH - first;
  for (const word of textIn.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
      room = WIDTH - indent;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines;
}

function defaultOf(o: OptionSpec): string | undefined {
  if (o.defaultText !== undefined) return o.defaultText;
  if (o.kind === 'boolean' || o.default === undefined) return undefined;
  return String(o.default);
}

/** What the help says about an option after its description: range, unit, default, aliases. */
function optionNotes(o: OptionSpec): string {
  const notes: string[] = [];
  if (o.kind === 'integer' || o.kind === 'number') {
    const max = `${o.max}${o.unit ? ` ${o.unit}` : ''}${o.maxNote ? ` = ${o.maxNote}` : ''}`;
    notes.push(o.minExclusive ? `greater than ${o.min}, at most ${max}` : `${o.min} to ${max}`);
  } else if (o.kind === 'enum') notes.push(o.values.join(' or '));
  const d = defaultOf(o);
  if (d !== undefined) notes.push(`default ${d}`);
  if (o.short !== undefined) notes.push(`short: -${o.short}`);
  if (o.aliases?.length) notes.push(`old name: ${o.aliases.map((a) => `--${a}`).join(', ')}`);
  return notes.length > 0 ? ` (${notes.join('; ')})` : '';
}

/** The command's own help: usage, summary, options with ranges and defaults, exit status. */
export function formatHelp(cmd: CommandSpec): string {
  const out = [`usage: ${cmd.usage}`, '', ...wrap(cmd.summary, 0, 0)];
  for (const p of cmd.details ?? []) out.push('', ...wrap(p, 0, 0));
  const rows: [string, string][] = Object.entries(cmd.options).map(([key, o]) => [
    `--${key}${o.kind === 'boolean' ? '' : ` ${o.metavar ?? (o.kind === 'integer' || o.kind === 'number' ? 'N' : 'VALUE')}`}`,
    `${o.description}${optionNotes(o)}`,
  ]);
  rows.push(['-h, --help', 'print this help and exit']);
  const col = Math.min(24, Math.max(...rows.map(([l]) => l.length)) + 2);
  out.push('', 'options:');
  for (const [left, right] of rows) {
    const head = `  ${left}`;
    const lines = wrap(right, col + 2, Math.max(col + 2, head.length + 1));
    if (head.length + 1 > col + 2) out.push(`${head} ${lines[0]}`);
    else out.push(`${head.padEnd(col + 2)}${lines[0]}`);
    for (const l of lines.slice(1)) out.push(`${' '.repeat(col + 2)}${l}`);
  }
  out.push('', 'exit status:', ...(cmd.exits ?? ['0  success', '1  the run failed']).map((e) => `  ${e}`), '  2  usage error (a bad option or argument: one line on stderr)');
  return out.join('\n');
}

/** A line per command: "  tsip sim ping    ping between two ...". */
export function formatCommandList(cmds: readonly CommandSpec[]): string[] {
  const names = cmds.map((c) => c.usage.replace(/ \[options\]$/, ''));
  const col = Math.max(...names.map((n) => n.length)) + 3;
  return cmds.map((c, i) => `  ${names[i]!.padEnd(col)}${c.brief ?? c.summary}`);
}

/** The help of a command that only groups subcommands (tsip sim, tsip bench). */
export function formatGroupHelp(name: string, summary: string, subs: readonly CommandSpec[]): string {
  return [`usage: ${name} SUBCOMMAND [options]`, '', ...wrap(summary, 0, 0), '', 'subcommands:', ...formatCommandList(subs), '', `Run '${name} SUBCOMMAND --help' for a subcommand's options.`].join('\n');
}

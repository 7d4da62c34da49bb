// Running a seeded simulation as a test or a script, so that a failure can
// be replayed: runScenario makes the Simulator from the seed (which the
// environment can override), optionally traces it, runs the body and, when
// the body throws, rethrows with the seed and a one-line command that runs
// the same scenario with the same seed again.
//
//   TSIP_SIM_SEED=<seed>      replaces the scenario's seed (what the printed command sets)
//   TSIP_SIM_TRACE=<path>     writes the run's trace there ({seed} and {name} are filled in)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { shrinkSchedule, type ShrinkOptions, type ShrinkResult } from './shrink.ts';
import { Simulator, type SimulatorOptions } from './simulator.ts';
import { Trace, type TraceOptions } from './trace.ts';

/** A simulator seed: a number, or a string that is hashed. */
export type Seed = number | string;

/** Options of runScenario. */
export interface ScenarioOptions {
  /** The scenario's name: for a vitest test, its name (the replay command selects it with -t). */
  name: string;
  /** The seed (default 1); TSIP_SIM_SEED overrides it. */
  seed?: Seed;
  /** Write the run's trace to this file ({seed} and {name} are filled in); TSIP_SIM_TRACE overrides it. */
  trace?: string;
  /** Trace options other than the path (frames, states, ...). */
  traceOptions?: Omit<TraceOptions, 'path'>;
  /**
   * How to run the scenario again, without the seed: a command
   * (`npx tsx scripts/soak.ts`), or a test file (`test/sim/x.test.ts`, run
   * with vitest and -t <name>). Default: the test file that called
   * runScenario, found from the call stack.
   */
  replay?: string;
  /** Other Simulator options. */
  sim?: Omit<SimulatorOptions, 'seed'>;
  /** The environment to read TSIP_SIM_SEED / TSIP_SIM_TRACE from (default process.env). */
  env?: Record<string, string | undefined>;
}

/** What the body of runScenario gets besides the Simulator. */
export interface ScenarioContext {
  name: string;
  seed: Seed;
  sim: Simulator;
  /** The trace, when one is written. */
  trace: Trace | null;
  /** The command that replays this run. */
  replay: string;
}

/** What runScenario throws when the body fails: the body's error as `cause`, the seed and the replay command in the message. */
export class ScenarioFailure extends Error {
  readonly seed: Seed;
  readonly scenario: string;
  readonly replay: string;
  constructor(scenario: string, seed: Seed, replay: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`scenario "${scenario}" failed with seed ${String(seed)}: ${why}\n  replay: ${replay}`, { cause });
    this.name = 'ScenarioFailure';
    this.seed = seed;
    this.scenario = scenario;
    this.replay = replay;
    if (cause instanceof Error && cause.stack !== undefined) this.stack = `${this.name}: ${this.message}\n--- caused by ---\n${cause.stack}`;
  }
}

/** A seed from text, as the CLI reads --seed: digits are a number, anything else a string. */
export function parseSeedText(raw: string): Seed | undefined {
  const s = raw.trim();
  if (s === '') return undefined;
  return /^\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : s;
}

/**
 * Run `body` on a fresh Simulator seeded with `opts.seed` (TSIP_SIM_SEED
 * overrides it), tracing it when asked, and close the simulator (and the
 * trace) afterwards. Returns what the body returns; when the body throws,
 * throws a ScenarioFailure naming the seed and the command that replays it.
 */
export async function runScenario<T>(opts: ScenarioOptions, body: (sim: Simulator, ctx: ScenarioContext) => Promise<T> | T): Promise<T> {
  // The caller's file, read before the first await (the stack is still the caller's).
  const callerFile = opts.replay === undefined ? (callerTestFile(new Error().stack) ?? scriptCommand(process.argv)) : undefined;
  const env = opts.env ?? process.env;
  const envSeed = env['TSIP_SIM_SEED'] !== undefined ? parseSeedText(env['TSIP_SIM_SEED']) : undefined;
  const seed: Seed = envSeed ?? opts.seed ?? 1;
  const replay = replayCommand(opts.name, seed, opts.replay ?? callerFile);
  const tracePath = env['TSIP_SIM_TRACE'] || opts.trace;
  const sim = new Simulator({ ...opts.sim, seed });
  let trace: Trace | null = null;
  let result: T;
  try {
    if (tracePath !== undefined && tracePath !== '') {
      const file = tracePath.replaceAll('{seed}', String(seed)).replaceAll('{name}', opts.name.replace(/[^A-Za-z0-9._-]+/g, '_'));
      trace = Trace.attach(sim, { ...opts.traceOptions, path: file, meta: { ...opts.traceOptions?.meta, scenario: opts.name, seed } });
    }
    result = await body(sim, { name: opts.name, seed, sim, trace, replay });
  } catch (e) {
    closeQuietly(sim, trace);
    throw new ScenarioFailure(opts.name, seed, replay, e);
  }
  sim.close();
  trace?.close();
  return result;
}

function closeQuietly(sim: Simulator, trace: Trace | null): void {
  try {
    sim.close();
  } catch {
    // The body's error is the one to report.
  }
  trace?.close();
}

/** Quote for a POSIX shell: bare when safe, else in single quotes. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A vitest -t pattern matching `name` literally (it is a regular expression). */
function testNamePattern(name: string): string {
  return name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The one-line command that reruns scenario `name` with `seed`: `replay` is a
 * test file (run with vitest -t) or a whole command; without either, a hint.
 */
export function replayCommand(name: string, seed: Seed, replay: string | undefined): string {
  const env = `TSIP_SIM_SEED=${shellQuote(String(seed))}`;
  if (replay === undefined || replay === '') return `${env} <the command that ran "${name}">`;
  if (/^[^\s]+\.(test|spec)\.[cm]?[jt]sx?$/.test(replay)) return `${env} npx vitest run ${shellQuote(replay)} -t ${shellQuote(testNamePattern(name))}`;
  return `${env} ${replay}`;
}

/**
 * The test file among the frames of `stack` (the first *.test.* or *.spec.*
 * file), relative to the working directory; undefined when there is none.
 */
export function callerTestFile(stack: string | undefined): string | undefined {
  if (stack === undefined) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    const m = /(?:\(|\s)((?:file:\/\/)?[^\s()]+?\.(?:test|spec)\.[cm]?[jt]sx?)(?::\d+){0,2}\)?\s*$/.exec(line);
    if (m === null) continue;
    let file = m[1]!;
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {
        continue;
      }
    }
    const rel = path.isAbsolute(file) ? path.relative(process.cwd(), file) : file;
    return rel.split(path.sep).join('/');
  }
  return undefined;
}

/**
 * The command that ran this process when it is a script (`npx tsx
 * scripts/soak.ts --flag`, `node dist/x.js`), from argv; undefined under a
 * test runner or without a script.
 */
export function scriptCommand(argv: readonly string[]): string | undefined {
  const script = argv[1];
  if (script === undefined || /node_modules|vitest/.test(script)) return undefined;
  const rel = path.isAbsolute(script) ? path.relative(process.cwd(), script) : script;
  const runner = /\.[cm]?tsx?$/.test(rel) ? 'npx tsx' : 'node';
  return [runner, ...[rel, ...argv.slice(2)].map(shellQuote)].join(' ');
}

/** Options of shrinkScenario: the scenario's, the schedule and the shrink limits. */
export interface ShrinkScenarioOptions<E> extends Omit<ScenarioOptions, 'trace' | 'traceOptions'>, ShrinkOptions {
  /** The fault schedule that makes the scenario fail. */
  events: readonly E[];
}

/**
 * Shrink the fault schedule of a failing scenario: run `body` with subsets
 * of `events` (each run a fresh Simulator with the same seed, untraced) and
 * return the smallest schedule under which it still throws (shrinkSchedule).
 * A run that returns normally passes.
 */
export async function shrinkScenario<E>(opts: ShrinkScenarioOptions<E>, body: (sim: Simulator, events: readonly E[], ctx: ScenarioContext) => Promise<void> | void): Promise<ShrinkResult<E>> {
  const { events, maxRuns, log, assumeFails, ...scenario } = opts;
  const env = { ...(opts.env ?? process.env), TSIP_SIM_TRACE: undefined };
  const replay = opts.replay ?? callerTestFile(new Error().stack) ?? scriptCommand(process.argv) ?? '';
  const stillFails = async (subset: readonly E[]): Promise<boolean> => {
    try {
      await runScenario({ ...scenario, env, replay }, (sim, ctx) => body(sim, subset, ctx));
      return false;
    } catch (e) {
      if (e instanceof ScenarioFailure) return true;
      throw e;
    }
  };
  const so: ShrinkOptions = {
    ...(maxRuns !== undefined ? { maxRuns } : {}),
    ...(log !== undefined ? { log } : {}),
    ...(assumeFails !== undefined ? { assumeFails } : {}),
  };
  return shrinkSchedule(events, stillFails, so);
}

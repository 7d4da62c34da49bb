// Shrinking a failing fault schedule. A run that fails under twenty scripted
// faults is hard to read; the same failure under the two that matter is a
// bug report. shrinkSchedule is Zeller's delta debugging (ddmin): it re-runs
// the scenario on subsets of the schedule and keeps the smallest one that
// still fails, down to a 1-minimal one (removing any single event makes it
// pass). shrinkNumbers then tries smaller values of the numeric fields
// (loss rates, delays, durations) of what is left.
//
// Both are deterministic (the order of the runs depends only on the
// schedule and the answers) and bounded (maxRuns), and never run the same
// subset twice. Events keep their relative order in every subset tried.

/** Options of shrinkSchedule (and shrinkNumbers). */
export interface ShrinkOptions {
  /** Most calls of stillFails (default 500); when spent, the smallest failing schedule found so far is returned. */
  maxRuns?: number;
  /** Progress lines ("12 events fail; trying 6 chunks"). */
  log?: (msg: string) => void;
  /** Skip the first run, on the whole schedule (the caller already knows it fails). */
  assumeFails?: boolean;
}

/** What shrinking found. */
export interface ShrinkResult<E> {
  /** The smallest failing schedule found (a subsequence of the input). */
  events: E[];
  /** Calls of stillFails. */
  runs: number;
  /** Whether `events` is 1-minimal (false when maxRuns ran out first). */
  minimal: boolean;
}

/** Thrown when the whole schedule does not fail: there is nothing to shrink. */
export class ShrinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShrinkError';
  }
}

/**
 * Delta debugging (ddmin): the smallest subsequence of `events` for which
 * `stillFails` holds, 1-minimal unless `maxRuns` ran out first. An
 * exception thrown by stillFails propagates (it is the caller's to turn
 * into true or false). Throws ShrinkError when the whole schedule passes.
 */
export async function shrinkSchedule<E>(
  events: readonly E[],
  stillFails: (events: readonly E[]) => Promise<boolean> | boolean,
  opts: ShrinkOptions = {},
): Promise<ShrinkResult<E>> {
  const maxRuns = opts.maxRuns ?? 500;
  if (!(maxRuns >= 1)) throw new RangeError(`shrinkSchedule: maxRuns must be at least 1, got ${maxRuns}`);
  const log = opts.log ?? (() => {});
  let runs = 0;
  const seen = new Map<string, boolean>();
  /** Test a subset given as sorted indices into `events`; null when out of runs. */
  const test = async (idx: readonly number[]): Promise<boolean | null> => {
    const key = idx.join(',');
    const known = seen.get(key);
    if (known !== undefined) return known;
    if (runs >= maxRuns) return null;
    runs++;
    const fails = await stillFails(idx.map((i) => events[i]!));
    seen.set(key, fails);
    return fails;
  };
  const all = events.map((_e, i) => i);
  if (opts.assumeFails === true) seen.set(all.join(','), true);
  const whole = await test(all);
  if (whole === false) throw new ShrinkError(`shrinkSchedule: the whole schedule (${events.length} events) does not fail`);
  const done = (c: readonly number[], minimal: boolean): ShrinkResult<E> => ({ events: c.map((i) => events[i]!), runs, minimal });
  if (whole === null) return done(all, false);
  // A failure with no fault at all is the smallest schedule there is.
  if (all.length > 0) {
    const none = await test([]);
    if (none === null) return done(all, false);
    if (none) {
      log('fails without any event');
      return done([], true);
    }
  } else {
    return done(all, true);
  }
  let c = all;
  let n = 2;
  while (c.length >= 2) {
    const chunks = split(c, n);
    let reduced = false;
    // Try each chunk alone.
    for (const chunk of chunks) {
      const r = await test(chunk);
      if (r === null) return done(c, false);
      if (r) {
        log(`${chunk.length} of ${c.length} events still fail (a chunk of ${n})`);
        c = chunk;
        n = 2;
        reduced = true;
        break;
      }
    }
    if (reduced) continue;
    // Then each complement (with n = 2 the complements are the chunks, already tried).
    if (n > 2) {
      for (let i = 0; i < chunks.length; i++) {
        const complement = chunks.filter((_c, j) => j !== i).flat();
        const r = await test(complement);
        if (r === null) return done(c, false);
        if (r) {
          log(`${complement.length} of ${c.length} events still fail (a complement of ${n})`);
          c = complement;
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
      if (reduced) continue;
    }
    if (n >= c.length) break;
    n = Math.min(2 * n, c.length);
  }
  // With one event left, the empty schedule (which passed) is its only subset.
  return done(c, true);
}

/** `c` cut into `n` contiguous chunks of near-equal size (the first ones one longer). */
function split(c: readonly number[], n: number): number[][] {
  const out: number[][] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const size = Math.floor(c.length / n) + (i < c.length % n ? 1 : 0);
    out.push(c.slice(start, start + size));
    start += size;
  }
  return out.filter((x) => x.length > 0);
}

/** Options of shrinkNumbers. */
export interface ShrinkNumbersOptions extends ShrinkOptions {
  /** Fields to shrink (default: every finite positive numeric field but t, at, time and id). */
  fields?: readonly string[];
  /** Halvings tried per field after 0 failed to reproduce (default 6). */
  steps?: number;
}

const NOT_SHRUNK = new Set(['t', 'at', 'time', 'id']);

/**
 * Smaller numbers in a failing schedule: for each event and each numeric
 * field, try 0, then bisect between the last value that passed and the
 * smallest that still fails (integers stay integers). Returns copies of the
 * events; the input is not modified. Deterministic and bounded by maxRuns;
 * `minimal` in the result means every field was tried (false when maxRuns
 * ran out first).
 */
export async function shrinkNumbers<E extends object>(
  events: readonly E[],
  stillFails: (events: readonly E[]) => Promise<boolean> | boolean,
  opts: ShrinkNumbersOptions = {},
): Promise<ShrinkResult<E>> {
  const maxRuns = opts.maxRuns ?? 500;
  const steps = opts.steps ?? 6;
  const log = opts.log ?? (() => {});
  let runs = 0;
  const cur: E[] = events.map((e) => ({ ...e }));
  if (opts.assumeFails !== true) {
    runs++;
    if (!(await stillFails(cur))) throw new ShrinkError(`shrinkNumbers: the schedule (${events.length} events) does not fail`);
  }
  const tryValue = async (i: number, field: string, v: number): Promise<boolean | null> => {
    if (runs >= maxRuns) return null;
    runs++;
    const cand = cur.slice();
    cand[i] = { ...cur[i]!, [field]: v };
    const fails = await stillFails(cand);
    if (fails) cur[i] = cand[i]!;
    return fails;
  };
  for (let i = 0; i < cur.length; i++) {
    const rec = cur[i] as Record<string, unknown>;
    const fields = opts.fields ?? Object.keys(rec).filter((k) => !NOT_SHRUNK.has(k));
    for (const f of fields) {
      const v0 = (cur[i] as Record<string, unknown>)[f];
      if (typeof v0 !== 'number' || !Number.isFinite(v0) || v0 <= 0) continue;
      const integer = Number.isInteger(v0);
      const zero = await tryValue(i, f, 0);
      if (zero === null) return { events: cur, runs, minimal: false };
      if (zero) {
        log(`event ${i}: ${f} ${v0} -> 0 still fails`);
        continue;
      }
      let lo = 0; // passes
      let hi = v0; // fails
      for (let s = 0; s < steps; s++) {
        let mid = (lo + hi) / 2;
        if (integer) mid = Math.floor(mid);
        if (mid <= lo || mid >= hi) break;
        const r = await tryValue(i, f, mid);
        if (r === null) return { events: cur, runs, minimal: false };
        if (r) hi = mid;
        else lo = mid;
      }
      if (hi !== v0) log(`event ${i}: ${f} ${v0} -> ${hi} still fails`);
    }
  }
  return { events: cur, runs, minimal: true };
}

// Virtual time for the application: while a simulation runs user code
// (Simulator.run), the global timers (setTimeout, setInterval,
// setImmediate, node:timers and node:timers/promises), Date and
// performance.now/process.hrtime are @sinonjs/fake-timers fakes whose
// clock is the simulator's VirtualClock. The simulator's driver decides
// when each fake timer fires; fake-timers never advances on its own.
//
// What cannot be virtualised: timers inside native addons and worker
// threads, real I/O (files, real sockets, child processes), and timer
// functions a module captured before run() installed the fakes (e.g. a
// `const { setTimeout } = require('timers')` done at import time). The
// driver notices when the program waits on such things: nothing virtual is
// left to run while the program has not finished (see Simulator.run).
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { withGlobal } from '@sinonjs/fake-timers';
import type { VirtualClock } from '../time/virtual-clock.ts';

/** 2000-01-01T00:00:00Z: what Date.now() reads at virtual time 0 by default. */
export const DEFAULT_EPOCH_MS = Date.UTC(2000, 0, 1);

/** What the application's timer that is about to fire looks like on the timeline. */
export interface AppTimerInfo {
  /** The timer's number in this run (1, 2, ...), in order of first firing. */
  id: number;
  kind: 'timeout' | 'interval' | 'immediate';
  /** The delay it was armed with (interval: its period), ms. */
  delay: number;
}

export interface AppTimeOptions {
  /** Date.now() at virtual time 0, ms since 1970 (default 2000-01-01). */
  epochMs?: number;
  /** Called just before each application timer fires. */
  onFire?: (info: AppTimerInfo) => void;
  /** Whether onFire wants to hear now (default: always); skipping saves describing each timer. */
  listening?: () => boolean;
}

/** The parts of a fake-timers timer the driver reads. */
interface FakeTimer {
  id: number;
  callAt: number;
  delay?: number;
  interval?: number;
  immediate?: boolean;
}

/** The parts of a fake-timers clock the driver uses. */
interface FakeClock {
  now: number;
  next(): number;
  countTimers(): number;
  reset(): void;
  setSystemTime(now: number): void;
  /** Created with the first timer (fake-timers 15's heap by deadline). */
  timerHeap?: { peek(): FakeTimer | undefined };
}

const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date', 'performance', 'hrtime'] as const;

const require = createRequire(import.meta.url);

/** Every property fake-timers may replace: the globals, process.hrtime, node:timers, node:timers/promises, perf_hooks.performance.now. */
function patchedTargets(): [object, string][] {
  const timers = require('node:timers') as object;
  const timersPromises = require('node:timers/promises') as object;
  const perf = (require('node:perf_hooks') as { performance: object }).performance;
  const out: [object, string][] = [];
  for (const k of ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date', 'performance']) out.push([globalThis, k]);
  out.push([process, 'hrtime']);
  for (const k of ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate']) out.push([timers, k]);
  for (const k of ['setTimeout', 'setInterval', 'setImmediate', 'scheduler']) out.push([timersPromises, k]);
  out.push([perf, 'now']);
  return out;
}

type Swap = { target: object; key: string; real: PropertyDescriptor | undefined; fake: PropertyDescriptor | undefined };

/**
 * One fake-timers clock per process, installed on first use and then
 * swapped in and out: timer objects a library keeps between runs (undici's
 * timer wheel refreshes one Timeout for its whole life) must keep landing
 * on the clock the driver runs.
 */
let shared: { clock: FakeClock; swaps: Swap[] } | null = null;

function sharedClock(): { clock: FakeClock; swaps: Swap[] } {
  if (shared !== null) return shared;
  const targets = patchedTargets();
  const before = targets.map(([t, k]) => Object.getOwnPropertyDescriptor(t, k));
  const clock = withGlobal(globalThis).install({
    now: DEFAULT_EPOCH_MS,
    toFake: [...FAKED],
    shouldClearNativeTimers: true,
    loopLimit: Number.MAX_SAFE_INTEGER,
  }) as unknown as FakeClock;
  const swaps: Swap[] = [];
  targets.forEach(([target, key], i) => {
    const fake = Object.getOwnPropertyDescriptor(target, key);
    const real = before[i];
    if (fake?.value !== real?.value || fake?.get !== real?.get) swaps.push({ target, key, real, fake });
  });
  shared = { clock, swaps };
  return shared;
}

function apply(swaps: readonly Swap[], which: 'real' | 'fake'): void {
  for (const s of swaps) {
    const d = s[which];
    if (d === undefined) Reflect.deleteProperty(s.target, s.key);
    else Object.defineProperty(s.target, s.key, d);
  }
  // ESM named imports of node:timers / node:timers/promises follow.
  syncBuiltinESMExports();
}

let installed: AppTime | null = null;

export class AppTime {
  readonly epochMs: number;
  private readonly vclock: VirtualClock;
  private readonly onFire: ((info: AppTimerInfo) => void) | undefined;
  private readonly listening: () => boolean;
  private fake: FakeClock | null = null;
  /** Each timer's number in this run, by first firing (a timer object a library keeps across runs gets a new one per run). */
  private ordinals = new WeakMap<FakeTimer, number>();
  private nextOrdinal = 1;
  /** Application timers fired so far. */
  fired = 0;

  constructor(vclock: VirtualClock, opts: AppTimeOptions = {}) {
    this.vclock = vclock;
    this.epochMs = opts.epochMs ?? DEFAULT_EPOCH_MS;
    if (!Number.isFinite(this.epochMs)) throw new RangeError('AppTime: epochMs must be a finite number');
    this.onFire = opts.onFire;
    this.listening = opts.listening ?? (() => true);
  }

  /** The AppTime whose fakes are in place, if any. */
  static current(): AppTime | null {
    return installed;
  }

  /**
   * Replace the global timers and clocks with fakes on virtual time. One at
   * a time per process. Timers left pending by an earlier run resume with
   * the delay they had left (`discardPending` drops them instead).
   */
  install(opts: { discardPending?: boolean } = {}): void {
    if (installed !== null) throw new Error('virtual application time is already installed (Simulator.run calls do not nest)');
    const { clock, swaps } = sharedClock();
    if (opts.discardPending === true) clock.reset();
    // Date jumps to this run's time; pending timers shift along (their remaining delay is kept).
    clock.setSystemTime(this.epochMs + this.vclock.now());
    apply(swaps, 'fake');
    this.fake = clock;
    installed = this;
  }

  /** Drop every pending application timer. */
  discardPending(): void {
    this.fake?.reset();
    this.sync();
  }

  /** Put the real timers back. Fake timers still pending wait for the next run. */
  uninstall(): void {
    if (this.fake === null) return;
    this.fake = null;
    if (installed === this) installed = null;
    apply(sharedClock().swaps, 'real');
  }

  /** Virtual time (ms) of the next application timer, or null when none is pending. */
  nextDeadline(): number | null {
    const first = this.fake?.timerHeap?.peek();
    return first === undefined ? null : first.callAt - this.epochMs;
  }

  /** Application timers pending. */
  pending(): number {
    return this.fake?.countTimers() ?? 0;
  }

  /** Move the fake clock to the virtual clock's now without firing anything (the driver never skips a due timer). */
  sync(): void {
    if (this.fake !== null) this.fake.now = this.epochMs + this.vclock.now();
  }

  /** Fire the earliest application timer (due at or before now); false when none is due. */
  fireNext(): boolean {
    const fake = this.fake;
    if (fake === null) return false;
    const first = fake.timerHeap?.peek();
    if (first === undefined || first.callAt > this.epochMs + this.vclock.now()) return false;
    this.fired++;
    if (this.onFire !== undefined && this.listening()) this.onFire(this.describe(first));
    fake.next();
    // fake.next() leaves now at the timer's time, which is <= ours.
    this.sync();
    return true;
  }

  private describe(t: FakeTimer): AppTimerInfo {
    let id = this.ordinals.get(t);
    if (id === undefined) {
      id = this.nextOrdinal++;
      this.ordinals.set(t, id);
    }
    const kind = t.immediate === true ? 'immediate' : typeof t.interval === 'number' ? 'interval' : 'timeout';
    return { id, kind, delay: t.interval ?? t.delay ?? 0 };
  }
}

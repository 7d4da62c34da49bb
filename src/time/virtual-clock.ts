// Virtual time for the simulator and tests: nothing happens until the
// driver advances the clock, and it jumps straight to the next deadline.
import type { Clock } from './clock.ts';
import { DEFAULT_MAX_REARMS_PER_INSTANT, type Timer, type TimerCallback, TimerHeap } from './timer-heap.ts';

export interface VirtualClockOptions {
  /** Re-arms of one timer at or before now, at one instant, before it throws as a runaway (default 100 000). */
  maxRearmsPerInstant?: number;
}

export class VirtualClock implements Clock {
  private t: number;
  private readonly heap: TimerHeap;
  private firing = false;

  constructor(start = 0, opts: VirtualClockOptions = {}) {
    this.t = start;
    this.heap = new TimerHeap(() => this.t, null, opts.maxRearmsPerInstant ?? DEFAULT_MAX_REARMS_PER_INSTANT);
  }

  now(): number {
    return this.t;
  }

  timer(cb: TimerCallback, name?: string): Timer {
    return this.heap.create(cb, name);
  }

  after(delayMs: number, cb: TimerCallback, name?: string): Timer {
    return this.heap.create(cb, name).start(delayMs);
  }

  nextDeadline(): number | null {
    return this.heap.peek()?.deadline ?? null;
  }

  pendingTimers(): number {
    return this.heap.size;
  }

  /**
   * Run every timer due at or before `at`, in deadline order, moving `now`
   * to each deadline as it fires, then leave `now` at `at`. Timers that
   * callbacks schedule inside the window run too. Returns timers fired.
   *
   * At most `maxFires` timers run: a driver's step budget then counts the
   * work inside one call too (a loop at one instant used to hide in here).
   * When the budget stops it early, `now` stays at the last deadline fired
   * and the rest stays scheduled.
   */
  advanceTo(at: number, maxFires = Infinity): number {
    if (this.firing) throw new Error('VirtualClock.advanceTo called from a timer callback');
    // `!(at >= t)` also refuses NaN, which used to fire every timer and
    // leave now() stuck at NaN.
    if (!(at >= this.t)) throw new RangeError(`virtual time cannot go back (${at} < ${this.t})`);
    this.firing = true;
    let fired = 0;
    try {
      while (fired < maxFires) {
        const timer = this.heap.popDue(at);
        if (timer === undefined) break;
        this.t = timer.deadline;
        fired++;
        timer.callback();
      }
      // Stopped by the budget with timers still due: now stays where they are.
      const next = this.heap.peek();
      if (next === undefined || next.deadline > at) this.t = at;
    } finally {
      this.firing = false;
    }
    return fired;
  }

  advanceBy(ms: number): number {
    return this.advanceTo(this.t + ms);
  }

  /** Jump to the next deadline and run what is due there. False if nothing is scheduled. */
  runNext(): boolean {
    const next = this.nextDeadline();
    if (next === null) return false;
    this.advanceTo(next);
    return true;
  }
}

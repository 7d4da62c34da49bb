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
  /** Tasks for the next turn (soon()). */
  private soonTasks: (() => void)[] = [];

  constructor(start = 0, opts: VirtualClockOptions = {}) {
    this.t = start;
    this.heap = new TimerHeap(() => this.t, null, opts.maxRearmsPerInstant ?? DEFAULT_MAX_REARMS_PER_INSTANT);
  }

  now(): number {
    return this.t;
  }

  timer(cb: TimerCallback, name?: string | (() => string)): Timer {
    return this.heap.create(cb, name);
  }

  after(delayMs: number, cb: TimerCallback, name?: string | (() => string)): Timer {
    return this.heap.create(cb, name).start(delayMs);
  }

  nextDeadline(): number | null {
    if (this.soonTasks.length > 0) return this.t;
    return this.heap.peek()?.deadline ?? null;
  }

  pendingTimers(): number {
    return this.heap.size + this.soonTasks.length;
  }

  /**
   * Run `cb` on the next turn. In virtual time a turn is one advanceTo
   * call: it first runs the tasks pending when it starts, at the current
   * instant, then its timers; tasks added meanwhile wait for the next call.
   * nextDeadline() reports now while any is pending, so a driver steps
   * through a stack that keeps yielding one turn at a time (its step
   * budget counts them) instead of looping inside one call.
   */
  soon(cb: () => void): void {
    this.soonTasks.push(cb);
  }

  /**
   * Run every timer due at or before `at`, in deadline order, moving `now`
   * to each deadline as it fires, then leave `now` at `at`. Timers that
   * callbacks schedule inside the window run too. Returns timers fired
   * (soon() tasks of this turn included).
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
      fired += this.runSoonTurn();
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

  /** Run the tasks pending now; a task that throws loses none of the others. */
  private runSoonTurn(): number {
    const batch = this.soonTasks;
    if (batch.length === 0) return 0;
    this.soonTasks = [];
    let i = 0;
    try {
      for (; i < batch.length; i++) batch[i]!();
    } finally {
      if (i + 1 < batch.length) this.soonTasks = batch.slice(i + 1).concat(this.soonTasks);
    }
    return batch.length;
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

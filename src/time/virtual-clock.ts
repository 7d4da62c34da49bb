// Virtual time for the simulator and tests: nothing happens until the
// driver advances the clock, and it jumps straight to the next deadline.
import type { Clock } from './clock.ts';
import { type Timer, type TimerCallback, TimerHeap } from './timer-heap.ts';

export class VirtualClock implements Clock {
  private t: number;
  private readonly heap: TimerHeap;
  private firing = false;

  constructor(start = 0) {
    this.t = start;
    this.heap = new TimerHeap(() => this.t);
  }

  now(): number {
    return this.t;
  }

  timer(cb: TimerCallback): Timer {
    return this.heap.create(cb);
  }

  after(delayMs: number, cb: TimerCallback): Timer {
    return this.heap.create(cb).start(delayMs);
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
   */
  advanceTo(at: number): number {
    if (this.firing) throw new Error('VirtualClock.advanceTo called from a timer callback');
    // `!(at >= t)` also refuses NaN, which used to fire every timer and
    // leave now() stuck at NaN.
    if (!(at >= this.t)) throw new RangeError(`virtual time cannot go back (${at} < ${this.t})`);
    this.firing = true;
    let fired = 0;
    try {
      for (let timer = this.heap.popDue(at); timer !== undefined; timer = this.heap.popDue(at)) {
        this.t = timer.deadline;
        fired++;
        timer.callback();
      }
      this.t = at;
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

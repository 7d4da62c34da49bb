// Wall-clock time for running on a real device. One Node timer is armed
// for the earliest deadline; an idle stack therefore keeps no Node timer.
import { performance } from 'node:perf_hooks';
import type { Clock } from './clock.ts';
import { type Timer, type TimerCallback, TimerHeap } from './timer-heap.ts';

export interface RealClockOptions {
  /** Let the process exit even while stack timers are pending. */
  unref?: boolean;
  /** Called when a timer callback throws (default: rethrow on the event loop). */
  onError?: (err: unknown) => void;
}

export class RealClock implements Clock {
  private readonly origin = performance.now();
  private readonly heap = new TimerHeap(
    () => this.now(),
    () => this.rearm(),
  );
  private armed: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private firing = false;

  constructor(private readonly opts: RealClockOptions = {}) {}

  now(): number {
    return performance.now() - this.origin;
  }

  timer(cb: TimerCallback): Timer {
    return this.heap.create(cb);
  }

  after(delayMs: number, cb: TimerCallback): Timer {
    return this.timer(cb).start(delayMs);
  }

  nextDeadline(): number | null {
    return this.heap.peek()?.deadline ?? null;
  }

  pendingTimers(): number {
    return this.heap.size;
  }

  /** Stop the Node timer (pending stack timers stay scheduled but will not fire). */
  dispose(): void {
    if (this.armed !== null) clearTimeout(this.armed);
    this.armed = null;
    this.armedFor = Infinity;
  }

  private rearm(): void {
    if (this.firing) return; // fire() re-arms once when it is done
    const next = this.heap.peek()?.deadline ?? Infinity;
    if (next === this.armedFor) return;
    if (this.armed !== null) clearTimeout(this.armed);
    this.armed = null;
    this.armedFor = next;
    if (next === Infinity) return;
    const delay = Math.max(0, next - this.now());
    this.armed = setTimeout(() => this.fire(), Math.ceil(delay));
    if (this.opts.unref) this.armed.unref();
  }

  private fire(): void {
    this.armed = null;
    this.armedFor = Infinity;
    const now = this.now();
    this.firing = true;
    try {
      for (let t = this.heap.popDue(now); t !== undefined; t = this.heap.popDue(now)) {
        try {
          t.callback();
        } catch (err) {
          if (this.opts.onError) this.opts.onError(err);
          else throw err;
        }
      }
    } finally {
      this.firing = false;
      this.rearm();
    }
  }
}

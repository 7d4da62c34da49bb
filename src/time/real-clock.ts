// Wall-clock time for running on a real device. One Node timer is armed,
// for the earliest deadline or before it; an idle stack keeps none.
import { performance } from 'node:perf_hooks';
import type { Clock } from './clock.ts';
import { type Timer, type TimerCallback, TimerHeap } from './timer-heap.ts';

/** Largest delay setTimeout honours (a signed 32-bit count of ms). */
const MAX_NODE_DELAY = 0x7fffffff;

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
  private disposed = false;
  /** soon() tasks not yet run. */
  private soonPending = 0;

  constructor(private readonly opts: RealClockOptions = {}) {}

  now(): number {
    return performance.now() - this.origin;
  }

  timer(cb: TimerCallback, name?: string | (() => string)): Timer {
    return this.heap.create(cb, name);
  }

  after(delayMs: number, cb: TimerCallback, name?: string | (() => string)): Timer {
    return this.timer(cb, name).start(delayMs);
  }

  nextDeadline(): number | null {
    return this.heap.peek()?.deadline ?? null;
  }

  pendingTimers(): number {
    return this.heap.size + this.soonPending;
  }

  /** Run `cb` after the event loop had a turn (setImmediate: after pending I/O callbacks). */
  soon(cb: () => void): void {
    if (this.disposed) return;
    this.soonPending++;
    const h = setImmediate(() => {
      this.soonPending--;
      if (this.disposed) return;
      try {
        cb();
      } catch (err) {
        if (this.opts.onError) this.opts.onError(err);
        else throw err;
      }
    });
    if (this.opts.unref) h.unref();
  }

  /**
   * Stop the Node timer for good: pending stack timers stay scheduled but
   * will not fire. Dispose is final: without the `disposed` flag, any later
   * start/stop re-armed a Node timer (stopping one of two pending timers was
   * enough), reviving a clock its owner had shut down.
   */
  dispose(): void {
    this.disposed = true;
    if (this.armed !== null) clearTimeout(this.armed);
    this.armed = null;
    this.armedFor = Infinity;
  }

  private rearm(): void {
    if (this.firing || this.disposed) return; // fire() re-arms once when it is done
    const next = this.heap.peek()?.deadline ?? Infinity;
    if (next === this.armedFor) return;
    // A first deadline that moved later (a delayed ACK replaced by the
    // retransmission timeout, a read deadline pushed back) keeps the Node
    // timer already armed: it fires early, finds nothing due and re-arms
    // for the rest. Re-arming at every such move cost a clearTimeout and a
    // setTimeout (a Timeout object) several times per request/response.
    // Only an earlier deadline re-arms at once; an idle clock still drops
    // its Node timer.
    if (next > this.armedFor && next !== Infinity) return;
    if (this.armed !== null) clearTimeout(this.armed);
    this.armed = null;
    this.armedFor = next;
    if (next === Infinity) return;
    // Node turns a delay above 2^31-1 ms into 1 ms (with a warning), which
    // made a far deadline spin: fire, nothing due, re-arm, every millisecond.
    // Sleep at most that long; fire() re-arms for the rest if nothing is due.
    const delay = Math.min(Math.max(0, next - this.now()), MAX_NODE_DELAY);
    this.armed = setTimeout(() => this.fire(), Math.ceil(delay));
    if (this.opts.unref) this.armed.unref();
  }

  private fire(): void {
    this.armed = null;
    this.armedFor = Infinity;
    const now = this.now();
    this.firing = true;
    try {
      // Re-check `disposed` before each pop: a callback that disposes the
      // clock (a stack shutting down from a timer) must stop the batch too.
      for (let t = this.heap.popDue(now); t !== undefined; t = this.disposed ? undefined : this.heap.popDue(now)) {
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

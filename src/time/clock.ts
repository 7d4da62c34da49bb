// The Clock every Stack takes time from. The core never reads the real
// clock: it asks its Clock, so the simulator can run it on virtual time.
import type { Timer, TimerCallback } from './timer-heap.ts';

export interface Clock {
  /** Milliseconds since the clock's origin (monotonic, may be fractional). */
  now(): number;
  /** A stopped, reusable timer; start it with start()/startAt(). `name` labels it in errors (a runaway). */
  timer(cb: TimerCallback, name?: string | (() => string)): Timer;
  /** Convenience: a timer started to fire once after `delayMs`. */
  after(delayMs: number, cb: TimerCallback, name?: string | (() => string)): Timer;
  /** Earliest pending deadline, or null when nothing is scheduled. */
  nextDeadline(): number | null;
  /** Number of scheduled timers (an idle stack schedules none). */
  pendingTimers(): number;
  /**
   * Run `cb` once, soon but only after the event loop had a turn (a Stack
   * that used up its work budget continues here instead of starving the
   * process). Real time: setImmediate. Virtual time: see VirtualClock.soon.
   * Pending tasks count in pendingTimers().
   */
  soon?(cb: () => void): void;
}

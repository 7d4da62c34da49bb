// One host's view of a shared clock, which the simulator can skew: the host
// reads `base + offset` (and, with a rate, a clock running fast or slow)
// while every other host keeps the shared time. Its timers are armed in
// its own time and translated to the shared clock, so they still fire in
// one deterministic order with everyone else's.
//
// Until it is first skewed the view is the identity: now() and every timer
// call go straight to the base clock after one branch (the simulator gives
// every stack a view, so any host can be skewed mid-run: a Stack's clock is
// fixed when it is built).
//
// Semantics of a change (skew(offsetMs, rate) at shared time B):
//   local(b) = max(floor, B + offsetMs + (b - B) * rate)   for b >= B
// where `floor` is what the view read just before the change: a host's
// clock never goes back (CLOCK_MONOTONIC; the TCP engine subtracts times and
// assumes it), so a backward step freezes the host's clock until the new
// mapping catches up (a timer armed meanwhile waits with it), and a forward
// step is a jump. Timers armed before a change keep their shared-time
// deadlines (as a kernel's relative timers would); those armed afterwards
// fire when the view reads their deadline.
import type { Clock } from './clock.ts';
import type { Timer, TimerCallback } from './timer-heap.ts';

export class SkewedClock implements Clock {
  /** False until the first skew(): the view is then base time, untouched. */
  private skewed = false;
  private anchorBase = 0;
  private anchorLocal = 0;
  private rateV = 1;
  private floor = -Infinity;

  constructor(readonly base: Clock) {}

  /** Offset of this view from the base clock now (ms; 0 when not skewed). */
  get offsetMs(): number {
    return this.skewed ? this.now() - this.base.now() : 0;
  }

  /** Rate of this view relative to the base clock (1 when not skewed). */
  get rate(): number {
    return this.rateV;
  }

  /**
   * From now on this view reads base + `offsetMs` (jumping there, or
   * freezing until there when that is a step back) and then runs at `rate`
   * times the base clock (default 1).
   */
  skew(offsetMs: number, rate = 1): void {
    if (!Number.isFinite(offsetMs)) throw new RangeError(`clock skew: offsetMs must be a finite number (got ${offsetMs})`);
    if (!Number.isFinite(rate) || rate <= 0) throw new RangeError(`clock skew: rate must be a positive finite number (got ${rate})`);
    const b = this.base.now();
    const before = this.now();
    this.anchorBase = b;
    this.anchorLocal = b + offsetMs;
    this.rateV = rate;
    this.floor = before;
    this.skewed = true;
  }

  now(): number {
    const b = this.base.now();
    if (!this.skewed) return b;
    return this.local(b);
  }

  timer(cb: TimerCallback, name?: string | (() => string)): Timer {
    // The view's timer type only overrides start/startAt/deadline; it stands
    // in for a Timer (whose private heap makes the class nominal).
    return new SkewedTimer(this, this.base.timer(cb, name)) as unknown as Timer;
  }

  after(delayMs: number, cb: TimerCallback, name?: string | (() => string)): Timer {
    return this.timer(cb, name).start(delayMs);
  }

  nextDeadline(): number | null {
    const d = this.base.nextDeadline();
    return d === null || !this.skewed ? d : this.local(d);
  }

  pendingTimers(): number {
    return this.base.pendingTimers();
  }

  soon(cb: () => void): void {
    if (this.base.soon !== undefined) this.base.soon(cb);
    else this.base.after(0, cb);
  }

  /** @internal This view's time at base time `b`. */
  local(b: number): number {
    const raw = this.anchorLocal + (b - this.anchorBase) * this.rateV;
    return raw > this.floor ? raw : this.floor;
  }

  /** @internal The base time at which this view first reads at least `at` (never before base now). */
  baseFor(at: number): number {
    const bNow = this.base.now();
    if (!this.skewed) return at;
    if (this.local(bNow) >= at) return bNow;
    let b = this.anchorBase + (at - this.anchorLocal) / this.rateV;
    // Rounding may land a hair early: the stack would find its deadline not
    // yet reached and re-arm at the same instant for ever. Step up until
    // the view reads `at`.
    while (this.local(b) < at) b += Math.max(Math.abs(b) * Number.EPSILON, Number.MIN_VALUE);
    return b;
  }

  /** Whether skew() was ever called (until then the view is the base clock). */
  get isSkewed(): boolean {
    return this.skewed;
  }
}

/** A base-clock timer armed in a SkewedClock's time. */
class SkewedTimer {
  /** The deadline last asked for, in the view's time (what `deadline` reads back). */
  private localAt = 0;

  constructor(
    private readonly view: SkewedClock,
    private readonly inner: Timer,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get callback(): TimerCallback {
    return this.inner.callback;
  }

  set callback(cb: TimerCallback) {
    this.inner.callback = cb;
  }

  get active(): boolean {
    return this.inner.active;
  }

  /** Absolute deadline in the view's time; meaningful while active. */
  get deadline(): number {
    return this.localAt;
  }

  start(delayMs: number): this {
    const d = Math.max(0, delayMs);
    const view = this.view;
    this.localAt = view.now() + d;
    // Unskewed: the base clock's own arithmetic. Skewed: when the view reads the deadline.
    this.inner.startAt(view.isSkewed ? view.baseFor(this.localAt) : view.base.now() + d);
    return this;
  }

  startAt(at: number): this {
    if (Number.isNaN(at)) throw new RangeError(`timer deadline is NaN (${this.inner.name})`);
    this.localAt = at;
    this.inner.startAt(this.view.baseFor(at));
    return this;
  }

  stop(): void {
    this.inner.stop();
  }
}

// An indexed binary min-heap of timers ordered by (deadline, sequence).
// Timers are reusable objects that remember their heap slot, so restarting
// or stopping one is O(log n) without allocation, and equal deadlines fire
// in the order they were set (determinism).
//
// The heap also guards against a same-instant loop: a timer re-armed at or
// before now again and again (a deadline that rounds back to the present)
// never lets time advance, so a driver would spin forever. Past a limit the
// heap throws an Error that names the timer instead.

export type TimerCallback = () => void;

/** Re-arms of one timer at or before now, at one instant, before the heap calls it a runaway. */
export const DEFAULT_MAX_REARMS_PER_INSTANT = 100_000;

export class Timer {
  /** Absolute deadline in clock ms; meaningful while active. */
  deadline = 0;
  /** @internal position in the heap, -1 when not scheduled. */
  index = -1;
  /** @internal tie-break: order of scheduling. */
  seq = 0;
  /** @internal the instant of the latest re-arm at or before now, and how many there were at it. */
  rearmInstant = Number.NaN;
  rearmCount = 0;

  constructor(
    private readonly heap: TimerHeap,
    public callback: TimerCallback,
    /**
     * Shown in errors about this timer (e.g. 'client->server/rate-limit');
     * a function is called only then (a name built per connection would
     * cost two address formats and a string each).
     */
    private readonly label: string | (() => string) = 'unnamed timer',
  ) {}

  /** The timer's name, as errors show it. */
  get name(): string {
    return typeof this.label === 'string' ? this.label : this.label();
  }

  get active(): boolean {
    return this.index >= 0;
  }

  /** (Re)start to fire `delayMs` from the clock's now. */
  start(delayMs: number): this {
    return this.startAt(this.heap.now() + Math.max(0, delayMs));
  }

  /** (Re)start to fire at absolute time `at` (clamped to now). */
  startAt(at: number): this {
    // NaN (e.g. start(undefined as number)) compares false both ways: it
    // would break the heap order and fire at once. Refuse it loudly.
    if (Number.isNaN(at)) throw new RangeError(`timer deadline is NaN (${this.name})`);
    const now = this.heap.now();
    if (at <= now) {
      this.heap.noteRearmAtNow(this, now);
      at = now;
    }
    this.heap.schedule(this, at);
    return this;
  }

  stop(): void {
    if (this.index >= 0) this.heap.remove(this);
  }
}

export class TimerHeap {
  private readonly items: Timer[] = [];
  private nextSeq = 0;

  /**
   * @param now the owning clock's time
   * @param onChange called after any schedule/remove, so a real clock can
   *   re-arm its single OS timer for the new earliest deadline
   */
  constructor(
    readonly now: () => number,
    private readonly onChange: (() => void) | null = null,
    /** Re-arms of one timer at or before now at one instant before it is called a runaway. */
    readonly maxRearmsPerInstant = DEFAULT_MAX_REARMS_PER_INSTANT,
  ) {}

  get size(): number {
    return this.items.length;
  }

  create(cb: TimerCallback, name?: string | (() => string)): Timer {
    return new Timer(this, cb, name);
  }

  /**
   * @internal Count a re-arm of `t` at or before `now`; throw once one
   * instant has seen more than maxRearmsPerInstant of them (time cannot
   * move on while a timer keeps landing on the present).
   */
  noteRearmAtNow(t: Timer, now: number): void {
    if (t.rearmInstant !== now) {
      t.rearmInstant = now;
      t.rearmCount = 0;
    }
    if (++t.rearmCount > this.maxRearmsPerInstant) {
      t.rearmCount = 0; // a caller that catches this and carries on gets a fresh count
      throw new Error(`runaway timer '${t.name}': re-armed at or before now more than ${this.maxRearmsPerInstant} times at ${now} ms (time cannot advance)`);
    }
  }

  peek(): Timer | undefined {
    return this.items[0];
  }

  schedule(t: Timer, at: number): void {
    t.deadline = at;
    t.seq = this.nextSeq++;
    if (t.index >= 0) {
      // Reposition in place: the new key may be smaller or larger.
      this.siftUp(t.index);
      this.siftDown(t.index);
    } else {
      t.index = this.items.length;
      this.items.push(t);
      this.siftUp(t.index);
    }
    if (this.onChange !== null) this.onChange();
  }

  remove(t: Timer): void {
    const i = t.index;
    const last = this.items.pop()!;
    t.index = -1;
    if (last !== t) {
      this.items[i] = last;
      last.index = i;
      this.siftUp(i);
      this.siftDown(last.index);
    }
    if (this.onChange !== null) this.onChange();
  }

  /** Remove and return the earliest timer if it is due at or before `at`. */
  popDue(at: number): Timer | undefined {
    const top = this.items[0];
    if (top === undefined || top.deadline > at) return undefined;
    this.remove(top);
    return top;
  }

  private less(a: Timer, b: Timer): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private siftUp(i: number): void {
    const items = this.items;
    const t = items[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (!this.less(t, p)) break;
      items[i] = p;
      p.index = i;
      i = parent;
    }
    items[i] = t;
    t.index = i;
  }

  private siftDown(i: number): void {
    const items = this.items;
    const n = items.length;
    const t = items[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this.less(items[right]!, items[child]!)) child = right;
      const c = items[child]!;
      if (!this.less(c, t)) break;
      items[i] = c;
      c.index = i;
      i = child;
    }
    items[i] = t;
    t.index = i;
  }
}

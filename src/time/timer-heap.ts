// An indexed binary min-heap of timers ordered by (deadline, sequence).
// Timers are reusable objects that remember their heap slot, so restarting
// or stopping one is O(log n) without allocation, and equal deadlines fire
// in the order they were set (determinism).

export type TimerCallback = () => void;

export class Timer {
  /** Absolute deadline in clock ms; meaningful while active. */
  deadline = 0;
  /** @internal position in the heap, -1 when not scheduled. */
  index = -1;
  /** @internal tie-break: order of scheduling. */
  seq = 0;

  constructor(
    private readonly heap: TimerHeap,
    public callback: TimerCallback,
  ) {}

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
    if (Number.isNaN(at)) throw new RangeError('timer deadline is NaN');
    this.heap.schedule(this, Math.max(at, this.heap.now()));
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
  ) {}

  get size(): number {
    return this.items.length;
  }

  create(cb: TimerCallback): Timer {
    return new Timer(this, cb);
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

// TimerHeap: (deadline, FIFO) ordering, restart in place, stop, and a
// 100k-timer stress run against a sort.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/time/rng.ts';
import { type Timer, TimerHeap } from '../../src/time/timer-heap.ts';

function harness() {
  const clock = { now: 0 };
  let changes = 0;
  const heap = new TimerHeap(
    () => clock.now,
    () => changes++,
  );
  const fired: string[] = [];
  const make = (name: string) => heap.create(() => fired.push(name));
  /** Pop and run everything due at `at`, in order. */
  const drain = (at = Number.POSITIVE_INFINITY) => {
    for (let t = heap.popDue(at); t !== undefined; t = heap.popDue(at)) t.callback();
  };
  return { clock, heap, fired, make, drain, changes: () => changes };
}

describe('TimerHeap ordering', () => {
  it('by deadline, then in the order the timers were set', () => {
    const h = harness();
    h.make('e5').startAt(5);
    h.make('a1').startAt(1);
    h.make('f5').startAt(5);
    h.make('c3').startAt(3);
    h.make('b1').startAt(1);
    h.make('g5').start(5);
    expect(h.heap.size).toBe(6);
    expect(h.heap.peek()?.deadline).toBe(1);
    h.drain();
    expect(h.fired).toEqual(['a1', 'b1', 'c3', 'e5', 'f5', 'g5']);
    expect(h.heap.size).toBe(0);
    expect(h.heap.peek()).toBeUndefined();
  });

  it('popDue only returns timers due at or before the time given', () => {
    const h = harness();
    const t = h.make('x').startAt(10);
    expect(h.heap.popDue(9.999)).toBeUndefined();
    expect(h.heap.popDue(10)).toBe(t);
    expect(t.active).toBe(false);
  });

  it('start/startAt clamp to now; the deadline is absolute', () => {
    const h = harness();
    h.clock.now = 100;
    expect(h.make('a').start(-5).deadline).toBe(100);
    expect(h.make('b').startAt(50).deadline).toBe(100);
    expect(h.make('c').start(7.5).deadline).toBe(107.5);
    expect(h.make('d').startAt(1000).deadline).toBe(1000);
  });

  it('rejects NaN deadlines, which would corrupt the heap order', () => {
    const h = harness();
    const t = h.make('nan');
    expect(() => t.start(Number.NaN)).toThrow(RangeError);
    expect(() => t.startAt(Number.NaN)).toThrow(RangeError);
    expect(t.active).toBe(false);
    expect(h.heap.size).toBe(0);
  });

  it('restart of an active timer, later and earlier, keeps one entry', () => {
    const h = harness();
    const a = h.make('a').startAt(10);
    h.make('b').startAt(20);
    h.make('c').startAt(30);
    a.startAt(25); // later: now between b and c
    expect(h.heap.size).toBe(3);
    const c = h.make('d').startAt(40);
    c.startAt(5); // earlier: first
    expect(h.heap.size).toBe(4);
    h.drain();
    expect(h.fired).toEqual(['d', 'b', 'a', 'c']);
  });

  it('restarting to the same deadline moves the timer behind its equals', () => {
    const h = harness();
    const a = h.make('a').startAt(10);
    h.make('b').startAt(10);
    h.make('c').startAt(10);
    a.startAt(10);
    h.drain();
    expect(h.fired).toEqual(['b', 'c', 'a']);
  });

  it('stop removes wherever the timer sits; stopping twice or an idle timer is a no-op', () => {
    const h = harness();
    const ts = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((n, i) => h.make(n).startAt((i * 37) % 11));
    ts[3]!.stop();
    ts[0]!.stop();
    ts[6]!.stop();
    ts[6]!.stop();
    h.make('idle').stop();
    expect(h.heap.size).toBe(4);
    h.drain();
    // deadlines: a0 b4 c8 d1 e5 f9 g2 -> without a, d, g: b4 e5 c8 f9
    expect(h.fired).toEqual(['b', 'e', 'c', 'f']);
  });

  it('reports every schedule and remove through onChange', () => {
    const h = harness();
    const t = h.make('a').start(1);
    t.start(2);
    t.stop();
    t.stop(); // inactive: no change
    expect(h.changes()).toBe(3);
  });

  it('a timer can be started again after it fired', () => {
    const h = harness();
    const t = h.make('a').startAt(1);
    h.drain();
    expect(t.active).toBe(false);
    t.startAt(2);
    expect(t.active).toBe(true);
    h.drain();
    expect(h.fired).toEqual(['a', 'a']);
  });
});

describe('TimerHeap stress', () => {
  it('100k random timers (with restarts and stops) fire in (deadline, last-start) order', () => {
    const rng = new Rng(12345);
    const clock = { now: 0 };
    const heap = new TimerHeap(() => clock.now);
    const N = 100_000;
    const order: number[] = [];
    const timers: Timer[] = [];
    const lastStart = new Array<number>(N).fill(-1);
    const deadline = new Array<number>(N).fill(-1);
    let stamp = 0;
    for (let i = 0; i < N; i++) {
      const t = heap.create(() => order.push(i));
      // few distinct deadlines, so FIFO among equals is exercised heavily
      t.startAt(rng.int(5000));
      timers.push(t);
      lastStart[i] = stamp++;
      deadline[i] = t.deadline;
    }
    const stopped = new Set<number>();
    for (let k = 0; k < 20_000; k++) {
      const i = rng.int(N);
      if (rng.chance(0.3)) {
        timers[i]!.stop();
        stopped.add(i);
      } else {
        timers[i]!.startAt(rng.int(5000));
        stopped.delete(i);
        lastStart[i] = stamp++;
        deadline[i] = timers[i]!.deadline;
      }
    }
    expect(heap.size).toBe(N - stopped.size);
    // Drain in steps so popDue's bound matters.
    for (let at = 0; at <= 5000; at += 250) {
      for (let t = heap.popDue(at); t !== undefined; t = heap.popDue(at)) t.callback();
    }
    const expected = [...Array(N).keys()]
      .filter((i) => !stopped.has(i))
      .sort((a, b) => deadline[a]! - deadline[b]! || lastStart[a]! - lastStart[b]!);
    expect(order.length).toBe(expected.length);
    expect(order).toEqual(expected);
    expect(heap.size).toBe(0);
    expect(timers.every((t) => !t.active)).toBe(true);
  });
});

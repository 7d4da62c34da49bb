// VirtualClock: time moves only when driven, straight to each deadline.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/time/virtual-clock.ts';

describe('VirtualClock', () => {
  it('an idle clock reports no deadline and no timers', () => {
    const c = new VirtualClock();
    expect(c.now()).toBe(0);
    expect(c.nextDeadline()).toBeNull();
    expect(c.pendingTimers()).toBe(0);
    expect(c.runNext()).toBe(false);
    expect(c.advanceTo(1000)).toBe(0);
    expect(c.now()).toBe(1000);
    expect(new VirtualClock(123.5).now()).toBe(123.5);
  });

  it('advanceTo runs due timers in order with now() at each deadline, then stops at `at`', () => {
    const c = new VirtualClock(100);
    const seen: [string, number][] = [];
    c.after(30, () => seen.push(['b', c.now()]));
    c.after(10, () => seen.push(['a', c.now()]));
    c.after(30, () => seen.push(['c', c.now()]));
    c.after(80, () => seen.push(['late', c.now()]));
    expect(c.pendingTimers()).toBe(4);
    expect(c.nextDeadline()).toBe(110);
    expect(c.advanceTo(150)).toBe(3);
    expect(seen).toEqual([
      ['a', 110],
      ['b', 130],
      ['c', 130],
    ]);
    expect(c.now()).toBe(150);
    expect(c.pendingTimers()).toBe(1);
    expect(c.nextDeadline()).toBe(180);
    expect(c.advanceBy(30)).toBe(1);
    expect(seen.at(-1)).toEqual(['late', 180]);
    expect(c.nextDeadline()).toBeNull();
  });

  it('a deadline exactly at `at` fires; one just after does not', () => {
    const c = new VirtualClock();
    let n = 0;
    c.after(10, () => n++);
    c.after(10.001, () => n++);
    expect(c.advanceTo(10)).toBe(1);
    expect(n).toBe(1);
  });

  it('refuses to go backwards or to NaN, and stays usable', () => {
    const c = new VirtualClock(50);
    let fired = 0;
    c.after(10, () => fired++);
    expect(() => c.advanceTo(49)).toThrow(RangeError);
    expect(() => c.advanceBy(-1)).toThrow(RangeError);
    expect(() => c.advanceTo(Number.NaN)).toThrow(RangeError);
    expect(c.now()).toBe(50);
    expect(fired).toBe(0);
    expect(c.advanceTo(50)).toBe(0); // staying put is fine
    expect(c.advanceTo(60)).toBe(1);
  });

  it('runNext jumps to the next deadline and runs everything due there', () => {
    const c = new VirtualClock();
    const seen: string[] = [];
    c.after(5, () => seen.push('a'));
    c.after(5, () => seen.push('b'));
    c.after(9, () => seen.push('c'));
    expect(c.runNext()).toBe(true);
    expect(c.now()).toBe(5);
    expect(seen).toEqual(['a', 'b']);
    expect(c.runNext()).toBe(true);
    expect(c.now()).toBe(9);
    expect(c.runNext()).toBe(false);
    expect(c.now()).toBe(9);
  });

  it('callbacks may schedule timers inside the window, including at +0', () => {
    const c = new VirtualClock();
    const seen: [string, number][] = [];
    c.after(10, () => {
      seen.push(['a', c.now()]);
      c.after(5, () => seen.push(['a+5', c.now()]));
      c.after(0, () => seen.push(['a+0', c.now()]));
      c.after(15, () => seen.push(['a+15', c.now()]));
    });
    c.after(12, () => seen.push(['b', c.now()]));
    expect(c.advanceTo(20)).toBe(4);
    expect(seen).toEqual([
      ['a', 10],
      ['a+0', 10],
      ['b', 12],
      ['a+5', 15],
    ]);
    expect(c.now()).toBe(20);
    expect(c.nextDeadline()).toBe(25);
  });

  it('a timer restarting itself from its callback is periodic', () => {
    const c = new VirtualClock();
    const at: number[] = [];
    const t = c.timer(() => {
      at.push(c.now());
      if (at.length < 5) t.start(100);
    });
    t.start(100);
    expect(c.advanceTo(10_000)).toBe(5);
    expect(at).toEqual([100, 200, 300, 400, 500]);
    expect(t.active).toBe(false);
    expect(c.pendingTimers()).toBe(0);
  });

  it('a callback can stop or restart another timer due in the same window', () => {
    const c = new VirtualClock();
    const seen: string[] = [];
    const b = c.timer(() => seen.push('b'));
    const d = c.timer(() => seen.push('d'));
    c.after(10, () => {
      seen.push('a');
      b.stop(); // same deadline, set later: would have fired next
      d.start(50); // pushed out of the window
    });
    b.start(10);
    d.start(20);
    c.after(30, () => seen.push('c'));
    expect(c.advanceTo(40)).toBe(2);
    expect(seen).toEqual(['a', 'c']);
    expect(c.nextDeadline()).toBe(60);
    expect(b.active).toBe(false);
  });

  it('advanceTo from inside a callback throws; the clock is fine afterwards', () => {
    const c = new VirtualClock();
    let inner: unknown = null;
    c.after(1, () => {
      try {
        c.advanceTo(5);
      } catch (e) {
        inner = e;
      }
    });
    expect(c.advanceTo(2)).toBe(1);
    expect(inner).toBeInstanceOf(Error);
    c.after(1, () => {});
    expect(c.advanceTo(3)).toBe(1);
  });

  it('a throwing callback propagates and leaves the clock consistent', () => {
    const c = new VirtualClock();
    let after = 0;
    c.after(1, () => {
      throw new Error('boom');
    });
    c.after(2, () => after++);
    expect(() => c.advanceTo(10)).toThrow('boom');
    expect(c.now()).toBe(1);
    expect(c.pendingTimers()).toBe(1);
    expect(c.advanceTo(10)).toBe(1);
    expect(after).toBe(1);
    expect(c.now()).toBe(10);
  });

  it('a timer re-armed at now in a loop is a named runaway, not a hang', () => {
    const c = new VirtualClock(1_000, { maxRearmsPerInstant: 1000 });
    let fired = 0;
    const t = c.timer(() => {
      fired++;
      t.startAt(c.now() - 1); // a deadline that rounds back to the present
    }, 'link/rate-limit');
    t.start(5);
    expect(() => c.advanceTo(10_000)).toThrow(/runaway timer 'link\/rate-limit'.*more than 1000 times at 1005 ms/);
    expect(fired).toBe(1001); // 1000 re-arms at 1005 ms are allowed; the 1001st call re-arms once too often
    expect(c.now()).toBe(1005);
  });

  it('the default limit is 100 000 re-arms at one instant; re-arms at different instants never count together', () => {
    const c = new VirtualClock();
    let n = 0;
    const t = c.timer(() => {
      if (++n < 100_000) t.start(0);
    });
    t.start(1);
    expect(c.advanceTo(2)).toBe(100_000); // exactly the limit: allowed
    expect(() => {
      const u = c.timer(() => u.start(0));
      u.start(0);
      c.advanceTo(3);
    }).toThrow(/runaway timer 'unnamed timer'/);
    // A periodic timer at +1 ms for 200k periods is progress, not a runaway.
    const d = new VirtualClock(0, { maxRearmsPerInstant: 10 });
    let k = 0;
    const p = d.timer(() => {
      if (++k < 200_000) p.start(1);
    }, 'periodic');
    p.start(1);
    expect(d.advanceTo(1e6)).toBe(200_000);
  });

  it('advanceTo(at, maxFires) fires at most maxFires timers and leaves the rest due', () => {
    const c = new VirtualClock();
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) c.after(10 + i, () => seen.push(c.now()));
    expect(c.advanceTo(100, 3)).toBe(3);
    expect(seen).toEqual([10, 11, 12]);
    expect(c.now()).toBe(12); // timers due before 100 remain: time stops at the last one fired
    expect(c.pendingTimers()).toBe(2);
    expect(c.advanceTo(100, 2)).toBe(2);
    expect(c.now()).toBe(100); // nothing left due: time reaches `at`
    expect(c.advanceTo(100, 0)).toBe(0);
  });

  it('timers carry their name; after() takes one too', () => {
    const c = new VirtualClock();
    expect(c.timer(() => {}, 'tcp').name).toBe('tcp');
    expect(c.after(1, () => {}, 'once').name).toBe('once');
    expect(c.timer(() => {}).name).toBe('unnamed timer');
  });
});

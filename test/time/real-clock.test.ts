// RealClock on real time (kept short: timers of 5-30 ms). Node's
// setTimeout/clearTimeout are wrapped to count the Node timers the clock
// holds: never more than one, none when idle or disposed.
import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../../src/time/real-clock.ts';

const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const sleep = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

interface Tracker {
  live: Set<NodeJS.Timeout>;
  delays: number[];
  maxLive: number;
  restore(): void;
}

let tracker: Tracker | null = null;

/** Count Node timers created from real-clock.ts (other callers pass through untouched). */
function trackNodeTimers(): Tracker {
  const t: Tracker = {
    live: new Set(),
    delays: [],
    maxLive: 0,
    restore() {
      globalThis.setTimeout = realSetTimeout;
      globalThis.clearTimeout = realClearTimeout;
    },
  };
  const wrappedSet = (cb: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): NodeJS.Timeout => {
    if (!(new Error().stack ?? '').includes('real-clock')) return realSetTimeout(cb, ms, ...args);
    t.delays.push(ms ?? 0);
    const h: NodeJS.Timeout = realSetTimeout(() => {
      t.live.delete(h);
      cb(...args);
    }, ms);
    t.live.add(h);
    t.maxLive = Math.max(t.maxLive, t.live.size);
    return h;
  };
  const wrappedClear = (h?: NodeJS.Timeout | string | number) => {
    if (h !== undefined && typeof h === 'object') t.live.delete(h);
    realClearTimeout(h);
  };
  globalThis.setTimeout = wrappedSet as unknown as typeof setTimeout;
  globalThis.clearTimeout = wrappedClear as unknown as typeof clearTimeout;
  tracker = t;
  return t;
}

afterEach(() => {
  tracker?.restore();
  tracker = null;
});

async function until(cond: () => boolean, limitMs = 1000): Promise<void> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > limitMs) throw new Error('timed out waiting');
    await sleep(2);
  }
}

describe('RealClock', () => {
  it('now() starts near 0 and never goes back', () => {
    const c = new RealClock();
    const a = c.now();
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(50);
    let prev = a;
    for (let i = 0; i < 1000; i++) {
      const n = c.now();
      expect(n).toBeGreaterThanOrEqual(prev);
      prev = n;
    }
  });

  it('an idle clock holds no Node timer and reports null/0', () => {
    const t = trackNodeTimers();
    const c = new RealClock();
    expect(c.nextDeadline()).toBeNull();
    expect(c.pendingTimers()).toBe(0);
    const timer = c.timer(() => {}); // created, not started
    expect(timer.active).toBe(false);
    expect(t.delays.length).toBe(0);
  });

  it('fires in deadline order, never early, holding at most one Node timer', async () => {
    const t = trackNodeTimers();
    const c = new RealClock();
    const seen: string[] = [];
    const late: number[] = [];
    const deadlines: [string, number][] = [];
    const mk = (name: string, ms: number) => {
      const timer = c.after(ms, () => {
        seen.push(name);
        late.push(c.now() - timer.deadline);
        expect(t.live.size).toBeLessThanOrEqual(1);
      });
      deadlines.push([name, timer.deadline]);
      expect(t.live.size).toBe(1);
    };
    mk('30', 30);
    mk('5', 5);
    mk('15a', 15);
    mk('15b', 15);
    mk('20', 20);
    expect(c.pendingTimers()).toBe(5);
    expect(c.nextDeadline()).toBe(Math.min(...deadlines.map((d) => d[1])));
    await until(() => c.pendingTimers() === 0);
    // Deadline order, ties in the order set. The deadlines are real times: on a
    // loaded machine more than 10 ms may pass between setting '30' and '20',
    // so the order comes from the deadlines the timers really got.
    const byDeadline = deadlines.map((d, i) => ({ name: d[0], at: d[1], i })).sort((a, b) => a.at - b.at || a.i - b.i);
    expect(seen).toEqual(byDeadline.map((d) => d.name));
    for (const l of late) expect(l).toBeGreaterThanOrEqual(0);
    expect(t.maxLive).toBe(1);
    expect(t.live.size).toBe(0); // idle again: no Node timer left
    expect(c.nextDeadline()).toBeNull();
  });

  it('re-arms for an earlier restart and disarms when the only timer stops', async () => {
    const t = trackNodeTimers();
    const c = new RealClock();
    let fired = 0;
    const a = c.after(1000, () => fired++);
    expect(t.live.size).toBe(1);
    a.start(5); // earlier: the Node timer is replaced, not added
    expect(t.live.size).toBe(1);
    // Each delay is the deadline less the time that passed before arming: a
    // pause on a loaded machine may shave a millisecond off.
    expect(t.delays).toHaveLength(2);
    expect(t.delays[0]).toBeGreaterThan(990);
    expect(t.delays[0]).toBeLessThanOrEqual(1000);
    expect(t.delays[1]).toBeLessThanOrEqual(5);
    await until(() => fired === 1);
    const b = c.after(20, () => fired++);
    expect(t.live.size).toBe(1);
    b.stop();
    expect(t.live.size).toBe(0);
    expect(c.pendingTimers()).toBe(0);
    await sleep(30);
    expect(fired).toBe(1);
    expect(t.maxLive).toBe(1);
  });

  it('a first deadline moved later keeps the armed Node timer (no re-arm per move); it fires early, finds nothing due, re-arms; never early', async () => {
    const t = trackNodeTimers();
    const c = new RealClock();
    let fired = 0;
    let firedAt = 0;
    const a = c.after(5, () => {
      fired++;
      firedAt = c.now();
    });
    // A request/response pattern: the first deadline moves later many times.
    for (let i = 0; i < 100; i++) a.start(20 + (i % 3));
    const deadline = a.deadline;
    expect(t.delays).toHaveLength(1); // only the first arming: each later move kept it
    expect(t.live.size).toBe(1);
    await until(() => fired === 1);
    expect(firedAt).toBeGreaterThanOrEqual(deadline); // never early
    // The early fire re-armed once, for the real deadline (and at most once
    // more: libuv's millisecond loop time can fire that one up to 1 ms
    // before the deadline, found not yet due).
    expect(t.delays.length).toBeGreaterThanOrEqual(2);
    expect(t.delays.length).toBeLessThanOrEqual(3);
    if (t.delays.length === 3) expect(t.delays[2]).toBeLessThanOrEqual(2);
    expect(t.maxLive).toBe(1);
    expect(t.live.size).toBe(0);
    // An earlier deadline still re-arms at once; stopping the only timer disarms.
    const armed = t.delays.length;
    const b = c.after(1000, () => fired++);
    b.start(5);
    expect(t.delays).toHaveLength(armed + 2);
    await until(() => fired === 2);
    const d = c.after(50, () => fired++);
    d.stop();
    expect(t.live.size).toBe(0);
  });

  it('a timer restarting itself from its callback keeps one Node timer', async () => {
    const t = trackNodeTimers();
    const c = new RealClock();
    const at: number[] = [];
    const timer = c.timer(() => {
      at.push(c.now());
      if (at.length < 4) timer.start(5);
    });
    timer.start(5);
    await until(() => at.length === 4);
    await sleep(10);
    expect(at.length).toBe(4);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(4.5);
    expect(t.maxLive).toBe(1);
    expect(t.live.size).toBe(0);
  });

  it('dispose stops firing, and later timer changes do not re-arm it', async () => {
    const t = trackNodeTimers();
    const c = new RealClock();
    let fired = 0;
    c.after(10, () => fired++);
    const other = c.after(12, () => fired++);
    c.dispose();
    expect(t.live.size).toBe(0);
    expect(c.pendingTimers()).toBe(2); // still scheduled, never fires
    other.stop(); // used to re-arm a Node timer for the remaining one
    c.after(5, () => fired++);
    expect(t.live.size).toBe(0);
    await sleep(40);
    expect(fired).toBe(0);
    expect(t.live.size).toBe(0);
  });

  it('dispose from a callback also stops timers due in the same batch', async () => {
    trackNodeTimers();
    const c = new RealClock();
    const seen: string[] = [];
    const first = c.after(5, () => {
      seen.push('first');
      c.dispose();
    });
    // Same deadline as `first`: due in the very same fire() batch.
    c.timer(() => seen.push('second')).startAt(first.deadline);
    await sleep(30);
    expect(seen).toEqual(['first']);
    expect(c.pendingTimers()).toBe(1);
  });

  it('a delay beyond setTimeout’s 2^31-1 ms range neither fires nor spins', async () => {
    const t = trackNodeTimers();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const c = new RealClock();
      let fired = 0;
      const timer = c.after(3e9, () => fired++);
      await sleep(30);
      expect(fired).toBe(0);
      // Node clamps an oversized delay to 1 ms: the clock must not ask for one.
      expect(t.delays.length).toBe(1);
      expect(t.delays[0]).toBeLessThanOrEqual(0x7fffffff);
      expect(t.live.size).toBe(1);
      timer.stop();
      expect(t.live.size).toBe(0);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('onError receives a throwing callback’s error; later timers still fire', async () => {
    trackNodeTimers();
    const errors: unknown[] = [];
    const c = new RealClock({ onError: (e) => errors.push(e) });
    let after = 0;
    c.after(5, () => {
      throw new Error('boom');
    });
    c.after(10, () => after++);
    await until(() => after === 1);
    expect(errors.length).toBe(1);
    expect((errors[0] as Error).message).toBe('boom');
    expect(c.pendingTimers()).toBe(0);
  });

  it('unref lets the process exit with timers pending', () => {
    const t = trackNodeTimers();
    const c = new RealClock({ unref: true });
    const timer = c.after(50, () => {});
    const h = [...t.live][0]!;
    expect(h.hasRef()).toBe(false);
    timer.stop();
    const c2 = new RealClock();
    const t2 = c2.after(50, () => {});
    const h2 = [...t.live][0]!;
    expect(h2.hasRef()).toBe(true);
    t2.stop();
  });
});

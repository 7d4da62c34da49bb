// Congestion control (src/pcb/congestion.ts, cc-reno.ts, cc-cubic.ts), driven
// by a fake ACK clock: each "round" the whole window sent at the start of the
// round is acknowledged in evenly spaced ACKs and the clock advances by one
// RTT. Nothing here reads wall time; `now` is a plain number.
import { describe, expect, test } from 'vitest';
import { CubicCongestionControl, CUBIC_ALPHA, CUBIC_BETA } from '../../src/pcb/cc-cubic.ts';
import { RenoCongestionControl } from '../../src/pcb/cc-reno.ts';
import {
  CONGESTION_ALGORITHMS,
  SSTHRESH_INFINITE,
  createCongestionControl,
  initialWindow,
  type CcState,
  type CongestionControl,
} from '../../src/pcb/congestion.ts';

type Conn = { -readonly [K in keyof CcState]: CcState[K] };

const T0 = 50_000; // a clock that does not start at 0

function conn(mss = 1460, rttMs = 100): Conn {
  return { cwnd: 0, ssthresh: 0, mss, flightSize: 0, now: T0, srtt: rttMs, minRtt: rttMs, sndUna: 0, sndNxt: 0 };
}

function setup(name: string, mss = 1460, rttMs = 100): { cc: CongestionControl; c: Conn } {
  const cc = createCongestionControl(name);
  const c = conn(mss, rttMs);
  cc.init(c);
  return { cc, c };
}

interface RoundOpts {
  /** Segments covered by each ACK (2 = delayed ACKs). */
  ackSegs?: number;
  limited?: boolean;
}

/** One RTT: the window at the start of the round is acked in ACKs of `ackSegs` segments, spread over the RTT. */
function round(cc: CongestionControl, c: Conn, opts: RoundOpts = {}): void {
  const per = (opts.ackSegs ?? 1) * c.mss;
  const limited = opts.limited ?? true;
  const flight = c.cwnd;
  const n = Math.ceil(flight / per);
  let left = flight;
  for (let i = 0; i < n; i++) {
    const a = Math.min(left, per);
    left -= a;
    c.flightSize = left;
    c.now += c.srtt / n;
    cc.onAck(c, a, limited);
  }
}

function rounds(cc: CongestionControl, c: Conn, k: number, opts: RoundOpts = {}): void {
  for (let i = 0; i < k; i++) round(cc, c, opts);
}

/** A fast-retransmit loss with the whole window in flight, and recovery one RTT later. */
function loss(cc: CongestionControl, c: Conn): void {
  c.flightSize = c.cwnd;
  cc.onEnterRecovery(c);
  c.now += c.srtt;
  c.flightSize = 0;
  cc.onExitRecovery(c);
}

const segs = (c: Conn): number => c.cwnd / c.mss;
const cubic = (cc: CongestionControl): CubicCongestionControl => {
  if (!(cc instanceof CubicCongestionControl)) throw new Error('not cubic');
  return cc;
};

describe('registry', () => {
  test('lists reno and cubic', () => {
    expect([...CONGESTION_ALGORITHMS]).toEqual(['reno', 'cubic']);
    expect(Object.isFrozen(CONGESTION_ALGORITHMS)).toBe(true);
  });

  test('every call returns a fresh controller of the named algorithm', () => {
    for (const name of CONGESTION_ALGORITHMS) {
      const a = createCongestionControl(name);
      const b = createCongestionControl(name);
      expect(a.name).toBe(name);
      expect(b.name).toBe(name);
      expect(a).not.toBe(b);
    }
    expect(createCongestionControl('reno')).toBeInstanceOf(RenoCongestionControl);
    expect(createCongestionControl('cubic')).toBeInstanceOf(CubicCongestionControl);
  });

  test('controllers keep per-connection state apart', () => {
    const a = setup('cubic');
    const b = setup('cubic');
    a.c.cwnd = 100 * a.c.mss;
    loss(a.cc, a.c);
    expect(cubic(a.cc).wMaxSegments).toBe(100);
    expect(cubic(b.cc).wMaxSegments).toBe(0);
    expect(b.c.cwnd).toBe(14600);
  });

  test('rejects unknown names and bad options with RangeError', () => {
    for (const name of ['vegas', 'bbr', '', 'CUBIC', 'Reno', 'newreno ']) {
      expect(() => createCongestionControl(name)).toThrow(RangeError);
    }
    for (const n of [0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createCongestionControl('reno', { initialWindowSegments: n })).toThrow(RangeError);
      expect(() => createCongestionControl('cubic', { initialWindowSegments: n })).toThrow(RangeError);
    }
    expect(createCongestionControl('cubic', {}).name).toBe('cubic');
  });
});

describe('initial window (RFC 6928, RFC 3390)', () => {
  test('min(10*MSS, max(2*MSS, 14600)) for the default 10 segments', () => {
    expect(initialWindow(536)).toBe(5360); // 10 segments
    expect(initialWindow(1460)).toBe(14600); // 10 segments
    expect(initialWindow(8960)).toBe(17920); // jumbo frames: 2 segments
    expect(initialWindow(4000)).toBe(14600); // 3.65 segments worth of bytes
  });

  test('smaller and larger configured counts', () => {
    // RFC 3390 / RFC 5681 §3.1: min(4*MSS, max(2*MSS, 4380)).
    expect(initialWindow(536, 4)).toBe(2144); // 4 segments
    expect(initialWindow(1460, 4)).toBe(4380); // 3 segments
    expect(initialWindow(2190, 4)).toBe(4380); // 2 segments
    expect(initialWindow(8960, 4)).toBe(17920); // 2 segments
    expect(initialWindow(1460, 3)).toBe(4380);
    expect(initialWindow(1460, 2)).toBe(2920);
    expect(initialWindow(8960, 1)).toBe(8960);
    expect(initialWindow(1460, 5)).toBe(7300);
    expect(initialWindow(1460, 20)).toBe(29200);
    expect(initialWindow(9000, 20)).toBe(29200);
  });

  test.each(CONGESTION_ALGORITHMS.map((n) => [n]))('%s: init sets IW and an "infinite" ssthresh', (name) => {
    for (const [mss, iw] of [
      [536, 5360],
      [1460, 14600],
      [8960, 17920],
    ] as const) {
      const { c } = setup(name, mss);
      expect(c.cwnd).toBe(iw);
      expect(c.ssthresh).toBe(SSTHRESH_INFINITE);
      expect(SSTHRESH_INFINITE).toBe(0x7fffffff);
      expect(c.cwnd < c.ssthresh).toBe(true);
    }
    const cc = createCongestionControl(name, { initialWindowSegments: 4 });
    const c = conn(1460);
    cc.init(c);
    expect(c.cwnd).toBe(4380);
  });
});

describe.each(CONGESTION_ALGORITHMS.map((n) => [n]))('%s: common window rules', (name) => {
  test('slow start doubles cwnd every RTT', () => {
    const { cc, c } = setup(name);
    const seen: number[] = [segs(c)];
    for (let i = 0; i < 5; i++) {
      round(cc, c);
      seen.push(segs(c));
    }
    expect(seen).toEqual([10, 20, 40, 80, 160, 320]);
  });

  test('slow start with delayed ACKs (one per 2 segments) still doubles: ABC, L = 2*SMSS', () => {
    const { cc, c } = setup(name);
    rounds(cc, c, 3, { ackSegs: 2 });
    expect(segs(c)).toBe(80);
  });

  test('ABC caps growth per ACK at 2*SMSS: a stretch ACK of 10 segments', () => {
    const { cc, c } = setup(name);
    const before = c.cwnd;
    c.now += 100;
    cc.onAck(c, 10 * c.mss, true);
    expect(c.cwnd - before).toBe(2 * c.mss);
    cc.onAck(c, c.mss, true);
    expect(c.cwnd - before).toBe(3 * c.mss);
    cc.onAck(c, 100, true); // a small ACK counts its bytes
    expect(c.cwnd - before).toBe(3 * c.mss + 100);
    cc.onAck(c, 0, true);
    expect(c.cwnd - before).toBe(3 * c.mss + 100);
  });

  test('slow start stops at ssthresh', () => {
    const { cc, c } = setup(name);
    c.ssthresh = 15 * c.mss;
    round(cc, c);
    expect(c.cwnd).toBeGreaterThanOrEqual(15 * c.mss);
    expect(c.cwnd).toBeLessThan(16 * c.mss);
  });

  test('no growth when not cwnd-limited, in slow start or congestion avoidance', () => {
    const { cc, c } = setup(name);
    rounds(cc, c, 10, { limited: false });
    expect(c.cwnd).toBe(14600);
    c.cwnd = 50 * c.mss;
    loss(cc, c);
    const after = c.cwnd;
    rounds(cc, c, 20, { limited: false });
    expect(c.cwnd).toBe(after);
    round(cc, c); // and growth resumes when the window is full again
    expect(c.cwnd).toBeGreaterThan(after);
  });

  const factor = name === 'cubic' ? CUBIC_BETA : 0.5;

  test(`loss: ssthresh = max(flight * ${factor}, 2*SMSS), cwnd = ssthresh, and again on exit`, () => {
    const { cc, c } = setup(name);
    c.cwnd = 40 * c.mss;
    c.flightSize = 40 * c.mss;
    cc.onEnterRecovery(c);
    expect(c.ssthresh).toBe(Math.floor(40 * c.mss * factor));
    expect(c.cwnd).toBe(c.ssthresh);
    c.cwnd = c.ssthresh + 3 * c.mss + 7 * c.mss; // the engine inflates during NewReno recovery
    cc.onExitRecovery(c);
    expect(c.cwnd).toBe(c.ssthresh);

    // FlightSize, not cwnd, sets ssthresh (RFC 5681 eq. 4).
    const b = setup(name);
    b.c.cwnd = 40 * b.c.mss;
    b.c.flightSize = 20 * b.c.mss;
    b.cc.onEnterRecovery(b.c);
    expect(b.c.ssthresh).toBe(Math.floor(20 * b.c.mss * factor));

    // Floor of 2*SMSS.
    const d = setup(name);
    d.c.cwnd = 2 * d.c.mss;
    d.c.flightSize = 2 * d.c.mss;
    d.cc.onEnterRecovery(d.c);
    expect(d.c.ssthresh).toBe(2 * d.c.mss);
    expect(d.c.cwnd).toBe(2 * d.c.mss);
  });

  test('RTO: cwnd = 1 SMSS, ssthresh from FlightSize; slow start after it uses L = 1*SMSS', () => {
    const { cc, c } = setup(name);
    rounds(cc, c, 3); // 80 segments
    c.flightSize = c.cwnd;
    cc.onRto(c);
    expect(c.cwnd).toBe(c.mss);
    expect(c.ssthresh).toBe(Math.max(Math.floor(80 * c.mss * factor), 2 * c.mss));
    c.flightSize = 0;
    // A stretch ACK right after the timeout grows cwnd by one SMSS only.
    c.now += 100;
    cc.onAck(c, 4 * c.mss, true);
    expect(c.cwnd).toBe(2 * c.mss);
    // Delayed ACKs: +1 SMSS per ACK, so 1.5x per RTT rather than 2x.
    round(cc, c, { ackSegs: 2 });
    expect(c.cwnd).toBe(3 * c.mss);
    round(cc, c, { ackSegs: 2 });
    expect(c.cwnd).toBe(5 * c.mss);
    // Once slow start is over, a later loss and slow start use L = 2*SMSS again.
    const e = setup(name);
    e.c.flightSize = 40 * e.c.mss;
    e.cc.onRto(e.c);
    rounds(e.cc, e.c, 12);
    expect(e.c.cwnd).toBeGreaterThanOrEqual(e.c.ssthresh);
    e.c.ssthresh = SSTHRESH_INFINITE; // pretend a fresh slow start (the engine never does this; it isolates L)
    const before = e.c.cwnd;
    e.cc.onAck(e.c, 10 * e.c.mss, true);
    expect(e.c.cwnd - before).toBe(2 * e.c.mss);
  });

  test('idle restart clamps cwnd to the restart window IW, never raises it', () => {
    const { cc, c } = setup(name);
    rounds(cc, c, 3);
    expect(segs(c)).toBe(80);
    const ssthresh = c.ssthresh;
    c.now += 10_000;
    cc.onIdleRestart(c);
    expect(c.cwnd).toBe(14600);
    expect(c.ssthresh).toBe(ssthresh);
    const s = setup(name);
    s.c.cwnd = 4 * s.c.mss;
    s.cc.onIdleRestart(s.c);
    expect(s.c.cwnd).toBe(4 * s.c.mss);
    const j = setup(name, 8960);
    rounds(j.cc, j.c, 2);
    j.cc.onIdleRestart(j.c);
    expect(j.c.cwnd).toBe(17920);
  });

  test('cwnd stays a whole number of bytes', () => {
    const { cc, c } = setup(name, 1448, 37);
    rounds(cc, c, 4);
    loss(cc, c);
    for (let i = 0; i < 40; i++) {
      round(cc, c, { ackSegs: i % 3 === 0 ? 2 : 1 });
      expect(Number.isInteger(c.cwnd)).toBe(true);
    }
    c.flightSize = c.cwnd - 999;
    cc.onEnterRecovery(c);
    expect(Number.isInteger(c.ssthresh)).toBe(true);
    expect(Number.isInteger(c.cwnd)).toBe(true);
  });
});

describe('reno', () => {
  test('congestion avoidance adds one SMSS per RTT (byte counting)', () => {
    const { cc, c } = setup('reno');
    c.cwnd = 40 * c.mss;
    loss(cc, c);
    expect(segs(c)).toBe(20);
    const trace: number[] = [];
    for (let i = 0; i < 30; i++) {
      round(cc, c);
      trace.push(segs(c));
    }
    expect(trace.slice(0, 5)).toEqual([21, 22, 23, 24, 25]);
    expect(segs(c)).toBe(50);
  });

  test('congestion avoidance with delayed ACKs still grows ~1 SMSS per RTT', () => {
    const { cc, c } = setup('reno');
    c.cwnd = 40 * c.mss;
    loss(cc, c);
    rounds(cc, c, 30, { ackSegs: 2 });
    expect(segs(c)).toBeGreaterThanOrEqual(49);
    expect(segs(c)).toBeLessThanOrEqual(51);
  });

  test('a stretch ACK in congestion avoidance adds at most one SMSS', () => {
    const { cc, c } = setup('reno');
    c.cwnd = 40 * c.mss;
    loss(cc, c);
    cc.onAck(c, 20 * c.mss, true);
    expect(segs(c)).toBe(21);
  });

  test('after an RTO: slow start to ssthresh, then linear growth', () => {
    const { cc, c } = setup('reno');
    c.cwnd = 64 * c.mss;
    c.flightSize = c.cwnd;
    cc.onRto(c);
    expect(c.ssthresh).toBe(32 * c.mss);
    const trace: number[] = [];
    for (let i = 0; i < 9; i++) {
      round(cc, c);
      trace.push(segs(c));
    }
    expect(trace).toEqual([2, 4, 8, 16, 32, 33, 34, 35, 36]);
  });
});

describe('cubic (RFC 9438)', () => {
  const C = 0.4;

  test('constants: beta 0.7, C 0.4, alpha = 3(1 - beta)/(1 + beta)', () => {
    expect(CUBIC_BETA).toBe(0.7);
    expect(CUBIC_ALPHA).toBeCloseTo(0.9 / 1.7, 12);
  });

  test('a loss multiplies the window by beta = 0.7 and records W_max and cwnd_prior', () => {
    const { cc, c } = setup('cubic');
    c.cwnd = 100 * c.mss;
    c.flightSize = c.cwnd;
    cc.onEnterRecovery(c);
    expect(c.ssthresh).toBe(70 * c.mss);
    expect(c.cwnd).toBe(70 * c.mss);
    expect(cubic(cc).wMaxSegments).toBe(100);
    expect(cubic(cc).cwndPriorSegments).toBe(100);
    expect(cubic(cc).epochStartMs).toBe(-1);
  });

  test('K = cbrt(W_max * (1 - beta) / C), checked against hand-computed values', () => {
    // W_max = 100: K = cbrt(30 / 0.4) = cbrt(75) = 4.2172 s (4.2172^3 = 75.00).
    // W_max = 1000: K = cbrt(300 / 0.4) = cbrt(750) = 9.0856 s (9.0856^3 = 750.00).
    for (const [w, k] of [
      [100, 4.2172],
      [1000, 9.0856],
    ] as const) {
      const { cc, c } = setup('cubic', 1000);
      c.cwnd = w * c.mss;
      loss(cc, c);
      c.now += 1;
      cc.onAck(c, c.mss, true); // the first ACK in congestion avoidance starts the epoch
      expect(cubic(cc).epochStartMs).toBe(c.now);
      expect(cubic(cc).kSeconds).toBeCloseTo(k, 3);
      expect(k ** 3).toBeCloseTo((w * 0.3) / C, 1);
    }
  });

  test('after a loss at W_max, cwnd follows the cubic curve: concave, back to W_max at t = K, then convex', () => {
    const mss = 1000;
    const { cc, c } = setup('cubic', mss, 100);
    c.cwnd = 1000 * mss;
    loss(cc, c);
    const K = 9.0856; // hand-computed, see above
    const curve = (t: number): number => C * (t - K) ** 3 + 1000;
    const ts: number[] = [];
    const ws: number[] = [];
    for (let i = 0; i < 130; i++) {
      round(cc, c);
      const t = (c.now - cubic(cc).epochStartMs) / 1000;
      ts.push(t);
      ws.push(segs(c));
      expect(Math.abs(segs(c) - curve(t))).toBeLessThan(1); // tracks W_cubic(t) within a segment
    }
    // At t = K the window is back at W_max; half way there it is still well below.
    const atK = ts.findIndex((t) => t >= K);
    expect(Math.abs(ws[atK]! - 1000)).toBeLessThan(0.5);
    const atHalfK = ts.findIndex((t) => t >= K / 2);
    expect(ws[atHalfK]!).toBeLessThan(970);
    expect(ws[atHalfK]!).toBeGreaterThan(950);
    // Concave before K: growth per RTT shrinks; convex after K: growth per RTT rises.
    const inc = ws.map((w, i) => w - (i === 0 ? 700 : ws[i - 1]!));
    for (let i = 1; ts[i]! < K - 1; i++) {
      expect(inc[i]!).toBeGreaterThan(0);
      expect(inc[i]!).toBeLessThan(inc[i - 1]!);
    }
    for (let i = ts.findIndex((t) => t > K + 1); i < ts.length; i++) {
      expect(inc[i]!).toBeGreaterThan(inc[i - 1]!);
    }
    expect(ws[ws.length - 1]!).toBeGreaterThan(1010);
    // The Reno-friendly estimate stayed below the curve here (large RTT x W).
    expect(cubic(cc).wEstSegments).toBeLessThan(curve(ts[ts.length - 1]!));
  });

  test('fast convergence: a loss below the previous W_max lowers W_max to cwnd * (1 + beta) / 2', () => {
    const mss = 1000;
    const { cc, c } = setup('cubic', mss, 100);
    c.cwnd = 1000 * mss;
    loss(cc, c);
    rounds(cc, c, 20);
    const w2 = segs(c);
    expect(w2).toBeLessThan(1000);
    c.flightSize = c.cwnd;
    cc.onEnterRecovery(c);
    expect(cubic(cc).wMaxSegments).toBeCloseTo((w2 * 1.7) / 2, 9);
    expect(cubic(cc).cwndPriorSegments).toBeCloseTo(w2, 9);
    expect(c.ssthresh).toBe(Math.floor(w2 * mss * 0.7));
    c.now += 100;
    cc.onExitRecovery(c);
    const wMax = (w2 * 1.7) / 2;
    const epochCwnd = c.cwnd / mss;
    round(cc, c);
    expect(cubic(cc).kSeconds).toBeCloseTo(Math.cbrt((wMax - epochCwnd) / C), 9);
    // The plateau is the lowered W_max, below the cwnd at the loss.
    const k = cubic(cc).kSeconds;
    while ((c.now - cubic(cc).epochStartMs) / 1000 < k) round(cc, c);
    expect(Math.abs(segs(c) - wMax)).toBeLessThan(1);
    expect(segs(c)).toBeLessThan(w2);

    // A loss above the previous W_max records cwnd itself.
    rounds(cc, c, 40);
    const w3 = segs(c);
    expect(w3).toBeGreaterThan(wMax);
    c.flightSize = c.cwnd;
    cc.onEnterRecovery(c);
    expect(cubic(cc).wMaxSegments).toBeCloseTo(w3, 9);
  });

  test('Reno-friendly region dominates at small RTT x W, keeping pace with Reno', () => {
    const run = (name: string): { c: Conn; cc: CongestionControl; trace: number[] } => {
      const { cc, c } = setup(name, 1460, 10);
      c.cwnd = 20 * c.mss;
      loss(cc, c);
      const trace: number[] = [segs(c)];
      for (let i = 0; i < 100; i++) {
        round(cc, c);
        trace.push(segs(c));
      }
      return { c, cc, trace };
    };
    const r = run('reno');
    const q = run('cubic');
    expect(r.trace[0]).toBe(10);
    expect(q.trace[0]).toBe(14);
    // The pure cubic curve would still be below W_max = 20 after one second
    // (K = cbrt(15) = 2.466 s), yet CUBIC is at ~5x that, like Reno.
    const k = cubic(q.cc).kSeconds;
    expect(k).toBeCloseTo(Math.cbrt(15), 9);
    const t = (q.c.now - cubic(q.cc).epochStartMs) / 1000;
    expect(C * (t - k) ** 3 + 20).toBeLessThan(20);
    expect(q.trace[100]!).toBeGreaterThan(100);
    expect(q.trace[100]! / r.trace[100]!).toBeGreaterThan(0.9);
    expect(q.trace[100]! / r.trace[100]!).toBeLessThan(1.1);
    // alpha_cubic (0.53 segments per RTT) until W_est reaches cwnd_prior = 20, then 1 per RTT.
    expect((q.trace[10]! - q.trace[0]!) / 10).toBeCloseTo(CUBIC_ALPHA, 1);
    expect((q.trace[100]! - q.trace[50]!) / 50).toBeCloseTo(1, 1);
    expect(segs(q.c)).toBeCloseTo(cubic(q.cc).wEstSegments, 2);
  });

  test('the target looks one RTT ahead: srtt, else minRtt, else 100 ms', () => {
    const mss = 1000;
    const firstAckGrowth = (srtt: number, minRtt: number): number => {
      const { cc, c } = setup('cubic', mss);
      c.cwnd = 100 * mss;
      loss(cc, c);
      c.srtt = srtt;
      c.minRtt = minRtt;
      const before = c.cwnd;
      cc.onAck(c, mss, true); // t = 0 at this ACK
      return (c.cwnd - before) / mss;
    };
    const K = Math.cbrt(75);
    const expected = (rttS: number): number => (C * (rttS - K) ** 3 + 100 - 70) / 70; // (target - cwnd) / cwnd
    expect(firstAckGrowth(200, 50)).toBeCloseTo(expected(0.2), 2);
    expect(firstAckGrowth(0, 50)).toBeCloseTo(expected(0.05), 2);
    expect(firstAckGrowth(0, 0)).toBeCloseTo(expected(0.1), 2);
  });

  test('growth per RTT is bounded by the 1.5x target clamp', () => {
    const mss = 1000;
    const { cc, c } = setup('cubic', mss, 100);
    c.cwnd = 10 * mss;
    loss(cc, c); // cwnd 7, W_max 10
    rounds(cc, c, 5);
    c.now += 60_000; // far along the curve if this time counted (it does: the flow stayed cwnd-limited)
    let prev = segs(c);
    for (let i = 0; i < 5; i++) {
      round(cc, c);
      expect(segs(c)).toBeLessThanOrEqual(prev * 1.5 + 1 / mss); // + the carried sub-byte remainder
      prev = segs(c);
    }
  });

  test('RTO: cwnd = 1 SMSS, ssthresh from beta, then K = 0 and W_max = cwnd at the start of congestion avoidance', () => {
    const mss = 1000;
    const { cc, c } = setup('cubic', mss, 100);
    c.cwnd = 100 * mss;
    loss(cc, c);
    rounds(cc, c, 5);
    const wAtRto = segs(c);
    c.flightSize = c.cwnd;
    cc.onRto(c);
    expect(c.cwnd).toBe(mss);
    expect(c.ssthresh).toBe(Math.floor(wAtRto * mss * 0.7));
    expect(cubic(cc).epochStartMs).toBe(-1);
    expect(cubic(cc).cwndPriorSegments).toBeCloseTo(wAtRto, 9);
    c.flightSize = 0;
    while (c.cwnd < c.ssthresh) round(cc, c);
    expect(c.cwnd).toBeLessThan(c.ssthresh + mss); // slow start ended at ssthresh
    round(cc, c);
    expect(cubic(cc).kSeconds).toBe(0);
    const wMax = cubic(cc).wMaxSegments;
    expect(wMax).toBeCloseTo(c.ssthresh / mss, 6);
    // From W_max with K = 0 the curve is convex from the start: W_cubic(t) =
    // W_max + 0.4 t^3. Early on the Reno-friendly W_est (alpha ~0.53 per RTT,
    // since W_est < cwnd_prior) is ahead; from t ~ 3.6 s the cubic term
    // takes over and the growth per RTT keeps rising.
    const incs: number[] = [];
    let prev = segs(c);
    for (let i = 0; i < 70; i++) {
      round(cc, c);
      incs.push(segs(c) - prev);
      prev = segs(c);
      const t = (c.now - cubic(cc).epochStartMs) / 1000;
      const expected = Math.max(wMax + C * t ** 3, cubic(cc).wEstSegments);
      expect(Math.abs(segs(c) - expected)).toBeLessThan(1.5);
    }
    for (const inc of incs.slice(0, 30)) expect(inc).toBeCloseTo(CUBIC_ALPHA, 1);
    for (let i = 45; i < incs.length; i++) expect(incs[i]!).toBeGreaterThan(incs[i - 1]!);
    expect(incs[incs.length - 1]!).toBeGreaterThan(4);
  });

  test('idle restart: cwnd clamps to IW and the epoch start moves by the idle time, so the curve does not jump', () => {
    const mss = 1000;
    const { cc, c } = setup('cubic', mss, 100);
    c.cwnd = 100 * mss;
    loss(cc, c);
    rounds(cc, c, 10);
    const epoch = cubic(cc).epochStartMs;
    const tBefore = (c.now - epoch) / 1000;
    const wBefore = segs(c);
    c.flightSize = 0;
    c.now += 10_000; // idle for 10 s
    cc.onIdleRestart(c);
    expect(cubic(cc).epochStartMs).toBe(epoch + 10_000);
    expect((c.now - cubic(cc).epochStartMs) / 1000).toBeCloseTo(tBefore, 9);
    expect(c.cwnd).toBe(10 * mss);
    expect(cubic(cc).wEstSegments).toBeLessThanOrEqual(10);
    // Slow start back to ssthresh, then congestion avoidance on the old curve:
    // still below W_max = 100 (t ~ 1.6 s << K = 4.2 s), not 1.5x per RTT.
    while (c.cwnd < c.ssthresh) round(cc, c);
    rounds(cc, c, 4);
    expect(segs(c)).toBeGreaterThan(wBefore - 1);
    expect(segs(c)).toBeLessThan(100);
    const t = (c.now - cubic(cc).epochStartMs) / 1000;
    expect(t).toBeLessThan(tBefore + 1);
  });

  test('application-limited time does not advance t (RFC 9438 §5.8)', () => {
    const mss = 1000;
    const a = setup('cubic', mss, 100);
    const b = setup('cubic', mss, 100);
    for (const { cc, c } of [a, b]) {
      c.cwnd = 100 * mss;
      loss(cc, c);
      rounds(cc, c, 5);
    }
    // b is application-limited for 30 rounds: no growth, and the clock of the curve stands still.
    const w = b.c.cwnd;
    const tB = (b.c.now - cubic(b.cc).epochStartMs) / 1000;
    rounds(b.cc, b.c, 30, { limited: false });
    expect(b.c.cwnd).toBe(w);
    expect((b.c.now - cubic(b.cc).epochStartMs) / 1000).toBeCloseTo(tB, 9);
    // Afterwards both follow the same curve.
    rounds(a.cc, a.c, 10);
    rounds(b.cc, b.c, 10);
    expect(Math.abs(segs(a.c) - segs(b.c))).toBeLessThan(0.5);
  });

  test('a short pause (no idle restart) after application-limited ACKs is not counted in t either', () => {
    const mss = 1000;
    const { cc, c } = setup('cubic', mss, 100);
    c.cwnd = 100 * mss;
    loss(cc, c);
    rounds(cc, c, 5);
    const tBefore = (c.now - cubic(cc).epochStartMs) / 1000;
    round(cc, c, { limited: false }); // the application stops writing; the window drains
    c.now += 2_000; // silence shorter than an RTO: the engine does not call onIdleRestart
    round(cc, c); // a burst fills the window again
    const t = (c.now - cubic(cc).epochStartMs) / 1000;
    expect(t).toBeGreaterThan(tBefore);
    expect(t).toBeLessThan(tBefore + 0.1 + 1e-9); // only the last, cwnd-limited round counts
  });

  test('per-connection state is reset by init', () => {
    const { cc, c } = setup('cubic');
    c.cwnd = 100 * c.mss;
    loss(cc, c);
    rounds(cc, c, 3);
    cc.init(c);
    expect(cubic(cc).wMaxSegments).toBe(0);
    expect(cubic(cc).epochStartMs).toBe(-1);
    expect(c.cwnd).toBe(14600);
    expect(c.ssthresh).toBe(SSTHRESH_INFINITE);
  });
});

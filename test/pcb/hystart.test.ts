// HyStart++ (RFC 9406, src/pcb/hystart.ts) inside both controllers, driven
// by a fake ACK clock: every ACK may carry an RTT sample (onRttSample, then
// onAck with SND.UNA already advanced, as input.ts does), and after each ACK
// the sender fills cwnd again, moving SND.NXT. Rounds are HyStart++'s own
// (SND.UNA reaching the SND.NXT of the round's start). No wall time.
import { describe, expect, test } from 'vitest';
import { CubicCongestionControl } from '../../src/pcb/cc-cubic.ts';
import { RenoCongestionControl } from '../../src/pcb/cc-reno.ts';
import { type CcOptions, type CcState, type CongestionControl, SSTHRESH_INFINITE, createCongestionControl } from '../../src/pcb/congestion.ts';
import { HYSTART_CSS_ROUNDS, HYSTART_N_RTT_SAMPLE, type HyStart, type HyStartCounters, HyStartPhase, rttThresh } from '../../src/pcb/hystart.ts';
import { seqAdd, seqDiff, seqLt } from '../../src/pcb/seq.ts';
import { scriptedPeer } from '../support/tcp.ts';

type Conn = { -readonly [K in keyof CcState]: CcState[K] };
const MSS = 1000;

interface T {
  cc: CongestionControl;
  c: Conn;
  hs: HyStart;
  counters: HyStartCounters;
}

function setup(name: string, opts: CcOptions = {}): T {
  const counters: HyStartCounters = { hystartCssEntered: 0, hystartCssResumed: 0, hystartDelayDetect: 0, hystartDelayCwnd: 0 };
  const cc = createCongestionControl(name, { hystart: true, counters, ...opts });
  // Sequence numbers about to wrap: rounds must compare modulo 2^32.
  const c: Conn = { cwnd: 0, ssthresh: 0, mss: MSS, flightSize: 0, now: 50_000, srtt: 0, minRtt: 0, sndUna: 0xffff_f000, sndNxt: 0xffff_f000 };
  cc.init(c);
  c.sndNxt = seqAdd(c.sndUna, c.cwnd); // the initial window leaves
  const hs = (cc as RenoCongestionControl | CubicCongestionControl).hystart!;
  return { cc, c, hs, counters };
}

/** One ACK of up to `segs` segments, after its RTT sample (none if undefined); then the sender fills cwnd again. */
function ack(t: T, rtt: number | undefined, segs = 2): number {
  const { cc, c } = t;
  if (rtt !== undefined) cc.onRttSample!(c, rtt);
  const n = Math.min(segs * c.mss, seqDiff(c.sndNxt, c.sndUna));
  c.sndUna = seqAdd(c.sndUna, n);
  c.flightSize = seqDiff(c.sndNxt, c.sndUna);
  c.now += 1;
  cc.onAck(c, n, true);
  if (seqDiff(c.sndNxt, c.sndUna) < c.cwnd) c.sndNxt = seqAdd(c.sndUna, c.cwnd);
  return n;
}

/** ACKs (2 segments each) until the current round ends; `rtt(i)` is the sample of the round's i-th ACK. Returns the ACK count. */
function round(t: T, rtt: (i: number) => number | undefined): number {
  const end = t.hs.roundEnd;
  let i = 0;
  do ack(t, rtt(i++));
  while (seqLt(t.c.sndUna, end));
  return i;
}

const flat = (ms: number) => (): number => ms;

/** Slow start at a 20 ms base RTT until a round has at least 8 ACKs (RttThresh = 4 ms from then on). */
function warmUp(t: T): void {
  while (round(t, flat(20)) < 2 * HYSTART_N_RTT_SAMPLE);
  expect(t.hs.phase).toBe(HyStartPhase.SS);
  expect(t.hs.lastRoundMinRttMs).toBe(20);
}

/** Enter CSS in a round whose samples are all `ms` (>= 24 at a 20 ms base), ending that round. */
function enterCss(t: T, ms = 24): void {
  warmUp(t);
  round(t, flat(ms));
  expect(t.hs.phase).toBe(HyStartPhase.CSS);
}

test('RttThresh = lastRoundMinRTT / 8, clamped to 4..16 ms', () => {
  expect(rttThresh(20)).toBe(4);
  expect(rttThresh(32)).toBe(4);
  expect(rttThresh(80)).toBe(10);
  expect(rttThresh(128)).toBe(16);
  expect(rttThresh(1000)).toBe(16);
});

describe.each(['reno', 'cubic'])('%s with HyStart++', (name) => {
  test('rounds end when SND.UNA reaches the SND.NXT of their start; each keeps its minimum RTT', () => {
    const t = setup(name);
    expect(t.hs.phase).toBe(HyStartPhase.SS);
    const iwEnd = t.c.sndNxt;
    // Round 0 began at the handshake with nothing in flight: the first ACK
    // ends it, and round 1 ends with the initial window (SND.NXT then).
    expect(round(t, flat(30))).toBe(1);
    expect(t.hs.roundEnd).toBe(iwEnd);
    expect(t.hs.lastRoundMinRttMs).toBe(30);
    const samples = [25, 21, 27, 22];
    expect(round(t, (i) => samples[i])).toBe(4); // the rest of the initial window: 8 segments, 4 ACKs
    expect(t.hs.lastRoundMinRttMs).toBe(21);
    expect(t.hs.currentRoundMinRttMs).toBe(Infinity);
  });

  test('slow start: one ACK adds min(N, L * SMSS) with L = 8 (RFC 9406), not ABC\'s 2', () => {
    /** A stretch ACK needs that much in flight. */
    const sendMore = (u: T): void => {
      u.c.sndNxt = seqAdd(u.c.sndUna, 30 * MSS);
    };
    const t = setup(name);
    const before = t.c.cwnd;
    sendMore(t);
    ack(t, 20, 20);
    expect(t.c.cwnd).toBe(before + 8 * MSS);
    ack(t, 20, 2);
    expect(t.c.cwnd).toBe(before + 10 * MSS);
    // A paced sender passes L = Infinity; without HyStart++ plain ABC (L = 2) applies.
    const paced = setup(name, { hystartLimitSegments: Infinity });
    sendMore(paced);
    ack(paced, 20, 20);
    expect(paced.c.cwnd).toBe(before + 20 * MSS);
    const plain = setup(name, { hystart: false });
    expect((plain.cc as RenoCongestionControl | CubicCongestionControl).hystart).toBeNull();
    expect(() => createCongestionControl(name, { hystart: true, hystartLimitSegments: 0 })).toThrow(RangeError);
  });

  test('a delay increase of RttThresh (after 8 samples) enters CSS, where growth is a quarter', () => {
    const t = setup(name);
    warmUp(t);
    // 23.9 ms is below 20 + 4: a whole round of it changes nothing.
    round(t, flat(23.9));
    expect(t.hs.phase).toBe(HyStartPhase.SS);
    expect(t.counters.hystartCssEntered).toBe(0);
    // Now the base is 23.9 (threshold 4): 28 ms on every ACK, CSS at the 8th sample.
    for (let i = 1; i < HYSTART_N_RTT_SAMPLE; i++) ack(t, 28);
    expect(t.hs.phase).toBe(HyStartPhase.SS);
    ack(t, 28);
    expect(t.hs.phase).toBe(HyStartPhase.CSS);
    expect(t.counters.hystartCssEntered).toBe(1);
    expect(t.hs.cssEntered).toBe(1);
    const before = t.c.cwnd;
    ack(t, 28, 2);
    expect(t.c.cwnd).toBe(before + (2 * MSS) / 4); // CSS_GROWTH_DIVISOR
    ack(t, 28, 20);
    expect(t.c.cwnd).toBe(before + (2 * MSS) / 4 + (8 * MSS) / 4); // min(N, L*SMSS) / 4
    expect(t.c.ssthresh).toBe(SSTHRESH_INFINITE);
  });

  test('fewer than N_RTT_SAMPLE (8) samples in a round: no decision, however high they are', () => {
    const t = setup(name);
    warmUp(t);
    const acks = round(t, (i) => (i < HYSTART_N_RTT_SAMPLE - 1 ? 60 : undefined));
    expect(acks).toBeGreaterThan(HYSTART_N_RTT_SAMPLE);
    expect(t.hs.phase).toBe(HyStartPhase.SS);
    expect(t.counters.hystartCssEntered).toBe(0);
    // The same round with an 8th sample decides.
    const u = setup(name);
    warmUp(u);
    round(u, (i) => (i < HYSTART_N_RTT_SAMPLE ? 60 : undefined));
    expect(u.hs.phase).toBe(HyStartPhase.CSS);
  });

  test('a CSS round whose minimum RTT falls below the CSS baseline resumes slow start', () => {
    const t = setup(name);
    warmUp(t);
    // Entry round: 8 samples of 26 set the baseline; a lower sample later in
    // that same partial round does not bounce back (it is its own minimum).
    round(t, (i) => (i < HYSTART_N_RTT_SAMPLE ? 26 : 25));
    expect(t.hs.phase).toBe(HyStartPhase.CSS);
    // The first full CSS round at 25 < 26: back to slow start at its 8th sample.
    for (let i = 1; i < HYSTART_N_RTT_SAMPLE; i++) ack(t, 25);
    expect(t.hs.phase).toBe(HyStartPhase.CSS);
    ack(t, 25);
    expect(t.hs.phase).toBe(HyStartPhase.SS);
    expect(t.counters.hystartCssResumed).toBe(1);
    const before = t.c.cwnd;
    ack(t, 25, 2);
    expect(t.c.cwnd).toBe(before + 2 * MSS);
  });

  test(`${HYSTART_CSS_ROUNDS} rounds of CSS (the partial entry round counts): ssthresh = cwnd, then congestion avoidance`, () => {
    const t = setup(name);
    enterCss(t); // entry round: 1
    for (let r = 2; r < HYSTART_CSS_ROUNDS; r++) {
      round(t, flat(24)); // not below the baseline (24)
      expect(t.hs.phase).toBe(HyStartPhase.CSS);
    }
    expect(t.counters.hystartDelayDetect).toBe(0);
    round(t, flat(24));
    expect(t.hs.phase).toBe(HyStartPhase.OFF);
    expect(t.c.ssthresh).toBe(t.c.cwnd);
    expect(t.hs.exitCwnd).toBe(t.c.cwnd);
    expect(t.counters).toEqual({ hystartCssEntered: 1, hystartCssResumed: 0, hystartDelayDetect: 1, hystartDelayCwnd: Math.floor(t.c.cwnd / MSS) });
    // Congestion avoidance: an ACK grows cwnd by far less than even CSS did.
    const exit = t.c.cwnd;
    ack(t, 24, 2);
    expect(t.c.cwnd - exit).toBeLessThan((2 * MSS) / 4);
    if (t.cc instanceof CubicCongestionControl) {
      // RFC 9438 §4.10: cwnd_prior = cwnd, K = 0, W_max = cwnd at the start of CA.
      expect(t.cc.cwndPriorSegments).toBe(exit / MSS);
      expect(t.cc.wMaxSegments).toBe(exit / MSS);
      expect(t.cc.kSeconds).toBe(0);
    }
  });

  test('loss during CSS: the controller\'s own response, and HyStart++ is over for the connection', () => {
    const t = setup(name);
    enterCss(t);
    const cwnd = t.c.cwnd;
    t.c.flightSize = cwnd;
    t.cc.onEnterRecovery(t.c);
    expect(t.hs.phase).toBe(HyStartPhase.OFF);
    expect(t.c.ssthresh).toBe(Math.floor(cwnd * (name === 'reno' ? 0.5 : 0.7)));
    t.cc.onExitRecovery(t.c);
    // A later delay increase is not looked at.
    for (let i = 0; i < 40; i++) ack(t, 100);
    expect(t.counters).toMatchObject({ hystartCssEntered: 1, hystartDelayDetect: 0 });
  });

  test('after an RTO: plain slow start (L = 1 SMSS, RFC 3465) up to the ssthresh it set, no HyStart++', () => {
    const t = setup(name);
    warmUp(t);
    t.c.flightSize = t.c.cwnd;
    t.cc.onRto(t.c);
    expect(t.hs.active).toBe(false);
    expect(t.c.cwnd).toBe(MSS);
    const ssthresh = t.c.ssthresh;
    ack(t, 20, 4);
    expect(t.c.cwnd).toBe(2 * MSS);
    while (t.c.cwnd < ssthresh) ack(t, 200);
    // The ACK that reached ssthresh gave its remainder to congestion avoidance.
    expect(t.c.cwnd).toBeGreaterThanOrEqual(ssthresh);
    expect(t.c.cwnd).toBeLessThan(ssthresh + MSS);
    expect(t.counters.hystartCssEntered).toBe(0);
  });

  test('application-limited ACKs end rounds and count samples but grow nothing', () => {
    const t = setup(name);
    warmUp(t);
    const before = t.c.cwnd;
    t.cc.onRttSample!(t.c, 20);
    t.c.sndUna = seqAdd(t.c.sndUna, 2 * MSS);
    t.cc.onAck(t.c, 2 * MSS, false);
    expect(t.c.cwnd).toBe(before);
  });
});

describe('TcpConfig.hystart', () => {
  test('default true: every connection\'s controller runs HyStart++; false: none; not a boolean: RangeError', () => {
    for (const [cfg, want] of [[{}, true], [{ hystart: false }, false], [{ congestion: 'reno' }, true]] as const) {
      const peer = scriptedPeer({ tcp: cfg });
      expect(peer.stack.tcp.config.hystart).toBe(want);
      const pcb = peer.raw.tcpNew()!;
      expect((pcb.cc as RenoCongestionControl | CubicCongestionControl).hystart !== null).toBe(want);
      peer.raw.tcpClose(pcb);
      peer.stack.pool.assertEmpty();
    }
    expect(() => scriptedPeer({ tcp: { hystart: 'yes' as unknown as boolean } })).toThrow(RangeError);
  });
});

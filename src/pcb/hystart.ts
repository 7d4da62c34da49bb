// HyStart++ (RFC 9406): leave the initial slow start when the round trip
// time rises, before the queue that causes it overflows. One job only: the
// state machine and the cwnd growth it allows. Reno and CUBIC own one each
// and hand it their slow-start ACKs, RTT samples and congestion events.
//
//   rounds     a round ends when SND.UNA reaches windowEnd (SND.NXT when the
//              round began); the next starts at the then SND.NXT (§4.2)
//   SS         cwnd += min(N, L*SMSS); once a round has >= N_RTT_SAMPLE
//              samples: currentRoundMinRTT >= lastRoundMinRTT + RttThresh,
//              RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms) -> CSS
//   CSS        cwnd += min(N, L*SMSS) / CSS_GROWTH_DIVISOR; a round whose
//              min RTT falls below the CSS baseline -> back to SS; after
//              CSS_ROUNDS rounds (the partial first one counts): ssthresh =
//              cwnd, congestion avoidance
//   off        loss, ECN or RTO (the controller's normal response applies),
//              or CSS completed. Only the initial slow start uses HyStart++
//              (§4.3 SHOULD): a later slow start (after an RTO) is plain
//              RFC 5681 slow start up to the ssthresh the loss set.
//
// Choices where the RFC leaves room, all deliberate:
// - The spurious-exit test (min RTT below the CSS baseline) runs on rounds
//   that began in CSS, not on the partial round that entered it: there the
//   baseline is that very round's running minimum, so the next lower sample
//   would bounce back to SS (and re-enter at once) within one round.
// - ACKs while the sender is application-limited still end rounds and
//   their RTT samples still count, but grow nothing (the controller's
//   cwnd-limited rule).
// - Times are the stack clock's milliseconds; no allocation per ACK.
import type { CcOptions, CcState } from './congestion.ts';
import { seqGeq } from './seq.ts';

/** RFC 9406 §4.3 constants. */
export const HYSTART_MIN_RTT_THRESH_MS = 4;
export const HYSTART_MAX_RTT_THRESH_MS = 16;
export const HYSTART_MIN_RTT_DIVISOR = 8;
export const HYSTART_N_RTT_SAMPLE = 8;
export const HYSTART_CSS_GROWTH_DIVISOR = 4;
export const HYSTART_CSS_ROUNDS = 5;
/** L for a sender without pacing; a paced sender passes Infinity. */
export const HYSTART_L_UNPACED = 8;

/**
 * Layer-wide event counts (Tcp.counters has these fields). Linux counts
 * the delay-based exit of its HyStart as TcpExtTCPHystartDelayDetect and
 * the cwnd there as TcpExtTCPHystartDelayCwnd; here "exit" is the end of CSS.
 */
export interface HyStartCounters {
  /** Slow start -> CSS on a delay increase (may repeat after a spurious exit). */
  hystartCssEntered: number;
  /** CSS -> slow start: the RTT fell below the CSS baseline. */
  hystartCssResumed: number;
  /** Slow starts ended by HyStart++ (CSS_ROUNDS done, ssthresh = cwnd). */
  hystartDelayDetect: number;
  /** Sum of cwnd in segments at those exits. */
  hystartDelayCwnd: number;
}

export const HyStartPhase = {
  /** Standard slow start with HyStart++'s delay check. */
  SS: 0,
  /** Conservative Slow Start. */
  CSS: 1,
  /** Not running: never started, congestion seen, or CSS done. */
  OFF: 2,
} as const;
export type HyStartPhase = (typeof HyStartPhase)[keyof typeof HyStartPhase];

/** RttThresh of §4.2 for a last-round minimum RTT (ms). */
export function rttThresh(lastRoundMinRtt: number): number {
  const t = lastRoundMinRtt / HYSTART_MIN_RTT_DIVISOR;
  return t < HYSTART_MIN_RTT_THRESH_MS ? HYSTART_MIN_RTT_THRESH_MS : t > HYSTART_MAX_RTT_THRESH_MS ? HYSTART_MAX_RTT_THRESH_MS : t;
}

export class HyStart {
  /** L: segments of one ACK that may count toward growth. */
  readonly limitSegments: number;
  private readonly counters: HyStartCounters | null;
  private _phase: HyStartPhase = HyStartPhase.OFF;
  /** SND.NXT when the current round began; the round ends when SND.UNA reaches it. */
  // Stored as int32 (a Smi, not a heap number per connection); read back as the u32.
  private _windowEnd = 0;
  private get windowEnd(): number {
    return this._windowEnd >>> 0;
  }
  private set windowEnd(v: number) {
    this._windowEnd = v | 0;
  }
  private lastRoundMinRtt = Infinity;
  private currentRoundMinRtt = Infinity;
  private rttSampleCount = 0;
  private cssBaselineMinRtt = Infinity;
  /** Rounds ended in CSS (the partial entry round included). */
  private cssRounds = 0;
  /** Sub-byte remainder of CSS growth. */
  private frac = 0;
  private _cssEntered = 0;
  private _exitCwnd = 0;

  constructor(limitSegments: number = HYSTART_L_UNPACED, counters: HyStartCounters | null = null) {
    if (!(limitSegments >= 1)) throw new RangeError(`HyStart++ L must be >= 1 (Infinity when paced), got ${String(limitSegments)}`);
    this.limitSegments = limitSegments;
    this.counters = counters;
  }

  get phase(): HyStartPhase {
    return this._phase;
  }
  /** In slow start or CSS under HyStart++'s control. */
  get active(): boolean {
    return this._phase !== HyStartPhase.OFF;
  }
  /** Times this connection entered CSS. */
  get cssEntered(): number {
    return this._cssEntered;
  }
  /** cwnd (bytes) when CSS ended slow start, 0 if it has not. */
  get exitCwnd(): number {
    return this._exitCwnd;
  }
  /** windowEnd: the round ends when SND.UNA reaches it. */
  get roundEnd(): number {
    return this.windowEnd;
  }
  get lastRoundMinRttMs(): number {
    return this.lastRoundMinRtt;
  }
  get currentRoundMinRttMs(): number {
    return this.currentRoundMinRtt;
  }

  /** The initial slow start begins (controller init): the first round starts at SND.NXT. */
  start(c: CcState): void {
    this._phase = HyStartPhase.SS;
    this.windowEnd = c.sndNxt;
    this.lastRoundMinRtt = Infinity;
    this.currentRoundMinRtt = Infinity;
    this.rttSampleCount = 0;
    this.cssBaselineMinRtt = Infinity;
    this.cssRounds = 0;
    this.frac = 0;
    this._cssEntered = 0;
    this._exitCwnd = 0;
  }

  /** Loss, ECN or RTO: the controller responds as usual and HyStart++ is done for this connection. */
  stop(): void {
    this._phase = HyStartPhase.OFF;
  }

  /** An RTT sample (ms) from the ACK about to be passed to onAck. */
  onRttSample(rttMs: number): void {
    if (this._phase === HyStartPhase.OFF) return;
    if (rttMs < this.currentRoundMinRtt) this.currentRoundMinRtt = rttMs;
    this.rttSampleCount++;
    if (this.rttSampleCount < HYSTART_N_RTT_SAMPLE) return;
    if (this._phase === HyStartPhase.SS) {
      const last = this.lastRoundMinRtt;
      if (last === Infinity || this.currentRoundMinRtt === Infinity) return;
      if (this.currentRoundMinRtt >= last + rttThresh(last)) {
        this._phase = HyStartPhase.CSS;
        this.cssBaselineMinRtt = this.currentRoundMinRtt;
        this.cssRounds = 0;
        this.frac = 0;
        this._cssEntered++;
        if (this.counters !== null) this.counters.hystartCssEntered++;
      }
    } else if (this.cssRounds > 0 && this.currentRoundMinRtt < this.cssBaselineMinRtt) {
      // The delay increase was jitter, not a queue: slow start again.
      this._phase = HyStartPhase.SS;
      this.cssBaselineMinRtt = Infinity;
      this.cssRounds = 0;
      if (this.counters !== null) this.counters.hystartCssResumed++;
    }
  }

  /**
   * A cumulative ACK of `acked` new bytes in slow start (c.sndUna already
   * advanced). Grows cwnd if `grow` (the flow is cwnd-limited), ends the
   * round if SND.UNA reached windowEnd, and after CSS_ROUNDS rounds of CSS
   * sets ssthresh = cwnd. Call only while `active`.
   */
  onAck(c: CcState, acked: number, grow: boolean): void {
    if (grow && acked > 0) {
      const cap = this.limitSegments * c.mss;
      const n = acked < cap ? acked : cap;
      if (this._phase === HyStartPhase.CSS) {
        const inc = n / HYSTART_CSS_GROWTH_DIVISOR + this.frac;
        const whole = Math.floor(inc);
        this.frac = inc - whole;
        c.cwnd += whole;
      } else {
        c.cwnd += n;
      }
      // ssthresh is still the initial "infinite" one; stay a valid integer below it.
      if (c.cwnd >= c.ssthresh) {
        c.cwnd = c.ssthresh;
        this._phase = HyStartPhase.OFF;
        return;
      }
    }
    if (!seqGeq(c.sndUna, this.windowEnd)) return;
    // The round is over.
    if (this._phase === HyStartPhase.CSS && ++this.cssRounds >= HYSTART_CSS_ROUNDS) {
      c.ssthresh = c.cwnd;
      this._phase = HyStartPhase.OFF;
      this._exitCwnd = c.cwnd;
      if (this.counters !== null) {
        this.counters.hystartDelayDetect++;
        this.counters.hystartDelayCwnd += Math.floor(c.cwnd / c.mss);
      }
      return;
    }
    this.lastRoundMinRtt = this.currentRoundMinRtt;
    this.currentRoundMinRtt = Infinity;
    this.rttSampleCount = 0;
    this.windowEnd = c.sndNxt;
  }
}

/** The HyStart++ a controller built with `opts` runs, or null when opts.hystart is not true. */
export function hystartOption(opts: CcOptions | undefined): HyStart | null {
  if (opts?.hystart !== true) return null;
  return new HyStart(opts.hystartLimitSegments ?? HYSTART_L_UNPACED, opts.counters ?? null);
}

// CUBIC congestion control, RFC 9438. Windows are bytes at the interface
// (CcState) and segments of SMSS inside, where the RFC's formulas live; time
// is seconds inside, from the stack clock's milliseconds (`c.now`).
//
//   W_cubic(t) = C * (t - K)^3 + W_max                     (§4.2, eq. 1)
//   K          = cbrt((W_max - cwnd_epoch) / C)            (§4.2, eq. 2)
//   target     = W_cubic(t + RTT), clamped to [cwnd, 1.5 * cwnd]
//   per ACK    : cwnd += (target - cwnd) / cwnd * segments_acked  (§4.4, §4.5)
//   Reno-friendly (§4.3): W_est += alpha * segments_acked / cwnd, alpha =
//     3 * (1 - beta) / (1 + beta) until W_est >= cwnd_prior, then 1; when
//     W_cubic(t) < W_est, cwnd = W_est.
//
// Choices where the RFC leaves room, all deliberate:
// - Slow start is plain RFC 5681 slow start with ABC (L = 2*SMSS, 1*SMSS after
//   an RTO), shared with Reno; with opts.hystart the initial slow start is
//   HyStart++'s (RFC 9406, hystart.ts), as RFC 9438 §4.10 allows. When CSS
//   ends it without a loss, cwnd_prior = cwnd and the first CA ACK starts an
//   epoch with K = 0 and W_max = cwnd (§4.10).
// - The epoch (t = 0) starts at the first ACK in congestion avoidance after a
//   congestion event (as Linux does), with cwnd_epoch = cwnd then.
// - RTT in the target is c.srtt, else c.minRtt, else 100 ms.
// - ssthresh on loss is max(FlightSize * beta, 2*SMSS) (§4.6 uses
//   flight_size); W_max and cwnd_prior are the cwnd before the reduction (§4.6,
//   §4.7). The cwnd used in recovery (and after it) is ssthresh.
// - K uses a signed cube root: when fast convergence or an RTO leaves W_max at
//   or below cwnd_epoch, K <= 0 and the curve starts in its convex part, still
//   with W_cubic(0) = cwnd_epoch.
// - Application-limited time does not advance t (§5.8): the time between two
//   ACKs counts only when the flow was cwnd-limited at both of them, and an
//   idle restart (onIdleRestart) shifts the epoch start forward by the idle
//   time (Linux's CA_EVENT_TX_START does the same), so the curve continues
//   where it stopped instead of jumping ahead. The restart window still
//   applies (cwnd = min(cwnd, IW)) and W_est is clamped to it; slow start then
//   climbs back to ssthresh and the 1.5x target clamp bounds any catch-up.
// - cwnd stays an integer number of bytes; the sub-byte remainder of the
//   per-ACK growth is carried over in `frac`.
import type { CcOptions, CcState, CongestionControl } from './congestion.ts';
import { CWND_MAX, SSTHRESH_INFINITE, initialWindow, iwSegmentsOption, lossSsthresh, slowStart } from './cc-reno.ts';
import { type HyStart, hystartOption } from './hystart.ts';

/** Multiplicative decrease factor, RFC 9438 §4.6. */
export const CUBIC_BETA = 0.7;
/** Scaling constant C in segments / s^3, RFC 9438 §5. */
export const CUBIC_C = 0.4;
/** Reno-friendly additive increase, 3 * (1 - beta) / (1 + beta), RFC 9438 §4.3. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);
/** RTT assumed for the target while no sample exists. */
export const CUBIC_DEFAULT_RTT_MS = 100;

/**
 * RFC 9438 CUBIC.
 *
 * | callback        | effect                                                                 |
 * |-----------------|------------------------------------------------------------------------|
 * | init            | cwnd = IW, ssthresh = SSTHRESH_INFINITE, all CUBIC state reset          |
 * | onAck (SS)      | as Reno: cwnd += min(acked, L), up to ssthresh; rest goes to CA          |
 * | onAck (HyStart++) | initial slow start only, with opts.hystart: see hystart.ts            |
 * | onAck (CA)      | start the epoch if needed; cwnd toward W_cubic(t + RTT), or W_est        |
 * | onEnterRecovery | W_max (fast convergence), cwnd_prior; ssthresh = max(0.7*flight, 2 SMSS); cwnd = ssthresh; epoch ends |
 * | onExitRecovery  | cwnd = ssthresh                                                        |
 * | onRto           | ssthresh = max(0.7*flight, 2 SMSS), cwnd = 1 SMSS; W_max reset (K = 0 at next CA) |
 * | onIdleRestart   | epoch start shifted by the idle time; cwnd = min(cwnd, IW)              |
 */
export class CubicCongestionControl implements CongestionControl {
  get name(): string {
    return 'cubic';
  }
  /** The configured initial window in segments. */
  readonly initialWindowSegments: number;

  // All in segments (float) unless noted.
  /** W_max: window before the last reduction (after fast convergence); 0 = take cwnd_epoch (§4.8). */
  private wMax = 0;
  /** cwnd_prior: cwnd when ssthresh was last set, for the alpha switch of §4.3. */
  private cwndPrior = 0;
  /** cwnd_epoch: cwnd at the start of the congestion avoidance stage. */
  private cwndEpoch = 0;
  /** K in seconds. */
  private k = 0;
  /** W_est, the Reno-friendly estimate. */
  private wEst = 0;
  /** Is an epoch running, and when it started (stack ms). */
  private epochValid = false;
  private epochStart = 0;
  /** Time of the last ACK (or event) seen, stack ms, and whether the flow was cwnd-limited then. */
  private lastAckTime = 0;
  private lastCwndLimited = true;
  /** Sub-byte remainder of cwnd growth, bytes. */
  private frac = 0;
  /** Between onEnterRecovery and onExitRecovery. */
  private inRecovery = false;
  /** Slow start after an RTO: ABC's L = 1*SMSS (see RenoCongestionControl). */
  private rtoSlowStart = false;
  /** HyStart++ for the initial slow start (null when not configured). */
  readonly hystart: HyStart | null;

  constructor(opts?: CcOptions) {
    this.initialWindowSegments = iwSegmentsOption(opts);
    this.hystart = hystartOption(opts);
  }

  // --- read-only diagnostics (tests, tcp_info-like reports) ---

  /** W_max in segments (0 until set). */
  get wMaxSegments(): number {
    return this.wMax;
  }
  /** K in seconds for the current epoch. */
  get kSeconds(): number {
    return this.k;
  }
  /** The Reno-friendly estimate W_est in segments. */
  get wEstSegments(): number {
    return this.wEst;
  }
  /** cwnd_prior in segments. */
  get cwndPriorSegments(): number {
    return this.cwndPrior;
  }
  /** Start of the current epoch in stack ms, or -1 when no epoch runs. */
  get epochStartMs(): number {
    return this.epochValid ? this.epochStart : -1;
  }

  /** W_cubic(t) in segments, t in seconds since the epoch start. */
  wCubic(t: number): number {
    const d = t - this.k;
    return CUBIC_C * d * d * d + this.wMax;
  }

  init(c: CcState): void {
    c.cwnd = initialWindow(c.mss, this.initialWindowSegments);
    c.ssthresh = SSTHRESH_INFINITE;
    this.wMax = 0;
    this.cwndPrior = 0;
    this.cwndEpoch = 0;
    this.k = 0;
    this.wEst = 0;
    this.epochValid = false;
    this.epochStart = 0;
    this.lastAckTime = c.now;
    this.lastCwndLimited = true;
    this.frac = 0;
    this.inRecovery = false;
    this.rtoSlowStart = false;
    this.hystart?.start(c);
  }

  onRttSample(_c: CcState, rttMs: number): void {
    this.hystart?.onRttSample(rttMs);
  }

  onAck(c: CcState, acked: number, isCwndLimited: boolean): void {
    const now = c.now;
    // §5.8: t must not include application-limited periods. The interval
    // since the previous ACK counts only if the flow was cwnd-limited at both
    // ends of it; otherwise move the epoch start forward by that interval.
    const gap = now - this.lastAckTime;
    if (this.epochValid && gap > 0 && !(isCwndLimited && this.lastCwndLimited)) this.epochStart += gap;
    this.lastAckTime = now;
    this.lastCwndLimited = isCwndLimited;
    const hs = this.hystart;
    if (hs !== null && hs.active) {
      hs.onAck(c, acked, isCwndLimited);
      // §4.10: a slow start HyStart++ ended without loss leaves W_max undefined (0: startEpoch takes cwnd).
      if (!hs.active && c.cwnd >= c.ssthresh) this.cwndPrior = c.cwnd / c.mss;
      return;
    }
    if (acked <= 0 || !isCwndLimited) return;

    const mss = c.mss;
    if (c.cwnd < c.ssthresh) {
      acked = slowStart(c, acked, this.rtoSlowStart ? mss : 2 * mss);
      if (c.cwnd < c.ssthresh) return;
      this.rtoSlowStart = false;
      if (acked <= 0) return;
    }

    // Congestion avoidance, in segments.
    const cwnd = (c.cwnd + this.frac) / mss;
    if (!this.epochValid) this.startEpoch(now, cwnd);
    const t = (now - this.epochStart) / 1000;
    const rttMs = c.srtt > 0 ? c.srtt : c.minRtt > 0 ? c.minRtt : CUBIC_DEFAULT_RTT_MS;
    let target = this.wCubic(t + rttMs / 1000);
    if (target < cwnd) target = cwnd;
    else if (target > 1.5 * cwnd) target = 1.5 * cwnd;
    const segs = acked / mss;
    // Concave (cwnd < W_max) and convex (cwnd >= W_max) growth, §4.4 and §4.5;
    // a stretch ACK never takes cwnd past the target.
    let next = cwnd + ((target - cwnd) / cwnd) * segs;
    if (next > target) next = target;
    // Reno-friendly region, §4.3.
    this.wEst += ((this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA) * segs) / cwnd;
    if (this.wEst > next && this.wCubic(t) < this.wEst) next = this.wEst;

    let bytes = next * mss;
    if (bytes > CWND_MAX) bytes = CWND_MAX;
    const whole = Math.floor(bytes);
    if (whole > c.cwnd) c.cwnd = whole;
    this.frac = bytes - whole;
  }

  /** First ACK of a congestion avoidance stage (§4.2; §4.8 when W_max was reset). */
  private startEpoch(now: number, cwnd: number): void {
    this.epochValid = true;
    this.epochStart = now;
    this.cwndEpoch = cwnd;
    if (this.wMax <= 0) this.wMax = cwnd;
    this.k = Math.cbrt((this.wMax - cwnd) / CUBIC_C);
    this.wEst = cwnd;
  }

  onEnterRecovery(c: CcState): void {
    this.hystart?.stop();
    const cwnd = c.cwnd / c.mss;
    // Fast convergence (§4.7): a loss below the previous W_max means a new
    // flow is competing; give up some bandwidth by aiming lower.
    this.wMax = cwnd < this.wMax ? (cwnd * (1 + CUBIC_BETA)) / 2 : cwnd;
    this.cwndPrior = cwnd;
    c.ssthresh = lossSsthresh(c, CUBIC_BETA);
    c.cwnd = c.ssthresh;
    this.endEpoch();
    this.inRecovery = true;
    this.rtoSlowStart = false;
  }

  onExitRecovery(c: CcState): void {
    c.cwnd = c.ssthresh;
    this.frac = 0;
    this.inRecovery = false;
    this.lastAckTime = c.now;
    this.lastCwndLimited = true;
  }

  onRto(c: CcState): void {
    // §4.8: ssthresh from beta as in §4.6; cwnd = 1 SMSS as in Reno; the next
    // congestion avoidance stage uses K = 0 and W_max = W_est = cwnd at its
    // start (wMax = 0 asks startEpoch for exactly that). A timeout during
    // recovery keeps the cwnd_prior that recovery recorded (cwnd may be
    // inflated by then).
    this.hystart?.stop();
    if (!this.inRecovery) this.cwndPrior = c.cwnd / c.mss;
    c.ssthresh = lossSsthresh(c, CUBIC_BETA);
    c.cwnd = c.mss;
    this.wMax = 0;
    this.endEpoch();
    this.inRecovery = false;
    this.rtoSlowStart = true;
  }

  onIdleRestart(c: CcState): void {
    const now = c.now;
    if (this.epochValid && now > this.lastAckTime) {
      this.epochStart += now - this.lastAckTime;
      if (this.epochStart > now) this.epochStart = now;
    }
    this.lastAckTime = now;
    this.lastCwndLimited = true;
    const mss = c.mss;
    const rw = initialWindow(mss, this.initialWindowSegments);
    if (c.cwnd > rw) {
      c.cwnd = rw;
      this.frac = 0;
      if (this.wEst > rw / mss) this.wEst = rw / mss;
    }
    this.rtoSlowStart = false;
  }

  private endEpoch(): void {
    this.epochValid = false;
    this.frac = 0;
  }
}

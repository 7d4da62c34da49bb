// Reno/NewReno window rules: RFC 5681 (slow start, congestion avoidance,
// ssthresh on loss and timeout, restart after idle), RFC 3465 (Appropriate
// Byte Counting) and RFC 6928 (initial window). The engine does NewReno's
// recovery itself (RFC 6582 inflation and partial ACKs, or RFC 6675 pipe);
// this controller only picks ssthresh and the windows around recovery.
//
// The shared pieces CUBIC reuses (initial window, ABC slow start, the
// "infinite" ssthresh) live here so that no runtime import cycle forms with
// congestion.ts, which imports both controllers.
import type { CcOptions, CcState, CongestionControl } from './congestion.ts';
import { type HyStart, hystartOption } from './hystart.ts';

/**
 * The initial "arbitrarily high" ssthresh (RFC 5681 §3.1). A finite integer
 * rather than Infinity: it matches TcpPcb's default, survives JSON (TcpInfo)
 * and is above any window TCP can advertise (2^30 with scaling).
 */
export const SSTHRESH_INFINITE = 0x7fffffff;

/** Upper bound for cwnd growth (same value: slow start stops at ssthresh anyway). */
export const CWND_MAX = 0x7fffffff;

/** RFC 6928's initial window, in segments. */
export const DEFAULT_IW_SEGMENTS = 10;

/**
 * The initial window in bytes for `segments` segments of `mss` bytes:
 * min(N*MSS, max(2*MSS, cap)), RFC 6928's formula with the byte cap of the
 * RFC that defines an IW of that size:
 *   N <= 4:  cap 4380  (RFC 3390 / RFC 5681 §3.1: 4, 3 or 2 segments by MSS)
 *   N <= 10: cap 14600 (RFC 6928: min(10*MSS, max(2*MSS, 14600)))
 *   N > 10:  cap N*1460 (beyond the RFCs, RFC 6928's 14600 = 10*1460 scaled)
 * N = 1 and N = 2 give 1 and 2 segments.
 */
export function initialWindow(mss: number, segments: number = DEFAULT_IW_SEGMENTS): number {
  const cap = segments <= 4 ? 4380 : segments <= 10 ? 14600 : segments * 1460;
  return Math.min(segments * mss, Math.max(2 * mss, cap));
}

/** Validates CcOptions.initialWindowSegments (an integer >= 1, default 10). */
export function iwSegmentsOption(opts: CcOptions | undefined): number {
  const n = opts?.initialWindowSegments ?? DEFAULT_IW_SEGMENTS;
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`initialWindowSegments must be an integer >= 1, got ${String(n)}`);
  }
  return n;
}

/**
 * Slow start with Appropriate Byte Counting (RFC 5681 §3.1, RFC 3465 §2.2):
 * cwnd grows by min(acked, limit) but stops at ssthresh. Returns the acked
 * bytes left over once cwnd reached ssthresh, for congestion avoidance to use
 * on the same ACK (0 while slow start continues). Call only with cwnd < ssthresh.
 */
export function slowStart(c: CcState, acked: number, limit: number): number {
  const inc = acked < limit ? acked : limit;
  const room = c.ssthresh - c.cwnd;
  if (inc < room) {
    c.cwnd += inc;
    return 0;
  }
  c.cwnd = c.ssthresh;
  return acked - room;
}

/** ssthresh after a loss or timeout: max(FlightSize * factor, 2*SMSS) (RFC 5681 eq. 4 for factor 1/2). */
export function lossSsthresh(c: CcState, factor: number): number {
  const s = Math.floor(c.flightSize * factor);
  const floor = 2 * c.mss;
  return s > floor ? s : floor;
}

/**
 * NewReno's window rules.
 *
 * | callback        | effect                                                          |
 * |-----------------|-----------------------------------------------------------------|
 * | init            | cwnd = IW (RFC 6928), ssthresh = SSTHRESH_INFINITE               |
 * | onAck (SS)      | cwnd += min(acked, L), L = 2*SMSS (1*SMSS after an RTO), <= ssthresh |
 * | onAck (HyStart++) | initial slow start only, with opts.hystart: see hystart.ts        |
 * | onAck (CA)      | bytes_acked += acked; per cwnd bytes acked, cwnd += SMSS          |
 * | onEnterRecovery | ssthresh = max(FlightSize/2, 2*SMSS), cwnd = ssthresh             |
 * | onExitRecovery  | cwnd = ssthresh                                                 |
 * | onRto           | ssthresh = max(FlightSize/2, 2*SMSS), cwnd = 1*SMSS               |
 * | onIdleRestart   | cwnd = min(cwnd, IW)                                            |
 */
export class RenoCongestionControl implements CongestionControl {
  get name(): string {
    return 'reno';
  }
  /** The configured initial window in segments. */
  readonly initialWindowSegments: number;
  /** RFC 3465 §2.1 bytes_acked: congestion-avoidance byte counter. */
  private bytesAcked = 0;
  /**
   * In the slow start that follows an RTO: ABC's L is 1*SMSS there, as
   * RFC 3465 asks (FreeBSD's newreno: "must not use abc_l_var > 1 if slow
   * starting after an RTO"). An ACK after a timeout may cover segments that
   * left the network long ago, so it is no sign that the path can take a
   * bigger burst. Cleared when cwnd reaches ssthresh or on any other event.
   */
  private rtoSlowStart = false;
  /** HyStart++ for the initial slow start (null when not configured). */
  readonly hystart: HyStart | null;

  constructor(opts?: CcOptions) {
    this.initialWindowSegments = iwSegmentsOption(opts);
    this.hystart = hystartOption(opts);
  }

  init(c: CcState): void {
    c.cwnd = initialWindow(c.mss, this.initialWindowSegments);
    c.ssthresh = SSTHRESH_INFINITE;
    this.bytesAcked = 0;
    this.rtoSlowStart = false;
    this.hystart?.start(c);
  }

  onRttSample(_c: CcState, rttMs: number): void {
    this.hystart?.onRttSample(rttMs);
  }

  onAck(c: CcState, acked: number, isCwndLimited: boolean): void {
    const hs = this.hystart;
    if (hs !== null && hs.active) {
      hs.onAck(c, acked, isCwndLimited);
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
    // Congestion avoidance (RFC 5681 eq. 3) by byte counting (RFC 3465 §2.1):
    // one SMSS per cwnd's worth of acknowledged bytes, i.e. ~1 SMSS per RTT.
    this.bytesAcked += acked;
    if (this.bytesAcked >= c.cwnd) {
      this.bytesAcked -= c.cwnd;
      const next = c.cwnd + mss;
      c.cwnd = next < CWND_MAX ? next : CWND_MAX;
    }
  }

  onEnterRecovery(c: CcState): void {
    this.hystart?.stop();
    c.ssthresh = lossSsthresh(c, 0.5);
    c.cwnd = c.ssthresh;
    this.bytesAcked = 0;
    this.rtoSlowStart = false;
  }

  onExitRecovery(c: CcState): void {
    c.cwnd = c.ssthresh;
    this.bytesAcked = 0;
  }

  onRto(c: CcState): void {
    this.hystart?.stop();
    c.ssthresh = lossSsthresh(c, 0.5);
    c.cwnd = c.mss;
    this.bytesAcked = 0;
    this.rtoSlowStart = true;
  }

  onIdleRestart(c: CcState): void {
    const rw = initialWindow(c.mss, this.initialWindowSegments);
    if (c.cwnd > rw) {
      c.cwnd = rw;
      this.bytesAcked = 0;
    }
    this.rtoSlowStart = false;
  }
}

// The retransmission timer's RTO per RFC 6298, in milliseconds.
//
// The estimator keeps SRTT and RTTVAR (§2), the base RTO clamped to
// [minRto, maxRto] (§2.4, §2.5; the 200 ms default minimum is lwIP's and
// Linux's, not the RFC's conservative 1 s), and a separate backoff count for
// the exponential backoff of §5.5. Karn's algorithm (§3) is the caller's
// job: it must not sample retransmitted segments, and it calls
// resetBackoff() when new data is acknowledged; a sample alone never resets
// the backoff. Time is passed in by the caller, never read here.

export interface RtoOptions {
  /** RTO before the first sample (§2.1), ms. Default 1000. */
  initialRtoMs?: number;
  /** Lower bound of the base RTO (§2.4), ms. Default 200. */
  minRtoMs?: number;
  /** Upper bound of the RTO, with or without backoff (§2.5), ms. Default 60000. */
  maxRtoMs?: number;
  /** Clock granularity G (§2), ms. Default 1. */
  granularityMs?: number;
}

const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

function positiveFinite(name: string, value: number | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`RttEstimator: ${name} must be a positive finite number, got ${String(value)}`);
  }
  return value;
}

/** The validated options, shared by every estimator made with the same ones (one per stack, not per connection). */
export interface RtoParams {
  readonly initialRtoMs: number;
  readonly minRtoMs: number;
  readonly maxRtoMs: number;
  readonly granularityMs: number;
  /**
   * Backoff counts at or beyond this already give maxRto whatever the base
   * RTO is (minRto * 2^n >= maxRto), so backoff() saturates here.
   */
  readonly maxBackoff: number;
}

/** The last options seen (a stack makes all its estimators with one set). */
let lastParams: RtoParams | null = null;

/**
 * Validated RTO parameters for `opts` (shared: the last set made is given
 * again for equal options). Throws RangeError unless all options are
 * positive finite and min <= initial <= max.
 */
export function rtoParams(opts: RtoOptions = {}): RtoParams {
  const initialRtoMs = positiveFinite('initialRtoMs', opts.initialRtoMs, 1000);
  const minRtoMs = positiveFinite('minRtoMs', opts.minRtoMs, 200);
  const maxRtoMs = positiveFinite('maxRtoMs', opts.maxRtoMs, 60000);
  const granularityMs = positiveFinite('granularityMs', opts.granularityMs, 1);
  if (!(minRtoMs <= initialRtoMs && initialRtoMs <= maxRtoMs)) {
    throw new RangeError(`RttEstimator: need minRtoMs <= initialRtoMs <= maxRtoMs, got ${minRtoMs}, ${initialRtoMs}, ${maxRtoMs}`);
  }
  let p = lastParams;
  if (p === null || p.initialRtoMs !== initialRtoMs || p.minRtoMs !== minRtoMs || p.maxRtoMs !== maxRtoMs || p.granularityMs !== granularityMs) {
    p = lastParams = { initialRtoMs, minRtoMs, maxRtoMs, granularityMs, maxBackoff: Math.max(0, Math.ceil(Math.log2(maxRtoMs / minRtoMs))) };
  }
  return p;
}

export class RttEstimator {
  /** The parameters (a subclass may pass an object with more in it: TcpPcb's per-stack PcbEnv). */
  protected readonly p: RtoParams;
  get initialRtoMs(): number {
    return this.p.initialRtoMs;
  }
  get minRtoMs(): number {
    return this.p.minRtoMs;
  }
  get maxRtoMs(): number {
    return this.p.maxRtoMs;
  }
  get granularityMs(): number {
    return this.p.granularityMs;
  }
  private get maxBackoff(): number {
    return this.p.maxBackoff;
  }

  private _srtt = 0;
  private _rttvar = 0;
  private _rto: number;
  private _samples = 0;
  private _backoff = 0;

  /** `opts`: options (validated by rtoParams, RangeError) or parameters rtoParams made. */
  constructor(opts: RtoOptions | RtoParams = {}) {
    const p = 'maxBackoff' in opts ? opts : rtoParams(opts);
    this.p = p;
    this._rto = p.initialRtoMs;
  }

  /** Smoothed RTT, ms; 0 until the first sample. */
  get srtt(): number {
    return this._srtt;
  }

  /** RTT variation, ms; 0 until the first sample. */
  get rttvar(): number {
    return this._rttvar;
  }

  /** The base RTO (without backoff), ms, within [minRto, maxRto]. */
  get rto(): number {
    return this._rto;
  }

  /** Valid samples taken since construction or the last reset(). */
  get samples(): number {
    return this._samples;
  }

  /** Doublings applied by backoff() since the last resetBackoff() (saturating). */
  get backoffCount(): number {
    return this._backoff;
  }

  /**
   * Feed one RTT measurement R, ms (§2.2 for the first, §2.3 after).
   * Negative, NaN and infinite values are ignored. Leaves the backoff alone.
   */
  sample(rttMs: number): void {
    if (!(rttMs >= 0 && rttMs < Infinity)) return;
    if (this._samples === 0) {
      this._srtt = rttMs;
      this._rttvar = rttMs / 2;
    } else {
      // RTTVAR first, with the old SRTT (§2.3).
      this._rttvar = (1 - BETA) * this._rttvar + BETA * Math.abs(this._srtt - rttMs);
      this._srtt = (1 - ALPHA) * this._srtt + ALPHA * rttMs;
    }
    this._samples++;
    const rto = this._srtt + Math.max(this.granularityMs, K * this._rttvar);
    this._rto = rto < this.minRtoMs ? this.minRtoMs : rto > this.maxRtoMs ? this.maxRtoMs : rto;
  }

  /** The RTO to arm the timer with: the base RTO doubled backoffCount times, at most maxRto. */
  currentRto(): number {
    const rto = this._rto * 2 ** this._backoff;
    return rto < this.maxRtoMs ? rto : this.maxRtoMs;
  }

  /** The timer expired: double the RTO once more (§5.5). Saturates once the RTO is pinned at maxRto. */
  backoff(): void {
    if (this._backoff < this.maxBackoff) this._backoff++;
  }

  /**
   * RFC 6298 §5.7: the SYN (or SYN-ACK) timed out and no RTT sample exists:
   * the base RTO becomes `ms` (3 s there) until the first sample, which
   * then replaces it as usual. No effect once a sample was taken.
   */
  fallback(ms: number): void {
    if (this._samples > 0) return;
    this._rto = ms < this.minRtoMs ? this.minRtoMs : ms > this.maxRtoMs ? this.maxRtoMs : ms;
  }

  /** New data was acknowledged: drop the backoff (Karn). */
  resetBackoff(): void {
    this._backoff = 0;
  }

  /**
   * Back to the constructed state: SRTT and RTTVAR cleared (the next sample
   * is taken as a first one, §2.2), base RTO = initialRto, no backoff. RFC
   * 6298 §5 lets an implementation clear SRTT and RTTVAR after backing off
   * several times, as they are then likely bogus.
   */
  reset(): void {
    this._srtt = 0;
    this._rttvar = 0;
    this._rto = this.initialRtoMs;
    this._samples = 0;
    this._backoff = 0;
  }
}

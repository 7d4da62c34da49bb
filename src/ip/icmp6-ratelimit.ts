// Token bucket for ICMPv6 error messages (RFC 4443 §2.4(f): a node MUST
// limit the rate of the errors it originates; a token bucket is the
// suggested method). The caller passes the time (its Clock's now(), ms):
// the bucket never reads a clock, so simulated runs are reproducible.

export interface Icmp6RateLimitOptions {
  /** Tokens added per second, sustained (default 10). */
  tokensPerSec?: number;
  /** Bucket size: errors allowed back to back (default 10). */
  burst?: number;
}

export class Icmp6RateLimiter {
  private readonly perMs: number;
  readonly burst: number;
  private tokens: number;
  /** Time of the last refill; NaN until the first call. */
  private last = NaN;
  /** Errors refused so far (statistics). */
  limited = 0;

  constructor(opts: Icmp6RateLimitOptions = {}) {
    const rate = opts.tokensPerSec ?? 10;
    const burst = opts.burst ?? 10;
    if (!(rate >= 0 && rate < Infinity) || !(burst >= 0 && burst < Infinity)) {
      throw new RangeError(`Icmp6RateLimiter: rate ${rate} and burst ${burst} must be finite and >= 0`);
    }
    this.perMs = rate / 1000;
    this.burst = burst;
    // Start full: the first errors after boot go out (as Linux does).
    this.tokens = burst;
  }

  /** True (and one token spent) if an error may be sent at time `now` (ms). */
  allow(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) {
      this.limited++;
      return false;
    }
    this.tokens -= 1;
    return true;
  }

  /** Tokens available at time `now` (fractional), without spending one. */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  private refill(now: number): void {
    // A clock that steps back (or the first call) adds nothing rather than
    // a negative or NaN amount.
    if (now > this.last) {
      const t = this.tokens + (now - this.last) * this.perMs;
      this.tokens = t < this.burst ? t : this.burst;
    }
    if (!(now <= this.last)) this.last = now;
  }
}

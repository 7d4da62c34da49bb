// TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4, RFC 1982).
//
// Sequence numbers are plain numbers holding unsigned 32-bit values
// (0..2^32-1). Comparisons go through the signed 32-bit distance a − b, so
// "a < b" means "b lies less than 2^31 ahead of a", as lwIP's TCP_SEQ_LT
// and friends. Every function is branch-light and allocation-free: they run
// several times per segment.
//
// `(a - b) | 0` is exact: for u32 inputs a − b is an integer in
// (-2^32, 2^32), which a double holds exactly, and ToInt32 reduces it modulo
// 2^32 into [-2^31, 2^31).

/** a + n modulo 2^32 (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** Signed distance a − b in sequence space, in [-2^31, 2^31). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** a < b in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b in sequence space. */
export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** a > b in sequence space. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** a >= b in sequence space. */
export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of a and b in sequence space (a when equal). */
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a : b;
}

/** The earlier of a and b in sequence space (a when equal). */
export function seqMin(a: number, b: number): number {
  return ((a - b) | 0) <= 0 ? a : b;
}

/**
 * lo <= x <= hi in sequence space, both ends inclusive: exactly lwIP's
 * TCP_SEQ_BETWEEN(x, lo, hi) = TCP_SEQ_GEQ(x, lo) && TCP_SEQ_LEQ(x, hi).
 * Meaningful when hi is at most 2^31 − 1 ahead of lo.
 */
export function seqBetween(x: number, lo: number, hi: number): boolean {
  return ((x - lo) | 0) >= 0 && ((x - hi) | 0) <= 0;
}

/**
 * lo <= x < lo + len in sequence space (the window test of RFC 9293
 * §3.10.7.4, e.g. RCV.NXT =< SEG.SEQ < RCV.NXT + RCV.WND). len is a count of
 * sequence numbers in [0, 2^32]; len 0 (or less) contains nothing. Computed
 * as the unsigned offset of x from lo, so it is exact for any such len.
 */
export function seqInWindow(x: number, lo: number, len: number): boolean {
  return ((x - lo) >>> 0) < len;
}

// setTimeout for any duration. Node's timers hold at most 2^31-1 ms (about
// 24.8 days); a longer delay is clamped to 1 ms with only a warning, which
// made `tsip up --duration 3000000` stop at once. This chains timers of at
// most that length until the whole delay has passed.

/** The longest delay one Node timer holds, ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

/** Call `cb` once after `ms` (any finite ms >= 0); the timers are unref'd when `unref` is set. */
export function setLongTimeout(cb: () => void, ms: number, opts: { unref?: boolean } = {}): LongTimeout {
  if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`setLongTimeout: delay must be a finite number >= 0, got ${ms}`);
  let left = ms;
  let timer: NodeJS.Timeout | null = null;
  const arm = (): void => {
    const step = Math.min(left, MAX_TIMER_MS);
    left -= step;
    timer = setTimeout(() => (left > 0 ? arm() : cb()), step);
    if (opts.unref) timer.unref();
  };
  arm();
  return {
    clear() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      left = 0;
    },
  };
}

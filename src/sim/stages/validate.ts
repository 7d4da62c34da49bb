// Option checks shared by the link stages. Bad configuration is a
// programming error, so each check throws a RangeError that names the stage,
// the option and the offending value.

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** A probability: a finite number in [0, 1]. */
export function checkProbability(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw new RangeError(`${where}: ${name} must be a probability in [0, 1], got ${show(v)}`);
  }
  return v;
}

/** A duration or size that may be zero: a finite number >= 0. */
export function checkNonNegative(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`${where}: ${name} must be a finite number >= 0, got ${show(v)}`);
  }
  return v;
}

/** A rate or size that must be strictly positive: a finite number > 0. */
export function checkPositive(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`${where}: ${name} must be a finite number > 0, got ${show(v)}`);
  }
  return v;
}

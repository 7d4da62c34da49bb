// A small seeded PRNG (xoshiro128**, seeded through splitmix32). Every
// random choice in the stack and the simulator comes from one of these, so
// a seed fixes every byte on the wire.

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a over a string: turns labels into seed material. */
export function hashString(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** The 32-bit seed this generator started from. */
  readonly seed: number;

  constructor(seed: number | string = 1) {
    this.seed = typeof seed === 'string' ? hashString(seed) : seed >>> 0;
    const sm = splitmix32(this.seed);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Next 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n) for 0 < n <= 2^32, without modulo bias. */
  int(n: number): number {
    // Integers only: a fractional bound (int(len / 2)) returned fractions
    // such as 1.7, which then silently index arrays as undefined.
    if (!(n > 0) || n > 4294967296 || !Number.isInteger(n)) throw new RangeError(`Rng.int bound out of range: ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.u32();
      if (x < limit) return x % n;
    }
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && (p >= 1 || this.float() < p);
  }

  /** Fill `dst` with random bytes and return it. */
  fill<T extends Uint8Array>(dst: T): T {
    let i = 0;
    for (; i + 4 <= dst.length; i += 4) {
      const x = this.u32();
      dst[i] = x;
      dst[i + 1] = x >>> 8;
      dst[i + 2] = x >>> 16;
      dst[i + 3] = x >>> 24;
    }
    if (i < dst.length) {
      let x = this.u32();
      for (; i < dst.length; i++, x >>>= 8) dst[i] = x;
    }
    return dst;
  }

  /**
   * An independent generator named by `label`, derived from this one's
   * seed without consuming from it: adding a component never shifts the
   * random streams of the others.
   */
  derive(label: string): Rng {
    return new Rng(hashString(label, this.seed ^ 0x811c9dc5));
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

import { describe, expect, test } from 'vitest';
import { Icmp6RateLimiter } from '../../src/ip/icmp6-ratelimit.ts';

describe('Icmp6RateLimiter (RFC 4443 §2.4(f))', () => {
  test('starts full: a burst goes out, then it refuses', () => {
    const r = new Icmp6RateLimiter({ tokensPerSec: 1, burst: 3 });
    expect([r.allow(0), r.allow(0), r.allow(0), r.allow(0)]).toEqual([true, true, true, false]);
    expect(r.limited).toBe(1);
  });

  test('refills at the configured rate, capped at the burst', () => {
    const r = new Icmp6RateLimiter({ tokensPerSec: 2, burst: 2 });
    r.allow(1000);
    r.allow(1000);
    expect(r.allow(1000)).toBe(false);
    expect(r.allow(1499)).toBe(false); // 0.998 tokens
    expect(r.allow(1500)).toBe(true); // 1 token after 500 ms at 2/s
    expect(r.allow(1500)).toBe(false);
    expect(r.available(100_000)).toBe(2); // capped
    let sent = 0;
    for (let t = 100_000; t < 110_000; t += 10) if (r.allow(t)) sent++;
    // 2 from the bucket + 2/s for ~10 s.
    expect(sent).toBe(2 + 20 - 1);
  });

  test('defaults are 10/s with a burst of 10', () => {
    const r = new Icmp6RateLimiter();
    let n = 0;
    while (r.allow(5)) n++;
    expect(n).toBe(10);
    expect(r.available(105)).toBeCloseTo(1, 9);
  });

  test('a clock stepping back adds nothing; rate 0 never refills; burst 0 never sends', () => {
    const r = new Icmp6RateLimiter({ tokensPerSec: 1000, burst: 1 });
    expect(r.allow(50)).toBe(true);
    expect(r.allow(10)).toBe(false);
    expect(r.allow(50)).toBe(false);
    expect(r.allow(51)).toBe(true);
    const z = new Icmp6RateLimiter({ tokensPerSec: 0, burst: 1 });
    expect(z.allow(0)).toBe(true);
    expect(z.allow(1e9)).toBe(false);
    expect(new Icmp6RateLimiter({ burst: 0 }).allow(0)).toBe(false);
  });

  test('bad configuration is a RangeError', () => {
    expect(() => new Icmp6RateLimiter({ tokensPerSec: -1 })).toThrow(RangeError);
    expect(() => new Icmp6RateLimiter({ burst: NaN })).toThrow(RangeError);
    expect(() => new Icmp6RateLimiter({ tokensPerSec: Infinity })).toThrow(RangeError);
  });
});

// Shared helpers for the pbuf suites: chain builders, invariant checks and
// byte fingerprints. Not a test file itself (vitest only picks *.test.ts).
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { type Pbuf, PbufType } from '../../src/pbuf/pbuf.ts';
import { PbufLayer, type PbufPool } from '../../src/pbuf/pool.ts';

// Re-exported so suites can import everything pbuf-related from one place.
export { PbufLayer, PbufType };

/** Deterministic test bytes: byte i is (i * 31 + salt) & 0xff. */
export function pattern(n: number, salt = 7): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + salt) & 0xff;
  return out;
}

export function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Every piece of the chain, head first. */
export function pieces(p: Pbuf): Pbuf[] {
  const out: Pbuf[] = [];
  for (let q: Pbuf | null = p; q !== null; q = q.next) out.push(q);
  return out;
}

/**
 * lwIP's chain invariants on every piece: totLen(piece) = len + totLen(next),
 * the payload lies inside the buffer, the piece is alive.
 */
export function checkInvariants(p: Pbuf): void {
  for (let q: Pbuf | null = p; q !== null; q = q.next) {
    const nextTot = q.next === null ? 0 : q.next.totLen;
    expect(q.totLen, 'totLen = len + totLen(next)').toBe(q.len + nextTot);
    expect(q.len).toBeGreaterThanOrEqual(0);
    expect(q.off).toBeGreaterThanOrEqual(0);
    expect(q.off + q.len).toBeLessThanOrEqual(q.buf.length);
    expect(q.ref).toBeGreaterThan(0);
  }
}

/** Sum of len over the chain (must equal totLen of the head). */
export function sumLen(p: Pbuf): number {
  let n = 0;
  for (let q: Pbuf | null = p; q !== null; q = q.next) n += q.len;
  return n;
}

export function must<T>(x: T | null | undefined, what = 'value'): T {
  if (x === null || x === undefined) throw new Error(`expected a ${what}`);
  return x;
}

/**
 * A chain whose pieces have the given payload sizes and whose content is
 * `data` (length = sum of sizes). Size 0 pieces are zero-length REF wraps of
 * an empty array (so zero-length pieces sit in the middle of chains); other
 * pieces are RAM pbufs at RAW layer unless `kind` says otherwise.
 */
export function buildChain(pool: PbufPool, sizes: number[], data?: Uint8Array, kind: 'RAM' | 'REF' | 'mixed' = 'RAM'): Pbuf {
  const total = sizes.reduce((a, b) => a + b, 0);
  const bytes = data ?? pattern(total);
  expect(bytes.length).toBe(total);
  let head: Pbuf | null = null;
  let off = 0;
  sizes.forEach((n, i) => {
    let piece: Pbuf;
    const slice = bytes.slice(off, off + n);
    if (n === 0) piece = must(pool.wrap(new Uint8Array(0), PbufType.REF));
    else if (kind === 'REF' || (kind === 'mixed' && i % 2 === 1)) piece = must(pool.wrap(slice, PbufType.REF));
    else piece = must(pool.fromBytes(slice, PbufLayer.RAW));
    off += n;
    if (head === null) head = piece;
    else head.cat(piece);
  });
  const h = must<Pbuf>(head, 'chain');
  checkInvariants(h);
  return h;
}

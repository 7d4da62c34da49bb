// Randomized model test: a seeded Rng drives thousands of operations on a
// chain (and on pieces shared with "side" holders through chain()) against
// a flat Uint8Array model. After every step the chain's bytes and totLen
// match the model, every piece's ref equals the number of things pointing
// at it, and the pool's counters equal what is reachable.
import { describe, expect, it } from 'vitest';
import { type Pbuf, PbufType } from '../../src/pbuf/pbuf.ts';
import { PbufLayer, PbufPool, type PbufPoolOptions } from '../../src/pbuf/pool.ts';
import { Rng } from '../../src/time/rng.ts';
import { checkInvariants, must, sha } from './helpers.ts';

const MAX_TOTAL = 12_000;
const LAYERS = [PbufLayer.TRANSPORT, PbufLayer.IP, PbufLayer.LINK, PbufLayer.RAW] as const;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function modelFind(data: Uint8Array, needle: Uint8Array, start: number): number {
  outer: for (let i = Math.max(0, start); i + needle.length <= data.length; i++) {
    for (let j = 0; j < needle.length; j++) if (data[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

class Model {
  chain: Pbuf | null = null;
  bytes: Uint8Array = new Uint8Array(0);
  /** Extra references taken with chain(): each entry holds one ref. */
  side: Pbuf[] = [];
  readonly counts = new Map<string, number>();
  maxPieces = 0;

  constructor(
    readonly pool: PbufPool,
    readonly rng: Rng,
  ) {}

  private count(op: string): void {
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
  }

  randomBytes(n: number): Uint8Array {
    return this.rng.fill(new Uint8Array(n));
  }

  /** A new piece or chain with random contents, or null at a limit. */
  fresh(): { p: Pbuf; data: Uint8Array } {
    const r = this.rng;
    const kind = r.int(5);
    if (kind === 0) {
      const p = must(this.pool.wrap(new Uint8Array(0), PbufType.REF));
      return { p, data: new Uint8Array(0) };
    }
    if (kind === 1) {
      const data = this.randomBytes(r.int(300));
      const p = must(this.pool.wrap(data.slice(), r.chance(0.5) ? PbufType.REF : PbufType.ROM));
      return { p, data };
    }
    const type = kind === 2 ? PbufType.POOL : PbufType.RAM;
    const n = r.chance(0.1) ? 0 : r.int(type === PbufType.POOL ? 4000 : 600);
    const p = must(this.pool.alloc(LAYERS[r.int(4)]!, n, type));
    const data = this.randomBytes(n);
    expect(p.take(data)).toBe(true);
    return { p, data };
  }

  step(): void {
    const r = this.rng;
    const chain = this.chain;
    if (chain !== null) this.maxPieces = Math.max(this.maxPieces, chain.clen());
    if (chain === null) {
      const { p, data } = this.fresh();
      this.chain = p;
      this.bytes = data;
      this.count('new');
      return;
    }
    const total = this.bytes.length;
    const op = r.int(17);
    switch (op) {
      case 0:
      case 1: {
        // append with cat, or with chain() keeping a side reference
        if (total > MAX_TOTAL) {
          expect(chain.realloc(r.int(total >> 1))).toBe(true);
          this.bytes = this.bytes.slice(0, chain.totLen);
          this.count('trim');
          return;
        }
        const { p, data } = this.fresh();
        if (op === 1 && r.chance(0.5)) {
          chain.chain(p);
          this.side.push(p);
          this.count('chain');
        } else {
          chain.cat(p);
          this.count('cat');
        }
        this.bytes = concat(this.bytes, data);
        return;
      }
      case 2: {
        const len = chain.len;
        const n = r.int(len + 2);
        const ok = chain.removeHeader(n);
        expect(ok).toBe(n <= len);
        if (ok) this.bytes = this.bytes.slice(n);
        this.count(ok ? 'removeHeader' : 'removeHeader-fail');
        return;
      }
      case 3: {
        const room = chain.headerRoom();
        const n = r.int(room + 2);
        const ok = chain.addHeader(n);
        expect(ok).toBe(n === 0 || (chain.ownsBlock && n <= room));
        if (ok) {
          const hdr = this.randomBytes(n);
          expect(chain.takeAt(hdr, n, 0)).toBe(true);
          this.bytes = concat(hdr, this.bytes);
        }
        this.count(ok ? 'addHeader' : 'addHeader-fail');
        return;
      }
      case 4: {
        if (!r.chance(0.3)) return; // rarer: it tends to cut chains short
        const n = r.int(total + 3);
        const ok = chain.realloc(n);
        expect(ok).toBe(n <= total);
        if (ok) this.bytes = this.bytes.slice(0, n);
        this.count('realloc');
        return;
      }
      case 5: {
        const off = r.int(total + 2);
        const v = r.int(256);
        expect(chain.putAt(off, v)).toBe(off < total);
        if (off < total) this.bytes[off] = v;
        expect(chain.getAt(off)).toBe(off < total ? v : -1);
        this.count('putAt');
        return;
      }
      case 6: {
        const off = r.int(total + 2);
        const len = r.int(total + 2);
        const src = this.randomBytes(len);
        const ok = chain.takeAt(src, len, off);
        expect(ok).toBe(off + len <= total);
        if (ok) this.bytes.set(src, off);
        this.count('takeAt');
        return;
      }
      case 7: {
        const off = r.int(total + 2);
        const len = r.int(total + 2);
        const dstLen = r.chance(0.2) ? r.int(len + 1) : len;
        const dst = new Uint8Array(dstLen);
        const n = chain.copyPartial(dst, len, off);
        const want = Math.max(0, Math.min(len, dstLen, total - off));
        expect(n).toBe(want);
        expect(sha(dst.subarray(0, n))).toBe(sha(this.bytes.subarray(off, off + n)));
        this.count('copyPartial');
        return;
      }
      case 8: {
        const off = r.int(total + 1);
        const len = r.int(Math.min(64, total - off) + 1);
        const s2 = this.bytes.slice(off, off + len);
        expect(chain.memcmp(off, s2, len)).toBe(0);
        if (len > 0) {
          const i = r.int(len);
          s2[i] = s2[i]! ^ (1 + r.int(255));
          expect(chain.memcmp(off, s2, len)).toBe(i + 1);
        }
        expect(chain.memcmp(off, s2, total - off + 1)).toBe(-1);
        this.count('memcmp');
        return;
      }
      case 9: {
        const off = r.int(total + 1);
        const len = 1 + r.int(4);
        const needle = r.chance(0.8) ? this.bytes.slice(off, off + len) : this.randomBytes(len);
        const start = r.int(total + 1);
        expect(chain.memfind(needle, start)).toBe(modelFind(this.bytes, needle, start));
        this.count('memfind');
        return;
      }
      case 10: {
        const tail = chain.dechain();
        if (tail === null) {
          expect(chain.totLen).toBe(chain.len);
          this.count('dechain-single');
          return;
        }
        const headLen = chain.len;
        const what = r.int(3);
        if (what === 0) {
          chain.free();
          this.chain = tail;
          this.bytes = this.bytes.slice(headLen);
        } else if (what === 1) {
          tail.free();
          this.bytes = this.bytes.slice(0, headLen);
        } else {
          chain.cat(tail);
        }
        this.count('dechain');
        return;
      }
      case 11: {
        // rarer than the others, so chains grow long between coalesces
        if (!r.chance(0.25)) return;
        const layer = LAYERS[r.int(4)]!;
        const single = chain.next === null;
        const q = must(this.pool.coalesce(chain, layer));
        expect(q === chain).toBe(single);
        this.chain = q;
        expect(q.next).toBeNull();
        this.count('coalesce');
        return;
      }
      case 12: {
        const q = must(this.pool.clone(chain, LAYERS[r.int(4)]!));
        expect(sha(q.toBytes())).toBe(sha(this.bytes));
        q.free();
        this.count('clone');
        return;
      }
      case 13: {
        const dst = must(this.pool.alloc(PbufLayer.RAW, total + r.int(3), PbufType.POOL));
        expect(this.pool.copy(dst, chain)).toBe(true);
        const got = new Uint8Array(total);
        expect(dst.copyPartial(got, total, 0)).toBe(total);
        expect(sha(got)).toBe(sha(this.bytes));
        dst.free();
        this.count('copy');
        return;
      }
      case 14: {
        const off = r.int(total + 2);
        const cur = chain.skip(off);
        if (off >= total) expect(cur).toBeNull();
        else {
          const c = must(cur);
          expect(c.pbuf.buf[c.pbuf.off + c.offset]).toBe(this.bytes[off]);
        }
        this.count('skip');
        return;
      }
      case 15: {
        // drop one side reference
        if (this.side.length === 0) return;
        const i = r.int(this.side.length);
        const p = this.side[i]!;
        this.side.splice(i, 1);
        p.free();
        this.count('side-free');
        return;
      }
      default: {
        // drop the whole chain
        if (r.chance(0.05)) {
          chain.free();
          this.chain = null;
          this.bytes = new Uint8Array(0);
          this.count('free');
        }
      }
    }
  }

  /** Contents, totLen, per-piece invariants, exact refs, and pool counters. */
  check(): void {
    const chain = this.chain;
    if (chain !== null) {
      checkInvariants(chain);
      expect(chain.totLen).toBe(this.bytes.length);
      expect(sha(chain.toBytes())).toBe(sha(this.bytes));
    }
    // Count references: the chain variable, each side entry, each `next`.
    const holders = new Map<Pbuf, number>();
    const roots = chain === null ? this.side : [chain, ...this.side];
    for (const root of roots) holders.set(root, (holders.get(root) ?? 0) + 1);
    const seen = new Set<Pbuf>();
    const stack = [...roots];
    while (stack.length > 0) {
      const p = stack.pop()!;
      if (seen.has(p)) continue;
      seen.add(p);
      if (p.next !== null) {
        holders.set(p.next, (holders.get(p.next) ?? 0) + 1);
        stack.push(p.next);
      }
    }
    let bytes = 0;
    let poolPieces = 0;
    for (const p of seen) {
      expect(p.ref).toBe(holders.get(p));
      if (p.ownsBlock) bytes += p.buf.byteLength;
      if (p.type === PbufType.POOL) poolPieces++;
    }
    const s = this.pool.stats;
    expect(s.pbufsInUse).toBe(seen.size);
    expect(s.poolPbufsInUse).toBe(poolPieces);
    expect(s.bytesInUse).toBe(bytes);
    expect(s.allocs - s.frees).toBe(seen.size);
  }

  dispose(): void {
    this.chain?.free();
    this.chain = null;
    for (const p of this.side) p.free();
    this.side = [];
  }
}

const RUNS: [number, PbufPoolOptions][] = [
  [1, {}],
  [2, { poolBufSize: 256 }],
  [3, { poolBufSize: 64, linkHeaderRoom: 14, ipHeaderRoom: 20, transportHeaderRoom: 20 }],
  [0xc0ffee, {}],
  [20240601, { poolBufSize: 512 }],
];

describe('randomized chain operations against a flat model', () => {
  it.each(RUNS)('seed %i', (seed, opts) => {
    const pool = new PbufPool({ trackLive: true, ...opts });
    const m = new Model(pool, new Rng(seed));
    for (let i = 0; i < 3000; i++) {
      m.step();
      m.check();
    }
    // Every kind of step actually ran.
    for (const op of ['cat', 'chain', 'removeHeader', 'addHeader', 'realloc', 'dechain', 'coalesce', 'side-free', 'memfind', 'copy']) {
      expect(m.counts.get(op) ?? 0, op).toBeGreaterThan(10);
    }
    expect(m.maxPieces).toBeGreaterThanOrEqual(10);
    m.dispose();
    expect(pool.stats.allocs).toBe(pool.stats.frees);
    pool.assertEmpty();
  });
});

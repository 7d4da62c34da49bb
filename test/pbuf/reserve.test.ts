// The input reserve (issue 12): a slice of the pool that DATA allocations
// (queued send data) cannot touch, so a pool filled with unsent data still
// takes in the RSTs, ACKs and pings that would free it (RX) and can answer
// them (CONTROL). Every refusal is counted per use.
import { describe, expect, it } from 'vitest';
import { PbufError } from '../../src/pbuf/pbuf.ts';
import { PbufPool, PbufUse } from '../../src/pbuf/pool.ts';
import type { Pbuf } from '../../src/pbuf/pbuf.ts';
import { PbufLayer, PbufType, must, pattern, sha } from './helpers.ts';

/** Allocate DATA pbufs of `len` bytes until the pool says no; returns them. */
function fillWithData(pool: PbufPool, len: number): Pbuf[] {
  const held: Pbuf[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    const p = pool.alloc(PbufLayer.TRANSPORT, len);
    if (p === null) return held;
    held.push(p);
  }
  throw new Error('the pool never filled');
}

const freeAll = (ps: Pbuf[]): void => {
  for (const p of ps) p.free();
};

describe('input reserve: bytes', () => {
  it('DATA stops rxReserveBytes below maxBytes; RX and CONTROL go on into the reserve, counted', () => {
    // 64 KiB pool, 16 KiB reserve: DATA gets 48 KiB (24 blocks of 2048).
    const pool = new PbufPool({ trackLive: true, maxBytes: 64 * 1024, rxReserveBytes: 16 * 1024 });
    const data = fillWithData(pool, 1500); // 1636 bytes -> 2048 blocks
    expect(data).toHaveLength(24);
    expect(pool.stats.bytesInUse).toBe(48 * 1024);
    expect(pool.dataBytesLeft()).toBe(0);
    expect(pool.stats.allocFailures).toBe(1);
    expect(pool.stats.rxAllocFailures).toBe(0);
    expect(pool.stats.controlAllocFailures).toBe(0);
    expect(pool.stats.reserveAllocs).toBe(0);

    // Small DATA (a 64-byte block) is refused too: the ceiling is strict.
    expect(pool.alloc(PbufLayer.RAW, 1)).toBeNull();
    expect(pool.fromBytes(new Uint8Array(1))).toBeNull();

    // A received RST (40 bytes) and an ACK reply still get memory.
    const rst = must(pool.allocRx(40));
    expect(rst.off).toBe(0); // RAW: no header room
    expect(rst.type).toBe(PbufType.RAM);
    const ack = must(pool.alloc(PbufLayer.IP, 20, PbufType.RAM, PbufUse.CONTROL));
    expect(pool.stats.reserveAllocs).toBe(2);
    expect(pool.stats.allocFailures).toBe(3);

    // Received packets fill the reserve up to the hard total, then fail (counted as RX).
    const rx: Pbuf[] = [rst, ack];
    for (;;) {
      const p = pool.allocRx(1500);
      if (p === null) break;
      rx.push(p);
    }
    expect(pool.stats.bytesInUse).toBeLessThanOrEqual(64 * 1024);
    expect(pool.stats.bytesInUse).toBeGreaterThan(64 * 1024 - 2048);
    expect(pool.stats.rxAllocFailures).toBe(1);
    expect(pool.alloc(PbufLayer.IP, 1500, PbufType.RAM, PbufUse.CONTROL)).toBeNull();
    expect(pool.stats.controlAllocFailures).toBe(1);
    expect(pool.stats.allocFailures).toBe(5);

    // Received packets held count against DATA's room as well: with them
    // freed and one block of data gone, DATA allocates again.
    freeAll(rx);
    expect(pool.alloc(PbufLayer.TRANSPORT, 1500)).toBeNull();
    data.pop()!.free();
    const again = must(pool.alloc(PbufLayer.TRANSPORT, 1500));
    freeAll([again, ...data]);
    pool.assertEmpty();
  });

  it('the pool at its DATA ceiling still takes in a packet whose bytes arrive intact', () => {
    const pool = new PbufPool({ trackLive: true, maxBytes: 32 * 1024, rxReserveBytes: 4096 });
    const data = fillWithData(pool, 1000);
    const bytes = pattern(60, 3);
    const p = must(pool.allocRx(bytes.length));
    p.take(bytes);
    expect(sha(p.toBytes())).toBe(sha(bytes));
    // A copy made while handling it (loopback, coalescing) may be RX too.
    const q = must(pool.clone(p, PbufLayer.RAW, PbufUse.RX));
    expect(sha(q.toBytes())).toBe(sha(bytes));
    expect(pool.clone(p)).toBeNull(); // a DATA copy is refused
    const r = must(pool.fromBytes(bytes, PbufLayer.RAW, PbufUse.RX));
    expect(sha(r.toBytes())).toBe(sha(bytes));
    expect(pool.stats.reserveAllocs).toBe(3);
    freeAll([...data, p, q, r]);
    pool.assertEmpty();
  });

  it('coalesce with RX use succeeds at the ceiling and frees the original', () => {
    const pool = new PbufPool({ trackLive: true, maxBytes: 16 * 1024, rxReserveBytes: 4096 });
    const data = fillWithData(pool, 1000);
    const a = must(pool.allocRx(100));
    a.take(pattern(100, 1));
    const b = must(pool.allocRx(100));
    b.take(pattern(100, 2));
    a.cat(b);
    const whole = Uint8Array.from([...pattern(100, 1), ...pattern(100, 2)]);
    expect(pool.coalesce(a)).toBeNull(); // DATA
    const c = must(pool.coalesce(a, PbufLayer.RAW, PbufUse.RX));
    expect(c.next).toBeNull();
    expect(sha(c.toBytes())).toBe(sha(whole));
    c.free();
    freeAll(data);
    pool.assertEmpty();
  });

  it('the default reserve is 1/16 of each limit', () => {
    const pool = new PbufPool();
    expect(pool.opts.maxBytes).toBe(512 * 1024 * 1024);
    expect(pool.opts.rxReserveBytes).toBe(32 * 1024 * 1024);
    expect(pool.opts.rxReservePbufs).toBe(pool.opts.maxPbufs / 16);
    expect(pool.opts.rxReservePoolPbufs).toBe(pool.opts.maxPoolPbufs / 16);
    expect(pool.dataBytesLeft()).toBe(480 * 1024 * 1024);
    const small = new PbufPool({ maxBytes: 100_000, maxPbufs: 40, maxPoolPbufs: 8 });
    expect(small.opts.rxReserveBytes).toBe(6250);
    expect(small.opts.rxReservePbufs).toBe(2);
    expect(small.opts.rxReservePoolPbufs).toBe(0);
  });

  it('a zero reserve: RX fails exactly where DATA does', () => {
    const pool = new PbufPool({ trackLive: true, maxBytes: 8192, rxReserveBytes: 0 });
    const data = fillWithData(pool, 1500);
    expect(data).toHaveLength(4);
    expect(pool.allocRx(1)).toBeNull();
    expect(pool.stats.rxAllocFailures).toBe(1);
    expect(pool.stats.reserveAllocs).toBe(0);
    freeAll(data);
    pool.assertEmpty();
  });
});

describe('input reserve: pbuf counts', () => {
  it('wraps and slices (DATA) stop rxReservePbufs below maxPbufs; RX pbufs go on', () => {
    const pool = new PbufPool({ trackLive: true, maxPbufs: 10, rxReservePbufs: 3 });
    const held: Pbuf[] = [];
    for (let i = 0; i < 7; i++) held.push(must(pool.wrap(new Uint8Array(4))));
    expect(pool.wrap(new Uint8Array(4))).toBeNull();
    expect(pool.slice(held[0]!, 0, 2)).toBeNull();
    expect(pool.alloc(PbufLayer.RAW, 1)).toBeNull();
    expect(pool.stats.allocFailures).toBe(3);
    // A slice may be made with RX use (a received segment split in the reserve).
    const s = must(pool.slice(held[0]!, 0, 2, PbufUse.RX));
    held.push(s);
    held.push(must(pool.allocRx(10)));
    held.push(must(pool.wrap(new Uint8Array(1), PbufType.REF, PbufUse.CONTROL)));
    expect(pool.stats.pbufsInUse).toBe(10);
    expect(pool.allocRx(1)).toBeNull();
    expect(pool.stats.rxAllocFailures).toBe(1);
    expect(pool.stats.reserveAllocs).toBe(3);
    freeAll(held);
    pool.assertEmpty();
  });

  it('POOL pieces have their own reserve', () => {
    const pool = new PbufPool({ trackLive: true, maxPoolPbufs: 4, rxReservePoolPbufs: 2 });
    const d = must(pool.alloc(PbufLayer.RAW, 3000, PbufType.POOL)); // 2 pieces
    expect(pool.alloc(PbufLayer.RAW, 1, PbufType.POOL)).toBeNull();
    const r = must(pool.allocRx(3000, PbufType.POOL));
    expect(r.clen()).toBe(2);
    expect(pool.allocRx(1, PbufType.POOL)).toBeNull();
    // RAM pieces are not POOL pieces: still fine.
    const ram = must(pool.allocRx(1));
    expect(pool.stats.rxAllocFailures).toBe(1);
    freeAll([d, r, ram]);
    pool.assertEmpty();
  });

  it('an RX POOL chain failing midway releases its pieces', () => {
    const pool = new PbufPool({ trackLive: true, maxPoolPbufs: 3, rxReservePoolPbufs: 1 });
    expect(pool.allocRx(5000, PbufType.POOL)).toBeNull(); // needs 4 pieces
    expect(pool.stats.allocs).toBe(3);
    expect(pool.stats.reserveAllocs).toBe(1);
    expect(pool.stats.rxAllocFailures).toBe(1);
    pool.assertEmpty();
  });
});

describe('input reserve: options', () => {
  it('a reserve larger than its limit, negative or fractional is a RangeError', () => {
    expect(() => new PbufPool({ maxBytes: 1000, rxReserveBytes: 1001 })).toThrow(RangeError);
    expect(() => new PbufPool({ maxPbufs: 5, rxReservePbufs: 6 })).toThrow(RangeError);
    expect(() => new PbufPool({ maxPoolPbufs: 5, rxReservePoolPbufs: 6 })).toThrow(RangeError);
    expect(() => new PbufPool({ rxReserveBytes: -1 })).toThrow(RangeError);
    expect(() => new PbufPool({ rxReservePbufs: 1.5 })).toThrow(RangeError);
    expect(() => new PbufPool({ rxReserveBytes: undefined })).not.toThrow();
  });

  it('an unknown use is a programming error', () => {
    const pool = new PbufPool();
    expect(() => pool.alloc(PbufLayer.RAW, 1, PbufType.RAM, 7 as PbufUse)).toThrow(PbufError);
    pool.assertEmpty();
  });
});

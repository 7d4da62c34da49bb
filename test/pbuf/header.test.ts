// addHeader / removeHeader / header(±n): the edges of header room and
// payload, and that only the piece they act on changes.
import { describe, expect, it } from 'vitest';
import { PbufPool } from '../../src/pbuf/pool.ts';
import { PbufLayer, PbufType, buildChain, checkInvariants, must, pattern } from './helpers.ts';

describe('addHeader', () => {
  it('succeeds for exactly the room and fails for one more, leaving the pbuf unchanged', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.TRANSPORT, 100));
    const room = pool.headerRoom(PbufLayer.TRANSPORT);
    expect(p.addHeader(room + 1)).toBe(false);
    expect([p.off, p.len, p.totLen]).toEqual([room, 100, 100]);
    expect(p.addHeader(room)).toBe(true);
    expect([p.off, p.len, p.totLen]).toEqual([0, 100 + room, 100 + room]);
    expect(p.headerRoom()).toBe(0);
    expect(p.addHeader(1)).toBe(false);
    expect(p.addHeader(0)).toBe(true);
    p.free();
    pool.assertEmpty();
  });

  it('steps through the layers: TCP 20, IP 20, link 14', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.TRANSPORT, 10));
    p.take(pattern(10));
    expect(p.addHeader(20)).toBe(true);
    expect(p.addHeader(20)).toBe(true);
    expect(p.addHeader(14)).toBe(true);
    expect(p.len).toBe(64);
    expect(p.off).toBe(136 - 54);
    // The payload bytes stayed where they were, behind the new headers.
    expect(Array.from(p.payload().subarray(54))).toEqual(Array.from(pattern(10)));
    p.free();
    pool.assertEmpty();
  });

  it('rejects negative and non-integer amounts', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.IP, 10));
    for (const n of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, -0.5]) {
      expect(p.addHeader(n), String(n)).toBe(false);
      expect(p.removeHeader(n), String(n)).toBe(false);
    }
    expect([p.off, p.len, p.totLen]).toEqual([76, 10, 10]);
    p.free();
    pool.assertEmpty();
  });

  it('RAW pbufs and later POOL pieces have no room', () => {
    const pool = new PbufPool({ trackLive: true });
    const raw = must(pool.alloc(PbufLayer.RAW, 10));
    expect(raw.addHeader(1)).toBe(false);
    const chain = must(pool.alloc(PbufLayer.LINK, 4000, PbufType.POOL));
    const second = must(chain.next);
    expect(second.headerRoom()).toBe(0);
    expect(second.addHeader(1)).toBe(false);
    expect(chain.addHeader(16)).toBe(true);
    expect(chain.addHeader(1)).toBe(false);
    raw.free();
    chain.free();
    pool.assertEmpty();
  });

  it('addHeader(0) succeeds on ROM/REF as in lwIP (a zero increment is a no-op)', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.wrap(pattern(10), PbufType.REF));
    expect(p.addHeader(0)).toBe(true);
    expect(p.header(0)).toBe(true);
    expect(p.addHeader(1)).toBe(false);
    expect([p.off, p.len]).toEqual([0, 10]);
    p.free();
    pool.assertEmpty();
  });
});

describe('removeHeader', () => {
  it('removing exactly len leaves an empty piece; len + 1 fails', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.IP, 40));
    expect(p.removeHeader(41)).toBe(false);
    expect([p.off, p.len, p.totLen]).toEqual([76, 40, 40]);
    expect(p.removeHeader(40)).toBe(true);
    expect([p.off, p.len, p.totLen]).toEqual([116, 0, 0]);
    expect(p.removeHeader(1)).toBe(false);
    expect(p.removeHeader(0)).toBe(true);
    // The hidden bytes are header room again.
    expect(p.headerRoom()).toBe(116);
    expect(p.addHeader(116)).toBe(true);
    expect(p.len).toBe(116);
    p.free();
    pool.assertEmpty();
  });

  it('cannot reach past the first piece of a chain', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = buildChain(pool, [10, 20, 30]);
    expect(p.removeHeader(11)).toBe(false);
    expect(p.removeHeader(10)).toBe(true);
    expect(p.len).toBe(0);
    expect(p.totLen).toBe(50);
    checkInvariants(p);
    p.free();
    pool.assertEmpty();
  });

  it('works on ROM memory and shows the later bytes', () => {
    const pool = new PbufPool({ trackLive: true });
    const src = pattern(20);
    const p = must(pool.wrap(src));
    expect(p.removeHeader(20)).toBe(true);
    expect(p.len).toBe(0);
    expect(p.removeHeader(1)).toBe(false);
    p.free();
    pool.assertEmpty();
  });
});

describe('header(delta)', () => {
  it('positive grows, negative hides, with the same edges', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.LINK, 8));
    expect(p.header(17)).toBe(false);
    expect(p.header(16)).toBe(true);
    expect(p.len).toBe(24);
    expect(p.header(-25)).toBe(false);
    expect(p.header(-24)).toBe(true);
    expect(p.len).toBe(0);
    expect(p.header(-0)).toBe(true);
    expect(p.header(Number.NaN)).toBe(false);
    expect(p.header(-1.5)).toBe(false);
    expect(p.header(25)).toBe(false);
    expect(p.header(24)).toBe(true);
    expect(p.off).toBe(0);
    p.free();
    pool.assertEmpty();
  });

  it('updates totLen on the first piece only', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(PbufLayer.TRANSPORT, 3000, PbufType.POOL));
    const second = must(p.next);
    const before = second.totLen;
    expect(p.header(20)).toBe(true);
    expect(p.totLen).toBe(3020);
    expect(second.totLen).toBe(before);
    expect(p.header(-50)).toBe(true);
    expect(p.totLen).toBe(2970);
    expect(second.totLen).toBe(before);
    checkInvariants(p);
    p.free();
    pool.assertEmpty();
  });
});

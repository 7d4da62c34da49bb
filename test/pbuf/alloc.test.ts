// Allocation: header room per layer, POOL chain splitting, zero-length and
// >64 KiB allocations, ROM/REF wraps.
import { describe, expect, it } from 'vitest';
import { PbufError } from '../../src/pbuf/pbuf.ts';
import { PbufPool } from '../../src/pbuf/pool.ts';
import { PbufLayer, PbufType, checkInvariants, must, pattern, pieces, sha, sumLen } from './helpers.ts';

const LAYERS = [
  ['TRANSPORT', PbufLayer.TRANSPORT],
  ['IP', PbufLayer.IP],
  ['LINK', PbufLayer.LINK],
  ['RAW', PbufLayer.RAW],
] as const;

describe('layer header room', () => {
  it('defaults are link 16, ip +60, transport +60', () => {
    const pool = new PbufPool({ trackLive: true });
    expect(pool.headerRoom(PbufLayer.RAW)).toBe(0);
    expect(pool.headerRoom(PbufLayer.LINK)).toBe(16);
    expect(pool.headerRoom(PbufLayer.IP)).toBe(76);
    expect(pool.headerRoom(PbufLayer.TRANSPORT)).toBe(136);
    pool.assertEmpty();
  });

  it('custom room options add up per layer', () => {
    const pool = new PbufPool({ trackLive: true, linkHeaderRoom: 14, ipHeaderRoom: 20, transportHeaderRoom: 20 });
    expect(pool.headerRoom(PbufLayer.LINK)).toBe(14);
    expect(pool.headerRoom(PbufLayer.IP)).toBe(34);
    expect(pool.headerRoom(PbufLayer.TRANSPORT)).toBe(54);
    pool.assertEmpty();
  });

  it('rejects invalid options', () => {
    expect(() => new PbufPool({ poolBufSize: 63 })).toThrow(RangeError);
    expect(() => new PbufPool({ maxBytes: -1 })).toThrow(RangeError);
    expect(() => new PbufPool({ linkHeaderRoom: 1.5 })).toThrow(RangeError);
    expect(() => new PbufPool({ maxPbufs: undefined })).not.toThrow();
  });
});

describe.each(LAYERS)('RAM alloc at %s', (_name, layer) => {
  it.each([0, 1, 100, 1500, 65535, 65536, 100_000, 200_000])('%i bytes: one piece, header room = headerRoom(layer)', (n) => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(layer, n, PbufType.RAM));
    expect(p.type).toBe(PbufType.RAM);
    expect(p.next).toBeNull();
    expect(p.len).toBe(n);
    expect(p.totLen).toBe(n);
    expect(p.ref).toBe(1);
    expect(p.off).toBe(pool.headerRoom(layer));
    expect(p.headerRoom()).toBe(pool.headerRoom(layer));
    expect(p.payload().length).toBe(n);
    expect(p.clen()).toBe(1);
    checkInvariants(p);
    // The whole payload is writable and reads back.
    const data = pattern(n, n);
    expect(p.take(data)).toBe(true);
    expect(sha(p.toBytes())).toBe(sha(data));
    expect(p.free()).toBe(1);
    pool.assertEmpty();
  });

  it('RAM is the default type', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.alloc(layer, 10));
    expect(p.type).toBe(PbufType.RAM);
    p.free();
    pool.assertEmpty();
  });
});

describe.each(LAYERS)('POOL alloc at %s', (_name, layer) => {
  it.each([0, 1, 100, 1463, 1464, 1465, 1500, 1599, 1600, 1601, 3200, 65535, 65536, 100_000])(
    '%i bytes splits at poolBufSize with room only in the first piece',
    (n) => {
      const pool = new PbufPool({ trackLive: true });
      const unit = pool.opts.poolBufSize;
      const room = pool.headerRoom(layer);
      const p = must(pool.alloc(layer, n, PbufType.POOL));
      checkInvariants(p);
      expect(p.totLen).toBe(n);
      expect(sumLen(p)).toBe(n);
      const ps = pieces(p);
      // Expected split: the first piece carries the header room inside its
      // poolBufSize block, later pieces are full units, the last the rest.
      const expected: number[] = [];
      let rem = n;
      let first = unit - room;
      do {
        const k = Math.min(rem, first);
        expected.push(k);
        rem -= k;
        first = unit;
      } while (rem > 0);
      expect(ps.map((q) => q.len)).toEqual(expected);
      ps.forEach((q, i) => {
        expect(q.type).toBe(PbufType.POOL);
        expect(q.ref).toBe(1);
        expect(q.off).toBe(i === 0 ? room : 0);
        expect(q.headerRoom()).toBe(i === 0 ? room : 0);
        expect(q.off + q.len).toBeLessThanOrEqual(unit);
      });
      expect(pool.stats.poolPbufsInUse).toBe(ps.length);
      expect(pool.stats.pbufsInUse).toBe(ps.length);
      const data = pattern(n, 3);
      expect(p.take(data)).toBe(true);
      expect(sha(p.toBytes())).toBe(sha(data));
      expect(p.free()).toBe(ps.length);
      pool.assertEmpty();
    },
  );
});

describe('POOL with a small unit', () => {
  it('a 100,000-byte chain of 256-byte units has the exact piece count', () => {
    const pool = new PbufPool({ trackLive: true, poolBufSize: 256 });
    const p = must(pool.alloc(PbufLayer.IP, 100_000, PbufType.POOL));
    // first piece: 256 - 76 = 180, then ceil((100000 - 180) / 256) pieces
    const count = 1 + Math.ceil((100_000 - 180) / 256);
    expect(p.clen()).toBe(count);
    expect(p.len).toBe(180);
    checkInvariants(p);
    expect(p.free()).toBe(count);
    pool.assertEmpty();
  });
});

describe('invalid allocations', () => {
  it('throws PbufError for bad length, bad layer, ROM/REF types', () => {
    const pool = new PbufPool({ trackLive: true });
    expect(() => pool.alloc(PbufLayer.RAW, -1)).toThrow(PbufError);
    expect(() => pool.alloc(PbufLayer.RAW, 1.5)).toThrow(PbufError);
    expect(() => pool.alloc(PbufLayer.RAW, Number.NaN)).toThrow(PbufError);
    expect(() => pool.alloc(7 as PbufLayer, 10)).toThrow(PbufError);
    expect(() => pool.alloc(PbufLayer.RAW, 10, PbufType.ROM)).toThrow(PbufError);
    expect(() => pool.alloc(PbufLayer.RAW, 10, PbufType.REF)).toThrow(PbufError);
    expect(pool.stats.allocs).toBe(0);
    expect(pool.stats.allocFailures).toBe(0);
    pool.assertEmpty();
  });
});

describe('wrap (ROM/REF)', () => {
  it.each([
    ['ROM', PbufType.ROM],
    ['REF', PbufType.REF],
  ] as const)('%s points at caller memory without copying and has no header room', (_n, type) => {
    const pool = new PbufPool({ trackLive: true });
    const src = pattern(300);
    const p = must(pool.wrap(src, type));
    expect(p.type).toBe(type);
    expect(p.buf).toBe(src); // same memory, no copy
    expect(p.off).toBe(0);
    expect(p.len).toBe(300);
    expect(p.totLen).toBe(300);
    expect(p.ownsBlock).toBe(false);
    expect(p.headerRoom()).toBe(0);
    expect(p.addHeader(1)).toBe(false);
    expect(p.len).toBe(300);
    // Mutation of the source shows through the pbuf, and vice versa.
    src[5] = 0xab;
    expect(p.getAt(5)).toBe(0xab);
    expect(p.putAt(6, 0xcd)).toBe(true);
    expect(src[6]).toBe(0xcd);
    // Removing a header moves into the caller memory; adding it back fails
    // (lwIP only allows that with force for ROM/REF).
    expect(p.removeHeader(10)).toBe(true);
    expect(p.getAt(0)).toBe(src[10]);
    expect(p.addHeader(10)).toBe(false);
    // No block bytes are accounted for wraps.
    expect(pool.stats.bytesInUse).toBe(0);
    expect(pool.stats.pbufsInUse).toBe(1);
    expect(p.free()).toBe(1);
    pool.assertEmpty();
  });

  it('ROM is the default and a wrap of a subarray sees exactly that window', () => {
    const pool = new PbufPool({ trackLive: true });
    const big = pattern(100);
    const p = must(pool.wrap(big.subarray(10, 20)));
    expect(p.type).toBe(PbufType.ROM);
    expect(Array.from(p.toBytes())).toEqual(Array.from(big.subarray(10, 20)));
    p.free();
    pool.assertEmpty();
  });

  it('zero-length wrap is a valid piece', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = must(pool.wrap(new Uint8Array(0)));
    expect(p.len).toBe(0);
    expect(p.totLen).toBe(0);
    expect(p.toBytes().length).toBe(0);
    p.free();
    pool.assertEmpty();
  });

  it('fromBytes copies into a RAM pbuf at the layer', () => {
    const pool = new PbufPool({ trackLive: true });
    const src = pattern(50);
    const p = must(pool.fromBytes(src, PbufLayer.IP));
    expect(p.type).toBe(PbufType.RAM);
    expect(p.off).toBe(pool.headerRoom(PbufLayer.IP));
    src[0] = src[0]! ^ 0xff;
    expect(p.getAt(0)).toBe(src[0]! ^ 0xff); // a copy: unaffected
    p.free();
    pool.assertEmpty();
  });
});

import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import { fragmentIpv6 } from '../../src/ip/fragment6.ts';
import type { Pbuf } from '../../src/pbuf/pbuf.ts';
import { PbufPool } from '../../src/pbuf/pool.ts';
import { Rng } from '../../src/time/rng.ts';
import { WireErrorCode } from '../../src/wire/error.ts';
import { newIpv6ExtResult, walkIpv6Ext } from '../../src/wire/ipv6-ext.ts';
import { Ipv6NextHeader } from '../../src/wire/ipv6.ts';
import { optsHeader, packet6, pattern, routingHeader, setup, sha256 } from '../support/frag6.ts';

/** HBH, DST, ROUTING (unfragmentable: 24 bytes), then DST (fragmentable), then UDP. */
function withExt(payload: Uint8Array): Uint8Array {
  const ext = new Uint8Array([
    ...optsHeader(Ipv6NextHeader.DSTOPTS),
    ...optsHeader(Ipv6NextHeader.ROUTING),
    ...routingHeader(Ipv6NextHeader.DSTOPTS),
    ...optsHeader(Ipv6NextHeader.UDP),
  ]);
  return packet6(payload, { nextHeader: Ipv6NextHeader.HOPOPTS, ext });
}

/** Fragment `pkt` at `mtu`; return the fragments' bytes. */
function fragment(pool: PbufPool, pkt: Uint8Array, mtu: number, ident = 0xabcdef01): { err: number; frags: Uint8Array[] } {
  const p = pool.fromBytes(pkt)!;
  const frags: Uint8Array[] = [];
  const err = fragmentIpv6(pool, p, mtu, ident, (f) => {
    frags.push(f.toBytes());
    expect(f.next?.buf).toBe(p.buf); // the data is a slice of p, not a copy
    return Err.OK;
  });
  p.free();
  return { err, frags };
}

describe('IPv6 fragmentation', () => {
  test('round trips at several MTUs and sizes, in order and reversed', () => {
    const ext = newIpv6ExtResult();
    for (const mtu of [1280, 1500, 4000, 9000]) {
      for (const size of [mtu, 1300, 3001, 9999, 65535 - 40]) {
        for (const build of [(d: Uint8Array) => packet6(d), withExt]) {
          const pkt = build(pattern(size, mtu));
          if (pkt.length <= mtu || pkt.length - 40 > 65535) continue;
          const { pool, r, feed, done, clock } = setup();
          const { err, frags } = fragment(pool, pkt, mtu, 77);
          expect(err).toBe(Err.OK);
          expect(frags.length).toBeGreaterThan(1);
          const unfrag = build === withExt ? 64 : 40;
          frags.forEach((f, i) => {
            expect(f.length).toBeLessThanOrEqual(mtu);
            expect(walkIpv6Ext(f, 0, f.length, ext)).toBe(WireErrorCode.OK);
            expect(ext.hasFragment).toBe(true);
            expect(ext.fragHeaderOffset).toBe(unfrag);
            expect(ext.fragIdent).toBe(77);
            expect(ext.moreFragments).toBe(i < frags.length - 1);
            if (ext.moreFragments) expect((f.length - unfrag - 8) % 8).toBe(0);
            expect(f.subarray(0, 4)).toEqual(pkt.subarray(0, 4));
          });
          for (const order of [frags, [...frags].reverse()]) {
            for (const f of order) feed(f);
          }
          expect(done).toHaveLength(2);
          expect(sha256(done[0]!)).toBe(sha256(pkt));
          expect(sha256(done[1]!)).toBe(sha256(pkt));
          expect(r.pending).toBe(0);
          expect(clock.pendingTimers()).toBe(0);
          pool.assertEmpty();
        }
      }
    }
  });

  test('seeded random sizes and MTUs round trip', () => {
    const rng = new Rng('fragment6');
    for (let i = 0; i < 50; i++) {
      const mtu = 1280 + rng.int(8000);
      const pkt = packet6(pattern(mtu + rng.int(40000), i));
      const { pool, feed, done } = setup();
      const { err, frags } = fragment(pool, pkt, mtu, rng.u32());
      expect(err).toBe(Err.OK);
      for (let k = frags.length - 1; k > 0; k--) {
        const j = rng.int(k + 1);
        [frags[k], frags[j]] = [frags[j]!, frags[k]!];
      }
      for (const f of frags) feed(f);
      expect(done).toHaveLength(1);
      expect(sha256(done[0]!)).toBe(sha256(pkt));
      pool.assertEmpty();
    }
  });

  test('refuses an MTU below 1280 and a packet that fits (no atomic fragments, RFC 8021)', () => {
    const pool = new PbufPool({ trackLive: true });
    expect(fragment(pool, packet6(pattern(2000)), 1279).err).toBe(Err.VAL);
    expect(fragment(pool, packet6(pattern(1240)), 1280).err).toBe(Err.VAL);
    expect(fragment(pool, packet6(pattern(1241)), 1280).err).toBe(Err.OK);
    pool.assertEmpty();
  });

  test('an emit error stops the cutting and leaks nothing', () => {
    const pool = new PbufPool({ trackLive: true });
    const p = pool.fromBytes(packet6(pattern(5000)))!;
    let n = 0;
    expect(fragmentIpv6(pool, p, 1280, 1, () => (++n === 2 ? Err.BUF : Err.OK))).toBe(Err.BUF);
    expect(n).toBe(2);
    p.free();
    pool.assertEmpty();
  });

  test('out of memory returns Err.MEM and leaks nothing', () => {
    const pool = new PbufPool({ trackLive: true, maxPbufs: 4, rxReservePbufs: 0 });
    const p = pool.fromBytes(packet6(pattern(5000)))!;
    const held: Pbuf[] = [];
    // The caller keeps the fragments (a queue waiting for a link): the pool runs dry.
    expect(
      fragmentIpv6(pool, p, 1280, 1, (f) => {
        f.addRef();
        held.push(f);
        return Err.OK;
      }),
    ).toBe(Err.MEM);
    expect(held).toHaveLength(1);
    for (const f of held) f.free();
    p.free();
    pool.assertEmpty();
  });
});

import { describe, expect, test } from 'vitest';
import { newReassembly6Counters, type Reassembly6Counters } from '../../src/ip/reassembly6.ts';
import { Rng } from '../../src/time/rng.ts';
import { WireErrorCode } from '../../src/wire/error.ts';
import { newIpv6ExtResult, walkIpv6Ext } from '../../src/wire/ipv6-ext.ts';
import { Ipv6NextHeader } from '../../src/wire/ipv6.ts';
import { cut, DST, frag6, manualExt, optsHeader, OTHER, packet6, pattern, setup, sha256, SRC } from '../support/frag6.ts';

/** Only the named counters moved, by these amounts. */
function expectOnly(c: Reassembly6Counters, expected: Partial<Reassembly6Counters>): void {
  expect(c).toEqual({ ...newReassembly6Counters(), ...expected });
}

function shuffle<T>(a: T[], rng: Rng): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe('IPv6 reassembly', () => {
  test('in order, reversed and shuffled fragments rebuild the packet', () => {
    const rng = new Rng(6);
    const payload = pattern(5000);
    const want = sha256(packet6(payload));
    for (const order of ['in-order', 'reversed', 'shuffled']) {
      const { r, pool, feed, done, clock } = setup();
      const frags = cut(payload, 1024);
      if (order === 'reversed') frags.reverse();
      if (order === 'shuffled') shuffle(frags, rng);
      frags.forEach((f, i) => expect(feed(f) === null).toBe(i < frags.length - 1));
      expect(done).toHaveLength(1);
      expect(sha256(done[0]!)).toBe(want);
      expectOnly(r.counters, { reassembled: 1 });
      expect(r.pending).toBe(0);
      expect(r.bytes).toBe(0);
      expect(clock.pendingTimers()).toBe(0);
      pool.assertEmpty();
    }
  });

  test('unfragmentable headers of the first fragment are kept and the chain is fixed', () => {
    const { feed, done, pool } = setup();
    const data = pattern(3000, 3);
    const hbh = optsHeader(Ipv6NextHeader.FRAGMENT);
    const mk = (start: number, end: number, more: boolean): Uint8Array => {
      const f = frag6(data.subarray(start, end), start, more);
      // Insert the hop-by-hop header in front of the Fragment header.
      const ext = new Uint8Array(8 + f.length - 40);
      ext.set(hbh, 0);
      ext.set(f.subarray(40), 8);
      return packet6(ext.subarray(0), { nextHeader: Ipv6NextHeader.HOPOPTS });
    };
    feed(mk(1496, 3000, false));
    feed(mk(0, 1496, true));
    const want = packet6(new Uint8Array([...optsHeader(Ipv6NextHeader.UDP), ...data]), { nextHeader: Ipv6NextHeader.HOPOPTS });
    expect(done[0]).toEqual(want);
    const ext = newIpv6ExtResult();
    expect(walkIpv6Ext(done[0]!, 0, done[0]!.length, ext)).toBe(WireErrorCode.OK);
    expect(ext.protocol).toBe(Ipv6NextHeader.UDP);
    expect(ext.hasFragment).toBe(false);
    pool.assertEmpty();
  });

  test('the key is source, destination and identification, not the next header', () => {
    const { r, feed, done, pool } = setup();
    const data = pattern(2048);
    feed(frag6(data.subarray(0, 1024), 0, true, { ident: 1, nextHeader: Ipv6NextHeader.UDP }));
    feed(frag6(data.subarray(0, 1024), 0, true, { ident: 1, src: OTHER }));
    feed(frag6(data.subarray(0, 1024), 0, true, { ident: 2 }));
    expect(r.pending).toBe(3);
    // Same source, destination, id: the same packet even with another next header (the first fragment's wins).
    expect(feed(frag6(data.subarray(1024), 1024, false, { ident: 1, nextHeader: Ipv6NextHeader.TCP }))).not.toBeNull();
    expect(done[0]![6]).toBe(Ipv6NextHeader.UDP);
    expect(r.pending).toBe(2);
    r.clear();
    pool.assertEmpty();
  });

  test('a partial overlap discards the packet and the fragments after it', () => {
    const { r, feed, clock, pool, timeouts } = setup();
    const data = pattern(3000);
    feed(frag6(data.subarray(0, 1024), 0, true));
    feed(frag6(data.subarray(1016, 2048), 1016, true));
    expectOnly(r.counters, { overlaps: 1 });
    expect(r.bytes).toBe(0);
    // The rest, even fragments that would have completed it, is dropped.
    expect(feed(frag6(data.subarray(1024, 3000), 1024, false))).toBeNull();
    expect(feed(frag6(data.subarray(0, 1024), 0, true))).toBeNull();
    expectOnly(r.counters, { overlaps: 1, afterDiscard: 2 });
    expect(r.bytes).toBe(0);
    pool.assertEmpty();
    // The tombstone goes at the timeout without an ICMPv6 error.
    clock.advanceTo(60_000);
    expect(r.pending).toBe(0);
    expect(timeouts).toHaveLength(0);
    expectOnly(r.counters, { overlaps: 1, afterDiscard: 2 });
    expect(clock.pendingTimers()).toBe(0);
  });

  test('a full overlap (one fragment covering another) discards the packet', () => {
    for (const [a, b] of [
      [
        [1024, 2048],
        [0, 3072],
      ],
      [
        [0, 3072],
        [1024, 2048],
      ],
      [
        [1024, 2048],
        [1024, 3072],
      ],
    ] as const) {
      const { r, feed, pool } = setup();
      const data = pattern(4096);
      feed(frag6(data.subarray(a[0], a[1]), a[0], true));
      feed(frag6(data.subarray(b[0], b[1]), b[0], true));
      expectOnly(r.counters, { overlaps: 1 });
      feed(frag6(data.subarray(3072), 3072, false));
      expectOnly(r.counters, { overlaps: 1, afterDiscard: 1 });
      r.clear();
      pool.assertEmpty();
    }
  });

  test('an exact duplicate is dropped alone; a same-range fragment with other bytes is an overlap', () => {
    {
      const { r, feed, done, pool } = setup();
      const data = pattern(2048);
      const [a, b] = cut(data, 1024);
      feed(a!);
      feed(a!);
      expectOnly(r.counters, { duplicateFragments: 1 });
      feed(b!);
      expectOnly(r.counters, { duplicateFragments: 1, reassembled: 1 });
      expect(sha256(done[0]!)).toBe(sha256(packet6(data)));
      pool.assertEmpty();
    }
    {
      const { r, feed, pool } = setup();
      const data = pattern(2048);
      feed(frag6(data.subarray(1024), 1024, false));
      const other = data.slice(1024);
      other[5]! ^= 1;
      feed(frag6(other, 1024, false));
      expectOnly(r.counters, { overlaps: 1 });
      r.clear();
      pool.assertEmpty();
    }
  });

  test('fragments that arrive as pbuf chains are compared and joined across pieces', () => {
    const { r, pool, take, done } = setup();
    const data = pattern(3000, 4);
    const ext = newIpv6ExtResult();
    /** The fragment as a chain: its headers and the first `split` data bytes, then the rest. */
    const chained = (bytes: Uint8Array, split: number) => {
      const head = pool.fromBytes(bytes.subarray(0, 48 + split))!;
      head.cat(pool.fromBytes(bytes.subarray(48 + split))!);
      // The walker needs the whole packet in one range: walk the bytes, then place its offsets in the head piece.
      expect(walkIpv6Ext(bytes, 0, bytes.length, ext)).toBe(WireErrorCode.OK);
      return take(r.insert(head, { ...ext, fragHeaderOffset: ext.fragHeaderOffset + head.off, fragDataOffset: ext.fragDataOffset + head.off }));
    };
    const a = frag6(data.subarray(0, 1504), 0, true);
    const b = frag6(data.subarray(1504), 1504, false);
    chained(b, 100);
    chained(b, 7); // the same bytes cut elsewhere: a duplicate
    chained(a, 1000);
    expectOnly(r.counters, { duplicateFragments: 1, reassembled: 1 });
    expect(sha256(done[0]!)).toBe(sha256(packet6(data)));
    pool.assertEmpty();
  });

  test('atomic fragments are returned alone and never mixed with pending fragments of the same id', () => {
    const { r, feed, done, pool } = setup();
    const data = pattern(2048);
    const small = pattern(100, 9);
    feed(frag6(data.subarray(0, 1024), 0, true, { ident: 7 }));
    const atomic = feed(frag6(small, 0, false, { ident: 7 }));
    expect(atomic).toEqual(packet6(small));
    expect(r.pending).toBe(1);
    expect(feed(frag6(data.subarray(1024), 1024, false, { ident: 7 }))).not.toBeNull();
    expect(done[1]).toEqual(packet6(data));
    // An atomic fragment with the id of a discarded packet still goes through.
    feed(frag6(data.subarray(0, 1024), 0, true, { ident: 8 }));
    feed(frag6(data.subarray(8, 1032), 8, true, { ident: 8 }));
    expect(feed(frag6(small, 0, false, { ident: 8 }))).toEqual(packet6(small));
    expectOnly(r.counters, { atomic: 2, reassembled: 1, overlaps: 1 });
    r.clear();
    pool.assertEmpty();
  });

  test('non-last fragments must carry a non-zero multiple of 8 bytes', () => {
    const { r, feed, pool } = setup();
    const data = pattern(2048);
    for (const n of [1001, 1, 0]) {
      const f = frag6(data.subarray(0, n), 0, true);
      feed(f, manualExt(f));
    }
    expectOnly(r.counters, { badLength: 3 });
    expect(r.pending).toBe(0);
    // The last fragment may have any length.
    feed(frag6(data.subarray(0, 1024), 0, true));
    expect(feed(frag6(data.subarray(1024, 1025), 1024, false))).not.toBeNull();
    pool.assertEmpty();
  });

  test('a reassembled payload above 65535 bytes is refused', () => {
    const { r, feed, pool } = setup();
    const f = frag6(pattern(16), 65528, false);
    feed(f, manualExt(f)); // 65544
    expectOnly(r.counters, { oversize: 1 });
    // 65528 + 8 fits the offset field but, with 8 bytes of hop-by-hop header, not the Payload Length.
    const g = frag6(pattern(8), 65520, false);
    const ext = new Uint8Array([...optsHeader(Ipv6NextHeader.FRAGMENT), ...g.subarray(40)]);
    const h = packet6(ext, { nextHeader: Ipv6NextHeader.HOPOPTS });
    feed(h);
    expectOnly(r.counters, { oversize: 2 });
    // Exactly 65535 is fine.
    const data = pattern(65535);
    for (const q of cut(data, 8192)) feed(q);
    expectOnly(r.counters, { oversize: 2, reassembled: 1 });
    expect(r.pending).toBe(0);
    pool.assertEmpty();
  });

  test('inconsistent ends discard the packet', () => {
    const { r, feed, pool } = setup();
    const data = pattern(4096);
    feed(frag6(data.subarray(2048, 3000), 2048, false));
    feed(frag6(data.subarray(3072, 4096), 3072, true)); // past the end
    expectOnly(r.counters, { inconsistentEnds: 1 });
    feed(frag6(data.subarray(3072, 4096), 3072, true, { ident: 3 }));
    feed(frag6(data.subarray(1024, 2048), 1024, false, { ident: 3 })); // ends before a fragment already held
    expectOnly(r.counters, { inconsistentEnds: 2 });
    feed(frag6(data.subarray(1024, 1100), 1024, false, { ident: 2 }));
    feed(frag6(data.subarray(1024, 1200), 1024, false, { ident: 2 })); // another end, same start: an overlap
    expectOnly(r.counters, { inconsistentEnds: 2, overlaps: 1 });
    r.clear();
    pool.assertEmpty();
  });

  test('timeout with the first fragment calls back for time exceeded (code 1)', () => {
    const { r, feed, clock, pool, timeouts } = setup();
    const data = pattern(3000);
    const first = frag6(data.subarray(0, 1024), 0, true);
    feed(first);
    clock.advanceTo(30_000);
    feed(frag6(data.subarray(2048), 2048, false));
    clock.advanceTo(59_999);
    expect(timeouts).toHaveLength(0);
    clock.advanceTo(60_000);
    expect(timeouts).toEqual([{ bytes: first, code: 1 }]);
    expectOnly(r.counters, { timeouts: 1, timeExceeded: 1 });
    expect(r.pending).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    pool.assertEmpty();
  });

  test('timeout without the first fragment is silent', () => {
    const { r, feed, clock, pool, timeouts } = setup();
    const data = pattern(3000);
    feed(frag6(data.subarray(1024, 2048), 1024, true));
    clock.advanceTo(10_000);
    feed(frag6(data.subarray(1024, 2048), 1024, true, { ident: 9 }));
    clock.advanceTo(60_000);
    expectOnly(r.counters, { timeouts: 1 });
    expect(r.pending).toBe(1);
    clock.advanceTo(70_000);
    expectOnly(r.counters, { timeouts: 2 });
    expect(timeouts).toHaveLength(0);
    expect(clock.pendingTimers()).toBe(0);
    pool.assertEmpty();
  });

  test('eviction at the datagram limit takes the oldest', () => {
    const { r, feed, pool, done } = setup({ maxDatagrams: 2 });
    const data = pattern(2048);
    for (const id of [1, 2, 3]) feed(frag6(data.subarray(0, 1024), 0, true, { ident: id }));
    expectOnly(r.counters, { tooManyDatagrams: 1 });
    expect(r.pending).toBe(2);
    expect(feed(frag6(data.subarray(1024), 1024, false, { ident: 2 }))).not.toBeNull();
    expect(feed(frag6(data.subarray(1024), 1024, false, { ident: 3 }))).not.toBeNull();
    expect(done).toHaveLength(2);
    pool.assertEmpty();
  });

  test('eviction at the byte limit takes the oldest, and a packet too big alone is refused', () => {
    const { r, feed, pool } = setup({ maxBytes: 2048 });
    const data = pattern(4096);
    for (const id of [1, 2, 3]) feed(frag6(data.subarray(0, 1024), 0, true, { ident: id }));
    expectOnly(r.counters, { memoryLimit: 1 });
    expect(r.pending).toBe(2);
    expect(r.bytes).toBe(2048);
    feed(frag6(data.subarray(1024, 2048), 1024, true, { ident: 3 })); // evicts 2
    expectOnly(r.counters, { memoryLimit: 2 });
    expect(r.pending).toBe(1);
    expect(r.bytes).toBe(2048);
    expect(feed(frag6(data.subarray(2048), 2048, false, { ident: 3 }))).toBeNull(); // 3 alone is too big now
    expectOnly(r.counters, { memoryLimit: 3 });
    expect(r.pending).toBe(0);
    expect(r.bytes).toBe(0);
    pool.assertEmpty();
  });

  test('too many fragments discards the packet', () => {
    const { r, feed, pool } = setup({ maxFragments: 4 });
    const frags = cut(pattern(8 * 6), 8);
    for (const f of frags) feed(f);
    expectOnly(r.counters, { tooManyFragments: 1, afterDiscard: 1 });
    r.clear();
    pool.assertEmpty();
  });

  test('options are checked', () => {
    expect(() => setup({ maxBytes: 0 })).toThrow(RangeError);
    expect(() => setup({ timeoutMs: 1.5 })).toThrow(RangeError);
    expect(setup().r.timeoutMs).toBe(60_000); // RFC 8200 §4.5
  });

  test('seeded fuzz: random fragment sets never throw and never leak', () => {
    const rng = new Rng('reassembly6-fuzz');
    const { r, clock, pool, done } = setup({ maxBytes: 64 * 1024, maxDatagrams: 8, maxFragments: 16 });
    const ext = newIpv6ExtResult();
    let completed = 0;
    for (let round = 0; round < 400; round++) {
      const ident = rng.int(6);
      const size = 1 + rng.int(6000);
      const data = pattern(size, ident);
      let frags: Uint8Array[];
      if (rng.chance(0.5)) {
        frags = cut(data, 8 * (1 + rng.int(200)), { ident, src: rng.chance(0.8) ? SRC : OTHER, dst: DST });
      } else {
        frags = [];
        for (let k = 1 + rng.int(8); k > 0; k--) {
          const start = rng.chance(0.8) ? 8 * rng.int(Math.max(1, size >> 3)) : rng.int(size);
          const end = Math.min(size, start + rng.int(2000));
          frags.push(frag6(data.subarray(start, end), start & 0xfff8, rng.chance(0.7), { ident }));
        }
      }
      shuffle(frags, rng);
      if (rng.chance(0.2)) frags.push(frags[rng.int(frags.length)]!);
      for (const f of frags) {
        if (rng.chance(0.05)) f[40 + 2 + rng.int(6)]! ^= 1 << rng.int(8); // flip a Fragment header bit
        const p = pool.fromBytes(f)!;
        if (walkIpv6Ext(p.buf, p.off, p.len, ext) !== WireErrorCode.OK || !ext.hasFragment) {
          p.free();
          continue;
        }
        const q = r.insert(p, ext);
        if (q !== null) {
          completed++;
          const b = q.toBytes();
          expect(b.length).toBe(40 + ((b[4]! << 8) | b[5]!));
          q.free();
        }
      }
      if (rng.chance(0.1)) clock.advanceTo(clock.now() + rng.int(70_000));
      expect(r.bytes).toBeGreaterThanOrEqual(0);
      expect(r.bytes).toBeLessThanOrEqual(r.maxBytes);
      expect(r.pending).toBeLessThanOrEqual(r.maxDatagrams);
    }
    expect(completed).toBeGreaterThan(10);
    expect(done).toHaveLength(0);
    clock.advanceTo(clock.now() + 60_000);
    expect(r.pending).toBe(0);
    expect(r.bytes).toBe(0);
    pool.assertEmpty();
  });
});

// IPv4 Identification values (issue 12 finding 10; RFC 7739 §5, RFC 6864):
// no global counter an observer could read across destinations. Each
// (source, destination, protocol) gets a keyed-hash offset and a counter
// from a keyed bucket, with a random extra step when time has passed, all
// from the stack's Rng, so a seed still fixes every byte.
import { describe, expect, test } from 'vitest';
import { halfSipHash24 } from '../../src/ip/halfsiphash.ts';
import { IdentGenerator } from '../../src/ip/ident.ts';
import { Rng } from '../../src/time/rng.ts';
import type { VirtualClock } from '../../src/time/virtual-clock.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import { isWireError } from '../../src/wire/error.ts';
import { addr, captureStack, pattern } from '../support/packets.ts';

function idOf(bytes: Uint8Array): number {
  const ip = parseIpv4(bytes);
  if (isWireError(ip)) throw new Error(ip.message);
  return ip.ident;
}

/** IDs of one ping to each address in `dsts`, in order. */
function pingIds(dsts: string[], seed = 1, gapMs = 0): number[] {
  const { stack, sent } = captureStack({ rng: seed });
  const clock = stack.clock as VirtualClock;
  for (const d of dsts) {
    stack.ping(d, 1, 1, pattern(8));
    clock.advanceBy(gapMs);
  }
  stack.close();
  stack.pool.assertEmpty();
  return sent.map(idOf);
}

const successors = (ids: number[]): number => ids.slice(1).filter((id, i) => id === ((ids[i]! + 1) & 0xffff)).length;

describe('IPv4 Identification', () => {
  test('datagrams to different destinations do not reveal one shared counter', () => {
    const dsts = Array.from({ length: 100 }, (_, i) => `10.0.0.${i + 2}`);
    const ids = pingIds(dsts);
    expect(successors(ids)).toBeLessThan(5);
    // Interleaved A, B, A, B: each destination's own sequence moves on by one, but A's IDs say nothing about B's traffic.
    const ab = pingIds(['10.0.0.2', '10.0.0.3', '10.0.0.2', '10.0.0.3', '10.0.0.2', '10.0.0.3']);
    expect(ab[2]).toBe((ab[0]! + 1) & 0xffff);
    expect(ab[4]).toBe((ab[2]! + 1) & 0xffff);
    expect(ab[3]).toBe((ab[1]! + 1) & 0xffff);
    expect(successors(ab)).toBeLessThan(2);
  });

  test('consecutive datagrams to one destination at one instant have distinct IDs (reassembly needs that)', () => {
    const ids = pingIds(Array.from({ length: 2000 }, () => '10.0.0.9'));
    expect(new Set(ids).size).toBe(2000);
  });

  test('when time passes the next ID jumps by a random amount (no packet counting through shared buckets)', () => {
    const ids = pingIds(Array.from({ length: 40 }, () => '10.0.0.9'), 1, 1000);
    const steps = ids.slice(1).map((id, i) => (id - ids[i]! + 0x10000) & 0xffff);
    expect(steps.filter((s) => s === 1).length).toBeLessThan(5);
    expect(new Set(steps).size).toBeGreaterThan(20);
  });

  test('the same seed gives the same IDs, another seed other ones', () => {
    const dsts = ['10.0.0.2', '192.0.2.1', '10.0.0.2', '198.51.100.7'];
    expect(pingIds(dsts, 5)).toEqual(pingIds(dsts, 5));
    expect(pingIds(dsts, 5)).not.toEqual(pingIds(dsts, 6));
  });

  test('DF datagrams (TCP) draw from the same generator: not zero, not constant', () => {
    const g = new IdentGenerator(new Rng(3), { now: () => 0 });
    const a = addr('10.0.0.1');
    const b = addr('10.0.0.2');
    const ids = Array.from({ length: 10 }, () => g.next(a, b, 6));
    expect(new Set(ids).size).toBe(10);
    // A different protocol to the same host is another flow.
    expect(g.next(a, b, 17)).not.toBe((ids[9]! + 1) & 0xffff);
  });

  test('the keyed hash is HalfSipHash-2-4 (reference vectors_hsip32 of veorq/SipHash, key 00..07)', () => {
    // Message bytes 00..n-1 as little-endian words; expected output bytes read little-endian.
    const cases: [number, number][] = [
      [0, 0x5b9f35a9],
      [1, 0xb85a4727],
      [4, 0x89466e2a],
      [12, 0x2f87f057],
    ];
    for (const [n, want] of cases) {
      const words = new Uint32Array(Math.ceil(n / 4));
      for (let b = 0; b < n; b++) words[b >>> 2]! |= b << ((b & 3) * 8);
      expect(halfSipHash24(0x03020100, 0x07060504, words, n)).toBe(want);
    }
  });
});

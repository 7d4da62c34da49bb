// Fragment attacks by name (issue 12 finding 11): every way the reassembler
// refuses fragments is counted under its own reason in stats.reassembly, so
// the status page can show teardrop, ping of death and fragment floods
// apart. The lwIP-style ipFrag counters keep their meaning.
import { describe, expect, test } from 'vitest';
import type { ReassemblyCounters } from '../../src/stats.ts';
import type { VirtualClock } from '../../src/time/virtual-clock.ts';
import { captureStack, echoRequest, ipPacket, pattern, type IpSpec } from '../support/packets.ts';

const req = (n: number, seq = 1): Uint8Array => echoRequest(0x77, seq, pattern(n - 8, seq));
const frag = (payload: Uint8Array, start: number, end: number, more: boolean, spec: IpSpec = {}): Uint8Array =>
  ipPacket(payload.subarray(start, end), { ...spec, fragOffset: start, moreFragments: more });

/** Only the named counters moved, by these amounts. */
function expectOnly(r: ReassemblyCounters, expected: Partial<ReassemblyCounters>): void {
  const zero = Object.fromEntries(Object.keys(r).map((k) => [k, 0]));
  expect(r).toEqual({ ...zero, ...expected });
}

describe('reassembly counters by attack', () => {
  test('a datagram that completes counts as reassembled', () => {
    const { stack, feed } = captureStack();
    const p = req(2000);
    feed(frag(p, 0, 1024, true));
    feed(frag(p, 1024, 2000, false));
    expectOnly(stack.stats.reassembly, { reassembled: 1 });
    stack.close();
    stack.pool.assertEmpty();
  });

  test('teardrop: a partial overlap discards the datagram (overlaps)', () => {
    const { stack, feed } = captureStack();
    const p = req(2000);
    feed(frag(p, 0, 1024, true));
    feed(frag(p, 1016, 2000, false));
    expectOnly(stack.stats.reassembly, { overlaps: 1 });
    expect(stack.stats.ipFrag.proterr).toBe(1);
    expect(stack.ip.reassembler.pending).toBe(0);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('an exact duplicate is dropped on its own (duplicateFragments)', () => {
    const { stack, feed } = captureStack();
    const p = req(2000);
    feed(frag(p, 0, 1024, true));
    feed(frag(p, 0, 1024, true));
    expectOnly(stack.stats.reassembly, { duplicateFragments: 1 });
    expect(stack.ip.reassembler.pending).toBe(1);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('fragments that disagree about the end discard the datagram (inconsistentEnds)', () => {
    for (const second of [
      (p: Uint8Array) => frag(p, 1024, 1536, false), // a second, shorter last fragment
      (p: Uint8Array) => frag(p, 2048, 2056, true), // data past the known end
    ]) {
      const { stack, feed } = captureStack();
      const p = req(3000);
      feed(frag(p, 1536, 2000, false));
      feed(second(p));
      expectOnly(stack.stats.reassembly, { inconsistentEnds: 1 });
      expect(stack.ip.reassembler.pending).toBe(0);
      stack.close();
      stack.pool.assertEmpty();
    }
  });

  test('ping of death: a fragment ending past 65535 bytes (oversizeFragments)', () => {
    const { stack, feed } = captureStack();
    feed(ipPacket(pattern(512), { fragOffset: 65528 - 504, moreFragments: false }));
    expectOnly(stack.stats.reassembly, { oversizeFragments: 1 });
    expect(stack.stats.ipFrag.lenerr).toBe(1);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('a non-final fragment that is not a multiple of 8 bytes, or empty (badLengthFragments)', () => {
    const { stack, feed } = captureStack();
    const p = req(2000);
    feed(frag(p, 0, 1001, true));
    feed(frag(p, 8, 8, true));
    expectOnly(stack.stats.reassembly, { badLengthFragments: 2 });
    stack.close();
    stack.pool.assertEmpty();
  });

  test('a tiny-fragment flood past maxFragments (tooManyFragments)', () => {
    const { stack, feed } = captureStack({ ip: { reassembly: { maxFragments: 16 } } });
    const p = req(2000);
    for (let off = 0; off < 8 * 17; off += 8) feed(frag(p, off, off + 8, true));
    expectOnly(stack.stats.reassembly, { tooManyFragments: 1 });
    stack.close();
    stack.pool.assertEmpty();
  });

  test('more datagrams pending than maxDatagrams evicts the oldest (tooManyDatagrams)', () => {
    const { stack, feed } = captureStack({ ip: { reassembly: { maxDatagrams: 2 } } });
    for (let id = 1; id <= 4; id++) feed(frag(req(2000, id), 0, 1024, true, { ident: id }));
    expectOnly(stack.stats.reassembly, { tooManyDatagrams: 2 });
    expect(stack.ip.reassembler.pending).toBe(2);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('the byte budget evicts others, then refuses a datagram too big alone (memoryLimit)', () => {
    const { stack, feed } = captureStack({ ip: { reassembly: { maxBytes: 2048 } } });
    feed(frag(req(2000, 1), 0, 1024, true, { ident: 1 }));
    feed(frag(req(4000, 2), 0, 1536, true, { ident: 2 })); // evicts ident 1
    feed(frag(req(4000, 2), 1536, 3072, true, { ident: 2 })); // ident 2 alone is too big: refused
    expectOnly(stack.stats.reassembly, { memoryLimit: 2 });
    expect(stack.ip.reassembler.pending).toBe(0);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('an incomplete datagram times out (timeouts)', () => {
    const { stack, feed } = captureStack({ ip: { reassembly: { timeoutMs: 1000 } } });
    feed(frag(req(2000), 1024, 2000, false));
    (stack.clock as VirtualClock).advanceBy(1500);
    expectOnly(stack.stats.reassembly, { timeouts: 1 });
    expect(stack.stats.ipFrag.err).toBe(1);
    stack.close();
    stack.pool.assertEmpty();
  });
});

import { describe, expect, test } from 'vitest';
import { Rng } from '../../src/time/rng.ts';
import type { VirtualClock } from '../../src/time/virtual-clock.ts';
import { isWireError } from '../../src/wire/error.ts';
import { parseIcmp } from '../../src/wire/icmp.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import { addr, captureStack, echoRequest, icmpMessage, ipPacket, pattern, type IpSpec } from '../support/packets.ts';

/** Cut an IP payload into fragments of `size` bytes (a multiple of 8). */
function fragments(payload: Uint8Array, size: number, spec: IpSpec = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const end = Math.min(off + size, payload.length);
    out.push(ipPacket(payload.subarray(off, end), { ...spec, fragOffset: off, moreFragments: end < payload.length }));
  }
  return out;
}

function frag(payload: Uint8Array, start: number, end: number, more: boolean, spec: IpSpec = {}): Uint8Array {
  return ipPacket(payload.subarray(start, end), { ...spec, fragOffset: start, moreFragments: more });
}

const bigPing = (n = 4000, seq = 1): Uint8Array => echoRequest(0x77, seq, pattern(n - 8, seq));

function expectOneReply(sent: Uint8Array[], request: Uint8Array): void {
  // The reply may itself be fragmented (MTU 1500): rebuild it.
  const parts = sent.map((f) => {
    const r = parseIpv4(f);
    if (isWireError(r)) throw new Error(r.message);
    return { r, data: f.subarray(20) };
  });
  const total = Math.max(...parts.map((p) => p.r.fragOffset + p.data.length));
  const whole = new Uint8Array(total);
  for (const p of parts) whole.set(p.data, p.r.fragOffset);
  expect(parseIcmp(whole)).toMatchObject({ kind: 'echo-reply', ident: 0x77 });
  expect(whole.subarray(8)).toEqual(request.subarray(8));
}

describe('IPv4 reassembly', () => {
  test('in order, reversed and shuffled fragments all rebuild the datagram', () => {
    const rng = new Rng(5);
    for (const order of ['in-order', 'reversed', 'shuffled']) {
      const { stack, sent, feed } = captureStack();
      const req = bigPing();
      const frags = fragments(req, 512);
      if (order === 'reversed') frags.reverse();
      if (order === 'shuffled') {
        for (let i = frags.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          [frags[i], frags[j]] = [frags[j]!, frags[i]!];
        }
      }
      for (const f of frags) feed(f);
      expectOneReply(sent, req);
      expect(stack.ip.reassembler.pending).toBe(0);
      expect(stack.ip.reassembler.bytes).toBe(0);
      expect(stack.clock.pendingTimers()).toBe(0);
      stack.pool.assertEmpty();
    }
  });

  test('an exact duplicate fragment is dropped on its own; the datagram still completes', () => {
    const { stack, sent, feed } = captureStack();
    const req = bigPing(2000);
    const frags = fragments(req, 512);
    feed(frags[0]!);
    feed(frags[1]!);
    feed(frags[1]!);
    for (const f of frags.slice(2)) feed(f);
    expectOneReply(sent, req);
    expect(stack.stats.ipFrag.drop).toBe(1);
    stack.pool.assertEmpty();
  });

  test('a partly overlapping fragment discards the whole datagram (teardrop)', () => {
    const { stack, sent, feed } = captureStack();
    const req = bigPing(2000);
    feed(frag(req, 0, 1024, true));
    feed(frag(req, 1016, 1512, true)); // overlaps the first by 8 bytes
    expect(stack.ip.reassembler.pending).toBe(0);
    expect(stack.stats.ipFrag.proterr).toBe(1);
    // Whatever arrives next starts a new, incomplete datagram: no reply.
    feed(frag(req, 1512, 2000, false));
    expect(sent).toHaveLength(0);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('a fragment inside another (same start, shorter) is an overlap too', () => {
    const { stack, feed } = captureStack();
    const req = bigPing(2000);
    feed(frag(req, 0, 1024, true));
    feed(frag(req, 0, 512, true));
    expect(stack.ip.reassembler.pending).toBe(0);
    stack.pool.assertEmpty();
  });

  test('non-last fragments must carry a multiple of 8 bytes', () => {
    const { stack, feed } = captureStack();
    feed(frag(bigPing(2000), 0, 100, true));
    expect(stack.stats.ipFrag.lenerr).toBe(1);
    expect(stack.ip.reassembler.pending).toBe(0);
    stack.pool.assertEmpty();
  });

  test('a datagram that would exceed 65535 bytes is refused (ping of death)', () => {
    const { stack, sent, feed } = captureStack();
    const tail = pattern(1000);
    feed(ipPacket(tail, { fragOffset: 65528 - 8, moreFragments: false }));
    expect(stack.stats.ipFrag.lenerr).toBe(1);
    expect(sent).toHaveLength(0);
    stack.pool.assertEmpty();
  });

  test('conflicting last fragments discard the datagram', () => {
    const { stack, feed } = captureStack();
    const req = bigPing(2000);
    feed(frag(req, 1024, 1536, false));
    feed(frag(req, 1536, 2000, false)); // a second "last" fragment further on
    expect(stack.ip.reassembler.pending).toBe(0);
    stack.pool.assertEmpty();
  });

  test('an incomplete datagram times out, frees its memory and reports time-exceeded if the first fragment came', () => {
    const { stack, sent, feed } = captureStack();
    const clock = stack.clock as VirtualClock;
    const req = bigPing(2000);
    feed(frag(req, 0, 1024, true, { src: '10.0.0.9' }));
    expect(stack.ip.reassembler.pending).toBe(1);
    expect(clock.nextDeadline()).toBe(15_000);
    clock.advanceTo(14_999);
    expect(stack.ip.reassembler.pending).toBe(1);
    clock.advanceTo(15_000);
    expect(stack.ip.reassembler.pending).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    expect(sent).toHaveLength(1);
    expect(parseIpv4(sent[0]!)).toMatchObject({ dst: addr('10.0.0.9') });
    expect(parseIcmp(sent[0]!.subarray(20))).toMatchObject({ kind: 'time-exceeded', code: 1 });
    stack.pool.assertEmpty();
  });

  test('no time-exceeded without the first fragment, or about an ICMP error message', () => {
    const { stack, sent, feed } = captureStack();
    const clock = stack.clock as VirtualClock;
    feed(frag(bigPing(2000), 1024, 1536, true, { ident: 1 }));
    const icmpError = icmpMessage({ kind: 'dest-unreachable', code: 3 }, pattern(1200));
    feed(frag(icmpError, 0, 512, true, { ident: 2 }));
    clock.advanceBy(20_000);
    expect(sent).toHaveLength(0);
    expect(stack.ip.reassembler.pending).toBe(0);
    stack.pool.assertEmpty();
  });

  test('memory is bounded: the oldest datagram is evicted for a new one', () => {
    const { stack, sent, feed } = captureStack({ ip: { reassembly: { maxDatagrams: 2, maxBytes: 4096 } } });
    const reqs = [1, 2, 3].map((i) => bigPing(2000, i));
    feed(frag(reqs[0]!, 0, 1024, true, { ident: 1 }));
    feed(frag(reqs[1]!, 0, 1024, true, { ident: 2 }));
    feed(frag(reqs[2]!, 0, 1024, true, { ident: 3 })); // evicts ident 1
    expect(stack.ip.reassembler.pending).toBe(2);
    expect(stack.stats.ipFrag.memerr).toBe(1);
    feed(frag(reqs[0]!, 1024, 2000, false, { ident: 1 })); // starts over, incomplete
    feed(frag(reqs[2]!, 1024, 2000, false, { ident: 3 })); // completes ident 3
    expect(sent.length).toBeGreaterThan(0);
    expectOneReply(sent, reqs[2]!);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('a byte budget smaller than one datagram refuses it without harming others', () => {
    const { stack, feed } = captureStack({ ip: { reassembly: { maxBytes: 1500 } } });
    const req = bigPing(4000);
    for (const f of fragments(req, 1024)) feed(f);
    expect(stack.ip.reassembler.pending).toBe(0);
    expect(stack.ip.reassembler.bytes).toBe(0);
    expect(stack.stats.ipFrag.memerr).toBeGreaterThan(0);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('tiny-fragment floods are capped per datagram', () => {
    const { stack, feed } = captureStack({ ip: { reassembly: { maxFragments: 16 } } });
    const req = bigPing(2000);
    for (let off = 0; off < 8 * 40; off += 8) feed(frag(req, off, off + 8, true));
    expect(stack.ip.reassembler.pending).toBeLessThanOrEqual(1);
    expect(stack.stats.ipFrag.memerr).toBeGreaterThan(0);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('random fragment soup never throws, never leaks, never exceeds the byte budget', () => {
    const rng = new Rng(99);
    const { stack, feed } = captureStack({ ip: { reassembly: { maxBytes: 16 * 1024 } } });
    const clock = stack.clock as VirtualClock;
    const req = bigPing(3000);
    for (let i = 0; i < 2000; i++) {
      const start = rng.int(400) * 8;
      const len = rng.int(600);
      const end = Math.min(start + len, req.length);
      if (end <= start) continue;
      feed(ipPacket(req.subarray(start, end), { fragOffset: start, moreFragments: rng.chance(0.8), ident: rng.int(4) }));
      expect(stack.ip.reassembler.bytes).toBeLessThanOrEqual(16 * 1024);
      if (i % 100 === 0) clock.advanceBy(rng.int(5000));
    }
    stack.close();
    stack.pool.assertEmpty();
  });
});

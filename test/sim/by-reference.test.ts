// By-reference frames (issue 17 part 5): on a point-to-point link where no
// stage needs a copy, the simulator passes a TCP segment's payload to the
// receiver in place (a loan of the sender's pbuf block, PbufPool.lend and
// borrow) instead of copying it twice. Nothing observable may change: the
// same bytes arrive, the run takes the same virtual time with the same
// counters as with copies, both pools end empty, every lent block goes
// back to its allocator, and anything that watches frames (a pcap, an
// observer) still sees whole frames with correct checksums.
import { describe, expect, test } from 'vitest';
import { RawTcp } from '../../src/callbacks/raw.ts';
import { PbufLayer, PbufPool, PbufType, PbufUse } from '../../src/pbuf/index.ts';
import type { LinkSpec } from '../../src/sim/link.ts';
import { PcapWriter, readPcap } from '../../src/sim/pcap.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { isV6, localIp, peerIp } from '../support/family.ts';
import { bulkExchange, parseSent, payload, sha256, type Pair } from '../support/tcp.ts';

interface Opts {
  lend?: boolean;
  pcap?: PcapWriter;
  gro?: boolean;
}

function pair(link: LinkSpec, o: Opts = {}): Pair {
  const sim = new Simulator({ seed: 9, lendFrames: o.lend !== false });
  const client = sim.addStack('client', { pool: { trackLive: true } });
  const server = sim.addStack('server', { pool: { trackLive: true } });
  sim.connect(client, server, {
    ...(isV6() ? { aAddr6: localIp(), bAddr6: peerIp() } : { aAddr: localIp(), bAddr: peerIp() }),
    link: { latencyMs: 2, ...link },
    ...(o.pcap !== undefined ? { pcap: o.pcap } : {}),
    ...(o.gro ? { gso: true, gro: true } : {}),
  });
  return { sim, client, server, rc: new RawTcp(client), rs: new RawTcp(server) };
}

function counters(p: Pair): number[] {
  return [p.client, p.server].flatMap((st) => [st.tcp.counters.inSegs, st.tcp.counters.outSegs, st.tcp.counters.retransSegs, st.stats.ip.chkerr, st.stats.tcp.chkerr, st.stats.link.drop]);
}

/** Both pools empty, and every block (lent ones included) back in its allocator's free lists. */
function assertAllReturned(...stacks: Stack[]): void {
  for (const st of stacks) {
    st.pool.assertEmpty();
    expect(st.pool.memory.stats.cachedBytes).toBe(st.pool.memory.stats.reservedBytes);
  }
}

const A = payload(600_000, 11);
const B = payload(200_000, 12);

/** A two-way bulk exchange to the end (both FINs read) and until idle; what it did. */
function exchange(spec: LinkSpec, o: Opts = {}) {
  const p = pair(spec, o);
  const { cli, srv } = bulkExchange(p, A, B);
  expect(p.sim.runUntil(() => cli.gotFin && srv.gotFin, 600_000)).toBe(true);
  expect(sha256(srv.bytes)).toBe(sha256(A));
  expect(sha256(cli.bytes)).toBe(sha256(B));
  const virtualMs = p.sim.clock.now();
  expect(p.sim.runUntilIdle()).toBe(true);
  const s = p.sim.lendStats;
  // Every loan ended one way: delivered, dropped by a stage, or copied back for a watcher.
  expect(s.delivered + s.dropped + s.copiedBack).toBe(s.lent);
  assertAllReturned(p.client, p.server);
  return { p, virtualMs, counters: counters(p), stats: { ...s } };
}

describe('by-reference frames on simulated links', () => {
  test.each([
    ['an ideal link', {}],
    ['a lossy link', { loss: 0.02 }],
    ['a lossy, reordering, jittery, rate-limited link', { loss: 0.02, reorder: 0.03, reorderDelayMs: 15, jitterMs: 1, bitsPerSecond: 80e6 }],
  ] as [string, LinkSpec][])('%s: payloads cross by reference, the run is the same as with copies, both pools end empty', (_name, spec) => {
    const byRef = exchange(spec);
    const copied = exchange(spec, { lend: false });
    expect(byRef.stats.lent).toBeGreaterThan(400);
    expect(byRef.stats.delivered).toBeGreaterThan(400);
    if (spec.loss !== undefined) expect(byRef.stats.dropped).toBeGreaterThan(0);
    expect(copied.stats.lent).toBe(0);
    expect(byRef.virtualMs).toBe(copied.virtualMs);
    expect(byRef.counters).toEqual(copied.counters);
  });

  test('frames held back in a delay stage while the sender frees and reuses its buffers arrive intact', () => {
    // Reordered frames wait 40 ms (20 RTTs of the 2 ms link): meanwhile their
    // segments are retransmitted, acknowledged and freed, and the sender's
    // blocks are allocated again for new data. The held payloads must still
    // be the bytes sent (the stream's sha256), and each lent block must
    // wait for its loan to end before it is reused.
    const r = exchange({ loss: 0.01, reorder: 0.05, reorderDelayMs: 40 });
    expect(r.stats.lent).toBeGreaterThan(400);
    expect(r.p.client.tcp.counters.retransSegs).toBeGreaterThan(0);
    const links = r.p.sim.linkPipelines(r.p.sim.linkNames()[0]!);
    expect(links.ab.stat('reordered')).toBeGreaterThan(10);
  });

  test('a link taken down with lent frames in flight ends their loans; the connection recovers and both pools end empty', () => {
    const p = pair({ latencyMs: 5 });
    const { cli, srv } = bulkExchange(p, A, B);
    const name = p.sim.linkNames()[0]!;
    const links = p.sim.linkPipelines(name);
    expect(p.sim.runUntil(() => srv.bytes.length > 100_000 && links.ab.inFlight() > 3, 600_000)).toBe(true);
    p.sim.setLinkUp(name, false);
    p.sim.clock.advanceTo(p.sim.clock.now() + 300);
    p.sim.setLinkUp(name, true);
    expect(p.sim.runUntil(() => cli.gotFin && srv.gotFin, 600_000)).toBe(true);
    expect(sha256(srv.bytes)).toBe(sha256(A));
    expect(p.sim.runUntilIdle()).toBe(true);
    const s = p.sim.lendStats;
    expect(s.dropped).toBeGreaterThan(3);
    expect(s.delivered + s.dropped + s.copiedBack).toBe(s.lent);
    assertAllReturned(p.client, p.server);
  });

  test('a pcap-attached link copies every frame and records the same run with correct checksums', () => {
    const spec: LinkSpec = { loss: 0.02, reorder: 0.02 };
    const pcap = new PcapWriter();
    const tapped = exchange(spec, { pcap });
    const plain = exchange(spec);
    expect(tapped.stats.lent).toBe(0);
    expect(plain.stats.lent).toBeGreaterThan(400);
    expect(tapped.virtualMs).toBe(plain.virtualMs);
    expect(tapped.counters).toEqual(plain.counters);
    const file = readPcap(pcap.bytes());
    if (file instanceof Error) throw file;
    expect(file.records.length).toBeGreaterThan(500);
    for (const rec of file.records) expect(() => parseSent(rec.data)).not.toThrow();
  });

  test('a frame observer attached mid-transfer gets whole frames with correct checksums, lent ones in flight copied back', () => {
    const p = pair({ loss: 0.01, latencyMs: 5 });
    const { cli, srv } = bulkExchange(p, A, B);
    expect(p.sim.runUntil(() => srv.bytes.length > 100_000, 600_000)).toBe(true);
    let rx = 0;
    p.sim.onFrame((_t, kind, _link, frame) => {
      if (kind !== 'rx') return;
      rx++;
      expect(() => parseSent(frame)).not.toThrow();
    });
    expect(p.sim.runUntil(() => cli.gotFin && srv.gotFin, 600_000)).toBe(true);
    expect(sha256(srv.bytes)).toBe(sha256(A));
    expect(rx).toBeGreaterThan(100);
    expect(p.sim.lendStats.copiedBack).toBeGreaterThan(0);
    expect(p.sim.runUntilIdle()).toBe(true);
    assertAllReturned(p.client, p.server);
  });

  test.each([
    ['ideal', {}],
    ['lossy', { loss: 0.02 }],
  ] as [string, LinkSpec][])('a GRO link (%s): super-segments cross whole and by reference, data intact, pools empty', (_name, spec) => {
    const r = exchange(spec, { gro: true });
    const links = r.p.sim.linkPipelines(r.p.sim.linkNames()[0]!);
    // Far fewer frames than MSS-sized segments: 800 KB in 1448-byte segments would be 550+.
    expect(links.ab.sent + links.ba.sent).toBeLessThan(400);
    expect(r.stats.lent).toBeGreaterThan(10);
  });
});

describe('PbufPool loans', () => {
  test('a lent block outlives its freed lender, is not reused meanwhile, and returns once the borrowed piece is freed', () => {
    const a = new PbufPool({ trackLive: true });
    const b = new PbufPool({ trackLive: true });
    const p = a.alloc(PbufLayer.TRANSPORT, 1000, PbufType.RAM)!;
    p.buf.fill(7, p.off, p.off + 1000);
    const block = a.lend(p, p.off, p.off + 1000);
    const bytesBefore = a.stats.bytesInUse;
    p.free();
    // The lender's pool accounts for the free at once...
    expect(a.stats.bytesInUse).toBe(bytesBefore - block.byteLength);
    a.assertEmpty();
    // ...but the block is not handed out again while lent.
    const again = a.alloc(PbufLayer.TRANSPORT, 1000, PbufType.RAM)!;
    expect(again.buf).not.toBe(block);
    again.buf.fill(9);
    const q = b.borrow(p, block, p.lentStart, 1000, b.rxPoolBytes(1100), PbufUse.RX)!;
    expect(b.stats.bytesInUse).toBe(b.rxPoolBytes(1100));
    expect(q.toBytes().every((x) => x === 7)).toBe(true);
    q.free();
    b.assertEmpty();
    again.free();
    // Both blocks are back in the lender's free lists.
    expect(a.memory.stats.cachedBytes).toBe(a.memory.stats.reservedBytes);
  });

  test('no header is written over lent bytes: addHeader refuses where the lent range would be overwritten', () => {
    const a = new PbufPool();
    const p = a.alloc(PbufLayer.TRANSPORT, 1000, PbufType.RAM)!;
    const start = p.off;
    a.lend(p, start, start + 1000);
    // In front of the lent range: allowed (a retransmission's headers).
    expect(p.addHeader(40)).toBe(true);
    expect(p.removeHeader(40)).toBe(true);
    // The segment trimmed by a partial ACK: its new header room holds lent bytes.
    expect(p.removeHeader(500)).toBe(true);
    expect(p.addHeader(40)).toBe(false);
    expect(p.off).toBe(start + 500);
  });
});

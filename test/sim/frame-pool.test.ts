// Frame buffers on simulated links are reused after delivery, without
// changing a single byte on the wire (the pcap of a run is identical).
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { FramePool } from '../../src/sim/frame-pool.ts';
import { bulkExchange, payload, simPair } from '../support/tcp.ts';

describe('FramePool', () => {
  test('hands back a given frame of the same length; never a view into a larger buffer; bounded per size', () => {
    const pool = new FramePool(2);
    const a = pool.take(100);
    expect(pool.stats).toEqual({ reused: 0, allocated: 1 });
    pool.give(a);
    expect(pool.take(100)).toBe(a);
    expect(pool.take(100)).not.toBe(a); // taken already: a new one
    const big = new Uint8Array(200);
    pool.give(big.subarray(0, 100)); // a view: ignored
    expect(pool.take(100)).not.toBe(big.subarray(0, 100));
    for (const f of [new Uint8Array(7), new Uint8Array(7), new Uint8Array(7)]) pool.give(f);
    pool.take(7);
    pool.take(7);
    expect(pool.stats.reused).toBe(3);
    pool.take(7); // only 2 were kept
    expect(pool.stats.allocated).toBe(4);
  });

  test('reusing frames changes nothing on the wire: a lossy, duplicating, reordering exchange runs exactly as with fresh frames', () => {
    const run = (reuseFrames: boolean): { sha: string; reused: number; virtualMs: number; segs: number[] } => {
      const pair = simPair({ seed: 9, gso: true, reuseFrames, link: { latencyMs: 2, loss: 0.02, duplicate: 0.02, reorder: 0.02 } });
      const a = payload(300_000, 1);
      const b = payload(300_000, 2);
      const { cli, srv } = bulkExchange(pair, a, b);
      expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 300_000)).toBe(true);
      expect(Buffer.compare(Buffer.from(cli.bytes), Buffer.from(b))).toBe(0);
      expect(Buffer.compare(Buffer.from(srv.bytes), Buffer.from(a))).toBe(0);
      // A buffer reused while still in flight would show up as checksum failures: there must be none.
      for (const st of [pair.client, pair.server]) {
        expect(st.stats.ip.chkerr + st.stats.tcp.chkerr, st.name).toBe(0);
      }
      const virtualMs = pair.sim.clock.now();
      pair.sim.runUntilIdle();
      pair.client.pool.assertEmpty();
      pair.server.pool.assertEmpty();
      const segs = [pair.client, pair.server].flatMap((st) => [st.tcp.counters.inSegs, st.tcp.counters.outSegs, st.tcp.counters.retransSegs]);
      return { sha: createHash('sha256').update(cli.bytes).digest('hex'), reused: pair.sim.frames.stats.reused, virtualMs, segs };
    };
    const pooled = run(true);
    const fresh = run(false);
    expect(pooled.reused).toBeGreaterThan(100);
    expect(fresh.reused).toBe(0);
    // A buffer reused while still in flight would carry another packet: timing and counters would differ.
    expect({ ...pooled, reused: 0 }).toEqual(fresh);
  });
});

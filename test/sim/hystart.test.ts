// HyStart++ (RFC 9406) over a simulated bottleneck: 100 Mbit/s, 10 ms each
// way (BDP ~171 segments), a 512 KiB drop-tail queue and 2 MiB windows, so
// that slow start is limited by the path, not by the receive window.
//
// Why not the 64 KiB queue of bench/recovery.bench.ts: there the queue holds
// at most 5.2 ms, and the receive window (256 KiB, ~BDP) keeps a standing
// queue from forming, so each round starts with an empty queue and its
// minimum RTT never rises by RttThresh (>= 4 ms) before the burst of the
// last slow-start round overflows it. HyStart++ sees nothing there (the run
// is the same with it off); here the minimum rises once cwnd passes the BDP.
import { describe, expect, test } from 'vitest';
import { runSimTransfer } from '../../src/cli/sim-transfer-run.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import { bulkExchange, payload, sha256, simPair } from '../support/tcp.ts';

const LINK = { latencyMs: 10, bitsPerSecond: 100e6, queueBytes: 512 * 1024 };
const WINDOWS: TcpConfig = { rcvWnd: 2 * 1024 * 1024, sndBuf: 2 * 1024 * 1024 };

describe.each(['cubic', 'reno'])('%s over a deep-queued bottleneck', (congestion) => {
  test('HyStart++ leaves exponential growth before the first loss: far fewer retransmissions than plain slow start', () => {
    const run = (hystart: boolean) => runSimTransfer({ seed: 1, bytes: 3_000_000, serverBytes: 0, link: LINK, tcp: { ...WINDOWS, congestion, hystart } });
    const on = run(true);
    const off = run(false);
    for (const r of [on, off]) {
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true); // intact, closed, pool and timers empty
      expect(r.poolInUse).toBe(0);
    }
    // Plain slow start doubles cwnd into the queue and loses about a queue's
    // worth; CSS (a quarter of the growth) overshoots far less.
    expect(on.retransmits * 2).toBeLessThan(off.retransmits);
    expect(on.virtualMs).toBeLessThan(off.virtualMs);
  });
});

test('the client enters CSS before its first loss is detected (counters), and not at all with hystart: false', () => {
  for (const hystart of [true, false]) {
    const pair = simPair({ link: LINK, tcp: { ...WINDOWS, hystart } });
    const a = payload(3_000_000, 5);
    const { cli, srv, clientPcb } = bulkExchange(pair, a, new Uint8Array(0));
    const c = pair.client.tcp.counters;
    expect(pair.sim.runUntil(() => c.fastRetransmits + c.rtoTimeouts > 0, 60_000)).toBe(true);
    expect(c.hystartCssEntered).toBe(hystart ? 1 : 0);
    expect(clientPcb.ssthresh).toBeLessThan(0x7fffffff); // the loss response set it
    expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 600_000)).toBe(true);
    expect(sha256(srv.bytes)).toBe(sha256(a));
    // No second HyStart++ after the loss; CSS never ran to its end here.
    expect(c).toMatchObject({ hystartCssEntered: hystart ? 1 : 0, hystartDelayDetect: 0 });
    expect(pair.sim.runUntilIdle()).toBe(true);
    expect(cli.errors).toEqual([]);
    expect(srv.errors).toEqual([]);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  }
});

import { describe, expect, test } from 'vitest';
import { ACK, acceptConnection, bulkExchange, flagStr, payload, scriptedPeer, sha256, simPair, SYN } from '../support/tcp.ts';

describe('TCP smoke', () => {
  test('passive open against a scripted peer: SYN-ACK with our options, then ESTABLISHED', () => {
    const peer = scriptedPeer();
    const { pcb, iss } = acceptConnection(peer, { mss: 1400, wscale: 7, sackPermitted: true, ts: true });
    expect(pcb.stateName).toBe('ESTABLISHED');
    const sent = peer.sent;
    expect(flagStr(sent[0]!.flags)).toBe('SA');
    expect(sent[0]!.seq).toBe(iss);
    expect(sent[0]!.ack).toBe(1001);
    expect(sent[0]!.opts.mss).toBe(1460);
    expect(sent[0]!.opts.sackPermitted).toBe(true);
    expect(sent[0]!.opts.hasTimestamp).toBe(true);
    expect(pcb.mss).toBe(1400);
    void ACK;
    void SYN;
  });

  test('1 MB each way over a clean simulated link, byte-exact, everything freed', () => {
    const pair = simPair({ seed: 3 });
    const a = payload(1_000_000, 1);
    const b = payload(1_000_000, 2);
    const { cli, srv, clientPcb } = bulkExchange(pair, a, b);
    expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 120_000)).toBe(true);
    expect(sha256(cli.bytes)).toBe(sha256(b));
    expect(sha256(srv.bytes)).toBe(sha256(a));
    pair.sim.runUntilIdle();
    expect(clientPcb.freed).toBe(true);
    expect(pair.sim.clock.pendingTimers()).toBe(0);
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });
});

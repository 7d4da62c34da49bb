// Software GSO on simulated links: a super-segment is cut like a NIC's TSO.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { segmentTcpGso } from '../../src/sim/gso.ts';
import { TcpFlag } from '../../src/wire/tcp.ts';
import { bulkExchange, parseSent, payload, simPair, tcpPacket } from '../support/tcp.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('segmentTcpGso', () => {
  it('cuts a super-segment into MSS pieces with valid checksums, advancing seq, FIN/PSH last, CWR first', () => {
    const data = payload(10_000, 3);
    const frame = tcpPacket({ seq: 0xfffff000, ack: 77, flags: TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN | TcpFlag.CWR, data, ts: [5, 6] });
    const pieces = segmentTcpGso(frame, 1448);
    expect(pieces.map((p) => p.length - 20 - 32)).toEqual([1448, 1448, 1448, 1448, 1448, 1448, 1312]);
    const segs = pieces.map(parseSent); // throws on a bad IP or TCP checksum
    expect(segs.map((s) => s.seq)).toEqual(segs.map((_, i) => (0xfffff000 + i * 1448) >>> 0));
    expect(segs.map((s) => s.flags & (TcpFlag.FIN | TcpFlag.PSH))).toEqual([0, 0, 0, 0, 0, 0, TcpFlag.FIN | TcpFlag.PSH]);
    expect(segs.map((s) => (s.flags & TcpFlag.CWR) !== 0)).toEqual([true, false, false, false, false, false, false]);
    expect(segs.every((s) => s.ack === 77 && s.opts.tsVal === 5)).toBe(true);
    expect(sha(Buffer.concat(segs.map((s) => s.data)))).toBe(sha(data));
    expect(new Set(pieces.map((p) => (p[4]! << 8) | p[5]!)).size).toBe(7); // distinct IP idents
  });

  it('leaves a segment that fits, and anything not TCP, alone', () => {
    const small = tcpPacket({ seq: 1, flags: TcpFlag.ACK, data: payload(100) });
    expect(segmentTcpGso(small, 1448)).toEqual([small]);
    const notTcp = small.slice();
    notTcp[9] = 17;
    expect(segmentTcpGso(notTcp, 10)).toEqual([notTcp]);
  });

  it('a GSO link carries a lossy bulk exchange intact (super-segments sent, cut by the link)', () => {
    const pair = simPair({ seed: 5, gso: true, link: { latencyMs: 2, loss: 0.02 } });
    const a = payload(1_000_000, 1);
    const b = payload(1_000_000, 2);
    const { cli, srv } = bulkExchange(pair, a, b);
    expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 120_000)).toBe(true);
    expect(sha(cli.bytes)).toBe(sha(b));
    expect(sha(srv.bytes)).toBe(sha(a));
    const link = pair.sim.links[0]!;
    expect(link.aNetif.gsoMaxSize).toBe(65535);
    expect(link.aNetif.counters.txGso).toBeGreaterThan(5);
    expect(link.bNetif.counters.txGso).toBeGreaterThan(5);
    pair.sim.runUntilIdle();
    pair.client.pool.assertEmpty();
    pair.server.pool.assertEmpty();
  });
});

// A zero-latency link delivers synchronously: inside the sender's output,
// the peer processes each frame and its answers (ACKs, its own data) come
// back into the sender while that output still runs, so they wait in the
// sender's input queue. With a small MTU a window is thousands of frames;
// at the plain input-queue limit (1024) those answers were dropped and then
// resent: 1276 retransmissions on a link that loses nothing (found by a
// sweep of lossless mixes). Answers to a stack's own output may now queue
// 16 times the limit (Stack.enqueue).
import { describe, expect, test } from 'vitest';
import { runSimTransfer, transferOptionsFromArgv } from '../../src/cli/sim-transfer.ts';

const LINES = [
  '--seed 15 --mtu 155 --bytes 2627904 --server-bytes 1409967 --delay 0 --cc cubic',
  '--seed 20 --mtu 93 --bytes 2328689 --server-bytes 2901088 --delay 0 --cc cubic',
  '--seed 3 --mtu 68 --bytes 1000000 --delay 0 --cc reno',
  '--seed 4 --mtu 1280 --bytes 3000000 --delay 0 --cc reno --ipv6',
];

describe('a zero-latency link with a small MTU loses nothing to its own answers', () => {
  for (const line of LINES) {
    test(`tsip sim transfer ${line}: intact, no retransmission`, () => {
      const o = transferOptionsFromArgv(line.split(' '))!;
      const { json: _j, pcap: _p, ...run } = o;
      const r = runSimTransfer(run);
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.retransmits).toBe(0);
    }, 30_000);
  }
});

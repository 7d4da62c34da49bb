// Retransmissions of data the link delivered, found by sweeps of mixes
// (tsip sim transfer), each pinned by the line that showed it.
//
// 1. A zero-latency link delivers synchronously: inside the sender's
//    output, the peer processes each frame and its answers (ACKs, its own
//    data) come back into the sender while that output still runs, so they
//    wait in the sender's input queue. With a small MTU a window is
//    thousands of frames; at the plain input-queue limit (1024) those
//    answers were dropped and then resent: 1276 retransmissions on a link
//    that loses nothing. Answers to a stack's own output may now queue 64
//    times the limit (Stack.enqueue; 16 was not enough for GSO bursts cut
//    into 23-byte segments at MTU 75, the last line).
// 2. A small MSS with reordering: the out-of-order queue reached its piece
//    cap (1024) long before its byte cap, and the receiver dropped what
//    the window had let in (3704 retransmissions, 3681 receiver drops). Runs
//    of contiguous segments are now merged first (ooseq-collapse.ts).
// 3. Reordering that outlasts RACK's window: every held segment was
//    retransmitted before its late original was reported, so RACK never
//    "saw" reordering (only never-retransmitted deliveries count) and kept
//    its window at 0 in every recovery (3522 retransmissions and 666 undone
//    episodes in the sweep's line; 1200 in the shorter one below). An
//    undone episode now counts as reordering seen, as Linux.
import { describe, expect, test } from 'vitest';
import { runSimTransfer, transferOptionsFromArgv } from '../../src/cli/sim-transfer.ts';

const CASES: [string, number][] = [
  ['--seed 15 --mtu 155 --bytes 2627904 --server-bytes 1409967 --delay 0 --cc cubic', 0],
  ['--seed 20 --mtu 93 --bytes 2328689 --server-bytes 2901088 --delay 0 --cc cubic', 0],
  ['--seed 3 --mtu 68 --bytes 1000000 --delay 0 --cc reno', 0],
  ['--seed 4 --mtu 1280 --bytes 3000000 --delay 0 --cc reno --ipv6', 0],
  ['--seed 527 --mtu 75 --bytes 933999 --server-bytes 2188469 --delay 0 --cc reno --gso --off sack', 0],
  // Reordering makes a few retransmissions unavoidable (the first ones, before the window widens).
  ['--seed 31 --mtu 153 --bytes 2214887 --server-bytes 0 --delay 5.77 --reorder 0.0152 --cc cubic', 10],
  ['--seed 11 --mtu 83 --bytes 800000 --server-bytes 0 --delay 10.95 --reorder 0.0447 --cc cubic', 10],
];

describe('no retransmission of what the link delivered', () => {
  for (const [line, most] of CASES) {
    test(`tsip sim transfer ${line}: intact, at most ${most} retransmissions`, () => {
      const o = transferOptionsFromArgv(line.split(' '))!;
      const { json: _j, pcap: _p, ...run } = o;
      const r = runSimTransfer(run);
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.retransmits).toBeLessThanOrEqual(most);
    }, 60_000);
  }
});

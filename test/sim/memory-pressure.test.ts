// A pool smaller than the windows (issue 12): send queues fill their share
// of the pool and out-of-order data held beyond a hole fills the input
// reserve, so the in-order retransmission that fills the hole finds no
// memory and both ends used to time out. Received packets that find the
// pool full now make TCP drop its out-of-order queues (lwIP
// PBUF_POOL_FREE_OOSEQ), and the transfer completes.
import { describe, expect, test } from 'vitest';
import { runSimTransfer, transferOptionsFromArgv } from '../../src/cli/sim-transfer.ts';

const LINES = [
  '--bytes 300000 --delay 5 --rate 10 --loss 0.02 --pool 458752',
  '--bytes 300000 --delay 5 --rate 10 --pool 262144',
];

describe('a pool smaller than the windows', () => {
  for (const line of LINES) {
    test(`tsip sim transfer ${line}`, () => {
      const o = transferOptionsFromArgv(line.split(' '))!;
      const { json: _j, pcap: _p, ...run } = o;
      const r = runSimTransfer(run);
      expect(r.problems).toEqual([]);
      expect(r.sha256Match).toBe(true);
      expect(r.ok).toBe(true);
    });
  }
});

import { test } from 'vitest';
import { bulkExchange, payload, simPair } from './support/tcp.ts';
test('dbg', () => {
  const pair = simPair({ seed: 1, link: { latencyMs: 10, bitsPerSecond: 100e6, queueBytes: 65536 }, tcp: JSON.parse(process.env.TCPCFG ?? '{}') });
  const { cli, srv, clientPcb } = bulkExchange(pair, payload(20_000_000, 1), new Uint8Array(0));
  const line: string[] = [];
  let last = 0;
  for (let t = 0; t < 4000 && !(cli.gotFin && srv.gotFin); t += 50) {
    pair.sim.runFor(50);
    const p = clientPcb;
    const got = srv.receivedBytes;
    line.push(`${t}:cw${p.cwnd / 1448 | 0},ss${p.ssthresh > 1e8 ? 'inf' : p.ssthresh / 1448 | 0},rx${p.counters.retransmits},${((got - last) * 8 / 0.05 / 1e6) | 0}M`);
    last = got;
  }
  console.log(line.join(' '));
});

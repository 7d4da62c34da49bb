// Example (issue 16, a): an undici client with retries against a node:http
// server behind a network partition that heals.
//
// Two hosts on a simulated switch, found by name ('api', 'client-1'). A
// scripted fault schedule partitions them from 1 s to 9 s of virtual time.
// The client (unmodified undici, its RetryAgent with a 1 s / 2 s / 4 s
// back-off) makes a request at 2 s: its keep-alive connection is cut, the
// headers timeout fires, reconnects time out while the partition lasts, and
// the first attempt after the heal succeeds. Every timer involved (undici's,
// the back-off, TCP's) runs on the simulator's clock, so the retry count and
// the total time are exact, and a trace and a pcap of the run are
// byte-identical for the same seed.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { Agent, RetryAgent, fetch } from 'undici';
import { beforeAll, describe, expect, test } from 'vitest';
import { PcapWriter, Simulator, Trace, star } from 'tsip';

const CONNECT_TIMEOUT = 1_000;
const HEADERS_TIMEOUT = 1_500;

interface Outcome {
  firstStatus: number;
  body: string;
  /** When the second request started and finished (virtual ms since the run began). */
  startedAt: number;
  doneAt: number;
  /** Each retry: the error that caused it and when (virtual ms). */
  retries: { code: string; at: number }[];
  /** Requests the server saw. */
  served: number;
  traceSha: string;
  pcapSha: string;
  faults: string[];
}

async function retryThroughPartition(seed: number): Promise<Outcome> {
  const sim = new Simulator({ seed });
  const pcap = new PcapWriter();
  const { server: api, clients } = star(sim, { clients: 1, server: 'api', link: { latencyMs: 2 }, switch: { pcap } });
  const client = clients[0]!;
  const lines: string[] = [];
  const trace = Trace.attach(sim, { sink: (l) => lines.push(l) });
  sim.schedule([
    { at: 1_000, do: 'partition', groups: [['api'], ['client-1']] },
    { at: 9_000, do: 'heal' },
  ]);

  const outcome = await sim.run(async () => {
    const t0 = Date.now();
    let served = 0;
    const web = http.createServer((req, res) => {
      served++;
      res.end(`hello from ${req.socket.localAddress} (request ${served})`);
    });
    const conns = new Set<Duplex>();
    const listener = api.net.createServer((s) => {
      conns.add(s);
      s.on('close', () => conns.delete(s));
      web.emit('connection', s);
    });
    listener.listen(80);

    // undici, unmodified: its connections are tsip sockets, found by host name.
    const agent = new Agent({
      headersTimeout: HEADERS_TIMEOUT,
      keepAliveTimeout: 60_000,
      connect: (opts, cb) => {
        const s = client.net.connect({ host: opts.hostname, port: Number(opts.port) || 80 });
        s.setTimeout(CONNECT_TIMEOUT, () => s.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })));
        s.once('connect', () => {
          s.setTimeout(0);
          cb(null, s as never);
        });
        s.once('error', (e) => cb(e, null));
      },
    });
    const retries: { code: string; at: number }[] = [];
    const dispatcher = new RetryAgent(agent, {
      retry(err, { state }, cb) {
        const code = (err as { code?: string }).code ?? 'unknown';
        if (state.counter > 5) return cb(err);
        retries.push({ code, at: Date.now() - t0 });
        setTimeout(() => cb(null), 1_000 * 2 ** (state.counter - 1)); // 1 s, 2 s, 4 s...
        return undefined;
      },
      errorCodes: ['ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_SOCKET', 'ECONNRESET'],
    });

    const first = await fetch('http://api/', { dispatcher });
    const firstStatus = first.status;
    await first.text();
    await new Promise((r) => setTimeout(r, 2_000 - (Date.now() - t0))); // the partition started at 1 s
    const startedAt = Date.now() - t0;
    const second = await fetch('http://api/', { dispatcher });
    const body = await second.text();
    const doneAt = Date.now() - t0;
    await dispatcher.close();
    listener.close();
    for (const s of conns) s.destroy();
    web.close();
    return { firstStatus, body, startedAt, doneAt, retries, served };
  });
  sim.runUntilIdle();
  for (const s of [api, client]) {
    expect(s.tcp.pcbCount).toBe(0);
    s.pool.assertEmpty();
  }
  trace.close();
  sim.close();
  return {
    ...outcome,
    traceSha: trace.sha256(),
    pcapSha: createHash('sha256').update(pcap.bytes()).digest('hex'),
    faults: lines.filter((l) => l.includes('"ev":"fault"')),
  };
}

describe('example: undici retries through a partition that heals', () => {
  // undici compiles its HTTP parser (WebAssembly) on its first connection in a
  // process: real work, during which virtual time may move on. One request in
  // a throwaway run gets it done, so every measured run starts alike.
  beforeAll(() => retryThroughPartition(99));

  test('the request made during the partition succeeds on the first attempt after the heal; retries and time are exact', async () => {
    const o = await retryThroughPartition(1);
    expect(o.firstStatus).toBe(200);
    expect(o.startedAt).toBe(2_000);
    expect(o.body).toBe('hello from 10.0.0.1 (request 2)');
    expect(o.served).toBe(2);
    // 1: the headers timeout on the cut keep-alive connection (1.5 s, on undici's
    //    499 ms timer wheel: 1996 ms after the request);
    // 2 and 3: reconnects 1 s and 2 s later whose SYNs the partition eats (1 s connect timeout).
    expect(o.retries).toEqual([
      { code: 'UND_ERR_HEADERS_TIMEOUT', at: 3_996 },
      { code: 'ETIMEDOUT', at: 5_996 },
      { code: 'ETIMEDOUT', at: 8_996 },
    ]);
    // The fourth attempt, 4 s later, comes after the heal at 9 s: a handshake and the
    // exchange, each one round trip of 2 × 2 × 2 ms (two links through the switch).
    expect(o.doneAt).toBe(8_996 + 4_000 + 2 * 8);
    expect(o.faults).toEqual(['{"t":1000,"ev":"fault","do":"partition","groups":[["api"],["client-1"]]}', '{"t":9000,"ev":"fault","do":"heal"}']);
  });

  test('the same seed replays the same trace and pcap; another seed does not', async () => {
    const a = await retryThroughPartition(11);
    const b = await retryThroughPartition(11);
    const c = await retryThroughPartition(12);
    expect(b).toEqual(a);
    expect(c.traceSha).not.toBe(a.traceSha);
    expect(c.pcapSha).not.toBe(a.pcapSha);
  });
});

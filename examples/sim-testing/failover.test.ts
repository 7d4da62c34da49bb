// Example (issue 16, b): a three-server service where one server crashes
// mid-request and the client fails over.
//
// Three node:http servers (`server-1`..`server-3`, each started by its
// host's boot function, so a restarted host serves again) and a client on
// one simulated switch. The client asks the servers in order by name and
// moves on when a request fails or stays silent for a second. A scripted
// schedule crashes server-1 while it is working on a request (its stack
// vanishes: no FIN, no RST, its own sockets fail with ECONNABORTED) and
// restarts it later with fresh state. Everything is on one virtual clock:
// the test asserts who answered, each attempt's outcome and the exact times,
// and that the same seed replays the same trace and pcap.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { describe, expect, test } from 'vitest';
import { PcapWriter, Simulator, Trace, type Stack } from 'tsip';

const WORK_MS = 300;
const SILENCE_MS = 1_000;
const SERVERS = ['server-1', 'server-2', 'server-3'];

interface Attempt {
  server: string;
  outcome: string;
  at: number;
}

interface Outcome {
  /** Per request: its start, each attempt, and the answer. */
  requests: { start: number; attempts: Attempt[]; answer: string }[];
  /** What the servers' own sockets saw (the crashed one sees its connection abort). */
  serverLog: string[];
  faults: string[];
  traceSha: string;
  pcapSha: string;
}

/** A node:http server that takes WORK_MS to answer, on a host's (current) stack. */
function bootServer(stack: Stack, generation: number, log: string[], running: Map<string, () => void>): void {
  const web = http.createServer((_req, res) => {
    const timer = setTimeout(() => res.end(`done by ${stack.name} (boot ${generation})`), WORK_MS);
    res.on('close', () => clearTimeout(timer));
  });
  const listener = stack.net
    .createServer((sock) => {
      sock.on('error', (e: NodeJS.ErrnoException) => log.push(`${stack.name} (boot ${generation}): ${e.code}`));
      web.emit('connection', sock);
    })
    .listen(80);
  running.set(stack.name, () => listener.close());
}

/** One GET with a silence timeout: resolves with the body or rejects with a short reason. */
function ask(client: Stack, server: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: server, path: '/work', createConnection: () => client.net.connect({ host: server, port: 80 }) as never }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.setTimeout(SILENCE_MS, () => req.destroy(Object.assign(new Error('silent'), { code: 'SILENT' })));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code ?? e.message)));
  });
}

async function failover(seed: number): Promise<Outcome> {
  const sim = new Simulator({ seed });
  const pcap = new PcapWriter();
  const sw = sim.addSwitch('switch', { pcap });
  const serverLog: string[] = [];
  const running = new Map<string, () => void>(); // how to stop each host's current server
  const client = sim.addHost('client');
  sim.attach(client, sw, { addr: '10.0.0.100', link: { latencyMs: 2 } });
  SERVERS.forEach((name, i) => {
    const stack = sim.addHost(name, { boot: (s) => bootServer(s, sim.generation(name), serverLog, running) });
    sim.attach(stack, sw, { addr: `10.0.0.${i + 1}`, link: { latencyMs: 2 } });
  });
  const lines: string[] = [];
  const trace = Trace.attach(sim, { sink: (l) => lines.push(l) });
  sim.schedule([
    { at: 1_150, do: 'crash', host: 'server-1' }, // while it works on the second request
    { at: 5_000, do: 'restart', host: 'server-1' },
  ]);

  const requests = await sim.run(async () => {
    const t0 = Date.now();
    const since = (): number => Date.now() - t0;
    const sleepUntil = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms - since()));
    const out: Outcome['requests'] = [];
    for (const startAt of [0, 1_000, 6_000]) {
      await sleepUntil(startAt);
      const attempts: Attempt[] = [];
      let answer = '';
      for (const server of SERVERS) {
        try {
          answer = await ask(client, server);
          attempts.push({ server, outcome: 'ok', at: since() });
          break;
        } catch (e) {
          attempts.push({ server, outcome: (e as Error).message, at: since() });
        }
      }
      out.push({ start: startAt, attempts, answer });
    }
    for (const stop of running.values()) stop();
    return out;
  });
  sim.runUntilIdle();
  for (const s of sim.stacks) {
    expect(s.tcp.pcbCount, s.name).toBe(0);
    s.pool.assertEmpty();
  }
  trace.close();
  sim.close();
  return {
    requests,
    serverLog,
    faults: lines.filter((l) => l.includes('"ev":"fault"')),
    traceSha: trace.sha256(),
    pcapSha: createHash('sha256').update(pcap.bytes()).digest('hex'),
  };
}

describe('example: three servers, one crashes mid-request, the client fails over', () => {
  test('the crashed server goes silent, the client moves to server-2 after 1 s of silence, and server-1 serves again after its restart', async () => {
    const o = await failover(1);
    const rtt = 2 * 2 * 2; // two links through the switch, 2 ms each, both ways
    // Before the crash: server-1 answers after a handshake, the request and its 300 ms of work.
    expect(o.requests[0]).toEqual({ start: 0, attempts: [{ server: 'server-1', outcome: 'ok', at: rtt + WORK_MS + rtt / 2 + rtt / 2 }], answer: 'done by server-1 (boot 0)' });
    // The crash at 1150 ms: no FIN, no RST, so the client hears nothing until its
    // silence timeout, a second after it sent the request; then server-2 answers.
    const second = o.requests[1]!;
    expect(second.answer).toBe('done by server-2 (boot 0)');
    expect(second.attempts.map((a) => `${a.server} ${a.outcome}`)).toEqual(['server-1 SILENT', 'server-2 ok']);
    expect(second.attempts[0]!.at).toBe(1_000 + rtt + SILENCE_MS);
    expect(second.attempts[1]!.at).toBe(second.attempts[0]!.at + rtt + WORK_MS + rtt);
    // The crashed host's own socket failed locally.
    expect(o.serverLog).toEqual(['server-1 (boot 0): ECONNABORTED']);
    // After the restart at 5 s, server-1 (a fresh stack, booted again) answers first.
    expect(o.requests[2]).toEqual({ start: 6_000, attempts: [{ server: 'server-1', outcome: 'ok', at: 6_000 + rtt + WORK_MS + rtt }], answer: 'done by server-1 (boot 1)' });
    expect(o.faults).toEqual(['{"t":1150,"ev":"fault","do":"crash","host":"server-1"}', '{"t":5000,"ev":"fault","do":"restart","host":"server-1"}']);
  });

  test('the same seed replays the same trace and pcap; another seed does not', async () => {
    const a = await failover(21);
    const b = await failover(21);
    const c = await failover(22);
    expect(b).toEqual(a);
    expect(c.traceSha).not.toBe(a.traceSha);
    expect(c.pcapSha).not.toBe(a.pcapSha);
    expect(c.requests).toEqual(a.requests); // what the application saw does not depend on the seed here
  });
});

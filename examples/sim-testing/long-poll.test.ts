// Example (issue 16, c): a long-poll server with a keep-alive idle timeout,
// checked over one hour of virtual time in a fraction of a second.
//
// The server is unmodified node:http: GET /poll?after=N waits until a
// message newer than N is published (an application timer publishes one
// every 7 minutes) or 25 s pass, and idle keep-alive connections are closed
// after keepAliveTimeout (5 minutes). One client long-polls for the whole
// hour; another makes one request and goes quiet. Simulator.run puts every
// timer (the server's, the client's, node:http's) on the simulator's clock,
// so the test asserts exact virtual times.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { describe, expect, test } from 'vitest';
import { PcapWriter, Simulator, Trace, type Stack } from 'tsip';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const POLL_TIMEOUT = 25_000;
const PUBLISH_EVERY = 7 * MINUTE;
const KEEP_ALIVE = 5 * MINUTE;
const ONE_WAY_MS = 5;

interface Outcome {
  /** What the long-poller received: [message, virtual ms it arrived]. */
  received: [string, number][];
  published: [string, number][];
  polls: number;
  timeouts: number;
  /** The quiet client: when its response arrived and when the server hung up. */
  quietAnswered: number;
  quietClosed: number;
  pcapSha: string;
  traceSha: string;
  /** Application timer firings the trace recorded. */
  timerEvents: number;
}

/** node:http's client on a tsip stack: one connection per agent, kept alive. */
function agentOn(stack: Stack): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: HOUR });
  agent.createConnection = (o) => stack.net.connect({ host: String(o.host), port: Number(o.port) }) as never;
  return agent;
}

function get(agent: http.Agent, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '10.0.0.1', port: 80, path, agent }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function longPollHour(seed: number): Promise<Outcome> {
  const pcap = new PcapWriter();
  const sim = new Simulator({ seed });
  const server = sim.addStack('server', { pool: { trackLive: true } });
  const clients = sim.addStack('clients', { pool: { trackLive: true } });
  sim.connect(server, clients, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: ONE_WAY_MS }, pcap });
  let timerEvents = 0;
  const trace = Trace.attach(sim, { sink: (line) => void (line.includes('"ev":"timer"') && timerEvents++) });

  const outcome = await sim.run(async () => {
    const t0 = Date.now();
    const since = (): number => Date.now() - t0;
    // --- the server -------------------------------------------------------
    const messages: [string, number][] = [];
    const waiting = new Set<() => void>();
    const publisher = setInterval(() => {
      messages.push([`news #${messages.length + 1}`, since()]);
      for (const wake of waiting) wake();
    }, PUBLISH_EVERY);
    const web = http.createServer((req, res) => {
      const after = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('after') ?? 0);
      const answer = (): void => {
        clearTimeout(timer);
        waiting.delete(answer);
        if (messages.length > after) res.end(JSON.stringify(messages.slice(after).map((m) => m[0])));
        else res.writeHead(204).end();
      };
      const timer = setTimeout(answer, POLL_TIMEOUT);
      if (messages.length > after) answer();
      else waiting.add(answer);
    });
    web.keepAliveTimeout = KEEP_ALIVE;
    const conns = new Set<import('node:stream').Duplex>();
    const listener = server.net.createServer((s) => {
      conns.add(s);
      s.on('close', () => conns.delete(s));
      web.emit('connection', s);
    });
    listener.listen(80);

    // --- the quiet client: one request, then nothing --------------------------
    const quiet = clients.net.connect({ host: '10.0.0.1', port: 80 });
    let quietAnswered = -1;
    const quietClosed = new Promise<number>((resolve) => quiet.on('close', () => resolve(since())));
    quiet.on('data', () => (quietAnswered = since()));
    quiet.on('end', () => quiet.end());
    quiet.write('GET /poll?after=0 HTTP/1.1\r\nHost: server\r\n\r\n');

    // --- the long-poller ----------------------------------------------------
    const agent = agentOn(clients);
    const received: [string, number][] = [];
    let polls = 0;
    let timeouts = 0;
    while (since() < HOUR) {
      polls++;
      const r = await get(agent, `/poll?after=${received.length}`);
      if (r.status === 204) timeouts++;
      else for (const m of JSON.parse(r.body) as string[]) received.push([m, since()]);
    }
    agent.destroy();
    clearInterval(publisher);
    listener.close();
    for (const s of conns) s.destroy();
    web.close();
    return { received, published: messages, polls, timeouts, quietAnswered, quietClosed: await quietClosed };
  });
  sim.runUntilIdle();
  for (const s of [server, clients]) {
    expect(s.tcp.pcbCount).toBe(0);
    s.pool.assertEmpty();
  }
  trace.close();
  sim.close();
  return { ...outcome, pcapSha: createHash('sha256').update(pcap.bytes()).digest('hex'), traceSha: trace.sha256(), timerEvents };
}

describe('example: long-poll server with a keep-alive idle timeout, one virtual hour', () => {
  test('every message arrives one one-way delay after it is published; idle polls time out at 25 s; a quiet connection is closed at keepAliveTimeout', async () => {
    const o = await longPollHour(1);
    // 3600 s / 420 s: eight messages, each delivered as soon as published.
    expect(o.published.map((m) => m[1])).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((k) => k * PUBLISH_EVERY));
    expect(o.received.map((m) => m[0])).toEqual(o.published.map((m) => m[0]));
    for (let i = 0; i < o.received.length; i++) expect(o.received[i]![1]).toBe(o.published[i]![1] + ONE_WAY_MS);
    // Each poll ends with one message or with the 25 s timeout (then the poller asks again).
    expect(o.polls).toBe(o.timeouts + o.received.length);
    expect(o.timeouts).toBeGreaterThan(100);
    // The quiet client (connected after one round trip) waited the full poll timeout,
    // then its connection sat idle until node:http's keepAliveTimeout (+ its 1 s buffer on Node 20).
    expect(o.quietAnswered).toBe(3 * ONE_WAY_MS + POLL_TIMEOUT + ONE_WAY_MS);
    expect(o.quietClosed - o.quietAnswered).toBe(KEEP_ALIVE + 1000);
  });

  test('the same seed gives the same bytes on the wire; another seed does not', async () => {
    const a = await longPollHour(7);
    const b = await longPollHour(7);
    const c = await longPollHour(8);
    expect(b).toEqual(a);
    expect(c.pcapSha).not.toBe(a.pcapSha);
    expect(c.traceSha).not.toBe(a.traceSha);
    expect(a.timerEvents).toBeGreaterThan(a.polls); // the poll timeouts and the publisher at least
    // What the application saw does not depend on the seed here (no faults).
    expect({ ...c, pcapSha: '', traceSha: '' }).toEqual({ ...a, pcapSha: '', traceSha: '' });
  });
});

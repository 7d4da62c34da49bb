// Simulator.run: the application's own timers, Date and performance.now run
// on the simulator's virtual clock, beside the stacks' timers, so retry
// loops, node:http's keep-alive timeout and undici see one consistent time.
import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { DEFAULT_EPOCH_MS } from '../../src/sim/app-time.ts';
import { type SimEvent, SimulationStallError, SimulationTimeoutError, Simulator } from '../../src/sim/simulator.ts';
import type { Stack } from '../../src/stack/stack.ts';

const realSetTimeout = globalThis.setTimeout;
const realDate = globalThis.Date;

function pair(seed = 1): { sim: Simulator; client: Stack; server: Stack; finish(): void } {
  const sim = new Simulator({ seed });
  const client = sim.addStack('client', { pool: { trackLive: true } });
  const server = sim.addStack('server', { pool: { trackLive: true } });
  sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 5 } });
  return {
    sim,
    client,
    server,
    finish() {
      expect(sim.runUntilIdle(600_000)).toBe(true);
      for (const s of [client, server]) {
        expect(s.tcp.pcbCount, `${s.name}: PCBs left`).toBe(0);
        s.pool.assertEmpty();
      }
      sim.close();
    },
  };
}

describe('virtual application time (Simulator.run)', () => {
  test('setTimeout, setInterval, setImmediate, Date, performance.now and timers/promises all read virtual time', async () => {
    const sim = new Simulator();
    const log: string[] = [];
    const out = await sim.run(async () => {
      const d0 = Date.now();
      const p0 = performance.now();
      expect(d0).toBe(DEFAULT_EPOCH_MS);
      expect(new Date().toISOString()).toBe('2000-01-01T00:00:00.000Z');
      let ticks = 0;
      const iv = setInterval(() => ticks++, 1000);
      setImmediate(() => log.push(`immediate@${Date.now() - d0}`));
      setTimeout(() => log.push(`timeout@${Date.now() - d0}`), 250);
      await new Promise((r) => setTimeout(r, 3_600_000)); // one hour
      clearInterval(iv);
      await sleep(500); // node:timers/promises, imported as an ESM binding
      return { elapsed: Date.now() - d0, perf: performance.now() - p0, ticks, virtual: sim.clock.now() };
    });
    // 3599: at 3 600 000 ms the one-hour timeout (armed before the interval's
    // last re-arm) fires first, and main clears the interval before its tick.
    expect(out).toEqual({ elapsed: 3_600_500, perf: 3_600_500, ticks: 3599, virtual: 3_600_500 });
    expect(log).toEqual(['immediate@0', 'timeout@250']);
    // The real ones are back.
    expect(globalThis.setTimeout).toBe(realSetTimeout);
    expect(globalThis.Date).toBe(realDate);
    expect(Date.now()).toBeGreaterThan(DEFAULT_EPOCH_MS + 365 * 86_400_000);
  });

  test('epochMs sets the wall-clock date; errors from main are rethrown and the fakes removed', async () => {
    const sim = new Simulator();
    const when = await sim.run(() => new Date().toISOString(), { epochMs: Date.UTC(2030, 5, 1) });
    expect(when).toBe('2030-06-01T00:00:00.000Z');
    await expect(
      sim.run(async () => {
        await sleep(10);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(globalThis.setTimeout).toBe(realSetTimeout);
  });

  test('a client retry loop (app timers) against a server that starts listening 4.5 s later: attempts and total time are exact', async () => {
    const t = pair();
    const attempts: number[] = [];
    const result = await t.sim.run(async () => {
      const t0 = Date.now();
      // The server comes up late, on an application timer.
      let srv: ReturnType<typeof t.server.net.createServer> | null = null;
      setTimeout(() => {
        srv = t.server.net.createServer((s) => s.end('hello\n'));
        srv.listen(7);
      }, 4500);
      for (;;) {
        attempts.push(Date.now() - t0);
        try {
          const reply = await new Promise<string>((resolve, reject) => {
            const s = t.client.net.connect({ host: '10.0.0.2', port: 7 });
            let got = '';
            s.on('data', (d: Buffer) => (got += d.toString()));
            s.on('end', () => resolve(got));
            s.on('error', reject);
          });
          (srv as { close(): void } | null)?.close();
          return { reply, total: Date.now() - t0 };
        } catch (e) {
          expect((e as { code?: string }).code).toBe('ECONNREFUSED');
          await sleep(1000); // back off 1 s
        }
      }
    });
    expect(result.reply).toBe('hello\n');
    // Each refused attempt costs one RTT (10 ms) plus the 1 s back-off.
    expect(attempts).toEqual([0, 1010, 2020, 3030, 4040, 5050]);
    expect(result.total).toBe(5050 + 10 + 5 + 5); // SYN/SYN-ACK, then the data and FIN arrive half an RTT later each way
    t.finish();
  });

  test("node:http keepAliveTimeout closes an idle connection at the server's virtual deadline", async () => {
    const t = pair();
    const closedAt = await t.sim.run(async () => {
      const hs = http.createServer((_req, res) => res.end('ok'));
      hs.keepAliveTimeout = 30_000;
      const srv = t.server.net.createServer((s) => hs.emit('connection', s));
      srv.listen(80);
      const s = t.client.net.connect({ host: '10.0.0.2', port: 80 });
      const t0 = Date.now();
      await new Promise((r) => s.once('connect', r));
      s.write('GET / HTTP/1.1\r\nHost: server\r\n\r\n');
      await new Promise((r) => s.once('data', r));
      const answered = Date.now() - t0;
      await new Promise((r) => s.once('end', r));
      s.end();
      const closed = Date.now() - t0;
      srv.close();
      hs.close();
      return { answered, closed };
    });
    expect(closedAt.answered).toBe(20); // handshake 10 ms, request/response 10 ms
    // The server's idle timer starts when the response went out (15 ms), Node
    // (20.20) adds a one-second buffer to keepAliveTimeout, and the FIN takes 5 ms.
    expect(closedAt.closed).toBe(15 + 30_000 + 1000 + 5);
    t.finish();
  });

  test('a program waiting on nothing is reported as a stall, not a hang', async () => {
    const sim = new Simulator();
    await expect(sim.run(() => new Promise(() => {}), { outsideWaitMs: 5 })).rejects.toBeInstanceOf(SimulationStallError);
    expect(globalThis.setTimeout).toBe(realSetTimeout);
  });

  test('real I/O inside the run completes (the driver gives the outside world its turn)', async () => {
    const sim = new Simulator();
    const n = await sim.run(async () => {
      await sleep(1000);
      const text = await readFile(new URL(import.meta.url), 'utf8');
      await sleep(1000);
      return text.length;
    });
    expect(n).toBeGreaterThan(100);
    expect(sim.clock.now()).toBe(2000);
  });

  test('settle() waits for real work when nothing virtual is left (it used to jump straight to its deadline)', async () => {
    const sim = new Simulator();
    const text = await sim.settle(readFile(new URL(import.meta.url), 'utf8'));
    expect(text.length).toBeGreaterThan(100);
    expect(sim.clock.now()).toBe(0);
  });

  test('a program that outlives timeoutMs fails with SimulationTimeoutError at that virtual time', async () => {
    const sim = new Simulator();
    await expect(sim.run(() => sleep(2 * 86_400_000), { timeoutMs: 86_400_000 })).rejects.toBeInstanceOf(SimulationTimeoutError);
    expect(sim.clock.now()).toBe(86_400_000);
  });

  test('application timer firings are on the timeline, identically for the same program', async () => {
    const once = async (): Promise<SimEvent[]> => {
      const sim = new Simulator({ seed: 5 });
      const events: SimEvent[] = [];
      sim.onEvent((e) => events.push(e));
      await sim.run(async () => {
        const iv = setInterval(() => {}, 300);
        setImmediate(() => {});
        await sleep(1000);
        clearInterval(iv);
      });
      return events;
    };
    const a = await once();
    const b = await once();
    expect(a).toEqual(b);
    expect(a.map((e) => `${e.t}:${String(e.kind)}:${String(e.delay)}`)).toEqual(['0:immediate:0', '300:interval:300', '600:interval:300', '900:interval:300', '1000:timeout:1000']);
  });

  test('runs do not nest', async () => {
    const sim = new Simulator();
    const inner = new Simulator();
    await expect(sim.run(() => inner.run(() => 1))).rejects.toThrow(/already installed/);
  });
});

describe('unmodified libraries on virtual time', () => {
  /** An undici request with headersTimeout against a node:http server that answers after `answerMs` (an app timer). */
  async function slowFetch(answerMs: number, headersTimeout: number): Promise<{ outcome: string; atMs: number }> {
    const { Agent, fetch } = await import('undici');
    const t = pair();
    const r = await t.sim.run(async () => {
      const hs = http.createServer((_req, res) => {
        const timer = setTimeout(() => res.end('late'), answerMs);
        res.on('close', () => clearTimeout(timer));
      });
      const conns = new Set<import('node:stream').Duplex>();
      const srv = t.server.net.createServer((s) => {
        conns.add(s);
        s.on('close', () => conns.delete(s));
        hs.emit('connection', s);
      });
      srv.listen(80);
      const dispatcher = new Agent({
        headersTimeout,
        connect: (opts, cb) => {
          const s = t.client.net.connect({ host: opts.hostname, port: Number(opts.port) || 80 });
          s.once('connect', () => cb(null, s as never));
          s.once('error', (e) => cb(e, null));
        },
      });
      const t0 = Date.now();
      let outcome: string;
      try {
        const res = await fetch('http://10.0.0.2/', { dispatcher });
        outcome = `${res.status} ${await res.text()}`;
      } catch (e) {
        outcome = String((e as { cause?: { code?: string } }).cause?.code ?? e);
      }
      const atMs = Date.now() - t0;
      await dispatcher.close();
      srv.close();
      for (const s of conns) s.destroy(); // node:http tracks only connections of servers it listened with itself
      hs.close();
      return { outcome, atMs };
    });
    expect(t.sim.appTimersLeft).toBe(0);
    t.finish();
    return r;
  }

  test('undici headersTimeout fires on virtual time, in this run and in the next one (its timer wheel outlives a run)', async () => {
    // The first run in a process also warms undici up: its first connection
    // compiles llhttp's WebAssembly, real asynchronous work during which
    // virtual time moves on, so only later runs are comparable to the ms.
    const c = await slowFetch(3_000, 5_000);
    expect(c.outcome).toBe('200 late');
    expect(c.atMs).toBeGreaterThanOrEqual(3_000 + 20);
    const a = await slowFetch(20_000, 5_000);
    expect(a.outcome).toBe('UND_ERR_HEADERS_TIMEOUT');
    // undici's timer wheel ticks every 499 ms: the error comes within a tick or two of 5 s.
    expect(a.atMs).toBeGreaterThanOrEqual(5_000);
    expect(a.atMs).toBeLessThanOrEqual(6_000);
    const b = await slowFetch(20_000, 5_000);
    expect(b).toEqual(a);
    const d = await slowFetch(3_000, 5_000);
    expect(d).toEqual({ outcome: '200 late', atMs: 3_000 + 20 });
  });
});

describe('what else a run makes reproducible', () => {
  test("node:http's Date header comes from virtual time, and Math.random from the seed", async () => {
    const once = async (seed: number): Promise<{ date: string | undefined; randoms: number[] }> => {
      const t = pair(seed);
      const r = await t.sim.run(async () => {
        const hs = http.createServer((_req, res) => res.end('x'));
        const srv = t.server.net.createServer((s) => hs.emit('connection', s));
        srv.listen(80);
        await sleep(90_000);
        const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
          http.get({ host: '10.0.0.2', path: '/', createConnection: () => t.client.net.connect({ host: '10.0.0.2', port: 80 }) as never }, resolve).on('error', reject),
        );
        res.resume();
        await new Promise((r) => res.on('end', r));
        srv.close();
        hs.close();
        return { date: res.headers.date, randoms: [Math.random(), Math.random()] };
      });
      t.finish();
      return r;
    };
    const a = await once(1);
    expect(a.date).toBe('Sat, 01 Jan 2000 00:01:30 GMT'); // 90 s after the default epoch
    expect(await once(1)).toEqual(a);
    expect((await once(2)).randoms).not.toEqual(a.randoms);
    expect(Math.random).not.toBe(undefined);
  });
});

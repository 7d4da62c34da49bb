// Connection caps and timeouts of the built-in services (issue 12), on
// virtual time: beyond maxConnections the connection longest without
// progress is shed (or the newcomer refused), idle clients and clients that
// do not read are reset, each counted; normal use is untouched.
import { describe, expect, test } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/services/serve.ts';
import { HTTP_DEFAULT_LIMITS } from '../../src/services/http.ts';
import { chargenBlock } from '../../src/services/simple.ts';
import { connect, enc, readToEnd, serviceEnv, sleep, text } from './helpers.ts';

describe('defaults', () => {
  test('every service is capped and timed', () => {
    expect(DEFAULT_LIMITS).toEqual({ maxConnections: 256, idleTimeoutMs: 120_000, writeTimeoutMs: 30_000, shedAfterMs: 1_000 });
    expect(HTTP_DEFAULT_LIMITS.maxConnections).toBe(1024);
  });

  test('bad limits are RangeErrors', () => {
    expect(() => serviceEnv({ services: { echo: { maxConnections: -1 } } })).toThrow(RangeError);
    expect(() => serviceEnv({ services: { http: { writeTimeoutMs: Number.NaN } } })).toThrow(RangeError);
  });
});

describe('connection cap', () => {
  test('at the cap, a newcomer takes the place of the connection longest without progress (shed, reset, counted)', async () => {
    const env = serviceEnv({ services: { http: { maxConnections: 4, shedAfterMs: 1_000 } } });
    const out = await env.run(
      (async () => {
        const idle = [];
        for (let i = 0; i < 4; i++) {
          idle.push(await connect(env, 80));
          await sleep(env, 100);
        }
        const ends = idle.map((s) => readToEnd(s, env.now));
        await sleep(env, 2_000);
        const fresh = await connect(env, 80);
        await fresh.write(enc('GET /bytes/10 HTTP/1.1\r\n\r\n'));
        const r = await readToEnd(fresh, env.now);
        fresh.close();
        const all = await Promise.all(ends);
        for (const s of idle) s.close();
        return { fresh: text(r.data), ends: all };
      })(),
    );
    const http = env.counters('http');
    expect(out.fresh).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(http.shed).toBe(1);
    expect(http.refused).toBe(0);
    // The oldest was shed (a bare reset); the three others ran into the head deadline.
    expect(out.ends[0]!.end).toBe('ECONNRESET');
    expect(out.ends[0]!.data.length).toBe(0);
    for (const e of out.ends.slice(1)) expect(text(e.data)).toMatch(/^HTTP\/1\.1 408/);
    expect(http.headerTimeouts).toBe(3);
    await env.finish();
  });

  test('a client that does not read is shed before an older one that is slow to send', async () => {
    const env = serviceEnv({ client: { tcp: { rcvWnd: 8 * 1024 } }, services: { http: { maxConnections: 2, shedAfterMs: 1_000 } } });
    const out = await env.run(
      (async () => {
        const talker = await connect(env, 80); // sends nothing yet: waits in the head for 10 s
        const talkerEnd = readToEnd(talker, env.now);
        await sleep(env, 500);
        const sink = await connect(env, 80); // asks for 100 MB and never reads
        await sink.write(enc('GET /bytes/100000000 HTTP/1.1\r\n\r\n'));
        await sleep(env, 2_000);
        const fresh = await connect(env, 80);
        await fresh.write(enc('GET /bytes/10 HTTP/1.1\r\n\r\n'));
        const r = await readToEnd(fresh, env.now);
        fresh.close();
        const sinkPcb = sink.tcpPcb;
        const talkerOpen = talker.tcpPcb !== null;
        sink.close();
        const t = await talkerEnd;
        talker.close();
        return { fresh: text(r.data), sinkReset: sinkPcb === null, talkerOpen, talkerEnd: text(t.data) };
      })(),
    );
    expect(out.fresh).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(out.sinkReset).toBe(true);
    expect(out.talkerOpen).toBe(true);
    expect(out.talkerEnd).toMatch(/^HTTP\/1\.1 408/);
    expect(env.counters('http').shed).toBe(1);
    await env.finish();
  });

  /** An echo client that sends a byte every 100 ms for `ms` and reads each back: its connection never waits long. */
  async function chatty(env: ReturnType<typeof serviceEnv>, ms: number): Promise<string> {
    const s = await connect(env, 7);
    let got = '';
    for (let t = 0; t < ms; t += 100) {
      await s.write(enc('x'));
      got += text(await s.recv(10));
      await sleep(env, 100);
    }
    s.close();
    return got;
  }

  test('at the cap, a newcomer waits up to twice shedAfterMs; nobody sheddable meanwhile: refused with a reset (counted)', async () => {
    const env = serviceEnv({ services: { echo: { maxConnections: 3 } } });
    const out = await env.run(
      (async () => {
        const busy = [chatty(env, 4_000), chatty(env, 4_000), chatty(env, 4_000)];
        await sleep(env, 500);
        const extra = await connect(env, 7); // the handshake completes in the stack; the service makes it wait
        const t0 = env.now();
        const r = await readToEnd(extra, env.now);
        extra.close();
        return { end: r.end, waited: r.at - t0, echoes: await Promise.all(busy) };
      })(),
    );
    expect(out.end).toBe('ECONNRESET');
    expect(out.waited).toBeGreaterThanOrEqual(2_000);
    expect(out.waited).toBeLessThan(2_100);
    expect(out.echoes).toEqual(['x'.repeat(40), 'x'.repeat(40), 'x'.repeat(40)]);
    const echo = env.counters('echo');
    expect(echo.refused).toBe(1);
    expect(echo.shed).toBe(0);
    expect(echo.accepted).toBe(3);
    await env.finish();
  });

  test('a waiting newcomer gets the place of a connection that ends', async () => {
    const env = serviceEnv({ services: { echo: { maxConnections: 2 } } });
    const out = await env.run(
      (async () => {
        const a = await connect(env, 7);
        const b = await connect(env, 7);
        const c = await connect(env, 7);
        await c.write(enc('late'));
        await sleep(env, 300);
        a.close();
        const back = text(await c.recv(10));
        b.close();
        c.close();
        return back;
      })(),
    );
    expect(out).toBe('late');
    const echo = env.counters('echo');
    expect(echo.accepted).toBe(3);
    expect(echo.shed + echo.refused).toBe(0);
    await env.finish();
  });

  test('no more newcomers wait than the backlog: the rest are refused at once', async () => {
    const env = serviceEnv({ services: { echo: { maxConnections: 1, backlog: 2 } } });
    const out = await env.run(
      (async () => {
        const busy = chatty(env, 3_000);
        await sleep(env, 200);
        const late = [await connect(env, 7), await connect(env, 7), await connect(env, 7)];
        const t0 = env.now();
        const ends = await Promise.all(late.map((s) => readToEnd(s, env.now)));
        for (const s of late) s.close();
        await busy;
        return ends.map((e) => ({ end: e.end, after: e.at - t0 }));
      })(),
    );
    expect(out.map((e) => e.end)).toEqual(['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
    expect(out[2]!.after).toBeLessThan(100); // the third could not even wait
    expect(out[0]!.after).toBeGreaterThanOrEqual(1_900);
    expect(env.counters('echo').refused).toBe(3);
    await env.finish();
  });

  test('maxConnections 0 means no cap', async () => {
    const env = serviceEnv({ services: { discard: { maxConnections: 0 } } });
    await env.run(
      (async () => {
        const socks = [];
        for (let i = 0; i < 300; i++) socks.push(await connect(env, 9));
        await sleep(env, 10);
        for (const s of socks) s.close();
      })(),
    );
    expect(env.counters('discard').accepted).toBe(300);
    expect(env.counters('discard').refused).toBe(0);
    await env.finish();
  });
});

describe('echo, discard, chargen timeouts', () => {
  test('echo answers, then resets a client idle for idleTimeoutMs (default 120 s)', async () => {
    const env = serviceEnv();
    const out = await env.run(
      (async () => {
        const s = await connect(env, 7);
        await s.write(enc('hello'));
        const back = text(await s.recv(10));
        const t0 = env.now();
        const r = await readToEnd(s, env.now);
        s.close();
        return { back, end: r.end, after: r.at - t0 };
      })(),
    );
    expect(out.back).toBe('hello');
    expect(out.end).toBe('ECONNRESET');
    expect(out.after).toBeGreaterThanOrEqual(120_000);
    expect(out.after).toBeLessThan(120_100);
    expect(env.counters('echo').readTimeouts).toBe(1);
    await env.finish();
  });

  test('echo to a client that sends but never reads: reset after writeTimeoutMs, server memory freed', async () => {
    const env = serviceEnv({ client: { tcp: { rcvWnd: 8 * 1024 } }, services: { echo: { writeTimeoutMs: 5_000 } } });
    const out = await env.run(
      (async () => {
        const s = await connect(env, 7);
        s.settimeout(60);
        const chunk = new Uint8Array(64 * 1024);
        let sentBytes = 0;
        let end = '';
        for (let i = 0; i < 100; i++) {
          try {
            sentBytes += await s.write(chunk);
          } catch (e) {
            end = (e as Error).message;
            break;
          }
        }
        const bytes = env.server.pool.stats.bytesInUse;
        s.close();
        return { sentBytes, end, bytes };
      })(),
    );
    expect(env.counters('echo').writeTimeouts).toBe(1);
    expect(out.sentBytes).toBeGreaterThan(0);
    expect(out.end).toMatch(/ECONNRESET|EPIPE|ENOTCONN/);
    expect(out.bytes).toBe(0);
    await env.finish();
  });

  test('discard resets a client idle for idleTimeoutMs', async () => {
    const env = serviceEnv({ services: { discard: { idleTimeoutMs: 3_000 } } });
    const out = await env.run(
      (async () => {
        const s = await connect(env, 9);
        for (let i = 0; i < 5; i++) {
          await s.write(new Uint8Array(1000));
          await sleep(env, 2_000);
        }
        const t0 = env.now();
        const r = await readToEnd(s, env.now);
        s.close();
        return { end: r.end, after: r.at - t0 };
      })(),
    );
    expect(out.end).toBe('ECONNRESET');
    expect(out.after).toBeLessThan(3_000); // 3 s after the last write, 2 s of which had passed
    expect(env.counters('discard').bytesIn).toBe(5000);
    expect(env.counters('discard').readTimeouts).toBe(1);
    await env.finish();
  });

  test('chargen to a client that never reads: reset after the default 30 s without progress, memory freed', async () => {
    const env = serviceEnv({ client: { tcp: { rcvWnd: 8 * 1024 } } });
    const out = await env.run(
      (async () => {
        const s = await connect(env, 19);
        await sleep(env, 5_000);
        // chargen writes zero-copy (MSG_ZEROCOPY): what it holds is queued TCP data referencing its constant block, in pbufs of the pool.
        const held = queuedSendBytes(env.server);
        const heldPbufs = env.server.pool.stats.pbufsInUse;
        await sleep(env, 30_000);
        const after = env.server.pool.stats.bytesInUse + env.server.pool.stats.pbufsInUse;
        const r = await readToEnd(s, env.now);
        s.close();
        return { held, heldPbufs, after, end: r.end };
      })(),
    );
    expect(out.held).toBeGreaterThan(200 * 1024);
    expect(out.heldPbufs).toBeGreaterThan(0);
    expect(out.after).toBe(0);
    expect(out.end).toBe('ECONNRESET');
    expect(env.counters('chargen').writeTimeouts).toBe(1);
    await env.finish();
  });

  test('chargen to a steady reader: the RFC 864 pattern, no timeout', async () => {
    const env = serviceEnv();
    const got = await env.run(
      (async () => {
        const s = await connect(env, 19);
        const parts: Uint8Array[] = [];
        let n = 0;
        while (n < 200_000) {
          const d = await s.recv(65536);
          parts.push(d);
          n += d.length;
          await sleep(env, 1_000);
        }
        s.close();
        return Buffer.concat(parts);
      })(),
    );
    const block = Buffer.from(chargenBlock());
    expect(got.subarray(0, block.length).equals(block)).toBe(true);
    expect(env.counters('chargen').writeTimeouts).toBe(0);
    await env.finish();
  });
});

/** Bytes the stack's connections hold queued for sending (unsent + unacknowledged). */
function queuedSendBytes(stack: { tcp: { active: { values(): Iterable<{ unsent: { bytes: number }; unacked: { bytes: number } }> } } }): number {
  let n = 0;
  for (const p of stack.tcp.active.values()) n += p.unsent.bytes + p.unacked.bytes;
  return n;
}

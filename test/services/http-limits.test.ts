// The HTTP service's bounds (issue 12), on virtual time: the request head
// has one deadline however its lines are spread (slowloris), a response to
// a client that does not read is reset once a 64 KiB block waits longer
// than writeTimeoutMs, and a slow but steady reader is served to the end.
import { describe, expect, test } from 'vitest';
import { DEFAULT_HEADER_TIMEOUT_MS, generatedBody } from '../../src/services/http.ts';
import { connect, enc, readToEnd, serviceEnv, sleep, text } from './helpers.ts';

describe('HTTP request head deadline (slowloris)', () => {
  test('the default is 10 s for the whole head', () => {
    expect(DEFAULT_HEADER_TIMEOUT_MS).toBe(10_000);
  });

  for (const gapMs of [4_000, 20_000]) {
    test(`one header line every ${gapMs / 1000} s: reset when the default 10 s head deadline passes, counted, 408 first`, async () => {
      const env = serviceEnv();
      const result = await env.run(
        (async () => {
          const s = await connect(env, 80);
          const t0 = env.now();
          await s.write(enc('GET / HTTP/1.1\r\n'));
          const reading = readToEnd(s, env.now);
          let sent = 0;
          // Keep talking, one line per gap, until the server gives up (bounded).
          for (let i = 0; i < 20; i++) {
            await sleep(env, gapMs);
            if (s.tcpPcb === null) break;
            try {
              await s.write(enc(`X-Slow-${i}: ${'a'.repeat(10)}\r\n`));
              sent++;
            } catch {
              break;
            }
          }
          const r = await reading;
          s.close();
          return { ...r, t0, sent };
        })(),
      );
      const http = env.counters('http');
      expect(http.headerTimeouts).toBe(1);
      expect(http.errors).toBe(0);
      expect(text(result.data)).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      // Closed by the deadline, measured from the accept (one link latency after the SYN).
      const closedAfter = result.at - result.t0;
      expect(closedAfter).toBeGreaterThanOrEqual(10_000);
      expect(closedAfter).toBeLessThan(10_100);
      expect(result.sent).toBe(gapMs === 4_000 ? 2 : 0);
      await env.finish();
    });
  }

  test('50 slowloris connections at once: all reset at the deadline, the service still answers a fresh request', async () => {
    const env = serviceEnv();
    const out = await env.run(
      (async () => {
        const socks = [];
        for (let i = 0; i < 50; i++) {
          const s = await connect(env, 80);
          await s.write(enc('GET /status.json HTTP/1.1\r\nHost: x\r\n'));
          socks.push(s);
        }
        const ends = await Promise.all(socks.map((s) => readToEnd(s, env.now)));
        for (const s of socks) s.close();
        const fresh = await connect(env, 80);
        await fresh.write(enc('GET /status.json HTTP/1.1\r\n\r\n'));
        const r = await readToEnd(fresh, env.now);
        fresh.close();
        return { ends, fresh: text(r.data) };
      })(),
    );
    expect(out.ends.every((e) => text(e.data).startsWith('HTTP/1.1 408'))).toBe(true);
    expect(env.counters('http').headerTimeouts).toBe(50);
    expect(out.fresh).toMatch(/^HTTP\/1\.1 200 OK/);
    await env.finish();
  });

  test('a head spread over 6 s within the deadline is served', async () => {
    const env = serviceEnv();
    const body = await env.run(
      (async () => {
        const s = await connect(env, 80);
        await s.write(enc('GET /bytes/1000 HTTP/1.1\r\n'));
        await sleep(env, 3_000);
        await s.write(enc('Host: tsip\r\n'));
        await sleep(env, 3_000);
        await s.write(enc('\r\n'));
        const r = await readToEnd(s, env.now);
        s.close();
        return r;
      })(),
    );
    expect(body.end).toBe('eof');
    const all = Buffer.from(body.data);
    expect(all.subarray(all.indexOf('\r\n\r\n') + 4)).toEqual(Buffer.from(generatedBody(1000)));
    expect(env.counters('http').headerTimeouts).toBe(0);
    await env.finish();
  });

  test('headerTimeoutMs is configurable and checked', async () => {
    const env = serviceEnv({ services: { http: { headerTimeoutMs: 2_000 } } });
    const r = await env.run(
      (async () => {
        const s = await connect(env, 80);
        const t0 = env.now();
        await s.write(enc('GET / HTTP/1.1\r\n'));
        const res = await readToEnd(s, env.now);
        s.close();
        return res.at - t0;
      })(),
    );
    expect(r).toBeGreaterThanOrEqual(2_000);
    expect(r).toBeLessThan(2_100);
    await env.finish();
    expect(() => serviceEnv({ services: { http: { headerTimeoutMs: 0 } } })).toThrow(RangeError);
  });
});

describe('HTTP responses to clients that do not read', () => {
  test('/bytes/100000000 to a client that never reads: reset after writeTimeoutMs without progress, its memory freed', async () => {
    // The client's receive window is small, as a socket with a small SO_RCVBUF.
    const env = serviceEnv({ client: { tcp: { rcvWnd: 8 * 1024 } } });
    const seen = await env.run(
      (async () => {
        const s = await connect(env, 80);
        await s.write(enc('GET /bytes/100000000 HTTP/1.1\r\n\r\n'));
        // Never read: watch the server's pool and counters instead.
        await sleep(env, 5_000);
        // The body is written zero-copy (MSG_ZEROCOPY): what it holds is queued TCP data referencing the constant block, in pbufs of the pool.
        const held = queuedSendBytes(env.server);
        const heldPbufs = env.server.pool.stats.pbufsInUse;
        await sleep(env, 40_000);
        const after = { pbufs: env.server.pool.stats.pbufsInUse, bytes: env.server.pool.stats.bytesInUse, pcbs: env.server.tcp.pcbCount, timeouts: env.counters('http').writeTimeouts };
        const r = await readToEnd(s, env.now);
        s.close();
        return { held, heldPbufs, after, end: r.end };
      })(),
    );
    expect(seen.held).toBeGreaterThan(200 * 1024); // the send buffer filled
    expect(seen.after.timeouts).toBe(1);
    expect(seen.heldPbufs).toBeGreaterThan(0);
    expect(seen.after.bytes).toBe(0);
    expect(seen.after.pbufs).toBe(0);
    expect(seen.after.pcbs).toBe(4); // the listeners only: echo, discard, chargen, http
    expect(seen.end).toBe('ECONNRESET');
    await env.finish();
  });

  test('a slow but steady reader (64 KiB every 10 s) gets all of 1 MB', async () => {
    const env = serviceEnv({ client: { tcp: { rcvWnd: 64 * 1024 } } });
    const n = 1_000_000;
    const got = await env.run(
      (async () => {
        const s = await connect(env, 80);
        await s.write(enc(`GET /bytes/${n} HTTP/1.1\r\n\r\n`));
        const parts: Uint8Array[] = [];
        for (;;) {
          await sleep(env, 10_000);
          const d = await s.recv(64 * 1024);
          if (d.length === 0) break;
          parts.push(d);
        }
        s.close();
        return Buffer.concat(parts);
      })(),
    );
    const body = got.subarray(got.indexOf('\r\n\r\n') + 4);
    expect(body.length).toBe(n);
    expect(body.equals(Buffer.from(generatedBody(n)))).toBe(true);
    expect(env.counters('http').writeTimeouts).toBe(0);
    await env.finish();
  });
});

/** Bytes the stack's connections hold queued for sending (unsent + unacknowledged). */
function queuedSendBytes(stack: { tcp: { active: { values(): Iterable<{ unsent: { bytes: number }; unacked: { bytes: number } }> } } }): number {
  let n = 0;
  for (const p of stack.tcp.active.values()) n += p.unsent.bytes + p.unacked.bytes;
  return n;
}

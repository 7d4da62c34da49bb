// Data that arrives before accept(): the socket layer refuses it until the
// application takes the connection (seed 000/001: refused, never
// discarded), and what follows the refused segment waits behind it
// (PcbFlag.QUEUE_REFUSED) instead of being dropped for the peer to resend,
// as lwIP's raw API does. So a client that uploads right after connecting
// sends every byte once, within the window the server announced, and the
// server reads it all, in order, when it gets round to accept().
import { describe, expect, test } from 'vitest';
import { Rng } from '../../src/time/rng.ts';
import { sha, sockPair, type SockPair } from '../support/sockets.ts';

async function readAll(pair: SockPair, s: { read(n: number): Promise<Uint8Array | null> }, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const d = await pair.run(s.read(n - got));
    if (d === null || d.length === 0) break;
    out.set(d, got);
    got += d.length;
  }
  return out.subarray(0, got);
}

/** A listener on the server's port 8000 and a client connected to it (not yet accepted), sending `data`. */
async function uploading(pair: SockPair, seed: string, n: number) {
  const ls = pair.server.socket();
  ls.bind(['0.0.0.0', 8000]);
  ls.listen(1);
  const data = new Rng(seed).fill(new Uint8Array(n));
  const c = pair.client.socket();
  await pair.run(c.connect(['10.0.0.2', 8000]));
  return { ls, c, data, sent: c.sendall(data) };
}

describe('data before accept()', () => {
  test('a 40 KB upload sent right after connect, accept() 200 ms later: every byte sent once, none dropped, all read in order', async () => {
    const pair = sockPair();
    const { ls, c, data, sent } = await uploading(pair, 'pre-accept', 40_000);
    await pair.advance(200);
    // Everything arrived and was acknowledged while the connection waited: no resend needed.
    await pair.run(sent);
    expect(pair.server.tcp.counters.refusedQueued).toBeGreaterThan(0);
    const [s] = await pair.run(ls.accept());
    const got = await readAll(pair, s, data.length);
    expect(sha(got)).toBe(sha(data));
    expect(pair.client.tcp.counters.retransSegs).toBe(0);
    expect(pair.server.stats.tcp.drop).toBe(0);
    c.close();
    s.close();
    ls.close();
    await pair.finish();
  });

  test('the window still bounds it: 1 MB sent before a late accept() (2 s): the server holds at most its receive window, then everything arrives intact', async () => {
    const pair = sockPair();
    const { ls, c, data, sent } = await uploading(pair, 'pre-accept-1m', 1_000_000);
    await pair.advance(2000);
    // Held for the connection: at most what the server's window let in (the pool's data share is the bound).
    const held = pair.server.pool.stats.bytesInUse;
    expect(held).toBeGreaterThan(20_000);
    expect(held).toBeLessThan(2 * pair.server.tcp.config.rcvWnd + 64 * 1024);
    expect(pair.client.tcp.counters.retransSegs).toBe(0);
    const [s] = await pair.run(ls.accept());
    const got = await readAll(pair, s, data.length);
    await pair.run(sent);
    expect(sha(got)).toBe(sha(data));
    c.close();
    s.close();
    ls.close();
    await pair.finish();
  });

  test('data and the FIN before accept(): read in full, then EOF', async () => {
    const pair = sockPair();
    const { ls, c, data, sent } = await uploading(pair, 'pre-accept-fin', 20_000);
    await pair.run(sent);
    c.close();
    await pair.advance(300);
    const [s] = await pair.run(ls.accept());
    const got = await readAll(pair, s, data.length);
    expect(sha(got)).toBe(sha(data));
    expect(await pair.run(s.read(10))).toEqual(new Uint8Array(0));
    expect(pair.client.tcp.counters.retransSegs).toBe(0);
    s.close();
    ls.close();
    await pair.finish();
  });

  test('a shared budget bounds it: eight clients uploading 60 KB each to a listener that does not accept keep at most refusedQueueMaxBytes queued; the rest is resent after accept(), all intact', async () => {
    const budget = 100_000;
    const pair = sockPair({ server: { tcp: { refusedQueueMaxBytes: budget } } });
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', 8000]);
    ls.listen(8);
    const uploads = [];
    for (let i = 0; i < 8; i++) {
      const data = new Rng(`budget-${i}`).fill(new Uint8Array(60_000));
      const c = pair.client.socket();
      await pair.run(c.connect(['10.0.0.2', 8000]));
      uploads.push({ c, data, sent: c.sendall(data) });
    }
    // Sample the budget while nothing is accepted: it is never exceeded (one segment may be the last one let in).
    let peak = 0;
    for (let t = 0; t < 50; t++) {
      await pair.advance(20);
      peak = Math.max(peak, pair.server.tcp.refusedQueuedBytes);
    }
    expect(peak).toBeGreaterThan(budget / 2);
    expect(peak).toBeLessThanOrEqual(budget);
    expect(pair.server.tcp.counters.refusedQueueFull).toBeGreaterThan(0);
    // Every connection is then accepted and read whole; the budget empties.
    for (const u of uploads) {
      const [s] = await pair.run(ls.accept());
      const got = await readAll(pair, s, u.data.length);
      await pair.run(u.sent);
      expect(sha(got)).toBe(sha(u.data));
      u.c.close();
      s.close();
    }
    expect(pair.server.tcp.refusedQueuedBytes).toBe(0);
    ls.close();
    await pair.finish();
  });

  test('the default budget is a quarter of the pool\'s data share; an aborted waiting connection gives its share back', async () => {
    const pair = sockPair({ server: { pool: { trackLive: true, maxBytes: 1 << 20 } } });
    const { ls, c, sent } = await uploading(pair, 'pre-accept-abort', 600_000);
    await pair.advance(1000);
    const held = pair.server.tcp.refusedQueuedBytes;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(pair.server.pool.dataBytesLimit / 4);
    // The client gives up: its RST frees the waiting connection and what it held.
    pair.client.tcp.abort(c.tcpPcb!);
    await pair.run(sent.catch(() => undefined));
    await pair.advance(100);
    expect(pair.server.tcp.refusedQueuedBytes).toBe(0);
    c.close();
    ls.close();
    await pair.finish();
  });
});


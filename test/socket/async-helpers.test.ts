// The seed-004 helpers (asycamore's tcpsocket module) on tsip sockets:
// listenTcp, serverAccept, connectTcp, socketReader, writeIterable,
// getsockerr.
import { describe, expect, test } from 'vitest';
import { connectTcp, getsockerr, listenTcp, serverAccept, socketReader, waitPoll, writeIterable } from '../../src/socket/async-helpers.ts';
import { POLLERR, POLLIN, POLLOUT, SO_REUSEADDR, SOL_SOCKET } from '../../src/socket/constants.ts';
import { errno, isOSError } from '../../src/socket/errors.ts';
import type { NonBlockingSocket, SockAddr } from '../../src/socket/socket.ts';
import { dec, enc, sockPair, type SockPair } from '../support/sockets.ts';
import { payload, sha256 } from '../support/tcp.ts';

const PORT = 8080;
const SERVER = '10.0.0.2';

async function idleAndFinish(pair: SockPair): Promise<void> {
  const { sim } = pair;
  await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 600_000);
  for (const s of [pair.client, pair.server]) {
    expect(s.sockets.open, `${s.name}: sockets open`).toBe(0);
    expect(s.tcp.pcbCount, `${s.name}: PCBs left`).toBe(0);
    s.pool.assertEmpty();
  }
  await pair.finish();
}

function cat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** listenTcp + connectTcp + serverAccept: a connected pair of non-blocking sockets. */
async function connectedPair(pair: SockPair): Promise<{ ls: NonBlockingSocket; c: NonBlockingSocket; s: NonBlockingSocket }> {
  const ls = listenTcp(pair.server.sockets, '0.0.0.0', PORT, 4);
  const { sock: c, status } = connectTcp(pair.client.sockets, [SERVER, PORT]);
  expect(status).toBe(errno.EINPROGRESS);
  expect(await pair.run(waitPoll(pair.client.sockets, c, POLLOUT, 5000))).toBe(POLLOUT);
  await pair.run(waitPoll(pair.server.sockets, ls, POLLIN, 5000));
  const s = serverAccept(ls, (sock) => sock)!;
  return { ls, c, s };
}

describe('seed 004 async socket helpers', () => {
  test('listenTcp: a non-blocking listener with SO_REUSEADDR; a failing setup closes its socket', () => {
    const pair = sockPair();
    const layer = pair.server.sockets;
    const ls = listenTcp(layer, '0.0.0.0', PORT, 4);
    expect(ls.stateName).toBe('LISTENING');
    expect(ls.gettimeout()).toBe(0);
    expect(ls.getsockopt(SOL_SOCKET, SO_REUSEADDR)).toBe(1);
    expect(ls.getsockname()).toEqual(['0.0.0.0', PORT]);
    expect(() => ls.accept()).toThrow(expect.objectContaining({ errno: errno.EAGAIN }));
    // Not a local address: bind fails, and the socket it made is closed again.
    expect(() => listenTcp(layer, '192.0.2.1', PORT + 1, 4)).toThrow(expect.objectContaining({ errno: errno.EADDRNOTAVAIL }));
    expect(layer.open).toBe(1);
    ls.close();
    return idleAndFinish(pair);
  });

  test('serverAccept: null while nothing waits; otherwise the factory gets a non-blocking socket and its address', async () => {
    const pair = sockPair();
    const ls = listenTcp(pair.server.sockets, '0.0.0.0', PORT, 4);
    const made: [NonBlockingSocket, SockAddr][] = [];
    const factory = (sock: NonBlockingSocket, addr: SockAddr): string => {
      made.push([sock, addr]);
      return `conn ${made.length}`;
    };
    expect(serverAccept(ls, factory)).toBe(null);
    expect(made).toEqual([]);
    const c = pair.client.socket();
    await pair.run(c.connect([SERVER, PORT]));
    await pair.advance(10);
    expect(serverAccept(ls, factory)).toBe('conn 1');
    expect(serverAccept(ls, factory)).toBe(null);
    const [s, addr] = made[0]!;
    expect(addr).toEqual(['10.0.0.1', c.getsockname()[1]]);
    expect(s.gettimeout()).toBe(0);
    expect(() => s.recv(10)).toThrow(expect.objectContaining({ errno: errno.EAGAIN }));
    // Errors other than "nothing waiting" are raised.
    ls.close();
    expect(() => serverAccept(ls, factory)).toThrow(expect.objectContaining({ errno: errno.EBADF }));
    s.close();
    c.close();
    await idleAndFinish(pair);
  });

  test('connectTcp: EINPROGRESS, then writable with no error; getsockerr is empty', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connectedPair(pair);
    expect(c.stateName).toBe('CONNECTED');
    expect(getsockerr(c)).toBe('');
    expect(getsockerr(s)).toBe('');
    for (const x of [c, s, ls]) x.close();
    await idleAndFinish(pair);
  });

  test('connectTcp to a closed port: readable and writable with POLLERR; getsockerr says ECONNREFUSED once', async () => {
    const pair = sockPair();
    const { sock, status } = connectTcp(pair.client.sockets, [SERVER, 9]);
    expect(status).toBe(errno.EINPROGRESS);
    const flags = await pair.run(waitPoll(pair.client.sockets, sock, POLLOUT | POLLIN, 5000));
    expect(flags & (POLLIN | POLLOUT | POLLERR)).toBe(POLLIN | POLLOUT | POLLERR);
    expect(getsockerr(sock)).toBe('[Errno 111] ECONNREFUSED');
    expect(getsockerr(sock)).toBe('');
    sock.close();
    await idleAndFinish(pair);
  });

  test('socketReader yields what arrives and ends at EOF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connectedPair(pair);
    const data = payload(50_000, 3);
    const reading = (async () => {
      const parts: Uint8Array[] = [];
      for await (const chunk of socketReader(pair.server.sockets, s, 4096)) {
        expect(chunk.length).toBeGreaterThan(0);
        expect(chunk.length).toBeLessThanOrEqual(4096);
        parts.push(chunk);
      }
      return cat(parts);
    })();
    await pair.run(c.setblocking(true).sendall(data));
    c.close();
    const got = await pair.run(reading);
    expect(sha256(got)).toBe(sha256(data));
    s.close();
    ls.close();
    await idleAndFinish(pair);
  });

  test('socketReader throws ECONNRESET when the peer resets (after the data that came first)', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connectedPair(pair);
    const seen: string[] = [];
    const reading = (async () => {
      try {
        for await (const chunk of socketReader(pair.server.sockets, s)) seen.push(dec(chunk)!);
        return 'ended';
      } catch (e) {
        return isOSError(e) ? e.code : String(e);
      }
    })();
    c.send(enc('before the reset'));
    await pair.advance(50);
    pair.client.sockets.raw.tcpAbort(c.tcpPcb!);
    expect(await pair.run(reading)).toBe('ECONNRESET');
    expect(seen.join('')).toBe('before the reset');
    for (const x of [c, s, ls]) x.close();
    await idleAndFinish(pair);
  });

  test('writeIterable: backpressure against a slow reader; every byte delivered; forEach once per item, in order', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 8 * 1024 } }, server: { tcp: { rcvWnd: 8 * 1024 } } });
    const { ls, c, s } = await connectedPair(pair);
    const items = Array.from({ length: 40 }, (_, i) => payload(1000 + i * 250, i + 1));
    const total = items.reduce((a, b) => a + b.length, 0);
    const done: number[] = [];
    const sentBefore: number[] = [];
    let received = 0;
    // The slow reader: 2000 bytes every 20 ms.
    const reader = (async () => {
      const parts: Uint8Array[] = [];
      for (;;) {
        await new Promise<void>((r) => pair.sim.clock.after(20, r));
        let b: Uint8Array;
        try {
          b = s.recv(2000);
        } catch (e) {
          if (isOSError(e, errno.EAGAIN)) continue;
          throw e;
        }
        if (b.length === 0) return cat(parts);
        received += b.length;
        parts.push(b);
      }
    })();
    const writing = writeIterable(pair.client.sockets, c, items, (item) => {
      done.push(items.indexOf(item));
      sentBefore.push(received);
    }).then((n) => {
      c.close();
      return n;
    });
    expect(await pair.run(writing)).toBe(total);
    const got = await pair.run(reader);
    expect(sha256(got)).toBe(sha256(cat(items)));
    expect(done).toEqual(items.map((_, i) => i));
    // Backpressure: the writer finished long before everything was read,
    // and it was held back (the reader was behind by at most the buffers).
    expect(received).toBe(total);
    expect(sentBefore.at(-1)!).toBeLessThan(total);
    expect(sentBefore.at(-1)!).toBeGreaterThan(total - 8 * 1024 - 8 * 1024 - 4000);
    s.close();
    ls.close();
    await idleAndFinish(pair);
  });

  test('writeIterable takes an async iterable and stops with the error when the peer goes away', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 4096 } }, server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c, s } = await connectedPair(pair);
    async function* gen(): AsyncGenerator<Uint8Array> {
      for (let i = 0; ; i++) yield payload(3000, i + 1);
    }
    let items = 0;
    const writing = writeIterable(pair.client.sockets, c, gen(), () => items++).then(
      () => 'finished',
      (e: unknown) => (isOSError(e) ? e.code : String(e)),
    );
    await pair.advance(200);
    expect(items).toBeGreaterThan(0);
    s.close(); // unread data: the server resets the connection
    expect(await pair.run(writing)).toBe('ECONNRESET');
    c.close();
    ls.close();
    await idleAndFinish(pair);
  });
});

// Node's error codes and syscalls for the failures tsip reports, the
// AbortSignal on connect, and the async sugar (stack.listen as an async
// iterator, stack.connectTcp).
import { expect, test } from 'vitest';
import type { NetError, Socket } from '../../src/net/index.ts';
import { collect, netPair } from './helpers.ts';

test('ETIMEDOUT (connect) when SYNs go unanswered, after the SYN retries', async () => {
  const t = netPair();
  const c = t.client.net.connect({ host: '10.0.0.3', port: 80 });
  const err = await t.run(new Promise<NetError>((resolve) => c.once('error', resolve)));
  expect(err.code).toBe('ETIMEDOUT');
  expect(err.syscall).toBe('connect');
  expect(err.message).toBe('connect ETIMEDOUT 10.0.0.3:80');
  expect(err.errno).toBeLessThan(0);
  await t.until(() => c.destroyed);
  await t.finish();
});

test('EPIPE (write) when writing to a peer that closed and then reset', async () => {
  const t = netPair();
  const srv = t.server.net.createServer((s) => s.destroy());
  srv.listen(9);
  const c = t.client.net.connect({ host: '10.0.0.2', port: 9, allowHalfOpen: true });
  const events: string[] = [];
  c.on('end', () => {
    events.push('end');
    c.write('still here');
  });
  c.resume();
  const err = await t.run(new Promise<NetError>((resolve) => c.once('error', resolve)));
  events.push(`error:${err.code}:${err.syscall}`);
  await t.until(() => c.destroyed);
  expect(events).toEqual(['end', 'error:EPIPE:write']);
  srv.close();
  await t.finish();
});

test('EADDRINUSE for a local port in use on connect (bind) and listen (listen)', async () => {
  const t = netPair();
  const a = t.client.net.createServer(() => {});
  a.listen(5555);
  const b = t.client.net.createServer(() => {});
  const e1 = await t.run(new Promise<NetError>((resolve) => b.once('error', resolve).listen(5555)));
  expect([e1.code, e1.syscall, e1.message]).toEqual(['EADDRINUSE', 'listen', 'listen EADDRINUSE: address already in use 0.0.0.0:5555']);
  const c = t.client.net.connect({ host: '10.0.0.2', port: 80, localPort: 5555 });
  const e2 = await t.run(new Promise<NetError>((resolve) => c.once('error', resolve)));
  expect([e2.code, e2.syscall]).toEqual(['EADDRINUSE', 'bind']);
  a.close();
  await t.finish();
});

test('connectTcp honours an AbortSignal (AbortError, socket destroyed, PCB freed)', async () => {
  const t = netPair();
  const ac = new AbortController();
  const p = t.client.connectTcp({ host: '10.0.0.3', port: 80, signal: ac.signal });
  const caught = p.catch((e: unknown) => e as Error);
  await t.advance(500);
  ac.abort();
  const e = await t.run(caught);
  expect(e).toBeInstanceOf(Error);
  expect((e as Error).name).toBe('AbortError');
  await t.finish();
});

test('for await (const sock of stack.listen({ port })) serves connections; connectTcp resolves connected', async () => {
  const t = netPair();
  const loop = t.server.listen({ port: 7 });
  const served: string[] = [];
  const serverDone = (async () => {
    for await (const sock of loop) {
      served.push(`${sock.remoteAddress}`);
      sock.pipe(sock); // echo
      if (served.length === 2) break; // stops listening
    }
  })();
  await t.run(loop.ready);
  const replies: string[] = [];
  for (const msg of ['one', 'two']) {
    const s: Socket = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 7 }));
    expect(s.remotePort).toBe(7);
    expect(s.localAddress).toBe('10.0.0.1');
    s.end(msg);
    replies.push((await t.run(collect(s))).toString());
  }
  await t.run(serverDone);
  expect(replies).toEqual(['one', 'two']);
  expect(served).toEqual(['10.0.0.1', '10.0.0.1']);
  expect(loop.server.listening).toBe(false);
  const refused = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 7 }).catch((e: NetError) => e.code));
  expect(refused).toBe('ECONNREFUSED');
  await t.finish();
});

test('bytesRead/bytesWritten, addresses, and a paused reader closing the window (tcpRecved only for taken bytes)', async () => {
  const t = netPair();
  let ss: Socket | null = null;
  const srv = t.server.net.createServer({ pauseOnConnect: true }, (s) => (ss = s));
  srv.listen(9000);
  const c: Socket = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 9000 }));
  const big = Buffer.alloc(600_000, 1);
  c.write(big);
  await t.advance(2000);
  const s = ss!;
  const pcb = s.tcpPcb!;
  expect(pcb.rcvWnd).toBe(0); // nothing taken: the whole window is in use
  expect(s.bytesRead).toBe(0);
  expect(s.pendingReceiveBytes).toBe(t.server.tcp.config.rcvWnd);
  const got = collect(s);
  c.end();
  const all = await t.run(got);
  expect(all.length).toBe(big.length);
  expect(s.bytesRead).toBe(big.length);
  expect(c.bytesWritten).toBe(big.length);
  expect([s.remoteAddress, s.localAddress, s.localPort]).toEqual(['10.0.0.1', '10.0.0.2', 9000]);
  await t.until(() => s.destroyed && c.destroyed);
  srv.close();
  await t.finish();
});

test('Duplex.toWeb(socket): web streams over a tsip socket, as docs/net.md shows', async () => {
  const { Duplex } = await import('node:stream');
  const t = netPair();
  const srv = t.server.net.createServer((s) => s.pipe(s));
  srv.listen(7);
  const sock = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 7 }));
  const { readable, writable } = Duplex.toWeb(sock);
  const w = writable.getWriter();
  await t.run(w.write(new TextEncoder().encode('hello web')));
  await t.run(w.close());
  const chunks: Uint8Array[] = [];
  const reader = readable.getReader();
  const readAll = (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      chunks.push(r.value as Uint8Array);
    }
  })();
  await t.run(readAll);
  expect(Buffer.concat(chunks).toString()).toBe('hello web');
  await t.until(() => sock.destroyed);
  srv.close();
  await t.finish();
});

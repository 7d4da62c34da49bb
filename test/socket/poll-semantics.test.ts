// select.poll with MicroPython's semantics (extmod/moduselect.c): POLLHUP
// and POLLERR are reported on every poll while they hold, and poll never
// unregisters a socket by itself. MicroPython's tcp_client_rst pattern
// (poll, recv, poll, recv, ...) sees the socket ready every time, at once;
// with the old auto-unregister the second poll waited out its timeout and
// returned [].
import { expect, test } from 'vitest';
import { POLLERR, POLLHUP, POLLIN } from '../../src/socket/constants.ts';
import { errno, OSError } from '../../src/socket/errors.ts';
import type { SockAddr } from '../../src/socket/socket.ts';
import { dec, enc, sockPair } from '../support/sockets.ts';

const SERVER: SockAddr = ['10.0.0.2', 8000];

test('tcp_client_rst: the server resets; the client polls before each recv and sees IN|HUP|ERR each time (at once), recv gives the data, then ECONNRESET', async () => {
  const pair = sockPair();
  const ls = pair.server.socket();
  ls.bind(['0.0.0.0', 8000]);
  ls.listen(2);
  const bc = pair.client.socket();
  await pair.run(bc.connect(SERVER));
  const [s] = await pair.run(ls.accept());
  await pair.run(s.sendall(enc('abc')));
  await pair.advance(50);
  pair.server.sockets.raw.tcpAbort(s.tcpPcb!); // the server resets the connection
  await pair.advance(50);
  const c = bc.setblocking(false);
  const poller = pair.client.poll();
  poller.register(c, POLLIN);
  const t0 = pair.sim.clock.now();
  const polls: number[][] = [];
  const recvs: unknown[] = [];
  const recv = (n: number): unknown => {
    try {
      return dec(c.recv(n));
    } catch (e) {
      if (e instanceof OSError) return e.errno;
      throw e;
    }
  };
  for (const n of [2, 2, 2, 2]) {
    polls.push((await pair.run(poller.poll(1000))).map(([, ev]) => ev));
    recvs.push(recv(n));
  }
  polls.push((await pair.run(poller.poll(1000))).map(([, ev]) => ev));
  expect(polls).toEqual([[POLLIN | POLLHUP | POLLERR], [POLLIN | POLLHUP | POLLERR], [POLLIN | POLLHUP | POLLERR], [POLLIN | POLLHUP], [POLLIN | POLLHUP]]);
  expect(recvs).toEqual(['ab', 'c', errno.ECONNRESET, '']);
  // No poll waited out its timeout, and the socket is still registered.
  expect(pair.sim.clock.now()).toBe(t0);
  expect(poller.size).toBe(1);
  c.close();
  s.close();
  ls.close();
  await pair.finish();
});

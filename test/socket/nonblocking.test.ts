// Non-blocking sockets (setblocking(false) / settimeout(0)): calls return or
// raise synchronously. recv/send/accept raise EAGAIN; the "exact" methods
// read/readinto/readline/write return what is possible or null (seed 000);
// sendall raises EAGAIN and sends nothing when the data does not fit
// (modlwip); connect raises EINPROGRESS and reports its outcome through poll
// and SO_ERROR (seed 004: writable on success, readable and writable on
// failure). Re-creates MicroPython's tests/net_hosted accept_nonblock.py,
// connect_nonblock.py and connect_timeout.py on two simulated stacks.
import { describe, expect, test } from 'vitest';
import { MP_STREAM_POLL, POLLERR, POLLHUP, POLLIN, POLLOUT, SO_ERROR, SOL_SOCKET } from '../../src/socket/constants.ts';
import { errno, OSError } from '../../src/socket/errors.ts';
import { type NonBlockingSocket, type SockAddr, SockState } from '../../src/socket/socket.ts';
import { dec, enc, sockPair, type SockPair, syncErrno, now, sha, pattern, done } from '../support/sockets.ts';

const PORT = 8000;
const SERVER: SockAddr = ['10.0.0.2', PORT];
const ALL = POLLIN | POLLOUT;

/** A listener, a connected client and the accepted socket, all non-blocking. */
async function connected(pair: SockPair): Promise<{ ls: NonBlockingSocket; c: NonBlockingSocket; s: NonBlockingSocket }> {
  const ls = pair.server.socket();
  ls.bind(['0.0.0.0', PORT]);
  ls.listen(2);
  const nls = ls.setblocking(false);
  const c = pair.client.socket().setblocking(false);
  expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EINPROGRESS);
  await pair.advance(20);
  expect(c.state).toBe(SockState.CONNECTED);
  const [s] = now(nls.accept()); // inherits the listener's timeout: non-blocking
  expect(s.gettimeout()).toBe(0);
  return { ls: nls, c, s };
}

describe('accept', () => {
  test('non-blocking accept with nothing waiting → EAGAIN (accept_nonblock.py)', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    const nls = ls.setblocking(false);
    nls.listen(1);
    let err: unknown = null;
    try {
      nls.accept();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OSError);
    expect((err as OSError).errno).toBe(errno.EAGAIN);
    expect((err as OSError).args[0]).toBe(11);
    // settimeout(0) is the same.
    const zero = ls.setblocking(true).settimeout(0);
    expect(syncErrno(() => zero.accept())).toBe(errno.EAGAIN);
    await done(pair, ls);
  });

  test('a waiting connection is accepted at once with its address; the next accept → EAGAIN', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    expect(s.state).toBe(SockState.CONNECTED);
    expect(s.getpeername()).toEqual(c.getsockname());
    expect(syncErrno(() => ls.accept())).toBe(errno.EAGAIN);
    await done(pair, c, s, ls);
  });

  test('data and FIN sent before accept() are there right after it, in order', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen(1);
    const nls = ls.setblocking(false);
    const c = pair.client.socket();
    await pair.run(c.connect(SERVER));
    await pair.run(c.sendall(enc('early data')));
    c.close();
    await pair.advance(500);
    expect(nls.acceptPending).toBe(1);
    const [s] = now(nls.accept());
    // The data waited in the engine (refused until accept) and is there at once.
    expect(dec(now(s.recv(100)))).toBe('early data');
    // The FIN came behind refused data and was dropped (lwIP): the peer's
    // retransmission brings it, and then recv says EOF.
    const bs = s.setblocking(true);
    expect(dec(await pair.run(bs.recv(100), 5000))).toBe('');
    expect(s.state).toBe(SockState.PEER_CLOSED);
    await done(pair, s, ls);
  });
});

describe('connect', () => {
  test('non-blocking connect → EINPROGRESS (connect_nonblock.py), then EALREADY, then EISCONN once connected', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket().setblocking(false);
    let err: unknown = null;
    try {
      c.connect(SERVER);
    } catch (e) {
      err = e;
    }
    expect((err as OSError).args[0]).toBe(115);
    expect(c.state).toBe(SockState.CONNECTING);
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(0);
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EALREADY);
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EALREADY);
    await pair.advance(9);
    expect(c.state).toBe(SockState.CONNECTING);
    await pair.advance(1);
    expect(c.state).toBe(SockState.CONNECTED);
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLOUT);
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0);
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EISCONN);
    expect(c.getpeername()).toEqual(['10.0.0.2', PORT]);
    const [s] = await pair.run(ls.accept());
    await done(pair, c, s, ls);
  });

  test('settimeout(0) connect → EINPROGRESS (connect_timeout.py, first case)', async () => {
    const pair = sockPair({ ab: { loss: 1 } });
    const c = pair.client.socket().settimeout(0);
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EINPROGRESS);
    c.close(); // closing while connecting: the SYN retries stop
    await pair.advance(1);
    expect(pair.client.tcp.pcbCount).toBe(0);
    await done(pair);
  });

  test('non-blocking connect refused (no listener): readable and writable with ERR; SO_ERROR = ECONNREFUSED once', async () => {
    const pair = sockPair();
    const c = pair.client.socket().setblocking(false);
    expect(syncErrno(() => c.connect(['10.0.0.2', 9999]))).toBe(errno.EINPROGRESS);
    await pair.advance(10);
    expect(c.state).toBe(SockState.ERROR);
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLIN | POLLOUT | POLLHUP | POLLERR);
    expect(c.ioctl(MP_STREAM_POLL, 0)).toBe(POLLHUP | POLLERR);
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(errno.ECONNREFUSED);
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0); // cleared by reading it
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLIN | POLLOUT | POLLHUP);
    // The error was reported: reads see EOF, writes fail.
    expect(dec(now(c.recv(10)))).toBe('');
    expect(syncErrno(() => c.send(enc('x')))).toBe(errno.ENOTCONN);
    await done(pair, c);
  });

  test('a refused non-blocking connect reports the error through recv if SO_ERROR was not read', async () => {
    const pair = sockPair();
    const c = pair.client.socket().setblocking(false);
    expect(syncErrno(() => c.connect(['10.0.0.2', 9999]))).toBe(errno.EINPROGRESS);
    await pair.advance(10);
    expect(syncErrno(() => c.recv(10))).toBe(errno.ECONNREFUSED);
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0);
    expect(c.ioctl(MP_STREAM_POLL, ALL) & POLLERR).toBe(0);
    await done(pair, c);
  });

  test('non-blocking connect to a silent peer: nothing for ~127 s, then SO_ERROR = ETIMEDOUT (connect polls readable and writable)', async () => {
    const pair = sockPair({ ab: { loss: 1 } });
    const c = pair.client.socket().setblocking(false);
    const t0 = pair.sim.clock.now();
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EINPROGRESS);
    await pair.advance(100_000);
    expect(c.state).toBe(SockState.CONNECTING);
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(0);
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0);
    const poller = pair.client.poll();
    poller.register(c);
    const res = await pair.run(poller.poll(-1));
    const took = pair.sim.clock.now() - t0;
    expect(took).toBeGreaterThanOrEqual(120_000);
    expect(took).toBeLessThanOrEqual(135_000);
    expect(res).toEqual([[c, POLLIN | POLLOUT | POLLHUP | POLLERR]]);
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(errno.ETIMEDOUT);
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0);
    await done(pair, c);
  });

  test('recv/read on a connecting socket: EAGAIN / null; send while connecting: EAGAIN, as poll says it is not writable', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket().setblocking(false);
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EINPROGRESS);
    expect(syncErrno(() => c.recv(1))).toBe(errno.EAGAIN);
    expect(now(c.read(1))).toBeNull();
    expect(now(c.readline())).toBeNull();
    expect(c.ioctl(MP_STREAM_POLL, POLLOUT)).toBe(0);
    expect(syncErrno(() => c.send(enc('x')))).toBe(errno.EAGAIN);
    expect(now(c.write(enc('x')))).toBeNull();
    expect(syncErrno(() => c.sendall(enc('x')))).toBe(errno.EAGAIN);
    await pair.advance(10);
    expect(now(c.send(enc('x')))).toBe(1);
    const [s] = await pair.run(ls.accept());
    expect(dec(await pair.run(s.recv(10)))).toBe('x');
    await done(pair, c, s, ls);
  });

  test('a blocking send issued while connecting waits for the connection', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket().setblocking(false);
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EINPROGRESS);
    const bc = c.setblocking(true);
    const t0 = pair.sim.clock.now();
    expect(await pair.run(bc.send(enc('hi')))).toBe(2);
    expect(pair.sim.clock.now() - t0).toBe(10);
    const [s] = await pair.run(ls.accept());
    expect(dec(await pair.run(s.recv(10)))).toBe('hi');
    await done(pair, c, s, ls);
  });
});

describe('reading', () => {
  test('recv: EAGAIN when nothing is there, what is there otherwise (short), b"" at EOF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    expect(syncErrno(() => s.recv(10))).toBe(errno.EAGAIN);
    now(c.send(enc('hello world')));
    await pair.advance(5);
    expect(dec(now(s.recv(5)))).toBe('hello');
    expect(dec(now(s.recv(100)))).toBe(' world');
    expect(syncErrno(() => s.recv(10))).toBe(errno.EAGAIN);
    c.close();
    await pair.advance(10);
    expect(dec(now(s.recv(10)))).toBe('');
    expect(dec(now(s.recv(10)))).toBe('');
    await done(pair, s, ls);
  });

  test('read/readinto: null when nothing is there, what is there (up to n) otherwise, b""/0 at EOF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    expect(now(s.read(10))).toBeNull();
    expect(now(s.read())).toBeNull();
    expect(now(s.readinto(new Uint8Array(4)))).toBeNull();
    now(c.send(enc('abcdefgh')));
    await pair.advance(5);
    expect(dec(now(s.read(3)))).toBe('abc');
    const buf = new Uint8Array(4);
    expect(now(s.readinto(buf))).toBe(4);
    expect(dec(buf)).toBe('defg');
    expect(dec(now(s.read()))).toBe('h'); // read(): all there is, not to EOF
    expect(now(s.read())).toBeNull();
    await pair.advance(100); // the ACK, so that Nagle lets the next small piece go
    now(c.send(enc('xy')));
    await pair.advance(5);
    expect(now(s.readinto(buf, 10))).toBe(2);
    expect(dec(buf)).toBe('xyfg');
    c.close();
    await pair.advance(10);
    expect(dec(now(s.read(10)))).toBe('');
    expect(dec(now(s.read()))).toBe('');
    expect(now(s.readinto(buf))).toBe(0);
    await done(pair, s, ls);
  });

  test('readline: a whole line if there is one, else the partial line, null if nothing, b"" at EOF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    expect(now(s.readline())).toBeNull();
    now(c.send(enc('one\ntwo\nthr')));
    await pair.advance(5);
    expect(dec(now(s.readline()))).toBe('one\n');
    expect(dec(now(s.readline()))).toBe('two\n');
    expect(dec(now(s.readline()))).toBe('thr');
    expect(now(s.readline())).toBeNull();
    await pair.advance(100);
    now(c.send(enc('ee\n')));
    await pair.advance(5);
    expect(dec(now(s.readline()))).toBe('ee\n');
    c.close();
    await pair.advance(10);
    expect(dec(now(s.readline()))).toBe('');
    await done(pair, s, ls);
  });

  test('after a peer RST: the data, then the error (recv raises, read raises rather than returning null), then EOF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    now(s.send(enc('last words')));
    await pair.advance(10);
    pair.server.tcp.abort(s.tcpPcb!);
    await pair.advance(10);
    expect(c.state).toBe(SockState.ERROR);
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLIN | POLLOUT | POLLHUP | POLLERR);
    expect(dec(now(c.read(4)))).toBe('last');
    expect(dec(now(c.recv(100)))).toBe(' words');
    expect(syncErrno(() => c.read(4))).toBe(errno.ECONNRESET);
    expect(dec(now(c.read(4)))).toBe('');
    expect(dec(now(c.recv(4)))).toBe('');
    expect(syncErrno(() => c.write(enc('x')))).toBe(errno.ENOTCONN);
    await done(pair, c, s, ls);
  });

  test('pending data is kept when the peer closes: recv drains it, then EOF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    now(c.send(enc('tail')));
    c.close();
    await pair.advance(20);
    expect(s.state).toBe(SockState.PEER_CLOSED);
    expect(s.ioctl(MP_STREAM_POLL, POLLIN)).toBe(POLLIN);
    expect(dec(now(s.recv(2)))).toBe('ta');
    expect(dec(now(s.recv(2)))).toBe('il');
    expect(dec(now(s.recv(2)))).toBe('');
    await done(pair, s, ls);
  });
});

describe('writing', () => {
  const small = { client: { tcp: { sndBuf: 8192 } }, server: { tcp: { rcvWnd: 4096 } } };

  test('send: what fits (short), EAGAIN when the buffer is full; write: the count, null when full', async () => {
    const pair = sockPair(small);
    const { ls, c, s } = await connected(pair);
    const data = pattern(20_000);
    expect(now(c.send(data))).toBe(8192);
    expect(syncErrno(() => c.send(data))).toBe(errno.EAGAIN);
    expect(now(c.write(data))).toBeNull();
    expect(c.ioctl(MP_STREAM_POLL, POLLOUT)).toBe(0);
    // What the peer's window took is acknowledged: that much room.
    await pair.advance(100);
    expect(c.ioctl(MP_STREAM_POLL, POLLOUT)).toBe(POLLOUT);
    const room = pair.client.sockets.raw.tcpSndbuf(c.tcpPcb!);
    expect(room).toBeGreaterThan(0);
    expect(now(c.write(data.subarray(8192)))).toBe(room);
    expect(now(c.write(data))).toBeNull();
    // Drain at the server (non-blocking reads as data arrives).
    const got: Uint8Array[] = [];
    let total = 0;
    while (total < 8192 + room) {
      await pair.advance(10);
      const b = now(s.read(100_000));
      if (b !== null) {
        got.push(b);
        total += b.length;
      }
    }
    const all = Buffer.concat(got);
    expect(sha(all)).toBe(sha(data.subarray(0, 8192 + room)));
    await done(pair, c, s, ls);
  });

  test('sendall: everything if it fits; EAGAIN and nothing sent if it does not', async () => {
    const pair = sockPair(small);
    const { ls, c, s } = await connected(pair);
    const raw = pair.client.sockets.raw;
    expect(now(c.sendall(pattern(5000)))).toBeUndefined();
    expect(raw.tcpSndbuf(c.tcpPcb!)).toBe(8192 - 5000);
    expect(syncErrno(() => c.sendall(pattern(5000, 9)))).toBe(errno.EAGAIN);
    expect(raw.tcpSndbuf(c.tcpPcb!)).toBe(8192 - 5000); // nothing taken
    expect(now(c.sendall(pattern(3192, 11)))).toBeUndefined();
    expect(raw.tcpSndbuf(c.tcpPcb!)).toBe(0);
    expect(syncErrno(() => c.sendall(enc('x')))).toBe(errno.EAGAIN);
    // The peer gets exactly the two accepted pieces.
    c.close();
    const got = await pair.run(s.setblocking(true).read());
    expect(sha(got)).toBe(sha(Buffer.concat([pattern(5000), pattern(3192, 11)])));
    await done(pair, s, ls);
  });

  test('sendall takes all or nothing even when the send queue (sndQueueLen) runs out before the buffer', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 8192, sndQueueLen: 4 } } });
    const { ls, c, s } = await connected(pair);
    const raw = pair.client.sockets.raw;
    // 8000 bytes fit the buffer but need 6 segments: the queue takes 4.
    expect(syncErrno(() => c.sendall(pattern(8000)))).toBe(errno.EAGAIN);
    expect(c.tcpPcb!.sndBuf).toBe(8192); // nothing was taken
    // tcp_sndbuf says what the queue can still carry: 4 segments' worth, not the 8192 of buffer.
    expect(raw.tcpSndbuf(c.tcpPcb!)).toBe(4 * 1448); // MSS 1460 less the 12 bytes of timestamps
    expect(raw.tcpSndqueuelen(c.tcpPcb!)).toBe(0);
    expect(now(c.sendall(pattern(4000)))).toBeUndefined();
    c.close();
    const got = await pair.run(s.setblocking(true).read());
    expect(sha(got)).toBe(sha(pattern(4000)));
    await done(pair, s, ls);
  });

  test('a poll-driven non-blocking transfer both ways delivers every byte (sha256)', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 16_384 } }, server: { tcp: { sndBuf: 16_384, rcvWnd: 8192 } }, link: { latencyMs: 3, loss: 0.02 }, seed: 11 });
    const { ls, c, s } = await connected(pair);
    const up = pattern(200_000, 1);
    const down = pattern(150_000, 2);
    // One select-style loop per side: a poller, non-blocking read/write, until
    // everything is sent and the expected amount has arrived.
    const upLen = up.length;
    const downLen = down.length;
    const reader = async (sock: NonBlockingSocket, out: Uint8Array, stackName: 'client' | 'server', want: number): Promise<Uint8Array> => {
      const poller = pair[stackName].poll();
      poller.register(sock, POLLIN | POLLOUT);
      const got: Uint8Array[] = [];
      let have = 0;
      let off = 0;
      while (have < want || off < out.length) {
        const ready = await poller.poll(-1);
        for (const [, flags] of ready) {
          expect(flags & (POLLERR | POLLHUP)).toBe(0);
          if (flags & POLLIN) {
            const b = now(sock.read(4096));
            if (b !== null) {
              got.push(b);
              have += b.length;
            }
          }
          if (flags & POLLOUT && off < out.length) {
            const n = now(sock.write(out.subarray(off, off + 3000)));
            if (n !== null) off += n;
          }
        }
        poller.modify(sock, (have < want ? POLLIN : 0) | (off < out.length ? POLLOUT : 0));
      }
      return Buffer.concat(got);
    };
    const [atServer, atClient] = await pair.run(Promise.all([reader(s, down, 'server', upLen), reader(c, up, 'client', downLen)]));
    expect(atServer.length).toBe(up.length);
    expect(sha(atServer)).toBe(sha(up));
    expect(sha(atClient)).toBe(sha(down));
    await done(pair, c, s, ls);
  });

  test('setblocking can switch in the middle: a non-blocking EAGAIN, then a blocking recv that waits', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    expect(syncErrno(() => s.recv(10))).toBe(errno.EAGAIN);
    const p = s.setblocking(true).recv(10);
    expect(p).toBeInstanceOf(Promise);
    now(c.send(enc('ok')));
    expect(dec(await pair.run(p))).toBe('ok');
    await done(pair, c, s, ls);
  });
});

// Socket API semantics (MicroPython modlwip, src/socket/socket.ts): errno
// mapping and the OSError shape, bind/listen/accept/connect rules, "once"
// vs "exact" reads and writes in blocking mode, timeouts in virtual time,
// resets, and the socket options. Every test runs two simulated stacks
// (client 10.0.0.1, server 10.0.0.2, 5 ms one way) and ends with no PCB,
// no socket and no pbuf left on either side.
import { describe, expect, test } from 'vitest';
import {
  AF_INET,
  IPPROTO_TCP,
  MP_STREAM_POLL,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  SO_CALLBACK,
  SO_ERROR,
  SO_KEEPALIVE,
  TCP_USER_TIMEOUT,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from '../../src/socket/constants.ts';
import { errno, errnoName, EWOULDBLOCK, isOSError, OSError } from '../../src/socket/errors.ts';
import { getaddrinfo, type SockAddr, type BlockingSocket, type Socket, SockState } from '../../src/socket/socket.ts';
import { PcbFlag, SockOpt, TcpState } from '../../src/pcb/state.ts';
import type { StackOptions } from '../../src/stack/stack.ts';
import { dec, enc, sockPair, type SockPair, errnoOf, syncErrno, sha, pattern, done } from '../support/sockets.ts';

const PORT = 8000;
const SERVER: SockAddr = ['10.0.0.2', PORT];


/** A listener on the server, a client connected to it, and the accepted socket. */
async function connected(pair: SockPair, port = PORT): Promise<{ ls: BlockingSocket; c: BlockingSocket; s: BlockingSocket }> {
  const ls = pair.server.socket();
  ls.bind(['0.0.0.0', port]);
  ls.listen(2);
  const c = pair.client.socket();
  await pair.run(c.connect(['10.0.0.2', port]));
  const [s] = await pair.run(ls.accept());
  return { ls, c, s };
}

/** Record the virtual time at which `p` settles. */
function track<T>(pair: SockPair, p: Promise<T>): { at: number | null; value?: T; error?: unknown; p: Promise<T> } {
  const t: { at: number | null; value?: T; error?: unknown; p: Promise<T> } = { at: null, p };
  p.then(
    (v) => {
      t.at = pair.sim.clock.now();
      t.value = v;
    },
    (e: unknown) => {
      t.at = pair.sim.clock.now();
      t.error = e;
    },
  );
  return t;
}

describe('OSError and errno', () => {
  test('OSError has .errno, .args[0] and the message "[Errno N] NAME"', () => {
    const e = new OSError(errno.ECONNRESET);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('OSError');
    expect(e.errno).toBe(104);
    expect(e.args[0]).toBe(104);
    expect(e.args).toHaveLength(1);
    expect(e.message).toBe('[Errno 104] ECONNRESET');
    expect(e.code).toBe('ECONNRESET');
    expect(new OSError(errno.EINVAL, 'why').message).toBe('[Errno 22] EINVAL: why');
    expect(isOSError(e)).toBe(true);
    expect(isOSError(e, errno.ECONNRESET)).toBe(true);
    expect(isOSError(e, errno.EAGAIN)).toBe(false);
    expect(isOSError(new Error('x'))).toBe(false);
  });

  test('errno values are the Linux/MicroPython numbers', () => {
    expect(errno).toMatchObject({
      EPERM: 1,
      ENOENT: 2,
      EBADF: 9,
      EAGAIN: 11,
      ENOMEM: 12,
      EINVAL: 22,
      EOPNOTSUPP: 95,
      EADDRINUSE: 98,
      EADDRNOTAVAIL: 99,
      ECONNABORTED: 103,
      ECONNRESET: 104,
      ENOBUFS: 105,
      EISCONN: 106,
      ENOTCONN: 107,
      ETIMEDOUT: 110,
      ECONNREFUSED: 111,
      EHOSTUNREACH: 113,
      EALREADY: 114,
      EINPROGRESS: 115,
    });
    expect(EWOULDBLOCK).toBe(errno.EAGAIN);
    expect(errnoName(errno.EINPROGRESS)).toBe('EINPROGRESS');
    expect(errnoName(4242)).toBe('E4242');
  });

  test('raised errors are OSError instances with the documented shape', async () => {
    const pair = sockPair();
    const s = pair.client.socket();
    let caught: unknown = null;
    try {
      s.getpeername();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(OSError);
    const e = caught as OSError;
    expect(e.errno).toBe(errno.ENOTCONN);
    expect(e.args[0]).toBe(errno.ENOTCONN);
    expect(e.message).toBe('[Errno 107] ENOTCONN');
    await done(pair, s);
  });
});

describe('socket(), getaddrinfo, PCB limit', () => {
  test('socket() takes AF_INET (and AF_INET6: test/socket/dual-ipv6.test.ts) with SOCK_STREAM/SOCK_DGRAM only', async () => {
    const pair = sockPair();
    const s = pair.client.socket(AF_INET, SOCK_STREAM);
    expect(s.state).toBe(SockState.NEW);
    expect(s.stateName).toBe('NEW');
    expect(s.gettimeout()).toBeNull();
    // 10 is AF_INET6 now (issue 14); AF_UNIX (1) is still refused.
    expect(syncErrno(() => pair.client.socket(1, SOCK_STREAM))).toBe(errno.EAFNOSUPPORT);
    // SOCK_DGRAM is UDP now (test/udp); other types are still refused.
    expect(syncErrno(() => pair.client.socket(AF_INET, 3 /* SOCK_RAW */))).toBe(errno.EOPNOTSUPP);
    expect(pair.client.sockets.open).toBe(1);
    expect(pair.client.tcp.pcbCount).toBe(1);
    await done(pair, s);
  });

  test('getaddrinfo gives [(AF_INET, SOCK_STREAM, IPPROTO_TCP, "", (host, port))] for IPv4 literals', () => {
    expect(getaddrinfo('10.0.0.2', 80)).toEqual([[AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['10.0.0.2', 80]]]);
    expect(getaddrinfo('localhost', 8080)[0]![4]).toEqual(['127.0.0.1', 8080]);
    expect(getaddrinfo('0.0.0.0', 1)[0]![4]).toEqual(['0.0.0.0', 1]);
    expect(syncErrno(() => getaddrinfo('micropython.org', 80))).toBe(errno.EINVAL);
    expect(syncErrno(() => getaddrinfo('10.0.0.2', 70000))).toBe(errno.EINVAL);
    expect(syncErrno(() => getaddrinfo('10.0.0.2', -1))).toBe(errno.EINVAL);
  });

  test('the address from getaddrinfo connects', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(getaddrinfo('0.0.0.0', PORT)[0]![4]);
    ls.listen();
    const c = pair.client.socket();
    await pair.run(c.connect(getaddrinfo('10.0.0.2', PORT)[0]![4]));
    expect(c.state).toBe(SockState.CONNECTED);
    const [s] = await pair.run(ls.accept());
    await done(pair, c, s, ls);
  });

  test('ENOMEM at the PCB limit (tcp.maxPcbs); a PCB freed by close() can be used again', async () => {
    const pair = sockPair({ client: { tcp: { maxPcbs: 2 } } });
    const a = pair.client.socket();
    const b = pair.client.socket();
    let err: unknown = null;
    try {
      pair.client.socket();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OSError);
    expect((err as OSError).errno).toBe(errno.ENOMEM);
    expect((err as OSError).message).toBe('[Errno 12] ENOMEM');
    expect(pair.client.sockets.open).toBe(2);
    expect(pair.client.sockets.counters.created).toBe(2);
    a.close();
    const c = pair.client.socket();
    expect(c.state).toBe(SockState.NEW);
    await done(pair, b, c);
  });

  test('no PCB left for an incoming connection: the SYN is dropped (lwIP), the client retries and its connect times out', async () => {
    // The listener itself takes the only PCB.
    const pair = sockPair({ server: { tcp: { maxPcbs: 1 } } });
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    expect(syncErrno(() => pair.server.socket())).toBe(errno.ENOMEM);
    const c = pair.client.socket();
    c.settimeout(5);
    const t0 = pair.sim.clock.now();
    const drops = pair.server.tcp.stats.drop;
    expect(await errnoOf(pair, () => c.connect(SERVER))).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t0).toBe(5000);
    expect(pair.server.tcp.stats.drop - drops).toBeGreaterThanOrEqual(3); // the SYN and its retransmissions at 1 s and 3 s
    expect(ls.acceptPending).toBe(0);
    await done(pair, c, ls);
  });
});

describe('bind and listen', () => {
  test('duplicate bind → EADDRINUSE without SO_REUSEADDR, and with it on only one socket', async () => {
    const pair = sockPair();
    const a = pair.server.socket();
    a.bind(['0.0.0.0', PORT]);
    const b = pair.server.socket();
    expect(syncErrno(() => b.bind(['0.0.0.0', PORT]))).toBe(errno.EADDRINUSE);
    expect(syncErrno(() => b.bind(['10.0.0.2', PORT]))).toBe(errno.EADDRINUSE);
    b.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    expect(syncErrno(() => b.bind(['0.0.0.0', PORT]))).toBe(errno.EADDRINUSE);
    // A failed bind leaves the socket new and usable: another port works.
    b.bind(['0.0.0.0', PORT + 1]);
    expect(b.getsockname()).toEqual(['0.0.0.0', PORT + 1]);
    await done(pair, a, b);
  });

  test('SO_REUSEADDR on both: bind succeeds (lwIP), but a second listener on the port is EADDRINUSE', async () => {
    const pair = sockPair();
    const a = pair.server.socket();
    a.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    expect(a.getsockopt(SOL_SOCKET, SO_REUSEADDR)).toBe(1);
    a.bind(['0.0.0.0', PORT]);
    a.listen();
    const b = pair.server.socket();
    b.setsockopt(SOL_SOCKET, SO_REUSEADDR, true);
    b.bind(['0.0.0.0', PORT]);
    expect(syncErrno(() => b.listen())).toBe(errno.EADDRINUSE);
    // Still usable for something else: after the first listener is gone it can listen.
    a.close();
    const c = pair.server.socket();
    // c has no SO_REUSEADDR: the port is taken by b.
    expect(syncErrno(() => c.bind(['0.0.0.0', PORT]))).toBe(errno.EADDRINUSE);
    await done(pair, b, c);
  });

  test('after a server closes, its port in TIME_WAIT needs SO_REUSEADDR to be bound again', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket();
    await pair.run(c.connect(SERVER));
    const [s] = await pair.run(ls.accept());
    // The server closes first: its side of the connection goes to TIME_WAIT.
    s.close();
    ls.close();
    expect(dec(await pair.run(c.recv(10)))).toBe('');
    c.close();
    await pair.advance(100);
    expect([...pair.server.tcp.connections()].map((p) => p.state)).toEqual([TcpState.TIME_WAIT]);
    const plain = pair.server.socket();
    expect(syncErrno(() => plain.bind(['0.0.0.0', PORT]))).toBe(errno.EADDRINUSE);
    const reuse = pair.server.socket();
    reuse.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    reuse.bind(['0.0.0.0', PORT]);
    reuse.listen();
    expect(reuse.state).toBe(SockState.LISTENING);
    await done(pair, plain, reuse);
  });

  test('bind to an address that is not ours → EADDRNOTAVAIL; bad addresses → EINVAL; bind twice → EINVAL', async () => {
    const pair = sockPair();
    const s = pair.server.socket();
    expect(syncErrno(() => s.bind(['10.0.0.1', PORT]))).toBe(errno.EADDRNOTAVAIL);
    expect(syncErrno(() => s.bind(['10.0.0.2', 65536]))).toBe(errno.EINVAL);
    expect(syncErrno(() => s.bind(['10.0.0.2', 1.5]))).toBe(errno.EINVAL);
    expect(syncErrno(() => s.bind(['example.com', 80]))).toBe(errno.EINVAL);
    expect(syncErrno(() => s.bind(['10.0.0.2'] as unknown as SockAddr))).toBe(errno.EINVAL);
    s.bind(['10.0.0.2', PORT]);
    expect(s.getsockname()).toEqual(['10.0.0.2', PORT]);
    expect(syncErrno(() => s.bind(['10.0.0.2', PORT + 1]))).toBe(errno.EINVAL);
    await done(pair, s);
  });

  test('bind to port 0 picks an ephemeral port; listen() without bind does too', async () => {
    const pair = sockPair();
    const a = pair.server.socket();
    a.bind(['0.0.0.0', 0]);
    const [, pa] = a.getsockname();
    expect(pa).toBeGreaterThanOrEqual(49152);
    const b = pair.server.socket();
    b.listen();
    const [, pb] = b.getsockname();
    expect(pb).toBeGreaterThanOrEqual(49152);
    expect(pb).not.toBe(pa);
    await done(pair, a, b);
  });

  test('listen twice, listen on a connected socket, connect on a listener → EINVAL', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    expect(syncErrno(() => ls.listen())).toBe(errno.EINVAL);
    expect(syncErrno(() => c.listen())).toBe(errno.EINVAL);
    expect(syncErrno(() => c.bind(['0.0.0.0', 9000]))).toBe(errno.EINVAL);
    expect(syncErrno(() => ls.connect(SERVER))).toBe(errno.EINVAL);
    await done(pair, c, s, ls);
  });

  test('listen(backlog): connections beyond the backlog wait (their SYNs are dropped) until accept() makes room', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen(1);
    const c1 = pair.client.socket();
    const c2 = pair.client.socket();
    const t1 = track(pair, c1.connect(SERVER));
    await pair.advance(100);
    expect(t1.at).toBe(10);
    // c1 waits for accept() and fills the backlog: c2's SYNs are dropped.
    // (Had c2's SYN come while c1 was still half-open, it would have had a
    // SYN cookie instead: half-open connections beyond the backlog get
    // cookies, only completed ones waiting for accept() hold it.)
    const t2 = track(pair, c2.connect(SERVER));
    await pair.advance(400);
    expect(t2.at).toBeNull();
    expect(ls.acceptPending).toBe(1);
    const [s1] = await pair.run(ls.accept());
    await pair.run(t2.p);
    expect(t2.at).toBeGreaterThan(1000); // after a SYN retransmission
    const [s2, a2] = await pair.run(ls.accept());
    expect(a2).toEqual(c2.getsockname());
    expect(pair.server.sockets.counters.accepted).toBe(2);
    await done(pair, c1, c2, s1, s2, ls);
  });
});

describe('names and connect', () => {
  test('getsockname/getpeername on both ends; accept gives the client address', async () => {
    const pair = sockPair();
    const fresh = pair.client.socket();
    expect(fresh.getsockname()).toEqual(['0.0.0.0', 0]);
    expect(syncErrno(() => fresh.getpeername())).toBe(errno.ENOTCONN);
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    expect(syncErrno(() => ls.getpeername())).toBe(errno.ENOTCONN);
    expect(ls.getsockname()).toEqual(['0.0.0.0', PORT]);
    const c = pair.client.socket();
    await pair.run(c.connect(SERVER));
    const [s, addr] = await pair.run(ls.accept());
    const [cip, cport] = c.getsockname();
    expect(cip).toBe('10.0.0.1');
    expect(cport).toBeGreaterThanOrEqual(49152);
    expect(addr).toEqual(['10.0.0.1', cport]);
    expect(c.getpeername()).toEqual(['10.0.0.2', PORT]);
    expect(s.getsockname()).toEqual(['10.0.0.2', PORT]);
    expect(s.getpeername()).toEqual(['10.0.0.1', cport]);
    expect(s.state).toBe(SockState.CONNECTED);
    expect(String(s)).toBe(`<socket CONNECTED 10.0.0.1:${cport}>`);
    await done(pair, fresh, c, s, ls);
  });

  test('blocking connect settles after one round trip; connect again → EISCONN', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket();
    const t0 = pair.sim.clock.now();
    const p = c.connect(SERVER);
    expect(p).toBeInstanceOf(Promise);
    expect(c.state).toBe(SockState.CONNECTING);
    await pair.run(p);
    expect(pair.sim.clock.now() - t0).toBe(10);
    expect(c.state).toBe(SockState.CONNECTED);
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EISCONN);
    const [s] = await pair.run(ls.accept());
    await done(pair, c, s, ls);
  });

  test('blocking connect to a port without listener → ECONNREFUSED after one round trip', async () => {
    const pair = sockPair();
    const c = pair.client.socket();
    const t0 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => c.connect(['10.0.0.2', 9999]))).toBe(errno.ECONNREFUSED);
    expect(pair.sim.clock.now() - t0).toBe(10);
    expect(c.state).toBe(SockState.ERROR);
    // The error was reported by the rejection: SO_ERROR is clear, the socket polls IN|OUT|HUP.
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0);
    expect(c.tcpPcb).toBeNull();
    expect(pair.client.tcp.pcbCount).toBe(0);
    await done(pair, c);
  });

  test('blocking connect to a silent peer → ETIMEDOUT when the SYN retries run out (~127 s)', async () => {
    const pair = sockPair({ ab: { loss: 1 } });
    const c = pair.client.socket();
    const t0 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => c.connect(SERVER))).toBe(errno.ETIMEDOUT);
    const took = pair.sim.clock.now() - t0;
    // 1+2+4+8+16+32 s of SYN retransmissions, then 64 s for the last one.
    expect(took).toBeGreaterThanOrEqual(120_000);
    expect(took).toBeLessThanOrEqual(135_000);
    expect(c.state).toBe(SockState.ERROR);
    await done(pair, c);
  });

  test('connect with settimeout(t) → ETIMEDOUT after exactly t s; the attempt is abandoned', async () => {
    const pair = sockPair({ ab: { loss: 1 } });
    const c = pair.client.socket();
    c.settimeout(1);
    const t0 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => c.connect(SERVER))).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t0).toBe(1000);
    expect(c.state).toBe(SockState.ERROR);
    expect(c.tcpPcb).toBeNull();
    expect(pair.client.tcp.pcbCount).toBe(0); // no SYN retries continue behind the application's back
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0); // reported by the rejection
    const sent = pair.client.tcp.counters.outSegs;
    await pair.advance(10_000);
    expect(pair.client.tcp.counters.outSegs).toBe(sent);
    await done(pair, c);
  });

  test('close() during a blocking connect rejects it with EBADF and stops the SYN retries', async () => {
    const pair = sockPair({ ab: { loss: 1 } });
    const c = pair.client.socket();
    const t = track(pair, c.connect(SERVER));
    await pair.advance(2500);
    c.close();
    await pair.run(t.p.catch(() => null));
    expect((t.error as OSError).errno).toBe(errno.EBADF);
    expect(pair.client.tcp.pcbCount).toBe(0);
    await done(pair);
  });

  test('connect with a timeout that is long enough succeeds normally', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket();
    c.settimeout(1);
    await pair.run(c.connect(SERVER));
    expect(c.state).toBe(SockState.CONNECTED);
    // A later timeout must not fire into the established connection.
    await pair.advance(2000);
    expect(c.state).toBe(SockState.CONNECTED);
    const [s] = await pair.run(ls.accept());
    await done(pair, c, s, ls);
  });

  test('connect to a bad address → EINVAL; to an unroutable one → EHOSTUNREACH', async () => {
    const pair = sockPair();
    const c = pair.client.socket();
    expect(await errnoOf(pair, () => c.connect(['nowhere', 80]))).toBe(errno.EINVAL);
    expect(await errnoOf(pair, () => c.connect(['10.0.0.2', 0]))).toBe(errno.EINVAL);
    expect(c.state).toBe(SockState.NEW);
    // No route (the only netif is down): the engine says ERR_RTE at once.
    pair.sim.links[0]!.aNetif.up = false;
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EHOSTUNREACH);
    expect(c.state).toBe(SockState.NEW);
    pair.sim.links[0]!.aNetif.up = true;
    await done(pair, c);
  });
});

describe('state errors', () => {
  test('recv/read/send/write on a new socket → ENOTCONN; recv on a listener → ENOTCONN; accept on a non-listener → EINVAL', async () => {
    const pair = sockPair();
    const s = pair.client.socket();
    expect(await errnoOf(pair, () => s.recv(10))).toBe(errno.ENOTCONN);
    expect(await errnoOf(pair, () => s.read(10))).toBe(errno.ENOTCONN);
    expect(await errnoOf(pair, () => s.readline())).toBe(errno.ENOTCONN);
    expect(await errnoOf(pair, () => s.send(enc('x')))).toBe(errno.ENOTCONN);
    expect(await errnoOf(pair, () => s.write(enc('x')))).toBe(errno.ENOTCONN);
    expect(await errnoOf(pair, () => s.sendall(enc('x')))).toBe(errno.ENOTCONN);
    expect(await errnoOf(pair, () => s.accept())).toBe(errno.EINVAL);
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    expect(await errnoOf(pair, () => ls.recv(10))).toBe(errno.ENOTCONN);
    expect(await errnoOf(pair, () => ls.send(enc('x')))).toBe(errno.ENOTCONN);
    const nls = ls.setblocking(false);
    expect(syncErrno(() => nls.recv(10))).toBe(errno.ENOTCONN);
    expect(syncErrno(() => nls.read(10))).toBe(errno.ENOTCONN);
    expect(syncErrno(() => nls.write(enc('x')))).toBe(errno.ENOTCONN);
    expect(syncErrno(() => nls.sendall(enc('x')))).toBe(errno.ENOTCONN);
    await done(pair, s, ls);
  });

  test('after close() every method raises EBADF (blocking and non-blocking) and ioctl polls NVAL', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const fresh = pair.client.socket();
    for (const sock of [c, ls, fresh]) {
      sock.close();
      sock.close(); // closing twice is harmless
      expect(sock.state).toBe(SockState.CLOSED);
      for (const blocking of [true, false]) {
        sock.setblocking(blocking); // either mode: the calls below are checked at run time (errnoOf / syncErrno)
        const calls: [string, () => unknown][] = [
          ['recv', () => sock.recv(1)],
          ['read', () => sock.read(1)],
          ['read()', () => sock.read()],
          ['readinto', () => sock.readinto(new Uint8Array(4))],
          ['readline', () => sock.readline()],
          ['send', () => sock.send(enc('x'))],
          ['write', () => sock.write(enc('x'))],
          ['sendall', () => sock.sendall(enc('x'))],
          ['accept', () => sock.accept()],
          ['connect', () => sock.connect(SERVER)],
          ['bind', () => sock.bind(['0.0.0.0', 9001])],
          ['listen', () => sock.listen()],
          ['setsockopt', () => sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)],
          ['getsockopt', () => sock.getsockopt(SOL_SOCKET, SO_ERROR)],
          ['getsockname', () => sock.getsockname()],
          ['getpeername', () => sock.getpeername()],
        ];
        for (const [name, fn] of calls) {
          const got = blocking ? await errnoOf(pair, fn) : syncErrno(fn);
          expect([name, blocking, got]).toEqual([name, blocking, errno.EBADF]);
        }
      }
      expect(sock.ioctl(MP_STREAM_POLL, POLLIN | POLLOUT)).toBe(POLLNVAL);
      expect(sock.ioctl(MP_STREAM_POLL, 0)).toBe(POLLNVAL);
    }
    expect(pair.client.sockets.counters.closed).toBe(2);
    await done(pair, s);
  });

  test('close() wakes a blocked recv/accept with EBADF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const r = track(pair, s.recv(10));
    const a = track(pair, ls.accept());
    await pair.advance(100);
    expect(r.at).toBeNull();
    expect(a.at).toBeNull();
    const t = pair.sim.clock.now();
    s.close();
    ls.close();
    await pair.advance(1);
    expect(r.at).toBe(t);
    expect(a.at).toBe(t);
    expect((r.error as OSError).errno).toBe(errno.EBADF);
    expect((a.error as OSError).errno).toBe(errno.EBADF);
    await done(pair, c);
  });

  test('ioctl with another request → EINVAL', async () => {
    const pair = sockPair();
    const s = pair.client.socket();
    expect(syncErrno(() => s.ioctl(99, 0))).toBe(errno.EINVAL);
    await done(pair, s);
  });

  test('settimeout/gettimeout/setblocking; a negative or NaN timeout → EINVAL', async () => {
    const pair = sockPair();
    const s = pair.client.socket();
    expect(s.gettimeout()).toBeNull();
    s.settimeout(2.5);
    expect(s.gettimeout()).toBe(2.5);
    s.setblocking(false);
    expect(s.gettimeout()).toBe(0);
    s.setblocking(true);
    expect(s.gettimeout()).toBeNull();
    s.settimeout(0);
    expect(s.gettimeout()).toBe(0);
    s.settimeout(null);
    expect(s.gettimeout()).toBeNull();
    expect(syncErrno(() => s.settimeout(-1))).toBe(errno.EINVAL);
    expect(syncErrno(() => s.settimeout(Number.NaN))).toBe(errno.EINVAL);
    expect(syncErrno(() => s.settimeout(Infinity))).toBe(errno.EINVAL);
    expect(s.gettimeout()).toBeNull();
    await done(pair, s);
  });
});

describe('blocking reads: once and exact', () => {
  test('recv is "once": it returns what has arrived, possibly short, and waits only when nothing has', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const t0 = pair.sim.clock.now();
    const r = track(pair, s.recv(100));
    await pair.advance(50);
    expect(r.at).toBeNull();
    await pair.run(c.send(enc('abc')));
    await pair.run(r.p);
    expect(r.at).toBe(t0 + 55); // arrival of the segment, 5 ms after the send
    expect(dec(r.value!)).toBe('abc');
    await pair.run(c.send(enc('defgh')));
    // Nagle holds 'defgh' until 'abc' is acknowledged: by the delayed ACK
    // (40 ms after it arrived), as the read asked the peer for nothing.
    await pair.advance(50);
    expect(s.pending).toBe(5);
    expect(dec(await pair.run(s.recv(2)))).toBe('de');
    expect(dec(await pair.run(s.recv(100)))).toBe('fgh');
    expect(s.pending).toBe(0);
    expect(await pair.run(s.recv(0))).toEqual(new Uint8Array(0));
    await done(pair, c, s, ls);
  });

  test('recv_into (CPython) is recv into a caller buffer: once, short counts, 0 at EOF; EAGAIN non-blocking; the window reopens', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const buf = new Uint8Array(8).fill(0xee);
    const r = track(pair, s.recvInto(buf));
    await pair.advance(20);
    expect(r.at).toBeNull(); // waits while nothing has arrived
    await pair.run(c.send(enc('abc')));
    expect(await pair.run(r.p)).toBe(3);
    expect(dec(buf.subarray(0, 3))).toBe('abc');
    expect(buf[3]).toBe(0xee); // nothing written past the count
    await pair.run(c.send(enc('defghijklm')));
    await pair.advance(20);
    expect(await pair.run(s.recv_into(buf, 4))).toBe(4);
    expect(dec(buf.subarray(0, 4))).toBe('defg');
    expect(await pair.run(s.recvInto(buf))).toBe(6);
    expect(dec(buf.subarray(0, 6))).toBe('hijklm');
    const ns = s.setblocking(false);
    expect(() => ns.recvInto(buf)).toThrow(expect.objectContaining({ errno: errno.EAGAIN }));
    c.close();
    await pair.advance(20);
    expect(ns.recvInto(buf)).toBe(0); // EOF
    expect(ns.recv_into(buf)).toBe(0);
    await done(pair, s, ls);
  });

  test('read(n) is "exact": it waits until n bytes arrived or EOF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const r = track(pair, s.read(7));
    await pair.run(c.send(enc('abc')));
    await pair.advance(100);
    expect(r.at).toBeNull();
    expect(s.pending).toBe(0); // consumed into the pending read
    const t1 = pair.sim.clock.now();
    await pair.run(c.send(enc('defgXYZ')));
    await pair.run(r.p);
    expect(r.at).toBe(t1 + 5);
    expect(dec(r.value!)).toBe('abcdefg');
    expect(s.pending).toBe(3);
    // EOF first: a short read, then b''.
    const r2 = track(pair, s.read(10));
    c.close();
    await pair.run(r2.p);
    expect(dec(r2.value!)).toBe('XYZ');
    expect(dec(await pair.run(s.read(10)))).toBe('');
    expect(dec(await pair.run(s.recv(10)))).toBe('');
    expect(s.state).toBe(SockState.PEER_CLOSED);
    await done(pair, s, ls);
  });

  test('read() without n reads to EOF (large, hashed)', async () => {
    const pair = sockPair({ server: { tcp: { rcvWnd: 16 * 1024 } } });
    const { ls, c, s } = await connected(pair);
    const data = pattern(300_000);
    const w = track(pair, c.sendall(data).then(() => c.close()));
    const got = await pair.run(s.read());
    await pair.run(w.p);
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
    expect(dec(await pair.run(s.read()))).toBe('');
    await done(pair, s, ls);
  });

  test('readinto(buf[, n]) returns counts and fills buf from the start; 0 at EOF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    await pair.run(c.sendall(enc('0123456789')));
    const buf = new Uint8Array(8).fill(0x2e);
    expect(await pair.run(s.readinto(buf, 3))).toBe(3);
    expect(dec(buf)).toBe('012.....');
    expect(await pair.run(s.readinto(buf, 5))).toBe(5);
    expect(dec(buf)).toBe('34567...');
    // Exact: 8 wanted, 2 there: it waits for more, EOF ends it short.
    const r = track(pair, s.readinto(buf));
    await pair.advance(100);
    expect(r.at).toBeNull();
    c.close();
    await pair.run(r.p);
    expect(r.value).toBe(2);
    expect(dec(buf)).toBe('89567...');
    expect(await pair.run(s.readinto(buf))).toBe(0);
    expect(await pair.run(s.readinto(buf, 0))).toBe(0);
    await done(pair, s, ls);
  }, 10_000);

  test('readline returns whole lines across segments, the rest at EOF, then b""', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    c.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    const r = track(pair, s.readline());
    await pair.run(c.send(enc('hel')));
    await pair.advance(50);
    expect(r.at).toBeNull();
    await pair.run(c.send(enc('lo\nwor')));
    await pair.run(r.p);
    expect(dec(r.value!)).toBe('hello\n');
    await pair.run(c.send(enc('ld\n\nlast')));
    expect(dec(await pair.run(s.readline()))).toBe('world\n');
    expect(dec(await pair.run(s.readline()))).toBe('\n');
    c.close();
    expect(dec(await pair.run(s.readline()))).toBe('last');
    expect(dec(await pair.run(s.readline()))).toBe('');
    await done(pair, s, ls);
  });

  test('makefile() returns the socket itself', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const f = s.makefile();
    expect(f).toBe(s);
    await pair.run(c.write(enc('line\n')));
    expect(dec(await pair.run(f.readline()))).toBe('line\n');
    await done(pair, c, s, ls);
  });
});

describe('blocking writes: once, exact, and waiting for buffer space', () => {
  const small: { client: StackOptions; server: StackOptions } = {
    client: { tcp: { sndBuf: 8192 } },
    server: { tcp: { rcvWnd: 4096 } },
  };

  test('send is "once": at most the free send buffer, at once', async () => {
    const pair = sockPair(small);
    const { ls, c, s } = await connected(pair);
    const t0 = pair.sim.clock.now();
    const n = await pair.run(c.send(pattern(20_000)));
    expect(n).toBe(8192);
    expect(pair.sim.clock.now()).toBe(t0); // no waiting
    const got = await pair.run(s.read(8192));
    expect(sha(got)).toBe(sha(pattern(20_000).subarray(0, 8192)));
    await done(pair, c, s, ls);
  });

  test('blocking send waits for buffer space while the peer does not read, and settles only after it does', async () => {
    const pair = sockPair(small);
    const { ls, c, s } = await connected(pair);
    // Fill: 4096 bytes in the peer's window, 8192 in our send buffer.
    let sent = 0;
    for (;;) {
      await pair.advance(200);
      const pcb = c.tcpPcb!;
      if (pair.client.sockets.raw.tcpSndbuf(pcb) === 0) break;
      sent += await pair.run(c.send(pattern(4096)));
    }
    expect(c.ioctl(MP_STREAM_POLL, POLLOUT)).toBe(0);
    const w = track(pair, c.send(enc('more')));
    await pair.advance(30_000); // zero-window probes, nothing else
    expect(w.at).toBeNull();
    expect(c.state).toBe(SockState.CONNECTED);
    const tRead = pair.sim.clock.now();
    const first = await pair.run(s.recv(4096));
    expect(first.length).toBe(4096);
    await pair.run(w.p);
    expect(w.at!).toBeGreaterThan(tRead);
    expect(w.value).toBe(4);
    sent += 4;
    // Everything arrives in order.
    const rest = await pair.run(s.read(sent - 4096));
    expect(rest.length).toBe(sent - 4096);
    await done(pair, c, s, ls);
  });

  test('write is "exact": all of a large buffer, waiting for space as needed (hash at the peer)', async () => {
    const pair = sockPair(small);
    const { ls, c, s } = await connected(pair);
    const data = pattern(100_000, 3);
    const w = track(pair, c.write(data));
    const got = await pair.run(s.read(data.length));
    await pair.run(w.p);
    expect(w.value).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
    await done(pair, c, s, ls);
  });

  test('sendall sends everything (blocking)', async () => {
    const pair = sockPair(small);
    const { ls, c, s } = await connected(pair);
    const data = pattern(50_000, 5);
    const w = track(pair, c.sendall(data));
    const got = await pair.run(s.read(data.length));
    await pair.run(w.p);
    expect(w.value).toBeUndefined();
    expect(sha(got)).toBe(sha(data));
    await done(pair, c, s, ls);
  });

  test('send of b"" returns 0 at once', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    expect(await pair.run(c.send(new Uint8Array(0)))).toBe(0);
    expect(await pair.run(c.write(new Uint8Array(0)))).toBe(0);
    await done(pair, c, s, ls);
  });
});

describe('timeouts (virtual time)', () => {
  test('recv with settimeout(t) → ETIMEDOUT after exactly t s; data that comes later is still read', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    s.settimeout(1.5);
    const t0 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => s.recv(10))).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t0).toBe(1500);
    expect(s.state).toBe(SockState.CONNECTED);
    await pair.run(c.send(enc('late')));
    expect(dec(await pair.run(s.recv(10)))).toBe('late');
    await done(pair, c, s, ls);
  });

  test('read(n) with a timeout: the timeout covers the whole call; data read before it is returned (seed 000), none → ETIMEDOUT', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    s.settimeout(2);
    const t0 = pair.sim.clock.now();
    const r = track(pair, s.read(10));
    await pair.advance(1000);
    await pair.run(c.send(enc('abc')));
    await pair.advance(5000);
    expect(r.at).toBe(t0 + 2000);
    expect(r.error).toBeUndefined();
    expect(dec(r.value!)).toBe('abc');
    // Nothing at all: ETIMEDOUT, at t exactly.
    const t1 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => s.read(10))).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t1).toBe(2000);
    const t2 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => s.readinto(new Uint8Array(4)))).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t2).toBe(2000);
    await done(pair, c, s, ls);
  });

  test('write with a timeout returns the count sent when the buffer stays full; sendall raises ETIMEDOUT', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 4096 } }, server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c, s } = await connected(pair);
    c.settimeout(1);
    const t0 = pair.sim.clock.now();
    const w = track(pair, c.write(pattern(20_000)));
    await pair.run(w.p);
    expect(w.at).toBe(t0 + 1000);
    expect(w.value).toBe(8192); // the peer's window and our send buffer
    const t1 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => c.sendall(enc('x')))).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t1).toBe(1000);
    const got = await pair.run(s.read(8192));
    expect(sha(got)).toBe(sha(pattern(20_000).subarray(0, 8192)));
    await done(pair, c, s, ls);
  });

  test('readline with a timeout: ETIMEDOUT after t s without a whole line; the partial line is kept for the next call', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    s.settimeout(1);
    await pair.run(c.send(enc('no newline yet')));
    const t0 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => s.readline())).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t0).toBe(1000);
    expect(s.pending).toBe(14);
    await pair.run(c.send(enc('!\n')));
    expect(dec(await pair.run(s.readline()))).toBe('no newline yet!\n');
    await done(pair, c, s, ls);
  });

  test('accept with settimeout(t) → ETIMEDOUT after exactly t s (accept_timeout.py)', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.settimeout(1);
    ls.listen(1);
    const t0 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => ls.accept())).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t0).toBe(1000);
    expect(ls.state).toBe(SockState.LISTENING);
    await done(pair, ls);
  });

  test('send with settimeout(t) → ETIMEDOUT after exactly t s when the buffer stays full', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 4096 } }, server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c, s } = await connected(pair);
    c.settimeout(0.25);
    expect(await pair.run(c.send(pattern(4096)))).toBe(4096);
    await pair.advance(100);
    expect(await pair.run(c.send(pattern(4096)))).toBe(4096);
    await pair.advance(100);
    const t0 = pair.sim.clock.now();
    expect(await errnoOf(pair, () => c.send(enc('x')))).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t0).toBe(250);
    expect(c.state).toBe(SockState.CONNECTED);
    await done(pair, c, s, ls);
  });

  test('accepted sockets inherit the listener timeout', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    ls.settimeout(3);
    const c = pair.client.socket();
    await pair.run(c.connect(SERVER));
    const [s] = await pair.run(ls.accept());
    expect(s.gettimeout()).toBe(3);
    await done(pair, c, s, ls);
  });
});

describe('resets', () => {
  test('data that arrived before a peer RST is read first, then ECONNRESET once, then EOF', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    await pair.run(s.send(enc('before')));
    await pair.advance(20);
    pair.server.tcp.abort(s.tcpPcb!);
    await pair.advance(20);
    expect(c.state).toBe(SockState.ERROR);
    expect(dec(await pair.run(c.recv(100)))).toBe('before');
    const e = await errnoOf(pair, () => c.recv(100));
    expect(e).toBe(errno.ECONNRESET);
    expect(dec(await pair.run(c.recv(100)))).toBe('');
    // Writes keep failing (the connection is gone).
    expect(await errnoOf(pair, () => c.send(enc('x')))).toBe(errno.ENOTCONN);
    await done(pair, c, s, ls);
  });

  test('closing a socket with unread data sends RST: the peer sees ECONNRESET on recv and send', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    await pair.run(c.send(enc('never read')));
    await pair.advance(20);
    expect(s.pending).toBe(10);
    s.close();
    await pair.advance(20);
    expect(c.state).toBe(SockState.ERROR);
    expect(c.tcpPcb).toBeNull();
    expect(await errnoOf(pair, () => c.send(enc('x')))).toBe(errno.ECONNRESET);
    expect(await errnoOf(pair, () => c.send(enc('x')))).toBe(errno.ENOTCONN);
    await done(pair, c, ls);
  });

  test('a blocked recv is woken by the RST with ECONNRESET at the RST arrival time', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const r = track(pair, c.recv(10));
    await pair.advance(100);
    const t = pair.sim.clock.now();
    pair.server.tcp.abort(s.tcpPcb!);
    await pair.run(r.p.catch(() => null));
    expect(r.at).toBe(t + 5);
    expect((r.error as OSError).errno).toBe(errno.ECONNRESET);
    await done(pair, c, s, ls);
  });

  test('a blocked read(n) with partial data returns the data, the RST comes on the next call', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const r = track(pair, c.read(100));
    await pair.run(s.send(enc('part')));
    await pair.advance(50);
    pair.server.tcp.abort(s.tcpPcb!);
    await pair.run(r.p);
    expect(dec(r.value!)).toBe('part');
    expect(await errnoOf(pair, () => c.read(100))).toBe(errno.ECONNRESET);
    await done(pair, c, s, ls);
  });

  test('our own connection aborted (tcp.abort) → ECONNABORTED', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    pair.server.tcp.abort(s.tcpPcb!);
    await pair.advance(1);
    expect(s.state).toBe(SockState.ERROR);
    expect(await errnoOf(pair, () => s.recv(1))).toBe(errno.ECONNABORTED);
    await pair.advance(10);
    expect(await errnoOf(pair, () => c.recv(1))).toBe(errno.ECONNRESET);
    await done(pair, c, s, ls);
  });

  test('closing a listener resets the connections still waiting for accept()', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket();
    await pair.run(c.connect(SERVER));
    await pair.advance(20);
    expect(ls.acceptPending).toBe(1);
    ls.close();
    const r = track(pair, c.recv(10));
    await pair.run(r.p.catch(() => null));
    expect((r.error as OSError).errno).toBe(errno.ECONNRESET);
    await done(pair, c);
  });

  test('close() of a connection whose peer never reads: aborted after closeTimeoutMs without progress', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 8192 }, socket: { closeTimeoutMs: 2000 } }, server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c, s } = await connected(pair);
    await pair.run(c.send(pattern(8192)));
    await pair.advance(100);
    c.close();
    await pair.advance(20_000);
    expect(pair.client.sockets.counters.closeTimeouts).toBe(1);
    expect(pair.client.tcp.pcbCount).toBe(0);
    expect(s.state).toBe(SockState.ERROR);
    expect(s.pending).toBe(4096); // what it had is still readable, then the reset
    await done(pair, s, ls);
  });

  test('a connection reset while it waits for accept() is dropped from the queue', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket();
    await pair.run(c.connect(SERVER));
    await pair.advance(20);
    expect(ls.acceptPending).toBe(1);
    pair.client.tcp.abort(c.tcpPcb!);
    await pair.advance(20);
    expect(ls.acceptPending).toBe(0);
    const nls = ls.setblocking(false);
    expect(syncErrno(() => nls.accept())).toBe(errno.EAGAIN);
    await done(pair, c, ls);
  });
});

describe('socket options', () => {
  test('unknown options → EOPNOTSUPP for setsockopt and getsockopt', async () => {
    const pair = sockPair();
    const s = pair.client.socket();
    expect(syncErrno(() => s.setsockopt(SOL_SOCKET, 0x1234, 1))).toBe(errno.EOPNOTSUPP);
    expect(syncErrno(() => s.setsockopt(99, SO_REUSEADDR, 1))).toBe(errno.EOPNOTSUPP);
    expect(syncErrno(() => s.setsockopt(IPPROTO_TCP, 77, 1))).toBe(errno.EOPNOTSUPP);
    expect(syncErrno(() => s.getsockopt(SOL_SOCKET, 0x1234))).toBe(errno.EOPNOTSUPP);
    expect(syncErrno(() => s.setsockopt(SOL_SOCKET, SO_CALLBACK, 42))).toBe(errno.EINVAL);
    await done(pair, s);
  });

  test('SO_REUSEADDR sets and clears the PCB option', async () => {
    const pair = sockPair();
    const s = pair.client.socket();
    expect(s.getsockopt(SOL_SOCKET, SO_REUSEADDR)).toBe(0);
    s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    expect(s.tcpPcb!.soOptions & SockOpt.REUSEADDR).toBe(SockOpt.REUSEADDR);
    expect(s.getsockopt(SOL_SOCKET, SO_REUSEADDR)).toBe(1);
    s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 0);
    expect(s.getsockopt(SOL_SOCKET, SO_REUSEADDR)).toBe(0);
    await done(pair, s);
  });

  test('TCP_NODELAY sets the PCB flag and small writes go out at once (Nagle holds the second)', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    await pair.advance(100);
    const out = (): number => pair.client.tcp.counters.outSegs;
    // Nagle: the second small write waits for the ACK of the first.
    expect(c.getsockopt(IPPROTO_TCP, TCP_NODELAY)).toBe(0);
    let before = out();
    await pair.run(c.send(enc('a')));
    await pair.run(c.send(enc('b')));
    expect(out() - before).toBe(1);
    expect(dec(await pair.run(s.read(2)))).toBe('ab');
    await pair.advance(100);
    c.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    expect(c.tcpPcb!.flags & PcbFlag.NODELAY).toBe(PcbFlag.NODELAY);
    expect(c.getsockopt(IPPROTO_TCP, TCP_NODELAY)).toBe(1);
    before = out();
    await pair.run(c.send(enc('c')));
    await pair.run(c.send(enc('d')));
    expect(out() - before).toBe(2);
    expect(dec(await pair.run(s.read(2)))).toBe('cd');
    c.setsockopt(IPPROTO_TCP, TCP_NODELAY, false);
    expect(c.getsockopt(IPPROTO_TCP, TCP_NODELAY)).toBe(0);
    await done(pair, c, s, ls);
  });

  test('SO_KEEPALIVE sets the PCB option, is inherited by accepted sockets, and detects a dead peer', async () => {
    const tcp = { keepIdleMs: 10_000, keepIntvlMs: 1000, keepCnt: 3 };
    const pair = sockPair({ client: { tcp }, server: { tcp } });
    const ls = pair.server.socket();
    ls.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1);
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket();
    c.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1);
    expect(c.tcpPcb!.soOptions & SockOpt.KEEPALIVE).toBe(SockOpt.KEEPALIVE);
    await pair.run(c.connect(SERVER));
    const [s] = await pair.run(ls.accept());
    expect(s.tcpPcb!.soOptions & SockOpt.KEEPALIVE).toBe(SockOpt.KEEPALIVE);
    // A live peer answers the probes: the connection stays.
    await pair.advance(60_000);
    expect(c.state).toBe(SockState.CONNECTED);
    expect(s.state).toBe(SockState.CONNECTED);
    // The server goes silent (its carrier is lost): the client's probes go unanswered and
    // a blocked recv fails with ETIMEDOUT after keepIdle + keepCnt * keepIntvl.
    const r = track(pair, c.recv(10));
    const t0 = pair.sim.clock.now();
    pair.sim.links[0]!.bNetif.linkUp = false;
    await pair.run(r.p.catch(() => null));
    expect((r.error as OSError).errno).toBe(errno.ETIMEDOUT);
    expect(r.at! - t0).toBeLessThanOrEqual(10_000 + 4 * 1000);
    expect(c.state).toBe(SockState.ERROR);
    await pair.advance(20_000);
    expect(s.state).toBe(SockState.ERROR); // the server's own probes could not be sent either
    await done(pair, c, s, ls);
  });

  test('TCP_USER_TIMEOUT (RFC 5482): a send to a vanished peer fails with ETIMEDOUT after the timeout, long before the retry limit', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    c.setsockopt(IPPROTO_TCP, TCP_USER_TIMEOUT, 5000);
    expect(c.getsockopt(IPPROTO_TCP, TCP_USER_TIMEOUT)).toBe(5000);
    expect(syncErrno(() => c.setsockopt(IPPROTO_TCP, TCP_USER_TIMEOUT, -1))).toBe(errno.EINVAL);
    pair.sim.links[0]!.bNetif.linkUp = false; // the server vanishes
    const t0 = pair.sim.clock.now();
    await pair.run(c.send(enc('hello?')));
    const r = track(pair, c.recv(10));
    await pair.run(r.p.catch(() => null));
    expect((r.error as OSError).errno).toBe(errno.ETIMEDOUT);
    expect(r.at! - t0).toBe(5000);
    pair.sim.links[0]!.bNetif.linkUp = true;
    s.close();
    await pair.advance(400_000);
    await done(pair, c, s, ls);
  });

  test('option 20 (the callback slot) takes a function or null', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const seen: string[] = [];
    s.setsockopt(SOL_SOCKET, SO_CALLBACK, (sock: Socket) => seen.push(String(sock.pending)));
    await pair.run(c.send(enc('abc')));
    await pair.advance(20);
    expect(seen).toEqual(['3']);
    s.setsockopt(SOL_SOCKET, SO_CALLBACK, null);
    await pair.run(c.send(enc('d')));
    await pair.advance(20);
    expect(seen).toEqual(['3']);
    await done(pair, c, s, ls);
  });
});

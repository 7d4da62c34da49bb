// Types that follow the mode (src/socket/mode.ts). Two kinds of checks:
// - compile time: expectTypeOf(...) and `// @ts-expect-error` lines, which
//   `tsc --noEmit` (npm test) checks under the repository's strict options;
//   an @ts-expect-error line that stops being an error fails the type check;
// - run time: what the sockets really return in each mode is what the types
//   say, on two simulated stacks, each test ending with nothing left open
//   and the pbuf pools empty.
// Everything is imported from 'tsip', as a user of the package would.
import {
  AF_INET,
  connectTcp,
  DuptermSession,
  errno,
  getsockerr,
  IPPROTO_TCP,
  isOSError,
  listenTcp,
  POLLIN,
  POLLOUT,
  serveDupterm,
  serverAccept,
  SO_CALLBACK,
  SO_ERROR,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOCK_STREAM,
  socketReader,
  SOL_SOCKET,
  TCP_NODELAY,
  waitPoll,
  writeIterable,
  type BlockingDatagramSocket,
  type BlockingSocket,
  type ByMode,
  type DatagramSocket,
  type NonBlockingDatagramSocket,
  type NonBlockingSocket,
  type SockAddr,
  type Socket,
  type SocketMode,
  type TimeoutMode,
} from 'tsip';
import { describe, expect, expectTypeOf, test } from 'vitest';
import { dec, enc, sockPair, type SockPair } from '../support/sockets.ts';

const PORT = 7;
const SERVER: SockAddr = ['10.0.0.2', PORT];

/** A listener, a client connected to it (blocking, typed so) and the accepted socket. */
async function connected(pair: SockPair): Promise<{ ls: BlockingSocket; c: BlockingSocket; s: BlockingSocket }> {
  const ls = pair.server.socket();
  ls.bind(['0.0.0.0', PORT]);
  ls.listen(2);
  const c = pair.client.socket();
  const accepting = ls.accept();
  await pair.run(c.connect(SERVER));
  const [s] = await pair.run(accepting);
  return { ls, c, s };
}

describe('the mode helpers', () => {
  test('ByMode picks the non-blocking answer, the blocking one, or both when the mode is not known', () => {
    expectTypeOf<ByMode<'nonblocking', 1, 2>>().toEqualTypeOf<1>();
    expectTypeOf<ByMode<'blocking', 1, 2>>().toEqualTypeOf<2>();
    expectTypeOf<ByMode<SocketMode, 1, 2>>().toEqualTypeOf<1 | 2>();
  });

  test('TimeoutMode: 0 is non-blocking; null and positive literals blocking; a number variable either', () => {
    expectTypeOf<TimeoutMode<0>>().toEqualTypeOf<'nonblocking'>();
    expectTypeOf<TimeoutMode<null>>().toEqualTypeOf<'blocking'>();
    expectTypeOf<TimeoutMode<2.5>>().toEqualTypeOf<'blocking'>();
    expectTypeOf<TimeoutMode<number>>().toEqualTypeOf<SocketMode>();
    expectTypeOf<TimeoutMode<number | null>>().toEqualTypeOf<SocketMode>();
    expectTypeOf<TimeoutMode<0 | 5>>().toEqualTypeOf<SocketMode>();
  });
});

describe('socket types by mode', () => {
  test('stack.socket() is blocking; setblocking/settimeout return the same socket, typed for the new mode', async () => {
    const pair = sockPair();
    const b = pair.client.socket();
    expectTypeOf(b).toEqualTypeOf<BlockingSocket>();
    const stream = pair.client.socket(AF_INET, SOCK_STREAM);
    expectTypeOf(stream).toEqualTypeOf<BlockingSocket>();
    expect(b.gettimeout()).toBeNull();

    const nb = b.setblocking(false);
    expectTypeOf(nb).toEqualTypeOf<NonBlockingSocket>();
    expect(nb).toBe(b); // the same object, retyped
    expect(b.gettimeout()).toBe(0);

    const back = nb.setblocking(true);
    expectTypeOf(back).toEqualTypeOf<BlockingSocket>();
    expect(back.gettimeout()).toBeNull();

    expectTypeOf(b.settimeout(0)).toEqualTypeOf<NonBlockingSocket>();
    expect(b.gettimeout()).toBe(0);
    expectTypeOf(b.settimeout(2.5)).toEqualTypeOf<BlockingSocket>();
    expect(b.gettimeout()).toBe(2.5);
    expectTypeOf(b.settimeout(null)).toEqualTypeOf<BlockingSocket>();
    expect(b.gettimeout()).toBeNull();
    // Not known statically: a number that may be 0, a boolean that may be false.
    const seconds: number = Number('0');
    expectTypeOf(b.settimeout(seconds)).toEqualTypeOf<Socket>();
    expect(b.gettimeout()).toBe(0);
    const flag: boolean = seconds > 0;
    expectTypeOf(b.setblocking(flag)).toEqualTypeOf<Socket>();
    expect(b.gettimeout()).toBe(0);

    const d = pair.client.socket(AF_INET, SOCK_DGRAM);
    expectTypeOf(d).toEqualTypeOf<BlockingDatagramSocket>();
    const nd = d.setblocking(false);
    expectTypeOf(nd).toEqualTypeOf<NonBlockingDatagramSocket>();
    expect(nd).toBe(d);
    expectTypeOf(d.settimeout(0)).toEqualTypeOf<NonBlockingDatagramSocket>();
    expectTypeOf(d.settimeout(1)).toEqualTypeOf<BlockingDatagramSocket>();
    expectTypeOf(d.setblocking(flag)).toEqualTypeOf<DatagramSocket>();
    // A type only known at run time: either kind of socket.
    const type: number = SOCK_DGRAM;
    const any = pair.client.socket(AF_INET, type);
    expectTypeOf(any).toEqualTypeOf<BlockingSocket | BlockingDatagramSocket>();

    for (const s of [b, stream, d, any]) s.close();
    await pair.finish();
  });

  test('each call that may block: a value in non-blocking mode, a Promise in blocking mode, either for Socket', () => {
    // Non-blocking: at once (or OSError(EAGAIN)); the "exact" calls return null when nothing can be done.
    expectTypeOf<NonBlockingSocket['recv']>().returns.toEqualTypeOf<Uint8Array>();
    expectTypeOf<NonBlockingSocket['recvInto']>().returns.toEqualTypeOf<number>();
    expectTypeOf<NonBlockingSocket['recv_into']>().returns.toEqualTypeOf<number>();
    expectTypeOf<NonBlockingSocket['read']>().returns.toEqualTypeOf<Uint8Array | null>();
    expectTypeOf<NonBlockingSocket['readinto']>().returns.toEqualTypeOf<number | null>();
    expectTypeOf<NonBlockingSocket['readline']>().returns.toEqualTypeOf<Uint8Array | null>();
    expectTypeOf<NonBlockingSocket['send']>().returns.toEqualTypeOf<number>();
    expectTypeOf<NonBlockingSocket['write']>().returns.toEqualTypeOf<number | null>();
    expectTypeOf<NonBlockingSocket['sendall']>().returns.toEqualTypeOf<void>();
    expectTypeOf<NonBlockingSocket['accept']>().returns.toEqualTypeOf<[NonBlockingSocket, SockAddr]>();
    expectTypeOf<NonBlockingSocket['connect']>().returns.toEqualTypeOf<void>();
    // Blocking: Promises (never null: read/readline/readinto wait for data or EOF).
    expectTypeOf<BlockingSocket['recv']>().returns.toEqualTypeOf<Promise<Uint8Array>>();
    expectTypeOf<BlockingSocket['recvInto']>().returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf<BlockingSocket['recv_into']>().returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf<BlockingSocket['read']>().returns.toEqualTypeOf<Promise<Uint8Array>>();
    expectTypeOf<BlockingSocket['readinto']>().returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf<BlockingSocket['readline']>().returns.toEqualTypeOf<Promise<Uint8Array>>();
    expectTypeOf<BlockingSocket['send']>().returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf<BlockingSocket['write']>().returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf<BlockingSocket['sendall']>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<BlockingSocket['accept']>().returns.toEqualTypeOf<Promise<[BlockingSocket, SockAddr]>>();
    expectTypeOf<BlockingSocket['connect']>().returns.toEqualTypeOf<Promise<void>>();
    // Mode not known statically: either shape (await works on both).
    expectTypeOf<Socket['recv']>().returns.toEqualTypeOf<Uint8Array | Promise<Uint8Array>>();
    expectTypeOf<Socket['read']>().returns.toEqualTypeOf<Uint8Array | null | Promise<Uint8Array>>();
    expectTypeOf<Socket['accept']>().returns.toEqualTypeOf<[Socket, SockAddr] | Promise<[Socket, SockAddr]>>();
    expectTypeOf<Socket['connect']>().returns.toEqualTypeOf<void | Promise<void>>();
    // Calls that never wait are the same in every mode.
    // (getsockopt is overloaded: SO_LINGER gives a pair or bytes, the rest a number.)
    expectTypeOf<NonBlockingSocket['getsockopt']>().toEqualTypeOf<BlockingSocket['getsockopt']>();
    expectTypeOf((s: NonBlockingSocket) => s.getsockopt(1, 0x1007)).returns.toEqualTypeOf<number>();
    expectTypeOf((s: BlockingSocket) => s.getsockopt(1, 0x0080)).returns.toEqualTypeOf<[number, number]>();
    expectTypeOf<BlockingSocket['getsockname']>().returns.toEqualTypeOf<SockAddr>();
    // Datagram sockets: only receiving depends on the mode.
    expectTypeOf<NonBlockingDatagramSocket['recv']>().returns.toEqualTypeOf<Uint8Array>();
    expectTypeOf<NonBlockingDatagramSocket['recvfrom']>().returns.toEqualTypeOf<[Uint8Array, SockAddr]>();
    expectTypeOf<BlockingDatagramSocket['recv']>().returns.toEqualTypeOf<Promise<Uint8Array>>();
    expectTypeOf<BlockingDatagramSocket['recvfrom']>().returns.toEqualTypeOf<Promise<[Uint8Array, SockAddr]>>();
    expectTypeOf<DatagramSocket['recv']>().returns.toEqualTypeOf<Uint8Array | Promise<Uint8Array>>();
    expectTypeOf<BlockingDatagramSocket['send']>().returns.toEqualTypeOf<number>();
    expectTypeOf<NonBlockingDatagramSocket['sendto']>().returns.toEqualTypeOf<number>();
    expectTypeOf<BlockingDatagramSocket['write']>().returns.toEqualTypeOf<number>();
    expectTypeOf<BlockingDatagramSocket['connect']>().returns.toEqualTypeOf<void>();
  });

  test('both modes are assignable to Socket (the default, either mode); not to each other', () => {
    expectTypeOf<BlockingSocket>().toExtend<Socket>();
    expectTypeOf<NonBlockingSocket>().toExtend<Socket>();
    expectTypeOf<Socket<SocketMode>>().toEqualTypeOf<Socket>();
    expectTypeOf<NonBlockingSocket>().not.toExtend<BlockingSocket>();
    expectTypeOf<BlockingSocket>().not.toExtend<NonBlockingSocket>();
    expectTypeOf<Socket>().not.toExtend<BlockingSocket>();
    expectTypeOf<Socket>().not.toExtend<NonBlockingSocket>();
    expectTypeOf<BlockingDatagramSocket>().toExtend<DatagramSocket>();
    expectTypeOf<NonBlockingDatagramSocket>().toExtend<DatagramSocket>();
    expectTypeOf<NonBlockingDatagramSocket>().not.toExtend<BlockingDatagramSocket>();
    expectTypeOf<DatagramSocket>().not.toExtend<Socket>();
  });

  test('the option-20 callback gets the socket typed in the mode of the socket it is set on', async () => {
    const pair = sockPair();
    const nb = pair.server.socket().setblocking(false);
    nb.setsockopt(SOL_SOCKET, SO_CALLBACK, (s) => expectTypeOf(s).toEqualTypeOf<NonBlockingSocket>());
    nb.setsockopt(SOL_SOCKET, 20, (s) => expectTypeOf(s).toEqualTypeOf<NonBlockingSocket>());
    nb.setsockopt(SOL_SOCKET, 20, (s: Socket) => expectTypeOf(s).toEqualTypeOf<Socket>()); // a callback for any mode fits too
    nb.setsockopt(SOL_SOCKET, 20, null);
    const b = pair.server.socket();
    b.setsockopt(SOL_SOCKET, SO_CALLBACK, (s) => expectTypeOf(s).toEqualTypeOf<BlockingSocket>());
    const d = pair.server.socket(AF_INET, SOCK_DGRAM).setblocking(false);
    d.setsockopt(SOL_SOCKET, SO_CALLBACK, (s) => expectTypeOf(s).toEqualTypeOf<NonBlockingDatagramSocket>());
    // Other options take numbers or booleans.
    nb.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    d.setsockopt(SOL_SOCKET, SO_REUSEADDR, true);
    for (const s of [nb, b, d]) s.close();
    await pair.finish();
  });

  test('helpers that take a socket take any mode; the ones that make a socket non-blocking say so', async () => {
    // Only compiled: the parameter types.
    expectTypeOf(waitPoll).parameter(1).toEqualTypeOf<Socket>();
    expectTypeOf(getsockerr).parameter(0).toEqualTypeOf<Socket>();
    expectTypeOf(socketReader).parameter(1).toEqualTypeOf<Socket>();
    expectTypeOf(writeIterable).parameter(1).toEqualTypeOf<Socket>();
    expectTypeOf(serveDupterm).parameter(0).toEqualTypeOf<Socket>();
    expectTypeOf(listenTcp).returns.toEqualTypeOf<NonBlockingSocket>();
    expectTypeOf(connectTcp).returns.toEqualTypeOf<{ sock: NonBlockingSocket; status: number }>();
    expectTypeOf<DuptermSession['sock']>().toEqualTypeOf<NonBlockingSocket>();

    const pair = sockPair();
    const ls = listenTcp(pair.server.sockets, '0.0.0.0', PORT, 2);
    const b = pair.client.socket();
    const poller = pair.client.poll();
    poller.register(b, POLLOUT); // blocking, registered
    const { sock: nb, status } = connectTcp(pair.client.sockets, SERVER);
    expect(status).toBe(errno.EINPROGRESS);
    poller.register(nb, POLLOUT); // non-blocking, registered
    poller.modify(nb, POLLOUT | POLLIN);
    poller.unregister(b);
    expect(await pair.run(waitPoll(pair.client.sockets, nb, POLLOUT, 1000))).toBe(POLLOUT);
    expect(getsockerr(nb)).toBe('');
    expect(getsockerr(b)).toBe('');
    await pair.advance(10); // the handshake's last ACK reaches the server
    const accepted = serverAccept(ls, (sock, addr) => {
      expectTypeOf(sock).toEqualTypeOf<NonBlockingSocket>();
      expect(sock.gettimeout()).toBe(0);
      return { sock, addr };
    });
    if (accepted === null) throw new Error('nothing to accept');
    expect(accepted.addr).toEqual(['10.0.0.1', nb.getsockname()[1]]);
    poller.unregister(nb);
    for (const s of [ls, b, nb, accepted.sock]) s.close();
    await pair.finish();
  });
});

describe('what the sockets return, by mode (run time)', () => {
  test('a non-blocking recv returns a Uint8Array without await and without a cast; a blocking one returns a Promise', async () => {
    const pair = sockPair();
    const { ls, c, s: bs } = await connected(pair);
    c.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1); // each send goes out at once
    await pair.run(c.sendall(enc('hello')));
    await pair.advance(10);

    const s = bs.setblocking(false);
    const data = s.recv(100); // no await, no cast
    expectTypeOf(data).toEqualTypeOf<Uint8Array>();
    expect(data).toBeInstanceOf(Uint8Array);
    expect(dec(data)).toBe('hello');
    expect(s.read(100)).toBeNull(); // nothing there: null, typed Uint8Array | null
    expect(() => s.recv(100)).toThrow(expect.objectContaining({ errno: errno.EAGAIN }));

    const b = s.setblocking(true);
    const p = b.recv(100);
    expectTypeOf(p).toEqualTypeOf<Promise<Uint8Array>>();
    expect(p).toBeInstanceOf(Promise);
    await pair.run(c.send(enc('world')));
    expect(dec(await pair.run(p))).toBe('world');

    // Either mode (a boolean not known statically): await works on both shapes.
    for (const blocking of [false, true]) {
      const e = b.setblocking(blocking);
      expectTypeOf(e).toEqualTypeOf<Socket>();
      await pair.run(c.send(enc(`either ${blocking}`)));
      await pair.advance(10);
      const r = await pair.run(Promise.resolve(e.recv(100)));
      expect(dec(r)).toBe(`either ${blocking}`);
    }
    for (const x of [c, b, ls]) x.close();
    await pair.finish();
  });

  test('every typed call returns the shape its type says, in both modes', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const isPromise = (x: unknown): boolean => x instanceof Promise;
    await pair.run(c.sendall(enc('a\nbcdefghijklmnopqrstuvwxyz')));
    await pair.advance(10);
    // Non-blocking: values.
    const nb = s.setblocking(false);
    const buf = new Uint8Array(2);
    const nbResults: unknown[] = [nb.readline(), nb.recv(1), nb.recvInto(buf), nb.recv_into(buf, 1), nb.read(2), nb.readinto(buf), nb.send(enc('1')), nb.write(enc('2')), nb.sendall(enc('3'))];
    expect(nbResults.map(isPromise)).toEqual(nbResults.map(() => false));
    expect(nbResults.map((r) => (r instanceof Uint8Array ? dec(r) : r))).toEqual(['a\n', 'b', 2, 1, 'fg', 2, 1, 1, undefined]);
    // Blocking: Promises, each settled by what is there.
    const b = nb.setblocking(true);
    const bResults = [b.recv(1), b.recvInto(buf, 1), b.recv_into(buf, 1), b.read(2), b.readinto(buf, 1), b.send(enc('4')), b.write(enc('5')), b.sendall(enc('6'))];
    expect(bResults.map(isPromise)).toEqual(bResults.map(() => true));
    expect(await pair.run(Promise.all(bResults))).toEqual([enc('j'), 1, 1, enc('mn'), 1, 1, 1, undefined]);
    const line = b.readline();
    expect(line).toBeInstanceOf(Promise);
    // The peer got everything written, in order.
    expect(dec(await pair.run(c.read(6)))).toBe('123456');
    c.close();
    expect(dec(await pair.run(line))).toBe('pqrstuvwxyz'); // no newline: the rest, at EOF
    b.close();
    ls.close();
    await pair.finish();
  });

  test('accept: the new socket inherits the listener\'s timeout, hence its mode type', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen(2);
    const c1 = pair.client.socket();
    await pair.run(c1.connect(SERVER));
    await pair.advance(10);
    const nls = ls.setblocking(false);
    const [a1] = nls.accept(); // no await: a tuple
    expectTypeOf(a1).toEqualTypeOf<NonBlockingSocket>();
    expect(a1.gettimeout()).toBe(0);
    const bls = nls.settimeout(5);
    const c2 = pair.client.socket();
    const accepting = bls.accept();
    expectTypeOf(accepting).toEqualTypeOf<Promise<[BlockingSocket, SockAddr]>>();
    await pair.run(c2.connect(SERVER));
    const [a2] = await pair.run(accepting);
    expect(a2.gettimeout()).toBe(5);
    const pending = a2.recv(1);
    expect(pending).toBeInstanceOf(Promise);
    for (const s of [c1, c2]) s.close();
    await pair.advance(20);
    expect(a1.recv(1)).toEqual(new Uint8Array(0)); // EOF, at once
    expect(dec(await pair.run(pending))).toBe(''); // EOF, through the Promise
    for (const s of [a1, a2, ls]) s.close();
    await pair.finish();
  });

  test('non-blocking datagram recv/recvfrom return at once; blocking ones return Promises; send never waits', async () => {
    const pair = sockPair();
    const srv = pair.server.socket(AF_INET, SOCK_DGRAM);
    srv.bind(['0.0.0.0', 9000]);
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    const n = cli.sendto(enc('one'), ['10.0.0.2', 9000]);
    expectTypeOf(n).toEqualTypeOf<number>();
    const [first, from] = await pair.run(srv.recvfrom(100));
    expect(dec(first)).toBe('one');
    cli.sendto(enc('two'), ['10.0.0.2', 9000]);
    await pair.advance(10);
    const nsrv = srv.setblocking(false);
    const two = nsrv.recv(100); // no await
    expectTypeOf(two).toEqualTypeOf<Uint8Array>();
    expect(dec(two)).toBe('two');
    expect(() => nsrv.recvfrom(100)).toThrow(expect.objectContaining({ errno: errno.EAGAIN }));
    nsrv.sendto(enc('back'), from);
    expect(dec(await pair.run(cli.recv(100)))).toBe('back');
    srv.close();
    cli.close();
    await pair.finish();
  });
});

describe('misuse is a compile error', () => {
  // Never called: its body only has to type-check, with each marked line an error.
  function misuse(b: BlockingSocket, nb: NonBlockingSocket, either: Socket, bd: BlockingDatagramSocket, nbd: NonBlockingDatagramSocket): void {
    // @ts-expect-error a blocking recv is a Promise, not the bytes
    const u1: Uint8Array = b.recv(10);
    // @ts-expect-error a non-blocking recv is not a Promise
    const p1: Promise<Uint8Array> = nb.recv(10);
    // @ts-expect-error a non-blocking read may return null (nothing there)
    const u2: Uint8Array = nb.read(10);
    // @ts-expect-error a blocking accept must be awaited before destructuring
    const [c1] = b.accept();
    // @ts-expect-error the mode is not known: await it first
    const u3: Uint8Array = either.recv(10);
    // @ts-expect-error a non-blocking socket is not a blocking one
    const b2: BlockingSocket = nb;
    // @ts-expect-error nor the other way round
    const nb2: NonBlockingSocket = b;
    // @ts-expect-error nor is a socket of unknown mode
    const b3: BlockingSocket = either;
    // @ts-expect-error the option-20 callback of a blocking socket gets a blocking socket
    b.setsockopt(SOL_SOCKET, SO_CALLBACK, (s: NonBlockingSocket) => s.recv(1));
    // @ts-expect-error option 20 takes a function or null
    nb.setsockopt(SOL_SOCKET, 20, 'callback');
    // @ts-expect-error other options take a number or a boolean
    nb.setsockopt(SOL_SOCKET, SO_REUSEADDR, () => undefined);
    // @ts-expect-error a blocking datagram recv is a Promise
    const u4: Uint8Array = bd.recv(10);
    // @ts-expect-error a non-blocking recvfrom is a value
    const p2: Promise<[Uint8Array, SockAddr]> = nbd.recvfrom(10);
    // @ts-expect-error settimeout(5) is blocking
    const nb3: NonBlockingSocket = b.settimeout(5);
    // @ts-expect-error settimeout(seconds) with a number variable may be either mode
    const nb4: NonBlockingSocket = b.settimeout(Number('0'));
    // The statement form does not retype the variable (TypeScript cannot):
    b.setblocking(false);
    // @ts-expect-error b is still typed blocking; use the socket setblocking returns
    const u5: Uint8Array = b.recv(10);
    void [u1, p1, u2, c1, u3, b2, nb2, b3, u4, p2, nb3, nb4, u5];
  }

  test('the marked lines are errors (tsc --noEmit checks them)', () => {
    expectTypeOf(misuse).toBeFunction();
  });
});

describe('the README pattern, with zero casts', () => {
  test('an option-20 echo server (non-blocking accept/read/write) and a client with a non-blocking connect and poll', async () => {
    const pair = sockPair();
    const server = pair.server;
    const client = pair.client;

    // server: everything happens in the option-20 callback
    const ls = server.socket().setblocking(false);
    ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    ls.bind(['0.0.0.0', 7]);
    ls.listen(4);
    ls.setsockopt(SOL_SOCKET, SO_CALLBACK, (l) => {
      const [conn] = l.accept(); // a connection arrived; it inherits non-blocking mode
      conn.setsockopt(SOL_SOCKET, SO_CALLBACK, (c) => {
        const data = c.read(1024); // data or EOF arrived
        if (data === null) return;
        if (data.length === 0) return c.close();
        c.write(data);
      });
    });

    // client: non-blocking connect, then poll
    const s = client.socket().setblocking(false);
    try {
      s.connect(['10.0.0.2', 7]);
    } catch (e) {
      if (!isOSError(e, errno.EINPROGRESS)) throw e;
    }
    const poller = client.poll();
    poller.register(s, POLLOUT);
    await pair.run(poller.poll(5000)); // writable: connected (or failed)
    if (s.getsockopt(SOL_SOCKET, SO_ERROR) !== 0) throw new Error('connect failed');
    s.write(new TextEncoder().encode('hello tsip\n'));
    poller.modify(s, POLLIN);
    await pair.run(poller.poll(5000));
    const reply = new TextDecoder().decode(s.read(1024) ?? new Uint8Array());
    s.close();

    expect(reply).toBe('hello tsip\n');
    await pair.advance(100); // the server sees EOF and closes its side
    ls.close();
    await pair.finish();
  });

  test('the blocking version: await on every call, no casts', async () => {
    const pair = sockPair();
    const serve = async (): Promise<void> => {
      const ls = pair.server.socket();
      ls.bind(['0.0.0.0', 8000]);
      ls.listen(1);
      const [conn] = await ls.accept();
      const request = await conn.readline(); // up to and including '\n'
      await conn.sendall(enc(`you said: ${dec(request)}`));
      conn.close();
      ls.close();
    };
    const ask = async (): Promise<string> => {
      const s = pair.client.socket().settimeout(10);
      await s.connect(['10.0.0.2', 8000]);
      await s.write(enc('ping\n'));
      const reply = await s.read(4096); // everything until the server closes
      s.close();
      return new TextDecoder().decode(reply);
    };
    const [, reply] = await pair.run(Promise.all([serve(), ask()]));
    expect(reply).toBe('you said: ping\n');
    await pair.finish();
  });
});

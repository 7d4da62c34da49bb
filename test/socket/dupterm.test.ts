// Dupterm sessions (seed 000): the session -- not the application -- closes
// the socket when the peer ends the stream (EOF) or when a read, a write or
// the handler fails, so resources are reclaimed however many sessions come
// and go; output is accepted whole (the write buffer), input is read as it
// becomes available.
import { describe, expect, test } from 'vitest';
import { SO_CALLBACK, SOL_SOCKET } from '../../src/socket/constants.ts';
import { DuptermSession, serveDupterm, type SessionEnd, type TerminalHandler } from '../../src/socket/dupterm.ts';
import { errno, isOSError, type OSError } from '../../src/socket/errors.ts';
import type { BlockingSocket, Socket } from '../../src/socket/socket.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { dec, enc, sockPair, type SockPair } from '../support/sockets.ts';
import { payload, sha256 } from '../support/tcp.ts';

const PORT = 2323;
const SERVER = '10.0.0.2';

function listen(stack: Stack, backlog = 8): BlockingSocket {
  const s = stack.socket();
  s.bind(['0.0.0.0', PORT]);
  s.listen(backlog);
  return s;
}

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

/** Read a blocking socket to EOF (or the error, returned as its errno). */
async function readToEnd(s: Socket): Promise<{ data: Uint8Array; end: 'eof' | number }> {
  const parts: number[] = [];
  for (;;) {
    let b: Uint8Array;
    try {
      b = await s.recv(65536);
    } catch (e) {
      if (isOSError(e)) return { data: new Uint8Array(parts), end: e.errno };
      throw e;
    }
    if (b.length === 0) return { data: new Uint8Array(parts), end: 'eof' };
    for (const x of b) parts.push(x);
  }
}

interface Ended {
  why: SessionEnd;
  errno: number | null;
  message: string | null;
}

/** A line-oriented terminal: answers each line; "throw" makes it fail. */
function lineTerminal(ends: Map<string, Ended>, key: string): TerminalHandler {
  let pending = '';
  return {
    input(data, session) {
      pending += dec(data);
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line === 'throw') throw new Error(`handler ${key} gave up`);
        session.write(`${key}> ${line.toUpperCase()}\n`);
      }
    },
    ended(why, err: OSError | null) {
      expect(ends.has(key)).toBe(false); // once
      ends.set(key, { why, errno: err?.errno ?? null, message: err?.message ?? null });
    },
  };
}

describe('dupterm sessions (seed 000)', () => {
  test('50 concurrent sessions exchange lines; EOF, RST and a failing handler each end theirs, which closes its socket', async () => {
    const pair = sockPair({ seed: 3, link: { latencyMs: 2, jitterMs: 3 } });
    const { client, server } = pair;
    const ls = listen(server, 64);
    const ends = new Map<string, Ended>();
    let n = 0;
    const keys = new Map<number, string>(); // client port -> session key
    const sessions = serveDupterm(ls, (addr) => {
      const key = `s${n++}`;
      keys.set(addr[1], key);
      return lineTerminal(ends, key);
    });
    const kinds = ['eof', 'rst', 'throw', 'eof', 'server-close'] as const;
    const results = new Map<string, { kind: string; replies: string[]; end: string }>();
    const runClient = async (i: number): Promise<void> => {
      const kind = kinds[i % kinds.length]!;
      const c = client.socket();
      await c.connect([SERVER, PORT]);
      const port = c.getsockname()[1];
      const replies: string[] = [];
      for (let j = 0; j < 3; j++) {
        await c.sendall(enc(`hello ${i}.${j}\n`));
        replies.push(dec(await c.readline())!);
      }
      let end = '';
      const key = (): string => keys.get(port)!;
      switch (kind) {
        case 'eof':
          c.close();
          end = 'closed';
          break;
        case 'rst':
          client.sockets.raw.tcpAbort(c.tcpPcb!);
          c.close();
          end = 'reset';
          break;
        case 'throw': {
          await c.sendall(enc('throw\n'));
          const r = await readToEnd(c);
          end = r.end === 'eof' ? 'eof' : `errno ${r.end}`;
          c.close();
          break;
        }
        case 'server-close': {
          // The application ends the session itself.
          for (const s of sessions) if (s.sock.getpeername()[1] === port) s.close();
          const r = await readToEnd(c);
          end = r.end === 'eof' ? 'eof' : `errno ${r.end}`;
          c.close();
          break;
        }
      }
      results.set(key(), { kind, replies, end });
    };
    const all: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) all.push(runClient(i));
    await pair.run(Promise.all(all));
    await pair.advance(2000);
    expect(results.size).toBe(50);
    expect(ends.size).toBe(50);
    expect(sessions.size).toBe(0);
    const byKind: Record<string, number> = {};
    for (const [key, r] of results) {
      byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
      const i = Number(r.replies[0]!.match(/HELLO (\d+)\./)![1]);
      expect(r.replies).toEqual([0, 1, 2].map((j) => `${key}> HELLO ${i}.${j}\n`));
      const e = ends.get(key)!;
      switch (r.kind) {
        case 'eof':
          expect(e).toEqual({ why: 'eof', errno: null, message: null });
          break;
        case 'rst':
          expect(e).toMatchObject({ why: 'error', errno: errno.ECONNRESET });
          break;
        case 'throw':
          expect(e).toMatchObject({ why: 'error', errno: errno.EIO });
          expect(e.message).toMatch(new RegExp(`handler ${key} gave up`));
          expect(r.end).toBe('eof'); // the session closed the socket: the client sees EOF
          break;
        case 'server-close':
          expect(e).toEqual({ why: 'closed', errno: null, message: null });
          expect(r.end).toBe('eof');
          break;
      }
    }
    expect(byKind).toEqual({ eof: 20, rst: 10, throw: 10, 'server-close': 10 });
    // Every session's socket is closed: only the listener is left open.
    expect(server.sockets.open).toBe(1);
    expect(server.sockets.counters.accepted).toBe(50);
    expect(server.sockets.counters.closed).toBe(50);
    ls.close();
    await idleAndFinish(pair);
  });

  test('output beyond the TCP send buffer is delivered completely (write buffer), also when the session closes right after writing', async () => {
    const pair = sockPair({ server: { tcp: { sndBuf: 8 * 1024 } } });
    const { client, server } = pair;
    const ls = listen(server);
    const big = payload(300_000, 9);
    const ends: SessionEnd[] = [];
    serveDupterm(
      ls,
      () => ({
        input(data, session) {
          if (dec(data) === 'dump\n') {
            session.write(big); // taken whole: far beyond the 8 KiB send buffer
            expect(session.sock.writeBuffered).toBeGreaterThan(big.length - 8 * 1024 - 1);
            session.write('\nbye\n');
            session.close(); // the queued output still goes out, then FIN
          }
        },
        ended: (why) => ends.push(why),
      }),
      { writeBufferCap: 1 << 20 },
    );
    const c = client.socket();
    await pair.run(c.connect([SERVER, PORT]));
    await pair.run(c.sendall(enc('dump\n')));
    const r = await pair.run(readToEnd(c));
    expect(r.end).toBe('eof');
    expect(r.data.length).toBe(big.length + 5);
    expect(sha256(r.data.subarray(0, big.length))).toBe(sha256(big));
    expect(dec(r.data.subarray(big.length))).toBe('\nbye\n');
    expect(ends).toEqual(['closed']);
    expect(server.sockets.open).toBe(1);
    c.close();
    ls.close();
    await idleAndFinish(pair);
  });

  test('a write beyond the write-buffer cap ends the session with ENOBUFS and closes its socket', async () => {
    const pair = sockPair({ server: { tcp: { sndBuf: 4096 } } });
    const { client, server } = pair;
    const ls = listen(server);
    const ends: [SessionEnd, number | null][] = [];
    serveDupterm(
      ls,
      () => ({
        input(_data, session) {
          session.write(payload(4096 + 1000)); // fits: 4096 in TCP, 1000 buffered
          session.write(payload(2000)); // does not: 3000 > 2048
          expect(session.isOpen).toBe(false);
          session.write('ignored after the end');
        },
        ended: (why, err) => ends.push([why, err?.errno ?? null]),
      }),
      { writeBufferCap: 2048 },
    );
    const c = client.socket();
    await pair.run(c.connect([SERVER, PORT]));
    await pair.run(c.sendall(enc('x')));
    const r = await pair.run(readToEnd(c));
    expect(ends).toEqual([['error', errno.ENOBUFS]]);
    expect(server.sockets.counters.writeBufferOverflows).toBe(1);
    expect(r.data.length).toBe(5096); // what was accepted before the failure is still delivered
    expect(r.end).toBe('eof');
    expect(server.sockets.open).toBe(1);
    c.close();
    ls.close();
    await idleAndFinish(pair);
  });

  test('a session started on a connection whose data (and EOF) arrived before it existed reads it at once, then ends with eof', async () => {
    const pair = sockPair();
    const { client, server } = pair;
    const ls = listen(server);
    const c = client.socket();
    await pair.run(c.connect([SERVER, PORT]));
    // Data and FIN in one segment, held by the engine until accept().
    expect(client.sockets.raw.tcpWrite(c.tcpPcb!, enc('early input\n'))).toBe(0);
    c.close();
    await pair.advance(1000);
    const [s] = await pair.run(ls.accept());
    const log: string[] = [];
    const session = new DuptermSession(s, {
      input: (d) => log.push(dec(d)!),
      ended: (why, err) => log.push(`ended ${why} ${err}`),
    });
    // The constructor already read what was there, EOF included.
    expect(log).toEqual(['early input\n', 'ended eof null']);
    expect(session.isOpen).toBe(false);
    expect(session.endedBy).toBe('eof');
    expect(s.stateName).toBe('CLOSED');
    // The session cleared the socket's callback slot when it ended.
    expect(() => s.setsockopt(SOL_SOCKET, SO_CALLBACK, null)).toThrow(/EBADF/);
    ls.close();
    await idleAndFinish(pair);
  });

  test('input arrives in pieces as it becomes available; the session never blocks the stack', async () => {
    const pair = sockPair();
    const { client, server } = pair;
    const ls = listen(server);
    const got: string[] = [];
    let session: DuptermSession | null = null;
    serveDupterm(
      ls,
      () => ({
        input: (d, s) => {
          session = s;
          got.push(dec(d)!);
        },
      }),
      { readChunk: 4 },
    );
    const c = client.socket();
    await pair.run(c.connect([SERVER, PORT]));
    await pair.run(c.sendall(enc('abcdefghij')));
    await pair.advance(50);
    expect(got).toEqual(['abcd', 'efgh', 'ij']);
    await pair.run(c.sendall(enc('k')));
    await pair.advance(50);
    expect(got).toEqual(['abcd', 'efgh', 'ij', 'k']);
    expect(session!.isOpen).toBe(true);
    session!.close();
    expect(session!.endedBy).toBe('closed');
    expect(await pair.run(c.recv(10))).toEqual(new Uint8Array(0));
    c.close();
    ls.close();
    await idleAndFinish(pair);
  });
});

describe('closing with output still buffered', () => {
  test('the peer half-closes while the closed session is still sending its buffered output: all of it arrives', async () => {
    const pair = sockPair({ server: { tcp: { sndBuf: 8 * 1024 } } });
    const { client, server } = pair;
    const ls = listen(server);
    const big = payload(200_000, 5);
    serveDupterm(
      ls,
      () => ({
        input(data, session) {
          if (dec(data) === 'dump\n') {
            session.write(big);
            session.close();
          }
        },
      }),
      { writeBufferCap: 1 << 20 },
    );
    const c = client.socket();
    await pair.run(c.connect([SERVER, PORT]));
    await pair.run(c.sendall(enc('dump\n')));
    const reading = readToEnd(c);
    await pair.advance(30);
    expect(server.sockets.open).toBe(1); // the session's socket is closed, its output still going out
    client.sockets.raw.tcpShutdown(c.tcpPcb!, false, true); // the client is done sending (FIN)
    const r = await pair.run(reading);
    expect(r.end).toBe('eof');
    expect(r.data.length).toBe(big.length);
    expect(sha256(r.data)).toBe(sha256(big));
    c.close();
    ls.close();
    await idleAndFinish(pair);
  });
});

describe('serveDupterm when a handler cannot be made', () => {
  test('makeHandler throwing closes that connection, is reported, and the other connections still get sessions', async () => {
    const pair = sockPair();
    const { client, server } = pair;
    const ls = listen(server);
    let n = 0;
    const sessions = serveDupterm(ls, () => {
      if (n++ === 1) throw new Error('no terminal for you');
      return { input: (d, s) => s.write(d) };
    });
    const outcomes: string[] = [];
    const cs: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const c = client.socket();
      cs.push(c);
      await pair.run(c.connect([SERVER, PORT]));
      await pair.run(c.sendall(enc(`hi ${i}\n`)));
      c.settimeout(2);
      try {
        const r = await pair.run(c.readline());
        outcomes.push(r.length === 0 ? 'eof' : dec(r)!);
      } catch (e) {
        outcomes.push(isOSError(e) ? e.code : String(e));
      }
    }
    expect(outcomes).toEqual(['hi 0\n', 'ECONNRESET', 'hi 2\n']);
    expect(server.sockets.counters.callbackErrors).toBe(1);
    expect((server.sockets.lastCallbackError as Error).message).toBe('no terminal for you');
    expect(sessions.size).toBe(2);
    for (const s of sessions) s.close();
    for (const c of cs) c.close();
    expect(server.sockets.open).toBe(1);
    ls.close();
    await idleAndFinish(pair);
  });
});

test('serveDupterm on a listener with connections already waiting (data and EOF included); an ended() that throws does not stop the others', async () => {
  const pair = sockPair();
  const { client, server } = pair;
  const ls = listen(server);
  const cs: Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const c = client.socket();
    cs.push(c);
    await pair.run(c.connect([SERVER, PORT]));
    expect(client.sockets.raw.tcpWrite(c.tcpPcb!, enc(`from ${i}`))).toBe(0);
    c.close(); // data and FIN in one segment, held until accept()
  }
  await pair.advance(500);
  expect(ls.acceptPending).toBe(3);
  const log: string[] = [];
  let n = 0;
  const sessions = serveDupterm(ls, () => {
    const i = n++;
    return {
      input: (d) => log.push(dec(d)!),
      ended: (why) => {
        log.push(`${i} ${why}`);
        if (i === 0) throw new Error('ended() failed');
      },
    };
  });
  // All three were served right away by serveDupterm itself.
  expect(log).toEqual(['from 0', '0 eof', 'from 1', '1 eof', 'from 2', '2 eof']);
  expect(sessions.size).toBe(0);
  expect(server.sockets.counters.callbackErrors).toBe(1);
  expect(server.sockets.open).toBe(1);
  ls.close();
  await idleAndFinish(pair);
});

// The uasyncio-style event loop (src/socket/uasyncio.ts) on two simulated
// stacks, in virtual time: echo server and client, readexactly, wait_for's
// timeout, awrite spooling past SO_SNDBUF, and seed 003's stories: a
// handler that never closes its socket under a client that probes then
// resets (the loop must not spin, its run queue must not grow), a task that
// always yields (I/O must not starve), run/wait queue overflow (an error).
import { describe, expect, test } from 'vitest';
import { errno, OSError } from '../../src/socket/errors.ts';
import type { SockAddr } from '../../src/socket/socket.ts';
import {
  create_task,
  EOFError,
  type Coro,
  type EventLoop,
  get_event_loop,
  open_connection,
  set_debug,
  sleep,
  sleep_ms,
  start_server,
  type StreamReader,
  type StreamWriter,
  TimeoutError,
  wait_for,
} from '../../src/socket/uasyncio.ts';
import { dec, enc, sockPair, type SockPair } from '../support/sockets.ts';

const PORT = 8080;
const SERVER: SockAddr = ['10.0.0.2', PORT];

function loops(pair: SockPair, opts: { runq?: number; waitq?: number } = {}): { sl: EventLoop; cl: EventLoop } {
  return {
    sl: get_event_loop(pair.server, opts.runq ?? 16, opts.waitq ?? 16, { tickMs: 1, maxIterations: 200_000 }),
    cl: get_event_loop(pair.client, opts.runq ?? 16, opts.waitq ?? 16, { tickMs: 1, maxIterations: 200_000 }),
  };
}

async function stopServer(pair: SockPair, sl: EventLoop, serving: Promise<void>): Promise<void> {
  sl.stop();
  await pair.run(serving);
  sl.close();
}

function* echo(r: StreamReader, w: StreamWriter): Coro<void> {
  for (;;) {
    const line = yield* r.readline();
    if (line.length === 0) break;
    yield* w.awrite(line);
  }
  yield* w.aclose();
}

describe('uasyncio', () => {
  test('echo server and client: readline, awrite with off/sz, peername, aclose; time is virtual', async () => {
    const pair = sockPair();
    const { sl, cl } = loops(pair);
    expect(get_event_loop(pair.server)).toBe(sl); // one loop per stack
    const peers: unknown[] = [];
    function* handler(r: StreamReader, w: StreamWriter): Coro<void> {
      peers.push(w.get_extra_info('peername'));
      yield* echo(r, w);
    }
    sl.create_task(start_server(handler, '0.0.0.0', PORT, 4));
    const serving = sl.run_forever();
    function* client(): Coro<string[]> {
      const [r, w] = yield* open_connection('10.0.0.2', PORT);
      expect(w.get_extra_info('peername')).toEqual(SERVER);
      yield* w.awrite(enc('hello\n'));
      const a = yield* r.readline();
      const buf = enc('xxworld\nyy');
      yield* w.awrite(buf, 2, 3);
      yield* sleep_ms(100);
      yield* w.awrite(buf, 5, 3);
      const b = yield* r.readline();
      yield* w.wait_closed(); // uasyncio v3's spelling; a second close is harmless
      yield* w.aclose();
      return [dec(a)!, dec(b)!];
    }
    const t0 = pair.sim.clock.now();
    expect(await pair.run(cl.run_until_complete(client()))).toEqual(['hello\n', 'world\n']);
    expect(pair.sim.clock.now() - t0).toBeGreaterThanOrEqual(100);
    expect(pair.sim.clock.now() - t0).toBeLessThan(200);
    expect(peers).toEqual([['10.0.0.1', expect.any(Number)]]);
    await pair.advance(100);
    await stopServer(pair, sl, serving);
    await pair.finish();
  });

  test('readexactly collects chunks until n bytes; EOF first raises EOFError', async () => {
    const pair = sockPair();
    const { sl, cl } = loops(pair);
    function* handler(_r: StreamReader, w: StreamWriter): Coro<void> {
      for (const part of ['0123', '456', '789ab']) {
        yield* w.awrite(enc(part));
        yield* sleep(0.05);
      }
      yield* w.aclose();
    }
    sl.create_task(start_server(handler, '0.0.0.0', PORT));
    const serving = sl.run_forever();
    function* client(): Coro<unknown[]> {
      const [r, w] = yield* open_connection('10.0.0.2', PORT);
      const a = dec(yield* r.readexactly(10));
      let err: unknown = null;
      try {
        yield* r.readexactly(5);
      } catch (e) {
        err = e;
      }
      yield* w.aclose();
      return [a, err instanceof EOFError];
    }
    expect(await pair.run(cl.run_until_complete(client()))).toEqual(['0123456789', true]);
    await stopServer(pair, sl, serving);
    await pair.finish();
  });

  test('wait_for: the result in time; TimeoutError (at the virtual deadline) otherwise, and the waited-for task is cancelled', async () => {
    const pair = sockPair();
    const { sl, cl } = loops(pair);
    const held: StreamWriter[] = [];
    function* silent(_r: StreamReader, w: StreamWriter): Coro<void> {
      held.push(w); // answers nothing, closes nothing (the test closes it)
    }
    sl.create_task(start_server(silent, '0.0.0.0', PORT));
    const serving = sl.run_forever();
    let cleanedUp = false;
    function* slowRead(r: StreamReader): Coro<Uint8Array> {
      try {
        return yield* r.read(10);
      } finally {
        cleanedUp = true;
      }
    }
    function* quick(): Coro<string> {
      yield* sleep_ms(10);
      return 'quick';
    }
    function* client(): Coro<unknown[]> {
      const [r, w] = yield* open_connection('10.0.0.2', PORT);
      const ok = yield* wait_for(quick(), 1);
      const t0 = cl.time();
      let err: unknown = null;
      try {
        yield* wait_for(slowRead(r), 0.5);
      } catch (e) {
        err = e;
      }
      const waited = cl.time() - t0;
      yield* sleep_ms(0); // the cancelled task's turn
      yield* w.aclose();
      return [ok, err instanceof TimeoutError, waited];
    }
    expect(await pair.run(cl.run_until_complete(client()))).toEqual(['quick', true, 500]);
    expect(cleanedUp).toBe(true);
    for (const w of held) w.s.close();
    await stopServer(pair, sl, serving);
    await pair.finish();
  });

  test('wait_for that completes early leaves nothing in the wait queue (many in a row with a long timeout do not overflow it)', async () => {
    const pair = sockPair();
    const { cl } = loops(pair, { waitq: 4 });
    function* quick(i: number): Coro<number> {
      yield;
      return i;
    }
    function* many(): Coro<number> {
      let sum = 0;
      for (let i = 0; i < 50; i++) sum += yield* wait_for(quick(i), 3600);
      return sum;
    }
    expect(await pair.run(cl.run_until_complete(many()))).toBe(1225);
    expect(cl.waitqLength).toBe(0);
    await pair.finish();
  });

  test('awrite spools a buffer much larger than SO_SNDBUF: all of it arrives, in order', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 4096 } } });
    const { sl, cl } = loops(pair);
    const N = 100_000;
    const data = new Uint8Array(N);
    for (let i = 0; i < N; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
    let got: Uint8Array | null = null;
    function* sink(r: StreamReader, w: StreamWriter): Coro<void> {
      got = yield* r.readexactly(N);
      yield* w.awrite(enc('ok'));
      yield* w.aclose();
    }
    sl.create_task(start_server(sink, '0.0.0.0', PORT));
    const serving = sl.run_forever();
    function* client(): Coro<string> {
      const [r, w] = yield* open_connection('10.0.0.2', PORT);
      yield* w.awrite(data);
      const ack = yield* r.read(10);
      yield* w.aclose();
      return dec(ack)!;
    }
    expect(await pair.run(cl.run_until_complete(client()))).toBe('ok');
    expect(got).toEqual(data);
    await stopServer(pair, sl, serving);
    await pair.finish();
  });

  test('open_connection to a closed port raises ECONNREFUSED', async () => {
    const pair = sockPair();
    const { cl } = loops(pair);
    function* client(): Coro<unknown> {
      try {
        yield* open_connection('10.0.0.2', 9);
      } catch (e) {
        return e instanceof OSError ? e.errno : e;
      }
      return 0;
    }
    expect(await pair.run(cl.run_until_complete(client()))).toBe(errno.ECONNREFUSED);
    await pair.finish();
  });

  test('seed 003: a handler that never closes its socket, under clients that probe then reset: the loop does not spin and its run queue does not grow', async () => {
    const pair = sockPair();
    const { sl } = loops(pair);
    const held: StreamWriter[] = [];
    let served = 0;
    function* careless(r: StreamReader, w: StreamWriter): Coro<void> {
      held.push(w);
      // Keep-alive HTTP-ish: a request is lines up to an empty one. No
      // error handling and no close: a reset ends the task with ECONNRESET
      // while the socket stays open and registered.
      for (;;) {
        const line = yield* r.readline();
        if (line.length === 0) return;
        if (dec(line) === '\r\n') {
          served++;
          yield* w.awrite(enc('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi'));
        }
      }
    }
    sl.create_task(start_server(careless, '0.0.0.0', PORT));
    const serving = sl.run_forever();
    await pair.advance(10);
    // The probes: request, response, then RST (SO_LINGER 0 + close).
    const PROBES = 5;
    for (let i = 0; i < PROBES; i++) {
      const c = pair.client.socket();
      await pair.run(c.connect(SERVER));
      await pair.run(c.sendall(enc('GET / HTTP/1.0\r\n\r\n')));
      expect(dec(await pair.run(c.read(40)))).toContain('200 OK');
      pair.client.sockets.raw.tcpAbort(c.tcpPcb!);
      c.close();
      await pair.advance(20);
    }
    expect(served).toBe(PROBES);
    expect(sl.lastTaskError).toMatchObject({ errno: errno.ECONNRESET });
    // Ten virtual seconds with nothing to do: a handful of polls, not one per tick.
    const p0 = sl.stats.polls;
    const i0 = sl.stats.iterations;
    await pair.advance(10_000);
    expect(sl.stats.polls - p0).toBeLessThan(10);
    expect(sl.stats.iterations - i0).toBeLessThan(10);
    expect(sl.stats.maxRunq).toBeLessThanOrEqual(2);
    expect(sl.stats.autoUnregistered).toBe(PROBES);
    expect(sl.ioLength).toBe(1); // only the listener
    // The server still serves.
    const c = pair.client.socket();
    await pair.run(c.connect(SERVER));
    await pair.run(c.sendall(enc('GET / HTTP/1.0\r\n\r\n')));
    expect(dec(await pair.run(c.read(40)))).toContain('200 OK');
    c.close();
    await pair.advance(100);
    for (const w of held) w.s.close();
    await stopServer(pair, sl, serving);
    await pair.finish();
  });

  test('a task that always yields does not starve I/O: connections are accepted and served while it runs', async () => {
    const pair = sockPair();
    const { sl } = loops(pair);
    let spins = 0;
    function* busy(): Coro<never> {
      for (;;) {
        spins++;
        yield;
      }
    }
    sl.create_task(busy());
    sl.create_task(start_server(echo, '0.0.0.0', PORT));
    const serving = sl.run_forever();
    await pair.advance(50);
    const c = pair.client.socket();
    const t0 = pair.sim.clock.now();
    await pair.run(c.connect(SERVER));
    await pair.run(c.sendall(enc('ping\n')));
    expect(dec(await pair.run(c.readline()))).toBe('ping\n');
    expect(pair.sim.clock.now() - t0).toBeLessThan(100);
    expect(spins).toBeGreaterThan(50);
    c.close();
    await pair.advance(100);
    await stopServer(pair, sl, serving);
    await pair.finish();
  });

  test('run-queue overflow raises (RangeError), it never grows silently; so does the wait queue', async () => {
    const pair = sockPair();
    const { sl } = loops(pair, { runq: 4, waitq: 2 });
    function* nop(): Coro<void> {}
    for (let i = 0; i < 4; i++) sl.create_task(nop());
    expect(sl.runqLength).toBe(4);
    expect(() => sl.create_task(nop())).toThrow(RangeError);
    expect(sl.runqLength).toBe(4);
    await pair.run(sl.run_forever());
    // From inside a task: create_task raises into it.
    function* spawner(): Coro<number> {
      let n = 0;
      for (;;) {
        create_task(nop());
        n++;
      }
    }
    await expect(pair.run(sl.run_until_complete(spawner()))).rejects.toThrow(RangeError);
    sl.close();
    // Sleepers past waitq_len: the sleep raises.
    function* sleeper(): Coro<void> {
      yield* sleep_ms(100);
    }
    function* many(): Coro<string> {
      create_task(sleeper());
      create_task(sleeper());
      yield* sleep_ms(0);
      try {
        yield* sleep_ms(100);
      } catch (e) {
        return e instanceof RangeError ? 'overflow' : String(e);
      }
      return 'slept';
    }
    expect(await pair.run(sl.run_until_complete(many()))).toBe('overflow');
    await pair.finish();
  });

  test('add_reader/remove_reader call a plain callback per readable poll; run_forever returns when nothing can happen any more', async () => {
    const pair = sockPair();
    const { sl } = loops(pair);
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen(2);
    const got: string[] = [];
    sl.add_reader(ls, () => {
      const [s] = ls.setblocking(false).accept();
      const ns = s.setblocking(false);
      sl.add_reader(ns, () => {
        const d = ns.recv(100);
        if (d.length === 0) {
          sl.remove_reader(ns);
          ns.close();
          sl.remove_reader(ls);
          return;
        }
        got.push(dec(d)!);
      });
    });
    const running = sl.run_forever();
    const c = pair.client.socket();
    await pair.run(c.connect(SERVER));
    await pair.run(c.sendall(enc('one')));
    await pair.advance(50);
    await pair.run(c.sendall(enc('two')));
    await pair.advance(50);
    c.close();
    await pair.run(running); // nothing registered, no task: it returns
    expect(got).toEqual(['one', 'two']);
    expect(sl.ioLength).toBe(0);
    ls.close();
    await pair.finish();
  });

  test('a task created with create_task can be awaited with run_until_complete; module-level create_task uses the running loop', async () => {
    const pair = sockPair();
    const { cl } = loops(pair);
    const order: string[] = [];
    function* child(name: string): Coro<string> {
      yield* sleep_ms(10);
      order.push(name);
      return name;
    }
    function* parent(): Coro<string> {
      const t = create_task(child('b'));
      order.push('a');
      yield* sleep_ms(20);
      return `${t.done ? t.result : '?'}`;
    }
    const t = cl.create_task(parent());
    expect(await pair.run(cl.run_until_complete(t))).toBe('b');
    expect(order).toEqual(['a', 'b']);
    expect(() => create_task(child('x'))).toThrow(/no running event loop/);
    await pair.finish();
  });

  test('set_debug logs what the loop does', async () => {
    const pair = sockPair();
    const lines: string[] = [];
    const sl = get_event_loop(pair.server, 16, 16, { tickMs: 1, log: (l) => lines.push(l) });
    sl.create_task(start_server(echo, '0.0.0.0', PORT));
    set_debug(true);
    try {
      const serving = sl.run_forever();
      const c = pair.client.socket();
      await pair.run(c.connect(SERVER));
      await pair.run(c.sendall(enc('x\n')));
      expect(dec(await pair.run(c.readline()))).toBe('x\n');
      c.close();
      await pair.advance(100);
      await stopServer(pair, sl, serving);
    } finally {
      set_debug(false);
    }
    expect(lines.some((l) => l.startsWith('uasyncio: poll'))).toBe(true);
    await pair.finish();
  });
});

// Poll flags per socket state (ioctl(MP_STREAM_POLL, mask) / pollFlags) and
// the Poller (select.poll()): register/modify/unregister, poll(0), poll(t)
// in virtual time, ipoll with POLL_ONESHOT, MicroPython's HUP/ERR/NVAL
// semantics (reported on every poll while they hold, never unregistered by
// poll itself: seed 003's rule lives in the event loop, uasyncio.test.ts),
// and one poll at a time per poller. Re-creates MicroPython's
// tests/net_hosted connect_poll.py and poll_errors.py.
import { describe, expect, test } from 'vitest';
import { MP_STREAM_POLL, POLL_ONESHOT, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, SO_ERROR, SOL_SOCKET } from '../../src/socket/constants.ts';
import { errno, OSError } from '../../src/socket/errors.ts';
import type { Pollable, PollResult } from '../../src/socket/poller.ts';
import { type BlockingSocket, type SockAddr, SockState } from '../../src/socket/socket.ts';
import { dec, enc, sockPair, type SockPair, syncErrno, done } from '../support/sockets.ts';

const PORT = 8000;
const SERVER: SockAddr = ['10.0.0.2', PORT];
const ALL = POLLIN | POLLOUT;


async function connected(pair: SockPair): Promise<{ ls: BlockingSocket; c: BlockingSocket; s: BlockingSocket }> {
  const ls = pair.server.socket();
  ls.bind(['0.0.0.0', PORT]);
  ls.listen(2);
  const c = pair.client.socket();
  await pair.run(c.connect(SERVER));
  const [s] = await pair.run(ls.accept());
  await pair.advance(50); // the handshake's last ACK and any window update have landed
  return { ls, c, s };
}

async function rejected(pair: SockPair, p: Promise<unknown>): Promise<number> {
  try {
    await pair.run(p);
  } catch (e) {
    if (e instanceof OSError) return e.errno;
    throw e;
  }
  return 0;
}

function track<T>(pair: SockPair, p: Promise<T>): { at: number | null; value?: T; p: Promise<T> } {
  const t: { at: number | null; value?: T; p: Promise<T> } = { at: null, p };
  p.then(
    (v) => {
      t.at = pair.sim.clock.now();
      t.value = v;
    },
    () => {
      t.at = pair.sim.clock.now();
    },
  );
  return t;
}

const flagsOf = (r: PollResult[], obj: Pollable): number | undefined => r.find(([o]) => o === obj)?.[1];

describe('poll flags per state', () => {
  test('NEW: HUP|OUT (also with mask 0: HUP is always reported); ioctl and pollFlags agree', async () => {
    const pair = sockPair();
    const s = pair.client.socket();
    expect(s.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLHUP | POLLOUT);
    expect(s.pollFlags(ALL)).toBe(POLLHUP | POLLOUT);
    expect(s.ioctl(MP_STREAM_POLL, POLLIN)).toBe(POLLHUP);
    expect(s.ioctl(MP_STREAM_POLL, 0)).toBe(POLLHUP);
    // A bound socket is still new.
    s.bind(['0.0.0.0', 0]);
    expect(s.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLHUP | POLLOUT);
    await done(pair, s);
  });

  test('LISTENING: 0 until a connection waits, then IN; 0 again once it is accepted', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    expect(ls.ioctl(MP_STREAM_POLL, ALL)).toBe(0);
    const c = pair.client.socket();
    await pair.run(c.connect(SERVER));
    await pair.advance(10);
    expect(ls.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLIN);
    expect(ls.ioctl(MP_STREAM_POLL, POLLOUT)).toBe(0);
    const [s] = await pair.run(ls.accept());
    expect(ls.ioctl(MP_STREAM_POLL, ALL)).toBe(0);
    await done(pair, c, s, ls);
  });

  test('CONNECTING: 0 (neither readable nor writable, no HUP)', async () => {
    const pair = sockPair({ ab: { loss: 1 } });
    const c = pair.client.socket().setblocking(false);
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EINPROGRESS);
    expect(c.state).toBe(SockState.CONNECTING);
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(0);
    await pair.advance(5000);
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(0);
    await done(pair, c);
  });

  test('CONNECTED: OUT with buffer space, IN with data, each only if asked for', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 4096 } }, server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c, s } = await connected(pair);
    expect(s.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLOUT);
    expect(s.ioctl(MP_STREAM_POLL, POLLIN)).toBe(0);
    expect(s.ioctl(MP_STREAM_POLL, 0)).toBe(0);
    await pair.run(c.send(enc('data')));
    await pair.advance(10);
    expect(s.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLIN | POLLOUT);
    expect(s.ioctl(MP_STREAM_POLL, POLLIN)).toBe(POLLIN);
    expect(s.ioctl(MP_STREAM_POLL, POLLOUT)).toBe(POLLOUT);
    expect(dec(await pair.run(s.recv(10)))).toBe('data');
    expect(s.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLOUT);
    // A full send buffer: not writable.
    await pair.advance(100);
    const nc = c.setblocking(false);
    while (nc.ioctl(MP_STREAM_POLL, POLLOUT) !== 0) nc.send(new Uint8Array(4096));
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(0);
    await done(pair, c, s, ls);
  });

  test('PEER_CLOSED: IN (EOF is readable) and OUT', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    c.close();
    await pair.advance(10);
    expect(s.state).toBe(SockState.PEER_CLOSED);
    expect(s.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLIN | POLLOUT);
    expect(s.ioctl(MP_STREAM_POLL, POLLIN)).toBe(POLLIN);
    expect(s.ioctl(MP_STREAM_POLL, 0)).toBe(0);
    expect(dec(await pair.run(s.recv(10)))).toBe('');
    expect(s.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLIN | POLLOUT); // still: every read returns at once
    await done(pair, s, ls);
  });

  test('ERROR: IN|OUT|HUP, with ERR until the error is reported (SO_ERROR or a call); ERR/HUP also with mask 0', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    pair.server.tcp.abort(s.tcpPcb!);
    await pair.advance(10);
    expect(c.state).toBe(SockState.ERROR);
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLIN | POLLOUT | POLLHUP | POLLERR);
    expect(c.ioctl(MP_STREAM_POLL, 0)).toBe(POLLHUP | POLLERR);
    expect(c.ioctl(MP_STREAM_POLL, POLLIN)).toBe(POLLIN | POLLHUP | POLLERR);
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(errno.ECONNRESET);
    expect(c.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLIN | POLLOUT | POLLHUP);
    expect(c.ioctl(MP_STREAM_POLL, 0)).toBe(POLLHUP);
    // The server's own socket saw its abort.
    expect(s.state).toBe(SockState.ERROR);
    await done(pair, c, s, ls);
  });

  test('CLOSED: NVAL whatever the mask', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    for (const x of [c, s, ls]) {
      x.close();
      expect(x.ioctl(MP_STREAM_POLL, ALL)).toBe(POLLNVAL);
      expect(x.ioctl(MP_STREAM_POLL, 0)).toBe(POLLNVAL);
      expect(x.pollFlags(POLLIN)).toBe(POLLNVAL);
    }
    await done(pair);
  });
});

describe('Poller', () => {
  test('connect_poll.py: a new socket polls HUP|OUT, a connecting one 0, then OUT once connected (at the handshake time)', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const s = pair.client.socket();
    const poller = pair.client.poll();
    poller.register(s);
    const p0 = await pair.run(poller.poll(0));
    expect(p0).toHaveLength(1);
    expect(p0[0]![1] & ALL).toBe(POLLOUT);
    expect(p0[0]![1]).toBe(POLLHUP | POLLOUT);
    // poll never unregisters anything, so MicroPython's connect_poll.py
    // works line for line.
    expect(poller.size).toBe(1);
    const ns = s.setblocking(false);
    expect(syncErrno(() => ns.connect(SERVER))).toBe(errno.EINPROGRESS);
    expect(await pair.run(poller.poll(0))).toEqual([]);
    const t0 = pair.sim.clock.now();
    const p1 = await pair.run(poller.poll(1000));
    expect(pair.sim.clock.now() - t0).toBe(10);
    expect(p1).toEqual([[s, POLLOUT]]);
    const [a] = await pair.run(ls.accept());
    await done(pair, s, a, ls);
  });

  test('poll_errors.py: send on a new socket → ENOTCONN; a connected socket polls OUT, then IN|OUT with data', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const s = pair.client.socket();
    const poller = pair.client.poll();
    poller.register(s);
    expect(await pair.run(poller.poll(0))).toEqual([[s, POLLHUP | POLLOUT]]);
    let err: unknown = null;
    try {
      await pair.run(s.send(enc('123')));
    } catch (e) {
      err = e;
    }
    expect(String(err)).toBe('OSError: [Errno 107] ENOTCONN');
    await pair.run(s.connect(SERVER));
    poller.register(s);
    expect(await pair.run(poller.poll(0))).toEqual([[s, POLLOUT]]);
    const [a] = await pair.run(ls.accept());
    await pair.run(a.send(enc('1234')));
    await pair.advance(10);
    expect(await pair.run(poller.poll(0))).toEqual([[s, POLLIN | POLLOUT]]);
    expect(dec(await pair.run(s.recv(10)))).toBe('1234');
    expect(await pair.run(poller.poll(0))).toEqual([[s, POLLOUT]]);
    await done(pair, s, a, ls);
  });

  test('register uses IN|OUT by default; registering again changes the mask; modify; unregister', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    await pair.run(c.send(enc('x')));
    await pair.advance(10);
    const poller = pair.server.poll();
    poller.register(s);
    expect(poller.size).toBe(1);
    expect(await pair.run(poller.poll(0))).toEqual([[s, POLLIN | POLLOUT]]);
    poller.register(s, POLLIN);
    expect(poller.size).toBe(1);
    expect(await pair.run(poller.poll(0))).toEqual([[s, POLLIN]]);
    poller.modify(s, POLLOUT);
    expect(await pair.run(poller.poll(0))).toEqual([[s, POLLOUT]]);
    poller.modify(s, 0);
    expect(await pair.run(poller.poll(0))).toEqual([]);
    poller.unregister(s);
    expect(poller.size).toBe(0);
    expect(await pair.run(poller.poll(0))).toEqual([]);
    poller.unregister(s); // unknown: ignored
    expect(syncErrno(() => poller.modify(s, POLLIN))).toBe(errno.ENOENT);
    expect(syncErrno(() => poller.modify(c, POLLIN))).toBe(errno.ENOENT);
    await done(pair, c, s, ls);
  });

  test('poll(0) returns at once; poll(t) with nothing ready returns [] after exactly t ms', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const poller = pair.server.poll();
    poller.register(s, POLLIN);
    const t0 = pair.sim.clock.now();
    expect(await pair.run(poller.poll(0))).toEqual([]);
    expect(pair.sim.clock.now()).toBe(t0);
    expect(await pair.run(poller.poll(250))).toEqual([]);
    expect(pair.sim.clock.now() - t0).toBe(250);
    // An empty poller times out the same way.
    const empty = pair.server.poll();
    const t1 = pair.sim.clock.now();
    expect(await pair.run(empty.poll(1000))).toEqual([]);
    expect(pair.sim.clock.now() - t1).toBe(1000);
    await done(pair, c, s, ls);
  });

  test('poll(t) and poll(-1) resolve at the virtual time of the event', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const poller = pair.server.poll();
    poller.register(s, POLLIN);
    const t0 = pair.sim.clock.now();
    const w = track(pair, poller.poll(5000));
    await pair.advance(300);
    expect(w.at).toBeNull();
    await pair.run(c.send(enc('wake')));
    await pair.run(w.p);
    expect(w.at).toBe(t0 + 305);
    expect(w.value).toEqual([[s, POLLIN]]);
    expect(dec(await pair.run(s.recv(10)))).toBe('wake');
    // Forever: EOF wakes it.
    const f = track(pair, poller.poll(-1));
    await pair.advance(10_000);
    expect(f.at).toBeNull();
    const t1 = pair.sim.clock.now();
    c.close();
    await pair.run(f.p);
    expect(f.at).toBe(t1 + 5);
    expect(f.value).toEqual([[s, POLLIN]]);
    await done(pair, s, ls);
  });

  test('poll reports only the ready objects among several; a listener wakes with IN when a connection arrives', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const c2 = pair.client.socket();
    const poller = pair.server.poll();
    poller.register(ls, POLLIN);
    poller.register(s, POLLIN);
    const t0 = pair.sim.clock.now();
    const w = track(pair, poller.poll(-1));
    const nc2 = c2.setblocking(false);
    expect(syncErrno(() => nc2.connect(SERVER))).toBe(errno.EINPROGRESS);
    await pair.run(w.p);
    expect(w.at).toBe(t0 + 15); // SYN, SYN-ACK, ACK
    expect(w.value).toEqual([[ls, POLLIN]]);
    const [s2] = await pair.run(ls.accept());
    await pair.run(c.send(enc('a')));
    await pair.advance(10);
    const r = await pair.run(poller.poll(0));
    expect(r).toEqual([[s, POLLIN]]);
    await done(pair, c, c2, s, s2, ls);
  });

  test('ipoll with POLL_ONESHOT clears the mask of what it reported; modify re-arms it', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    await pair.run(c.send(enc('x')));
    await pair.advance(10);
    const poller = pair.server.poll();
    poller.register(s, POLLIN);
    const it = await pair.run(poller.ipoll(0, POLL_ONESHOT));
    expect([...it]).toEqual([[s, POLLIN]]);
    expect(poller.size).toBe(1);
    // The data is still there, but the object is not reported again.
    expect(await pair.run(poller.poll(0))).toEqual([]);
    const t0 = pair.sim.clock.now();
    expect([...(await pair.run(poller.ipoll(100, POLL_ONESHOT)))]).toEqual([]);
    expect(pair.sim.clock.now() - t0).toBe(100);
    poller.modify(s, POLLIN);
    expect([...(await pair.run(poller.ipoll(0)))]).toEqual([[s, POLLIN]]);
    // Without POLL_ONESHOT the mask stays.
    expect([...(await pair.run(poller.ipoll(0)))]).toEqual([[s, POLLIN]]);
    await done(pair, c, s, ls);
  });

  test('HUP/ERR are reported on every poll while they hold; poll never unregisters (MicroPython moduselect)', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const other = pair.client.socket();
    const poller = pair.client.poll();
    poller.register(c, POLLIN);
    const t0 = pair.sim.clock.now();
    const w = track(pair, poller.poll(-1));
    pair.server.tcp.abort(s.tcpPcb!);
    await pair.run(w.p);
    expect(w.at).toBe(t0 + 5);
    expect(w.value).toEqual([[c, POLLIN | POLLHUP | POLLERR]]);
    expect(poller.size).toBe(1);
    // The application ignores the error and never closes `c`: every poll
    // reports it again, at once (a blocking poll does not wait).
    for (let i = 0; i < 5; i++) expect(await pair.run(poller.poll(0))).toEqual([[c, POLLIN | POLLHUP | POLLERR]]);
    const t1 = pair.sim.clock.now();
    expect(await pair.run(poller.poll(200))).toEqual([[c, POLLIN | POLLHUP | POLLERR]]);
    expect(pair.sim.clock.now()).toBe(t1);
    // Once the error is reported (SO_ERROR), ERR goes; HUP stays, also with mask 0 and after POLL_ONESHOT.
    expect(c.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(errno.ECONNRESET);
    expect(await pair.run(poller.poll(0))).toEqual([[c, POLLIN | POLLHUP]]);
    poller.modify(c, 0);
    expect(await pair.run(poller.poll(-1))).toEqual([[c, POLLHUP]]);
    poller.modify(c, POLLIN);
    expect([...(await pair.run(poller.ipoll(0, POLL_ONESHOT)))]).toEqual([[c, POLLIN | POLLHUP]]);
    expect([...(await pair.run(poller.ipoll(0, POLL_ONESHOT)))]).toEqual([[c, POLLHUP]]);
    expect(poller.size).toBe(1);
    // Only unregister() (or the application's loop) drops it.
    poller.unregister(c);
    expect(await pair.run(poller.poll(0))).toEqual([]);
    await done(pair, c, s, ls, other);
  });

  test('other objects keep being reported next to a closed one (NVAL, every time)', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const dead = pair.client.socket();
    dead.close();
    const poller = pair.client.poll();
    poller.register(dead);
    poller.register(c, POLLOUT);
    for (let i = 0; i < 3; i++) {
      const r = await pair.run(poller.poll(0));
      expect(flagsOf(r, dead)).toBe(POLLNVAL);
      expect(flagsOf(r, c)).toBe(POLLOUT);
    }
    expect(poller.size).toBe(2);
    await done(pair, c, s, ls);
  });

  test('a closed socket is reported with NVAL on every poll and stays registered; closing wakes a waiting poll', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const poller = pair.server.poll();
    poller.register(s, POLLIN);
    const t0 = pair.sim.clock.now();
    const w = track(pair, poller.poll(-1));
    await pair.advance(100);
    expect(w.at).toBeNull();
    s.close();
    await pair.run(w.p);
    expect(w.at).toBe(t0 + 100);
    expect(w.value).toEqual([[s, POLLNVAL]]);
    expect(poller.size).toBe(1);
    expect(await pair.run(poller.poll(-1))).toEqual([[s, POLLNVAL]]);
    // Whatever the mask.
    poller.register(s, 0);
    expect(await pair.run(poller.poll(-1))).toEqual([[s, POLLNVAL]]);
    poller.unregister(s);
    expect(poller.size).toBe(0);
    await done(pair, c, ls);
  });

  test('a second poll on the same poller while one waits → EALREADY; afterwards polling works again', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const poller = pair.server.poll();
    poller.register(s, POLLIN);
    const first = track(pair, poller.poll(1000));
    expect(await rejected(pair, poller.poll(0))).toBe(errno.EALREADY);
    expect(await rejected(pair, poller.ipoll(0))).toBe(errno.EALREADY);
    await pair.run(first.p);
    expect(first.value).toEqual([]);
    // A poll that returns at once does not count as waiting.
    expect(await pair.run(poller.poll(0))).toEqual([]);
    await pair.run(c.send(enc('z')));
    await pair.advance(10);
    expect(await pair.run(poller.poll(-1))).toEqual([[s, POLLIN]]);
    // Another poller on the same socket is independent.
    const other = pair.server.poll();
    other.register(s, POLLIN);
    expect(await pair.run(other.poll(0))).toEqual([[s, POLLIN]]);
    await done(pair, c, s, ls);
  });

  test('unregister while a poll waits: that object no longer wakes it', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const poller = pair.server.poll();
    poller.register(s, POLLIN);
    const t0 = pair.sim.clock.now();
    const w = track(pair, poller.poll(500));
    poller.unregister(s);
    await pair.run(c.send(enc('ignored')));
    await pair.run(w.p);
    expect(w.at).toBe(t0 + 500);
    expect(w.value).toEqual([]);
    await done(pair, c, s, ls);
  });

  test('modify while a poll waits takes effect at once', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const poller = pair.server.poll();
    poller.register(s, 0);
    const t0 = pair.sim.clock.now();
    const w = track(pair, poller.poll(500));
    await pair.advance(100);
    poller.modify(s, POLLOUT);
    await pair.run(w.p);
    expect(w.at).toBe(t0 + 100);
    expect(w.value).toEqual([[s, POLLOUT]]);
    await done(pair, c, s, ls);
  });

  test('poll wakes when send-buffer space comes back (OUT), at the time of the ACK', async () => {
    const pair = sockPair({ client: { tcp: { sndBuf: 4096 } }, server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    // Fill the peer's window (it does not read) and then our send buffer.
    for (;;) {
      await pair.advance(200);
      if (c.ioctl(MP_STREAM_POLL, POLLOUT) === 0) break;
      c.send(new Uint8Array(4096));
    }
    const poller = pair.client.poll();
    poller.register(c, POLLOUT);
    const w = track(pair, poller.poll(-1));
    await pair.advance(2000);
    expect(w.at).toBeNull();
    const tRead = pair.sim.clock.now();
    expect(s.setblocking(false).read(100_000)?.length).toBeGreaterThan(0);
    await pair.run(w.p);
    expect(w.at!).toBeGreaterThan(tRead);
    expect(w.value).toEqual([[c, POLLOUT]]);
    await done(pair, c, s, ls);
  });
});

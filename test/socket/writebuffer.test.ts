// setwritebuffer(cap): the seeds' "terminal" asymmetry (seeds 001/002, as
// WebREPL needs): with setblocking(false) reads return only what is
// available, while write/send/sendall accept everything at once. What the
// TCP send buffer cannot take is held (bounded by the cap: beyond it
// ENOBUFS, and nothing is taken) and flushed as ACKs make room; the peer
// gets every byte in order, and close() still delivers what is held before
// the FIN.
import { describe, expect, test } from 'vitest';
import { MP_STREAM_POLL, POLLIN, POLLOUT } from '../../src/socket/constants.ts';
import { errno, OSError } from '../../src/socket/errors.ts';
import { type BlockingSocket, type SockAddr, type Socket, SockState } from '../../src/socket/socket.ts';
import type { LinkSpec } from '../../src/sim/link.ts';
import type { StackOptions } from '../../src/stack/stack.ts';
import { dec, enc, sockPair, type SockPair, syncErrno, now, sha, pattern, done } from '../support/sockets.ts';

const PORT = 8000;
const SERVER: SockAddr = ['10.0.0.2', PORT];
const SNDBUF = 8192;

function pairFor(o: { server?: StackOptions; client?: StackOptions; link?: LinkSpec; seed?: number } = {}): SockPair {
  return sockPair({
    client: { tcp: { sndBuf: SNDBUF }, ...o.client },
    server: { tcp: { rcvWnd: 16_384 }, ...o.server },
    ...(o.link ? { link: o.link } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  });
}

/** The server listens; the client (the "terminal" side) connects; returns both ends. */
async function connected(pair: SockPair): Promise<{ ls: BlockingSocket; c: BlockingSocket; s: BlockingSocket }> {
  const ls = pair.server.socket();
  ls.bind(['0.0.0.0', PORT]);
  ls.listen(2);
  const c = pair.client.socket();
  await pair.run(c.connect(SERVER));
  const [s] = await pair.run(ls.accept());
  await pair.advance(50);
  return { ls, c, s };
}

/** Blocking read of everything until EOF on `s` (run inside the simulator). */
async function readAll(pair: SockPair, s: Socket): Promise<Uint8Array> {
  return pair.run(s.setblocking(true).read());
}

describe('setwritebuffer', () => {
  test('write/send/sendall accept everything at once (full length) beyond the send buffer; the peer gets every byte in order', async () => {
    const pair = pairFor();
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(1 << 20);
    const a = pattern(50_000, 1);
    const b = pattern(30_000, 2);
    const d = pattern(20_001, 3);
    expect(now(c.write(a))).toBe(a.length);
    expect(c.writeBuffered).toBe(a.length - SNDBUF);
    expect(now(c.send(b))).toBe(b.length);
    expect(now(c.sendall(d))).toBeUndefined();
    expect(c.writeBuffered).toBe(a.length + b.length + d.length - SNDBUF);
    const sent = Buffer.concat([a, b, d]);
    c.close();
    const got = await readAll(pair, s);
    expect(got.length).toBe(sent.length);
    expect(sha(got)).toBe(sha(sent));
    await done(pair, s, ls);
  });

  test('a large terminal write is flushed as the peer reads; the peer sees all bytes (sha256) and the held amount drops to 0', async () => {
    const pair = pairFor({ link: { latencyMs: 5, bitsPerSecond: 4_000_000 } });
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(256 * 1024);
    const data = pattern(200_000, 9);
    expect(now(c.write(data))).toBe(data.length);
    expect(c.writeBuffered).toBe(data.length - SNDBUF);
    const history: number[] = [];
    const reader = (async (): Promise<Uint8Array> => {
      const got: Uint8Array[] = [];
      let n = 0;
      while (n < data.length) {
        const b = await s.recv(4096);
        got.push(b);
        n += b.length;
        history.push(c.writeBuffered);
      }
      return Buffer.concat(got);
    })();
    const got = await pair.run(reader);
    expect(sha(got)).toBe(sha(data));
    expect(c.writeBuffered).toBe(0);
    for (let i = 1; i < history.length; i++) expect(history[i]!).toBeLessThanOrEqual(history[i - 1]!);
    await done(pair, c, s, ls);
  });

  test('reads stay non-blocking (only what is available) while writes take everything', async () => {
    const pair = pairFor();
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(64 * 1024);
    expect(syncErrno(() => c.recv(10))).toBe(errno.EAGAIN);
    expect(now(c.read(10))).toBeNull();
    expect(now(c.readline())).toBeNull();
    const out = pattern(40_000, 4);
    expect(now(c.write(out))).toBe(out.length);
    await pair.run(s.send(enc('input line\npartial')));
    await pair.advance(10);
    expect(dec(now(c.readline()))).toBe('input line\n');
    expect(dec(now(c.read(100)))).toBe('partial');
    expect(now(c.read(100))).toBeNull();
    const got = await pair.run(s.read(out.length));
    expect(sha(got)).toBe(sha(out));
    await done(pair, c, s, ls);
  });

  test('ENOBUFS beyond the cap: nothing is taken, the counter counts it, smaller writes still fit; the peer gets exactly the accepted bytes', async () => {
    const pair = pairFor();
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    const CAP = 10_000;
    c.setwritebuffer(CAP);
    const raw = pair.client.sockets.raw;
    const accepted: Uint8Array[] = [];
    // What the send buffer takes directly does not count against the cap.
    const first = pattern(SNDBUF + CAP, 1);
    expect(now(c.write(first))).toBe(first.length);
    accepted.push(first);
    expect(c.writeBuffered).toBe(CAP);
    expect(raw.tcpSndbuf(c.tcpPcb!)).toBe(0);
    // Full: even one byte is refused, by every writing method.
    const before = pair.client.sockets.counters.writeBufferOverflows;
    let err: unknown = null;
    try {
      c.write(enc('x'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OSError);
    expect((err as OSError).errno).toBe(errno.ENOBUFS);
    expect((err as OSError).message).toMatch(/^\[Errno 105\] ENOBUFS/);
    expect(syncErrno(() => c.send(enc('x')))).toBe(errno.ENOBUFS);
    expect(syncErrno(() => c.sendall(enc('x')))).toBe(errno.ENOBUFS);
    expect(pair.client.sockets.counters.writeBufferOverflows - before).toBe(3);
    expect(c.writeBuffered).toBe(CAP);
    expect(c.ioctl(MP_STREAM_POLL, POLLOUT)).toBe(0);
    // Some room comes back as the peer acknowledges: a write that fits is taken,
    // one that does not is refused whole.
    await pair.advance(100);
    const room = CAP - c.writeBuffered;
    expect(room).toBeGreaterThan(0);
    expect(c.ioctl(MP_STREAM_POLL, POLLOUT)).toBe(POLLOUT);
    const held = c.writeBuffered;
    const sndbuf = raw.tcpSndbuf(c.tcpPcb!);
    expect(syncErrno(() => c.write(pattern(room + sndbuf + 1, 2)))).toBe(errno.ENOBUFS);
    expect(c.writeBuffered).toBe(held);
    expect(raw.tcpSndbuf(c.tcpPcb!)).toBe(sndbuf);
    const small = pattern(Math.min(room, 1000), 3);
    expect(now(c.write(small))).toBe(small.length);
    accepted.push(small);
    c.close();
    const got = await readAll(pair, s);
    expect(sha(got)).toBe(sha(Buffer.concat(accepted)));
    await done(pair, s, ls);
  });

  test('memory stays bounded: a writer faster than the link never holds more than the cap; the peer gets exactly what was accepted', async () => {
    const pair = pairFor({ link: { latencyMs: 10, bitsPerSecond: 1_000_000 }, seed: 3 });
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    const CAP = 32 * 1024;
    c.setwritebuffer(CAP);
    const accepted: Uint8Array[] = [];
    let refused = 0;
    let maxHeld = 0;
    // 2000 bytes every 5 ms = 3.2 Mbit/s into a 1 Mbit/s link, for 2 s.
    for (let i = 0; i < 400; i++) {
      const chunk = pattern(2000, i + 1);
      try {
        expect(now(c.write(chunk))).toBe(chunk.length);
        accepted.push(chunk);
      } catch (e) {
        expect((e as OSError).errno).toBe(errno.ENOBUFS);
        refused++;
      }
      maxHeld = Math.max(maxHeld, c.writeBuffered);
      expect(c.writeBuffered).toBeLessThanOrEqual(CAP);
      await pair.advance(5);
    }
    expect(refused).toBeGreaterThan(0);
    expect(maxHeld).toBeGreaterThan(CAP - 2000);
    expect(pair.client.sockets.counters.writeBufferOverflows).toBe(refused);
    c.close();
    const got = await readAll(pair, s);
    expect(got.length).toBe(accepted.length * 2000);
    expect(sha(got)).toBe(sha(Buffer.concat(accepted)));
    await done(pair, s, ls);
  });

  test('close() with data held still delivers all of it before the FIN', async () => {
    const pair = pairFor({ link: { latencyMs: 5, loss: 0.03 }, seed: 5 });
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(1 << 20);
    const data = pattern(300_000, 8);
    expect(now(c.write(data))).toBe(data.length);
    expect(c.writeBuffered).toBeGreaterThan(0);
    c.close();
    expect(c.state).toBe(SockState.CLOSED);
    expect(syncErrno(() => c.write(enc('x')))).toBe(errno.EBADF);
    const got = await readAll(pair, s);
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
    expect(s.state).toBe(SockState.PEER_CLOSED);
    expect(pair.client.sockets.counters.closeTimeouts).toBe(0);
    await done(pair, s, ls);
  });

  test('close() with data held still delivers all of it when the peer half-closes first (its FIN must not end our sending)', async () => {
    const pair = pairFor({ server: { tcp: { rcvWnd: 8192 } } });
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(1 << 20);
    const data = pattern(120_000, 12);
    expect(now(c.write(data))).toBe(data.length);
    c.close();
    // The peer ends its direction (shutdown(SHUT_WR), as `nc -N` does) but keeps reading.
    pair.server.sockets.raw.tcpShutdown(s.tcpPcb!, false, true);
    const got = await readAll(pair, s);
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
    await done(pair, s, ls);
  });

  test('close() with data held: a FIN from the peer arriving while the data drains does not cut it short', async () => {
    const pair = pairFor({ server: { tcp: { rcvWnd: 8192 } } });
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(1 << 20);
    const data = pattern(120_000, 13);
    expect(now(c.write(data))).toBe(data.length);
    c.close();
    s.setblocking(true);
    const first = await pair.run(s.read(20_000));
    pair.server.sockets.raw.tcpShutdown(s.tcpPcb!, false, true);
    const rest = await pair.run(s.read());
    expect(sha(Buffer.concat([first, rest]))).toBe(sha(data));
    await done(pair, s, ls);
  });

  test('close() with data held and a peer that never reads: aborted after closeTimeoutMs without progress, nothing leaks', async () => {
    const pair = pairFor({ client: { tcp: { sndBuf: SNDBUF }, socket: { closeTimeoutMs: 3000 } }, server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(1 << 20);
    expect(now(c.write(pattern(100_000)))).toBe(100_000);
    c.close();
    await pair.advance(30_000);
    expect(pair.client.sockets.counters.closeTimeouts).toBe(1);
    expect(pair.client.tcp.pcbCount).toBe(0);
    expect(s.state).toBe(SockState.ERROR); // the abort's RST
    await done(pair, s, ls);
  });

  test('a peer reset drops the held data; the next write reports ECONNRESET', async () => {
    const pair = pairFor({ server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(1 << 20);
    expect(now(c.write(pattern(50_000)))).toBe(50_000);
    await pair.advance(100);
    expect(c.writeBuffered).toBeGreaterThan(0);
    pair.server.tcp.abort(s.tcpPcb!);
    await pair.advance(20);
    expect(c.state).toBe(SockState.ERROR);
    expect(c.writeBuffered).toBe(0);
    expect(syncErrno(() => c.write(enc('x')))).toBe(errno.ECONNRESET);
    expect(syncErrno(() => c.write(enc('x')))).toBe(errno.ENOTCONN);
    await done(pair, c, s, ls);
  });

  test('writes while connecting are held and sent once connected', async () => {
    const pair = pairFor();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = pair.client.socket().setblocking(false);
    c.setwritebuffer(64 * 1024);
    expect(syncErrno(() => c.connect(SERVER))).toBe(errno.EINPROGRESS);
    const data = pattern(20_000, 6);
    expect(now(c.write(data))).toBe(data.length);
    expect(c.writeBuffered).toBe(data.length);
    const [s] = await pair.run(ls.accept());
    c.close();
    const got = await readAll(pair, s);
    expect(sha(got)).toBe(sha(data));
    await done(pair, s, ls);
  });

  test('in blocking mode the writes also complete at once (no waiting for the peer)', async () => {
    const pair = pairFor({ server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c, s } = await connected(pair);
    c.setwritebuffer(1 << 20);
    const t0 = pair.sim.clock.now();
    expect(await pair.run(c.write(pattern(100_000)))).toBe(100_000);
    await pair.run(c.sendall(pattern(10_000, 2)));
    expect(pair.sim.clock.now()).toBe(t0);
    const got = await pair.run(s.read(110_000));
    expect(sha(got)).toBe(sha(Buffer.concat([pattern(100_000), pattern(10_000, 2)])));
    await done(pair, c, s, ls);
  });

  test('poll: OUT while below the cap, not at it; IN still follows the data', async () => {
    const pair = pairFor();
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(4000);
    expect(c.ioctl(MP_STREAM_POLL, POLLIN | POLLOUT)).toBe(POLLOUT);
    expect(now(c.write(pattern(SNDBUF + 4000)))).toBe(SNDBUF + 4000);
    expect(c.ioctl(MP_STREAM_POLL, POLLIN | POLLOUT)).toBe(0);
    await pair.run(s.send(enc('hi')));
    await pair.advance(10);
    expect(c.ioctl(MP_STREAM_POLL, POLLIN) & POLLIN).toBe(POLLIN);
    const got = await pair.run(s.read(SNDBUF + 4000));
    expect(got.length).toBe(SNDBUF + 4000);
    await pair.advance(100);
    expect(c.ioctl(MP_STREAM_POLL, POLLIN | POLLOUT)).toBe(POLLIN | POLLOUT);
    await done(pair, c, s, ls);
  });

  test('setwritebuffer(0) turns it off (back to EAGAIN / short writes); a bad cap → EINVAL', async () => {
    const pair = pairFor({ server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    expect(syncErrno(() => c.setwritebuffer(-1))).toBe(errno.EINVAL);
    expect(syncErrno(() => c.setwritebuffer(1.5))).toBe(errno.EINVAL);
    c.setwritebuffer(0);
    expect(now(c.write(pattern(20_000)))).toBe(SNDBUF);
    expect(syncErrno(() => c.send(enc('x')))).toBe(errno.EAGAIN);
    const got = await pair.run(s.read(SNDBUF));
    expect(sha(got)).toBe(sha(pattern(20_000).subarray(0, SNDBUF)));
    await done(pair, c, s, ls);
  });

  test('order is kept when the send buffer has room again while data is still held', async () => {
    const pair = pairFor();
    const { ls, c: bc, s } = await connected(pair);
    const c = bc.setblocking(false);
    c.setwritebuffer(1 << 20);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const p = pattern(1000 + 37 * i, i + 10);
      expect(now(c.write(p))).toBe(p.length);
      parts.push(p);
      await pair.advance(3); // ACKs arrive in between: room in the send buffer while data is held
    }
    c.close();
    const got = await readAll(pair, s);
    expect(sha(got)).toBe(sha(Buffer.concat(parts)));
    await done(pair, s, ls);
  });
});

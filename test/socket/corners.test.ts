// Socket corners (issue 15 part 3), in their MicroPython form where one
// applies: recv flags (MSG_PEEK, MSG_DONTWAIT), stream write(buf, off, sz),
// SO_LINGER, SO_SNDBUF / SO_RCVBUF, argument checks that never lose data,
// and a directed broadcast on a stack with two netifs. Every test ends
// with the pbuf pool empty.
import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import { PbufLayer, PbufType } from '../../src/pbuf/index.ts';
import { TcpState } from '../../src/pcb/state.ts';
import { MSG_DONTWAIT, MSG_PEEK, SO_LINGER, SO_RCVBUF, SO_SNDBUF, SOCK_DGRAM, SOL_SOCKET, AF_INET } from '../../src/socket/constants.ts';
import { errno, OSError } from '../../src/socket/errors.ts';
import type { BlockingSocket } from '../../src/socket/socket.ts';
import { Stack } from '../../src/stack/stack.ts';
import { udpPacket } from '../udp/helpers.ts';
import { dec, enc, sockPair, type SockPair, errnoOf } from '../support/sockets.ts';

const PORT = 8100;

async function connected(pair: SockPair, opts: { before?: (c: BlockingSocket, ls: BlockingSocket) => void } = {}): Promise<{ ls: BlockingSocket; c: BlockingSocket; s: BlockingSocket }> {
  const ls = pair.server.socket();
  ls.bind(['0.0.0.0', PORT]);
  const c = pair.client.socket();
  opts.before?.(c, ls);
  ls.listen(2);
  await pair.run(c.connect(['10.0.0.2', PORT]));
  const [s] = await pair.run(ls.accept());
  return { ls, c, s };
}

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

describe('recv flags', () => {
  test('TCP MSG_PEEK: two peeks return the same bytes, then recv returns them', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    await pair.run(c.sendall(enc('hello world')));
    await pair.advance(50);
    expect(dec(await pair.run(s.recv(5, MSG_PEEK)))).toBe('hello');
    expect(dec(await pair.run(s.recv(5, MSG_PEEK)))).toBe('hello');
    expect(s.pending).toBe(11);
    const [d, from] = await pair.run(s.recvfrom(100, MSG_PEEK));
    expect(dec(d)).toBe('hello world');
    expect(from).toEqual(['10.0.0.1', c.getsockname()[1]]);
    const buf = new Uint8Array(3);
    expect(await pair.run(s.recvInto(buf, 3, MSG_PEEK))).toBe(3);
    expect(dec(buf)).toBe('hel');
    expect(dec(await pair.run(s.recv(100)))).toBe('hello world');
    expect(s.pending).toBe(0);
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });

  test('TCP MSG_DONTWAIT on a blocking socket: EAGAIN at once when nothing is there, data when it is', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const p = s.recv(10, MSG_DONTWAIT);
    expect(p).toBeInstanceOf(Promise);
    expect(await errnoOf(pair, () => p)).toBe(errno.EAGAIN);
    expect(s.gettimeout()).toBeNull(); // still blocking
    await pair.run(c.sendall(enc('abc')));
    await pair.advance(50);
    expect(dec(await s.recv(10, MSG_DONTWAIT | MSG_PEEK))).toBe('abc');
    expect(dec(await s.recv(10, MSG_DONTWAIT))).toBe('abc');
    // Non-blocking socket: flags change nothing about the mode.
    const nb = s.setblocking(false);
    expect(() => nb.recv(10, MSG_DONTWAIT)).toThrow(OSError);
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });

  test('unknown recv flags are EOPNOTSUPP, a non-integer is a TypeError', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    expect(() => s.recv(1, 0x1)).toThrow(OSError);
    expect(() => s.recv(1, 'x' as unknown as number)).toThrow(TypeError);
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });

  test('UDP MSG_PEEK leaves the datagram; MSG_DONTWAIT on a blocking socket', async () => {
    const pair = sockPair();
    const a = pair.server.socket(AF_INET, SOCK_DGRAM);
    a.bind(['0.0.0.0', 9000]);
    const b = pair.client.socket(AF_INET, SOCK_DGRAM);
    expect(await errnoOf(pair, () => a.recv(10, MSG_DONTWAIT))).toBe(errno.EAGAIN);
    b.sendto(enc('datagram'), ['10.0.0.2', 9000]);
    await pair.advance(50);
    expect(dec(await pair.run(a.recv(4, MSG_PEEK)))).toBe('data');
    const [d, from] = await pair.run(a.recvfrom(100, MSG_PEEK));
    expect(dec(d)).toBe('datagram');
    expect(from[0]).toBe('10.0.0.1');
    expect(a.pending).toBe(1);
    expect(dec(await pair.run(a.recv(100, MSG_DONTWAIT)))).toBe('datagram');
    expect(a.pending).toBe(0);
    expect(await errnoOf(pair, () => a.recvfrom(10, MSG_DONTWAIT))).toBe(errno.EAGAIN);
    a.close();
    b.close();
    await pair.finish();
  });
});

describe('argument checks never lose data', () => {
  test('readinto, recv, recv_into, send, write with bad arguments raise and leave the data queued', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    await pair.run(c.sendall(enc('keep me')));
    await pair.advance(50);
    expect(() => s.readinto('not a buffer' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => s.readinto(new Uint8Array(4), -1)).toThrow(RangeError);
    expect(() => s.recv(-1)).toThrow(RangeError);
    expect(() => s.recv('3' as unknown as number)).toThrow(TypeError);
    expect(() => s.recvInto([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => s.send(123 as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => s.sendall('text' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => s.write(null as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => s.write(enc('x'), -1)).toThrow(RangeError);
    expect(s.pending).toBe(7);
    const buf = new Uint8Array(7);
    expect(await pair.run(s.readinto(buf))).toBe(7);
    expect(dec(buf)).toBe('keep me');
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });

  test('UDP recv(-1) and sendto(123) raise and leave the datagram', async () => {
    const pair = sockPair();
    const a = pair.server.socket(AF_INET, SOCK_DGRAM);
    a.bind(['0.0.0.0', 9001]);
    const b = pair.client.socket(AF_INET, SOCK_DGRAM);
    b.sendto(enc('one'), ['10.0.0.2', 9001]);
    await pair.advance(50);
    expect(() => a.recv(-1)).toThrow(RangeError);
    expect(() => a.recvfrom(1.5)).toThrow(TypeError);
    expect(() => b.sendto(123 as unknown as Uint8Array, ['10.0.0.2', 9001])).toThrow(TypeError);
    expect(a.pending).toBe(1);
    expect(dec(await pair.run(a.recv(10)))).toBe('one');
    // write(buf, off, max_len) on a connected datagram socket sends that slice.
    b.connect(['10.0.0.2', 9001]);
    expect(b.write(enc('0123456789'), 2, 3)).toBe(3);
    await pair.advance(50);
    expect(dec(await pair.run(a.recv(10)))).toBe('234');
    a.close();
    b.close();
    await pair.finish();
  });
});

describe('write(buf, off, sz)', () => {
  test('MicroPython stream forms: write(buf, max_len) and write(buf, off, max_len)', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const msg = enc('0123456789');
    expect(await pair.run(c.write(msg, 3))).toBe(3);
    expect(await pair.run(c.write(msg, 5, 2))).toBe(2);
    expect(await pair.run(c.write(msg, 8, 100))).toBe(2);
    expect(await pair.run(c.write(msg, 20, 5))).toBe(0);
    await pair.advance(50);
    expect(dec(await pair.run(s.read(7)))).toBe('0125689');
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });
});

describe('SO_SNDBUF / SO_RCVBUF', () => {
  test('a small SO_SNDBUF limits what is queued, and sendall of a large buffer still completes', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    c.setsockopt(SOL_SOCKET, SO_SNDBUF, 2000);
    expect(c.getsockopt(SOL_SOCKET, SO_SNDBUF)).toBe(2000);
    expect(c.tcpPcb!.sndBuf).toBe(2000);
    const data = pattern(100_000);
    const got: Uint8Array[] = [];
    let total = 0;
    const reader = (async () => {
      while (total < data.length) {
        const b = await s.recv(65536);
        if (b.length === 0) break;
        got.push(b);
        total += b.length;
      }
    })();
    const sending = c.sendall(data);
    // Never more than SO_SNDBUF queued.
    await pair.advance(1);
    expect(c.tcpPcb!.sndBuf).toBeGreaterThanOrEqual(0);
    expect(pair.client.tcp.sendSpace(c.tcpPcb!)).toBeLessThanOrEqual(2000);
    await pair.run(sending);
    await pair.run(reader);
    const all = new Uint8Array(total);
    let off = 0;
    for (const g of got) {
      all.set(g, off);
      off += g.length;
    }
    expect(all).toEqual(data);
    // Values below the minimum are raised to it; non-positive ones are EINVAL.
    c.setsockopt(SOL_SOCKET, SO_SNDBUF, 1);
    expect(c.getsockopt(SOL_SOCKET, SO_SNDBUF)).toBe(536);
    expect(() => c.setsockopt(SOL_SOCKET, SO_SNDBUF, 0)).toThrow(OSError);
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });

  test('SO_RCVBUF before connect sets the advertised window and its scale; after, it only lowers it', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair, {
      before: (c2) => {
        c2.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096);
        expect(c2.getsockopt(SOL_SOCKET, SO_RCVBUF)).toBe(4096);
      },
    });
    const pcb = c.tcpPcb!;
    expect(pcb.rcvBufSize).toBe(4096);
    expect(pcb.rcvScale).toBe(0);
    // The server sees a window of 4096.
    expect(s.tcpPcb!.sndWnd).toBe(4096);
    c.setsockopt(SOL_SOCKET, SO_RCVBUF, 100_000); // bigger after connect: ignored
    expect(c.getsockopt(SOL_SOCKET, SO_RCVBUF)).toBe(4096);
    c.setsockopt(SOL_SOCKET, SO_RCVBUF, 2048);
    expect(c.getsockopt(SOL_SOCKET, SO_RCVBUF)).toBe(2048);
    // The peer can still send more than the window; it flows as we read.
    const data = pattern(20_000);
    const sending = s.sendall(data);
    let total = 0;
    while (total < data.length) total += (await pair.run(c.recv(65536))).length;
    await pair.run(sending);
    expect(total).toBe(data.length);
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });
});

describe('SO_SNDBUF / SO_RCVBUF / SO_LINGER on a listener', () => {
  test("accepted connections take the listener's sizes (SO_RCVBUF as a cap) and linger", async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair, {
      before: (_c, ls2) => {
        ls2.setsockopt(SOL_SOCKET, SO_SNDBUF, 3000);
        ls2.setsockopt(SOL_SOCKET, SO_RCVBUF, 5000);
        ls2.setsockopt(SOL_SOCKET, SO_LINGER, [1, 0]);
      },
    });
    expect(ls.getsockopt(SOL_SOCKET, SO_SNDBUF)).toBe(3000);
    expect(ls.getsockopt(SOL_SOCKET, SO_RCVBUF)).toBe(5000);
    expect(s.getsockopt(SOL_SOCKET, SO_SNDBUF)).toBe(3000);
    expect(s.tcpPcb!.sndBuf).toBe(3000);
    expect(s.getsockopt(SOL_SOCKET, SO_RCVBUF)).toBe(5000);
    expect(s.getsockopt(SOL_SOCKET, SO_LINGER)).toEqual([1, 0]);
    s.close(); // linger 0: a reset
    await pair.advance(50);
    expect(await errnoOf(pair, () => c.recv(10))).toBe(errno.ECONNRESET);
    for (const x of [c, ls]) x.close();
    await pair.finish();
  });
});

describe('SO_LINGER', () => {
  test('getsockopt returns what was set, as a pair or CPython struct bytes', async () => {
    const pair = sockPair();
    const c = pair.client.socket();
    expect(c.getsockopt(SOL_SOCKET, SO_LINGER)).toEqual([0, 0]);
    c.setsockopt(SOL_SOCKET, SO_LINGER, [1, 5]);
    expect(c.getsockopt(SOL_SOCKET, SO_LINGER)).toEqual([1, 5]);
    expect(c.getsockopt(SOL_SOCKET, SO_LINGER, 8)).toEqual(new Uint8Array([1, 0, 0, 0, 5, 0, 0, 0]));
    c.setsockopt(SOL_SOCKET, SO_LINGER, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0])); // struct.pack('ii', 1, 0)
    expect(c.getsockopt(SOL_SOCKET, SO_LINGER)).toEqual([1, 0]);
    expect(() => c.setsockopt(SOL_SOCKET, SO_LINGER, 1 as unknown as [number, number])).toThrow(TypeError);
    c.close();
    await pair.finish();
  });

  test('linger on with 0 s: close() aborts at once with a RST, the peer sees ECONNRESET', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const before = pair.client.tcp.counters.outRsts;
    const pcb = c.tcpPcb!;
    c.setsockopt(SOL_SOCKET, SO_LINGER, [1, 0]);
    c.setblocking(false).send(pattern(1000));
    c.close();
    expect(pcb.freed).toBe(true); // at once: no FIN handshake, no TIME_WAIT
    expect(pair.client.tcp.counters.outRsts - before).toBe(1);
    await pair.advance(50);
    // What had been sent before is read first, then the reset.
    let e = 0;
    try {
      for (;;) if ((await pair.run(s.recv(65536))).length === 0) break;
    } catch (err) {
      e = (err as OSError).errno;
    }
    expect(e).toBe(errno.ECONNRESET);
    for (const x of [s, ls]) x.close();
    await pair.finish();
  });

  test('linger on with t > 0: a peer that never reads gets a RST after t s instead of the close timeout', async () => {
    const pair = sockPair({ server: { tcp: { rcvWnd: 4096 } } });
    const { ls, c, s } = await connected(pair);
    c.setsockopt(SOL_SOCKET, SO_LINGER, [1, 2]);
    c.setblocking(false).send(pattern(30_000)); // more than the peer's window: stays queued
    const pcb = c.tcpPcb!;
    c.close();
    await pair.advance(1000);
    expect(pcb.freed).toBe(false);
    await pair.advance(1500);
    expect(pcb.freed).toBe(true);
    expect(pcb.state).toBe(TcpState.CLOSED);
    // The peer reads what arrived, then the reset.
    let e = 0;
    try {
      for (;;) if ((await pair.run(s.recv(65536))).length === 0) break;
    } catch (err) {
      e = (err as OSError).errno;
    }
    expect(e).toBe(errno.ECONNRESET);
    for (const x of [s, ls]) x.close();
    await pair.finish();
  });
});

describe('directed broadcast on a stack with two netifs', () => {
  test("a datagram to netif A's subnet broadcast arriving on netif B goes to the socket bound to A's address", async () => {
    const stack = new Stack({ pool: { trackLive: true } });
    const out = (): number => Err.OK;
    const a = stack.addNetif({ name: 'a0', addr: '10.1.0.1', prefixLength: 24, output: out });
    const b = stack.addNetif({ name: 'b0', addr: '10.2.0.1', prefixLength: 24, output: out });
    const onA = stack.socket(AF_INET, SOCK_DGRAM).setblocking(false);
    onA.bind(['10.1.0.1', 5353]);
    const onB = stack.socket(AF_INET, SOCK_DGRAM).setblocking(false);
    onB.bind(['10.2.0.1', 5353]);
    const feed = (bytes: Uint8Array, n: typeof a): void => {
      const p = stack.pool.alloc(PbufLayer.RAW, bytes.length, PbufType.POOL)!;
      p.take(bytes);
      stack.input(p, n);
    };
    // A's broadcast, in on B: for the socket on A's address.
    feed(udpPacket(enc('for A'), { src: '10.2.0.9', dst: '10.1.0.255', dstPort: 5353, srcPort: 4000 }), b);
    // B's own broadcast, in on B: for the socket on B's address.
    feed(udpPacket(enc('for B'), { src: '10.2.0.9', dst: '10.2.0.255', dstPort: 5353, srcPort: 4000 }), b);
    await new Promise((r) => setTimeout(r, 0));
    expect(dec(onA.recv(100))).toBe('for A');
    expect(dec(onB.recv(100))).toBe('for B');
    expect(() => onA.recv(100)).toThrow(OSError);
    expect(() => onB.recv(100)).toThrow(OSError);
    void a;
    onA.close();
    onB.close();
    stack.close();
    stack.pool.assertEmpty();
  });
});

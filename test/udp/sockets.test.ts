// Datagram sockets (socket(AF_INET, SOCK_DGRAM)) between two simulated
// stacks: MicroPython/CPython semantics, fragmentation, loss, blocking
// modes, poll, option 20. Each test ends with no sockets, no PCBs and the
// pbuf pools empty.
import { describe, expect, test } from 'vitest';
import { AF_INET, POLLERR, POLLIN, POLLOUT, SO_CALLBACK, SO_ERROR, SO_REUSEADDR, SOCK_DGRAM, SOL_SOCKET } from '../../src/socket/constants.ts';
import type { DatagramSocket } from '../../src/socket/dgram.ts';
import { errno, isOSError } from '../../src/socket/errors.ts';
import { pattern } from '../support/packets.ts';
import { dec, enc, sockPair, type SockPair } from '../support/sockets.ts';

function errnoOf(f: () => unknown): number {
  try {
    f();
  } catch (e) {
    if (isOSError(e)) return e.errno;
    throw e;
  }
  throw new Error('no OSError');
}

async function rejects(p: unknown): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (isOSError(e)) return e.errno;
    throw e;
  }
  throw new Error('no OSError');
}

async function finish(pair: SockPair, ...socks: DatagramSocket[]): Promise<void> {
  for (const s of socks) s.close();
  for (const st of [pair.client, pair.server]) expect(st.udp.pcbCount, `${st.name}: UDP PCBs left`).toBe(0);
  await pair.finish();
}

describe('datagram sockets over the simulator', () => {
  test('sendto/recvfrom both ways; getsockname; recv truncates to n', async () => {
    const pair = sockPair();
    const srv = pair.server.socket(AF_INET, SOCK_DGRAM);
    srv.bind(['0.0.0.0', 9000]);
    expect(srv.getsockname()).toEqual(['0.0.0.0', 9000]);
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    expect(cli.sendto(enc('hello'), ['10.0.0.2', 9000])).toBe(5);
    const cport = cli.getsockname()[1];
    expect(cport).toBeGreaterThanOrEqual(49152); // bound on first send
    const [data, from] = await pair.run(srv.recvfrom(100));
    expect(dec(data)).toBe('hello');
    expect(from).toEqual(['10.0.0.1', cport]);
    expect(srv.sendto(enc('world!'), from)).toBe(6);
    const [back, from2] = await pair.run(cli.recvfrom(100));
    expect(dec(back)).toBe('world!');
    expect(from2).toEqual(['10.0.0.2', 9000]);
    // A short recv gets the start of the datagram; the rest is discarded.
    cli.sendto(enc('abcdefgh'), ['10.0.0.2', 9000]);
    cli.sendto(enc('next'), ['10.0.0.2', 9000]);
    expect(dec(await pair.run(srv.recv(3)))).toBe('abc');
    expect(dec(await pair.run(srv.recv(100)))).toBe('next');
    expect(pair.server.udp.counters.inDatagrams).toBe(3);
    expect(pair.client.udp.counters.outDatagrams).toBe(3);
    await finish(pair, srv, cli);
  });

  test('connect fixes the peer: send/recv, getpeername, foreign datagrams filtered', async () => {
    const pair = sockPair();
    const srv = pair.server.socket(AF_INET, SOCK_DGRAM);
    srv.bind(['10.0.0.2', 9001]);
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    cli.connect(['10.0.0.2', 9001]);
    expect(cli.getpeername()).toEqual(['10.0.0.2', 9001]);
    expect(cli.getsockname()[0]).toBe('10.0.0.1');
    expect(cli.send(enc('one'))).toBe(3);
    const [d, from] = await pair.run(srv.recvfrom(10));
    expect(dec(d)).toBe('one');
    // Another server socket answers: the connected client does not take it.
    const other = pair.server.socket(AF_INET, SOCK_DGRAM);
    other.sendto(enc('intruder'), from);
    srv.sendto(enc('reply'), from);
    expect(dec(await pair.run(cli.recv(10)))).toBe('reply');
    await pair.advance(50);
    const ncli = cli.setblocking(false);
    expect(errnoOf(() => ncli.recv(10))).toBe(errno.EAGAIN);
    await finish(pair, srv, cli, other);
  });

  test('a 60 KB datagram is fragmented over MTU 1500 and reassembled intact', async () => {
    const pair = sockPair();
    const srv = pair.server.socket(AF_INET, SOCK_DGRAM);
    srv.bind(['', 9002]);
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    const big = pattern(60_000, 5);
    const frames0 = pair.client.stats.link.xmit + pair.client.netifs[1]!.counters.txPackets;
    expect(cli.sendto(big, ['10.0.0.2', 9002])).toBe(60_000);
    const got = await pair.run(srv.recv(65535));
    expect(got).toEqual(big);
    const frames = pair.client.stats.link.xmit + pair.client.netifs[1]!.counters.txPackets - frames0;
    expect(frames).toBeGreaterThanOrEqual(41); // 60008 / 1480 bytes per fragment
    // Too large for one IPv4 datagram: EMSGSIZE.
    expect(errnoOf(() => cli.sendto(new Uint8Array(65508), ['10.0.0.2', 9002]))).toBe(90);
    await finish(pair, srv, cli);
  });

  test('over a lossy link a fragmented datagram is lost, never corrupted', async () => {
    const pair = sockPair({ seed: 7, link: { latencyMs: 5, loss: 0.02, corrupt: 0.005 }, server: { socket: { dgramQueue: { maxBytes: 1 << 20 } } } });
    const srv = pair.server.socket(AF_INET, SOCK_DGRAM);
    srv.bind(['', 9003]);
    srv.settimeout(2);
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    const N = 30;
    const sent = new Map<number, Uint8Array>();
    for (let i = 0; i < N; i++) {
      const d = pattern(20_000 + i * 100, i);
      d[0] = i;
      sent.set(i, d);
      cli.sendto(d, ['10.0.0.2', 9003]);
      await pair.advance(20);
    }
    let received = 0;
    for (;;) {
      let d: Uint8Array;
      try {
        d = await pair.run(srv.recv(65535));
      } catch (e) {
        if (isOSError(e, errno.ETIMEDOUT)) break;
        throw e;
      }
      expect(d).toEqual(sent.get(d[0]!)); // byte for byte one of those sent
      received++;
    }
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(N); // some were lost (deterministic for this seed)
    // Corrupted fragments that made it into a datagram were caught by the UDP checksum.
    expect(pair.server.stats.udp.chkerr).toBeGreaterThan(0);
    expect(pair.server.udp.counters.rcvbufErrors).toBe(0);
    expect(received).toBe(pair.server.udp.counters.inDatagrams);
    await finish(pair, srv, cli);
  });

  test('non-blocking recv raises EAGAIN; settimeout raises ETIMEDOUT after the timeout', async () => {
    const pair = sockPair();
    const s = pair.server.socket(AF_INET, SOCK_DGRAM);
    s.bind(['', 9004]);
    const ns = s.setblocking(false);
    expect(errnoOf(() => ns.recv(10))).toBe(errno.EAGAIN);
    expect(errnoOf(() => ns.recvfrom(10))).toBe(errno.EAGAIN);
    const ts = ns.settimeout(0.5);
    const t0 = pair.sim.clock.now();
    expect(await pair.run(rejects(ts.recv(10)))).toBe(errno.ETIMEDOUT);
    expect(pair.sim.clock.now() - t0).toBe(500);
    expect(s.gettimeout()).toBe(0.5);
    await finish(pair, s);
  });

  test('poll: POLLOUT always while open, POLLIN when a datagram is queued, POLLNVAL after close', async () => {
    const pair = sockPair();
    const s = pair.server.socket(AF_INET, SOCK_DGRAM);
    s.bind(['', 9005]);
    const poller = pair.server.poll();
    expect(s.pollFlags(POLLIN | POLLOUT)).toBe(POLLOUT);
    poller.register(s, POLLIN);
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    const ready = poller.poll(5000);
    cli.sendto(enc('ping'), ['10.0.0.2', 9005]);
    const r = await pair.run(ready);
    expect(r).toEqual([[s, POLLIN]]);
    expect(s.pollFlags(POLLIN | POLLOUT)).toBe(POLLIN | POLLOUT);
    expect(dec(s.setblocking(false).recv(10))).toBe('ping');
    expect(s.pollFlags(POLLIN)).toBe(0);
    expect(await pair.run(poller.poll(100))).toEqual([]);
    poller.unregister(s);
    s.close();
    expect(s.pollFlags(POLLIN)).toBe(0x20);
    expect(errnoOf(() => s.recv(1))).toBe(errno.EBADF);
    expect(errnoOf(() => s.sendto(enc('x'), ['10.0.0.1', 1]))).toBe(errno.EBADF);
    await finish(pair, s, cli);
  });

  test('a connected socket gets ECONNREFUSED once after sending to a closed port', async () => {
    const pair = sockPair();
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    cli.connect(['10.0.0.2', 9999]);
    cli.send(enc('anyone?'));
    await pair.advance(50);
    expect(pair.server.udp.counters.noPorts).toBe(1);
    expect(cli.pollFlags(POLLIN) & (POLLIN | POLLERR)).toBe(POLLIN | POLLERR);
    expect(await pair.run(rejects(cli.recv(10)))).toBe(errno.ECONNREFUSED);
    // Reported once.
    const ncli = cli.setblocking(false);
    expect(errnoOf(() => ncli.recv(10))).toBe(errno.EAGAIN);
    // Again, this time read with SO_ERROR.
    cli.send(enc('anyone?'));
    await pair.advance(50);
    expect(cli.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(errno.ECONNREFUSED);
    expect(cli.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0);
    await finish(pair, cli);
  });

  test('a full receive queue drops datagrams and counts them', async () => {
    const pair = sockPair({ server: { socket: { dgramQueue: { maxDatagrams: 4 } } } });
    const s = pair.server.socket(AF_INET, SOCK_DGRAM);
    s.bind(['', 9006]);
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    for (let i = 0; i < 10; i++) cli.sendto(new Uint8Array([i]), ['10.0.0.2', 9006]);
    await pair.advance(50);
    expect(s.pending).toBe(4);
    expect(s.drops).toBe(6);
    expect(pair.server.sockets.counters.dgramDrops).toBe(6);
    expect(pair.server.udp.counters.rcvbufErrors).toBe(6);
    const ns = s.setblocking(false);
    const got = [0, 1, 2, 3].map(() => ns.recv(10)[0]);
    expect(got).toEqual([0, 1, 2, 3]);
    // Unread datagrams are freed by close.
    cli.sendto(enc('left'), ['10.0.0.2', 9006]);
    await pair.advance(50);
    expect(s.pending).toBe(1);
    await finish(pair, s, cli);
  });

  test('bind: EADDRINUSE, SO_REUSEADDR, EINVAL when bound twice, EADDRNOTAVAIL; send unconnected is ENOTCONN', async () => {
    const pair = sockPair();
    const a = pair.server.socket(AF_INET, SOCK_DGRAM);
    const b = pair.server.socket(AF_INET, SOCK_DGRAM);
    a.bind(['', 9007]);
    expect(errnoOf(() => b.bind(['10.0.0.2', 9007]))).toBe(errno.EADDRINUSE);
    a.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    b.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    expect(b.getsockopt(SOL_SOCKET, SO_REUSEADDR)).toBe(1);
    b.bind(['10.0.0.2', 9007]);
    expect(errnoOf(() => b.bind(['10.0.0.2', 9008]))).toBe(errno.EINVAL);
    const c = pair.server.socket(AF_INET, SOCK_DGRAM);
    expect(errnoOf(() => c.bind(['10.9.9.9', 1]))).toBe(errno.EADDRNOTAVAIL);
    expect(errnoOf(() => c.send(enc('x')))).toBe(errno.ENOTCONN);
    expect(errnoOf(() => c.getpeername())).toBe(errno.ENOTCONN);
    expect(errnoOf(() => c.sendto(enc('x'), ['10.0.0.1', 0]))).toBe(errno.EINVAL);
    await finish(pair, a, b, c);
  });

  test('option 20 callback runs after each arrival, outside packet processing; it may read and answer', async () => {
    const pair = sockPair();
    const s = pair.server.socket(AF_INET, SOCK_DGRAM).setblocking(false);
    s.bind(['', 9009]);
    const calls: boolean[] = [];
    s.setsockopt(SOL_SOCKET, SO_CALLBACK, (sock) => {
      calls.push(pair.server.inInput);
      for (;;) {
        let r: [Uint8Array, readonly [string, number]];
        try {
          r = sock.recvfrom(100);
        } catch (e) {
          if (isOSError(e, errno.EAGAIN)) break;
          throw e;
        }
        sock.sendto(r[0], r[1]); // echo
      }
    });
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    cli.settimeout(1);
    cli.sendto(enc('echo me'), ['10.0.0.2', 9009]);
    expect(dec(await pair.run(cli.recv(100)))).toBe('echo me');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((x) => x === false)).toBe(true);
    await finish(pair, s, cli);
  });

  test('loopback: a socket talks to itself through 127.0.0.1', async () => {
    const pair = sockPair();
    const s = pair.client.socket(AF_INET, SOCK_DGRAM);
    s.bind(['127.0.0.1', 9010]);
    s.sendto(enc('self'), ['127.0.0.1', 9010]);
    const [d, from] = await pair.run(s.recvfrom(10));
    expect(dec(d)).toBe('self');
    expect(from).toEqual(['127.0.0.1', 9010]);
    await finish(pair, s);
  });
});

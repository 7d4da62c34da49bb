// AF_INET6 sockets end to end over IPv6 (issue 14): two simulated stacks
// joined by one link that carries both families (client 10.0.0.1 and
// fd00::1, server 10.0.0.2 and fd00::2), TCP and UDP over IPv6, a dual
// server with an IPv4 and an IPv6 client at once, IPV6_V6ONLY, loopback
// ::1, ICMPv6 errors as errnos. Every test ends with no socket, PCB or
// pbuf left.
import { describe, expect, test } from 'vitest';
import { AF_INET, AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY, SOCK_DGRAM, SOCK_STREAM } from '../../src/socket/constants.ts';
import { EMSGSIZE } from '../../src/socket/dgram.ts';
import { errno } from '../../src/socket/errors.ts';
import { getaddrinfo } from '../../src/socket/socket.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { pattern } from '../support/packets.ts';
import { dec, enc, sockPair, type SockPair, errnoOf, sha } from '../support/sockets.ts';

const PORT = 8000;

/** sockPair over a link carrying IPv6 (and IPv4 unless `v4` is false). */
function dualPair(o: { v4?: boolean; mtu?: number } = {}): SockPair {
  return sockPair({ seed: 6, families: o.v4 === false ? 'v6' : 'dual', ...(o.mtu !== undefined ? { mtu: o.mtu } : {}) });
}

/** An AF_INET6 listener on the server: '::' unless told. */
function listen6(st: Stack, host = '::', v6only = false, port = PORT) {
  const ls = st.sockets.socket(AF_INET6, SOCK_STREAM);
  if (v6only) ls.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
  ls.bind([host, port]);
  ls.listen(4);
  return ls;
}

describe('TCP over IPv6 with sockets', () => {
  test('echo of 200 kB: addresses are IPv6 4-tuples on both ends, the bytes arrive intact', async () => {
    const pair = dualPair();
    const ls = listen6(pair.server);
    const c = pair.client.sockets.socket(AF_INET6);
    await pair.run(c.connect(['fd00::2', PORT]));
    const [s, addr] = await pair.run(ls.accept());
    const cport = c.getsockname()[1];
    expect(c.getsockname()).toEqual(['fd00::1', cport, 0, 0]);
    expect(c.getpeername()).toEqual(['fd00::2', PORT, 0, 0]);
    expect(addr).toEqual(['fd00::1', cport, 0, 0]);
    expect(s.getsockname()).toEqual(['fd00::2', PORT, 0, 0]);
    expect(s.toString()).toBe(`<socket CONNECTED [fd00::1]:${cport}>`);
    // MSS for IPv6: MTU - 60.
    expect(s.tcpPcb!.mss).toBe(1500 - 60);

    const data = pattern(200_000, 3);
    const echo = (async () => {
      for (;;) {
        const d = await s.recv(65536);
        if (d.length === 0) break;
        await s.sendall(d);
      }
      s.close();
    })();
    const got: Uint8Array[] = [];
    let n = 0;
    const reader = (async () => {
      while (n < data.length) {
        const d = await c.recv(65536);
        if (d.length === 0) break;
        got.push(d);
        n += d.length;
      }
    })();
    await pair.run(Promise.all([c.sendall(data), reader]));
    c.close(); // the echo side sees EOF and closes too
    await pair.run(echo);
    expect(n).toBe(data.length);
    expect(sha(Buffer.concat(got))).toBe(sha(data));
    ls.close();
    await pair.finish();
  });

  test('a dual server takes an IPv4 and an IPv6 client at once; IPV6_V6ONLY keeps only the IPv6 one', async () => {
    const pair = dualPair();
    const ls = listen6(pair.server);
    const c4 = pair.client.socket(AF_INET);
    const c6 = pair.client.sockets.socket(AF_INET6);
    await pair.run(Promise.all([c4.connect(['10.0.0.2', PORT]), c6.connect(['fd00::2', PORT])]));
    const a = await pair.run(ls.accept());
    const b = await pair.run(ls.accept());
    const byHost = new Map([a, b].map(([s, addr]) => [addr[0], s]));
    expect([...byHost.keys()].sort()).toEqual(['::ffff:10.0.0.1', 'fd00::1']);
    const s4 = byHost.get('::ffff:10.0.0.1')!;
    const s6 = byHost.get('fd00::1')!;
    expect(s4.getsockname()).toEqual(['::ffff:10.0.0.2', PORT, 0, 0]);
    expect(s6.getsockname()).toEqual(['fd00::2', PORT, 0, 0]);
    await pair.run(c4.sendall(enc('from v4')));
    await pair.run(c6.sendall(enc('from v6')));
    expect(dec(await pair.run(s4.recv(20)))).toBe('from v4');
    expect(dec(await pair.run(s6.recv(20)))).toBe('from v6');
    for (const x of [c4, c6, s4, s6, ls]) x.close();

    // (A new port: the closed connections' TIME_WAIT still holds the old one.)
    const only = listen6(pair.server, '::', true, PORT + 1);
    const d6 = pair.client.sockets.socket(AF_INET6);
    await pair.run(d6.connect(['fd00::2', PORT + 1]));
    const [t6, addr6] = await pair.run(only.accept());
    expect(addr6[0]).toBe('fd00::1');
    const d4 = pair.client.socket(AF_INET);
    expect(await errnoOf(pair, () => d4.connect(['10.0.0.2', PORT + 1]))).toBe(errno.ECONNREFUSED);
    for (const x of [d6, t6, d4, only]) x.close();
    await pair.finish();
  });

  test('binding a specific IPv6 address; a socket bound to it cannot reach IPv4 (EINVAL); a closed port is ECONNREFUSED', async () => {
    const pair = dualPair();
    const ls = listen6(pair.server, 'fd00::2');
    expect(ls.getsockname()).toEqual(['fd00::2', PORT, 0, 0]);
    const c = pair.client.sockets.socket(AF_INET6);
    c.bind(['fd00::1', 0]);
    const [, lport] = c.getsockname();
    await pair.run(c.connect(['[fd00::2]', PORT]));
    const [s, addr] = await pair.run(ls.accept());
    expect(addr).toEqual(['fd00::1', lport, 0, 0]);

    const b = pair.client.sockets.socket(AF_INET6);
    b.bind(['fd00::1', 0]);
    expect(await errnoOf(pair, () => b.connect(['::ffff:10.0.0.2', PORT]))).toBe(errno.EINVAL);
    const r = pair.client.sockets.socket(AF_INET6);
    expect(await errnoOf(pair, () => r.connect(['fd00::2', PORT + 1]))).toBe(errno.ECONNREFUSED);
    // No route to another prefix.
    const u = pair.client.sockets.socket(AF_INET6);
    pair.client.ip6.defaultNetif = null;
    expect(await errnoOf(pair, () => u.connect(['2001:db8::1', PORT]))).toBe(errno.EHOSTUNREACH);
    for (const x of [c, s, ls, b, r, u]) x.close();
    await pair.finish();
  });

  test("loopback: 'localhost' is ::1 on AF_INET6 sockets; getaddrinfo's AF_INET6 entry connects", async () => {
    const pair = dualPair();
    const st = pair.server;
    const ls = st.sockets.socket(AF_INET6);
    ls.bind(['localhost', PORT]);
    expect(ls.getsockname()).toEqual(['::1', PORT, 0, 0]);
    ls.listen(1);
    const [af, , , , sa] = getaddrinfo('localhost', PORT, AF_INET6)[0]!;
    const c = st.socket(af, SOCK_STREAM);
    await pair.run(c.connect(sa));
    const [s, addr] = await pair.run(ls.accept());
    expect(addr[0]).toBe('::1');
    await pair.run(c.sendall(enc('self')));
    expect(dec(await pair.run(s.recv(10)))).toBe('self');
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });
});

describe('UDP over IPv6 with datagram sockets', () => {
  test('sendto/recvfrom both ways, connect and the source address, a datagram larger than the MTU (fragmented)', async () => {
    const pair = dualPair();
    const srv = pair.server.sockets.socket(AF_INET6, SOCK_DGRAM);
    srv.bind(['::', PORT]);
    const cli = pair.client.sockets.socket(AF_INET6, SOCK_DGRAM);
    expect(cli.sendto(enc('hi'), ['fd00::2', PORT])).toBe(2);
    const cport = cli.getsockname()[1];
    const [d, from] = await pair.run(srv.recvfrom(100));
    expect(dec(d)).toBe('hi');
    expect(from).toEqual(['fd00::1', cport, 0, 0]);
    srv.sendto(enc('ho'), from);
    const [d2, from2] = await pair.run(cli.recvfrom(100));
    expect([dec(d2), from2]).toEqual(['ho', ['fd00::2', PORT, 0, 0]]);

    cli.connect(['fd00::2', PORT]);
    expect(cli.getsockname()).toEqual(['fd00::1', cport, 0, 0]);
    expect(cli.getpeername()).toEqual(['fd00::2', PORT, 0, 0]);
    const big = pattern(4000, 9);
    expect(cli.send(big)).toBe(4000);
    const [d3] = await pair.run(srv.recvfrom(5000));
    expect(sha(d3)).toBe(sha(big));
    // The IPv6 payload limit: 65535 - 8 bytes (IPv4's is 65507).
    expect(() => cli.send(new Uint8Array(65528))).toThrow(expect.objectContaining({ errno: EMSGSIZE }));
    for (const x of [srv, cli]) x.close();
    await pair.finish();
  });

  test('a dual datagram socket hears IPv4 and IPv6 senders; a connected socket gets ECONNREFUSED from ICMPv6', async () => {
    const pair = dualPair();
    const srv = pair.server.sockets.socket(AF_INET6, SOCK_DGRAM);
    srv.bind(['', PORT]);
    const c4 = pair.client.socket(AF_INET, SOCK_DGRAM);
    const c6 = pair.client.sockets.socket(AF_INET6, SOCK_DGRAM);
    c4.sendto(enc('four'), ['10.0.0.2', PORT]);
    c6.sendto(enc('six'), ['fd00::2', PORT]);
    const seen = new Map<string, string>();
    for (let i = 0; i < 2; i++) {
      const [d, from] = await pair.run(srv.recvfrom(10));
      seen.set(from[0], dec(d)!);
    }
    expect(Object.fromEntries(seen)).toEqual({ '::ffff:10.0.0.1': 'four', 'fd00::1': 'six' });

    const lone = pair.client.sockets.socket(AF_INET6, SOCK_DGRAM);
    lone.connect(['fd00::2', PORT + 1]);
    lone.send(enc('anyone?'));
    lone.settimeout(1);
    expect(await errnoOf(pair, () => lone.recv(10))).toBe(errno.ECONNREFUSED);
    for (const x of [srv, c4, c6, lone]) x.close();
    await pair.finish();
  });
});

test('an IPv6-only link: AF_INET6 sockets work, AF_INET ones have no route', async () => {
  const pair = dualPair({ v4: false });
  const ls = listen6(pair.server);
  const c = pair.client.sockets.socket(AF_INET6);
  await pair.run(c.connect(['fd00::2', PORT]));
  const [s] = await pair.run(ls.accept());
  await pair.run(s.sendall(enc('v6 only')));
  expect(dec(await pair.run(c.recv(20)))).toBe('v6 only');
  const c4 = pair.client.socket(AF_INET);
  expect(await errnoOf(pair, () => c4.connect(['10.0.0.2', PORT]))).toBe(errno.EHOSTUNREACH);
  for (const x of [c, s, ls, c4]) x.close();
  await pair.finish();
});

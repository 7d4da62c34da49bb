// AF_INET6 sockets over IPv4 (Linux's dual-stack semantics, issue 14):
// an AF_INET6 socket on '::' (or unbound) without IPV6_V6ONLY takes and
// reaches IPv4 peers, written '::ffff:a.b.c.d'; IPV6_V6ONLY refuses them;
// the errno of each family mix-up is Linux's; getaddrinfo of literals of
// both families. Two simulated stacks with IPv4 only (client 10.0.0.1,
// server 10.0.0.2): every test ends with no socket, PCB or pbuf left.
import { describe, expect, test } from 'vitest';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV6_V6ONLY,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
} from '../../src/socket/constants.ts';
import { errno } from '../../src/socket/errors.ts';
import { getaddrinfo, type SockAddr6 } from '../../src/socket/socket.ts';
import { dec, enc, sockPair, type SockPair, errnoOf, syncErrno } from '../support/sockets.ts';

const PORT = 8000;

describe('AF_INET6 stream sockets with IPv4 peers', () => {
  test("a listener on '::' accepts an IPv4 client; both ends' addresses as Linux reports them", async () => {
    const pair = sockPair();
    const ls = pair.server.sockets.socket(AF_INET6, SOCK_STREAM);
    expect(ls.family).toBe(AF_INET6);
    expect(ls.type).toBe(SOCK_STREAM);
    expect(ls.getsockname()).toEqual(['::', 0, 0, 0]);
    expect(ls.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY)).toBe(0); // Linux's default (net.ipv6.bindv6only = 0)
    ls.bind(['::', PORT]);
    ls.listen(2);
    expect(ls.getsockname()).toEqual(['::', PORT, 0, 0]);

    const c = pair.client.socket(AF_INET, SOCK_STREAM);
    expect(c.family).toBe(AF_INET);
    await pair.run(c.connect(['10.0.0.2', PORT]));
    const [s, addr] = await pair.run(ls.accept());
    const cport = c.getsockname()[1];
    expect(addr).toEqual(['::ffff:10.0.0.1', cport, 0, 0]);
    const [host, port, flowinfo, scopeid]: SockAddr6 = addr;
    expect([host, port, flowinfo, scopeid]).toEqual(['::ffff:10.0.0.1', cport, 0, 0]);
    expect(s.family).toBe(AF_INET6);
    expect(s.getpeername()).toEqual(['::ffff:10.0.0.1', cport, 0, 0]);
    expect(s.getsockname()).toEqual(['::ffff:10.0.0.2', PORT, 0, 0]);
    expect(s.toString()).toBe(`<socket CONNECTED [::ffff:10.0.0.1]:${cport}>`);
    // The IPv4 client sees plain IPv4.
    expect(c.getpeername()).toEqual(['10.0.0.2', PORT]);
    // The connection itself is IPv4 (numbers in the PCB).
    expect(s.tcpPcb!.remoteIp).toBe(0x0a000001);

    await pair.run(c.sendall(enc('ping')));
    expect(dec(await pair.run(s.recv(10)))).toBe('ping');
    await pair.run(s.sendall(enc('pong')));
    expect(dec(await pair.run(c.recv(10)))).toBe('pong');
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });

  test("an unbound AF_INET6 listener gets '::' (dual) from listen(), as Linux autobinds it", async () => {
    const pair = sockPair();
    const ls = pair.server.sockets.socket(AF_INET6);
    ls.listen(1);
    const [h, p] = ls.getsockname();
    expect(h).toBe('::');
    expect(p).toBeGreaterThan(0);
    const c = pair.client.socket();
    await pair.run(c.connect(['10.0.0.2', p]));
    const [s, addr] = await pair.run(ls.accept());
    expect(addr[0]).toBe('::ffff:10.0.0.1');
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });

  test('IPV6_V6ONLY before bind: IPv4 clients are refused; after bind it is EINVAL; not an AF_INET option', async () => {
    const pair = sockPair();
    const ls = pair.server.sockets.socket(AF_INET6);
    ls.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
    expect(ls.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY)).toBe(1);
    ls.bind(['::', PORT]);
    expect(syncErrno(() => ls.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 0))).toBe(errno.EINVAL);
    expect(ls.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY)).toBe(1);
    ls.listen(2);
    const c = pair.client.socket();
    expect(await errnoOf(pair, () => c.connect(['10.0.0.2', PORT]))).toBe(errno.ECONNREFUSED);
    expect(ls.acceptPending).toBe(0);

    // A v6only '::' and an IPv4 wildcard share a port (they take disjoint packets).
    const l4 = pair.server.socket();
    l4.bind(['0.0.0.0', PORT]);
    l4.listen(1);

    // IPV6_V6ONLY is an AF_INET6 option.
    const s4 = pair.server.socket(AF_INET);
    expect(syncErrno(() => s4.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1))).toBe(errno.EOPNOTSUPP);
    for (const x of [c, ls, l4, s4]) x.close();
    await pair.finish();
  });

  test("a dual '::' conflicts with 0.0.0.0 on the same port (it takes IPv4 too); bind to a mapped address binds IPv4", async () => {
    const pair = sockPair();
    const d = pair.server.sockets.socket(AF_INET6);
    d.bind(['::', PORT]);
    const s4 = pair.server.socket();
    expect(syncErrno(() => s4.bind(['0.0.0.0', PORT]))).toBe(errno.EADDRINUSE);
    expect(syncErrno(() => s4.bind(['10.0.0.2', PORT]))).toBe(errno.EADDRINUSE);

    const m = pair.server.sockets.socket(AF_INET6);
    m.bind(['::ffff:10.0.0.2', PORT + 1]);
    expect(m.getsockname()).toEqual(['::ffff:10.0.0.2', PORT + 1, 0, 0]);
    expect(m.tcpPcb!.localIp).toBe(0x0a000002);
    m.listen(1);
    const c = pair.client.socket();
    await pair.run(c.connect(['10.0.0.2', PORT + 1]));
    const [s, addr] = await pair.run(m.accept());
    expect(addr[0]).toBe('::ffff:10.0.0.1');

    // A v6only socket cannot bind a mapped address (Linux: EINVAL).
    const v6 = pair.server.sockets.socket(AF_INET6);
    v6.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, true);
    expect(syncErrno(() => v6.bind(['::ffff:10.0.0.2', PORT + 2]))).toBe(errno.EINVAL);
    // An IPv6 address the stack does not have.
    const na = pair.server.sockets.socket(AF_INET6);
    expect(syncErrno(() => na.bind(['fd00::99', PORT + 3]))).toBe(errno.EADDRNOTAVAIL);
    for (const x of [d, s4, m, c, s, v6, na]) x.close();
    await pair.finish();
  });

  test("an AF_INET6 client reaches an IPv4 server through '::ffff:a.b.c.d'; a v6only one cannot (ENETUNREACH)", async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen(2);
    const c = pair.client.sockets.socket(AF_INET6);
    await pair.run(c.connect(['::ffff:10.0.0.2', PORT]));
    const [s, addr] = await pair.run(ls.accept());
    expect(addr[0]).toBe('10.0.0.1');
    expect(c.getpeername()).toEqual(['::ffff:10.0.0.2', PORT, 0, 0]);
    expect(c.getsockname()).toEqual(['::ffff:10.0.0.1', addr[1], 0, 0]);
    await pair.run(c.sendall(enc('over IPv4')));
    expect(dec(await pair.run(s.recv(20)))).toBe('over IPv4');

    const v6 = pair.client.sockets.socket(AF_INET6);
    v6.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
    expect(await errnoOf(pair, () => v6.connect(['::ffff:10.0.0.2', PORT]))).toBe(errno.ENETUNREACH);
    for (const x of [c, s, ls, v6]) x.close();
    await pair.finish();
  });

  test('family mix-ups: EAFNOSUPPORT for IPv6 on AF_INET, EINVAL for a dotted quad on AF_INET6 (Linux errnos); address shapes', async () => {
    const pair = sockPair();
    const s4 = pair.client.socket(AF_INET);
    expect(syncErrno(() => s4.bind(['::', PORT]))).toBe(errno.EAFNOSUPPORT);
    expect(syncErrno(() => s4.bind(['[::1]', PORT]))).toBe(errno.EAFNOSUPPORT);
    expect(await errnoOf(pair, () => s4.connect(['fd00::2', PORT]))).toBe(errno.EAFNOSUPPORT);
    // AF_INET takes (host, port) only.
    expect(syncErrno(() => s4.bind(['10.0.0.1', PORT, 0, 0]))).toBe(errno.EINVAL);

    const s6 = pair.client.sockets.socket(AF_INET6);
    expect(syncErrno(() => s6.bind(['10.0.0.1', PORT]))).toBe(errno.EINVAL);
    expect(await errnoOf(pair, () => s6.connect(['10.0.0.2', PORT]))).toBe(errno.EINVAL);
    expect(syncErrno(() => s6.bind(['::', PORT, 0, 0, 0] as unknown as SockAddr6))).toBe(errno.EINVAL);
    expect(syncErrno(() => s6.bind(['::', PORT, 0x100000]))).toBe(errno.EINVAL); // flowinfo is 20 bits
    expect(syncErrno(() => s6.bind(['not-a-host', PORT]))).toBe(errno.EINVAL);
    // 2-, 3- and 4-tuples are all accepted; the output is always the 4-tuple.
    s6.bind(['', PORT, 0]);
    expect(s6.getsockname()).toEqual(['::', PORT, 0, 0]);

    const d4 = pair.client.socket(AF_INET, SOCK_DGRAM);
    expect(syncErrno(() => d4.sendto(enc('x'), ['fd00::2', PORT]))).toBe(errno.EAFNOSUPPORT);
    const d6 = pair.client.sockets.socket(AF_INET6, SOCK_DGRAM);
    expect(d6.family).toBe(AF_INET6);
    expect(d6.type).toBe(SOCK_DGRAM);
    expect(syncErrno(() => d6.sendto(enc('x'), ['10.0.0.2', PORT]))).toBe(errno.EINVAL);

    expect(syncErrno(() => pair.client.socket(1, SOCK_STREAM))).toBe(errno.EAFNOSUPPORT);
    for (const x of [s4, s6, d4, d6]) x.close();
    await pair.finish();
  });
});

describe('AF_INET6 datagram sockets with IPv4 peers', () => {
  test("a '::' socket receives from IPv4 as '::ffff:a.b.c.d' and answers there; the IPv4 peer sees plain IPv4", async () => {
    const pair = sockPair();
    const srv = pair.server.sockets.socket(AF_INET6, SOCK_DGRAM);
    srv.bind(['::', PORT]);
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    cli.sendto(enc('hello'), ['10.0.0.2', PORT]);
    const [data, from] = await pair.run(srv.recvfrom(100));
    const cport = cli.getsockname()[1];
    expect(dec(data)).toBe('hello');
    expect(from).toEqual(['::ffff:10.0.0.1', cport, 0, 0]);
    expect(srv.sendto(enc('back'), from)).toBe(4);
    const [d2, from2] = await pair.run(cli.recvfrom(100));
    expect(dec(d2)).toBe('back');
    expect(from2).toEqual(['10.0.0.2', PORT]);
    for (const x of [srv, cli]) x.close();
    await pair.finish();
  });

  test("an unbound AF_INET6 socket autobinds '::' on its first send; connect to a mapped address; v6only cannot", async () => {
    const pair = sockPair();
    const srv = pair.server.socket(AF_INET, SOCK_DGRAM);
    srv.bind(['0.0.0.0', PORT]);
    const c = pair.client.sockets.socket(AF_INET6, SOCK_DGRAM);
    expect(c.sendto(enc('one'), ['::ffff:10.0.0.2', PORT])).toBe(3);
    const [h, p] = c.getsockname();
    expect(h).toBe('::');
    expect(p).toBeGreaterThan(0);
    const [d1, f1] = await pair.run(srv.recvfrom(10));
    expect([dec(d1), f1]).toEqual(['one', ['10.0.0.1', p]]);

    c.connect(['::ffff:10.0.0.2', PORT]);
    expect(c.getpeername()).toEqual(['::ffff:10.0.0.2', PORT, 0, 0]);
    expect(c.getsockname()).toEqual(['::ffff:10.0.0.1', p, 0, 0]); // the route's source, as Linux
    c.send(enc('two'));
    const [d2] = await pair.run(srv.recvfrom(10));
    expect(dec(d2)).toBe('two');
    srv.sendto(enc('reply'), ['10.0.0.1', p]);
    const [d3, f3] = await pair.run(c.recvfrom(10));
    expect([dec(d3), f3]).toEqual(['reply', ['::ffff:10.0.0.2', PORT, 0, 0]]);

    const v6 = pair.client.sockets.socket(AF_INET6, SOCK_DGRAM);
    v6.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
    expect(syncErrno(() => v6.sendto(enc('x'), ['::ffff:10.0.0.2', PORT]))).toBe(errno.ENETUNREACH);
    expect(syncErrno(() => v6.connect(['::ffff:10.0.0.2', PORT]))).toBe(errno.ENETUNREACH);
    for (const x of [srv, c, v6]) x.close();
    await pair.finish();
  });

  test('a v6only datagram socket does not take IPv4: the sender gets ECONNREFUSED from the port unreachable', async () => {
    const pair = sockPair();
    const srv = pair.server.sockets.socket(AF_INET6, SOCK_DGRAM);
    srv.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
    srv.bind(['::', PORT]);
    expect(syncErrno(() => srv.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 0))).toBe(errno.EINVAL);
    const cli = pair.client.socket(AF_INET, SOCK_DGRAM);
    cli.connect(['10.0.0.2', PORT]);
    cli.send(enc('anyone?'));
    cli.settimeout(1);
    expect(await errnoOf(pair, () => cli.recv(10))).toBe(errno.ECONNREFUSED);
    expect(srv.pending).toBe(0);
    // With SO_REUSEADDR off, an IPv4 socket may still share the port with the v6only one.
    const s4 = pair.server.socket(AF_INET, SOCK_DGRAM);
    expect(s4.getsockopt(SOL_SOCKET, SO_REUSEADDR)).toBe(0);
    s4.bind(['0.0.0.0', PORT]);
    for (const x of [srv, cli, s4]) x.close();
    await pair.finish();
  });
});

describe('getaddrinfo', () => {
  test("today's two-argument form for IPv4 literals is unchanged", () => {
    expect(getaddrinfo('10.0.0.2', 80)).toEqual([[AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['10.0.0.2', 80]]]);
    expect(getaddrinfo('0.0.0.0', 1)).toEqual([[AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['0.0.0.0', 1]]]);
    expect(getaddrinfo('', 7)).toEqual([[AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['0.0.0.0', 7]]]);
  });

  test('IPv6 literals give AF_INET6 entries with 4-tuples, in RFC 5952 form; brackets and zones are accepted', () => {
    expect(getaddrinfo('::1', 80)).toEqual([[AF_INET6, SOCK_STREAM, IPPROTO_TCP, '', ['::1', 80, 0, 0]]]);
    expect(getaddrinfo('[FD00:0:0::0:1]', 443)[0]![4]).toEqual(['fd00::1', 443, 0, 0]);
    expect(getaddrinfo('fe80::1%eth0', 22)[0]![4]).toEqual(['fe80::1', 22, 0, 0]);
    expect(getaddrinfo('::ffff:10.0.0.2', 7)[0]![4]).toEqual(['::ffff:10.0.0.2', 7, 0, 0]);
    expect(getaddrinfo('', 7, AF_INET6)).toEqual([[AF_INET6, SOCK_STREAM, IPPROTO_TCP, '', ['::', 7, 0, 0]]]);
  });

  test("'localhost' is 127.0.0.1 then ::1, filtered by af; type and proto", () => {
    expect(getaddrinfo('localhost', 8080)).toEqual([
      [AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['127.0.0.1', 8080]],
      [AF_INET6, SOCK_STREAM, IPPROTO_TCP, '', ['::1', 8080, 0, 0]],
    ]);
    expect(getaddrinfo('localhost', 53, AF_UNSPEC, SOCK_DGRAM)).toEqual([
      [AF_INET, SOCK_DGRAM, IPPROTO_UDP, '', ['127.0.0.1', 53]],
      [AF_INET6, SOCK_DGRAM, IPPROTO_UDP, '', ['::1', 53, 0, 0]],
    ]);
    expect(getaddrinfo('localhost', 1, AF_INET6)).toEqual([[AF_INET6, SOCK_STREAM, IPPROTO_TCP, '', ['::1', 1, 0, 0]]]);
    expect(getaddrinfo('localhost', 1, AF_INET)).toEqual([[AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['127.0.0.1', 1]]]);
    expect(getaddrinfo('::1', 1, AF_INET6, SOCK_STREAM, IPPROTO_TCP, 0)).toHaveLength(1);
  });

  test('errors: a literal of the other family, an unknown family or type, a name, a bad port', () => {
    expect(syncErrno(() => getaddrinfo('::1', 80, AF_INET))).toBe(errno.EAFNOSUPPORT);
    expect(syncErrno(() => getaddrinfo('10.0.0.1', 80, AF_INET6))).toBe(errno.EAFNOSUPPORT);
    expect(syncErrno(() => getaddrinfo('10.0.0.1', 80, 99))).toBe(errno.EAFNOSUPPORT);
    expect(syncErrno(() => getaddrinfo('10.0.0.1', 80, 0, 5))).toBe(errno.EINVAL);
    expect(syncErrno(() => getaddrinfo('example.org', 80, AF_INET6))).toBe(errno.EINVAL);
    expect(syncErrno(() => getaddrinfo('::1', 65536))).toBe(errno.EINVAL);
  });

  test('the entries connect: an AF_INET6 entry for a mapped address reaches an IPv4 server', async () => {
    const pair = sockPair();
    const ls = pair.server.socket();
    ls.bind(getaddrinfo('0.0.0.0', PORT)[0]![4]);
    ls.listen(1);
    const [af, type, , , sa] = getaddrinfo('::ffff:10.0.0.2', PORT)[0]!;
    expect(type).toBe(SOCK_STREAM);
    const c = pair.client.socket(af, SOCK_STREAM);
    expect(c.family).toBe(AF_INET6);
    await pair.run(c.connect(sa));
    const [s] = await pair.run(ls.accept());
    for (const x of [c, s, ls]) x.close();
    await pair.finish();
  });
});

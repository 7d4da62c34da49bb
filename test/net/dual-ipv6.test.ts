// The node:net façade's dual-stack surface that needs no IPv6 link: isIP
// and friends against node's own, `family` and host forms on connect,
// server.listen's host choice (an IPv4-only stack keeps '0.0.0.0'), a '::'
// listener reporting IPv4 peers as '::ffff:a.b.c.d' (compared with what a
// real node:net server on this machine reports), ipv6Only, and the
// errors of family mix-ups. Stacks: client 10.0.0.1, server 10.0.0.2.
import * as nodeNet from 'node:net';
import { expect, test } from 'vitest';
import { isIP as rootIsIP, isIPv4 as rootIsIPv4, isIPv6 as rootIsIPv6 } from '../../src/index.ts';
import { isIP, isIPv4, isIPv6, type NetError, type Socket } from '../../src/net/index.ts';
import { netPair } from './helpers.ts';

/** Everything `s` receives, as text, once it has closed (listeners attached at once: data, end and close can come in one step). */
function received(s: Socket): Promise<string> {
  let text = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (text += d));
  return new Promise((resolve) => s.once('close', () => resolve(text)));
}

const INPUTS: unknown[] = [
  '::1',
  '1.2.3.4',
  'foo',
  '',
  'fe80::1%eth0',
  'fe80::1%',
  'fe80::1%a b',
  '[::1]',
  '::ffff:1.2.3.4',
  '01.2.3.4',
  '1.2.3',
  '256.1.1.1',
  '1::2::3',
  ':::',
  '::',
  'FD00::ABCD',
  '2001:db8:0:0:0:0:0:1',
  '2001:db8::1:2:3:4:5:6:7',
  '1:2:3:4:5:6:7:8',
  '::1.2.3.4',
  'localhost',
  1234,
  undefined,
  null,
];

test('isIP, isIPv4, isIPv6 answer as node:net does (zone ids included), from tsip/net and tsip', () => {
  for (const x of INPUTS) {
    expect([x, isIP(x)]).toEqual([x, nodeNet.isIP(x as string)]);
    expect([x, isIPv4(x)]).toEqual([x, nodeNet.isIPv4(x as string)]);
    expect([x, isIPv6(x)]).toEqual([x, nodeNet.isIPv6(x as string)]);
  }
  expect(isIP('::1')).toBe(6);
  expect(isIP('1.2.3.4')).toBe(4);
  expect(isIP('foo')).toBe(0);
  expect(isIP('fe80::1%eth0')).toBe(6);
  expect(rootIsIP).toBe(isIP);
  expect(rootIsIPv4).toBe(isIPv4);
  expect(rootIsIPv6).toBe(isIPv6);
});

test('an IPv4-only stack: listen(port) without a host is 0.0.0.0 as before; families are IPv4', async () => {
  const t = netPair();
  const srv = t.server.net.createServer((s) => s.end(`${s.remoteAddress} ${s.remoteFamily} ${s.localAddress} ${s.localFamily}`));
  srv.listen(7);
  await t.run(new Promise((r) => srv.once('listening', r)));
  expect(srv.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 7 });
  const c = t.client.net.connect({ host: '10.0.0.2', port: 7, family: 4 });
  const text = received(c);
  await t.run(new Promise((r) => c.once('connect', r)));
  expect([c.remoteAddress, c.remoteFamily, c.localAddress, c.localFamily]).toEqual(['10.0.0.2', 'IPv4', '10.0.0.1', 'IPv4']);
  expect(c.address()).toEqual({ address: '10.0.0.1', family: 'IPv4', port: c.localPort });
  expect(await t.run(text)).toBe('10.0.0.1 IPv4 10.0.0.2 IPv4');
  srv.close();
  await t.finish();
});

test("a '::' listener takes IPv4 clients and reports them as node does ('::ffff:a.b.c.d', IPv6)", async () => {
  // What node:net itself reports on this machine for a server without a host (it binds '::' where IPv6 is available).
  const real = await new Promise<Record<string, string | undefined> | null>((resolve) => {
    const srv = nodeNet.createServer((s) => {
      resolve({ address: (srv.address() as nodeNet.AddressInfo).address, family: (srv.address() as nodeNet.AddressInfo).family, remoteFamily: s.remoteFamily, localFamily: s.localFamily, remote: s.remoteAddress, local: s.localAddress });
      s.destroy();
      srv.close();
    });
    srv.once('error', () => resolve(null));
    srv.listen(0, () => {
      const c = nodeNet.connect({ host: '127.0.0.1', port: (srv.address() as nodeNet.AddressInfo).port });
      c.on('error', () => resolve(null));
      c.on('close', () => {});
    });
  });

  const t = netPair();
  const seen: Record<string, string | undefined>[] = [];
  const srv = t.server.net.createServer((s) => {
    const a = srv.address()!;
    seen.push({ address: a.address, family: a.family, remoteFamily: s.remoteFamily, localFamily: s.localFamily, remote: s.remoteAddress, local: s.localAddress });
    s.end();
  });
  srv.listen({ host: '::', port: 80 });
  const c = t.client.net.connect({ host: '10.0.0.2', port: 80 });
  c.resume();
  await t.run(new Promise((r) => c.once('close', r)));
  expect(seen).toEqual([{ address: '::', family: 'IPv6', remoteFamily: 'IPv6', localFamily: 'IPv6', remote: '::ffff:10.0.0.1', local: '::ffff:10.0.0.2' }]);
  if (real !== null && real.address === '::') {
    // Same shape as node's: only the addresses differ (127.0.0.1 there).
    expect({ ...seen[0], remote: seen[0]!.remote!.replace('10.0.0.1', '127.0.0.1'), local: seen[0]!.local!.replace('10.0.0.2', '127.0.0.1') }).toEqual(real);
  }
  // The IPv4 client still sees IPv4.
  expect([c.remoteAddress, c.remoteFamily]).toEqual(['10.0.0.2', 'IPv4']);
  srv.close();
  await t.finish();
});

test("ipv6Only keeps IPv4 clients out of '::' (ECONNREFUSED); '::ffff:a.b.c.d' hosts reach IPv4 and are reported as IPv6", async () => {
  const t = netPair();
  const only = t.server.net.createServer((s) => s.end());
  only.listen({ host: '::', port: 81, ipv6Only: true });
  const c1 = t.client.net.connect({ host: '10.0.0.2', port: 81 });
  const e1 = await t.run(new Promise<NetError>((r) => c1.once('error', r)));
  expect([e1.code, e1.message]).toEqual(['ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.2:81']);
  // ...and an IPv4 listener can share the port with it.
  const four = t.server.net.createServer((s) => s.end('four'));
  four.listen({ host: '0.0.0.0', port: 81 });
  await t.run(new Promise((r) => four.once('listening', r)));

  const c2 = t.client.net.connect({ host: '::ffff:10.0.0.2', port: 81 });
  const text = received(c2);
  await t.run(new Promise((r) => c2.once('connect', r)));
  expect([c2.remoteAddress, c2.remoteFamily, c2.localAddress, c2.localFamily]).toEqual(['::ffff:10.0.0.2', 'IPv6', '::ffff:10.0.0.1', 'IPv6']);
  expect(c2.address()).toEqual({ address: '::ffff:10.0.0.1', family: 'IPv6', port: c2.localPort });
  expect(await t.run(text)).toBe('four');
  only.close();
  four.close();
  await t.finish();
});

test('connect: family validation, host forms, localAddress of the wrong family (EINVAL, bind), names (ENOTFOUND)', async () => {
  const t = netPair();
  expect(() => t.client.net.connect({ host: '10.0.0.2', port: 80, family: 5 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  const errorOf = (o: Parameters<typeof t.client.net.connect>[0]): Promise<NetError> => {
    const s: Socket = t.client.net.connect(o);
    return t.run(new Promise<NetError>((r) => s.once('error', r)));
  };
  const e1 = await errorOf({ host: '10.0.0.2', port: 80, localAddress: '::1' });
  expect([e1.code, e1.syscall]).toEqual(['EINVAL', 'bind']);
  const e2 = await errorOf({ host: '[fd00::2]', port: 80, localAddress: '10.0.0.1' });
  expect([e2.code, e2.syscall]).toEqual(['EINVAL', 'bind']);
  const e3 = await errorOf({ host: 'example.org', port: 80, family: 6 });
  expect([e3.code, e3.syscall, e3.message]).toEqual(['ENOTFOUND', 'getaddrinfo', 'getaddrinfo ENOTFOUND example.org']);
  // No IPv6 on this stack: no route.
  const e4 = await errorOf({ host: 'fd00::2', port: 80 });
  expect([e4.code, e4.syscall, e4.message]).toEqual(['ENETUNREACH', 'connect', 'connect ENETUNREACH fd00::2:80']);
  // localhost with family 6 is ::1; family 0 or 4 is 127.0.0.1.
  const echo = t.client.net.createServer((s) => s.end(`${s.remoteAddress}`));
  echo.listen({ host: '::', port: 7 });
  for (const [family, want] of [
    [0, '::ffff:127.0.0.1'],
    [4, '::ffff:127.0.0.1'],
    [6, '::1'],
  ] as const) {
    const c = t.client.net.connect({ port: 7, family });
    const got = await t.run(received(c));
    expect([family, got, c.remoteFamily]).toEqual([family, want, family === 6 ? 'IPv6' : 'IPv4']);
  }
  echo.close();
  await t.finish();
});

test('stack.listen({ host: "::" }) iterates IPv4 clients of a dual listener', async () => {
  const t = netPair();
  const loop = t.server.listen({ host: '::', port: 9 });
  await t.run(loop.ready);
  expect(loop.server.address()).toEqual({ address: '::', family: 'IPv6', port: 9 });
  const c = t.client.net.connect({ host: '10.0.0.2', port: 9 });
  const it = await t.run(loop.next());
  const s = it.value as Socket;
  expect(s.remoteAddress).toBe('::ffff:10.0.0.1');
  s.end();
  c.resume();
  await t.run(new Promise((r) => c.once('close', r)));
  loop.close();
  await t.finish();
});

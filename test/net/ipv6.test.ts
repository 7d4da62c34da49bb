// The node:net façade over IPv6 end to end: two simulated stacks on one
// link carrying both families (client 10.0.0.1 / fd00::1, server 10.0.0.2
// / fd00::2). listen(port) binds '::' on a stack with IPv6; IPv6 clients
// with every host form; a dual server with an IPv4 and an IPv6 client at
// once; localAddress; errors with IPv6 addresses; node:http over IPv6.
// Each test ends with no PCB and no pbuf left.
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { expect, test } from 'vitest';
import type { NetError, Socket } from '../../src/net/index.ts';
import { collect, type NetPair, netPair, pattern, sha256 } from './helpers.ts';

function dualNetPair(): NetPair {
  return netPair({ seed: 16, families: 'dual' });
}

function received(s: Socket): Promise<string> {
  let text = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (text += d));
  return new Promise((resolve) => s.once('close', () => resolve(text)));
}

test("listen(port) on a stack with IPv6 binds '::' for both families; an IPv6 echo of 300 kB with every host form", async () => {
  const t = dualNetPair();
  const peers: string[] = [];
  const srv = t.server.net.createServer((s) => {
    peers.push(`${s.remoteAddress} ${s.remoteFamily} ${s.localAddress} ${s.localFamily}`);
    s.pipe(s);
  });
  srv.listen(7);
  await t.run(new Promise((r) => srv.once('listening', r)));
  expect(srv.address()).toEqual({ address: '::', family: 'IPv6', port: 7 });

  const data = pattern(300_000, 5);
  for (const host of ['fd00::2', '[fd00::2]', 'FD00:0::2']) {
    const c = t.client.net.connect({ host, port: 7, family: 6 });
    await t.run(new Promise((r) => c.once('connect', r)));
    expect([c.remoteAddress, c.remoteFamily, c.remotePort, c.localAddress, c.localFamily]).toEqual(['fd00::2', 'IPv6', 7, 'fd00::1', 'IPv6']);
    expect(c.address()).toEqual({ address: 'fd00::1', family: 'IPv6', port: c.localPort });
    const back = collect(c);
    c.end(data);
    expect(sha256(await t.run(back))).toBe(sha256(data));
  }
  expect(new Set(peers)).toEqual(new Set(['fd00::1 IPv6 fd00::2 IPv6']));
  srv.close();
  await t.finish();
});

test('a dual server serves an IPv4 and an IPv6 client at once, each reported as node does', async () => {
  const t = dualNetPair();
  const srv = t.server.net.createServer((s) => s.end(`${s.remoteAddress}|${s.remoteFamily}|${s.localAddress}`));
  srv.listen({ port: 80, host: '::' });
  const c4 = t.client.net.connect({ host: '10.0.0.2', port: 80 });
  const c6 = t.client.net.connect({ host: 'fd00::2', port: 80 });
  const [r4, r6] = await t.run(Promise.all([received(c4), received(c6)]));
  expect(r4).toBe('::ffff:10.0.0.1|IPv6|::ffff:10.0.0.2');
  expect(r6).toBe('fd00::1|IPv6|fd00::2');
  expect([c4.remoteFamily, c6.remoteFamily]).toEqual(['IPv4', 'IPv6']);
  srv.close();

  // ipv6Only: the IPv6 client still gets in, the IPv4 one is refused.
  const only = t.server.net.createServer((s) => s.end('v6 only'));
  only.listen({ port: 81, host: '::', ipv6Only: true });
  const d6 = t.client.net.connect({ host: 'fd00::2', port: 81 });
  expect(await t.run(received(d6))).toBe('v6 only');
  const d4 = t.client.net.connect({ host: '10.0.0.2', port: 81 });
  const e = await t.run(new Promise<NetError>((r) => d4.once('error', r)));
  expect(e.code).toBe('ECONNREFUSED');
  only.close();
  await t.finish();
});

test('a listener on one IPv6 address; localAddress/localPort over IPv6; errors name IPv6 addresses as node does', async () => {
  const t = dualNetPair();
  const srv = t.server.net.createServer((s) => s.end(`${s.remoteAddress}:${s.remotePort}`));
  srv.listen({ host: 'fd00::2', port: 90 });
  await t.run(new Promise((r) => srv.once('listening', r)));
  expect(srv.address()).toEqual({ address: 'fd00::2', family: 'IPv6', port: 90 });
  const c = t.client.net.connect({ host: 'fd00::2', port: 90, localAddress: 'fd00::1', localPort: 4444 });
  expect(await t.run(received(c))).toBe('fd00::1:4444');

  const refused = t.client.net.connect({ host: 'fd00::2', port: 91 });
  const e1 = await t.run(new Promise<NetError>((r) => refused.once('error', r)));
  expect([e1.code, e1.syscall, e1.address, e1.port, e1.message]).toEqual(['ECONNREFUSED', 'connect', 'fd00::2', 91, 'connect ECONNREFUSED fd00::2:91']);

  const again = t.server.net.createServer(() => {});
  const e2 = await t.run(new Promise<NetError>((r) => again.once('error', r).listen({ host: '::', port: 90 })));
  expect([e2.code, e2.message]).toEqual(['EADDRINUSE', 'listen EADDRINUSE: address already in use :::90']);

  const notMine = t.client.net.connect({ host: 'fd00::2', port: 90, localAddress: 'fd00::9' });
  const e3 = await t.run(new Promise<NetError>((r) => notMine.once('error', r)));
  expect([e3.code, e3.syscall]).toEqual(['EADDRNOTAVAIL', 'bind']);
  srv.close();
  await t.finish();
});

test('node:http over IPv6 through the façade', async () => {
  const t = dualNetPair();
  const web = http.createServer((req, res) => res.end(`${req.method} ${req.url} from ${req.socket.remoteAddress} (${req.socket.remoteFamily})\n`));
  const srv = t.server.net.createServer((sock) => web.emit('connection', sock));
  srv.listen(80);
  class TsipAgent extends http.Agent {
    override createConnection(o: http.ClientRequestArgs): Duplex {
      return t.client.net.connect({ host: String(o.host), port: Number(o.port) });
    }
  }
  const agent = new TsipAgent();
  const res = await t.run(new Promise<http.IncomingMessage>((resolve) => http.get({ host: 'fd00::2', port: 80, path: '/six', agent }, resolve)));
  expect(String(await t.run(collect(res)))).toBe('GET /six from fd00::1 (IPv6)\n');
  agent.destroy();
  srv.close();
  web.close();
  await t.finish();
});

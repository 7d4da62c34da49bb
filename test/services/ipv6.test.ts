// tsip's services on a stack with IPv6 (issue 14): they listen on both
// families, so they answer on the server's IPv6 address as well as on its
// IPv4 one; the status page writes IPv6 connections as [addr]:port (RFC
// 5952) and IPv4 ones as before; the terminal names IPv6 peers the same
// way. Client 10.0.0.1 / fd00::1, server 10.0.0.2 / fd00::2 on one link.
import { expect, test } from 'vitest';
import type { Socket as NetSocket } from '../../src/net/index.ts';
import { startServices, type ServicesOptions } from '../../src/services/start.ts';
import { startTerminal } from '../../src/services/terminal.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import { AF_INET, AF_INET6, SOCK_DGRAM } from '../../src/socket/constants.ts';
import type { Stack } from '../../src/stack/stack.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function env(services?: ServicesOptions) {
  const sim = new Simulator({ seed: 3 });
  const client = sim.addStack('client', { pool: { trackLive: true } });
  const server = sim.addStack('server', { pool: { trackLive: true } });
  sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', prefixLength: 24, aAddr6: 'fd00::1', bAddr6: 'fd00::2', link: { latencyMs: 1 } });
  const svc = services === undefined ? null : startServices(server, services);
  return {
    sim,
    client,
    server,
    svc,
    run: <T>(p: Promise<T>): Promise<T> => sim.settle(p, 3_600_000),
    until: (cond: () => boolean) => sim.runUntilAsync(cond, sim.clock.now() + 600_000),
    finish: async (): Promise<void> => {
      svc?.stop();
      await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 600_000);
      for (const st of [client, server]) {
        expect(st.sockets.open, `${st.name}: sockets left open`).toBe(0);
        expect(st.tcp.pcbCount, `${st.name}: PCBs left`).toBe(0);
        st.pool.assertEmpty();
      }
      sim.close();
    },
  };
}

/** Send `request` on a new connection to host:port (either family) and read to EOF. */
async function exchange(st: Stack, host: string, port: number, request: string): Promise<string> {
  const s = host.includes(':') ? st.sockets.socket(AF_INET6) : st.socket(AF_INET);
  await s.connect([host, port]);
  if (request !== '') await s.sendall(enc(request));
  const parts: Uint8Array[] = [];
  for (let d = await s.recv(65536); d.length > 0; d = await s.recv(65536)) {
    parts.push(d);
    if (request === '' && parts.length > 0) break; // chargen never ends
  }
  s.close();
  return text(Buffer.concat(parts));
}

test('echo, chargen and HTTP answer on the IPv6 address and on the IPv4 one', async () => {
  const e = env({});
  const echo6 = e.client.sockets.socket(AF_INET6);
  await e.run(echo6.connect(['fd00::2', 7]));
  await e.run(echo6.sendall(enc('six\n')));
  expect(text(await e.run(echo6.recv(10)))).toBe('six\n');
  echo6.close();
  const echo4 = e.client.socket();
  await e.run(echo4.connect(['10.0.0.2', 7]));
  await e.run(echo4.sendall(enc('four\n')));
  expect(text(await e.run(echo4.recv(10)))).toBe('four\n');
  echo4.close();

  expect((await e.run(exchange(e.client, 'fd00::2', 19, ''))).startsWith(' !"#$%&')).toBe(true);
  const page = await e.run(exchange(e.client, 'fd00::2', 80, 'GET /bytes/1000 HTTP/1.1\r\n\r\n'));
  expect(page).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(page).toContain('Content-Length: 1000\r\n');
  expect(e.svc!.list.find((s) => s.name === 'http')!.counters.bytesOut).toBeGreaterThan(1000);
  const echoCounters = e.svc!.list.find((s) => s.name === 'echo')!.counters;
  expect([echoCounters.accepted, echoCounters.bytesIn, echoCounters.bytesOut]).toEqual([2, 9, 9]);
  await e.finish();
});

test('UDP echo answers IPv6 and IPv4 senders', async () => {
  const e = env({});
  const d6 = e.client.sockets.socket(AF_INET6, SOCK_DGRAM);
  const d4 = e.client.socket(AF_INET, SOCK_DGRAM);
  d6.sendto(enc('dgram six'), ['fd00::2', 7]);
  d4.sendto(enc('dgram four'), ['10.0.0.2', 7]);
  const [b6, from6] = await e.run(d6.recvfrom(100));
  const [b4, from4] = await e.run(d4.recvfrom(100));
  expect([text(b6), from6]).toEqual(['dgram six', ['fd00::2', 7, 0, 0]]);
  expect([text(b4), from4]).toEqual(['dgram four', ['10.0.0.2', 7]]);
  d6.close();
  d4.close();
  await e.finish();
});

test('the status page lists IPv6 connections as [addr]:port and IPv4 ones as before; IPv6 viewers are local by localPeers', async () => {
  const e = env({ statusConnections: 'local', localPeers: ['fd00::1'] });
  // Hold one IPv4 connection open while the IPv6 client asks for the page.
  const hold = e.client.socket();
  await e.run(hold.connect(['10.0.0.2', 9]));
  const page = await e.run(exchange(e.client, 'fd00::2', 80, 'GET /status.json HTTP/1.1\r\n\r\n'));
  const st = JSON.parse(page.slice(page.indexOf('\r\n\r\n') + 4)) as { connections: { local: string; remote: string }[] };
  const rows = st.connections.map((r) => `${r.local} ${r.remote}`);
  expect(rows).toContainEqual(expect.stringMatching(/^\[fd00::2\]:80 \[fd00::1\]:\d+$/));
  expect(rows).toContainEqual(expect.stringMatching(/^10\.0\.0\.2:9 10\.0\.0\.1:\d+$/));
  hold.close();
  await e.finish();

  // Without localPeers, an IPv6 client on a /64 is no local viewer: no rows.
  const f = env({ statusConnections: 'local' });
  const page2 = await f.run(exchange(f.client, 'fd00::2', 80, 'GET /status.json HTTP/1.1\r\n\r\n'));
  const st2 = JSON.parse(page2.slice(page2.indexOf('\r\n\r\n') + 4)) as { connections?: unknown; connectionsHidden?: string };
  expect(st2.connections).toBeUndefined();
  expect(st2.connectionsHidden).toBe('connections are listed only for local clients');
  await f.finish();
});

test('the terminal listens on both families and names peers host:port / [addr]:port', async () => {
  const e = env();
  const logs: string[] = [];
  const svc = startTerminal(e.server, { port: 2323, password: 'pw', mode: 'shell', log: (l) => logs.push(l) });
  await e.run(svc.ready);
  expect(svc.server.address()).toEqual({ address: '::', family: 'IPv6', port: 2323 });
  const sessions: { sock: NetSocket; out: () => string }[] = [];
  for (const host of ['fd00::2', '10.0.0.2']) {
    const sock = await e.run(e.client.connectTcp({ host, port: 2323 }));
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (out += d));
    sessions.push({ sock, out: () => out });
  }
  await e.until(() => sessions.every((s) => s.out().includes('Password: ')));
  for (const s of sessions) s.sock.write('pw\nwhoami\nconns\n');
  await e.until(() => sessions.every((s) => (s.out().match(/\$ /g) ?? []).length >= 3));
  const [six, four] = sessions.map((s) => s.out());
  const p6 = sessions[0]!.sock.localPort!;
  const p4 = sessions[1]!.sock.localPort!;
  expect(six).toContain(`session 1 from [fd00::1]:${p6}`);
  expect(four).toContain(`session 2 from 10.0.0.1:${p4}`);
  expect(six).toContain(`ESTABLISHED 2323 -> [fd00::1]:${p6}`);
  expect(six).toContain(`ESTABLISHED 2323 -> 10.0.0.1:${p4}`);
  expect(logs).toContain(`terminal: session 1 from [fd00::1]:${p6} connected (shell)`);
  for (const s of sessions) s.sock.end('exit\n');
  await e.until(() => svc.sessions.size === 0);
  svc.stop();
  for (const s of sessions) s.sock.destroy();
  await e.finish();
});

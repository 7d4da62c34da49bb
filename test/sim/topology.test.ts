// Issue 16, part 2: hosts on a switch (sim.addSwitch/attach and the
// topology helpers), host names every stack resolves, and the link
// controls a fault schedule drives: partition/heal, setLinkUp, setLink.
// Bytes are checked by hash, and every test ends with no PCB and no pbuf
// left on any stack.
import { describe, expect, test } from 'vitest';
import { Pinger } from '../../src/ip/ping.ts';
import type { Socket as NetSocket } from '../../src/net/socket.ts';
import { PcapWriter, readPcap } from '../../src/sim/pcap.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import { lan, lanAddr, proxied, star } from '../../src/sim/topology.ts';
import { AF_INET, AF_INET6, IPPROTO_TCP, SOCK_STREAM } from '../../src/socket/constants.ts';
import { errno, OSError } from '../../src/socket/errors.ts';
import { Stack } from '../../src/stack/stack.ts';
import { addr } from '../support/packets.ts';
import { toIpAddr } from '../../src/wire/ipaddr.ts';
import { pattern, sha256 } from '../net/helpers.ts';

const TRACK = { pool: { trackLive: true } };
const PORT = 7000;

/** Run until quiet, check every stack has no PCB and no pbuf left, close. */
async function finish(sim: Simulator, stacks: readonly Stack[] = sim.stacks): Promise<void> {
  await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 600_000);
  for (const st of stacks) {
    expect(st.tcp.pcbCount, `${st.name}: PCBs left`).toBe(0);
    st.pool.assertEmpty();
  }
  sim.close();
}

/** An echo server on `stack`:`port`; counts connections. */
function echoServer(stack: Stack, port = PORT, host?: string): { accepted: () => number; close: () => void } {
  let n = 0;
  const srv = stack.net.createServer((s) => {
    n++;
    s.pipe(s);
    s.on('error', () => {});
  });
  srv.listen({ port, ...(host !== undefined ? { host } : {}) });
  return { accepted: () => n, close: () => srv.close() };
}

/** Connect, send `data`, end, and resolve with everything that came back once closed. */
function echoRound(stack: Stack, host: string, data: Buffer, port = PORT, onSocket?: (s: NetSocket) => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = stack.net.connect({ host, port });
    onSocket?.(s);
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(parts)));
    s.on('connect', () => s.end(data));
  });
}

describe('switch and topologies', () => {
  test('N clients move bytes to one server through a switch (star), hashes intact', async () => {
    const sim = new Simulator({ seed: 3 });
    const { sw, server, clients } = star(sim, { clients: 5, stack: TRACK, link: { latencyMs: 2, loss: 0.01 } });
    expect(server.name).toBe('server');
    expect(clients.map((c) => c.name)).toEqual(['client-1', 'client-2', 'client-3', 'client-4', 'client-5']);
    const echo = echoServer(server);
    const data = clients.map((_, i) => pattern(40_000 + i * 7_001, i + 1));
    const back = await sim.settle(Promise.all(clients.map((c, i) => echoRound(c, '10.0.0.1', data[i]!))));
    for (let i = 0; i < clients.length; i++) expect(sha256(back[i]!)).toBe(sha256(data[i]!));
    expect(echo.accepted()).toBe(5);
    expect(sw.stats.forwarded).toBeGreaterThan(100);
    expect(sw.stats.noRoute + sw.stats.partitioned + sw.stats.linkDown + sw.stats.malformed).toBe(0);
    expect(sw.ports.map((p) => p.name)).toEqual(['server~switch', ...clients.map((c) => `${c.name}~switch`)]);
    // Loss applies per link, in both directions of each port.
    expect(sw.ports.reduce((n, p) => n + p.up.stat('dropped') + p.down.stat('dropped'), 0)).toBeGreaterThan(0);
    echo.close();
    await finish(sim);
  });

  test('client → proxy → K servers, by host name, round robin', async () => {
    const sim = new Simulator({ seed: 5 });
    const K = 3;
    const { client, proxy, servers } = proxied(sim, { servers: K, stack: TRACK, link: { latencyMs: 1, jitterMs: 2 } });
    expect(servers.map((s) => s.name)).toEqual(['server-1', 'server-2', 'server-3']);
    const echoes = servers.map((s) => echoServer(s));
    let next = 0;
    const front = proxy.net.createServer({ allowHalfOpen: true }, (down) => {
      const up = proxy.net.connect({ host: `server-${(next++ % K) + 1}`, port: PORT, allowHalfOpen: true });
      down.pipe(up);
      up.pipe(down);
      down.on('error', () => up.destroy());
      up.on('error', () => down.destroy());
    });
    front.listen({ port: 8080, host: 'proxy' }); // a host name binds its address
    const data = Array.from({ length: K * 2 }, (_, i) => pattern(20_000 + i * 333, 50 + i));
    const back = await sim.settle(Promise.all(data.map((d) => echoRound(client, 'proxy', d, 8080))));
    for (let i = 0; i < data.length; i++) expect(sha256(back[i]!)).toBe(sha256(data[i]!));
    expect(echoes.map((e) => e.accepted())).toEqual([2, 2, 2]);
    expect(front.address()).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 8080 });
    for (const e of echoes) e.close();
    front.close();
    await finish(sim);
  });

  test('IPv6 over the switch (IPv6-only and dual-stack hosts)', async () => {
    const sim = new Simulator({ seed: 9 });
    const pcap = new PcapWriter();
    const { sw, server, clients } = star(sim, { clients: 2, ipv6: 'only', stack: TRACK, switch: { pcap } });
    const echo = echoServer(server);
    const data = pattern(30_000, 9);
    const [a, b] = await sim.settle(Promise.all([echoRound(clients[0]!, 'fd00::1', data), echoRound(clients[1]!, 'server', data)]));
    expect(sha256(a!)).toBe(sha256(data));
    expect(sha256(b!)).toBe(sha256(data));
    const file = readPcap(pcap.bytes());
    if (file instanceof Error) throw file;
    expect(file.records.length).toBe(sw.stats.forwarded);
    expect(sw.stats.noRoute + sw.stats.malformed).toBe(0);
    expect(file.records.every((r) => r.data[0]! >> 4 === 6)).toBe(true);
    // The hop limit is untouched: the switch is one wire, not a router.
    expect(new Set(file.records.map((r) => r.data[7]))).toEqual(new Set([64]));
    echo.close();
    await finish(sim);

    const sim2 = new Simulator({ seed: 9 });
    const dual = star(sim2, { clients: 1, ipv6: true, stack: TRACK });
    const echo2 = echoServer(dual.server);
    const sock: NetSocket[] = [];
    const back = await sim2.settle(echoRound(dual.clients[0]!, 'fd00::1', data, PORT, (s) => sock.push(s)));
    expect(sha256(back)).toBe(sha256(data));
    expect(sock[0]!.remoteAddress).toBe('fd00::1');
    expect(sim2.names.lookup('client-1').map(String)).toEqual(['167772162', 'fd00::2']);
    echo2.close();
    await finish(sim2);
  });

  test('ports with their own MTU and GSO: super-segments are cut, the smaller port fragments nothing TCP sends', async () => {
    const sim = new Simulator({ seed: 17 });
    const sw = sim.addSwitch('sw');
    const server = sim.addStack('srv', TRACK);
    const client = sim.addStack('cli', TRACK);
    const sp = sim.attach(server, sw, { addr: '192.168.7.1', mtu: 1280, name: 'eth0' });
    const cp = sim.attach(client, sw, { addr: '192.168.7.2', gso: true });
    expect([sp.netif.name, cp.netif.name, sp.name, cp.name]).toEqual(['eth0', 'sim0', 'srv~sw', 'cli~sw']);
    expect(sim.linkNames()).toEqual(['srv~sw', 'cli~sw']);
    const echo = echoServer(server);
    const data = pattern(200_000, 17);
    const back = await sim.settle(echoRound(client, 'srv', data));
    expect(sha256(back)).toBe(sha256(data));
    expect(sp.down.stat('oversize') + sp.down.stat('fragmented')).toBe(0);
    expect(sw.stats.forwarded).toBeGreaterThan(100);
    echo.close();
    await finish(sim);
  });

  test('a frame for an address no port has is dropped and counted', () => {
    const sim = new Simulator({ seed: 1 });
    const { sw, hosts } = lan(sim, ['a', 'b'], { stack: TRACK, ipv6: true });
    const [a] = hosts;
    const p4 = new Pinger(a!, a!.icmp, { dst: addr('10.0.0.99'), count: 3, intervalMs: 10, timeoutMs: 100 });
    p4.start();
    expect(sim.runUntil(() => p4.done, 10_000)).toBe(true);
    expect(p4.result.received).toBe(0);
    expect(sw.stats.noRoute).toBe(3);
    const p6 = new Pinger(a!, a!.icmp, { dst: addr('10.0.0.2'), count: 2, intervalMs: 10 });
    p6.start();
    expect(sim.runUntil(() => p6.done, 10_000)).toBe(true);
    expect(p6.result.received).toBe(2);
    expect(sw.stats.noRoute).toBe(3);
    expect(sw.route(addr('10.0.0.2'))?.host).toBe('b');
    expect(sw.route(toIpAddr('fd00::2'))?.host).toBe('b');
    expect(sw.route(toIpAddr('fd00::3'))).toBeNull();
    expect(() => sim.attach(sim.addStack('c', TRACK), sw, { addr: '10.0.0.2' })).toThrow(RangeError);
    sim.runUntilIdle();
    sim.close();
    for (const s of sim.stacks) s.pool.assertEmpty();
  });
});

describe('host names', () => {
  test('net.connect({ host }) and getaddrinfo resolve simulator host names; unknown names fail as before', async () => {
    const sim = new Simulator({ seed: 2 });
    const { servers, client } = proxied(sim, { servers: 2, stack: TRACK, ipv6: true });
    // One table, shared by every stack (a stack made later too).
    expect(servers.every((s) => s.names === sim.names && client.names === sim.names)).toBe(true);
    expect(client.getaddrinfo('server-1', 80)).toEqual([
      [AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['10.0.0.3', 80]],
      [AF_INET6, SOCK_STREAM, IPPROTO_TCP, '', ['fd00::3', 80, 0, 0]],
    ]);
    expect(client.getaddrinfo('SERVER-2', 80, AF_INET)).toEqual([[AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['10.0.0.4', 80]]]);
    expect(client.getaddrinfo('server-2', 80, AF_INET6)[0]![4]).toEqual(['fd00::4', 80, 0, 0]);
    expect(client.getaddrinfo('10.0.0.9', 80)[0]![4]).toEqual(['10.0.0.9', 80]);
    let err: unknown;
    try {
      client.getaddrinfo('nowhere', 80);
    } catch (e) {
      err = e;
    }
    expect(err instanceof OSError && err.errno === errno.EINVAL).toBe(true);
    expect(sim.names.nameOf('10.0.0.4')).toBe('server-2');

    // A MicroPython socket connects to the address getaddrinfo gave.
    const ls = servers[0]!.socket();
    ls.bind(['0.0.0.0', PORT]);
    ls.listen();
    const c = client.socket();
    await sim.settle(c.connect(client.getaddrinfo('server-1', PORT, AF_INET)[0]![4] as [string, number]));
    const [s] = await sim.settle(ls.accept());
    await sim.settle(c.send(new TextEncoder().encode('hi')));
    expect(new TextDecoder().decode(await sim.settle(s.recv(10)))).toBe('hi');
    c.close();
    s.close();
    ls.close();

    // node:net: names, the family option, ENOTFOUND for the unknown.
    const echo = echoServer(servers[1]!);
    const family6: NetSocket[] = [];
    const via6 = await sim.settle(
      new Promise<Buffer>((resolve, reject) => {
        const sk = client.net.connect({ host: 'server-2', port: PORT, family: 6 });
        family6.push(sk);
        const parts: Buffer[] = [];
        sk.on('data', (d: Buffer) => parts.push(d));
        sk.on('error', reject);
        sk.on('close', () => resolve(Buffer.concat(parts)));
        sk.on('connect', () => sk.end('six'));
      }),
    );
    expect(via6.toString()).toBe('six');
    expect(family6[0]!.remoteAddress).toBe('fd00::4');
    const e = await sim.settle(
      new Promise<{ code?: string; hostname?: string }>((resolve) => {
        client.net.connect({ host: 'nowhere', port: PORT }).on('error', resolve);
      }),
    );
    expect([e.code, e.hostname]).toEqual(['ENOTFOUND', 'nowhere']);

    // A stack restarted by the fault machinery gets the shared table through stackListeners.
    const later = sim.addStack('late', TRACK);
    expect(later.names).toBe(sim.names);
    echo.close();
    await finish(sim);
  });

  test("node:net's lookup option: called for names, not for IP literals; 'lookup' is emitted", async () => {
    const sim = new Simulator({ seed: 4 });
    const { server, clients } = star(sim, { clients: 1, stack: TRACK });
    const echo = echoServer(server);
    const calls: unknown[] = [];
    const events: unknown[] = [];
    const lookup = (h: string, o: { family: number }, cb: (e: Error | null, a: string, f: number) => void): void => {
      calls.push([h, o.family]);
      cb(null, '10.0.0.1', 4);
    };
    const got = await sim.settle(
      new Promise<Buffer>((resolve, reject) => {
        const s = clients[0]!.net.connect({ host: 'anything.example', port: PORT, lookup });
        s.on('lookup', (...a: unknown[]) => events.push(a));
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => parts.push(d));
        s.on('error', reject);
        s.on('close', () => resolve(Buffer.concat(parts)));
        s.on('connect', () => s.end('via lookup'));
      }),
    );
    expect(got.toString()).toBe('via lookup');
    expect(calls).toEqual([['anything.example', 0]]);
    expect(events).toEqual([[null, '10.0.0.1', 4, 'anything.example']]);
    const failing = (_h: string, _o: unknown, cb: (e: Error | null, a: string) => void): void => cb(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }), '');
    const err = await sim.settle(
      new Promise<{ code?: string }>((resolve) => {
        clients[0]!.net.connect({ host: 'bad.example', port: PORT, lookup: failing }).on('error', resolve);
      }),
    );
    expect(err.code).toBe('ENOTFOUND');
    await sim.settle(echoRound(clients[0]!, '10.0.0.1', Buffer.from('x'))); // a literal never calls lookup
    expect(calls.length).toBe(1);
    echo.close();
    await finish(sim);
  });
});

describe('link controls', () => {
  test('partition drops frames between groups at the switch; heal, and TCP recovers with bytes intact', async () => {
    const sim = new Simulator({ seed: 11 });
    const { sw, server, clients } = star(sim, { clients: 2, stack: TRACK, link: { latencyMs: 2, bitsPerSecond: 8_000_000 } });
    const echo = echoServer(server);
    const data1 = pattern(400_000, 1);
    const data2 = pattern(100_000, 2);
    const r1 = echoRound(clients[0]!, 'server', data1);
    await sim.runUntilAsync(() => false, sim.clock.now() + 100);
    sim.partition([['server', 'client-2'], ['client-1']]);
    const partitionedAt = sw.stats.partitioned;
    // client-2 is on the server's side: unaffected.
    const r2 = await sim.settle(echoRound(clients[1]!, 'server', data2));
    expect(sha256(r2)).toBe(sha256(data2));
    await sim.runUntilAsync(() => false, sim.clock.now() + 2_000);
    expect(sw.stats.partitioned).toBeGreaterThan(partitionedAt);
    const rx = server.stats.tcp.recv;
    await sim.runUntilAsync(() => false, sim.clock.now() + 1_000);
    expect(server.stats.tcp.recv).toBe(rx); // nothing from client-1 gets through
    expect([...sim.partitionGroups()]).toEqual([
      ['server', 0],
      ['client-2', 0],
      ['client-1', 1],
    ]);
    sim.heal();
    const back = await sim.settle(r1);
    expect(sha256(back)).toBe(sha256(data1));
    expect(() => sim.partition([['server'], ['ghost']])).toThrow(RangeError);
    expect(() => sim.partition([['server'], ['server']])).toThrow(RangeError);
    echo.close();
    await finish(sim);
  });

  test('partition and setLinkUp on a point-to-point link', () => {
    const sim = new Simulator({ seed: 6 });
    const a = sim.addStack('a', TRACK);
    const b = sim.addStack('b', TRACK);
    const c = sim.addStack('c', TRACK);
    const ab = sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 5 } });
    const ab2 = sim.connect(a, c, { aAddr: '10.0.1.1', bAddr: '10.0.1.2' });
    expect([ab.name, ab2.name]).toEqual(['a~b', 'a~c']);
    expect(sim.linkNames()).toEqual(['a~b', 'a~c']);
    const ping = (count: number) => {
      const p = new Pinger(a, a.icmp, { dst: addr('10.0.0.2'), count, intervalMs: 20, timeoutMs: 100 });
      p.start();
      sim.runUntil(() => p.done, sim.clock.now() + 60_000);
      return p.result.received;
    };
    expect(ping(3)).toBe(3);
    sim.partition([['a'], ['b']]);
    expect(ping(3)).toBe(0);
    expect(ab.ab.droppedBlocked).toBe(3);
    expect(ab2.ab.blocked).toBe(false); // c is in no group
    sim.heal();
    expect(ping(3)).toBe(3);

    // Down: frames in flight are lost, every frame is refused until up again.
    const p = new Pinger(a, a.icmp, { dst: addr('10.0.0.2'), count: 1, intervalMs: 20, timeoutMs: 100 });
    p.start();
    sim.runUntil(() => ab.ab.inFlight() > 0, sim.clock.now() + 100);
    expect(ab.ab.inFlight()).toBe(1);
    sim.setLinkUp('a~b', false);
    expect(ab.ab.inFlight()).toBe(0);
    sim.runUntil(() => p.done, sim.clock.now() + 1_000);
    expect(p.result.received).toBe(0);
    expect(ping(2)).toBe(0);
    expect(ab.ab.droppedDown).toBe(2);
    sim.setLinkUp('a~b', true);
    expect(ping(2)).toBe(2);
    expect(() => sim.setLinkUp('a~z', false)).toThrow(RangeError);
    sim.runUntilIdle();
    sim.close();
    for (const s of sim.stacks) s.pool.assertEmpty();
  });

  test('a switch port taken down and up again: counted drops, then TCP completes', async () => {
    const sim = new Simulator({ seed: 12 });
    const { sw, server, clients } = star(sim, { clients: 1, stack: TRACK, link: { latencyMs: 3, bitsPerSecond: 20_000_000 } });
    const echo = echoServer(server);
    const data = pattern(300_000, 3);
    const r = echoRound(clients[0]!, 'server', data);
    await sim.runUntilAsync(() => false, sim.clock.now() + 60);
    sim.setLinkUp('client-1~switch', false);
    await sim.runUntilAsync(() => false, sim.clock.now() + 1_500);
    const port = sw.ports[1]!;
    expect(port.up.up).toBe(false);
    expect(port.up.droppedDown).toBeGreaterThan(0);
    expect(sw.stats.linkDown).toBeGreaterThan(0); // the server's frames toward the down port
    sim.setLinkUp('client-1~switch', true);
    const back = await sim.settle(r);
    expect(sha256(back)).toBe(sha256(data));
    echo.close();
    await finish(sim);
  });

  test('setLink changes a link mid-run: loss shows in the stage counters, bytes intact, spec readable', async () => {
    const sim = new Simulator({ seed: 13 });
    const { sw, server, clients } = star(sim, { clients: 1, stack: TRACK, link: { latencyMs: 1, bitsPerSecond: 10_000_000 } });
    const echo = echoServer(server);
    const data = pattern(500_000, 4);
    const port = sw.ports[1]!;
    expect(port.up.stages.map((s) => s.name)).toEqual(['mtu', 'rate-limit', 'latency']);
    const r = echoRound(clients[0]!, 'server', data);
    await sim.runUntilAsync(() => false, sim.clock.now() + 50);
    expect(port.up.stat('dropped')).toBe(0);
    sim.setLink('client-1~switch', { ...sim.linkSpec('client-1~switch'), latencyMs: 2, loss: 0.05 }, 'ab');
    expect(port.up.stages.map((s) => s.name)).toEqual(['mtu', 'loss', 'rate-limit', 'latency']);
    expect(port.down.stages.map((s) => s.name)).toEqual(['mtu', 'rate-limit', 'latency']);
    expect(sim.linkSpec('client-1~switch', 'ab')).toEqual({ latencyMs: 2, bitsPerSecond: 10_000_000, loss: 0.05 });
    expect(sim.linkSpec('client-1~switch', 'ba')).toEqual({ latencyMs: 1, bitsPerSecond: 10_000_000 });
    const back = await sim.settle(r);
    expect(sha256(back)).toBe(sha256(data));
    expect(port.up.stat('dropped')).toBeGreaterThan(0);
    expect(port.up.reconfigurations).toBe(1);
    // Errors change nothing.
    expect(() => sim.setLink('client-1~switch', { loss: 2 })).toThrow(RangeError);
    expect(() => sim.setLink('nope', {})).toThrow(RangeError);
    expect(() => sim.setLink('client-1~switch', {}, 'up' as 'ab')).toThrow(RangeError);
    expect(port.up.reconfigurations).toBe(1);
    sim.setLink('client-1~switch', {});
    expect(port.up.stages.map((s) => s.name)).toEqual(['mtu', 'latency']);
    expect(port.up.stat('dropped')).toBeGreaterThan(0); // old stages still count
    echo.close();
    await finish(sim);
  });

  test('the same seed gives identical pcaps (ports and switch); another seed differs', async () => {
    const run = async (seed: number): Promise<{ ports: Uint8Array; sw: Uint8Array }> => {
      const sim = new Simulator({ seed });
      const ports = new PcapWriter();
      const swPcap = new PcapWriter();
      const { server, clients } = star(sim, { clients: 3, stack: TRACK, pcap: ports, switch: { pcap: swPcap }, link: { latencyMs: 2, jitterMs: 3, loss: 0.03, reorder: 0.05 } });
      const echo = echoServer(server);
      const data = clients.map((_, i) => pattern(20_000, i + 10));
      const half = sim.settle(Promise.all(clients.map((c, i) => echoRound(c, 'server', data[i]!))));
      await sim.runUntilAsync(() => false, sim.clock.now() + 30);
      sim.setLink('client-2~switch', { latencyMs: 1, loss: 0.1 });
      const back = await half;
      back.forEach((b, i) => expect(sha256(b)).toBe(sha256(data[i]!)));
      echo.close();
      await finish(sim);
      return { ports: ports.bytes(), sw: swPcap.bytes() };
    };
    const one = await run(21);
    const two = await run(21);
    const other = await run(22);
    expect(one.ports.length).toBeGreaterThan(10_000);
    expect(sha256(one.ports)).toBe(sha256(two.ports));
    expect(sha256(one.sw)).toBe(sha256(two.sw));
    expect(sha256(other.ports)).not.toBe(sha256(one.ports));
  });

  test('a host rebuilt from its wiring gets its switch port back: the switch delivers to the new stack', () => {
    const sim = new Simulator({ seed: 8 });
    const { sw, hosts } = lan(sim, ['a', 'b'], { stack: TRACK });
    const [a, b] = hosts as [Stack, Stack];
    const port = sw.ports[1]!;
    expect(port.stack).toBe(b);
    // What a crash/restart helper does: the old netif goes down, a fresh stack is wired.
    port.netif.up = false;
    const fresh = new Stack({ name: 'b', clock: sim.clock, pool: { trackLive: true } });
    for (const fn of sim.stackListeners) fn(fresh);
    for (const wire of sim.wiring.get('b')!) wire(fresh);
    expect(port.stack).toBe(fresh);
    expect(fresh.names).toBe(sim.names);
    const p = new Pinger(a, a.icmp, { dst: addr('10.0.0.2'), count: 2, intervalMs: 10 });
    p.start();
    expect(sim.runUntil(() => p.done, 10_000)).toBe(true);
    expect(p.result.received).toBe(2);
    expect(fresh.stats.icmp.recv).toBe(2);
    expect(b.stats.icmp.recv).toBe(0);
    sim.runUntilIdle();
    sim.close();
    fresh.close();
    for (const s of [...sim.stacks, fresh]) s.pool.assertEmpty();
    expect(lanAddr(258)).toBe('10.0.1.2');
  });
});

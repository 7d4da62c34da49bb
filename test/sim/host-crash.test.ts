// A host crash (issue 16 part 3): the stack vanishes without a FIN or RST,
// its own sockets fail locally with ECONNABORTED, its peers find out only by
// timing out, or by the RST a restarted host sends; a restarted host has
// fresh state, accepts connections and moves bytes again.
import { expect, test } from 'vitest';
import { OSError, errno } from '../../src/socket/errors.ts';
import { Err } from '../../src/err.ts';
import { pattern, sha256 } from '../net/helpers.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import { dial, echoRoundTrip, errorOf, world } from './hosts.ts';

test('a crashed host sends nothing (no RST, no FIN), its sockets error ECONNABORTED, the peer times out', async () => {
  const w = world({ client: { tcp: { userTimeoutMs: 20_000 } } });
  const c = await w.run(dial(w));
  c.on('data', () => {});
  c.write('hello');
  await w.until(() => w.accepted.length === 1 && w.accepted[0]!.bytesRead === 5);
  const old = w.sim.host('server');
  const srvSock = w.accepted[0]!;
  const srvErr = errorOf(srvSock);
  const mark = w.wire.length;
  w.sim.crash('server');
  expect(w.sim.isDown('server')).toBe(true);
  expect(old.netifs.every((n) => !n.isUp)).toBe(true);
  expect(old.tcp.pcbCount).toBe(0);
  const e = await w.run(srvErr);
  expect([e.code, e.syscall]).toEqual(['ECONNABORTED', 'read']);
  // The client keeps writing into the void: retransmissions, never an answer.
  const cliErr = errorOf(c);
  c.write('anyone there?');
  const ce = await w.run(cliErr, 120_000);
  expect(ce.code).toBe('ETIMEDOUT');
  const after = w.wire.slice(mark);
  expect(after.filter((s) => s.link === 'server->client')).toEqual([]);
  expect(after.filter((s) => s.link === 'client->server').length).toBeGreaterThan(3);
  expect(w.wire.some((s) => /[RF]/.test(s.flags) && s.link === 'server->client')).toBe(false);
  // Crashing again is a no-op.
  w.sim.crash('server');
  await w.finish([old]);
});

test('frames on their way to a crashed host are dropped; no timer of its stack is pending', async () => {
  const w = world({ client: { tcp: { userTimeoutMs: 5_000 } } });
  const c = await w.run(dial(w));
  c.on('error', () => {});
  const old = w.sim.host('server');
  const rx0 = old.netifs[1]!.counters.rxPackets;
  w.sim.crash('server');
  c.write(pattern(20_000));
  await w.until(() => c.destroyed);
  expect(old.netifs[1]!.counters.rxPackets).toBe(rx0);
  const heap = (w.sim.clock as unknown as { heap: { items: { name: string }[] } }).heap;
  expect(heap.items.map((t) => t.name).filter((n) => n.startsWith('server/'))).toEqual([]);
  await w.finish([old]);
});

test('MicroPython sockets of a crashed host raise OSError(ECONNABORTED): a blocked recv wakes, send fails', async () => {
  const w = world({ echo: false });
  const srv = w.sim.host('server');
  const ls = srv.socket();
  ls.bind(['0.0.0.0', 8000]);
  ls.listen(2);
  const accepted = ls.accept();
  const c = await w.run(dial(w, 8000));
  c.on('error', () => {});
  const [conn] = await w.run(accepted);
  const blocked = conn.recv(100).then(
    () => null,
    (e: unknown) => e,
  );
  await w.advance(50);
  w.sim.crash('server');
  const err = await w.run(blocked);
  expect(err).toBeInstanceOf(OSError);
  expect((err as OSError).errno).toBe(errno.ECONNABORTED);
  conn.close();
  ls.close();
  c.destroy();
  await w.finish([srv]);
});

test('a MicroPython listener blocked in accept() raises OSError(ECONNABORTED) when its host crashes', async () => {
  const w = world({ echo: false });
  const srv = w.sim.host('server');
  const ls = srv.socket();
  ls.bind(['0.0.0.0', 8000]);
  ls.listen(2);
  const blocked = ls.accept().then(
    () => null,
    (e: unknown) => e,
  );
  await w.advance(10);
  w.sim.crash('server');
  const err = await w.run(blocked);
  expect(err).toBeInstanceOf(OSError);
  expect((err as OSError).errno).toBe(errno.ECONNABORTED);
  ls.close();
  await w.finish([srv]);
});

test('a MicroPython UDP socket blocked in recvfrom() raises OSError(ECONNABORTED) when its host crashes', async () => {
  const w = world({ echo: false });
  const srv = w.sim.host('server');
  const us = srv.socket(2, 2);
  us.bind(['0.0.0.0', 5353]);
  const blocked = us.recvfrom(100).then(
    () => null,
    (e: unknown) => e,
  );
  await w.advance(10);
  w.sim.crash('server');
  const err = await w.run(blocked);
  expect(err).toBeInstanceOf(OSError);
  expect((err as OSError).errno).toBe(errno.ECONNABORTED);
  expect(srv.udp.pcbCount).toBe(0);
  us.close();
  await w.finish([srv]);
});

test('a raw PCB of a crashed host gets ERR_ABRT in its err callback', async () => {
  const w = world({ echo: false });
  const srv = w.sim.host('server');
  const raw = srv.sockets.raw;
  const lp = raw.tcpNew()!;
  expect(raw.tcpBind(lp, 0, 9000)).toBe(Err.OK);
  const listener = raw.tcpListen(lp)!;
  const errs: number[] = [];
  raw.tcpAccept(listener, (_a, npcb) => {
    raw.tcpErr(npcb, (_b, err) => errs.push(err));
    return Err.OK;
  });
  const c = await w.run(dial(w, 9000));
  c.on('error', () => {});
  await w.advance(20);
  w.sim.crash('server');
  expect(errs).toEqual([Err.ABRT]);
  c.destroy();
  await w.finish([srv]);
});

test('restart: fresh stack, same name; the old connection meets a RST from the new stack; a new one echoes bytes', async () => {
  const w = world();
  const c = await w.run(dial(w));
  const data = pattern(64 * 1024, 3);
  c.on('data', () => {});
  c.write('first');
  await w.until(() => w.accepted.length === 1 && w.accepted[0]!.bytesRead === 5);
  const old = w.sim.host('server');
  w.sim.crash('server');
  await w.advance(1000);
  const neu = w.sim.restart('server');
  expect(neu).not.toBe(old);
  expect(w.sim.host('server')).toBe(neu);
  expect(w.sim.stacks).toContain(neu);
  expect(w.sim.stacks).not.toContain(old);
  expect(w.sim.generation('server')).toBe(1);
  expect(w.sim.isDown('server')).toBe(false);
  expect(neu.tcp.listeners.size).toBe(1); // booted again: the echo service listens
  const mark = w.wire.length;
  // The old connection: the client sends, the new stack knows nothing of it.
  const cliErr = errorOf(c);
  c.write('still there?');
  const ce = await w.run(cliErr);
  expect(ce.code).toBe('ECONNRESET');
  const rst = w.wire.slice(mark).filter((s) => s.link === 'server->client');
  expect(rst.map((s) => s.flags)).toEqual(['R']);
  // A new connection to the restarted host.
  const c2 = await w.run(dial(w));
  const back = await w.run(echoRoundTrip(c2, data));
  expect(sha256(back)).toBe(sha256(data));
  await w.finish([old]);
});

test('restart of a host that is up power-cycles it (its connections vanish as in a crash)', async () => {
  const w = world({ client: { tcp: { userTimeoutMs: 10_000 } } });
  const c = await w.run(dial(w));
  c.on('data', () => {});
  c.write('x');
  await w.until(() => w.accepted.length === 1 && w.accepted[0]!.bytesRead === 1);
  const old = w.sim.host('server');
  const srvErr = errorOf(w.accepted[0]!);
  const mark = w.wire.length;
  w.sim.restart('server');
  expect((await w.run(srvErr)).code).toBe('ECONNABORTED');
  expect(old.isClosed).toBe(true);
  // Nothing from the old stack; the client's next segment meets the new stack's RST.
  const ce = errorOf(c);
  c.write('y');
  expect((await w.run(ce)).code).toBe('ECONNRESET');
  // (one RST per segment it gets: the ACK of the echoed 'x', then 'y')
  const fromNew = w.wire.slice(mark).filter((s) => s.link === 'server->client');
  expect(fromNew.length).toBeGreaterThan(0);
  expect(fromNew.every((s) => s.flags === 'R')).toBe(true);
  await w.finish([old]);
});

test('restarted stacks get fresh, deterministic randomness: another ISN, the same in every run', async () => {
  const isns = async (): Promise<number[]> => {
    const w = world();
    const out: number[] = [];
    for (let gen = 0; gen < 2; gen++) {
      const c = await w.run(dial(w));
      const synAck = w.wire.filter((s) => s.link === 'server->client' && s.flags === 'SA').at(-1)!;
      out.push(synAck.seg.seq);
      c.destroy();
      await w.advance(100);
      if (gen === 0) w.sim.restart('server');
    }
    await w.finish();
    return out;
  };
  const a = await isns();
  const b = await isns();
  expect(a).toEqual(b);
  expect(a[0]).not.toBe(a[1]);
});

test('an async boot is awaited through booted(); stack listeners see the restarted stack; the link is rewired', async () => {
  const w = world({ echo: false });
  const seen: string[] = [];
  w.sim.stackListeners.push((s) => seen.push(`${s.name}@${w.sim.clock.now()}`));
  let boots = 0;
  w.sim.addHost('late', {
    boot: async (s) => {
      boots++;
      await Promise.resolve();
      s.net.createServer((x) => x.end('hi')).listen(1);
    },
  });
  await w.sim.booted('late');
  expect(boots).toBe(1);
  await w.advance(100);
  const neu = w.sim.restart('server');
  expect(seen).toEqual(['late@0', 'server@100']);
  // The new stack has the link's netif with the old address, and the link delivers to it.
  expect(neu.netifs.map((n) => n.name)).toEqual(w.sim.stacks.find((s) => s.name === 'client')!.netifs.map((n) => n.name));
  const link = w.sim.links[0]!;
  expect(link.bStack).toBe(neu);
  expect(link.bNetif).toBe(neu.netifs[1]);
  w.sim.restart('late');
  await w.run(w.sim.booted('late'));
  expect(boots).toBe(2);
  expect(w.sim.host('late').tcp.listeners.size).toBe(1);
  for (const s of w.sim.stacks) if (s.name === 'late') s.tcp.closeAll();
  await w.finish();
});

test('crash() from inside the stack’s own processing is refused (schedule it on the clock)', async () => {
  const w = world();
  const srv = w.sim.host('server');
  let refused: unknown = null;
  srv.defer(() => {
    try {
      srv.crash();
    } catch (e) {
      refused = e;
    }
  });
  await w.advance(1);
  expect(String(refused)).toMatch(/inside the stack's own processing/);
  expect(srv.isClosed).toBe(false);
  w.sim.crash('server');
  await w.finish([srv]);
});

test('unknown hosts are a RangeError', () => {
  const w = world();
  expect(() => w.sim.crash('nobody')).toThrow(RangeError);
  expect(() => w.sim.restart('nobody')).toThrow(/no host named "nobody"/);
  expect(() => w.sim.skew('nobody', 5)).toThrow(RangeError);
  w.sim.close();
});

test('restart over an IPv6-only link: the new stack gets its IPv6 address back and answers', async () => {
  const sim = new Simulator({ seed: 9 });
  const client = sim.addHost('client', { stack: { pool: { trackLive: true } } });
  sim.addHost('server', {
    stack: { pool: { trackLive: true } },
    boot: (s) => {
      s.net.createServer((x) => x.pipe(x)).listen(7);
    },
  });
  sim.connect(client, sim.host('server'), { aAddr6: 'fd00::1', bAddr6: 'fd00::2', link: { latencyMs: 2 } });
  const old = sim.host('server');
  sim.crash('server');
  sim.restart('server');
  const c = await sim.settle(client.connectTcp({ host: 'fd00::2', port: 7 }));
  const data = pattern(30_000, 4);
  const back = await sim.settle(echoRoundTrip(c, data));
  expect(sha256(back)).toBe(sha256(data));
  expect(sim.host('server').netifs[1]!.addrs6.map(String)).toEqual(['fd00::2']);
  for (const s of sim.stacks) s.tcp.closeAll();
  await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 600_000);
  for (const s of [...sim.stacks, old]) s.pool.assertEmpty();
  sim.close();
});

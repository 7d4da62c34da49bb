// Shared by the host-crash, skew and fault-schedule tests: a client and a
// server host on one p2p link (client 10.0.0.1, server 10.0.0.2), the
// server booting an echo service on port 7 (again after each restart), a
// log of the TCP segments each host put on the wire, and the end-of-test
// check that no live stack holds a PCB or a pbuf.
import { expect } from 'vitest';
import type { Server } from '../../src/net/server.ts';
import type { Socket as NetSocket } from '../../src/net/socket.ts';
import type { SimEvent } from '../../src/sim/simulator.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { Stack, StackOptions } from '../../src/stack/stack.ts';
import { flagStr, parseSent, type SentSeg } from '../support/tcp.ts';

export interface WireSeg {
  t: number;
  /** 'client->server' or 'server->client'. */
  link: string;
  flags: string;
  seg: SentSeg;
}

export interface World {
  sim: Simulator;
  /** Segments as hosts sent them (before the link's faults). */
  wire: WireSeg[];
  /** The timeline (sim.onEvent). */
  events: SimEvent[];
  /** Sockets the server's echo service accepted, every generation. */
  accepted: NetSocket[];
  /** Run until `p` settles (virtual-time deadline `ms`). */
  run<T>(p: Promise<T>, ms?: number): Promise<T>;
  until(cond: () => boolean, ms?: number): Promise<boolean>;
  advance(ms: number): Promise<void>;
  /** Run until quiet, check every stack the simulator built (crashed ones too) and `extra` hold no PCB and no pbuf, close. */
  finish(extra?: Stack[]): Promise<void>;
}

export interface WorldOptions {
  seed?: number | string;
  latencyMs?: number;
  client?: Omit<StackOptions, 'clock' | 'name'>;
  server?: Omit<StackOptions, 'clock' | 'name'>;
  /** Boot the echo service on the server (default true). */
  echo?: boolean;
}

export function world(o: WorldOptions = {}): World {
  const sim = new Simulator({ seed: o.seed ?? 1 });
  const accepted: NetSocket[] = [];
  const servers: Server[] = [];
  const boot = (s: Stack): void => {
    const srv = s.net.createServer((sock) => {
      accepted.push(sock);
      sock.on('error', () => {});
      sock.pipe(sock);
    });
    srv.listen(7);
    servers.push(srv);
  };
  const every: Stack[] = [];
  sim.stackListeners.push((st) => every.push(st));
  sim.addHost('client', { stack: { pool: { trackLive: true }, ...o.client } });
  sim.addHost('server', { stack: { pool: { trackLive: true }, ...o.server }, ...(o.echo === false ? {} : { boot }) });
  sim.connect(sim.host('client'), sim.host('server'), { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: o.latencyMs ?? 5 } });
  const wire: WireSeg[] = [];
  sim.onFrame((t, kind, link, frame) => {
    if (kind !== 'tx' || frame[9] !== 6) return;
    const seg = parseSent(frame);
    wire.push({ t, link, flags: flagStr(seg.flags), seg });
  });
  const events: SimEvent[] = [];
  sim.onEvent((e) => events.push(e));
  return {
    sim,
    wire,
    events,
    accepted,
    run: (p, ms = 600_000) => sim.settle(p, ms),
    until: (cond, ms = 600_000) => sim.runUntilAsync(cond, sim.clock.now() + ms),
    advance: async (ms) => {
      await sim.runUntilAsync(() => false, sim.clock.now() + ms);
    },
    finish: async (extra = []) => {
      for (const srv of servers) srv.close();
      await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 600_000);
      // Crashed generations too: nothing they held may leak.
      for (const st of new Set([...sim.stacks, ...every, ...extra])) {
        expect(st.tcp.pcbCount, `${st.name}: PCBs left`).toBe(0);
        st.pool.assertEmpty();
      }
      sim.close();
    },
  };
}

/** Connect from the client to the server's port, resolve on 'connect'. */
export function dial(w: World, port = 7): Promise<NetSocket> {
  return w.sim.host('client').connectTcp({ host: '10.0.0.2', port });
}

/** Resolve with the socket's 'error' (never rejects). */
export function errorOf(s: NodeJS.EventEmitter): Promise<Error & { code?: string; syscall?: string }> {
  return new Promise((resolve) => s.once('error', resolve));
}

/** Write `data`, end, and collect everything read until EOF. */
export async function echoRoundTrip(s: NetSocket, data: Uint8Array): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (b: Buffer) => parts.push(b));
  const done = new Promise<void>((resolve, reject) => {
    s.once('end', resolve);
    s.once('error', reject);
  });
  s.end(data);
  await done;
  return Buffer.concat(parts);
}

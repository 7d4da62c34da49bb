// Service test support: tsip's services on a simulated server stack
// (10.0.0.2) and a client stack (10.0.0.1) on virtual time, so deadlines of
// seconds or minutes are exact and cost nothing.
import { expect } from 'vitest';
import { startServices, type Services, type ServicesOptions } from '../../src/services/start.ts';
import type { ServiceCounters } from '../../src/services/serve.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { BlockingSocket } from '../../src/socket/socket.ts';
import type { Stack, StackOptions } from '../../src/stack/stack.ts';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

export interface ServiceEnv {
  sim: Simulator;
  client: Stack;
  server: Stack;
  services: Services;
  counters(name: string): ServiceCounters;
  /** Virtual ms since the start. */
  now(): number;
  run<T>(p: Promise<T>, timeoutMs?: number): Promise<T>;
  advance(ms: number): Promise<void>;
  /** Stop the services, let everything settle, check nothing is left (sockets, PCBs, pbufs), close. */
  finish(): Promise<void>;
}

export function serviceEnv(o: { services?: ServicesOptions; prefixLength?: number; client?: StackOptions; server?: StackOptions; seed?: number } = {}): ServiceEnv {
  const sim = new Simulator({ seed: o.seed ?? 1 });
  const client = sim.addStack('client', { pool: { trackLive: true }, ...o.client });
  const server = sim.addStack('server', { pool: { trackLive: true }, ...o.server });
  sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', prefixLength: o.prefixLength ?? 30, link: { latencyMs: 1 } });
  const services = startServices(server, o.services ?? {});
  return {
    sim,
    client,
    server,
    services,
    counters: (name) => services.list.find((s) => s.name === name)!.counters,
    now: () => sim.clock.now(),
    run: (p, timeoutMs = 3_600_000) => sim.settle(p, timeoutMs),
    advance: async (ms) => {
      await sim.runUntilAsync(() => false, sim.clock.now() + ms);
    },
    finish: async () => {
      services.stop();
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

export interface ReadResult {
  data: Uint8Array;
  /** errno name of the error that ended the read, or 'eof'. */
  end: string;
  /** Virtual time when it ended. */
  at: number;
}

/** Read until EOF or an error (a reset); what came and how it ended. */
export async function readToEnd(sock: BlockingSocket, now: () => number): Promise<ReadResult> {
  const parts: Uint8Array[] = [];
  let end = 'eof';
  for (;;) {
    let d: Uint8Array;
    try {
      d = await sock.recv(65536);
    } catch (e) {
      end = (e as { code?: string; errno?: number }).errno === 104 ? 'ECONNRESET' : String((e as Error).message);
      break;
    }
    if (d.length === 0) break;
    parts.push(d);
  }
  return { data: Buffer.concat(parts), end, at: now() };
}

/** A client socket connected to the server's `port` (inside a scenario run by env.run). */
export async function connect(env: ServiceEnv, port: number): Promise<BlockingSocket> {
  const s = env.client.socket();
  await s.connect(['10.0.0.2', port]);
  return s;
}

/** Wait `ms` of virtual time (inside a scenario run by env.run). */
export function sleep(env: ServiceEnv, ms: number): Promise<void> {
  return new Promise((resolve) => env.sim.clock.after(ms, resolve));
}

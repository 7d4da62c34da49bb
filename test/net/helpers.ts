// node:net façade test support: two stacks in the simulator (client
// 10.0.0.1, server 10.0.0.2) pumped with the async driver, so stream code
// that awaits events keeps pace with virtual time; and a recorder of a
// socket's events for comparing event order with node:net.
import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { expect } from 'vitest';
import type { LinkSpec } from '../../src/sim/link.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { Stack, StackOptions } from '../../src/stack/stack.ts';
import { pairAddrs, type PairFamilies } from '../support/sockets.ts';

export interface NetPair {
  sim: Simulator;
  client: Stack;
  server: Stack;
  /** Run the simulation until `p` settles. */
  run<T>(p: Promise<T>, timeoutMs?: number): Promise<T>;
  /** Run until `cond` holds (virtual-time deadline). */
  until(cond: () => boolean, timeoutMs?: number): Promise<boolean>;
  advance(ms: number): Promise<void>;
  /** Run until idle, assert no PCBs and no pbufs are left, close the stacks. */
  finish(): Promise<void>;
}

export function netPair(o: { seed?: number; link?: LinkSpec; client?: StackOptions; server?: StackOptions; pcap?: import('../../src/sim/pcap.ts').PcapWriter; families?: PairFamilies } = {}): NetPair {
  const sim = new Simulator({ seed: o.seed ?? 1 });
  const client = sim.addStack('client', { pool: { trackLive: true }, ...o.client });
  const server = sim.addStack('server', { pool: { trackLive: true }, ...o.server });
  sim.connect(client, server, { ...pairAddrs(o.families), link: { latencyMs: 5, ...o.link }, ...(o.pcap ? { pcap: o.pcap } : {}) });
  return {
    sim,
    client,
    server,
    run: (p, timeoutMs = 600_000) => sim.settle(p, timeoutMs),
    until: (cond, timeoutMs = 600_000) => sim.runUntilAsync(cond, sim.clock.now() + timeoutMs),
    advance: async (ms) => {
      await sim.runUntilAsync(() => false, sim.clock.now() + ms);
    },
    finish: async () => {
      await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 600_000);
      for (const st of [client, server]) {
        expect(st.tcp.pcbCount, `${st.name}: PCBs left`).toBe(0);
        st.pool.assertEmpty();
      }
      sim.close();
    },
  };
}

/** Record events (name plus a short detail) as they are emitted. */
export function recordEvents(e: EventEmitter, names: string[], log: string[] = [], prefix = ''): string[] {
  for (const n of names) {
    e.on(n, (arg: unknown) => {
      let d = '';
      if (n === 'close') d = `(${String(arg)})`;
      else if (n === 'error') d = `(${(arg as { code?: string }).code ?? String(arg)})`;
      log.push(prefix + n + d);
    });
  }
  return log;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export function pattern(n: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Collect everything a readable yields. */
export async function collect(r: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(parts);
}

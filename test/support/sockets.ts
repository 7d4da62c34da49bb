// Socket-layer test support: two stacks in the simulator (client 10.0.0.1,
// server 10.0.0.2), driven with the async simulator driver so that code
// awaiting socket calls keeps pace with virtual time.
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { LinkSpec } from '../../src/sim/link.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { Stack, StackOptions } from '../../src/stack/stack.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { OSError } from '../../src/socket/errors.ts';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b));

export interface SockPair {
  sim: Simulator;
  client: Stack;
  server: Stack;
  /** Run the simulation until `p` settles; returns its value or rethrows. */
  run<T>(p: Promise<T>, timeoutMs?: number): Promise<T>;
  /** Let virtual time pass (async driver: promise continuations keep up). */
  advance(ms: number): Promise<void>;
  /** Run until idle, assert nothing is left (sockets, PCBs, pbufs), then close the stacks. */
  finish(): Promise<void>;
}

/** The link's addresses: IPv4 only (default), both families ('dual': fd00::1 / fd00::2 too), or IPv6 only. */
export type PairFamilies = 'v4' | 'dual' | 'v6';

export function pairAddrs(f: PairFamilies = 'v4'): { aAddr?: string; bAddr?: string; aAddr6?: string; bAddr6?: string } {
  return {
    ...(f !== 'v6' ? { aAddr: '10.0.0.1', bAddr: '10.0.0.2' } : {}),
    ...(f !== 'v4' ? { aAddr6: 'fd00::1', bAddr6: 'fd00::2' } : {}),
  };
}

export function sockPair(o: { seed?: number; link?: LinkSpec; ab?: LinkSpec; ba?: LinkSpec; client?: StackOptions; server?: StackOptions; families?: PairFamilies; mtu?: number; gso?: boolean } = {}): SockPair {
  const sim = new Simulator({ seed: o.seed ?? 1 });
  const client = sim.addStack('client', { pool: { trackLive: true }, ...o.client });
  const server = sim.addStack('server', { pool: { trackLive: true }, ...o.server });
  sim.connect(client, server, { ...pairAddrs(o.families), link: { latencyMs: 5, ...o.link }, ...(o.ab ? { ab: o.ab } : {}), ...(o.ba ? { ba: o.ba } : {}), ...(o.mtu !== undefined ? { mtu: o.mtu } : {}), ...(o.gso ? { gso: true } : {}) });
  return {
    sim,
    client,
    server,
    run: (p, timeoutMs = 600_000) => sim.settle(p, timeoutMs),
    advance: async (ms) => {
      await sim.runUntilAsync(() => false, sim.clock.now() + ms);
    },
    finish: async () => {
      // Everything the test opened must be closed and gone on its own: check
      // before closing the stacks (Stack.close() would free leftovers).
      await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 600_000);
      for (const st of [client, server]) {
        expect(st.sockets.open, `${st.name}: sockets left open`).toBe(0);
        expect(st.tcp.pcbCount, `${st.name}: PCBs left`).toBe(0);
        expect(st.udp.pcbCount, `${st.name}: UDP PCBs left`).toBe(0);
        st.pool.assertEmpty();
      }
      sim.close();
    },
  };
}

/** The errno `fn` fails with, synchronously or through its Promise (0: it did not fail). */
export async function errnoOf(pair: SockPair, fn: () => unknown): Promise<number> {
  try {
    const r = fn();
    if (r instanceof Promise) await pair.run(r);
  } catch (e) {
    if (e instanceof OSError) return e.errno;
    throw e;
  }
  return 0;
}

/** The errno `fn` throws synchronously (0: none); a non-blocking call must not return a Promise. */
export function syncErrno(fn: () => unknown): number {
  let r: unknown;
  try {
    r = fn();
  } catch (e) {
    if (e instanceof OSError) return e.errno;
    throw e;
  }
  expect(r).not.toBeInstanceOf(Promise);
  return 0;
}

/** A non-blocking call's result, checked at run time to be a value, never a Promise (the types say so already). */
export function now<T>(r: T): T {
  expect(r).not.toBeInstanceOf(Promise);
  return r;
}

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `n` pseudo-random bytes (an LCG from `seed`): a payload whose corruption or reordering changes its hash. */
export function pattern(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Close `socks`, run until the network is quiet, and check nothing is left (stricter than finish(): before the stacks are closed). */
export async function done(pair: SockPair, ...socks: Socket[]): Promise<void> {
  for (const s of socks) s.close();
  await pair.sim.runUntilAsync(() => pair.sim.clock.pendingTimers() === 0, pair.sim.clock.now() + 600_000);
  expect(pair.client.tcp.pcbCount).toBe(0);
  expect(pair.server.tcp.pcbCount).toBe(0);
  expect(pair.client.sockets.open).toBe(0);
  expect(pair.server.sockets.open).toBe(0);
  pair.client.pool.assertEmpty();
  pair.server.pool.assertEmpty();
  await pair.finish();
}

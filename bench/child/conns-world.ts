// Many idle ESTABLISHED connections between two simulator stacks, opened
// through real handshakes and closed cleanly (issue 17 part 6). Shared by
// bench/child/conns-child.ts (the 1M macro benchmark) and
// test/stack/conns-many.test.ts (a 20k version asserting the clean close).
//
// The client stack has LINKS addresses (10.k.0.1, one simulated link each,
// the server at 10.k.0.2 on the other end), so a connection's 4-tuple is
// (10.k.0.1, ephemeral port, 10.k.0.2, PORT): 64k ephemeral ports per link,
// spread round-robin. One listener (0.0.0.0:PORT) takes every connection.
// Raw API only, with nothing kept per connection by the application: one
// shared connected/accept/err callback, no recv callback (the stack's
// default closes on the peer's FIN), no arrays of our own while open.
import { RawTcp } from '../../src/callbacks/raw.ts';
import { Err } from '../../src/err.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import { TcpState } from '../../src/pcb/state.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { Handshakes } from './handshakes.ts';

export const PORT = 5001;
/** Handshakes started at one virtual instant; the simulator runs them before the next batch. */
export const BATCH = 5_000;
/** Ephemeral ports used per link (of 64512 from 1024). */
export const PER_LINK = 60_000;

export function linksFor(n: number): number {
  return Math.max(1, Math.ceil(n / PER_LINK));
}

export class ConnWorld {
  readonly sim = new Simulator({ seed: 'conns' });
  readonly client: Stack;
  readonly server: Stack;
  readonly rc: RawTcp;
  readonly rs: RawTcp;
  readonly links: number;
  readonly serverIps: string[] = [];
  readonly listener: TcpPcb;
  opened = 0;
  readonly hs = new Handshakes();

  /** Room for `maxConns` connections: PCB and TIME_WAIT limits raised to fit. */
  constructor(maxConns: number) {
    this.links = linksFor(maxConns);
    const tcp = { ephemeralLow: 1024, maxPcbs: maxConns + 16, maxTimeWait: maxConns + 16 };
    this.client = this.sim.addStack('client', { tcp });
    this.server = this.sim.addStack('server', { tcp });
    for (let k = 0; k < this.links; k++) {
      this.sim.connect(this.client, this.server, { aAddr: `10.${k}.0.1`, bAddr: `10.${k}.0.2`, prefixLength: 24, link: { latencyMs: 1 } });
      this.serverIps.push(`10.${k}.0.2`);
    }
    this.rc = new RawTcp(this.client);
    this.rs = new RawTcp(this.server);
    const l = this.rs.tcpNew()!;
    if (this.rs.tcpBind(l, 0, PORT) !== Err.OK) throw new Error(`bind ${PORT} failed`);
    const listener = this.rs.tcpListen(l, 0xffff);
    if (listener === null) throw new Error('listen failed');
    this.rs.tcpAccept(listener, this.hs.onAccept);
    this.listener = listener;
  }

  /** Open `n` more connections, BATCH at a time, each batch run until both ends are ESTABLISHED. */
  open(n: number): void {
    const target = this.opened + n;
    while (this.opened < target) {
      const b = Math.min(BATCH, target - this.opened);
      this.hs.batch(
        this.sim,
        b,
        () => {
          this.hs.connect(this.rc, this.serverIps[this.opened % this.links]!, PORT, `${this.opened} connections`);
          this.opened++;
        },
        () => this.opened,
      );
    }
  }

  /** ESTABLISHED ends on each side, counted from the tables. */
  established(): { client: number; server: number } {
    const count = (s: Stack): number => {
      let n = 0;
      for (const p of s.tcp.active.values()) if (p.state === TcpState.ESTABLISHED) n++;
      return n;
    };
    return { client: count(this.client), server: count(this.server) };
  }

  /**
   * Close every connection from the client side, BATCH at a time (FIN,
   * FIN, ACK; the server's default recv closes on the FIN), then let
   * TIME_WAIT run out and close the listener. Throws unless both stacks
   * end with no PCB, no pbuf in use and no timer pending.
   */
  closeAll(): { timeWait: number } {
    const all: TcpPcb[] = [];
    for (const p of this.client.tcp.active.values()) all.push(p);
    let maxTimeWait = 0;
    for (let i = 0; i < all.length; i += BATCH) {
      const end = Math.min(all.length, i + BATCH);
      for (let j = i; j < end; j++) {
        const err = this.rc.tcpClose(all[j]!);
        if (err !== Err.OK) throw new Error(`close failed: ${err}`);
        all[j] = null as unknown as TcpPcb; // let it go once freed
      }
      // Until the server has freed its ends of this batch (LAST_ACK acknowledged).
      const want = all.length - end;
      const ok = this.sim.runUntil(() => this.server.tcp.active.size <= want, this.sim.clock.now() + 60_000);
      if (!ok) throw new Error(`close did not complete: ${this.server.tcp.active.size} server ends left, want ${want}`);
      maxTimeWait = Math.max(maxTimeWait, this.client.tcp.timeWait.size);
    }
    this.rs.tcpClose(this.listener);
    // TIME_WAIT (2 MSL) and any last timers run out in virtual time.
    this.sim.runUntil(() => this.sim.clock.pendingTimers() === 0, this.sim.clock.now() + 10 * 60_000);
    const problems = this.leftovers();
    if (problems.length > 0) throw new Error(`not closed cleanly: ${problems.join('; ')}`);
    return { timeWait: maxTimeWait };
  }

  /** What is left after closeAll (empty when clean). */
  leftovers(): string[] {
    const out: string[] = [];
    for (const s of [this.client, this.server]) {
      if (s.tcp.pcbCount !== 0) out.push(`${s.name}: ${s.tcp.pcbCount} PCBs`);
      if (s.pool.stats.pbufsInUse !== 0) out.push(`${s.name}: ${s.pool.stats.pbufsInUse} pbufs (${s.pool.stats.bytesInUse} bytes) in use`);
    }
    const t = this.sim.clock.pendingTimers();
    if (t !== 0) out.push(`${t} timers pending`);
    return out;
  }
}

// The quick version of bench/conns-1m.bench.ts (issue 17 part 6): 20k idle
// ESTABLISHED connections between two simulator stacks over two client
// addresses, then every one closed cleanly: no PCB, pbuf or timer left.
// No timing or memory assertions here (the benchmark reports those).
import { describe, expect, test } from 'vitest';
import { ConnWorld } from '../../bench/child/conns-world.ts';
import { Deadline } from '../../src/pcb/deadlines.ts';
import { TcpState } from '../../src/pcb/state.ts';

describe('many idle connections in one simulator', () => {
  test('20k opened through handshakes, idle with no timers, closed cleanly', () => {
    const n = 20_000;
    const w = new ConnWorld(n);
    // More links than needed: connections spread over two client addresses.
    expect(w.links).toBe(1);
    const w2 = new ConnWorld(70_000);
    expect(w2.links).toBe(2);
    w2.open(n);
    expect(w2.established()).toEqual({ client: n, server: n });
    // Idle: no PCB holds a timer or an armed deadline.
    expect(w2.sim.clock.pendingTimers()).toBe(0);
    let withTimer = 0;
    for (const s of [w2.client, w2.server]) {
      for (const p of s.tcp.active.values()) {
        if (p.timer !== null || p.deadlines.armed(Deadline.RTO) || p.deadlines.armed(Deadline.DELACK)) withTimer++;
        expect(p.state).toBe(TcpState.ESTABLISHED);
      }
    }
    expect(withTimer).toBe(0);
    // Both client addresses carry connections.
    const locals = new Set<number>();
    for (const p of w2.client.tcp.active.values()) locals.add(p.localIp as number);
    expect(locals.size).toBe(2);
    const r = w2.closeAll();
    expect(r.timeWait).toBeGreaterThan(0);
    expect(w2.leftovers()).toEqual([]);
    expect(w2.client.tcp.pcbCount).toBe(0);
    expect(w2.server.tcp.pcbCount).toBe(0);
    expect(w2.client.pool.stats.pbufsInUse).toBe(0);
    expect(w2.server.pool.stats.pbufsInUse).toBe(0);
    expect(w2.hs.failed).toBe(0);
  }, 120_000);
});

// One place per concern (issue 13): a PCB's timers are one table of named
// deadlines, and every state change goes through Tcp.setState, whose trace
// hook sees each transition of a whole connection's life.
import { describe, expect, test } from 'vitest';
import { Deadline, Deadlines } from '../../src/pcb/deadlines.ts';
import { TCP_STATE_NAMES } from '../../src/pcb/state.ts';
import { bulkExchange, payload, simPair } from '../support/tcp.ts';

describe('the deadline table', () => {
  test('arm, armIfOff, take, cancel and earliest', () => {
    const d = new Deadlines();
    expect(d.earliest()).toBe(Infinity);
    d.arm(Deadline.RTO, 300);
    d.arm(Deadline.DELACK, 240);
    d.armIfOff(Deadline.RTO, 100); // a running timer keeps its time
    expect(d.get(Deadline.RTO)).toBe(300);
    expect(d.earliest()).toBe(240);
    expect(d.armedByName()).toEqual({ delack: 240, rto: 300 });
    expect(d.take(Deadline.RTO, 299)).toBe(false);
    expect(d.take(Deadline.DELACK, 240)).toBe(true);
    expect(d.armed(Deadline.DELACK)).toBe(false);
    d.arm(Deadline.PERSIST, -5); // negative: off
    expect(d.armed(Deadline.PERSIST)).toBe(false);
    d.arm(Deadline.POLL, 50);
    d.cancelAll(Deadline.POLL);
    expect(d.armedByName()).toEqual({ poll: 50 });
    d.cancel(Deadline.POLL);
    expect(d.earliest()).toBe(Infinity);
  });
});

describe('the one door for state changes', () => {
  test('a whole connection, both ends: every transition is traced, in RFC 9293 order', () => {
    const pair = simPair({ seed: 3 });
    const seen: string[] = [];
    for (const [name, st] of [['client', pair.client], ['server', pair.server]] as const) {
      st.tcp.stateTrace = (pcb, from, to) => {
        expect(pcb.state).toBe(to); // the hook runs after the change
        seen.push(`${name}:${pcb.remotePort === 0 ? 'listener' : pcb.localPort === 80 ? 'srv' : 'cli'} ${TCP_STATE_NAMES[from]}>${TCP_STATE_NAMES[to]}`);
      };
    }
    const { cli, srv } = bulkExchange(pair, payload(50_000, 1), payload(30_000, 2));
    pair.sim.runFor(300_000); // past TIME_WAIT
    expect(cli.receivedBytes).toBe(30_000);
    expect(srv.receivedBytes).toBe(50_000);
    const client = seen.filter((s) => s.startsWith('client:cli'));
    const server = seen.filter((s) => s.startsWith('server:srv'));
    expect(seen).toContain('server:listener CLOSED>LISTEN');
    expect(client.slice(0, 2)).toEqual(['client:cli CLOSED>SYN_SENT', 'client:cli SYN_SENT>ESTABLISHED']);
    expect(server[0]).toBe('server:srv CLOSED>SYN_RCVD');
    expect(server[1]).toBe('server:srv SYN_RCVD>ESTABLISHED');
    // Each side closes in some order; every path ends CLOSED, through TIME_WAIT for one of them.
    expect(client.at(-1)).toMatch(/>CLOSED$/);
    expect(server.at(-1)).toMatch(/>CLOSED$/);
    expect([...client, ...server].some((s) => s.endsWith('>TIME_WAIT'))).toBe(true);
    const l = [...pair.server.tcp.listeners.values()];
    for (const p of l) pair.rs.tcpClose(p);
    pair.sim.runFor(1000);
    for (const st of [pair.client, pair.server]) {
      expect(st.tcp.pcbCount).toBe(0);
      st.pool.assertEmpty();
    }
    expect(seen.at(-1)).toBe('server:listener LISTEN>CLOSED');
  });
});

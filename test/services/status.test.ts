// The status page (issue 12): per-connection rows (addresses and ports)
// only for local clients by default — loopback, tsip's own addresses, the
// far end of a point-to-point link, configured peers — or as configured;
// every counter group the stack keeps, new ones included without edits.
import { describe, expect, test } from 'vitest';
import { isLocalViewer, statusSource } from '../../src/services/status.ts';
import type { ServicesOptions } from '../../src/services/start.ts';
import { Stack } from '../../src/stack/stack.ts';
import { connect, enc, readToEnd, serviceEnv } from './helpers.ts';

/** GET /status.json from the client stack, parsed. */
async function fetchStatus(o: { prefixLength?: number; services?: ServicesOptions }): Promise<Record<string, unknown>> {
  const env = serviceEnv(o);
  const body = await env.run(
    (async () => {
      const s = await connect(env, 80);
      await s.write(enc('GET /status.json HTTP/1.1\r\n\r\n'));
      const r = await readToEnd(s, env.now);
      s.close();
      const all = Buffer.from(r.data);
      return all.subarray(all.indexOf('\r\n\r\n') + 4).toString();
    })(),
  );
  await env.finish();
  return JSON.parse(body) as Record<string, unknown>;
}

describe('who sees the connection list', () => {
  test('the far end of a /30 link (the namespace kernel of tsip up) sees rows, itself among them', async () => {
    const st = await fetchStatus({ prefixLength: 30 });
    expect(st.connectionCount).toBe(1);
    expect(st.connections).toEqual([expect.objectContaining({ state: 'ESTABLISHED', local: '10.0.0.2:80', remote: expect.stringMatching(/^10\.0\.0\.1:\d+$/) })]);
    expect(st.connectionsHidden).toBeUndefined();
  });

  test('a client on a /24 is not local: counters only, no addresses or ports', async () => {
    const st = await fetchStatus({ prefixLength: 24 });
    expect(st.connections).toBeUndefined();
    expect(st.connectionsHidden).toMatch(/only for local clients/);
    expect(st.connectionCount).toBe(1);
    expect(JSON.stringify(st)).not.toMatch(/10\.0\.0\.1/);
  });

  test("localPeers makes a client local; 'all' shows everyone; 'none' hides even from local clients", async () => {
    expect((await fetchStatus({ prefixLength: 24, services: { localPeers: ['10.0.0.1'] } })).connections).toHaveLength(1);
    expect((await fetchStatus({ prefixLength: 24, services: { statusConnections: 'all' } })).connections).toHaveLength(1);
    const none = await fetchStatus({ prefixLength: 30, services: { statusConnections: 'none' } });
    expect(none.connections).toBeUndefined();
    expect(none.connectionsHidden).toMatch(/statusConnections: none/);
  });

  test('the HTML page follows the same rule', async () => {
    const env = serviceEnv({ prefixLength: 24 });
    const html = await env.run(
      (async () => {
        const s = await connect(env, 80);
        await s.write(enc('GET / HTTP/1.1\r\n\r\n'));
        const r = await readToEnd(s, env.now);
        s.close();
        return Buffer.from(r.data).toString();
      })(),
    );
    expect(html).toMatch(/connectionsHidden/);
    expect(html).not.toMatch(/10\.0\.0\.1:/);
    await env.finish();
  });

  test('isLocalViewer: loopback, own addresses, /30 and /31 peers (hosts only), configured peers', () => {
    const stack = new Stack();
    stack.addNetif({ name: 'p2p', addr: '10.1.0.2', prefixLength: 30, output: () => 0 });
    stack.addNetif({ name: 'p31', addr: '10.2.0.0', prefixLength: 31, output: () => 0 });
    stack.addNetif({ name: 'lan', addr: '192.168.1.10', prefixLength: 24, output: () => 0 });
    const local = (a: string, peers: number[] = []): boolean => isLocalViewer(stack, a, peers);
    expect(local('127.0.0.1')).toBe(true);
    expect(local('127.9.9.9')).toBe(true);
    expect(local('10.1.0.1')).toBe(true);
    expect(local('10.1.0.2')).toBe(true); // tsip itself
    expect(local('10.1.0.0')).toBe(false); // the /30's network address
    expect(local('10.1.0.3')).toBe(false); // and its broadcast address
    expect(local('10.2.0.1')).toBe(true);
    expect(local('192.168.1.20')).toBe(false);
    expect(local('192.168.1.20', [0xc0a80114])).toBe(true);
    expect(local('8.8.8.8')).toBe(false);
    expect(local('not an address')).toBe(false);
    stack.close();
  });

  test('options are checked', () => {
    const stack = new Stack();
    expect(() => statusSource(stack, () => [], { statusConnections: 'some' as 'all' })).toThrow(RangeError);
    expect(() => statusSource(stack, () => [], { localPeers: ['x'] })).toThrow(RangeError);
    expect(() => statusSource(stack, () => [], { statusMaxRows: -1 })).toThrow(RangeError);
    stack.close();
  });
});

describe('counters on the status page', () => {
  test('every group of stack.stats, the reassembly state and the pool reserve are shown', async () => {
    const st = await fetchStatus({});
    for (const g of ['link', 'ip', 'ipFrag', 'icmp', 'udp', 'tcp', 'stack', 'reassembly', 'sockets', 'pool']) expect(st, g).toHaveProperty(g);
    expect(st.ipFrag).toEqual(expect.objectContaining({ drop: 0, recv: 0 }));
    expect(st.reassembly).toEqual(expect.objectContaining({ pending: 0, bytes: 0 }));
    expect(st.pool).toEqual(expect.objectContaining({ rxReserveBytes: 32 * 1024 * 1024, reserveAllocs: 0, rxAllocFailures: 0, dataBytesLeft: expect.any(Number) }));
    expect(st.tcp).toEqual(expect.objectContaining({ pcbs: 5, drop: 0 }));
    expect(st.services).toHaveProperty(['http:80', 'headerTimeouts'], 0);
  });

  test('a counter group added to stack.stats or to a layer shows up without edits', () => {
    const stack = new Stack();
    Object.assign(stack.stats, { martianTest: { spoofed: 3, ownSource: 1 } });
    Object.assign(stack.ip, { ingressCounters: { tooShort: 2 } });
    Object.assign(stack.ip.reassembler, { counters: { overlaps: 5 } });
    // Other plain records of numbers on a layer are state, not counters (a key, say): never shown.
    Object.assign(stack.ip, { identKey: { k0: 12345, k1: 67890 } });
    const st = statusSource(stack, () => []).status();
    expect(st.martianTest).toEqual({ spoofed: 3, ownSource: 1 });
    expect(st.ip).toEqual(expect.objectContaining({ tooShort: 2, recv: 0 }));
    expect(st.reassembly).toEqual(expect.objectContaining({ overlaps: 5 }));
    expect(JSON.stringify(st)).not.toMatch(/12345|67890/);
    stack.close();
  });

  test('rows are capped by statusMaxRows; connectionCount tells the total', async () => {
    const env = serviceEnv({ services: { statusMaxRows: 2 } });
    const st = await env.run(
      (async () => {
        const held = [await connect(env, 9), await connect(env, 9), await connect(env, 9)];
        const s = await connect(env, 80);
        await s.write(enc('GET /status.json HTTP/1.1\r\n\r\n'));
        const r = await readToEnd(s, env.now);
        s.close();
        for (const h of held) h.close();
        const all = Buffer.from(r.data);
        return JSON.parse(all.subarray(all.indexOf('\r\n\r\n') + 4).toString()) as Record<string, unknown>;
      })(),
    );
    expect(st.connectionCount).toBe(4);
    expect(st.connections).toHaveLength(2);
    expect(st.connectionsTruncated).toBe(2);
    await env.finish();
  });
});

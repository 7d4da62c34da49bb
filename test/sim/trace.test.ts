// The simulation trace (issue 16, part 5): a JSON-lines log of packets, TCP
// state changes and timeline events that the same seed reproduces byte for
// byte, for every stack the simulator has or creates later.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Err, RawTcp, type TcpPcb } from '../../src/callbacks/index.ts';
import { runSimPing, simPingCommand } from '../../src/cli/sim-ping.ts';
import { replayLine, runSimTransfer, simTransferCommand } from '../../src/cli/sim-transfer.ts';
import { Simulator, summarizeFrame, Trace } from '../../src/sim/index.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { echoRequest, ipPacket } from '../support/packets.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tsip-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string): string => path.join(dir, name);
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const parse = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Client sends `bytes` to the server, which echoes nothing and closes on EOF; raw API on a lossy link. */
function transfer(sim: Simulator, client: Stack, server: Stack, bytes: number, to = '10.0.0.2'): { done: () => boolean } {
  const rs = new RawTcp(server);
  const rc = new RawTcp(client);
  let received = 0;
  let serverDone = false;
  let clientDone = false;
  const lp = rs.tcpNew()!;
  expect(rs.tcpBind(lp, to.includes(':') ? '::' : 0, 80)).toBe(Err.OK);
  const listener = rs.tcpListen(lp, 4)!;
  rs.tcpAccept(listener, (_a, npcb) => {
    rs.tcpRecv(npcb, (_x, p, q) => {
      if (q === null) {
        serverDone = true;
        return rs.tcpClose(p);
      }
      received += q.totLen;
      rs.tcpRecved(p, q.totLen);
      q.free();
      return Err.OK;
    });
    rs.tcpClose(listener);
    return Err.OK;
  });
  const data = new Uint8Array(bytes).map((_v, i) => i * 7);
  const c = rc.tcpNew()!;
  let off = 0;
  const pump = (p: TcpPcb): void => {
    while (off < data.length) {
      const n = Math.min(rc.tcpSndbuf(p), data.length - off, 4096);
      if (n <= 0 || rc.tcpWrite(p, data.subarray(off, off + n)) !== Err.OK) break;
      off += n;
    }
    rc.tcpOutput(p);
    if (off === data.length && !clientDone) {
      clientDone = true;
      rc.tcpClose(p);
    }
  };
  rc.tcpSent(c, (_a, p) => {
    if (!clientDone) pump(p);
    return Err.OK;
  });
  expect(
    rc.tcpConnect(c, to, 80, (_a, p) => {
      pump(p);
      return Err.OK;
    }),
  ).toBe(Err.OK);
  return { done: () => serverDone && received === bytes };
}

function tracedRun(seed: number, tracePath?: string): { lines: string[]; sha: string; count: number; pools: boolean } {
  const sim = new Simulator({ seed });
  const lines: string[] = [];
  const trace = Trace.attach(sim, { ...(tracePath !== undefined ? { path: tracePath, flushBytes: 1000 } : {}), sink: (l) => lines.push(l) });
  // Stacks created after attach are traced too.
  const client = sim.addStack('client', { pool: { trackLive: true } });
  const server = sim.addStack('server', { pool: { trackLive: true } });
  sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 3, jitterMs: 2, loss: 0.05, reorder: 0.05 } });
  sim.emit('fault', { do: 'note', host: 'client', n: 1 });
  const t = transfer(sim, client, server, 60_000);
  expect(sim.runUntil(t.done, 600_000)).toBe(true);
  sim.emit('fault', { do: 'note', host: 'server', n: 2 });
  expect(sim.runUntilIdle()).toBe(true);
  trace.close();
  sim.close();
  const pools = client.pool.isEmpty() && server.pool.isEmpty();
  return { lines, sha: trace.sha256(), count: trace.count, pools };
}

describe('Trace', () => {
  test('the same seed writes the same file (and sha256); another seed does not', () => {
    const a = tracedRun(11, file('a.jsonl'));
    const b = tracedRun(11, file('b.jsonl'));
    const c = tracedRun(12, file('c.jsonl'));
    const fa = readFileSync(file('a.jsonl'));
    expect(fa.equals(readFileSync(file('b.jsonl')))).toBe(true);
    expect(readFileSync(file('c.jsonl')).equals(fa)).toBe(false);
    expect(a.sha).toBe(sha256(fa));
    expect(b.sha).toBe(a.sha);
    expect(c.sha).not.toBe(a.sha);
    expect(a.count).toBe(a.lines.length);
    expect(fa.toString('utf8')).toBe(a.lines.map((l) => `${l}\n`).join(''));
    expect(a.count).toBeGreaterThan(100);
    expect(a.pools && b.pools && c.pools).toBe(true);
  });

  test('the batching does not change the output', () => {
    const small = tracedRun(5);
    const big = tracedRun(5, file('big.jsonl'));
    expect(big.sha).toBe(small.sha);
  });

  test("a connection's life as state lines; packets summarised; emitted events in order", () => {
    const { lines } = tracedRun(3);
    const evs = parse(lines.join('\n'));
    // Lines are in time order.
    for (let i = 1; i < evs.length; i++) expect(evs[i]!.t as number).toBeGreaterThanOrEqual(evs[i - 1]!.t as number);
    const states = evs.filter((e) => e.ev === 'state');
    const clientConn = states.find((e) => e.host === 'client')!.conn as string;
    expect(clientConn).toMatch(/^10\.0\.0\.1:\d+>10\.0\.0\.2:80$/);
    const path = (host: string, conn: string): string[] => states.filter((e) => e.host === host && e.conn === conn).map((e) => `${e.from}->${e.to}`);
    const cp = path('client', clientConn);
    expect(cp[0]).toBe('CLOSED->SYN_SENT');
    expect(cp[1]).toBe('SYN_SENT->ESTABLISHED');
    expect(cp[cp.length - 1]).toBe('TIME_WAIT->CLOSED');
    const serverConn = clientConn.split('>').reverse().join('>');
    const sp = path('server', serverConn);
    expect(sp.slice(0, 2)).toEqual(['CLOSED->SYN_RCVD', 'SYN_RCVD->ESTABLISHED']);
    expect(sp[sp.length - 1]).toBe('LAST_ACK->CLOSED');
    expect(path('server', '0.0.0.0:80>0.0.0.0:0')).toEqual(['CLOSED->LISTEN', 'LISTEN->CLOSED']);
    // Key order: t, ev, then the fields.
    expect(Object.keys(states[0]!)).toEqual(['t', 'ev', 'host', 'conn', 'from', 'to']);
    const pkts = evs.filter((e) => e.ev === 'pkt');
    expect(Object.keys(pkts[0]!)).toEqual(['t', 'ev', 'dir', 'link', 'len', 'sum']);
    expect(pkts[0]!.sum).toMatch(/^TCP 10\.0\.0\.1:\d+>10\.0\.0\.2:80 \[S\] seq=\d+ ack=0 win=\d+ len=0 mss=1460/);
    expect(pkts.some((p) => p.dir === 'rx' && p.link === 'client->server')).toBe(true);
    expect(pkts.some((p) => /\[\.\] .* len=[1-9]/.test(p.sum as string))).toBe(true);
    // The emitted events, verbatim and in order.
    const faults = evs.filter((e) => e.ev === 'fault');
    expect(faults).toEqual([
      { t: 0, ev: 'fault', do: 'note', host: 'client', n: 1 },
      expect.objectContaining({ ev: 'fault', do: 'note', host: 'server', n: 2 }),
    ]);
    expect(lines.find((l) => l.includes('"ev":"fault"'))).toBe('{"t":0,"ev":"fault","do":"note","host":"client","n":1}');
  });

  test('stacks present at attach are hooked, an existing stateTrace is chained, and close() detaches everything', () => {
    const sim = new Simulator({ seed: 2 });
    const a = sim.addStack('a');
    const b = sim.addStack('b');
    sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2' });
    const seen: string[] = [];
    a.tcp.stateTrace = (_p, from, to) => seen.push(`${from}>${to}`);
    const lines: string[] = [];
    const listenersBefore = sim.stackListeners.length; // the simulator's own (the shared name table)
    const tr = Trace.attach(sim, { sink: (l) => lines.push(l), meta: { seed: 2, what: 'x' } });
    expect(sim.stackListeners).toHaveLength(listenersBefore + 1);
    expect(lines[0]).toBe('{"t":0,"ev":"meta","seed":2,"what":"x"}');
    const t = transfer(sim, a, b, 1000);
    expect(sim.runUntil(t.done, 60_000)).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes('"host":"a"') && l.includes('"ev":"state"'))).toBe(true);
    expect(lines.some((l) => l.includes('"host":"b"') && l.includes('"ev":"state"'))).toBe(true);
    tr.close();
    const n = lines.length;
    const before = seen.length;
    // After close: no hook, no listener, the old stateTrace restored.
    expect(typeof a.tcp.stateTrace).toBe('function');
    expect(b.tcp.stateTrace).toBe(null);
    expect(sim.stackListeners).toHaveLength(listenersBefore);
    expect(sim.hasEventListeners).toBe(false);
    sim.emit('fault', { do: 'x' });
    sim.runUntilIdle();
    sim.addStack('c');
    expect(lines.length).toBe(n);
    expect(seen.length).toBeGreaterThan(before); // the user's hook still runs
    tr.close(); // idempotent
    sim.close();
  });

  test('timeline fields that JSON lacks are written, never thrown', () => {
    const sim = new Simulator();
    const lines: string[] = [];
    const tr = Trace.attach(sim, { sink: (l) => lines.push(l) });
    const circ: Record<string, unknown> = {};
    circ.self = circ;
    sim.emit('timer', { id: 3, delay: 10, kind: 'timeout' });
    sim.emit('odd', { big: 12n, bytes: new Uint8Array([1, 2, 255]), inf: Infinity, err: new Error('boom') });
    sim.emit('circ', { circ });
    tr.close();
    expect(lines[0]).toBe('{"t":0,"ev":"timer","id":3,"delay":10,"kind":"timeout"}');
    expect(JSON.parse(lines[1]!)).toEqual({ t: 0, ev: 'odd', big: '12', bytes: '0102ff', inf: 'Infinity', err: 'Error: boom' });
    expect(JSON.parse(lines[2]!)).toMatchObject({ t: 0, ev: 'circ' });
    expect(lines[2]).toContain('unserializable');
    sim.close();
  });

  test('ping over IPv4 and IPv6 with fragments: summaries and the same sha for the same seed', () => {
    const run = (seed: number, six: boolean, name: string) =>
      runSimPing({ seed, count: 4, size: 3000, intervalMs: 100, mtu: 1280, link: { latencyMs: 1, loss: 0.1 }, verbose: false, ipv6: six, log: () => {}, traceFile: file(name) });
    for (const six of [false, true]) {
      const a = run(9, six, `p${six}a.jsonl`);
      const b = run(9, six, `p${six}b.jsonl`);
      expect(a.trace!.sha256).toBe(b.trace!.sha256);
      expect(a.trace!.sha256).toBe(sha256(readFileSync(file(`p${six}a.jsonl`))));
      const sums = parse(readFileSync(file(`p${six}a.jsonl`), 'utf8'))
        .filter((e) => e.ev === 'pkt')
        .map((e) => e.sum as string);
      if (six) {
        expect(sums.some((s) => /^ICMP6 fd00::1>fd00::2 echo-request id=\d+ seq=0 len=\d+ frag id=\d+ off=0\+$/.test(s))).toBe(true);
        expect(sums.some((s) => /^IPv6 FRAG fd00::1>fd00::2 proto=58 id=\d+ off=\d+ len=\d+$/.test(s))).toBe(true);
      } else {
        expect(sums.some((s) => /^ICMP 10\.0\.0\.1>10\.0\.0\.2 echo-request id=\d+ seq=0 len=\d+ frag id=\d+ off=0\+$/.test(s))).toBe(true);
        expect(sums.some((s) => /^IPv4 FRAG 10\.0\.0\.2>10\.0\.0\.1 proto=1 id=\d+ off=\d+\+? len=\d+$/.test(s))).toBe(true);
      }
      expect(a.poolClean).toBe(true);
    }
  });

  test('corrupted frames show as !csum where they are received (checksums are checked on rx by default)', () => {
    const r = runSimPing({ seed: 11, count: 40, size: 200, intervalMs: 10, mtu: 1500, link: { latencyMs: 1, corrupt: 0.3 }, verbose: false, log: () => {}, traceFile: file('corrupt.jsonl') });
    const pk = parse(readFileSync(file('corrupt.jsonl'), 'utf8')).filter((e) => e.ev === 'pkt');
    expect(pk.filter((e) => e.dir === 'tx' && /!(ip)?csum/.test(e.sum as string))).toEqual([]);
    expect(pk.filter((e) => e.dir === 'rx' && /!(ip)?csum/.test(e.sum as string)).length).toBeGreaterThan(3);
    expect(r.poolClean).toBe(true);
  });

  test('checksums: "all" finds every frame sent intact, over IPv4 and IPv6; corruption shows on rx', () => {
    for (const six of [false, true]) {
      const sim = new Simulator({ seed: 21 });
      const lines: string[] = [];
      const tr = Trace.attach(sim, { sink: (l) => lines.push(l), checksums: 'all' });
      const a = sim.addStack('a');
      const b = sim.addStack('b');
      sim.connect(a, b, six ? { aAddr6: 'fd00::1', bAddr6: 'fd00::2', ab: { corrupt: 0.2 } } : { aAddr: '10.0.0.1', bAddr: '10.0.0.2', ab: { corrupt: 0.2 } });
      const t = transfer(sim, a, b, 30_000, six ? 'fd00::2' : '10.0.0.2');
      expect(sim.runUntil(t.done, 600_000)).toBe(true);
      sim.runUntilIdle();
      tr.close();
      sim.close();
      const pk = parse(lines.join('\n')).filter((e) => e.ev === 'pkt');
      expect(pk.some((e) => (e.sum as string).startsWith(six ? 'TCP [fd00::1]:' : 'TCP 10.0.0.1:'))).toBe(true);
      expect(pk.filter((e) => e.dir === 'tx' && (e.sum as string).includes('!'))).toEqual([]);
      const bad = pk.filter((e) => e.dir === 'rx' && (e.sum as string).includes('!'));
      expect(bad.length).toBeGreaterThan(3);
      expect(bad.every((e) => e.link === 'a->b')).toBe(true);
    }
  });

  test('--trace on tsip sim transfer and tsip sim ping prints the sha256; the same seed gives the same file', () => {
    const out: string[] = [];
    const quiet = { isTTY: false } as unknown as NodeJS.WriteStream;
    expect(simTransferCommand(['--seed', '4', '--loss', '0.02', '--bytes', '30000', '--trace', file('t1.jsonl')], (s) => out.push(s), quiet)).toBe(0);
    expect(simTransferCommand(['--seed', '4', '--loss', '0.02', '--bytes', '30000', '--trace', file('t2.jsonl')], (s) => out.push(s), quiet)).toBe(0);
    expect(simTransferCommand(['--seed', '5', '--loss', '0.02', '--bytes', '30000', '--trace', file('t3.jsonl'), '--json'], (s) => out.push(s), quiet)).toBe(0);
    const t1 = readFileSync(file('t1.jsonl'));
    expect(t1.equals(readFileSync(file('t2.jsonl')))).toBe(true);
    expect(t1.equals(readFileSync(file('t3.jsonl')))).toBe(false);
    expect(out[0]).toContain(`sha256 ${sha256(t1)}`);
    expect(out[1]).toContain(`sha256 ${sha256(t1)}`);
    const json = JSON.parse(out[2]!) as { trace: { sha256: string; lines: number; file: string } };
    expect(json.trace.sha256).toBe(sha256(readFileSync(file('t3.jsonl'))));
    expect(parse(t1.toString('utf8'))[0]).toEqual({ t: 0, ev: 'meta', seed: 4, command: 'sim transfer' });

    const pout: string[] = [];
    expect(simPingCommand(['--seed', '4', '--count', '3', '--quiet', '--trace', file('p1.jsonl')], (s) => pout.push(s))).toBe(0);
    const p1 = readFileSync(file('p1.jsonl'));
    expect(pout.at(-1)).toBe(`trace: wrote ${parse(p1.toString('utf8')).length} events to ${file('p1.jsonl')}, sha256 ${sha256(p1)}`);
    // A failing run prints the command that replays it, traced.
    const fout: string[] = [];
    expect(simTransferCommand(['--loss', '1', '--bytes', '1000', '--deadline', '20000'], (x) => fout.push(x), quiet)).toBe(1);
    expect(fout.at(-1)).toBe('replay: tsip sim transfer --seed 1 --loss 1 --bytes 1000 --deadline 20000 --trace trace.jsonl');
    expect(replayLine(['--seed', "it's", '--trace', 'x'], "it's")).toBe(`tsip sim transfer --seed 'it'\\''s' --trace x`);
    // Without --trace nothing changes.
    const r = runSimTransfer({ seed: 4, bytes: 1000, link: { latencyMs: 1 } });
    expect(r.trace).toBeUndefined();
  });
});

describe('summarizeFrame', () => {
  test('IPv4 TCP, UDP, ICMP and fragments', () => {
    const tcp = new Uint8Array(20);
    tcp.set([0xc0, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x12, 0xff, 0xff]);
    expect(summarizeFrame(ipPacket(tcp, { protocol: 6, src: '10.0.0.1', dst: '10.0.0.2' }))).toMatch(/^TCP 10\.0\.0\.1:49152>10\.0\.0\.2:80 \[S\.\] seq=1 ack=2 win=65535 len=0( !csum)?$/);
    const udp = new Uint8Array(12);
    udp.set([0x30, 0x39, 0x00, 0x35, 0x00, 0x0c]);
    expect(summarizeFrame(ipPacket(udp, { protocol: 17, src: '10.0.0.1', dst: '10.0.0.2' }))).toMatch(/^UDP 10\.0\.0\.1:12345>10\.0\.0\.2:53 len=4/);
    expect(summarizeFrame(ipPacket(echoRequest(7, 9, new Uint8Array(10)), { protocol: 1, src: '10.0.0.1', dst: '10.0.0.2' }))).toBe('ICMP 10.0.0.1>10.0.0.2 echo-request id=7 seq=9 len=10');
  });

  test('malformed frames are summarised, never thrown', () => {
    const rng = (() => {
      let x = 12345;
      return () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
    })();
    const cases: Uint8Array[] = [new Uint8Array(0), new Uint8Array([0x45]), new Uint8Array([0x60, 0, 0]), new Uint8Array([0x12, 0x34]), new Uint8Array(20).fill(0x45)];
    // A valid IPv4 header claiming TCP with a truncated / bad-offset TCP header.
    const bad = ipPacket(new Uint8Array(8), { protocol: 6, src: '10.0.0.1', dst: '10.0.0.2' });
    cases.push(bad);
    for (let i = 0; i < 3000; i++) {
      const n = rng() % 80;
      const f = new Uint8Array(n).map(() => rng());
      if (n > 0) f[0] = (i % 2 === 0 ? 0x45 : 0x60) ^ (rng() & (i % 3 === 0 ? 0x0f : 0));
      cases.push(f);
    }
    for (const f of cases) {
      const s = summarizeFrame(f);
      expect(typeof s).toBe('string');
      expect(s.length).toBeGreaterThan(0);
      expect(s.length).toBeLessThan(400);
      expect(summarizeFrame(f)).toBe(s);
      expect(JSON.stringify(s)).toBe(`"${s}"`);
      expect(summarizeFrame(f, false).length).toBeGreaterThan(0);
    }
    expect(summarizeFrame(new Uint8Array(0))).toBe('BAD empty');
    expect(summarizeFrame(new Uint8Array([0x12, 0x34]))).toBe('BAD version=1 1234');
    expect(summarizeFrame(new Uint8Array([0x45]))).toBe('BAD IPv4 TRUNCATED 45');
    expect(summarizeFrame(bad)).toBe('TCP 10.0.0.1>10.0.0.2 BAD TRUNCATED len=8');
  });
});

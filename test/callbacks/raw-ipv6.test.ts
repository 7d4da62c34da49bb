// The raw TCP and UDP APIs with IPv6 (issue 14): addresses as Ip6Addr or
// text, and lwIP's wildcards -- IP4_ADDR_ANY (IPv4 only), IP6_ADDR_ANY and
// '::' (IPv6 only: the PCB becomes v6only), IP_ANY_TYPE (both families:
// IPv4 peers come with IPv4 addresses). Two simulated stacks on one link
// with both families (client 10.0.0.1 / fd00::1, server 10.0.0.2 / fd00::2);
// every test ends with no PCB and no pbuf left.
import { expect, test } from 'vitest';
import { Err, formatIp, Ip6Addr, IP4_ADDR_ANY, IP6_ADDR_ANY, IP_ANY_TYPE, ipEq, parseIp, RawTcp, RawUdp, type IpAddr, type TcpPcb } from '../../src/callbacks/index.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { Stack } from '../../src/stack/stack.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

function pair() {
  const sim = new Simulator({ seed: 9 });
  const client = sim.addStack('client', { pool: { trackLive: true } });
  const server = sim.addStack('server', { pool: { trackLive: true } });
  sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', aAddr6: 'fd00::1', bAddr6: 'fd00::2', link: { latencyMs: 2 } });
  return {
    sim,
    client,
    server,
    finish(): void {
      sim.runUntilIdle();
      for (const st of [client, server]) {
        expect(st.tcp.pcbCount, `${st.name}: TCP PCBs left`).toBe(0);
        expect(st.udp.pcbCount, `${st.name}: UDP PCBs left`).toBe(0);
        st.pool.assertEmpty();
      }
      sim.close();
    },
  };
}

interface Peer {
  remote: string;
  pcb: TcpPcb;
}

/** An echo listener (raw, as in C) on `ip`:`port`; records who connected. */
function echoServer(st: Stack, ip: IpAddr | string, port: number): { raw: RawTcp; listener: TcpPcb; peers: Peer[] } {
  const raw = new RawTcp(st);
  const pcb = raw.tcpNew()!;
  expect(raw.tcpBind(pcb, ip, port)).toBe(Err.OK);
  const listener = raw.tcpListen(pcb, 8)!;
  const peers: Peer[] = [];
  raw.tcpAccept(listener, (_arg, npcb) => {
    peers.push({ remote: formatIp(npcb.remoteIp), pcb: npcb });
    raw.tcpRecv(npcb, (_a, p, q) => {
      if (q === null) return raw.tcpClose(p);
      raw.tcpWrite(p, q.toBytes());
      raw.tcpRecved(p, q.totLen);
      q.free();
      return Err.OK;
    });
    return Err.OK;
  });
  return { raw, listener, peers };
}

/** Connect, send `msg`, FIN, collect the echo; resolves with what came back or the err code. */
function echoClient(st: Stack, ip: IpAddr | string, port: number, msg: string): { result: () => string | number | null } {
  const raw = new RawTcp(st);
  const pcb = raw.tcpNew()!;
  let got = '';
  let result: string | number | null = null;
  raw.tcpRecv(pcb, (_a, p, q) => {
    if (q === null) {
      result = got;
      return raw.tcpClose(p);
    }
    got += dec(q.toBytes());
    raw.tcpRecved(p, q.totLen);
    q.free();
    return Err.OK;
  });
  raw.tcpErr(pcb, (_a, err) => {
    result = err;
  });
  const err = raw.tcpConnect(pcb, ip, port, (_a, p) => {
    raw.tcpWrite(p, enc(msg));
    raw.tcpShutdown(p, false, true);
    return Err.OK;
  });
  if (err !== Err.OK) result = err;
  return { result: () => result };
}

test("lwIP's wildcard constants: IP4_ADDR_ANY is 0, IP6_ADDR_ANY and IP_ANY_TYPE are '::' (distinct objects)", () => {
  expect(IP4_ADDR_ANY).toBe(0);
  expect(IP6_ADDR_ANY.isUnspecified).toBe(true);
  expect(IP_ANY_TYPE.isUnspecified).toBe(true);
  expect(IP_ANY_TYPE).not.toBe(IP6_ADDR_ANY);
  expect(ipEq(IP_ANY_TYPE, IP6_ADDR_ANY)).toBe(true);
  expect(ipEq(parseIp('[FD00::1]')!, Ip6Addr.parse('fd00::1')!)).toBe(true);
  expect(formatIp(parseIp('::ffff:10.0.0.1')!)).toBe('::ffff:10.0.0.1');
});

test('TCP echo over IPv6 with the raw API, addresses as text and as Ip6Addr', () => {
  const p = pair();
  const srv = echoServer(p.server, 'fd00::2', 7);
  const a = echoClient(p.client, 'fd00::2', 7, 'raw six');
  const b = echoClient(p.client, Ip6Addr.parse('fd00::2')!, 7, 'raw six again');
  p.sim.runUntil(() => a.result() !== null && b.result() !== null, 10_000);
  expect([a.result(), b.result()]).toEqual(['raw six', 'raw six again']);
  expect(srv.peers.map((x) => x.remote)).toEqual(['fd00::1', 'fd00::1']);
  expect(srv.peers[0]!.pcb.localIp).toBeInstanceOf(Ip6Addr);
  srv.raw.tcpClose(srv.listener);
  p.finish();
});

test("binding '::' or IP6_ADDR_ANY is IPv6 only (v6only); IP_ANY_TYPE takes both, IPv4 peers with IPv4 addresses; IP4_ADDR_ANY IPv4 only", () => {
  const p = pair();
  const six = echoServer(p.server, '::', 10);
  expect(six.listener.v6only).toBe(true);
  const sixConst = echoServer(p.server, IP6_ADDR_ANY, 11);
  expect(sixConst.listener.v6only).toBe(true);
  const dual = echoServer(p.server, IP_ANY_TYPE, 12);
  expect(dual.listener.v6only).toBe(false);
  expect(formatIp(dual.listener.localIp)).toBe('::');
  const four = echoServer(p.server, IP4_ADDR_ANY, 13);

  const runs = {
    six4: echoClient(p.client, '10.0.0.2', 10, 'x'),
    six6: echoClient(p.client, 'fd00::2', 10, 'six'),
    sixC4: echoClient(p.client, '10.0.0.2', 11, 'x'),
    dual4: echoClient(p.client, '10.0.0.2', 12, 'dual four'),
    dual6: echoClient(p.client, 'fd00::2', 12, 'dual six'),
    four4: echoClient(p.client, '10.0.0.2', 13, 'four'),
    four6: echoClient(p.client, 'fd00::2', 13, 'x'),
  };
  p.sim.runUntil(() => Object.values(runs).every((r) => r.result() !== null), 10_000);
  expect(Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r.result()]))).toEqual({
    six4: Err.RST,
    six6: 'six',
    sixC4: Err.RST,
    dual4: 'dual four',
    dual6: 'dual six',
    four4: 'four',
    four6: Err.RST,
  });
  // An IPv4 connection on the dual listener has IPv4 (number) addresses.
  const byRemote = new Map(dual.peers.map((x) => [x.remote, x.pcb]));
  expect(byRemote.get('10.0.0.1')!.remoteIp).toBe(0x0a000001);
  expect(byRemote.get('fd00::1')!.remoteIp).toBeInstanceOf(Ip6Addr);
  for (const s of [six, sixConst, dual, four]) s.raw.tcpClose(s.listener);
  p.finish();
});

test('a failing bind leaves v6only as it was; a PCB bound to one family cannot connect to the other (ERR_VAL)', () => {
  const p = pair();
  const raw = new RawTcp(p.server);
  const a = raw.tcpNew()!;
  expect(raw.tcpBind(a, IP_ANY_TYPE, 20)).toBe(Err.OK);
  const b = raw.tcpNew()!;
  expect(raw.tcpBind(b, '::', 20)).toBe(Err.USE); // the dual one takes IPv6 too
  expect(b.v6only).toBe(false);
  expect(raw.tcpBind(b, 'fd00::99', 21)).toBe(Err.VAL); // not our address
  expect(() => raw.tcpBind(b, 'not an address', 21)).toThrow(RangeError);
  const c = new RawTcp(p.client);
  const v4 = c.tcpNew()!;
  expect(c.tcpBind(v4, '10.0.0.1', 0)).toBe(Err.OK);
  expect(c.tcpConnect(v4, 'fd00::2', 7, null)).toBe(Err.VAL);
  const v6 = c.tcpNew()!;
  expect(c.tcpBind(v6, '::', 0)).toBe(Err.OK);
  expect(c.tcpConnect(v6, '10.0.0.2', 7, null)).toBe(Err.VAL);
  for (const x of [a, b]) raw.tcpAbort(x);
  for (const x of [v4, v6]) c.tcpAbort(x);
  p.finish();
});

test('UDP: IP_ANY_TYPE hears both families (IPv4 senders as numbers), answers each in its family; a v6only PCB leaves IPv4 unheard', () => {
  const p = pair();
  const srv = new RawUdp(p.server);
  const pcb = srv.udpNew()!;
  expect(srv.udpBind(pcb, IP_ANY_TYPE, 7)).toBe(Err.OK);
  expect(pcb.v6only).toBe(false);
  const heard: [string, string, boolean][] = [];
  srv.udpRecv(pcb, (_a, upcb, q, addr, port) => {
    heard.push([dec(q.toBytes()), formatIp(addr), typeof addr === 'number']);
    srv.udpSendTo(upcb, q, addr, port);
    q.free();
  });
  const cli = new RawUdp(p.client);
  const c6 = cli.udpNew()!;
  const c4 = cli.udpNew()!;
  expect(cli.udpBind(c6, '::', 0)).toBe(Err.OK);
  expect(c6.v6only).toBe(true);
  const back: [string, string][] = [];
  for (const c of [c6, c4]) cli.udpRecv(c, (_a, _u, q, addr) => {
    back.push([dec(q.toBytes()), formatIp(addr)]);
    q.free();
  });
  expect(cli.udpSendBytes(c6, enc('udp six'), 'fd00::2', 7)).toBe(Err.OK);
  expect(cli.udpSendBytes(c4, enc('udp four'), '10.0.0.2', 7)).toBe(Err.OK);
  p.sim.runUntil(() => back.length === 2, 10_000);
  expect(heard.sort()).toEqual([
    ['udp four', '10.0.0.1', true],
    ['udp six', 'fd00::1', false],
  ]);
  expect(back.sort()).toEqual([
    ['udp four', '10.0.0.2'],
    ['udp six', 'fd00::2'],
  ]);

  const only = srv.udpNew()!;
  expect(srv.udpBind(only, '::', 8)).toBe(Err.OK);
  let got = 0;
  srv.udpRecv(only, (_a, _u, q) => {
    got++;
    q.free();
  });
  const noPorts = p.server.udp.counters.noPorts;
  cli.udpSendBytes(c4, enc('to nobody'), '10.0.0.2', 8);
  cli.udpSendBytes(c6, enc('to v6only'), 'fd00::2', 8);
  p.sim.runUntil(() => got === 1 && p.server.udp.counters.noPorts === noPorts + 1, 10_000);
  expect([got, p.server.udp.counters.noPorts - noPorts]).toEqual([1, 1]);
  for (const x of [pcb, only]) srv.udpRemove(x);
  for (const x of [c6, c4]) cli.udpRemove(x);
  p.finish();
});

test('UDP: a fresh PCB sending to IPv6 is bound to a dual :: first, so later sends of either family work', () => {
  const p = pair();
  const srv = new RawUdp(p.server);
  const pcb = srv.udpNew()!;
  srv.udpBind(pcb, IP_ANY_TYPE, 7);
  const heard: string[] = [];
  srv.udpRecv(pcb, (_a, _u, q, addr) => {
    heard.push(`${dec(q.toBytes())} from ${formatIp(addr)}`);
    q.free();
  });
  const cli = new RawUdp(p.client);
  const fresh = cli.udpNew()!;
  expect(cli.udpSendBytes(fresh, enc('1'), 'fd00::2', 7)).toBe(Err.OK);
  expect(formatIp(fresh.localIp)).toBe('::');
  expect(fresh.localPort).toBeGreaterThan(0);
  expect(cli.udpSendBytes(fresh, enc('2'), 'fd00::2', 7)).toBe(Err.OK);
  expect(cli.udpSendBytes(fresh, enc('3'), '10.0.0.2', 7)).toBe(Err.OK);
  const conn = cli.udpNew()!;
  expect(cli.udpConnect(conn, Ip6Addr.parse('fd00::2')!, 7)).toBe(Err.OK);
  expect(cli.udpSendBytes(conn, enc('4'))).toBe(Err.OK);
  p.sim.runUntil(() => heard.length === 4, 10_000);
  expect(heard.sort()).toEqual(['1 from fd00::1', '2 from fd00::1', '3 from 10.0.0.1', '4 from fd00::1']);
  srv.udpRemove(pcb);
  for (const x of [fresh, conn]) cli.udpRemove(x);
  p.finish();
});

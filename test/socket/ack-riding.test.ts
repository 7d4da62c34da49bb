// ACKs that ride on the application's answer (PcbFlag.APP_LATE): a socket
// application answers on a later turn than the packet, so the ACK of the
// peer's FIN and the window opening of the first read wait for the reply or
// our FIN (at most the delayed-ACK timer) instead of costing segments of
// their own. An echo connection's server then sends what lwIP's
// in-callback echo sends: SYN-ACK, the echo with its ACK, FIN+ACK.
import { describe, expect, test } from 'vitest';
import { RawTcp } from '../../src/callbacks/raw.ts';
import { Err } from '../../src/err.ts';
import { echoService } from '../../src/services/simple.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import type { BlockingSocket } from '../../src/socket/socket.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { dec, enc, sockPair, type SockPair } from '../support/sockets.ts';
import { flagStr, parseSent } from '../support/tcp.ts';

interface Seen { t: number; flags: string; len: number; ack: number; wnd: number }

/** What `stack` receives (TCP only), with the virtual time of arrival. */
function logArrivals(pair: SockPair, stack: Stack): Seen[] {
  const log: Seen[] = [];
  const input = stack.input.bind(stack);
  stack.input = (p, netif) => {
    const bytes = p.toBytes();
    if (bytes[9] === 6) {
      const s = parseSent(bytes);
      log.push({ t: pair.sim.clock.now(), flags: flagStr(s.flags), len: s.data.length, ack: s.ack, wnd: s.wnd });
    }
    input(p, netif);
  };
  return log;
}

async function idle(pair: SockPair): Promise<void> {
  await pair.sim.runUntilAsync(() => pair.sim.clock.pendingTimers() === 0, pair.sim.clock.now() + 600_000);
}

/** `n` client connections to an echo server on `port`: connect, one byte each way, close; what the server sent for each. */
async function echoConnections(pair: SockPair, port: number, n: number): Promise<string[][]> {
  const fromServer = logArrivals(pair, pair.client);
  const out: string[][] = [];
  for (let i = 0; i < n; i++) {
    const before = fromServer.length;
    const c = pair.client.socket();
    await pair.run(c.connect(['10.0.0.2', port]));
    await pair.run(c.write(enc('x')));
    expect(dec(await pair.run(c.read(1)))).toBe('x');
    c.close();
    await idle(pair);
    out.push(fromServer.slice(before).map((s) => `${s.flags}${s.len || ''}`));
  }
  return out;
}

/** A listening socket on the server's port 8000, a client connected to it, and the accepted socket. */
async function connected(pair: SockPair): Promise<{ ls: BlockingSocket; c: BlockingSocket; s: BlockingSocket }> {
  const ls = pair.server.socket();
  ls.bind(['0.0.0.0', 8000]);
  ls.listen(1);
  const c = pair.client.socket();
  await pair.run(c.connect(['10.0.0.2', 8000]));
  const [s] = await pair.run(ls.accept());
  return { ls, c, s };
}

describe('ACKs ride on the socket application\'s answer', () => {
  test('connect, 1-byte echo, close: the echo server sends three segments (SYN-ACK, echo+ACK, FIN+ACK), none retransmitted', async () => {
    const pair = sockPair();
    const svc = echoService(pair.server.sockets, 7);
    expect(await echoConnections(pair, 7, 5)).toEqual(Array(5).fill(['SA', 'PA1', 'FA']));
    expect(pair.server.tcp.counters.retransSegs).toBe(0);
    expect(pair.client.tcp.counters.retransSegs).toBe(0);
    svc.stop();
    await pair.finish();
  });

  test('node:net echo server (allowHalfOpen off): three segments per connection as well', async () => {
    const pair = sockPair();
    const srv = pair.server.net.createServer((sock) => {
      sock.on('data', (d) => sock.write(d));
    });
    srv.listen(7007);
    expect(await echoConnections(pair, 7007, 3)).toEqual(Array(3).fill(['SA', 'PA1', 'FA']));
    expect(pair.server.tcp.counters.retransSegs).toBe(0);
    srv.close();
    await pair.finish();
  });

  test('a reader that sees EOF and does not close: the FIN is ACKed by the delayed-ACK timer (40 ms), and the peer does not resend it', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const fromServer = logArrivals(pair, pair.client);
    const toServer = logArrivals(pair, pair.server);
    c.close();
    expect((await pair.run(s.recv(10))).length).toBe(0); // EOF, and the app goes on without closing
    await pair.advance(500);
    const fin = toServer.find((x) => x.flags.includes('F'))!;
    expect(toServer.filter((x) => x.flags.includes('F'))).toHaveLength(1);
    expect(fromServer.map((x) => x.flags)).toEqual(['A']);
    expect(fromServer[0]!.t - fin.t).toBeCloseTo(pair.server.tcp.config.delayedAckMs + 5, 5); // + 5 ms of link latency
    expect(s.stateName).toBe('PEER_CLOSED');
    s.close();
    ls.close();
    await idle(pair);
    expect(fromServer.map((x) => x.flags)).toEqual(['A', 'FA']);
    expect(pair.client.tcp.counters.retransSegs).toBe(0);
    await pair.finish();
  });

  test('data then a FIN in two segments, both unacknowledged: the FIN is ACKed at once (the peer\'s tail-loss probe does not wait for two)', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    await pair.advance(100); // an RTT sample for the client's probe timer
    const fromServer = logArrivals(pair, pair.client);
    const toServer = logArrivals(pair, pair.server);
    expect(await pair.run(c.send(enc('abc')))).toBe(3);
    c.close(); // Nagle: the FIN goes behind 'abc' as a segment of its own
    await pair.advance(500);
    expect(toServer.map((x) => x.flags)).toEqual(['PA', 'FA']);
    expect(fromServer.map((x) => x.flags)).toEqual(['A']);
    expect(fromServer[0]!.t).toBe(toServer[1]!.t + 5); // at the FIN's arrival, plus the link
    expect(pair.client.tcp.counters.retransSegs).toBe(0);
    expect(dec(await pair.run(s.read()))).toBe('abc');
    s.close();
    ls.close();
    await idle(pair);
    await pair.finish();
  });

  test('the first read opens the SYN\'s 64 KiB window to the whole buffer: the opening rides on the reply, or goes with the delayed ACK', async () => {
    const pair = sockPair();
    const { ls, c, s } = await connected(pair);
    const fromServer = logArrivals(pair, pair.client);
    const scale = s.tcpPcb!.rcvScale;
    const full = pair.server.tcp.config.rcvWnd;
    // With a reply: one segment, the reply, carrying ACK and the whole window.
    await pair.run(c.write(enc('ping')));
    await pair.advance(10);
    expect(dec(await pair.run(s.recv(10)))).toBe('ping');
    await pair.run(s.write(enc('pong')));
    await pair.advance(20);
    expect(fromServer.map((x) => `${x.flags}${x.len}`)).toEqual(['PA4']);
    expect(fromServer[0]!.wnd << scale).toBe(full);
    // Without a reply (a new connection's first read): one bare ACK with the whole window, at the delayed-ACK time.
    const c2 = pair.client.socket();
    await pair.run(c2.connect(['10.0.0.2', 8000]));
    const [s2] = await pair.run(ls.accept());
    fromServer.length = 0;
    await pair.run(c2.write(enc('ping')));
    const sentAt = pair.sim.clock.now();
    await pair.advance(10);
    expect(dec(await pair.run(s2.recv(10)))).toBe('ping');
    await pair.advance(200);
    expect(fromServer.map((x) => `${x.flags}${x.len}`)).toEqual(['A0']);
    expect(fromServer[0]!.wnd << scale).toBe(full);
    expect(fromServer[0]!.t - sentAt).toBeCloseTo(5 + pair.server.tcp.config.delayedAckMs + 5, 5);
    for (const x of [c, s, c2, s2, ls]) x.close();
    await idle(pair);
    await pair.finish();
  });

  test('the raw API keeps lwIP\'s immediate ACK of a FIN when its application does not close inside the callback', async () => {
    const pair = sockPair();
    const raw = new RawTcp(pair.server);
    const lpcb = raw.tcpNew()!;
    expect(raw.tcpBind(lpcb, 0, 9000)).toBe(Err.OK);
    raw.tcpListen(lpcb, 4);
    let conn: TcpPcb | null = null;
    raw.tcpAccept(lpcb, (_arg, npcb) => {
      conn = npcb;
      raw.tcpRecv(npcb, (_a, _p, p) => {
        if (p !== null) {
          raw.tcpRecved(npcb, p.totLen);
          p.free();
        }
        return Err.OK;
      });
      return Err.OK;
    });
    const c = pair.client.socket();
    await pair.run(c.connect(['10.0.0.2', 9000]));
    const fromServer = logArrivals(pair, pair.client);
    const toServer = logArrivals(pair, pair.server);
    c.close();
    await pair.advance(100);
    expect(fromServer.map((x) => x.flags)).toEqual(['A']);
    expect(fromServer[0]!.t).toBe(toServer[0]!.t + 5); // at once, plus the link
    raw.tcpClose(conn!);
    raw.tcpClose(lpcb);
    await idle(pair);
    await pair.finish();
  });
});

// Refused data (docs/raw-api.md, callback contract rule 4; lwIP
// tcp_process_refused_data; modlwip's _lwip_tcp_recv_unaccepted): a recv
// callback that returns anything but ERR_OK keeps the pbuf with the engine.
// It is offered again on the next segment and every refusedRetryMs
// (250 ms) until taken, never discarded; a FIN behind it waits for it;
// segments bringing more data meanwhile are dropped (the peer resends),
// or, with setQueueRefused (the socket layer before accept()), kept behind it.
import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import type { Pbuf } from '../../src/pbuf/pbuf.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import { seqAdd, seqDiff } from '../../src/pcb/seq.ts';
import { ACK, bulkExchange, type Conn, FIN, flagStr, openConn, payload, type SentSeg, sha256, simPair } from '../support/tcp.ts';

const MSS = 536;
const WND = 20 * MSS;

function send(c: Conn, off: number, data: Uint8Array, flags: number = ACK, ack?: number): void {
  c.peer.inject({ seq: seqAdd(c.irs + 1, off), ack: ack ?? seqAdd(c.iss, 1), flags, data, wnd: 0xffff });
}

function wire(c: Conn, segs: SentSeg[]): string[] {
  return segs.map((s) => `${flagStr(s.flags)} ack=${seqDiff(s.ack, c.irs + 1)} wnd=${s.wnd} len=${s.data.length}`);
}

function finish(c: Conn): void {
  if (!c.pcb.freed) c.peer.raw.tcpAbort(c.pcb);
  c.peer.stack.pool.assertEmpty();
}

/** A recv hook that refuses data while `refusing()` is true, logging each offer with the clock time. */
function refuser(c: Conn, refusing: () => boolean, offers: string[]): void {
  c.app.recvHook = (_pcb: TcpPcb, p: Pbuf | null) => {
    offers.push(`${c.peer.clock.now()}:${p === null ? 'fin' : p.totLen}`);
    if (p !== null && refusing()) return Err.MEM;
    return undefined;
  };
}

describe('refused data', () => {
  test('ERR_MEM keeps the pbuf; it is offered again every refusedRetryMs (250 ms) until taken, bytes unchanged', () => {
    const c = openConn();
    const t0 = c.peer.clock.now();
    let refuse = 3;
    const offers: string[] = [];
    refuser(c, () => refuse-- > 0, offers);
    const data = payload(300, 1);
    send(c, 0, data);
    expect(c.pcb.refusedData).not.toBeNull();
    expect(c.app.recvCalls).toBe(0);
    // Held by the engine: the pool still has it.
    expect(c.peer.stack.pool.isEmpty()).toBe(false);
    c.peer.advance(249);
    expect(offers.length).toBe(1);
    c.peer.advance(1000);
    expect(offers).toEqual([`${t0}:300`, `${t0 + 250}:300`, `${t0 + 500}:300`, `${t0 + 750}:300`]);
    expect(c.app.log).toEqual(['recv:300']);
    expect(sha256(c.app.data)).toBe(sha256(data));
    expect(c.pcb.refusedData).toBeNull();
    // Nothing more to retry: no timer keeps firing for it.
    c.peer.advance(1000);
    expect(offers.length).toBe(4);
    finish(c);
  });

  test('any non-OK return refuses (ERR_BUF, ERR_WOULDBLOCK, ERR_CONN): the same bytes come back', () => {
    for (const code of [Err.BUF, Err.WOULDBLOCK, Err.CONN, Err.INPROGRESS]) {
      const c = openConn();
      let first = true;
      c.app.recvHook = (_pcb, p) => {
        if (p !== null && first) {
          first = false;
          return code;
        }
        return undefined;
      };
      const data = payload(100, 2);
      send(c, 0, data);
      c.peer.advance(250);
      expect(c.app.log).toEqual(['recv:100']);
      expect(sha256(c.app.data)).toBe(sha256(data));
      finish(c);
    }
  });

  test('the next segment offers the refused data first; if taken, the new segment is processed after it, in order', () => {
    const c = openConn();
    let refuse = true;
    const offers: string[] = [];
    refuser(c, () => refuse, offers);
    const data = payload(500, 3);
    send(c, 0, data.subarray(0, 200));
    refuse = false;
    send(c, 200, data.subarray(200, 500)); // before the retry timer
    expect(c.app.log).toEqual(['recv:200', 'recv:300']);
    expect(sha256(c.app.data)).toBe(sha256(data));
    finish(c);
  });

  test('while data is refused, segments bringing more data are dropped (not ACKed); a real peer resends them', () => {
    const c = openConn();
    let refuse = true;
    refuser(c, () => refuse, []);
    const data = payload(900, 4);
    send(c, 0, data.subarray(0, 300));
    c.peer.advance(100);
    expect(wire(c, c.peer.take())).toEqual([`A ack=300 wnd=${WND - 300} len=0`]);
    const drops = c.peer.stack.stats.tcp.drop;
    send(c, 300, data.subarray(300, 600));
    send(c, 600, data.subarray(600, 900), ACK | FIN);
    expect(c.peer.stack.stats.tcp.drop).toBe(drops + 2);
    expect(c.pcb.rcvNxt).toBe(seqAdd(c.irs + 1, 300));
    expect(c.pcb.ooseq.empty).toBe(true);
    expect(c.pcb.stateName).toBe('ESTABLISHED');
    expect(c.peer.take()).toEqual([]); // not ACKed: the window is open, no probe reply owed
    refuse = false;
    c.peer.advance(250);
    expect(c.app.log).toEqual(['recv:300']);
    // The peer's retransmissions now go through.
    send(c, 300, data.subarray(300, 600));
    send(c, 600, data.subarray(600, 900), ACK | FIN);
    expect(c.app.log).toEqual(['recv:300', 'recv:300', 'recv:300', 'fin']);
    expect(sha256(c.app.data)).toBe(sha256(data));
    finish(c);
  });

  test('with setQueueRefused, data behind refused data is kept (ACKed, the window shrinks), out-of-order data waits in the queue, and all of it comes in order when taken, then the FIN', () => {
    const c = openConn();
    c.peer.raw.tcp.setQueueRefused(c.pcb, true);
    let refuse = true;
    refuser(c, () => refuse, []);
    const data = payload(1200, 6);
    send(c, 0, data.subarray(0, 300));
    c.peer.advance(100);
    expect(wire(c, c.peer.take())).toEqual([`A ack=300 wnd=${WND - 300} len=0`]);
    const drops = c.peer.stack.stats.tcp.drop;
    send(c, 300, data.subarray(300, 600));
    send(c, 900, data.subarray(900, 1200), ACK | FIN); // ahead of 600..900: out of order
    send(c, 600, data.subarray(600, 900));
    expect(c.peer.stack.stats.tcp.drop).toBe(drops);
    expect(c.peer.stack.tcp.counters.refusedQueued).toBe(2);
    expect(c.pcb.refusedData!.totLen).toBe(1200);
    expect(c.pcb.refusedFin).toBe(true);
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    c.peer.advance(100);
    // Everything acknowledged, FIN included; the window holds what is kept (and the FIN's one, as lwIP counts it).
    expect(wire(c, c.peer.take()).at(-1)).toBe(`A ack=1201 wnd=${WND - 1201} len=0`);
    expect(c.app.log).toEqual([]);
    refuse = false;
    c.peer.advance(250);
    expect(c.app.log).toEqual(['recv:1200', 'fin']);
    expect(sha256(c.app.data)).toBe(sha256(data));
    finish(c);
  });

  test('while data is refused, a pure ACK is still processed (sent callback, window)', () => {
    const c = openConn();
    refuser(c, () => true, []);
    expect(c.peer.raw.tcpWrite(c.pcb, payload(200, 5))).toBe(Err.OK);
    c.peer.raw.tcpOutput(c.pcb);
    c.peer.take();
    send(c, 0, payload(50, 6));
    send(c, 50, new Uint8Array(0), ACK, seqAdd(c.iss, 201));
    expect(c.app.log).toEqual(['sent:200']);
    expect(c.pcb.sndUna).toBe(seqAdd(c.iss, 201));
    expect(c.pcb.refusedData).not.toBeNull();
    finish(c);
  });

  test('a zero-window probe while data is refused and the window is closed gets a bare ACK (lwIP)', () => {
    const c = openConn();
    let refuse = false;
    refuser(c, () => refuse, []);
    const data = payload(WND, 7);
    for (let off = 0; off < WND - MSS; off += MSS) send(c, off, data.subarray(off, off + MSS));
    refuse = true;
    send(c, WND - MSS, data.subarray(WND - MSS, WND));
    c.peer.advance(100);
    expect(wire(c, c.peer.take()).at(-1)).toBe(`A ack=${WND} wnd=0 len=0`);
    send(c, WND, new Uint8Array([0xfe]));
    expect(wire(c, c.peer.take())).toEqual([`A ack=${WND} wnd=0 len=0`]);
    finish(c);
  });

  test('a FIN behind refused data (same segment) is reported only after the data is taken; its ACK goes out at once', () => {
    const c = openConn();
    let refuse = true;
    const offers: string[] = [];
    refuser(c, () => refuse, offers);
    const t0 = c.peer.clock.now();
    const data = payload(120, 8);
    send(c, 0, data, ACK | FIN);
    expect(c.app.log).toEqual([]);
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    expect(c.pcb.refusedFin).toBe(true);
    expect(wire(c, c.peer.take())).toEqual([`A ack=121 wnd=${WND - 121} len=0`]);
    c.peer.advance(500);
    expect(c.app.log).toEqual([]);
    refuse = false;
    c.peer.advance(250);
    expect(c.app.log).toEqual(['recv:120', 'fin']);
    expect(offers).toEqual([`${t0}:120`, `${t0 + 250}:120`, `${t0 + 500}:120`, `${t0 + 750}:120`, `${t0 + 750}:fin`]);
    expect(sha256(c.app.data)).toBe(sha256(data));
    // A retransmitted FIN does not bring a second EOF.
    send(c, 120, new Uint8Array(0), ACK | FIN);
    expect(c.app.finCalls).toBe(1);
    finish(c);
  });

  test('a bare FIN in a later segment while data is refused is latched behind the data (lwIP drops it) and reported right after the data is taken', () => {
    const c = openConn();
    let refuse = true;
    refuser(c, () => refuse, []);
    send(c, 0, payload(10, 9));
    send(c, 10, new Uint8Array(0), ACK | FIN);
    expect(c.pcb.refusedFin).toBe(true);
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    expect(c.app.log).toEqual([]);
    refuse = false;
    c.peer.advance(250);
    expect(c.app.log).toEqual(['recv:10', 'fin']);
    finish(c);
  });

  test('a data segment while data is refused is still dropped (the peer resends it)', () => {
    const c = openConn();
    let refuse = true;
    refuser(c, () => refuse, []);
    send(c, 0, payload(10, 9));
    send(c, 10, payload(5, 8));
    expect(c.pcb.rcvNxt - c.irs - 1).toBe(10);
    refuse = false;
    c.peer.advance(250);
    expect(c.app.log).toEqual(['recv:10']);
    send(c, 10, payload(5, 8), ACK | FIN);
    expect(c.app.log).toEqual(['recv:10', 'recv:5', 'fin']);
    finish(c);
  });

  test('refused data reassembled from the out-of-order queue is kept whole, and so is the FIN that came with it', () => {
    const c = openConn();
    let refuse = true;
    refuser(c, () => refuse, []);
    const data = payload(3 * MSS, 10);
    send(c, 2 * MSS, data.subarray(2 * MSS), ACK | FIN);
    send(c, MSS, data.subarray(MSS, 2 * MSS));
    send(c, 0, data.subarray(0, MSS));
    expect(c.pcb.refusedData?.totLen).toBe(3 * MSS);
    expect(c.pcb.refusedFin).toBe(true);
    refuse = false;
    c.peer.advance(250);
    expect(c.app.log).toEqual([`recv:${3 * MSS}`, 'fin']);
    expect(sha256(c.app.data)).toBe(sha256(data));
    finish(c);
  });

  test('tcpClose with refused data pending sends RST and frees everything (lwIP: the data never reached the application)', () => {
    const c = openConn({ recved: true });
    refuser(c, () => true, []);
    send(c, 0, payload(64, 11));
    c.peer.take();
    expect(c.peer.raw.tcpClose(c.pcb)).toBe(Err.OK);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    expect(c.peer.stack.tcp.active.size).toBe(0); // reset: no longer a connection
    expect(c.pcb.refusedData).toBeNull();
    expect(c.app.errs).toEqual([]);
    c.peer.advance(1000);
    expect(c.app.recvCalls).toBe(0);
    finish(c);
  });

  test('tcpClose from inside the refusing recv callback: RST, PCB freed, refused pbuf released', () => {
    const c = openConn();
    c.app.recvHook = (pcb, p) => {
      if (p === null) return undefined;
      c.peer.raw.tcpClose(pcb);
      return Err.MEM; // the PCB is gone: the engine must not keep (or touch) the pbuf
    };
    send(c, 0, payload(64, 12));
    expect(c.peer.stack.tcp.active.size).toBe(0);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    // The callback did not take the pbuf (it returned non-OK): whoever frees it, nothing leaks.
    finish(c);
  });

  test('a RST while data is refused: err(ERR_RST), the refused data is freed', () => {
    const c = openConn();
    refuser(c, () => true, []);
    send(c, 0, payload(64, 13));
    send(c, 64, new Uint8Array(0), ACK | 0x04);
    expect(c.app.log).toEqual([`err:${Err.RST}`]);
    expect(c.pcb.freed).toBe(true);
    finish(c);
  });

  test('abort by the application while data is refused frees it; no retry after', () => {
    const c = openConn();
    const offers: string[] = [];
    refuser(c, () => true, offers);
    send(c, 0, payload(64, 14));
    c.peer.raw.tcpAbort(c.pcb);
    c.peer.advance(1000);
    expect(offers.length).toBe(1);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    finish(c);
  });

  test('the recv callback may abort on a retry (returning ERR_ABRT): RST, err(ERR_ABRT), nothing leaks', () => {
    const c = openConn();
    let calls = 0;
    c.app.recvHook = (pcb, p) => {
      if (p === null) return undefined;
      if (++calls === 1) return Err.MEM;
      // lwIP: with ERR_ABRT the pbuf is the callback's (it was not refused): free it.
      p.free();
      c.peer.raw.tcpAbort(pcb);
      return Err.ABRT;
    };
    send(c, 0, payload(64, 15));
    c.peer.advance(100); // the delayed ACK
    c.peer.take();
    c.peer.advance(150);
    expect(calls).toBe(2);
    expect(c.app.log).toEqual([`err:${Err.ABRT}`]);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    finish(c);
  });

  test('refused data in FIN_WAIT_2 (after tcpShutdown of the send side) with the FIN behind it is delivered, then EOF', () => {
    const c = openConn();
    let refuse = true;
    refuser(c, () => refuse, []);
    expect(c.peer.raw.tcpShutdown(c.pcb, false, true)).toBe(Err.OK);
    const fin = c.peer.take();
    expect(fin.map((s) => flagStr(s.flags))).toEqual(['FA']);
    send(c, 0, new Uint8Array(0), ACK, seqAdd(c.iss, 2)); // our FIN acked
    expect(c.pcb.stateName).toBe('FIN_WAIT_2');
    const data = payload(77, 16);
    send(c, 0, data, ACK | FIN, seqAdd(c.iss, 2));
    // The FIN is ACKed at once; TIME_WAIT (which frees the queues) waits for the data.
    expect(wire(c, c.peer.take())).toEqual([`A ack=78 wnd=${WND - 78} len=0`]);
    expect(c.pcb.stateName).toBe('TIME_WAIT');
    c.peer.advance(500);
    expect(c.app.log).toEqual([]);
    refuse = false;
    c.peer.advance(250);
    expect(c.app.log).toEqual(['recv:77', 'fin']);
    expect(sha256(c.app.data)).toBe(sha256(data));
    // Then the ordinary TIME_WAIT, freed after 2*MSL.
    expect(c.peer.stack.tcp.timeWait.size).toBe(1);
    c.peer.advance(c.peer.stack.tcp.config.timeWaitMs);
    expect(c.pcb.freed).toBe(true);
    expect(c.peer.clock.pendingTimers()).toBe(0);
    finish(c);
  });

  test('refused data + FIN in FIN_WAIT_1 (simultaneous close, CLOSING), then our FIN is ACKed: the data still arrives, then EOF', () => {
    const c = openConn();
    let refuse = true;
    refuser(c, () => refuse, []);
    c.peer.raw.tcpShutdown(c.pcb, false, true);
    c.peer.take();
    const data = payload(33, 17);
    send(c, 0, data, ACK | FIN); // does not ack our FIN
    expect(c.pcb.stateName).toBe('CLOSING');
    send(c, 34, new Uint8Array(0), ACK, seqAdd(c.iss, 2)); // now it does
    expect(c.pcb.stateName).toBe('TIME_WAIT');
    expect(c.app.log).toEqual([]);
    refuse = false;
    c.peer.advance(250);
    expect(c.app.log).toEqual(['recv:33', 'fin']);
    expect(sha256(c.app.data)).toBe(sha256(data));
    expect(c.peer.stack.tcp.timeWait.size).toBe(1);
    finish(c);
  });
});

describe('refused data and close', () => {
  test('tcpClose in FIN_WAIT_2 with refused data pending: no recv after close (rule 7); the data is dropped and the peer gets a RST', () => {
    const c = openConn();
    const offers: string[] = [];
    refuser(c, () => true, offers);
    c.peer.raw.tcpShutdown(c.pcb, false, true);
    c.peer.take();
    send(c, 0, payload(10, 30), ACK, seqAdd(c.iss, 2));
    expect(c.pcb.stateName).toBe('FIN_WAIT_2');
    c.peer.take();
    expect(c.peer.raw.tcpClose(c.pcb)).toBe(Err.OK);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    expect(c.pcb.freed).toBe(true);
    c.peer.advance(1000);
    expect(offers.length).toBe(1); // never offered again after the close
    expect(c.app.errs).toEqual([]);
    finish(c);
  });

  test('tcpClose while TIME_WAIT waits for refused data: the data is dropped, plain TIME_WAIT follows (the peer is done, no RST)', () => {
    const c = openConn();
    const offers: string[] = [];
    refuser(c, () => true, offers);
    c.peer.raw.tcpShutdown(c.pcb, false, true);
    c.peer.take();
    send(c, 0, payload(10, 31), ACK | FIN, seqAdd(c.iss, 2));
    expect(c.pcb.stateName).toBe('TIME_WAIT');
    c.peer.take();
    c.peer.raw.tcpClose(c.pcb);
    expect(c.peer.take()).toEqual([]);
    expect(c.peer.stack.tcp.timeWait.size).toBe(1);
    c.peer.advance(1000);
    expect(offers.length).toBe(1);
    expect(c.app.log).toEqual([]);
    finish(c);
  });

  // Beyond lwIP (which ignores recv(null)'s return value): a refused EOF is
  // kept and offered again. modlwip's _lwip_tcp_recv_unaccepted returns
  // ERR_BUF for data *and* FIN before accept(); on lwIP such a socket never
  // sees "peer closed" (docs/research/lwip-tcp-tests.md §4.4 "Gap").
  test('a refused EOF (recv(null) returning non-OK, no data pending) is offered again until taken', () => {
    const c = openConn();
    let refuse = true;
    const offers: string[] = [];
    c.app.recvHook = (_p, q) => {
      offers.push(q === null ? 'fin' : 'data');
      return refuse ? Err.BUF : undefined;
    };
    send(c, 0, new Uint8Array(0), ACK | FIN);
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    refuse = false;
    c.peer.advance(250);
    expect(offers).toEqual(['fin', 'fin']);
    expect(c.app.log).toEqual(['fin']);
    finish(c);
  });
});

describe('refused data end to end', () => {
  // 'every 3rd call': the retry (timer or next segment) is the 4th call and is
  // taken, so nothing needs dropping; '2 of 3': a retry is often refused too,
  // so segments arriving meanwhile are dropped and must be retransmitted.
  for (const [name, refuse, drops] of [
    ['every 3rd recv call', (n: number) => n % 3 === 0, false],
    ['2 of every 3 recv calls', (n: number) => n % 3 !== 1, true],
  ] as const) {
    test(`a bulk transfer to a receiver that refuses ${name} completes byte-exact`, () => {
      const pair = simPair({ seed: 7 });
      const a = payload(300_000, 21);
      const b = payload(20_000, 22);
      const { cli, srv, listener, clientPcb } = bulkExchange(pair, a, b);
      let calls = 0;
      let refusals = 0;
      // Take over the server's accept: same Endpoint, but some data offers are refused.
      pair.rs.tcpAccept(listener, (_a, npcb) => {
        srv.attach(npcb);
        srv.connected = true;
        const inner = npcb.recvFn!;
        pair.rs.tcpRecv(npcb, (arg, pcb, p, err) => {
          if (p !== null && refuse(++calls)) {
            refusals++;
            return Err.MEM;
          }
          return inner(arg, pcb, p, err);
        });
        srv.pump(npcb);
        return Err.OK;
      });
      expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 600_000)).toBe(true);
      expect(sha256(srv.bytes)).toBe(sha256(a));
      expect(sha256(cli.bytes)).toBe(sha256(b));
      expect(refusals).toBeGreaterThan(10);
      if (drops) {
        expect(pair.server.stats.tcp.drop).toBeGreaterThan(0);
        expect(pair.client.tcp.counters.retransSegs).toBeGreaterThan(0);
      }
      pair.sim.runUntilIdle();
      expect(clientPcb.freed).toBe(true);
      // (ERR_CLSD: a side whose FIN went out after the peer's, without tcpClose, learns so when LAST_ACK ends, as in lwIP.)
      expect(cli.errors.filter((e) => e !== Err.CLSD)).toEqual([]);
      expect(srv.errors.filter((e) => e !== Err.CLSD)).toEqual([]);
      pair.client.pool.assertEmpty();
      pair.server.pool.assertEmpty();
    });
  }
});

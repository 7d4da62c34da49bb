// The raw API's callback contract (docs/raw-api.md "The callback contract",
// ARCHITECTURE.md "Reentrancy and deferral"): when callbacks run and in
// which order, what they may do (write, output, close, abort, connect,
// feed packets), what happens when they break the rules (ERR_ABRT without
// abort, throwing), the default callbacks, and the byte counts they see.
import { describe, expect, test } from 'vitest';
import type { RawTcp } from '../../src/callbacks/raw.ts';
import { Err } from '../../src/err.ts';
import type { Pbuf } from '../../src/pbuf/pbuf.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import { seqAdd, seqDiff } from '../../src/pcb/seq.ts';
import { ReentrancyError, type StackOptions } from '../../src/stack/stack.ts';
import { ACK, type Conn, FIN, flagStr, LWIP_TEST_TCP, openConn, payload, RecvApp, RST, type ScriptedPeer, scriptedPeer, sha256, SYN, tcpPacket } from '../support/tcp.ts';

const WND = 20 * 536;

function send(c: Conn, off: number, data: Uint8Array, flags: number = ACK, ack?: number): void {
  c.peer.inject({ seq: seqAdd(c.irs + 1, off), ack: ack ?? seqAdd(c.iss, 1), flags, data, wnd: 0xffff });
}

function finish(c: Conn): void {
  if (!c.pcb.freed) c.peer.raw.tcpAbort(c.pcb);
  c.peer.stack.pool.assertEmpty();
}

/** An active open from the stack to the scripted peer (10.0.0.2:peerPort). */
function activeOpen(peer: ScriptedPeer, log: string[]): { pcb: TcpPcb; iss: number; port: number; inject: (seq: number, ack: number, flags: number, data?: Uint8Array) => void } {
  const raw = peer.raw;
  const pcb = raw.tcpNew()!;
  raw.tcpConnect(pcb, '10.0.0.2', peer.peerPort, (_a, p, err) => {
    log.push(`connected:${err}:${p.stateName}`);
    return Err.OK;
  });
  const syn = peer.take();
  expect(syn.map((s) => flagStr(s.flags))).toEqual(['S']);
  const port = syn[0]!.tcp.srcPort;
  const inject = (seq: number, ack: number, flags: number, data?: Uint8Array): void => peer.inject({ seq, ack, flags, dstPort: port, wnd: 0xffff, ...(data ? { data } : {}), ...(flags & SYN ? { mss: 536 } : {}) });
  return { pcb, iss: syn[0]!.seq, port, inject };
}

/** A RecvApp whose events also go to a shared log. */
function logged(raw: RawTcp, pcb: TcpPcb, log: string[]): RecvApp {
  const app = new RecvApp(raw, pcb);
  const orig = app.log.push.bind(app.log);
  app.log.push = (...items: string[]) => {
    log.push(...items);
    return orig(...items);
  };
  return app;
}

describe('when callbacks run, and in which order', () => {
  test('active open: a SYN-ACK carrying data and FIN gives connected, recv(data), recv(null) -- in that order, after the segment is processed', () => {
    const peer = scriptedPeer({ tcp: LWIP_TEST_TCP });
    const log: string[] = [];
    const { pcb, iss, inject } = activeOpen(peer, log);
    const app = logged(peer.raw, pcb, log);
    const states: string[] = [];
    app.recvHook = (p, q) => {
      states.push(`${p.stateName} rcvNxt=+${seqDiff(p.rcvNxt, 5000)}`);
      return app.take(p, q);
    };
    inject(5000, iss + 1, SYN | ACK | FIN, payload(10));
    expect(log).toEqual(['connected:0:CLOSE_WAIT', 'recv:10', 'fin']);
    // Every callback saw the fully processed segment (data and FIN counted).
    expect(states).toEqual(['CLOSE_WAIT rcvNxt=+12', 'CLOSE_WAIT rcvNxt=+12']);
    const out = peer.take();
    expect(out.map((s) => `${flagStr(s.flags)} ${s.ack - 5000}`)).toEqual(['A 12']);
    peer.raw.tcpAbort(pcb);
    peer.stack.pool.assertEmpty();
  });

  test('passive open: the handshake ACK carrying data and FIN gives accept, recv(data), recv(null)', () => {
    const peer = scriptedPeer({ tcp: LWIP_TEST_TCP });
    const raw = peer.raw;
    const log: string[] = [];
    const lst = raw.tcpNew()!;
    raw.tcpBind(lst, 0, peer.localPort);
    raw.tcpListen(lst);
    let pcb: TcpPcb | null = null;
    raw.tcpAccept(lst, (_a, npcb, err) => {
      log.push(`accept:${err}:${npcb.stateName}`);
      pcb = npcb;
      logged(raw, npcb, log);
      return Err.OK;
    });
    peer.inject({ seq: 7000, flags: SYN, mss: 536 });
    const iss = peer.take()[0]!.seq;
    peer.inject({ seq: 7001, ack: iss + 1, flags: ACK | FIN, data: payload(33) });
    expect(log).toEqual(['accept:0:CLOSE_WAIT', 'recv:33', 'fin']);
    raw.tcpAbort(pcb!);
    raw.tcpClose(lst);
    peer.stack.pool.assertEmpty();
  });

  test('one segment that acks our data and brings data + FIN: sent, recv(data), recv(null); each callback sees the whole segment applied', () => {
    const c = openConn();
    const log: string[] = [];
    const raw = c.peer.raw;
    expect(raw.tcpWrite(c.pcb, payload(100, 1))).toBe(Err.OK);
    raw.tcpOutput(c.pcb);
    c.peer.take();
    const seen: string[] = [];
    const look = (p: TcpPcb): string => `${p.stateName} una=+${seqDiff(p.sndUna, c.iss)} nxt=+${seqDiff(p.rcvNxt, c.irs)} unacked=${p.unacked.count} sndbuf=${raw.tcpSndbuf(p)}`;
    raw.tcpSent(c.pcb, (_a, p, len) => {
      log.push(`sent:${len}`);
      seen.push(look(p));
      return Err.OK;
    });
    c.app.recvHook = (p, q) => {
      log.push(q === null ? 'fin' : `recv:${q.totLen}`);
      seen.push(look(p));
      expect(raw.tcpInfo(p).state).toBe('CLOSE_WAIT');
      return c.app.take(p, q);
    };
    send(c, 0, payload(20, 2), ACK | FIN, seqAdd(c.iss, 101));
    expect(log).toEqual(['sent:100', 'recv:20', 'fin']);
    const sndBuf = LWIP_TEST_TCP.sndBuf!;
    expect(seen).toEqual(Array(3).fill(`CLOSE_WAIT una=+101 nxt=+22 unacked=0 sndbuf=${sndBuf}`));
    finish(c);
  });

  test('tcpWrite + tcpOutput inside recv: nothing leaves during the callback; afterwards one segment carries the data and the ACK', () => {
    const c = openConn();
    const raw = c.peer.raw;
    let sentDuring = -1;
    c.app.recvHook = (p, q) => {
      if (q === null) return undefined;
      const before = c.peer.sent.length;
      expect(raw.tcpWrite(p, payload(50, 3))).toBe(Err.OK);
      expect(raw.tcpOutput(p)).toBe(Err.OK);
      sentDuring = c.peer.sent.length - before;
      return c.app.take(p, q);
    };
    send(c, 0, payload(10, 4));
    expect(sentDuring).toBe(0);
    const out = c.peer.take();
    expect(out.map((s) => `${flagStr(s.flags)} seq=+${seqDiff(s.seq, c.iss)} ack=+${seqDiff(s.ack, c.irs)} len=${s.data.length}`)).toEqual(['PA seq=+1 ack=+11 len=50']);
    expect(sha256(out[0]!.data)).toBe(sha256(payload(50, 3)));
    finish(c);
  });

  test('tcpWrite inside recv(null): the reply and our ACK of the FIN leave together after the callbacks', () => {
    const c = openConn();
    const raw = c.peer.raw;
    c.app.recvHook = (p, q) => {
      if (q !== null) return undefined;
      raw.tcpWrite(p, new TextEncoder().encode('bye'));
      raw.tcpOutput(p);
      raw.tcpClose(p);
      return c.app.take(p, q);
    };
    c.app.autoRecved = true;
    send(c, 0, payload(5, 5), ACK | FIN);
    const out = c.peer.take();
    expect(out.map((s) => `${flagStr(s.flags)} ack=+${seqDiff(s.ack, c.irs)} len=${s.data.length}`)).toEqual(['FPA ack=+7 len=3']);
    expect(c.pcb.stateName).toBe('LAST_ACK');
    finish(c);
  });
});

describe('aborting from a callback', () => {
  test('tcpAbort inside recv returning ERR_ABRT: RST, err(ERR_ABRT), no recv(null) for the FIN in the same segment, nothing else sent', () => {
    const c = openConn();
    const raw = c.peer.raw;
    c.app.recvHook = (p, q) => {
      if (q === null) return undefined;
      c.app.log.push('recv');
      q.free(); // with ERR_ABRT the pbuf is the callback's (lwIP)
      raw.tcpAbort(p);
      return Err.ABRT;
    };
    send(c, 0, payload(10, 6), ACK | FIN);
    expect(c.app.log).toEqual(['recv', `err:${Err.ABRT}`]);
    const out = c.peer.take();
    expect(out.map((s) => flagStr(s.flags))).toEqual(['RA']);
    expect(out[0]!.seq).toBe(seqAdd(c.iss, 1));
    expect(c.pcb.freed).toBe(true);
    expect(c.peer.stack.tcp.counters.contractViolations).toBe(0);
    expect(c.peer.stack.tcp.pcbCount).toBe(1); // the listener
    finish(c);
  });

  test('tcpAbort inside recv but returning ERR_OK (having taken the pbuf) is still safe: the engine sees the PCB is gone', () => {
    const c = openConn();
    const raw = c.peer.raw;
    c.app.recvHook = (p, q) => {
      if (q === null) return undefined;
      c.app.take(p, q);
      raw.tcpAbort(p);
      return Err.OK;
    };
    send(c, 0, payload(10, 7), ACK | FIN);
    expect(c.app.log).toEqual(['recv:10', `err:${Err.ABRT}`]);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    expect(c.peer.stack.tcp.counters.contractViolations).toBe(0);
    // Later segments for that connection meet no PCB: answered with RST, no callback.
    send(c, 11, payload(3, 8));
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['R']);
    expect(c.app.log).toEqual(['recv:10', `err:${Err.ABRT}`]);
    finish(c);
  });

  test('tcpAbort inside the sent callback: recv is not called for the data in the same segment', () => {
    const c = openConn();
    const raw = c.peer.raw;
    raw.tcpWrite(c.pcb, payload(10, 9));
    raw.tcpOutput(c.pcb);
    c.peer.take();
    raw.tcpSent(c.pcb, (_a, p) => {
      c.app.log.push('sent');
      raw.tcpAbort(p);
      return Err.ABRT;
    });
    send(c, 0, payload(10, 10), ACK, seqAdd(c.iss, 11));
    expect(c.app.log).toEqual(['sent', `err:${Err.ABRT}`]);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    finish(c);
  });

  test('returning ERR_ABRT without aborting breaks the contract: counted, and the PCB is aborted (RST, err ERR_ABRT)', () => {
    const c = openConn();
    c.app.recvHook = (_p, q) => {
      if (q === null) return undefined;
      q.free();
      return Err.ABRT;
    };
    send(c, 0, payload(10, 11), ACK | FIN);
    expect(c.peer.stack.tcp.counters.contractViolations).toBe(1);
    expect(c.pcb.freed).toBe(true);
    expect(c.app.log).toEqual([`err:${Err.ABRT}`]);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    finish(c);
  });
});

describe('callbacks that throw', () => {
  test('recv throws: PCB aborted with RST, err(ERR_ABRT), the exception is rethrown from stack input once consistent; counted; nothing leaks', () => {
    const c = openConn();
    const boom = new Error('app bug');
    c.app.recvHook = () => {
      throw boom;
    };
    expect(() => send(c, 0, payload(10, 12), ACK | FIN)).toThrow(boom);
    expect(c.peer.stack.tcp.counters.callbackErrors).toBe(1);
    expect(c.peer.stack.stats.stack.internalErrors).toBe(1);
    expect(c.pcb.freed).toBe(true);
    expect(c.app.log).toEqual([`err:${Err.ABRT}`]);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    // The stack is usable afterwards.
    send(c, 11, payload(1));
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['R']);
    finish(c);
  });

  test('with StackOptions.onInternalError the exception goes to the handler instead, input returns normally', () => {
    const errors: unknown[] = [];
    const stack: StackOptions = { pool: { trackLive: true }, onInternalError: (e) => errors.push(e) };
    const c = openConn({ stack });
    c.app.recvHook = () => {
      throw new RangeError('bad');
    };
    send(c, 0, payload(10, 13));
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(RangeError);
    expect(c.peer.stack.tcp.counters.callbackErrors).toBe(1);
    expect(c.pcb.freed).toBe(true);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    finish(c);
  });

  test('a throwing refused-data retry (timer path) aborts too and reports the error', () => {
    const errors: unknown[] = [];
    const c = openConn({ stack: { pool: { trackLive: true }, onInternalError: (e) => errors.push(e) } });
    let calls = 0;
    c.app.recvHook = (_p, q) => {
      if (q === null) return undefined;
      if (++calls === 1) return Err.MEM;
      throw new Error('retry bug');
    };
    send(c, 0, payload(10, 14));
    c.peer.advance(300);
    expect(calls).toBe(2);
    expect(errors.length).toBe(1);
    expect(c.pcb.freed).toBe(true);
    expect(c.app.log).toEqual([`err:${Err.ABRT}`]);
    finish(c);
  });

  test('sent and err callbacks that throw: sent aborts the PCB; a throwing err callback is reported, nothing leaks', () => {
    const errors: unknown[] = [];
    const c = openConn({ stack: { pool: { trackLive: true }, onInternalError: (e) => errors.push(e) } });
    const raw = c.peer.raw;
    raw.tcpWrite(c.pcb, payload(10, 15));
    raw.tcpOutput(c.pcb);
    c.peer.take();
    raw.tcpSent(c.pcb, () => {
      throw new Error('sent bug');
    });
    raw.tcpErr(c.pcb, () => {
      throw new Error('err bug');
    });
    send(c, 0, payload(10, 16), ACK, seqAdd(c.iss, 11));
    expect(errors.map((e) => (e as Error).message)).toEqual(['err bug', 'sent bug']);
    expect(c.peer.stack.tcp.counters.callbackErrors).toBe(2);
    expect(c.pcb.freed).toBe(true);
    expect(c.app.recvCalls).toBe(0);
    finish(c);
  });
});

describe('what callbacks may call', () => {
  test('tcpClose inside recv(data): recv callbacks stop; later data resets the connection (lwIP); a FIN is not reported', () => {
    const c = openConn({ recved: true });
    const raw = c.peer.raw;
    c.app.recvHook = (p, q) => {
      if (q === null) return undefined;
      const r = c.app.take(p, q);
      raw.tcpClose(p);
      return r;
    };
    send(c, 0, payload(10, 17));
    expect(c.pcb.stateName).toBe('FIN_WAIT_1');
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['FA']);
    send(c, 10, payload(5, 18), ACK, seqAdd(c.iss, 2));
    // No recv; the abort that tells the peer is reported through err (docs rule 7: err may still run).
    expect(c.app.log).toEqual(['recv:10', `err:${Err.ABRT}`]);
    expect(c.peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    expect(c.pcb.freed).toBe(true);
    // Same but the peer only closes: no recv(null) after tcpClose.
    const d = openConn({ recved: true });
    d.peer.raw.tcpClose(d.pcb);
    d.peer.take();
    send(d, 0, new Uint8Array(0), ACK | FIN, seqAdd(d.iss, 2));
    expect(d.app.log).toEqual([]);
    expect(d.pcb.stateName).toBe('TIME_WAIT');
    finish(c);
    finish(d);
  });

  test('default recv (none installed): data is taken and discarded (window reopened), FIN closes the PCB (lwIP tcp_recv_null)', () => {
    const peer = scriptedPeer({ tcp: LWIP_TEST_TCP });
    const raw = peer.raw;
    const lst = raw.tcpNew()!;
    raw.tcpBind(lst, 0, peer.localPort);
    raw.tcpListen(lst);
    let pcb: TcpPcb | null = null;
    const errs: number[] = [];
    raw.tcpAccept(lst, (_a, npcb) => {
      pcb = npcb;
      raw.tcpErr(npcb, (_x, e) => errs.push(e));
      return Err.OK;
    });
    peer.inject({ seq: 100, flags: SYN, mss: 536 });
    const iss = peer.take()[0]!.seq;
    peer.inject({ seq: 101, ack: iss + 1, flags: ACK });
    for (let i = 0; i < 4; i++) peer.inject({ seq: 101 + i * 536, ack: iss + 1, flags: ACK, data: payload(536, i) });
    expect(pcb!.rcvWnd).toBe(WND);
    const acks = peer.take();
    expect(acks.at(-1)!.wnd).toBe(WND);
    peer.inject({ seq: 101 + 4 * 536, ack: iss + 1, flags: ACK | FIN });
    const fin = peer.take();
    expect(fin.map((s) => flagStr(s.flags))).toEqual(['FA']);
    expect(pcb!.stateName).toBe('LAST_ACK');
    peer.inject({ seq: 101 + 4 * 536 + 1, ack: iss + 2, flags: ACK });
    expect(pcb!.freed).toBe(true);
    expect(errs).toEqual([]);
    raw.tcpClose(lst);
    peer.stack.pool.assertEmpty();
  });

  test('no accept callback: the new connection is aborted (RST), nothing remains', () => {
    const peer = scriptedPeer({ tcp: LWIP_TEST_TCP });
    const raw = peer.raw;
    const lst = raw.tcpNew()!;
    raw.tcpBind(lst, 0, peer.localPort);
    raw.tcpListen(lst);
    peer.inject({ seq: 100, flags: SYN, mss: 536 });
    const iss = peer.take()[0]!.seq;
    peer.inject({ seq: 101, ack: iss + 1, flags: ACK, data: payload(10) });
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    expect(peer.stack.tcp.pcbCount).toBe(1);
    expect(lst.acceptsPending).toBe(0);
    raw.tcpClose(lst);
    peer.stack.pool.assertEmpty();
  });

  test('an accept callback returning an error aborts the connection (lwIP, modlwip backlog full)', () => {
    const peer = scriptedPeer({ tcp: LWIP_TEST_TCP });
    const raw = peer.raw;
    const lst = raw.tcpNew()!;
    raw.tcpBind(lst, 0, peer.localPort);
    raw.tcpListen(lst);
    const errs: number[] = [];
    raw.tcpAccept(lst, (_a, npcb) => {
      raw.tcpErr(npcb, (_x, e) => errs.push(e));
      return Err.BUF;
    });
    peer.inject({ seq: 100, flags: SYN, mss: 536 });
    const iss = peer.take()[0]!.seq;
    peer.inject({ seq: 101, ack: iss + 1, flags: ACK });
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['RA']);
    expect(errs).toEqual([Err.ABRT]);
    expect(peer.stack.tcp.pcbCount).toBe(1);
    raw.tcpClose(lst);
    peer.stack.pool.assertEmpty();
  });

  test('an accept callback that does networking: connects elsewhere, writes and closes the new connection', () => {
    const peer = scriptedPeer({ tcp: LWIP_TEST_TCP });
    const raw = peer.raw;
    const lst = raw.tcpNew()!;
    raw.tcpBind(lst, 0, peer.localPort);
    raw.tcpListen(lst);
    let other: TcpPcb | null = null;
    let accepted: TcpPcb | null = null;
    const greeting = new TextEncoder().encode('hello from accept');
    raw.tcpAccept(lst, (_a, npcb) => {
      accepted = npcb;
      other = raw.tcpNew()!;
      expect(raw.tcpConnect(other, '10.0.0.2', 9999, () => Err.OK)).toBe(Err.OK);
      expect(raw.tcpWrite(npcb, greeting)).toBe(Err.OK);
      expect(raw.tcpOutput(npcb)).toBe(Err.OK);
      expect(raw.tcpClose(npcb)).toBe(Err.OK);
      return Err.OK;
    });
    peer.inject({ seq: 100, flags: SYN, mss: 536 });
    const iss = peer.take()[0]!.seq;
    peer.inject({ seq: 101, ack: iss + 1, flags: ACK });
    const out = peer.take();
    // The SYN to the other peer leaves from inside the callback (another PCB);
    // the accepted PCB's data and FIN after the callbacks, in one segment.
    expect(out.map((s) => `${flagStr(s.flags)} ${s.tcp.dstPort} ${s.data.length}`)).toEqual(['S 9999 0', `FPA ${peer.peerPort} ${greeting.length}`]);
    expect(new TextDecoder().decode(out[1]!.data)).toBe('hello from accept');
    expect(accepted!.stateName).toBe('FIN_WAIT_1');
    expect(other!.stateName).toBe('SYN_SENT');
    raw.tcpAbort(other!);
    raw.tcpAbort(accepted!);
    raw.tcpClose(lst);
    peer.stack.pool.assertEmpty();
  });
});

describe('re-entering the stack from a callback', () => {
  test('a packet fed with stack.input from inside recv is queued and processed after the current one, in order', () => {
    const c = openConn();
    const log: string[] = [];
    let fed = false;
    c.app.recvHook = (p, q) => {
      if (q === null) {
        log.push('fin');
        return Err.OK;
      }
      log.push(`recv:${q.totLen} start`);
      if (!fed) {
        fed = true;
        // The next segment arrives "synchronously" (a loopback device, a test).
        send(c, q.totLen, payload(7, 2), ACK | FIN);
        log.push(`queued:${c.peer.stack.stats.stack.inputQueued}`);
        expect(c.pcb.rcvNxt).toBe(seqAdd(c.irs + 1, 5)); // not processed yet
      }
      const r = c.app.take(p, q);
      log.push(`recv:${q === null ? 0 : 'done'}`);
      return r;
    };
    send(c, 0, payload(5, 1));
    expect(log).toEqual(['recv:5 start', 'queued:1', 'recv:done', 'recv:7 start', 'recv:done', 'fin']);
    expect(c.app.data.length).toBe(12);
    expect(c.pcb.stateName).toBe('CLOSE_WAIT');
    finish(c);
  });

  test('with strictReentrancy the same call throws ReentrancyError inside the callback; the packet is dropped, nothing leaks', () => {
    const c = openConn({ stack: { pool: { trackLive: true }, strictReentrancy: true } });
    const caught: unknown[] = [];
    c.app.recvHook = (p, q) => {
      if (q !== null && caught.length === 0) {
        try {
          send(c, q.totLen, payload(7, 2));
        } catch (e) {
          caught.push(e);
        }
      }
      return c.app.take(p, q);
    };
    send(c, 0, payload(5, 1));
    expect(caught.length).toBe(1);
    expect(caught[0]).toBeInstanceOf(ReentrancyError);
    expect(c.app.log).toEqual(['recv:5']);
    expect(c.peer.stack.stats.stack.inputQueued).toBe(0);
    // The connection is fine: the peer's retransmission goes through.
    send(c, 5, payload(7, 2));
    expect(c.app.log).toEqual(['recv:5', 'recv:7']);
    finish(c);
  });

  test('an uncaught ReentrancyError from a callback is a throwing callback: PCB aborted, error rethrown', () => {
    const c = openConn({ stack: { pool: { trackLive: true }, strictReentrancy: true } });
    c.app.recvHook = (_p, q) => {
      if (q !== null) send(c, q.totLen, payload(7, 2));
      return Err.OK;
    };
    expect(() => send(c, 0, payload(5, 1))).toThrow(ReentrancyError);
    expect(c.pcb.freed).toBe(true);
    expect(c.peer.stack.tcp.counters.callbackErrors).toBe(1);
    finish(c);
  });

  test('defer() from a callback runs right after the packet, before the next queued one', () => {
    const c = openConn();
    const log: string[] = [];
    c.app.recvHook = (p, q) => {
      if (q !== null && log.length === 0) {
        c.peer.raw.defer(() => log.push(`deferred rcvNxt=+${seqDiff(p.rcvNxt, c.irs)}`));
        send(c, q.totLen, payload(3, 2));
      }
      log.push(q === null ? 'fin' : `recv:${q.totLen}`);
      return c.app.take(p, q);
    };
    send(c, 0, payload(4, 1));
    expect(log).toEqual(['recv:4', 'deferred rcvNxt=+5', 'recv:3']);
    finish(c);
  });
});

describe('the byte counts callbacks report', () => {
  test('sent(len) sums to exactly the bytes written (SYN and FIN not counted), over partial and cumulative ACKs', () => {
    const peer = scriptedPeer({ tcp: LWIP_TEST_TCP });
    const log: string[] = [];
    const { pcb, iss, inject } = activeOpen(peer, log);
    const raw = peer.raw;
    let sent = 0;
    const sentCalls: number[] = [];
    raw.tcpSent(pcb, (_a, _p, len) => {
      sent += len;
      sentCalls.push(len);
      return Err.OK;
    });
    raw.tcpRecv(pcb, (_a, _p, q) => {
      q?.free();
      return Err.OK;
    });
    inject(5000, iss + 1, SYN | ACK); // acks only our SYN: no sent callback
    expect(sentCalls).toEqual([]);
    const data = payload(3000, 19);
    raw.tcpNagleDisable(pcb);
    for (let off = 0; off < data.length; off += 700) raw.tcpWrite(pcb, data.subarray(off, Math.min(off + 700, data.length)));
    raw.tcpOutput(pcb);
    raw.tcpShutdown(pcb, false, true);
    const segs = peer.take().filter((s) => s.data.length > 0 || s.flags & FIN);
    const wireBytes = Buffer.concat(segs.map((s) => s.data));
    expect(sha256(wireBytes)).toBe(sha256(data));
    // Partial ACKs, one in the middle of a segment, then everything including the FIN.
    for (const a of [1, 536, 1000, 2999, 3000, 3001]) inject(5001, seqAdd(iss, 1 + a), ACK);
    expect(sent).toBe(3000);
    expect(sentCalls).toEqual([1, 535, 464, 1999, 1]);
    expect(pcb.stateName).toBe('FIN_WAIT_2');
    raw.tcpAbort(pcb);
    peer.stack.pool.assertEmpty();
  });

  test('recv pbufs over a whole connection sum to the bytes the peer sent; the FIN is reported once, last', () => {
    const c = openConn({ recved: true });
    const data = payload(50_000, 20);
    let off = 0;
    for (let i = 0; off < data.length; i++) {
      const n = Math.min(1 + ((i * 97) % 536), data.length - off);
      send(c, off, data.subarray(off, off + n));
      off += n;
      if (i % 7 === 0) c.peer.advance(10);
    }
    send(c, off, new Uint8Array(0), ACK | FIN);
    const recvs = c.app.events.filter((e) => e.t === 'recv');
    expect(recvs.reduce((s, e) => s + (e.t === 'recv' ? e.len : 0), 0)).toBe(data.length);
    expect(sha256(c.app.data)).toBe(sha256(data));
    expect(c.app.events.at(-1)!.t).toBe('fin');
    expect(c.app.finCalls).toBe(1);
    finish(c);
  });

  test('a RST replaces all callbacks: err(ERR_RST) only, even for a segment that also acks data', () => {
    const c = openConn();
    const raw = c.peer.raw;
    raw.tcpWrite(c.pcb, payload(10, 21));
    raw.tcpOutput(c.pcb);
    c.peer.take();
    send(c, 0, payload(10, 22), ACK | RST, seqAdd(c.iss, 11));
    expect(c.app.log).toEqual([`err:${Err.RST}`]);
    expect(c.peer.take()).toEqual([]);
    finish(c);
  });
});

// Keep the packet builder import used (handy when extending these tests).
void tcpPacket;
void ({} as Pbuf | null);

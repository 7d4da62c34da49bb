// Calling the application (lwIP's TCP_EVENT_* macros). Every call returns
// Err.ABRT when the PCB is gone afterwards, whatever the callback returned,
// so the engine never touches a freed PCB. Beyond lwIP:
// - a callback that throws gets its PCB aborted (RST) and the exception
//   reported to the Stack, instead of leaving the engine half-way;
// - a callback that returns ERR_ABRT without aborting breaks lwIP's
//   contract; it is counted and the PCB aborted, so the return value stays
//   truthful.
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { ErrFn, TcpPcb } from './pcb.ts';
import type { Tcp } from './tcp.ts';

function failed(tcp: Tcp, pcb: TcpPcb, e: unknown): number {
  tcp.counters.callbackErrors++;
  if (!pcb.freed) tcp.abort(pcb);
  tcp.host.reportError(e);
  return Err.ABRT;
}

function settle(tcp: Tcp, pcb: TcpPcb, r: number): number {
  // Freed inside the callback (tcpAbort, or tcpClose sending a RST): the
  // engine stops here whatever the callback returned.
  if (pcb.freed) return Err.ABRT;
  if (r === Err.ABRT) {
    tcp.counters.contractViolations++;
    tcp.abort(pcb);
    return Err.ABRT;
  }
  return r;
}

/**
 * Hand data (or null for the peer's FIN) to the recv callback. Without one,
 * lwIP's tcp_recv_null applies: data is taken and discarded, a FIN closes.
 */
export function callRecv(tcp: Tcp, pcb: TcpPcb, p: Pbuf | null): number {
  const fn = pcb.recvFn;
  if (fn === null) {
    if (p !== null) {
      const n = p.totLen;
      p.free();
      tcp.recved(pcb, n);
    } else {
      tcp.close(pcb);
    }
    return pcb.freed ? Err.ABRT : Err.OK;
  }
  let r: number;
  try {
    r = fn(pcb.arg, pcb, p, Err.OK);
  } catch (e) {
    // A throwing callback is taken not to have kept the data.
    if (p !== null && p.ref > 0) p.free();
    return failed(tcp, pcb, e);
  }
  // Refused (not taken) but the PCB went away inside the callback (tcpClose
  // sending a RST): nobody is left to keep the pbuf, so it is released here.
  if (pcb.freed && p !== null && r !== Err.OK && r !== Err.ABRT && p.ref > 0) p.free();
  return settle(tcp, pcb, r);
}

export function callSent(tcp: Tcp, pcb: TcpPcb, len: number): number {
  const fn = pcb.sentFn;
  if (fn === null) return Err.OK;
  let r: number;
  try {
    r = fn(pcb.arg, pcb, len);
  } catch (e) {
    return failed(tcp, pcb, e);
  }
  return settle(tcp, pcb, r);
}

export function callConnected(tcp: Tcp, pcb: TcpPcb): number {
  const fn = pcb.connectedFn;
  if (fn === null) return Err.OK;
  let r: number;
  try {
    r = fn(pcb.arg, pcb, Err.OK);
  } catch (e) {
    return failed(tcp, pcb, e);
  }
  return settle(tcp, pcb, r);
}

/**
 * Offer a new connection to its listener's accept callback. No callback,
 * or one that returns an error, aborts the connection (lwIP tcp_accept_null).
 */
export function callAccept(tcp: Tcp, listener: TcpPcb, pcb: TcpPcb): number {
  const fn = listener.acceptFn;
  if (fn === null) {
    tcp.abort(pcb);
    return Err.ABRT;
  }
  let r: number;
  try {
    r = fn(listener.arg, pcb, Err.OK);
  } catch (e) {
    return failed(tcp, pcb, e);
  }
  if (pcb.freed) return Err.ABRT;
  if (r !== Err.OK) {
    tcp.abort(pcb);
    return Err.ABRT;
  }
  return Err.OK;
}

export function callPoll(tcp: Tcp, pcb: TcpPcb): number {
  const fn = pcb.pollFn;
  if (fn === null) return Err.OK;
  let r: number;
  try {
    r = fn(pcb.arg, pcb);
  } catch (e) {
    return failed(tcp, pcb, e);
  }
  return settle(tcp, pcb, r);
}

/** The err callback runs after the PCB is freed (lwIP TCP_EVENT_ERR). */
export function callErr(tcp: Tcp, fn: ErrFn | null, arg: unknown, err: number): void {
  if (fn === null) return;
  try {
    fn(arg, err);
  } catch (e) {
    tcp.counters.callbackErrors++;
    tcp.host.reportError(e);
  }
}

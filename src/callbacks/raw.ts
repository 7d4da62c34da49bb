// lwIP's raw TCP API under lwIP's own names (tcp_new -> tcpNew, ...), so
// code ported from C lwIP or MicroPython's modlwip reads almost line for
// line. The mapping and the callback contract are in docs/raw-api.md.
//
// The contract, in short (enforced where lwIP only trusts):
// - Callbacks run when the segment that caused them is fully processed,
//   never in the middle of it; a callback may call any function here.
//   tcpOutput/tcpWrite for the PCB being processed are queued and sent
//   when the callbacks return.
// - A callback that aborts its PCB (tcpAbort) must return ERR_ABRT, and
//   must not touch the PCB again. The engine checks the PCB itself, so a
//   callback that forgets is harmless; one that returns ERR_ABRT without
//   aborting is counted in tcp.counters.contractViolations and aborted.
// - A callback that throws gets its PCB aborted (RST) and the exception
//   reported to the Stack (rethrown after the stack is consistent again).
// - Packets that reach the stack while it is processing one (loopback, a
//   callback feeding the stack) are queued, never processed recursively;
//   with StackOptions.strictReentrancy they are refused with ReentrancyError.
// - Work to do "as soon as the current packet is processed" goes through
//   stack.defer() (the socket layer hands accepted connections over so).
import { Err } from '../err.ts';
import { backlogAccepted, backlogDelayed } from '../pcb/input.ts';
import { WriteFlag } from '../pcb/output.ts';
import type { AcceptFn, ConnectedFn, ErrFn, PollFn, RecvFn, SentFn, TcpInfo, TcpPcb } from '../pcb/pcb.ts';
import { PcbFlag, SockOpt, TcpState, TCP_STATE_NAMES } from '../pcb/state.ts';
import type { Tcp } from '../pcb/tcp.ts';
import type { IpAddr } from '../wire/ipaddr.ts';
import { bindTarget, toIpAddr as addr } from './addr.ts';

export { WriteFlag };
export const TCP_WRITE_FLAG_COPY = WriteFlag.COPY;
export const TCP_WRITE_FLAG_MORE = WriteFlag.MORE;

/** The stack-side object the raw API needs (a Stack satisfies it). */
export interface RawHost {
  readonly tcp: Tcp;
  defer(fn: () => void): void;
}

/** lwIP's raw API bound to one stack. */
export class RawTcp {
  readonly tcp: Tcp;

  constructor(readonly host: RawHost) {
    this.tcp = host.tcp;
  }

  /** tcp_new: a new PCB, or null when the PCB limit is reached. */
  tcpNew(): TcpPcb | null {
    return this.tcp.newPcb();
  }

  /** tcp_arg: the first argument every callback receives. */
  tcpArg(pcb: TcpPcb, arg: unknown): void {
    pcb.arg = arg;
  }

  /**
   * tcp_bind: local address and port (0 = ephemeral). Either family: a
   * u32 or Ip6Addr, or text ('10.0.0.1', 'fd00::1', '[::1]'). The
   * wildcards are lwIP's: IP4_ADDR_ANY (0, '0.0.0.0') takes IPv4 only,
   * IP6_ADDR_ANY ('::') IPv6 only (the PCB becomes v6only), IP_ANY_TYPE
   * both (the PCB becomes dual; IPv4 connections get IPv4 addresses).
   */
  tcpBind(pcb: TcpPcb, ip: IpAddr | string, port: number): number {
    const t = bindTarget(ip);
    if (t.v6only === null) return this.tcp.bind(pcb, t.ip, port);
    const was = pcb.v6only;
    pcb.v6only = t.v6only;
    const err = this.tcp.bind(pcb, t.ip, port);
    if (err !== Err.OK) pcb.v6only = was;
    return err;
  }

  /** tcp_bind_netif is not needed: addresses select the netif. */

  /**
   * tcp_listen_with_backlog: lwIP returns a new, smaller PCB and frees the
   * old one; here the PCB becomes the listener in place and is returned
   * (null on failure, as lwIP).
   */
  tcpListen(pcb: TcpPcb, backlog = 0xff): TcpPcb | null {
    return this.tcp.listen(pcb, backlog) === Err.OK ? pcb : null;
  }

  /** tcp_listen_with_backlog_and_err. */
  tcpListenWithErr(pcb: TcpPcb, backlog = 0xff): { pcb: TcpPcb | null; err: number } {
    const err = this.tcp.listen(pcb, backlog);
    return { pcb: err === Err.OK ? pcb : null, err };
  }

  /** tcp_accept: called with each new connection on a listener. */
  tcpAccept(pcb: TcpPcb, fn: AcceptFn | null): void {
    pcb.acceptFn = fn;
  }

  /**
   * tcp_connect: start the handshake; `connected` runs when it completes.
   * An unbound PCB connects in the family of `ip`; one bound to the other
   * family's address (or to a v6only `::`) gets ERR_VAL.
   */
  tcpConnect(pcb: TcpPcb, ip: IpAddr | string, port: number, connected: ConnectedFn | null): number {
    return this.tcp.connect(pcb, addr(ip), port, connected);
  }

  /** tcp_recv: data (a pbuf the callback takes) or null for the peer's FIN. */
  tcpRecv(pcb: TcpPcb, fn: RecvFn | null): void {
    pcb.recvFn = fn;
  }

  /** tcp_sent: bytes of ours the peer acknowledged. */
  tcpSent(pcb: TcpPcb, fn: SentFn | null): void {
    pcb.sentFn = fn;
  }

  /** tcp_poll: called every `interval` coarse ticks (500 ms each by default). */
  tcpPoll(pcb: TcpPcb, fn: PollFn | null, interval: number): void {
    this.tcp.setPoll(pcb, fn, interval);
  }

  /** tcp_err: the connection died (the PCB is already freed when it runs). */
  tcpErr(pcb: TcpPcb, fn: ErrFn | null): void {
    pcb.errFn = fn;
  }

  /** tcp_write: queue data; flags TCP_WRITE_FLAG_COPY / TCP_WRITE_FLAG_MORE. */
  tcpWrite(pcb: TcpPcb, data: Uint8Array, flags: number = WriteFlag.COPY): number {
    return this.tcp.write(pcb, data, flags);
  }

  /** tcp_output: send what the windows allow now. */
  tcpOutput(pcb: TcpPcb): number {
    return this.tcp.output(pcb);
  }

  /** tcp_recved: the application took `len` bytes; the window opens. */
  tcpRecved(pcb: TcpPcb, len: number): void {
    this.tcp.recved(pcb, len);
  }

  /** tcp_close: FIN after queued data (RST if unread data remains). */
  tcpClose(pcb: TcpPcb): number {
    return this.tcp.close(pcb);
  }

  /** tcp_shutdown. */
  tcpShutdown(pcb: TcpPcb, shutRx: boolean, shutTx: boolean): number {
    return this.tcp.shutdown(pcb, shutRx, shutTx);
  }

  /** tcp_abort: RST, err callback with ERR_ABRT, PCB freed. */
  tcpAbort(pcb: TcpPcb): void {
    this.tcp.abort(pcb);
  }

  /**
   * Offer data the recv callback refused earlier right now (lwIP's internal
   * tcp_process_refused_data, which otherwise runs on the next segment or
   * every 250 ms). Returns ERR_INPROGRESS if it is still refused.
   */
  tcpProcessRefusedData(pcb: TcpPcb): number {
    return this.tcp.processRefused(pcb);
  }

  /**
   * TCP_USER_TIMEOUT (RFC 5482; no lwIP equivalent): abort the connection
   * (ETIMEDOUT, RST) when queued data waits this many ms without the peer
   * acknowledging any; 0 turns it off for this PCB, undefined restores the
   * stack default (TcpConfig.userTimeoutMs).
   */
  tcpUserTimeout(pcb: TcpPcb, ms?: number): void {
    if (ms !== undefined && !(ms >= 0 && Number.isFinite(ms))) throw new RangeError(`user timeout must be a non-negative number of ms, got ${ms}`);
    pcb.userTimeout = ms ?? -1;
    this.tcp.armTimer(pcb);
  }

  /** tcp_sndbuf: bytes tcpWrite can take now. */
  tcpSndbuf(pcb: TcpPcb): number {
    return this.tcp.sendSpace(pcb);
  }

  /** tcp_sndqueuelen: pbuf pieces queued for sending. */
  tcpSndqueuelen(pcb: TcpPcb): number {
    return pcb.sndQueueLen;
  }

  /** tcp_nagle_disable / tcp_nagle_enable / tcp_nagle_disabled. */
  tcpNagleDisable(pcb: TcpPcb): void {
    this.tcp.setNoDelay(pcb, true);
  }
  tcpNagleEnable(pcb: TcpPcb): void {
    this.tcp.setNoDelay(pcb, false);
  }
  tcpNagleDisabled(pcb: TcpPcb): boolean {
    return (pcb.flags & PcbFlag.NODELAY) !== 0;
  }

  /** tcp_backlog_delayed: keep counting an accepted connection against the backlog. */
  tcpBacklogDelayed(pcb: TcpPcb): void {
    backlogDelayed(pcb);
  }

  /** tcp_backlog_accepted: stop counting it. */
  tcpBacklogAccepted(pcb: TcpPcb): void {
    backlogAccepted(pcb);
  }

  /** ip_set_option(pcb, SOF_REUSEADDR) / ip_reset_option. */
  setReuseAddr(pcb: TcpPcb, on: boolean): void {
    if (on) pcb.soOptions |= SockOpt.REUSEADDR;
    else pcb.soOptions &= ~SockOpt.REUSEADDR;
  }

  /** SOF_KEEPALIVE with lwIP's keep_idle / keep_intvl / keep_cnt (ms, ms, count). */
  tcpKeepalive(pcb: TcpPcb, on: boolean, idleMs?: number, intvlMs?: number, cnt?: number): void {
    if (idleMs !== undefined) pcb.keepIdle = idleMs;
    if (intvlMs !== undefined) pcb.keepIntvl = intvlMs;
    if (cnt !== undefined) pcb.keepCnt = cnt;
    this.tcp.setKeepAlive(pcb, on);
  }

  /** The connection's state name (tcp_debug_state_str). */
  tcpStateStr(pcb: TcpPcb): string {
    return TCP_STATE_NAMES[pcb.state]!;
  }

  /** Connection details like `ss -ti`. */
  tcpInfo(pcb: TcpPcb): TcpInfo {
    return pcb.info();
  }

  /** True once the PCB has been freed (after close completes, abort, reset, timeout). */
  isFreed(pcb: TcpPcb): boolean {
    return pcb.freed;
  }

  /** Is the PCB still connected in a state where it can send? */
  canSend(pcb: TcpPcb): boolean {
    return !pcb.freed && (pcb.state === TcpState.ESTABLISHED || pcb.state === TcpState.CLOSE_WAIT);
  }

  /** Run `fn` as soon as the current packet is fully processed (see Stack.defer). */
  defer(fn: () => void): void {
    this.host.defer(fn);
  }
}

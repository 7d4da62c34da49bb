// TCP input (RFC 9293 §3.10.7 "SEGMENT ARRIVES", lwIP tcp_in.c), with
// RFC 5961 (challenge ACKs, RST/SYN/ACK validation), RFC 7323 (PAWS,
// timestamps), RFC 6191 (TIME_WAIT reuse), RFC 1337 (no RST in TIME_WAIT),
// RFC 5681/6582/6675 loss detection on ACKs.
//
// As in lwIP, application callbacks do not run while the segment is being
// taken apart: what happened (connected, accepted, bytes acked, data, FIN,
// reset) is collected and reported once the PCB is consistent, in lwIP's
// order, and output for the PCB waits until then.
import { Err } from '../err.ts';
import type { IpInfo } from '../ip/host.ts';
import { type Pbuf, PbufFlag } from '../pbuf/pbuf.ts';
import { PbufLayer, PbufUse } from '../pbuf/pool.ts';
import { chainOnesSum, foldSum } from '../wire/checksum.ts';
import type { IpAddr } from '../wire/ipaddr.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { parseTcpOptions, TCP_HEADER_LEN, TcpFlag, type TcpOptions } from '../wire/tcp.ts';
import { WireErrorCode } from '../wire/error.ts';
import { callAccept, callConnected, callErr, callRecv, callSent } from './events.ts';
import { delayAck, enqueueSyn, maxPayload, output, restartRto, retransmitSeg, sendAck, sendRst, sendStatelessSynAck, tsNow, windowScaleFor } from './output.ts';
import { COOKIE_MAX_AGE, COOKIE_MSS, cookieMssIndex, cookieOptionsFromTsEcr, type CookieOptions, cookieTsVal } from './syncookie.ts';
import { Deadline } from './deadlines.ts';
import { RecoveryMode, type TcpPcb } from './pcb.ts';
import { applySackBlocks, clearLossMarks, firstBlockIsDsack, markLost, markSegLost, scoreIn, scoreOut } from './sack.ts';
import { rackDelivered, rackDetectLoss, rackOnSpurious, rackOnRecoveryEnd, rackReoWnd } from './rack.ts';
import { tlpArm, tlpOnAck, TlpVerdict } from './tlp.ts';
import { undoBegin, undoByDsack, undoByTimestamp, undoWindow } from './undo.ts';
import { collapseOoseq } from './ooseq-collapse.ts';
import { TcpSeg } from './segment.ts';
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seq.ts';
import { PcbFlag, SockOpt, TcpState } from './state.ts';
import { TableKind } from './table.ts';
import type { Tcp } from './tcp.ts';

/** The segment being processed (one per TCP layer: input is not reentrant). */
export interface InSeg {
  src: IpAddr;
  dst: IpAddr;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** Raw window field. */
  wnd: number;
  dataLen: number;
  /** The data (header removed), or null. Owned by the input path until handed on. */
  p: Pbuf | null;
  opts: TcpOptions;
  /** Its data was dropped on arrival (refused data pending): not a duplicate ACK. */
  dataDropped: boolean;
}

/** What processing one segment produced, reported afterwards (lwIP recv_flags, recv_data, recv_acked). */
export interface InEvents {
  connected: boolean;
  accepted: boolean;
  acked: number;
  recvData: Pbuf | null;
  gotFin: boolean;
  reset: boolean;
  /** LAST_ACK completed: the PCB goes away. */
  closed: boolean;
  toTimeWait: boolean;
}

export function newInSeg(opts: TcpOptions): InSeg {
  return { src: 0, dst: 0, srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, wnd: 0, dataLen: 0, p: null, opts, dataDropped: false };
}

export function newInEvents(): InEvents {
  return { connected: false, accepted: false, acked: 0, recvData: null, gotFin: false, reset: false, closed: false, toTimeWait: false };
}

/** Sequence space the segment occupies (data + SYN + FIN). */
function tcplen(s: InSeg): number {
  return s.dataLen + (s.flags & TcpFlag.SYN ? 1 : 0) + (s.flags & TcpFlag.FIN ? 1 : 0);
}

function dropSeg(tcp: Tcp, s: InSeg): void {
  if (s.p !== null) s.p.free();
  s.p = null;
}

/** IP hands every TCP segment here; takes ownership of `p` (payload at the TCP header). */
export function tcpInput(tcp: Tcp, p: Pbuf, info: IpInfo): void {
  const st = tcp.stats;
  st.recv++;
  tcp.counters.inSegs++;
  if (p.totLen < TCP_HEADER_LEN) return badSeg(tcp, p, 'lenerr');
  if (info.broadcast || info.multicast) return badSeg(tcp, p, 'drop');
  if (p.len < TCP_HEADER_LEN) {
    const q = tcp.pool.coalesce(p, PbufLayer.RAW, PbufUse.RX);
    if (q === null) return badSeg(tcp, p, 'memerr');
    p = q;
  }
  let v = tcp.inView.wrap(p.buf, p.off, p.len);
  const hl = v.headerLen;
  if (hl < TCP_HEADER_LEN || hl > p.totLen) return badSeg(tcp, p, 'lenerr');
  if (hl > p.len) {
    const q = tcp.pool.coalesce(p, PbufLayer.RAW, PbufUse.RX);
    if (q === null) return badSeg(tcp, p, 'memerr');
    p = q;
    v = tcp.inView.wrap(p.buf, p.off, p.len);
  }
  // A device that offloads checksums marks segments whose checksum was never
  // computed (partial) or already verified: neither is checked again.
  if ((p.flags & (PbufFlag.CSUM_PARTIAL | PbufFlag.CSUM_VALID)) === 0 && foldSum(chainOnesSum(p) + tcp.ip.pseudoSum(info.src, info.dst, IpProtocol.TCP, p.totLen)) !== 0xffff) {
    tcp.counters.inErrs++;
    return badSeg(tcp, p, 'chkerr');
  }
  const s = tcp.inSeg;
  if (parseTcpOptions(p.buf, p.off + TCP_HEADER_LEN, hl - TCP_HEADER_LEN, s.opts) !== WireErrorCode.OK) return badSeg(tcp, p, 'opterr');
  s.src = info.src;
  s.dst = info.dst;
  s.srcPort = v.srcPort;
  s.dstPort = v.dstPort;
  s.seq = v.seq;
  s.ack = v.ack;
  s.flags = v.flags & 0x3f;
  s.wnd = v.window;
  s.dataLen = p.totLen - hl;
  s.dataDropped = false;
  if (s.srcPort === 0 || s.dstPort === 0) return badSeg(tcp, p, 'proterr');
  if (s.dataLen > 0) {
    p.removeHeader(hl);
    // Headers in a piece of their own (the simulator's by-reference frames): the data starts at the next piece.
    if (p.len === 0 && p.next !== null) {
      const data = p.dechain()!;
      p.free();
      p = data;
    }
    s.p = p;
  } else {
    p.free();
    s.p = null;
  }

  let pcb = tcp.active.lookup(s.dst, s.dstPort, s.src, s.srcPort);
  if (pcb !== null) return activeInput(tcp, pcb, s);
  pcb = tcp.timeWait.lookup(s.dst, s.dstPort, s.src, s.srcPort);
  if (pcb !== null) return timeWaitInput(tcp, pcb, s);
  const listener = tcp.listeners.lookup(s.dst, s.dstPort);
  if (listener !== null) return listenInput(tcp, listener, s);
  noConnection(tcp, s);
}

function badSeg(tcp: Tcp, p: Pbuf, reason: 'lenerr' | 'chkerr' | 'opterr' | 'memerr' | 'proterr' | 'drop'): void {
  if (reason !== 'drop') tcp.stats[reason]++;
  tcp.stats.drop++;
  p.free();
}

/** RFC 9293 "If the state is CLOSED": everything but a RST is answered with a RST. */
function noConnection(tcp: Tcp, s: InSeg): void {
  tcp.stats.proterr++;
  tcp.stats.drop++;
  if ((s.flags & TcpFlag.RST) === 0) {
    if (s.flags & TcpFlag.ACK) sendRst(tcp, s.dst, s.src, s.dstPort, s.srcPort, s.ack, 0, false);
    else sendRst(tcp, s.dst, s.src, s.dstPort, s.srcPort, 0, seqAdd(s.seq, tcplen(s)), true);
  }
  dropSeg(tcp, s);
}

// ---------------------------------------------------------------------------
// LISTEN
// ---------------------------------------------------------------------------

function listenInput(tcp: Tcp, lpcb: TcpPcb, s: InSeg): void {
  const f = s.flags;
  if (f & TcpFlag.RST) return dropSeg(tcp, s);
  if (f & TcpFlag.ACK) {
    if ((f & TcpFlag.SYN) === 0 && cookieAck(tcp, lpcb, s)) return;
    sendRst(tcp, s.dst, s.src, s.dstPort, s.srcPort, s.ack, 0, false);
    return dropSeg(tcp, s);
  }
  if ((f & TcpFlag.SYN) === 0 || (f & TcpFlag.FIN) !== 0) return dropSeg(tcp, s);
  acceptSyn(tcp, lpcb, s, -1);
}

/**
 * A SYN for `lpcb`: create the SYN_RCVD connection and answer with a
 * SYN-ACK, or, when the listener cannot keep another half-open connection
 * (backlog or SYN queue full, PCB limit), answer with a SYN cookie and keep
 * nothing. Only when even the established connections waiting for accept()
 * fill the backlog is the SYN dropped (Linux does the same). `minIss` (or
 * -1) is a sequence number the new ISS must exceed (a reopened TIME_WAIT
 * connection, RFC 6191; no cookie there: its ISS could not be chosen).
 */
function acceptSyn(tcp: Tcp, lpcb: TcpPcb, s: InSeg, minIss: number): void {
  const cfg = tcp.config;
  if (lpcb.acceptsPending - lpcb.synQueued >= lpcb.backlog) {
    tcp.counters.listenOverflows++;
    tcp.stats.drop++;
    return dropSeg(tcp, s);
  }
  const netif = tcp.ip.route(s.src);
  if (netif === null) {
    tcp.stats.drop++;
    return dropSeg(tcp, s);
  }
  let full = lpcb.acceptsPending >= lpcb.backlog || lpcb.synQueued >= cfg.synBacklog;
  // A new incarnation of a TIME_WAIT connection cannot take a cookie (its
  // ISS must exceed the old one's, RFC 6191): with the SYN queue full (a
  // SYN flood) it displaces the oldest half-open connection instead, or a
  // client reusing its port would be refused until TIME_WAIT ran out.
  if (full && minIss >= 0 && lpcb.synQueued > 0 && tcp.evictHalfOpen(lpcb)) full = lpcb.acceptsPending >= lpcb.backlog || lpcb.synQueued >= cfg.synBacklog;
  const npcb = full ? null : tcp.newPcb();
  if (npcb === null) {
    // A cookie only if its ACK could get a PCB: room in the backlog or SYN
    // queue freed by then, or one to reclaim at the PCB limit.
    if (cfg.synCookies && minIss < 0 && (full || tcp.canReclaim())) return sendCookie(tcp, lpcb, s, tcp.ip.mtuOf(netif, s.src));
    tcp.counters.listenOverflows++;
    tcp.stats.drop++;
    return dropSeg(tcp, s);
  }
  const now = tcp.clock.now();
  let iss = tcp.chooseIss(s.dst, s.dstPort, s.src, s.srcPort, now);
  if (minIss >= 0 && !seqGt(iss, minIss)) iss = seqAdd(minIss, 128_000);
  initPassivePcb(tcp, lpcb, npcb, s, iss, tcp.ip.mtuOf(netif, s.src), netif.gsoMaxSize);
  tcp.enterSynQueue(npcb, lpcb);
  applySynOptions(tcp, npcb, s, true);
  npcb.sndWnd = s.wnd; // never scaled in a SYN
  npcb.sndWndMax = s.wnd;
  npcb.sndWl1 = s.seq;
  npcb.sndWl2 = npcb.iss;
  // Data on a SYN is not taken (no TCP Fast Open): the peer sends it again.
  dropSeg(tcp, s);
  enqueueSyn(npcb);
  output(tcp, npcb);
}

/** Fill a new passive-open PCB for the peer of segment `s` (SYN_RCVD, ISS `iss`) and put it in the tables. */
function initPassivePcb(tcp: Tcp, lpcb: TcpPcb, npcb: TcpPcb, s: InSeg, iss: number, mtu: number, gsoMax: number): void {
  npcb.localIp = s.dst;
  npcb.localPort = s.dstPort;
  npcb.remoteIp = s.src;
  npcb.remotePort = s.srcPort;
  tcp.setState(npcb, TcpState.SYN_RCVD);
  npcb.listener = lpcb;
  npcb.arg = lpcb.arg;
  npcb.soOptions = lpcb.soOptions & (SockOpt.KEEPALIVE | SockOpt.REUSEADDR);
  npcb.flags |= (lpcb.flags & (PcbFlag.NODELAY | PcbFlag.APP_LATE)) | PcbFlag.BACKLOGPEND;
  npcb.keepIdle = lpcb.keepIdle;
  npcb.keepIntvl = lpcb.keepIntvl;
  npcb.keepCnt = lpcb.keepCnt;
  npcb.irs = s.seq;
  npcb.rcvNxt = seqAdd(s.seq, 1);
  npcb.tsLastAckSent = npcb.rcvNxt;
  npcb.iss = iss;
  npcb.tsOffset = tcp.isn.tsOffset(s.dst, s.dstPort, s.src, s.srcPort);
  npcb.flowLabel = tcp.isn.flowLabel(s.dst, s.dstPort, s.src, s.srcPort);
  npcb.sndUna = iss;
  npcb.sndNxt = iss;
  npcb.sndMax = iss;
  npcb.highSacked = iss;
  npcb.recoverySeq = iss;
  npcb.ourMss = tcp.mssFor(mtu, s.src);
  npcb.gsoMax = tcp.gsoRoom(gsoMax, s.src);
  npcb.lastRecvTime = tcp.clock.now();
  lpcb.acceptsPending++;
  tcp.active.add(npcb);
  tcp.ports.add(npcb);
  tcp.counters.passiveOpens++;
}

/** Answer a SYN with a cookie SYN-ACK (syncookie.ts); nothing is kept. */
function sendCookie(tcp: Tcp, lpcb: TcpPcb, s: InSeg, mtu: number): void {
  const cfg = tcp.config;
  const now = tcp.clock.now();
  const o = s.opts;
  const ourMss = tcp.mssFor(mtu, s.src);
  const mss = Math.min(Math.max(o.mss > 0 ? o.mss : tcp.defaultMss(s.src), cfg.minSndMss), ourMss);
  const iss = tcp.cookies.make(s.dst, s.dstPort, s.src, s.srcPort, s.seq, cookieMssIndex(mss), now);
  const out = tcp.outOpts;
  out.mss = ourMss;
  out.wscale = -1;
  out.sackPermitted = false;
  out.hasTimestamp = false;
  if (cfg.timestamps && o.hasTimestamp) {
    // Window scaling and SACK only travel in the timestamp: offered only with it.
    const peer: CookieOptions = { wscale: cfg.windowScaling && o.wscale >= 0 ? o.wscale : -1, sackPermitted: cfg.sack && o.sackPermitted };
    if (peer.wscale >= 0) out.wscale = windowScaleFor(cfg.rcvWnd);
    out.sackPermitted = peer.sackPermitted;
    out.hasTimestamp = true;
    out.tsVal = cookieTsVal((Math.floor(now) + tcp.isn.tsOffset(s.dst, s.dstPort, s.src, s.srcPort)) >>> 0, peer);
    out.tsEcr = o.tsVal;
  }
  sendStatelessSynAck(tcp, s.dst, s.src, s.dstPort, s.srcPort, iss, seqAdd(s.seq, 1), Math.min(cfg.rcvWnd, 0xffff));
  lpcb.lastCookieAt = now;
  tcp.counters.synCookiesSent++;
  dropSeg(tcp, s);
}

/**
 * An ACK to a listener that recently sent cookies: if it carries a valid
 * cookie, the connection is made now (SYN_RCVD, then the ACK completes it
 * through the normal path, data and all). False: not a cookie ACK (the
 * caller answers with a RST).
 */
function cookieAck(tcp: Tcp, lpcb: TcpPcb, s: InSeg): boolean {
  const cfg = tcp.config;
  const now = tcp.clock.now();
  if (!cfg.synCookies || now - lpcb.lastCookieAt > (COOKIE_MAX_AGE + 1) * 64_000) return false;
  const irs = seqAdd(s.seq, -1);
  const iss = seqAdd(s.ack, -1);
  const idx = tcp.resetRecently(s.dst, s.dstPort, s.src, s.srcPort) ? -1 : tcp.cookies.check(s.dst, s.dstPort, s.src, s.srcPort, irs, iss, now);
  if (idx < 0) {
    tcp.counters.synCookiesFailed++;
    return false;
  }
  const netif = tcp.ip.route(s.src);
  const npcb = netif === null || lpcb.acceptsPending - lpcb.synQueued >= lpcb.backlog ? null : tcp.newPcb(true);
  if (npcb === null || netif === null) {
    // No room now: the peer believes it is connected and sends again (Linux drops it too).
    tcp.counters.listenOverflows++;
    tcp.stats.drop++;
    dropSeg(tcp, s);
    return true;
  }
  tcp.counters.synCookiesValidated++;
  // The SYN-ACK went out as the cookie: ISS + 1 is what we have "sent".
  s.seq = irs; // initPassivePcb takes the SYN's sequence number
  initPassivePcb(tcp, lpcb, npcb, s, iss, tcp.ip.mtuOf(netif, s.src), netif.gsoMaxSize);
  s.seq = seqAdd(irs, 1);
  npcb.sndNxt = s.ack;
  npcb.sndMax = s.ack;
  npcb.sndLbb = s.ack;
  npcb.peerMss = COOKIE_MSS[idx]!;
  npcb.mss = Math.min(npcb.peerMss, npcb.ourMss);
  npcb.flags &= ~(PcbFlag.WND_SCALE | PcbFlag.SACK | PcbFlag.TIMESTAMP);
  npcb.sndScale = 0;
  npcb.rcvScale = 0;
  if (cfg.timestamps && s.opts.hasTimestamp) {
    const peer = cookieOptionsFromTsEcr(s.opts.tsEcr);
    npcb.flags |= PcbFlag.TIMESTAMP;
    npcb.tsRecent = s.opts.tsVal;
    if (cfg.windowScaling && peer.wscale >= 0) {
      npcb.flags |= PcbFlag.WND_SCALE;
      npcb.sndScale = peer.wscale;
      npcb.rcvScale = windowScaleFor(npcb.rcvBufSize);
    }
    if (cfg.sack && peer.sackPermitted) npcb.flags |= PcbFlag.SACK;
  }
  if (npcb.rcvScale === 0 && npcb.rcvBufSize > 0xffff) {
    npcb.rcvBufSize = 0xffff;
    npcb.rcvWnd = Math.min(npcb.rcvWnd, 0xffff);
  }
  npcb.sndWl1 = s.seq;
  npcb.sndWl2 = s.ack;
  activeInput(tcp, npcb, s);
  return true;
}

/** Negotiate options from a SYN or SYN-ACK (RFC 9293 MSS, RFC 7323, RFC 2018). */
function applySynOptions(tcp: Tcp, pcb: TcpPcb, s: InSeg, passive: boolean): void {
  const o = s.opts;
  const cfg = tcp.config;
  pcb.peerMss = o.mss > 0 ? o.mss : tcp.defaultMss(pcb.remoteIp);
  // The peer's MSS, floored (Linux tcp_min_snd_mss), never above what our own link carries.
  pcb.mss = Math.min(Math.max(pcb.peerMss, cfg.minSndMss), pcb.ourMss);
  if (cfg.windowScaling && o.wscale >= 0) {
    pcb.flags |= PcbFlag.WND_SCALE;
    pcb.sndScale = o.wscale;
    if (passive) pcb.rcvScale = windowScaleFor(pcb.rcvBufSize);
  } else {
    pcb.flags &= ~PcbFlag.WND_SCALE;
    pcb.sndScale = 0;
    pcb.rcvScale = 0;
  }
  if (cfg.sack && o.sackPermitted) pcb.flags |= PcbFlag.SACK;
  else pcb.flags &= ~PcbFlag.SACK;
  if (cfg.timestamps && o.hasTimestamp) {
    pcb.flags |= PcbFlag.TIMESTAMP;
    pcb.tsRecent = o.tsVal;
  } else {
    pcb.flags &= ~PcbFlag.TIMESTAMP;
  }
  // Without window scaling our window field cannot exceed 64 KiB - 1.
  if (pcb.rcvScale === 0 && pcb.rcvBufSize > 0xffff) {
    pcb.rcvBufSize = 0xffff;
    pcb.rcvWnd = Math.min(pcb.rcvWnd, 0xffff);
  }
}

// ---------------------------------------------------------------------------
// TIME_WAIT
// ---------------------------------------------------------------------------

function timeWaitInput(tcp: Tcp, pcb: TcpPcb, s: InSeg): void {
  const f = s.flags;
  // RFC 1337: a RST must not cut TIME_WAIT short.
  if (f & TcpFlag.RST) return dropSeg(tcp, s);
  if (f & TcpFlag.SYN) {
    // RFC 6191: a SYN from a newer incarnation (higher timestamp, or with no
    // timestamps a higher sequence number) opens a fresh connection.
    // An equal timestamp falls back to the sequence number (RFC 6191 §2).
    const ts = s.opts.hasTimestamp && (pcb.flags & PcbFlag.TIMESTAMP) !== 0;
    const newer = ts && s.opts.tsVal !== pcb.tsRecent ? seqGt(s.opts.tsVal, pcb.tsRecent) : seqGt(s.seq, pcb.rcvNxt);
    const listener = tcp.listeners.lookup(s.dst, s.dstPort);
    if (newer && (f & TcpFlag.ACK) === 0 && listener !== null) {
      if (listener.acceptsPending - listener.synQueued >= listener.backlog) {
        // Connections waiting for accept() fill the backlog: drop the SYN,
        // keep TIME_WAIT's protection. (Half-open ones do not count: a full
        // SYN queue, a SYN flood, makes room below instead.)
        tcp.counters.listenOverflows++;
        tcp.stats.drop++;
        return dropSeg(tcp, s);
      }
      const minIss = pcb.sndMax;
      tcp.counters.timeWaitReuse++;
      tcp.freePcb(pcb);
      acceptSyn(tcp, listener, s, minIss);
      return;
    }
    if (tcp.invalidAckAllowed(pcb, 0, true)) sendAck(tcp, pcb);
    return dropSeg(tcp, s);
  }
  if (f & TcpFlag.FIN) {
    // The peer did not get our last ACK: ACK again and restart 2*MSL.
    if (seqLeq(seqAdd(s.seq, s.dataLen), pcb.rcvNxt)) tcp.restartTimeWait(pcb);
    sendAck(tcp, pcb);
  } else if (s.dataLen > 0 && tcp.invalidAckAllowed(pcb, 0, false)) {
    // (Rate-limited like Linux's TIME_WAIT: nothing here is new data.)
    sendAck(tcp, pcb);
  }
  dropSeg(tcp, s);
}


// ---------------------------------------------------------------------------
// Connections (SYN_SENT and the synchronized states)
// ---------------------------------------------------------------------------

function activeInput(tcp: Tcp, pcb: TcpPcb, s: InSeg): void {
  const now = tcp.clock.now();
  const c = pcb.counters;
  c.segsIn++;
  if (s.dataLen > 0) c.dataSegsIn++;
  pcb.lastRecvTime = now;
  const ev = tcp.ev;
  ev.connected = false;
  ev.accepted = false;
  ev.acked = 0;
  ev.recvData = null;
  ev.gotFin = false;
  ev.reset = false;
  ev.closed = false;
  ev.toTimeWait = false;
  tcp.inputPcb = pcb;

  // Data (or a FIN) the application refused earlier goes first (lwIP tcp_input).
  if (hasRefused(pcb)) {
    const r = offerRefused(tcp, pcb);
    if (r === Err.ABRT || pcb.freed) {
      tcp.inputPcb = null;
      return dropSeg(tcp, s);
    }
    if (pcb.refusedData !== null && s.flags & TcpFlag.SYN) {
      if (pcb.rcvAnnWnd === 0) sendAck(tcp, pcb);
      tcp.stats.drop++;
      dropSeg(tcp, s);
      return finishInput(tcp, pcb);
    }
    if (pcb.refusedData !== null && s.dataLen > 0 && !tcp.mayQueueRefused(pcb, s.dataLen)) {
      // Still refused and this segment brings more data (and QUEUE_REFUSED
      // is off, or its budget spent): its data (and a FIN behind it) is
      // dropped, the peer resends (lwIP). A bare FIN goes
      // on: it is latched behind the refused data. Unlike lwIP, the ACK and
      // window it carries still count: a peer sending and never reading
      // would otherwise never tell us its window closed, and we would send
      // into it until both ends stall.
      if (pcb.rcvAnnWnd === 0) sendAck(tcp, pcb);
      tcp.stats.drop++;
      if (s.p !== null) s.p.free();
      s.p = null;
      s.dataLen = 0;
      s.flags &= ~(TcpFlag.FIN | TcpFlag.PSH);
      s.dataDropped = true;
    }
  }

  if (pcb.state === TcpState.SYN_SENT) synSent(tcp, pcb, s, now);
  else synchronized(tcp, pcb, s, now);
  dropSeg(tcp, s); // whatever was not handed on
  dispatch(tcp, pcb);
}

function synSent(tcp: Tcp, pcb: TcpPcb, s: InSeg, now: number): void {
  const f = s.flags;
  if (f & TcpFlag.ACK) {
    // Acceptable only if it acknowledges our SYN: ISS < SEG.ACK <= SND.NXT.
    if (!seqGt(s.ack, pcb.iss) || seqGt(s.ack, pcb.sndMax)) {
      if ((f & TcpFlag.RST) === 0) sendRst(tcp, s.dst, s.src, s.dstPort, s.srcPort, s.ack, 0, false);
      return;
    }
  }
  if (f & TcpFlag.RST) {
    if (f & TcpFlag.ACK) {
      tcp.counters.attemptFails++;
      tcp.ev.reset = true; // connection refused
    }
    return;
  }
  if ((f & TcpFlag.SYN) === 0) return;
  pcb.irs = s.seq;
  pcb.rcvNxt = seqAdd(s.seq, 1);
  pcb.tsLastAckSent = pcb.rcvNxt;
  pcb.rcvAnnRightEdge = pcb.rcvNxt;
  applySynOptions(tcp, pcb, s, false);
  pcb.sndWnd = s.wnd;
  pcb.sndWndMax = s.wnd;
  pcb.sndWl1 = s.seq;
  pcb.sndWl2 = s.ack;
  if (f & TcpFlag.ACK) {
    ackSyn(tcp, pcb, s, now);
    tcp.setState(pcb, TcpState.ESTABLISHED);
    tcp.scheduleKeepalive(pcb, now);
    tcp.ev.connected = true;
    pcb.flags |= PcbFlag.ACK_NOW;
    // Anything after the SYN (rare) is handled as in ESTABLISHED.
    s.seq = seqAdd(s.seq, 1);
    s.flags &= ~TcpFlag.SYN;
    if (s.dataLen > 0 || s.flags & TcpFlag.FIN) receive(tcp, pcb, s, now);
  } else {
    // Simultaneous open (RFC 9293 §3.5 figure 7): answer with SYN-ACK.
    tcp.setState(pcb, TcpState.SYN_RCVD);
    const syn = pcb.unacked.head;
    if (syn !== null) retransmitSeg(tcp, pcb, syn, now);
  }
}

/**
 * Our SYN is acknowledged: take it off the queue, time the RTT (Karn), set
 * the initial window (one segment if the SYN had to be retransmitted,
 * RFC 5681 §3.1).
 */
function ackSyn(tcp: Tcp, pcb: TcpPcb, s: InSeg, now: number): void {
  const syn = pcb.unacked.head;
  let synLost = false;
  if (syn !== null && syn.flags & TcpFlag.SYN) {
    // Lost means timed out (RFC 5681 §3.1, RFC 6298 §5.7): a SYN-ACK sent
    // again to answer a duplicated SYN says nothing about loss.
    synLost = pcb.nrtx > 0;
    if (!syn.everRetransmitted) {
      const rtt = now - syn.sentAt;
      pcb.rtt.sample(rtt);
      pcb.minRtt = Math.max(rtt, 0.001);
    }
    else if (s.opts.hasTimestamp && pcb.flags & PcbFlag.TIMESTAMP && s.opts.tsEcr !== 0) sampleTs(pcb, s, now);
    scoreOut(pcb, syn);
    pcb.unacked.remove(syn);
    syn.free();
  }
  pcb.sndUna = s.ack;
  if (seqLt(pcb.sndNxt, s.ack)) pcb.sndNxt = s.ack;
  pcb.highSacked = s.ack;
  pcb.recoverySeq = s.ack;
  pcb.nrtx = 0;
  pcb.rtt.resetBackoff();
  restartRto(pcb, now);
    pcb.recovery = RecoveryMode.NONE;
  pcb.sackedBytes = 0;
  pcb.lostBytes = 0;
  pcb.retransInFlight = 0;
  pcb.ccInit();
  if (synLost) {
    pcb.cwnd = Math.min(pcb.cwnd, pcb.mss);
    // RFC 6298 §5.7: after a SYN timeout with an initial RTO below 3 s, data starts with a 3 s RTO.
    if (tcp.config.initialRtoMs < 3000) pcb.rtt.fallback(3000);
  }
}

function sampleTs(pcb: TcpPcb, s: InSeg, now: number): void {
  const rtt = seqDiff(tsNow(pcb, now), s.opts.tsEcr);
  if (rtt >= 0) {
    pcb.rtt.sample(rtt);
    pcb.cc.onRttSample?.(pcb, rtt);
    if (pcb.minRtt === 0 || rtt < pcb.minRtt) pcb.minRtt = Math.max(rtt, 0.001);
  }
}

/**
 * RCV.WND for the acceptability test and trimming: the window we announced
 * (its right edge never moves left), or more if more space has opened
 * since. Free buffer space can be smaller than what was announced (data
 * arrived since, window-scale rounding): data the peer was allowed to send
 * is still taken (Linux tcp_receive_window), else a peer with our ACK in
 * hand but its data refused sees a shrunk window and, behind it, our ACKs
 * are dropped by it as out of window -- both ends stall until timeouts.
 */
function rcvWindow(pcb: TcpPcb): number {
  const announced = seqDiff(pcb.rcvAnnRightEdge, pcb.rcvNxt);
  return announced > pcb.rcvWnd ? announced : pcb.rcvWnd;
}

/** Is the segment acceptable (RFC 9293 §3.10.7.4 table)? */
function acceptable(pcb: TcpPcb, seq: number, len: number): boolean {
  const wnd = rcvWindow(pcb);
  const nxt = pcb.rcvNxt;
  if (len === 0) return wnd === 0 ? seq === nxt : seqGeq(seq, nxt) && seqDiff(seq, nxt) < wnd;
  if (wnd === 0) return false;
  const last = seqAdd(seq, len - 1);
  return (seqGeq(seq, nxt) && seqDiff(seq, nxt) < wnd) || (seqGeq(last, nxt) && seqDiff(last, nxt) < wnd);
}

/**
 * A duplicate ACK that reordering put behind a later one (Linux
 * tcp_disordered_ack): a pure ACK at RCV.NXT that acknowledges nothing new
 * (SEG.ACK = SND.UNA), would not update the window, and whose timestamp is
 * older than TS.Recent by at most an RTO. PAWS would drop it as an old
 * duplicate, yet on a path that reorders ACKs its SACK blocks are news
 * (dropping them delays loss recovery). It is processed; TS.Recent stays.
 */
function disorderedAck(pcb: TcpPcb, s: InSeg): boolean {
  if ((s.flags & (TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST | TcpFlag.ACK)) !== TcpFlag.ACK || s.dataLen !== 0) return false;
  if (s.seq !== pcb.rcvNxt || s.ack !== pcb.sndUna) return false;
  // Would not update the window (the SND.WL1 rule).
  if (seqGt(s.seq, pcb.sndWl1) || (s.seq === pcb.sndWl1 && s.wnd << pcb.sndScale > pcb.sndWnd)) return false;
  return seqDiff(pcb.tsRecent, s.opts.tsVal) <= pcb.rtt.currentRto();
}

function synchronized(tcp: Tcp, pcb: TcpPcb, s: InSeg, now: number): void {
  const f = s.flags;
  const ev = tcp.ev;

  // SYN in a synchronized state (RFC 5961 §4): a retransmitted SYN in
  // SYN_RCVD gets our SYN-ACK again; anything else a challenge ACK.
  if (f & TcpFlag.SYN) {
    if (pcb.state === TcpState.SYN_RCVD && pcb.listener === null && s.seq === pcb.irs && (f & (TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.ACK && seqGt(s.ack, pcb.sndUna) && seqLeq(s.ack, pcb.sndMax)) {
      // Simultaneous open (RFC 9293 §3.5 figure 7): the peer's SYN-ACK
      // acknowledges our SYN and repeats its SYN, which we already took.
      // Process it as the ACK it carries (Linux does the same).
      s.seq = seqAdd(s.seq, 1);
      s.flags &= ~TcpFlag.SYN;
    } else {
      if (pcb.state === TcpState.SYN_RCVD && s.seq === pcb.irs && (f & TcpFlag.ACK) === 0) {
        // The peer's SYN again: it may not have our SYN-ACK, so it goes
        // again (lwIP, Linux). Not within minRtoMs of the last one: no
        // peer resends a SYN that soon (its first RTO is a second), so that
        // is a copy the network made, and our own timer covers a loss.
        const syn = pcb.unacked.head ?? pcb.unsent.head;
        if (syn !== null && syn.flags & TcpFlag.SYN) {
          // (One never sent, still in unsent, goes at once.)
          if (syn === pcb.unacked.head && now - syn.sentAt < tcp.config.minRtoMs) tcp.counters.dupSynsIgnored++;
          else retransmitSeg(tcp, pcb, syn, now);
        }
        return;
      }
      if ((f & TcpFlag.RST) === 0 && tcp.challengeAllowed(pcb)) sendAck(tcp, pcb);
      return;
    }
  }

  // PAWS (RFC 7323 §5): an older timestamp marks an old duplicate, unless
  // it is a duplicate ACK that reordering put behind a later one.
  const o = s.opts;
  const tsOld = (pcb.flags & PcbFlag.TIMESTAMP) !== 0 && o.hasTimestamp && (f & TcpFlag.RST) === 0 && seqLt(o.tsVal, pcb.tsRecent);
  if (tsOld && disorderedAck(pcb, s)) {
    tcp.counters.pawsDisorderedAcks++;
  } else if (tsOld) {
    tcp.counters.pawsDrops++;
    if (tcp.invalidAckAllowed(pcb, s.dataLen + (f & TcpFlag.FIN ? 1 : 0), false)) {
      pcb.flags |= PcbFlag.ACK_NOW;
      noteOldDuplicate(tcp, pcb, s.seq, tcplen(s));
    }
    return;
  }

  // RFC 7323 §4.3 / Appendix D (R3): a segment at or below Last.ACK.sent
  // gives TS.Recent its TSval, but only once the segment has proved
  // acceptable (in the window, with an acceptable ACK): a spoofed
  // below-window segment with a huge TSval would otherwise make every real
  // segment fail PAWS (Linux, too, updates only after tcp_ack accepted it).
  const updateTs = !tsOld && (pcb.flags & PcbFlag.TIMESTAMP) !== 0 && o.hasTimestamp && (f & TcpFlag.RST) === 0 && seqLeq(s.seq, pcb.tsLastAckSent);
  const tsVal = o.tsVal;

  // Sequence number check.
  const len = tcplen(s);
  if (!acceptable(pcb, s.seq, len)) {
    if (f & TcpFlag.RST) return;
    // With a zero window an in-sequence segment still carries a usable ACK:
    // process that and drop the data (RFC 9293: "special allowance").
    if (!(pcb.rcvWnd === 0 && s.seq === pcb.rcvNxt && f & TcpFlag.ACK)) {
      // Only an ACK the rate limit allows may carry a D-SACK: that limit
      // spares segments with data or FIN (a duplicate's answer is no loop)
      // and holds bare ones (LAND, ACK storms).
      if (tcp.invalidAckAllowed(pcb, s.dataLen + (f & TcpFlag.FIN ? 1 : 0), (f & TcpFlag.SYN) !== 0)) {
        pcb.flags |= PcbFlag.ACK_NOW;
        noteOldDuplicate(tcp, pcb, s.seq, len);
      }
      return;
    }
    pcb.flags |= PcbFlag.ACK_NOW;
    if (s.p !== null) s.p.free();
    s.p = null;
    s.dataLen = 0;
    s.flags &= ~TcpFlag.FIN;
  }

  // RST (RFC 5961 §3): exact match resets, in-window draws a challenge ACK.
  if (f & TcpFlag.RST) {
    if (s.seq === pcb.rcvNxt) {
      resetConnection(tcp, pcb);
    } else if (tcp.challengeAllowed(pcb)) {
      sendAck(tcp, pcb);
    }
    return;
  }

  const segSeq = s.seq; // before trimming, for the D-SACK
  trimToWindow(pcb, s);

  if ((s.flags & TcpFlag.ACK) === 0) return;

  if (pcb.state === TcpState.SYN_RCVD) {
    if (!(seqGt(s.ack, pcb.sndUna) && seqLeq(s.ack, pcb.sndMax))) {
      sendRst(tcp, s.dst, s.src, s.dstPort, s.srcPort, s.ack, 0, false);
      return;
    }
    tcp.setState(pcb, TcpState.ESTABLISHED);
    tcp.leaveSynQueue(pcb);
    ackSyn(tcp, pcb, s, now);
    tcp.scheduleKeepalive(pcb, now);
    pcb.sndWnd = s.wnd << pcb.sndScale;
    if (pcb.sndWnd > pcb.sndWndMax) pcb.sndWndMax = pcb.sndWnd;
    pcb.sndWl1 = s.seq;
    pcb.sndWl2 = s.ack;
    if (pcb.listener !== null) ev.accepted = true;
    else ev.connected = true; // simultaneous open completes
  }

  if (!processAck(tcp, pcb, s, now)) return;
  if (updateTs) pcb.tsRecent = tsVal;
  // A front below RCV.NXT (trimmed off above) arrived before: D-SACK it.
  noteOldDuplicate(tcp, pcb, segSeq, len);

  // Our FIN acknowledged?
  const finAcked = (pcb.flags & PcbFlag.FIN_QUEUED) !== 0 && pcb.unsent.empty && pcb.unacked.empty && pcb.sndUna === pcb.sndLbb;
  switch (pcb.state) {
    case TcpState.FIN_WAIT_1:
      if (finAcked) {
        tcp.setState(pcb, TcpState.FIN_WAIT_2);
        if (pcb.flags & PcbFlag.RXCLOSED) pcb.deadlines.arm(Deadline.FIN_WAIT_2, now + tcp.config.finWait2TimeoutMs);
      }
      break;
    case TcpState.CLOSING:
      if (finAcked) ev.toTimeWait = true;
      return;
    case TcpState.LAST_ACK:
      if (finAcked) ev.closed = true;
      return;
  }

  if (s.dataLen > 0 || s.flags & TcpFlag.FIN) {
    if (pcb.state === TcpState.ESTABLISHED || pcb.state === TcpState.FIN_WAIT_1 || pcb.state === TcpState.FIN_WAIT_2) receive(tcp, pcb, s, now);
  }
}

/** Cut what lies before RCV.NXT or beyond the window (RFC 9293 §3.10.7.4). */
function trimToWindow(pcb: TcpPcb, s: InSeg): void {
  if (seqLt(s.seq, pcb.rcvNxt)) {
    let off = seqDiff(pcb.rcvNxt, s.seq);
    if (s.flags & TcpFlag.SYN) {
      s.flags &= ~TcpFlag.SYN;
      off--;
    }
    if (off >= s.dataLen) {
      // All data is old; a FIN survives only if it is exactly at RCV.NXT.
      if (off > s.dataLen) s.flags &= ~TcpFlag.FIN;
      if (s.p !== null) s.p.free();
      s.p = null;
      s.dataLen = 0;
    } else if (off > 0) {
      s.p = s.p!.freeHeader(off);
      s.dataLen -= off;
    }
    s.seq = pcb.rcvNxt;
  }
  const room = seqDiff(seqAdd(pcb.rcvNxt, rcvWindow(pcb)), s.seq);
  if (s.dataLen > room) {
    s.flags &= ~TcpFlag.FIN;
    if (room <= 0) {
      if (s.p !== null) s.p.free();
      s.p = null;
      s.dataLen = 0;
    } else {
      s.p!.realloc(room);
      s.dataLen = room;
    }
  } else if (s.flags & TcpFlag.FIN && s.dataLen === room && room < 0) {
    s.flags &= ~TcpFlag.FIN;
  }
}

function resetConnection(tcp: Tcp, pcb: TcpPcb): void {
  switch (pcb.state) {
    case TcpState.SYN_RCVD:
      tcp.counters.attemptFails++;
      if (pcb.listener !== null) {
        // Passive open: back to LISTEN, i.e. this half-open PCB just goes away.
        tcp.freePcb(pcb);
        return;
      }
      break;
    case TcpState.ESTABLISHED:
    case TcpState.CLOSE_WAIT:
      tcp.counters.estabResets++;
      break;
  }
  tcp.ev.reset = true;
}

/**
 * The ACK field (RFC 9293 §3.10.7.4 fifth check, RFC 5961 §5). Returns
 * false when the segment must be dropped.
 */
function processAck(tcp: Tcp, pcb: TcpPcb, s: InSeg, now: number): boolean {
  const ack = s.ack;
  if (seqGt(ack, pcb.sndMax)) {
    // Acknowledges something never sent: ACK (rate-limited) and drop.
    if (tcp.invalidAckAllowed(pcb, s.dataLen + (s.flags & TcpFlag.FIN ? 1 : 0), false)) pcb.flags |= PcbFlag.ACK_NOW;
    return false;
  }
  if (seqLt(ack, seqAdd(pcb.sndUna, -Math.max(pcb.sndWndMax, 1)))) {
    // Too old to be valid (RFC 5961 §5.2): challenge ACK.
    if (tcp.challengeAllowed(pcb)) sendAck(tcp, pcb);
    return false;
  }
  const newWnd = s.wnd << pcb.sndScale;
  const wndChanged = newWnd !== pcb.sndWnd;
  let sackNews = false;
  const sackOn = (pcb.flags & PcbFlag.SACK) !== 0;
  const rackOn = sackOn && tcp.config.rack;
  const tsEcr = pcb.flags & PcbFlag.TIMESTAMP && s.opts.hasTimestamp ? s.opts.tsEcr : -1;
  // Only with data in flight can anything be delivered (and RACK's state exist).
  const tracking = rackOn && !pcb.unacked.empty;
  const reorder0 = tracking && pcb.rack.reorderingSeen;
  const sacked0 = pcb.sackedBytes;
  if (tracking) pcb.rack.priorFack = pcb.rack.fack;
  pcb.ackedOriginal = false;
  let dsackProbe = false;
  if (sackOn && s.opts.sackCount > 0) {
    const blocks = s.opts.sackBlocks;
    // A D-SACK reports data received twice, not data held beyond a hole:
    // it must not mark anything SACKed (the cumulative ACK is applied after).
    const dsack = firstBlockIsDsack(blocks, s.opts.sackCount, ack);
    if (dsack) dsackProbe = onDsack(tcp, pcb, blocks[0]!, blocks[1]!);
    if (!pcb.unacked.empty) sackNews = applySackBlocks(pcb, blocks, dsack ? 1 : 0, s.opts.sackCount, rackOn, now, tsEcr);
  }
  // With RACK, bytes the peer newly reports holding by SACK are delivered
  // and clock the window's growth as cumulatively acknowledged bytes do
  // (Linux counts acked + SACKed), so reordering does not hold slow start
  // back. RFC 6675 mode (rack off) keeps RFC 5681's cumulative count.
  const newlySacked = sackNews && rackOn ? Math.max(0, pcb.sackedBytes - sacked0) : 0;
  const una0 = pcb.sndUna;
  if (seqGt(ack, pcb.sndUna)) newAck(tcp, pcb, s, now, rackOn, tsEcr, newlySacked);
  else if (ack === pcb.sndUna) {
    dupAck(tcp, pcb, s, wndChanged, sackNews, now);
    if (newlySacked > 0 && pcb.recovery === RecoveryMode.NONE) pcb.cc.onAck(pcb, newlySacked, pcb.cwndLimited);
  }
  if (pcb.freed) return false;
  if (pcb.frto !== 0 && (pcb.sndUna !== una0 || sackNews)) frtoStep(tcp, pcb, pcb.sndUna !== una0, sackNews);
  if (pcb.tlpActive) {
    const verdict = tlpOnAck(pcb, ack, dsackProbe, pcb.sndUna !== una0 || sackNews || s.dataLen > 0);
    if (verdict === TlpVerdict.LOSS) tlpRepairedLoss(tcp, pcb);
  }
  if (rackOn) rackStep(tcp, pcb, now);
  if (tracking && !reorder0 && pcb.rack.reorderingSeen) tcp.counters.sackReorder++;
  // Window update (SND.WL1/WL2 rule) for ACKs at or above SND.UNA. An
  // out-of-order segment counts as if at RCV.NXT: were SND.WL1 set to its
  // sequence number, the retransmissions that fill the hole below it --
  // which carry the newer windows -- could never update the window again
  // (the window stuck open while the peer's closed: we sent into it).
  const wlSeq = seqGt(s.seq, pcb.rcvNxt) ? pcb.rcvNxt : s.seq;
  if (seqGeq(ack, pcb.sndUna) && (seqLt(pcb.sndWl1, wlSeq) || (pcb.sndWl1 === wlSeq && seqLeq(pcb.sndWl2, ack)))) {
    pcb.sndWnd = newWnd;
    if (newWnd > pcb.sndWndMax) pcb.sndWndMax = newWnd;
    pcb.sndWl1 = wlSeq;
    pcb.sndWl2 = ack;
    if (newWnd > 0) {
      pcb.persistBackoff = 0;
    }
  }
  // Any acceptable ACK shows the peer is alive: zero-window probes are answered.
  pcb.persistProbes = 0;
  return true;
}

/** New data acknowledged: free it, sample the RTT, grow the window or advance recovery. */
function newAck(tcp: Tcp, pcb: TcpPcb, s: InSeg, now: number, rackOn: boolean, tsEcr: number, newlySacked: number): void {
  const ack = s.ack;
  // Eifel (RFC 3522): an echo from before our first retransmission shows the
  // peer answered an original: the episode's retransmissions were spurious.
  if (pcb.recovery !== RecoveryMode.NONE && tsEcr >= 0 && tcp.config.undo && undoByTimestamp(pcb, tsEcr)) undoEpisode(tcp, pcb, false);
  // RTT (RFC 6298, Karn's rule applied to the whole ACK as Linux does): the
  // oldest newly acknowledged segment times it, unless the ACK covers any
  // retransmitted data (its timing then reflects the retransmission) or the
  // segment was SACKed earlier. Otherwise the echoed timestamp is used.
  let sentAt = -1;
  let retransAcked = false;
  /** When the newest retransmission among the acknowledged segments left. */
  let lastRexmitAt = -1;
  let dataAcked = 0;
  /** Of those, bytes not SACKed before (SACKed ones already counted as delivered). */
  let freshAcked = 0;
  for (let seg = pcb.unacked.head; seg !== null; seg = pcb.unacked.head) {
    if (!seqLt(seg.seq, ack)) break;
    if (seg.everRetransmitted) {
      retransAcked = true;
      if (seg.sentAt > lastRexmitAt) lastRexmitAt = seg.sentAt;
    } else if (sentAt < 0 && !seg.sacked) sentAt = seg.sentAt;
    if (seqLeq(seg.end, ack)) {
      if (!seg.sacked) {
        if (rackOn) rackDelivered(pcb, seg, now, tsEcr);
        freshAcked += seg.len;
        if (!seg.everRetransmitted && seqLeq(seg.end, pcb.recoverySeq)) pcb.ackedOriginal = true;
      }
      scoreOut(pcb, seg);
      pcb.unacked.remove(seg);
      dataAcked += seg.len;
      pcb.sndQueueLen -= seg.clen;
      seg.free();
      continue;
    }
    if (seqLt(seg.seq, ack)) {
      const n = trimAcked(pcb, seg, seqDiff(ack, seg.seq));
      dataAcked += n;
      freshAcked += n;
    }
    break;
  }
  if (sentAt >= 0 && !retransAcked) {
    const rtt = now - sentAt;
    pcb.rtt.sample(rtt);
    pcb.cc.onRttSample?.(pcb, rtt);
    if (pcb.minRtt === 0 || rtt < pcb.minRtt) pcb.minRtt = Math.max(rtt, 0.001);
  } else if (pcb.flags & PcbFlag.TIMESTAMP && s.opts.hasTimestamp && s.opts.tsEcr !== 0 && (lastRexmitAt < 0 || seqGeq(s.opts.tsEcr, tsNow(pcb, lastRexmitAt)))) {
    // For retransmitted data the echo settles Karn's ambiguity only when it
    // is the newest copy's TSval: an older echo means the peer's TS.Recent
    // came from an earlier copy (its ACK lost, RFC 7323 R3 keeps duplicates
    // from refreshing it), and its age would count our retransmission
    // timeouts into the RTT.
    sampleTs(pcb, s, now);
  }
  pcb.sndUna = ack;
  pcb.progressAt = now;
  if (seqLt(pcb.sndNxt, ack)) pcb.sndNxt = ack;
  if (seqLt(pcb.highSacked, ack)) pcb.highSacked = ack;
  pcb.sndBuf += dataAcked;
  pcb.counters.bytesAcked += dataAcked;
  tcp.ev.acked += dataAcked;
  pcb.nrtx = 0;
  pcb.rtt.resetBackoff();

  const mss = pcb.mss;
  switch (pcb.recovery) {
    case RecoveryMode.NONE:
      pcb.cc.onAck(pcb, freshAcked + newlySacked, pcb.cwndLimited);
      break;
    case RecoveryMode.RTO:
      if (seqGeq(ack, pcb.recoverySeq)) endRecovery(pcb);
      pcb.cc.onAck(pcb, dataAcked, true); // slow start again after the timeout
      break;
    case RecoveryMode.NEWRENO:
      if (seqGeq(ack, pcb.recoverySeq)) {
        endRecovery(pcb);
        pcb.cc.onExitRecovery(pcb);
        // RFC 6582 §3.2 step 3: no burst on exit.
        pcb.cwnd = Math.min(pcb.cwnd, Math.max(pcb.inFlight, mss) + mss);
      } else {
        // Partial ACK: retransmit the next hole, deflate by what was acked.
        pcb.cwnd = Math.max(pcb.cwnd - dataAcked + (dataAcked >= mss ? mss : 0), mss);
        const head = pcb.unacked.head;
        if (head !== null) {
          markSegLost(pcb, head);
          retransmitSeg(tcp, pcb, head, now);
        }
      }
      break;
    case RecoveryMode.SACK:
      if (seqGeq(ack, pcb.recoverySeq)) {
        endRecovery(pcb);
        pcb.cc.onExitRecovery(pcb);
        // No line-rate burst on exit either (RFC 6582 §3.2 step 3 option 1,
        // as FreeBSD applies it after SACK recovery too): the full ACK may
        // free a whole window of SACKed data at once.
        pcb.cwnd = Math.min(pcb.cwnd, Math.max(pcb.inFlight, mss) + mss);
      } else if (!rackOn) {
        markLost(pcb, tcp.config.dupThresh);
        // A partial ACK shows the first un-SACKed hole is lost too (as
        // NewReno, RFC 6582 §3.2 step 5) -- unless it was already
        // retransmitted in this episode: RFC 6675 NextSeg() rule 1 only
        // picks holes "not yet retransmitted", and a second copy would be
        // spurious (only the RTO may resend a retransmission).
        // (With RACK, time decides instead: rackStep after this ACK.)
        const head = pcb.unacked.head;
        if (head !== null && !head.sacked && !head.lost) markSegLost(pcb, head);
      }
      break;
  }
  pcb.dupAcks = 0;
  pcb.limitedTxBytes = 0;
  restartRto(pcb, now);
  if (tcp.config.tlp) tlpArm(pcb, now);
}

/** Drop the acknowledged front of a partly acknowledged segment; returns the data bytes dropped. */
function trimAcked(pcb: TcpPcb, seg: TcpSeg, k: number): number {
  scoreOut(pcb, seg);
  if (seg.flags & TcpFlag.SYN) {
    seg.flags &= ~TcpFlag.SYN;
    seg.seq = seqAdd(seg.seq, 1);
    k--;
  }
  const n = Math.min(k, seg.len);
  if (n > 0 && seg.p !== null) {
    const before = seg.p.clen();
    seg.p = seg.p.freeHeader(n);
    pcb.sndQueueLen -= before - (seg.p === null ? 0 : seg.p.clen());
  }
  seg.seq = seqAdd(seg.seq, n);
  seg.len -= n;
  seg.dataSum = -1;
  pcb.unacked.bytes -= n;
  scoreIn(pcb, seg);
  return n;
}

function endRecovery(pcb: TcpPcb): void {
  pcb.recovery = RecoveryMode.NONE;
  clearLossMarks(pcb);
  rackOnRecoveryEnd(pcb);
  // D-SACKs for the episode's last retransmissions come about one RTT
  // later: they may still undo it until SND.UNA passes what is in flight now.
  pcb.undo.until = pcb.sndNxt;
}

/**
 * The episode's retransmissions were all spurious (Eifel or D-SACK): put
 * the window back and end the recovery; whatever is still marked lost was
 * not (RFC 3522, RFC 3708).
 */
function undoEpisode(tcp: Tcp, pcb: TcpPcb, byDsack: boolean): void {
  const wasRto = pcb.recovery === RecoveryMode.RTO || pcb.undo.fromRto;
  if (pcb.recovery !== RecoveryMode.NONE) endRecovery(pcb);
  undoWindow(pcb);
  if (tcp.config.rack && pcb.flags & PcbFlag.SACK) rackOnSpurious(pcb, true);
  pcb.rtt.resetBackoff();
  pcb.counters.undos++;
  if (byDsack) tcp.counters.dsackUndo++;
  else if (wasRto) tcp.counters.lossUndo++;
  else tcp.counters.fullUndo++;
}

/**
 * A D-SACK for [left, right) (RFC 2883): count it, widen RACK's reordering
 * window, and undo the episode if it proves the last retransmissions
 * spurious. Returns true if it reports the outstanding tail loss probe.
 */
function onDsack(tcp: Tcp, pcb: TcpPcb, left: number, right: number): boolean {
  pcb.counters.dsacksIn++;
  tcp.counters.dsackRecv++;
  if (tcp.config.rack) rackOnSpurious(pcb);
  const t = pcb.tlp;
  const probe = pcb.tlpActive && t.isRetrans && seqGeq(left, t.probeSeq) && seqLeq(right, t.endSeq);
  const u = pcb.undo;
  const open = pcb.recovery !== RecoveryMode.NONE || seqLeq(pcb.sndUna, u.until);
  if (tcp.config.undo && open && undoByDsack(pcb, left, right)) undoEpisode(tcp, pcb, true);
  return probe;
}

/**
 * F-RTO (RFC 5682 §3, the SACK-enhanced variant, as Linux runs it) after
 * an ACK that advanced SND.UNA or SACKed new data during timeout recovery.
 */
function frtoStep(tcp: Tcp, pcb: TcpPcb, advanced: boolean, sackNews: boolean): void {
  if (pcb.ackedOriginal) {
    // Step 3b: data sent before the timeout and never retransmitted
    // arrived (perhaps with an ACK that ended the recovery): not everything
    // was lost, the timeout was spurious.
    pcb.frto = 0;
    if (pcb.undo.active && pcb.undo.fromRto) undoEpisode(tcp, pcb, false);
    return;
  }
  if (pcb.recovery !== RecoveryMode.RTO) {
    pcb.frto = 0; // recovered, or undone by timestamps already
    return;
  }
  if (pcb.frto === 2) {
    // Step 3a: the new data drew SACKs or duplicate ACKs: the loss was real.
    if (sackNews || !advanced) pcb.frto = 0;
    return;
  }
  // Step 2: the first ACK after the timeout advanced. If new data can go,
  // send it instead of retransmitting (output skips the retransmissions);
  // otherwise fall back to the conventional go-back-N.
  const next = pcb.unsent.head;
  pcb.frto = advanced && next !== null && seqDiff(seqAdd(pcb.sndUna, pcb.sndWnd), next.seq) > 0 ? 2 : 0;
}

/** The probe filled a hole nobody reported (RFC 8985 §7.4): respond as to one loss. */
function tlpRepairedLoss(tcp: Tcp, pcb: TcpPcb): void {
  tcp.counters.lossProbeRecovery++;
  pcb.cc.onEnterRecovery(pcb);
  pcb.cc.onExitRecovery(pcb);
}

/** RACK after an ACK (RFC 8985 §6.2 step 5): mark what time shows lost, start recovery for it. */
function rackStep(tcp: Tcp, pcb: TcpPcb, now: number): void {
  if (pcb.unacked.empty) {
    pcb.deadlines.cancel(Deadline.REORDER);
    return;
  }
  const before = pcb.counters.rackLosses;
  const marked = rackDetectLoss(pcb, now, rackReoWnd(pcb, tcp.config.dupThresh, pcb.recovery !== RecoveryMode.NONE));
  if (marked === 0) return;
  tcp.counters.rackLosses += pcb.counters.rackLosses - before;
  if (pcb.recovery === RecoveryMode.NONE) enterRecovery(tcp, pcb, true, now);
}


/**
 * SND.UNA did not move. Count duplicate ACKs (RFC 5681 §2 definition, or
 * an ACK bringing new SACK information, RFC 6675) and start fast
 * retransmit / recovery at the threshold.
 */
function dupAck(tcp: Tcp, pcb: TcpPcb, s: InSeg, wndChanged: boolean, sackNews: boolean, now: number): void {
  if (pcb.unacked.empty || s.dataLen > 0 || s.dataDropped || s.flags & (TcpFlag.SYN | TcpFlag.FIN)) return;
  if (wndChanged && !sackNews) return;
  const sack = (pcb.flags & PcbFlag.SACK) !== 0;
  // With SACK a duplicate ACK counts only if it SACKs new data (RFC 6675
  // §2): a duplicated ACK, or one for duplicated data, says nothing new.
  if (sack && !sackNews) return;
  pcb.counters.dupAcksIn++;
  pcb.dupAcks++;
  // RACK decides losses by time, after this ACK (rackStep).
  if (sack && tcp.config.rack) return;
  const thresh = tcp.config.dupThresh;
  switch (pcb.recovery) {
    case RecoveryMode.NEWRENO:
      pcb.cwnd += pcb.mss; // window inflation
      return;
    case RecoveryMode.SACK:
      markLost(pcb, thresh);
      return;
    case RecoveryMode.RTO:
      return;
  }
  let lost = !sack && pcb.dupAcks >= thresh;
  if (sack) {
    // RFC 6675 §5: IsLost(HighACK + 1) -- DupThresh SACKed segments above it.
    markLost(pcb, thresh);
    const head = pcb.unacked.head;
    lost = head !== null && head.lost;
  }
  if (!lost) return;
  // RFC 6582 §4.1: no new recovery until the previous one's data is acknowledged.
  if (seqLt(pcb.sndUna, pcb.recoverySeq)) return;
  enterRecovery(tcp, pcb, sack, now);
}

export function enterRecovery(tcp: Tcp, pcb: TcpPcb, sack: boolean, now: number): void {
  if (tcp.config.undo) undoBegin(pcb, false);
  if (pcb.tlpActive) pcb.tlp.active = false;
  pcb.deadlines.cancel(Deadline.TLP);
  pcb.recoverySeq = pcb.sndMax;
  // The controller's FlightSize leaves out what limited transmit sent
  // (RFC 5681 §3.2 step 2, RFC 6675 §5 step 4.2): see TcpPcb.flightSize.
  pcb.cc.onEnterRecovery(pcb);
  pcb.limitedTxBytes = 0;
  pcb.counters.recoveries++;
  pcb.counters.fastRetransmits++;
  tcp.counters.fastRetransmits++;
  if (sack && tcp.config.rack) {
    // RACK has marked the losses: the first goes out at once (RFC 5681
    // step 2's fast retransmit), the rest as the pipe allows.
    pcb.recovery = RecoveryMode.SACK;
    let first = pcb.unacked.head;
    while (first !== null && !(first.lost && !first.retransmitted)) first = first.next;
    if (first !== null) retransmitSeg(tcp, pcb, first, now);
    return;
  }
  const head = pcb.unacked.head!;
  if (sack) {
    pcb.recovery = RecoveryMode.SACK;
    markLost(pcb, tcp.config.dupThresh);
  } else {
    pcb.recovery = RecoveryMode.NEWRENO;
    pcb.cwnd = pcb.ssthresh + tcp.config.dupThresh * pcb.mss;
  }
  markSegLost(pcb, head);
  retransmitSeg(tcp, pcb, head, now);
}

/** Data and FIN for a PCB in ESTABLISHED, FIN_WAIT_1 or FIN_WAIT_2. */
function receive(tcp: Tcp, pcb: TcpPcb, s: InSeg, now: number): void {
  if (s.seq !== pcb.rcvNxt) {
    insertOoseq(tcp, pcb, s);
    pcb.flags |= PcbFlag.ACK_NOW; // out of order: ACK at once (RFC 5681 §4.2)
    return;
  }
  let fin = (s.flags & TcpFlag.FIN) !== 0;
  // Merged by the device from two or more segments: ACKed as the second of them would be.
  const merged = s.p !== null && (s.p.flags & PbufFlag.COALESCED) !== 0;
  if (s.dataLen > 0) {
    takeData(tcp, pcb, s.p!, s.dataLen);
    s.p = null;
  }
  // An in-order FIN ends the stream: what is queued beyond it is not data
  // (gotFin bins the queue, as lwIP's tcp_receive does).
  if (!fin && pcb.hasOoseq) {
    fin = drainOoseq(tcp, pcb);
    pcb.flags |= PcbFlag.ACK_NOW; // a hole was filled
  }
  if (fin) {
    gotFin(tcp, pcb);
    return;
  }
  // Delayed ACK: at least every second full-sized segment, else within the timer.
  if (pcb.rcvUnacked >= 2 * maxPayload(pcb) || pcb.flags & PcbFlag.ACK_DELAY || merged) {
    if (tcp.batching) {
      // Inside a driver's batch: one ACK at its end covers the whole run.
      delayAck(tcp, pcb, now);
      tcp.queueBatchAck(pcb);
    } else {
      pcb.flags |= PcbFlag.ACK_NOW;
    }
  } else {
    delayAck(tcp, pcb, now);
  }
}

/** Append in-order data to what this segment delivers. */
function takeData(tcp: Tcp, pcb: TcpPcb, p: Pbuf, n: number): void {
  const ev = tcp.ev;
  if (ev.recvData === null) ev.recvData = p;
  else ev.recvData.cat(p);
  pcb.rcvNxt = seqAdd(pcb.rcvNxt, n);
  pcb.rcvWnd = Math.max(0, pcb.rcvWnd - n);
  pcb.rcvUnacked += n;
  pcb.counters.bytesReceived += n;
}

/** Move now-contiguous out-of-order segments in; returns true if a FIN came with them. */
function drainOoseq(tcp: Tcp, pcb: TcpPcb): boolean {
  const q = pcb.ooseq;
  for (let h = q.head; h !== null && seqLeq(h.seq, pcb.rcvNxt); h = q.head) {
    q.remove(h);
    if (h.p !== null) pcb.ooseqPieces -= h.p.clen();
    // The in-order segment brought again what this one holds below RCV.NXT.
    noteOldDuplicate(tcp, pcb, h.seq, h.tcplen);
    if (seqLeq(h.end, pcb.rcvNxt)) {
      h.free();
      continue;
    }
    const off = seqDiff(pcb.rcvNxt, h.seq);
    let p = h.p;
    h.p = null;
    let n = h.len;
    if (off > 0 && p !== null) {
      p = p.freeHeader(off);
      n -= off;
    }
    if (n > 0 && p !== null) takeData(tcp, pcb, p, n);
    else if (p !== null) p.free();
    if (h.flags & TcpFlag.FIN) {
      // Nothing after a FIN counts.
      pcb.ooseqPieces = 0;
      q.freeAll();
      return true;
    }
  }
  if (q.empty) pcb.lastOooSeq = -1;
  return false;
}

/**
 * Keep an out-of-order segment, trimmed against its neighbours so the
 * queue never overlaps; enforce the byte and piece caps by dropping from
 * the highest sequence numbers (least useful, as lwIP does), once merging
 * contiguous runs could not bring the pieces under their cap.
 */
function insertOoseq(tcp: Tcp, pcb: TcpPcb, s: InSeg): void {
  pcb.counters.oooSegsIn++;
  const seg = new TcpSeg(s.p, s.seq, s.dataLen, s.flags & TcpFlag.FIN);
  s.p = null;
  if (seg.tcplen === 0) return;
  const q = pcb.ooseq;
  // Nothing after a queued FIN counts (lwIP: a FIN-bearing tail "already
  // contains all data"): keep at most what lies before the FIN.
  const last = q.tail;
  if (last !== null && last.flags & TcpFlag.FIN) {
    const finSeq = seqAdd(last.end, -1);
    if (seqGeq(seg.seq, finSeq)) return seg.free();
    if (seqGt(seg.end, finSeq)) trimSegTail(seg, seqDiff(finSeq, seg.seq));
    if (seg.tcplen === 0) return seg.free();
  }
  let cur = q.head;
  while (cur !== null && seqLeq(cur.end, seg.seq)) cur = cur.next;
  // Starts inside `cur`: drop what cur already has.
  if (cur !== null && seqLeq(cur.seq, seg.seq)) {
    noteHeldDuplicate(tcp, pcb, seg, cur);
    if (!trimSegFront(seg, seqDiff(cur.end, seg.seq))) return;
    cur = cur.next;
  }
  // Swallow segments the new one covers entirely, and with a FIN all that
  // follows (lwIP tcp_oos_insert_segment).
  const finNew = (seg.flags & TcpFlag.FIN) !== 0;
  while (cur !== null && (finNew || seqLeq(cur.end, seg.end))) {
    const next = cur.next;
    noteHeldDuplicate(tcp, pcb, seg, cur);
    if (cur.p !== null) pcb.ooseqPieces -= cur.p.clen();
    q.remove(cur);
    cur.free();
    cur = next;
  }
  // Ends inside `cur`: keep only what lies before it.
  if (cur !== null && seqLt(cur.seq, seg.end)) {
    noteHeldDuplicate(tcp, pcb, seg, cur);
    trimSegTail(seg, seqDiff(cur.seq, seg.seq));
  }
  if (seg.tcplen === 0) {
    seg.free();
    return;
  }
  q.insertBefore(seg, cur);
  if (seg.p !== null) pcb.ooseqPieces += seg.p.clen();
  pcb.lastOooSeq = seg.seq;
  const cfg = tcp.config;
  // Too many pieces for the bytes they hold (a small MSS): merge runs first (ooseq-collapse.ts).
  if (pcb.ooseqPieces > cfg.oooMaxSegments && q.bytes <= cfg.oooMaxBytes) tcp.counters.ooseqCollapsed += collapseOoseq(tcp.pool, pcb);
  while ((q.bytes > cfg.oooMaxBytes || pcb.ooseqPieces > cfg.oooMaxSegments) && q.tail !== null) {
    const t = q.tail;
    if (t.p !== null) pcb.ooseqPieces -= t.p.clen();
    q.remove(t);
    t.free();
    tcp.stats.memerr++;
  }
  if (q.empty) pcb.lastOooSeq = -1;
}

/**
 * Data we already hold arrived again. With D-SACK on (RFC 2883 §4), report
 * [left, right) as the first SACK block of the next ACK, sent at once. One
 * D-SACK per ACK: a range touching the pending one extends it, a disjoint
 * one is left out (the first stays, as in Linux's tcp_dsack_extend).
 */
function noteDuplicate(tcp: Tcp, pcb: TcpPcb, left: number, right: number): void {
  if (!tcp.config.dsack || (pcb.flags & PcbFlag.SACK) === 0 || !seqLt(left, right)) return;
  pcb.flags |= PcbFlag.ACK_NOW;
  if (!pcb.dsackPending) {
    pcb.dsackPending = true;
    pcb.dsackLeft = left;
    pcb.dsackRight = right;
  } else if (!seqGt(left, pcb.dsackRight) && !seqGt(pcb.dsackLeft, right)) {
    if (seqLt(left, pcb.dsackLeft)) pcb.dsackLeft = left;
    if (seqGt(right, pcb.dsackRight)) pcb.dsackRight = right;
  }
}

/** The part of [seq, seq + len) below RCV.NXT was received before. */
function noteOldDuplicate(tcp: Tcp, pcb: TcpPcb, seq: number, len: number): void {
  if (len <= 0 || !seqLt(seq, pcb.rcvNxt)) return;
  const end = seqAdd(seq, len);
  noteDuplicate(tcp, pcb, seq, seqLt(end, pcb.rcvNxt) ? end : pcb.rcvNxt);
}

/** Where the new out-of-order segment `seg` overlaps the queued `held`, it repeats data we have. */
function noteHeldDuplicate(tcp: Tcp, pcb: TcpPcb, seg: TcpSeg, held: TcpSeg): void {
  const left = seqGt(seg.seq, held.seq) ? seg.seq : held.seq;
  const right = seqLt(seg.end, held.end) ? seg.end : held.end;
  noteDuplicate(tcp, pcb, left, right);
}

/** Remove `k` sequence numbers from the front; false (and freed) if nothing is left. */
function trimSegFront(seg: TcpSeg, k: number): boolean {
  if (k >= seg.tcplen) {
    seg.free();
    return false;
  }
  const n = Math.min(k, seg.len);
  if (n > 0 && seg.p !== null) seg.p = seg.p.freeHeader(n);
  seg.seq = seqAdd(seg.seq, n);
  seg.len -= n;
  return true;
}

/** Keep only the first `k` sequence numbers (a FIN beyond them goes). */
function trimSegTail(seg: TcpSeg, k: number): void {
  seg.flags &= ~TcpFlag.FIN;
  if (k <= 0) {
    seg.free();
    seg.len = 0;
    return;
  }
  if (k < seg.len && seg.p !== null) {
    seg.p.realloc(k);
    seg.len = k;
  }
}

/** An in-order FIN (RFC 9293 eighth check). */
function gotFin(tcp: Tcp, pcb: TcpPcb): void {
  pcb.rcvNxt = seqAdd(pcb.rcvNxt, 1);
  if ((pcb.flags & (PcbFlag.APP_LATE | PcbFlag.ACK_NOW | PcbFlag.ACK_DELAY)) === PcbFlag.APP_LATE && pcb.state === TcpState.ESTABLISHED) {
    // Into CLOSE_WAIT with an application that answers on a later turn:
    // its close (or last reply) usually follows at once and carries this
    // ACK (FIN+ACK in one segment, as lwIP's in-callback close gives);
    // else the delayed-ACK timer sends it (RFC 1122 4.2.3.2; Linux enters
    // pingpong mode here and delays it the same way). Only when this
    // segment is all the peer has unacknowledged: its tail-loss probe
    // waits out a delayed ACK for one segment in flight (RFC 8985 §7.2
    // WCDelAckT), not for two.
    delayAck(tcp, pcb, tcp.clock.now());
  } else {
    pcb.flags |= PcbFlag.ACK_NOW;
  }
  tcp.ev.gotFin = true;
  if (pcb.hasOoseq) {
    pcb.ooseqPieces = 0;
    pcb.ooseq.freeAll();
    pcb.lastOooSeq = -1;
  }
  switch (pcb.state) {
    case TcpState.SYN_RCVD:
    case TcpState.ESTABLISHED:
      tcp.setState(pcb, TcpState.CLOSE_WAIT);
      break;
    case TcpState.FIN_WAIT_1: {
      const finAcked = (pcb.flags & PcbFlag.FIN_QUEUED) !== 0 && pcb.unsent.empty && pcb.unacked.empty;
      if (finAcked) {
        tcp.setState(pcb, TcpState.TIME_WAIT);
        tcp.ev.toTimeWait = true;
      } else {
        tcp.setState(pcb, TcpState.CLOSING); // simultaneous close
      }
      break;
    }
    case TcpState.FIN_WAIT_2:
      tcp.setState(pcb, TcpState.TIME_WAIT);
      tcp.ev.toTimeWait = true;
      break;
  }
}

// ---------------------------------------------------------------------------
// Reporting to the application
// ---------------------------------------------------------------------------

/**
 * Offer refused data again (lwIP tcp_process_refused_data), then a FIN
 * that waited behind it. Unlike lwIP, a refused FIN is kept too and
 * offered again, so a socket layer that refuses everything before accept()
 * still sees the peer's EOF afterwards. Returns Err.ABRT if the PCB went
 * away, Err.INPROGRESS if something is still refused.
 */
export function offerRefused(tcp: Tcp, pcb: TcpPcb): number {
  const data = pcb.refusedData;
  const fin = pcb.refusedFin;
  const queued = pcb.refusedQueuedBytes;
  pcb.refusedData = null;
  pcb.refusedFin = false;
  tcp.releaseRefused(pcb);
  pcb.deadlines.cancel(Deadline.REFUSED);
  if (data !== null) {
    const r = callRecv(tcp, pcb, data);
    if (r === Err.ABRT || pcb.freed) return Err.ABRT;
    if (r !== Err.OK) {
      pcb.refusedData = data;
      tcp.queuedRefused(pcb, queued);
      pcb.refusedFin = fin;
      pcb.deadlines.arm(Deadline.REFUSED, tcp.clock.now() + tcp.config.refusedRetryMs);
      return Err.INPROGRESS;
    }
  }
  if (fin && (pcb.flags & PcbFlag.RXCLOSED) === 0) return offerFin(tcp, pcb);
  return Err.OK;
}

/** Report the peer's FIN (recv(null)); keep it for another try if refused. */
function offerFin(tcp: Tcp, pcb: TcpPcb): number {
  const r = callRecv(tcp, pcb, null);
  if (r === Err.ABRT || pcb.freed) return Err.ABRT;
  if (r !== Err.OK) {
    pcb.refusedFin = true;
    pcb.deadlines.arm(Deadline.REFUSED, tcp.clock.now() + tcp.config.refusedRetryMs);
    return Err.INPROGRESS;
  }
  return Err.OK;
}

/** Is anything (data or a FIN) waiting for the application to take it? */
export function hasRefused(pcb: TcpPcb): boolean {
  return pcb.refusedData !== null || pcb.refusedFin;
}

/** Report what the segment did, in lwIP's order, then send what is due. */
function dispatch(tcp: Tcp, pcb: TcpPcb): void {
  const ev = tcp.ev;
  if (pcb.freed) {
    // Freed during processing (a passive open reset back to LISTEN).
    tcp.inputPcb = null;
    freeRecv(ev);
    return;
  }
  if (ev.reset || ev.closed) {
    const errFn = pcb.errFn;
    const arg = pcb.arg;
    const quiet = ev.closed && (pcb.flags & PcbFlag.RXCLOSED) !== 0;
    const code = ev.reset ? Err.RST : Err.CLSD;
    pcb.lastError = code;
    tcp.inputPcb = null;
    tcp.freePcb(pcb);
    freeRecv(ev);
    if (!quiet) callErr(tcp, errFn, arg, code);
    return;
  }
  if (ev.connected && callConnected(tcp, pcb) === Err.ABRT) return abandonDispatch(tcp, ev);
  if (ev.accepted) {
    const listener = pcb.listener;
    if (listener === null || listener.freed || listener.state !== TcpState.LISTEN) {
      // The listener closed meanwhile: refuse the connection.
      tcp.abort(pcb);
      return abandonDispatch(tcp, ev);
    }
    backlogAccepted(pcb);
    if (callAccept(tcp, listener, pcb) === Err.ABRT) return abandonDispatch(tcp, ev);
  }
  if (ev.acked > 0 && callSent(tcp, pcb, ev.acked) === Err.ABRT) return abandonDispatch(tcp, ev);
  if (ev.recvData !== null) {
    const data = ev.recvData;
    ev.recvData = null;
    if (pcb.flags & PcbFlag.RXCLOSED) {
      // Data after the application closed: tell the peer it was not processed (lwIP).
      data.free();
      tcp.abort(pcb);
      return abandonDispatch(tcp, ev);
    }
    if (pcb.refusedData !== null) {
      // Still refused (PcbFlag.QUEUE_REFUSED let the segment in): it waits behind, in order.
      tcp.queuedRefused(pcb, data.totLen);
      pcb.refusedData.cat(data);
      tcp.counters.refusedQueued++;
    } else {
      const r = callRecv(tcp, pcb, data);
      if (r === Err.ABRT) return abandonDispatch(tcp, ev);
      if (r !== Err.OK) {
        pcb.refusedData = data;
        pcb.deadlines.arm(Deadline.REFUSED, tcp.clock.now() + tcp.config.refusedRetryMs);
      }
    }
  }
  if (ev.gotFin) {
    if (pcb.refusedData !== null) {
      pcb.refusedFin = true; // delivered after the refused data
    } else if ((pcb.flags & PcbFlag.RXCLOSED) === 0) {
      if (offerFin(tcp, pcb) === Err.ABRT) return abandonDispatch(tcp, ev);
    }
  }
  finishInput(tcp, pcb);
}

function abandonDispatch(tcp: Tcp, ev: InEvents): void {
  tcp.inputPcb = null;
  freeRecv(ev);
}

function freeRecv(ev: InEvents): void {
  if (ev.recvData !== null) ev.recvData.free();
  ev.recvData = null;
}

/** The segment is done with: send what is due, or settle into TIME_WAIT. */
function finishInput(tcp: Tcp, pcb: TcpPcb): void {
  tcp.inputPcb = null;
  if (pcb.freed) return;
  const now = tcp.clock.now();
  if (tcp.ev.toTimeWait || pcb.state === TcpState.TIME_WAIT) {
    if (pcb.flags & PcbFlag.ACK_NOW) sendAck(tcp, pcb);
    if (pcb.table === TableKind.ACTIVE) {
      if (hasRefused(pcb)) {
        // Refused data is never discarded: TIME_WAIT (which frees the
        // queues) waits in the active table until the application has
        // taken it (timers.ts retries it, as in any state).
        tcp.setState(pcb, TcpState.TIME_WAIT);
        tcp.armTimer(pcb);
      } else {
        tcp.enterTimeWait(pcb);
      }
    }
    return;
  }
  if (pcb.deadlines.armed(Deadline.KEEPALIVE)) tcp.scheduleKeepalive(pcb, now);
  output(tcp, pcb);
}

/** lwIP tcp_backlog_accepted: the connection no longer counts against the listener's backlog. */
export function backlogAccepted(pcb: TcpPcb): void {
  if (pcb.flags & PcbFlag.BACKLOGPEND && pcb.listener !== null) {
    pcb.listener.acceptsPending--;
    pcb.flags &= ~PcbFlag.BACKLOGPEND;
  }
}

/** lwIP tcp_backlog_delayed: count the connection against the backlog again until accepted. */
export function backlogDelayed(pcb: TcpPcb): void {
  if ((pcb.flags & PcbFlag.BACKLOGPEND) === 0 && pcb.listener !== null && !pcb.listener.freed) {
    pcb.listener.acceptsPending++;
    pcb.flags |= PcbFlag.BACKLOGPEND;
  }
}

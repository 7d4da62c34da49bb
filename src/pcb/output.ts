// TCP output (lwIP tcp_out.c): queueing application data into segments,
// choosing what may be sent (receiver window, congestion window or RFC 6675
// pipe, Nagle, sender-side SWS avoidance), building headers and options,
// retransmissions, bare ACKs, probes and RSTs.
import { Err } from '../err.ts';
import { PbufFlag, PbufType } from '../pbuf/pbuf.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufLayer, PbufUse } from '../pbuf/pool.ts';
import { chainOnesSum, foldSum, onesSum } from '../wire/checksum.ts';
import type { IpAddr } from '../wire/ipaddr.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { emitTcpOptions, TCP_HEADER_LEN, TcpFlag, tcpOptionsLength } from '../wire/tcp.ts';
import { Deadline } from './deadlines.ts';
import { paceHold, paceSent, pacingQuantum, pacingRate, pacingRun } from './pacing.ts';
import { RecoveryMode, type TcpPcb } from './pcb.ts';
import { buildSackBlocks } from './sack.ts';
import { tlpArm } from './tlp.ts';
import { undoNoteRetransmit } from './undo.ts';
import { tsNow } from './tsclock.ts';

export { tsNow };
import { type SegQueue, TcpSeg } from './segment.ts';
import { seqAdd, seqDiff, seqGt, seqLt } from './seq.ts';
import { PcbFlag, TcpState } from './state.ts';
import type { Tcp } from './tcp.ts';

/** tcp_write flags (lwIP TCP_WRITE_FLAG_*). */
export const WriteFlag = {
  /** Copy the data into the stack's buffers (otherwise it is referenced until acknowledged). */
  COPY: 0x01,
  /** More data follows: do not set PSH on the last segment. */
  MORE: 0x02,
} as const;

/** Bytes of the timestamp option as we send it (NOP NOP TS). */
export const TS_OPT_LEN = 12;

/** Payload bytes per segment: MSS less the options every segment carries (RFC 6691). */
export function maxPayload(pcb: TcpPcb): number {
  return Math.max(1, pcb.mss - (pcb.flags & PcbFlag.TIMESTAMP ? TS_OPT_LEN : 0));
}

/**
 * Data bytes per segment we build: one MSS, or with a GSO-capable netif a
 * super-segment of whole MSS units up to ~64 KiB that the device cuts.
 */
export function segLimit(pcb: TcpPcb): number {
  const mss = maxPayload(pcb);
  if (pcb.gsoMax <= 0) return mss;
  const room = pcb.gsoMax - (pcb.flags & PcbFlag.TIMESTAMP ? TS_OPT_LEN : 0);
  return Math.max(mss, Math.floor(room / mss) * mss);
}

/** True in states where tcp_write is allowed (lwIP: ESTABLISHED, CLOSE_WAIT, SYN_SENT, SYN_RCVD). */
function canWrite(pcb: TcpPcb): boolean {
  const s = pcb.state;
  return (s === TcpState.ESTABLISHED || s === TcpState.CLOSE_WAIT || s === TcpState.SYN_SENT || s === TcpState.SYN_RCVD) && (pcb.flags & PcbFlag.FIN_QUEUED) === 0;
}

/**
 * Queue `data` for sending (lwIP tcp_write). All or nothing: on ERR_MEM
 * nothing is queued. Without COPY the bytes are referenced (a REF pbuf)
 * and must stay unchanged until the sent callback reports them.
 */
export function write(tcp: Tcp, pcb: TcpPcb, data: Uint8Array, flags: number): number {
  if (!canWrite(pcb)) return Err.CONN;
  const len = data.length;
  if (len === 0) return Err.OK;
  if (len > pcb.sndBuf) {
    pcb.flags |= PcbFlag.NAGLEMEMERR;
    return Err.MEM;
  }
  // Memory pressure (Linux tcp_memory_pressure): a connection that already
  // holds pressureSndBuf may not grow, so what is freed goes to connections
  // that hold little (a new request) rather than back to the hoarders.
  if (tcp.underMemoryPressure() && pcb.unsent.bytes + pcb.unacked.bytes >= tcp.config.pressureSndBuf) {
    tcp.counters.memoryPressureRefusals++;
    return memFail(tcp, pcb, true);
  }
  const pool = tcp.pool;
  const copy = (flags & WriteFlag.COPY) !== 0;
  const max = segLimit(pcb);

  // Phase 1: how much fits in the last unsent segment.
  const last = pcb.unsent.tail;
  let intoLast = 0;
  let lastPiece: Pbuf | null = null;
  let appendInPlace = false;
  if (last !== null && (last.flags & (TcpFlag.SYN | TcpFlag.FIN)) === 0 && last.len < max) {
    intoLast = Math.min(max - last.len, len);
    const lp = last.p;
    if (copy && lp !== null && lp.next === null && lp.type === PbufType.RAM && tailRoom(lp) >= intoLast) {
      appendInPlace = true;
    } else {
      lastPiece = copy ? pool.alloc(PbufLayer.RAW, intoLast, PbufType.RAM) : pool.wrap(data.subarray(0, intoLast), PbufType.REF);
      if (lastPiece === null) return memFail(tcp, pcb, true);
      if (copy) lastPiece.buf.set(data.subarray(0, intoLast), lastPiece.off);
    }
  }

  // Phase 2: new segments for the rest (the usual small write makes one:
  // no array for it).
  let first: TcpSeg | null = null;
  let fresh: TcpSeg[] | null = null;
  let pieces = lastPiece === null ? 0 : 1;
  let off = intoLast;
  let seq = seqAdd(pcb.sndLbb, intoLast);
  while (off < len) {
    const n = Math.min(max, len - off);
    let p: Pbuf | null;
    if (copy) {
      // Room for a full segment, so later small writes can be appended in place.
      p = pool.alloc(PbufLayer.TRANSPORT, Math.max(n, max), PbufType.RAM);
      if (p !== null) {
        if (n < max) p.realloc(n);
        p.buf.set(n === len ? data : data.subarray(off, off + n), p.off);
      }
    } else {
      p = pool.wrap(data.subarray(off, off + n), PbufType.REF);
    }
    if (p === null || pcb.sndQueueLen + pieces + 1 > tcp.config.sndQueueLen) {
      const poolFull = p === null;
      if (p !== null) p.free();
      if (lastPiece !== null) lastPiece.free();
      if (first !== null) first.free();
      if (fresh !== null) for (const s of fresh) s.free();
      return memFail(tcp, pcb, poolFull);
    }
    pieces++;
    const seg = new TcpSeg(p, seq, n, 0);
    if (first === null) first = seg;
    else (fresh ??= []).push(seg);
    seq = seqAdd(seq, n);
    off += n;
  }

  // Commit. Data queued on empty queues starts the user timeout afresh.
  if (pcb.unsent.empty && pcb.unacked.empty) pcb.progressAt = tcp.clock.now();
  if (intoLast > 0 && last !== null) {
    if (appendInPlace) {
      const lp = last.p!;
      lp.buf.set(data.subarray(0, intoLast), lp.off + lp.len);
      lp.len += intoLast;
      lp.totLen += intoLast;
    } else if (last.p === null) {
      last.p = lastPiece;
    } else {
      last.p.cat(lastPiece!);
    }
    last.len += intoLast;
    last.dataSum = -1;
    pcb.unsent.bytes += intoLast;
  }
  if (first !== null) pcb.unsent.push(first);
  if (fresh !== null) for (const s of fresh) pcb.unsent.push(s);
  const tail = pcb.unsent.tail;
  if (tail !== null && (flags & WriteFlag.MORE) === 0) tail.flags |= TcpFlag.PSH;
  pcb.sndLbb = seq;
  pcb.sndBuf -= len;
  pcb.sndQueueLen += pieces;
  pcb.flags &= ~PcbFlag.NAGLEMEMERR;
  return Err.OK;
}

/** A write failed; when the pool (not this connection's queue limit) was full, shed an idle hoarder for next time. */
function memFail(tcp: Tcp, pcb: TcpPcb, poolFull = false): number {
  tcp.stats.memerr++;
  pcb.flags |= PcbFlag.NAGLEMEMERR;
  if (poolFull) tcp.shedForMemory(pcb);
  return Err.MEM;
}

/** Bytes free after the payload in a single-piece RAM pbuf's block. */
function tailRoom(p: Pbuf): number {
  return p.buf.length - (p.off + p.len);
}

/** Queue a SYN (or our SYN of a SYN-ACK): a bare segment at ISS. */
export function enqueueSyn(pcb: TcpPcb): void {
  const seg = new TcpSeg(null, pcb.iss, 0, TcpFlag.SYN);
  pcb.unsent.push(seg);
  pcb.sndLbb = seqAdd(pcb.iss, 1);
}

/** Queue our FIN (lwIP tcp_send_fin): on the last unsent segment if possible. */
export function enqueueFin(pcb: TcpPcb): void {
  if (pcb.unsent.empty && pcb.unacked.empty) pcb.progressAt = pcb.now;
  const last = pcb.unsent.tail;
  if (last !== null && (last.flags & (TcpFlag.SYN | TcpFlag.FIN)) === 0) {
    last.flags |= TcpFlag.FIN;
  } else {
    pcb.unsent.push(new TcpSeg(null, pcb.sndLbb, 0, TcpFlag.FIN));
  }
  pcb.sndLbb = seqAdd(pcb.sndLbb, 1);
  pcb.flags |= PcbFlag.FIN_QUEUED;
}

/**
 * Recompute the window we announce (lwIP tcp_update_rcv_ann_wnd): advance
 * the right edge only by at least min(window/2, MSS) (receiver SWS
 * avoidance, RFC 9293 §3.8.6.2.2), never move it left. Returns by how much
 * the right edge may advance.
 */
export function updateRcvAnnWnd(pcb: TcpPcb): number {
  const newRight = seqAdd(pcb.rcvNxt, pcb.rcvWnd);
  const threshold = Math.min(pcb.rcvBufSize >>> 1, maxPayload(pcb));
  if (seqDiff(newRight, pcb.rcvAnnRightEdge) >= threshold) {
    pcb.rcvAnnWnd = pcb.rcvWnd;
    return seqDiff(newRight, pcb.rcvAnnRightEdge);
  }
  if (seqGt(pcb.rcvNxt, pcb.rcvAnnRightEdge)) pcb.rcvAnnWnd = 0;
  else pcb.rcvAnnWnd = seqDiff(pcb.rcvAnnRightEdge, pcb.rcvNxt);
  return 0;
}

/** Choose our window scale for a receive buffer of `bytes` (RFC 7323 §2.3). */
export function windowScaleFor(bytes: number): number {
  let s = 0;
  while (s < 14 && bytes >>> s > 0xffff) s++;
  return s;
}

/**
 * Send what may be sent now (lwIP tcp_output): lost segments first (loss
 * recovery), then new data within min(receiver window, congestion window),
 * then a bare ACK if one is still owed. Called while the PCB is being
 * processed it only records that output is wanted.
 */
export function output(tcp: Tcp, pcb: TcpPcb): number {
  if (pcb.freed) return Err.CONN;
  if (tcp.inputPcb === pcb) {
    pcb.flags |= PcbFlag.OUTPUT_PENDING;
    return Err.OK;
  }
  pcb.flags &= ~PcbFlag.OUTPUT_PENDING;
  const s = pcb.state;
  if (s === TcpState.CLOSED || s === TcpState.LISTEN || s === TcpState.TIME_WAIT) return Err.OK;
  const now = tcp.clock.now();
  let err: number = Err.OK;

  const maxBefore = pcb.sndMax;
  // F-RTO step 2 sends new data, not the retransmissions (RFC 5682 §3).
  if (pcb.lostBytes > 0 && s !== TcpState.SYN_SENT && pcb.frto !== 2) err = retransmitLost(tcp, pcb, now);
  if (err === Err.OK) err = sendNew(tcp, pcb, now);
  // New data went out: the tail loss probe timer starts over (RFC 8985 §7.2).
  if (pcb.sndMax !== maxBefore && tcp.config.tlp) tlpArm(pcb, now);
  if (pcb.flags & PcbFlag.ACK_NOW) sendAck(tcp, pcb);
  managePersist(tcp, pcb, now);
  tcp.armTimer(pcb);
  return err === Err.MEM ? Err.MEM : Err.OK;
}

/** Is there room for `len` more bytes in flight? (pipe in SACK/RTO recovery, flight otherwise). */
function cwndAllows(tcp: Tcp, pcb: TcpPcb, len: number): boolean {
  const inflight = pcb.recovery === RecoveryMode.SACK || pcb.recovery === RecoveryMode.RTO ? pcb.pipe : pcb.inFlight;
  if (inflight <= 0) return true;
  // RFC 3042 limited transmit: one new segment for each of the first two duplicate ACKs.
  const extra = pcb.recovery === RecoveryMode.NONE && pcb.dupAcks > 0 && pcb.dupAcks < tcp.config.dupThresh ? pcb.dupAcks * pcb.mss : 0;
  return inflight + len <= pcb.cwnd + extra;
}

function retransmitLost(tcp: Tcp, pcb: TcpPcb, now: number): number {
  for (let seg = pcb.unacked.head; seg !== null; seg = seg.next) {
    if (!seg.lost || seg.retransmitted || seg.sacked) continue;
    if (!cwndAllows(tcp, pcb, seg.tcplen)) break;
    const err = retransmitSeg(tcp, pcb, seg, now);
    if (err !== Err.OK) return err;
  }
  return Err.OK;
}

/** Retransmit one segment now, regardless of the windows (fast retransmit, RTO). */
export function retransmitSeg(tcp: Tcp, pcb: TcpPcb, seg: TcpSeg, now: number): number {
  const max = maxPayload(pcb);
  if (seg.len > max) splitSeg(tcp, pcb, pcb.unacked, seg, max);
  const err = transmit(tcp, pcb, seg, now, true);
  if (err !== Err.OK) return err;
  if (!seg.retransmitted) {
    seg.retransmitted = true;
    pcb.retransInFlight += seg.tcplen;
  }
  seg.everRetransmitted = true;
  if (pcb.recovery !== RecoveryMode.NONE) undoNoteRetransmit(pcb, 1, tsNow(pcb, now));
  pcb.counters.retransmits++;
  pcb.counters.bytesRetrans += seg.len;
  tcp.counters.retransSegs++;
  return Err.OK;
}

function sendNew(tcp: Tcp, pcb: TcpPcb, now: number): number {
  const handshaking = pcb.state === TcpState.SYN_SENT || pcb.state === TcpState.SYN_RCVD;
  const max = maxPayload(pcb);
  const limit = segLimit(pcb);
  // Pacing (pacing.ts): `rate` sizes super-segments, `gap` (the rate, or 0) times a paced run.
  let rate = pacingRate(tcp, pcb);
  let gap = rate > 0 && pacingRun(pcb) ? rate : 0;
  let sent = false;
  let paced = false;
  for (let seg = pcb.unsent.head; seg !== null; seg = pcb.unsent.head) {
    const isSyn = (seg.flags & TcpFlag.SYN) !== 0;
    if (handshaking && !isSyn) break;
    if (seg.len > limit) splitSeg(tcp, pcb, pcb.unsent, seg, limit);
    if (!isSyn) {
      // Receiver window: the segment's data must fit below SND.UNA + SND.WND.
      const room = seqDiff(seqAdd(pcb.sndUna, pcb.sndWnd), seg.seq);
      // A super-segment is cut to whole MSS units that fit the windows.
      if (seg.len > max) fitSuperSegment(tcp, pcb, seg, room, max, rate);
      // Sender SWS avoidance: send part of a segment only if the part is worth it.
      if (seg.len > room && !(room > 0 && (room >= max || room >= pcb.sndWndMax >>> 1) && splitSeg(tcp, pcb, pcb.unsent, seg, room))) break;
      // A bare FIN takes a sequence number too: it needs one byte of window
      // (else the persist timer probes, RFC 1122 §4.2.2.17).
      if (seg.len === 0 && room < (seg.flags & TcpFlag.FIN ? 1 : 0)) break;
      if (!cwndAllows(tcp, pcb, seg.tcplen)) {
        pcb.cwndLimited = true;
        break;
      }
      // Nagle (RFC 896 / lwIP tcp_do_output_nagle): hold a small segment while data is in flight.
      if (seg.len < max && seg.next === null && (seg.flags & TcpFlag.FIN) === 0 && (pcb.flags & (PcbFlag.NODELAY | PcbFlag.NAGLEMEMERR)) === 0 && pcb.inFlight > 0) break;
    }
    if (!sent && pcb.inFlight === 0 && pcb.lastSendTime > 0 && now - pcb.lastSendTime > pcb.rtt.currentRto() && pcb.state === TcpState.ESTABLISHED) {
      pcb.cc.onIdleRestart(pcb); // RFC 5681 §4.1: restart window after idle
      rate = pacingRate(tcp, pcb);
      if (gap > 0) gap = rate;
    }
    if (seg.len > 0 && paceHold(tcp, pcb, now, gap, max)) {
      paced = true;
      break;
    }
    // Sent only thanks to RFC 3042 limited transmit (beyond cwnd)?
    const limited = !isSyn && pcb.dupAcks > 0 && pcb.recovery === RecoveryMode.NONE && pcb.inFlight + seg.tcplen > pcb.cwnd;
    const err = transmit(tcp, pcb, seg, now, false);
    if (err !== Err.OK) return err;
    if (limited) pcb.limitedTxBytes += seg.tcplen;
    paceSent(pcb, now, seg.len, gap);
    sent = true;
    pcb.unsent.remove(seg);
    pcb.unacked.push(seg);
    const end = seg.end;
    pcb.sndNxt = end;
    if (seqGt(end, pcb.sndMax)) pcb.sndMax = end;
  }
  // cwnd may grow only while it is what holds sending back (RFC 7661,
  // RFC 5681 §3.1): stopped by the receiver window, Nagle or a lack of
  // data, that holds only if cwnd would have stopped the next segment too.
  // Held by pacing, it still fills cwnd within an SRTT (the rate exceeds cwnd/SRTT): limited too.
  const next = pcb.unsent.head;
  pcb.cwndLimited = paced || (next === null || handshaking ? pcb.inFlight >= pcb.cwnd : !cwndAllows(tcp, pcb, next.tcplen));
  return Err.OK;
}

/**
 * A tail loss probe with new data (RFC 8985 §7.3): one segment of at most
 * one MSS from the unsent queue if the receiver's window has room for it,
 * whatever cwnd says. Returns false when there is none to send.
 */
export function sendNewProbe(tcp: Tcp, pcb: TcpPcb, now: number): boolean {
  const seg = pcb.unsent.head;
  if (seg === null || seg.flags & TcpFlag.SYN) return false;
  const max = maxPayload(pcb);
  if (seg.len > max) splitSeg(tcp, pcb, pcb.unsent, seg, max);
  if (seqDiff(seqAdd(pcb.sndUna, pcb.sndWnd), seg.end) < 0) return false;
  if (transmit(tcp, pcb, seg, now, false) !== Err.OK) return false;
  pcb.unsent.remove(seg);
  pcb.unacked.push(seg);
  pcb.sndNxt = seg.end;
  if (seqGt(seg.end, pcb.sndMax)) pcb.sndMax = seg.end;
  return true;
}

/**
 * Shrink a super-segment (longer than one MSS) to the whole MSS units that
 * both the receiver window and the congestion window have room for, and at
 * a pacing `rate` (0: none) one pacing quantum (Linux tcp_tso_autosize: 64
 * KiB at once overflows a small bottleneck queue, and a smaller unit is
 * SACKed and retransmitted more finely); what does not fit stays queued as
 * its own segment. Leaves it alone when not even one MSS fits (the ordinary
 * rules then decide).
 */
function fitSuperSegment(tcp: Tcp, pcb: TcpPcb, seg: TcpSeg, room: number, mss: number, rate: number): void {
  const inflight = pcb.recovery === RecoveryMode.SACK || pcb.recovery === RecoveryMode.RTO ? pcb.pipe : pcb.inFlight;
  const cwndRoom = inflight <= 0 ? Math.max(pcb.cwnd, mss) : pcb.cwnd - inflight;
  const paceRoom = rate > 0 ? pacingQuantum(mss, rate) : Infinity;
  const fit = Math.floor(Math.min(room, cwndRoom, paceRoom) / mss) * mss;
  if (fit >= mss && fit < seg.len) splitSeg(tcp, pcb, pcb.unsent, seg, fit);
}

/** Start or stop the persist timer: data waits, nothing is in flight, the window is too small. */
function managePersist(tcp: Tcp, pcb: TcpPcb, now: number): void {
  const head = pcb.unsent.head;
  const stalled =
    head !== null &&
    pcb.unacked.empty &&
    pcb.state !== TcpState.SYN_SENT &&
    pcb.state !== TcpState.SYN_RCVD &&
    seqDiff(seqAdd(pcb.sndUna, pcb.sndWnd), head.seq) < (head.len > 0 ? Math.min(head.len, maxPayload(pcb)) : head.tcplen);
  if (stalled) {
    if (!pcb.deadlines.armed(Deadline.PERSIST)) {
      pcb.deadlines.arm(Deadline.PERSIST, now + persistInterval(tcp, pcb));
    }
  } else if (pcb.deadlines.armed(Deadline.PERSIST)) {
    pcb.deadlines.cancel(Deadline.PERSIST);
    pcb.persistBackoff = 0;
    pcb.persistProbes = 0;
  }
}

/**
 * The persist timer found `room` bytes of window for the head segment but
 * sender SWS avoidance held it back: send what fits now (RFC 9293
 * §3.8.6.2.1's override timeout).
 */
export function sendPersistSegment(tcp: Tcp, pcb: TcpPcb, room: number, now: number): void {
  const seg = pcb.unsent.head;
  if (seg === null) return;
  if (seg.len > room && !splitSeg(tcp, pcb, pcb.unsent, seg, room)) return;
  if (transmit(tcp, pcb, seg, now, false) !== Err.OK) return;
  pcb.unsent.remove(seg);
  pcb.unacked.push(seg);
  pcb.sndNxt = seg.end;
  if (seqGt(seg.end, pcb.sndMax)) pcb.sndMax = seg.end;
}

export function persistInterval(tcp: Tcp, pcb: TcpPcb): number {
  const base = Math.max(pcb.rtt.rto, tcp.config.minRtoMs);
  return Math.min(base * 2 ** pcb.persistBackoff, tcp.config.maxPersistMs);
}

/**
 * Cut `seg` after `n` data bytes; the rest becomes a new segment right after
 * it in `queue` (carrying the FIN, if any). The tail bytes are copied: this
 * happens only when the MSS shrank or the window allows part of a segment.
 */
export function splitSeg(tcp: Tcp, pcb: TcpPcb, queue: SegQueue, seg: TcpSeg, n: number): boolean {
  if (n <= 0 || n >= seg.len || seg.p === null) return false;
  const rest = seg.len - n;
  // No copy: both halves are slices of the original chain (PbufPool.slice).
  const head = tcp.pool.slice(seg.p, 0, n);
  const tailData = head === null ? null : tcp.pool.slice(seg.p, n, rest);
  if (head === null || tailData === null) {
    if (head !== null) head.free();
    tcp.stats.memerr++;
    return false;
  }
  const before = seg.p.clen();
  seg.p.free();
  seg.p = head;
  pcb.sndQueueLen += head.clen() + tailData.clen() - before;
  const tail = new TcpSeg(tailData, seqAdd(seg.seq, n), rest, seg.flags & (TcpFlag.FIN | TcpFlag.PSH));
  seg.flags &= ~(TcpFlag.FIN | TcpFlag.PSH);
  seg.len = n;
  seg.dataSum = -1;
  queue.bytes -= rest;
  queue.insertBefore(tail, seg.next);
  tail.lost = seg.lost;
  tail.sacked = seg.sacked;
  tail.retransmitted = seg.retransmitted;
  tail.everRetransmitted = seg.everRetransmitted;
  tail.sentAt = seg.sentAt;
  tail.sentOrder = seg.sentOrder;
  return true;
}

/**
 * Build the header for `seg` and hand it to IP (lwIP tcp_output_segment).
 * The segment keeps its data; ACK, window and timestamps are current.
 */
function transmit(tcp: Tcp, pcb: TcpPcb, seg: TcpSeg, now: number, rexmit: boolean): number {
  if (seg.p !== null && seg.dataSum < 0 && !tcp.ip.txCsumOffload) seg.dataSum = chainOnesSum(seg.p);
  const err = sendSegment(tcp, pcb, seg.p, seg.len, seg.seq, seg.flags, seg.dataSum, now);
  if (err !== Err.OK) return err;
  seg.sentAt = now;
  seg.sentOrder = ++pcb.sendCount;
  const c = pcb.counters;
  if (seg.len > 0) {
    c.dataSegsOut++;
    if (!rexmit) c.bytesSent += seg.len;
  }
  if (!pcb.deadlines.armed(Deadline.RTO)) pcb.deadlines.arm(Deadline.RTO, now + pcb.rtt.currentRto());
  pcb.lastSendTime = now;
  return Err.OK;
}

/** Restart the retransmission timer after an ACK (RFC 6298 §5.3), or stop it when nothing is outstanding (§5.2). */
export function restartRto(pcb: TcpPcb, now: number): void {
  pcb.deadlines.arm(Deadline.RTO, pcb.unacked.empty ? -1 : now + pcb.rtt.currentRto());
}

/** Owe an ACK that may wait for the delayed-ACK timer (or ride on the next segment sent). */
export function delayAck(tcp: Tcp, pcb: TcpPcb, now: number): void {
  pcb.flags |= PcbFlag.ACK_DELAY;
  if (!pcb.deadlines.armed(Deadline.DELACK)) pcb.deadlines.arm(Deadline.DELACK, now + tcp.config.delayedAckMs);
}

/** An ACK with no data (lwIP tcp_send_empty_ack). */
export function sendAck(tcp: Tcp, pcb: TcpPcb): number {
  return sendSegment(tcp, pcb, null, 0, pcb.sndNxt, 0, 0, tcp.clock.now());
}

/**
 * A zero-length probe with SEQ = SND.UNA - 1 (as Linux does): outside the
 * peer's window, it costs no sequence space and makes the peer answer with
 * its current ACK and window. Used for zero-window probes and keepalives.
 */
export function sendProbe(tcp: Tcp, pcb: TcpPcb): number {
  pcb.counters.probes++;
  return sendSegment(tcp, pcb, null, 0, seqAdd(pcb.sndUna, -1), 0, 0, tcp.clock.now());
}

/** RST from a PCB (lwIP tcp_rst on a pcb): SEQ = SND.NXT, ACK = RCV.NXT. */
export function sendRstFromPcb(tcp: Tcp, pcb: TcpPcb): void {
  sendRst(tcp, pcb.localIp, pcb.remoteIp, pcb.localPort, pcb.remotePort, pcb.sndNxt, pcb.rcvNxt, true);
  tcp.noteReset(pcb);
}

/**
 * Build and send one segment for `pcb`. `dataSum` is the cached sum of
 * `data` (any value when there is none).
 */
function sendSegment(tcp: Tcp, pcb: TcpPcb, data: Pbuf | null, dataLen: number, seq: number, segFlags: number, dataSum: number, now: number): number {
  const syn = (segFlags & TcpFlag.SYN) !== 0;
  const o = tcp.outOpts;
  o.mss = 0;
  o.wscale = -1;
  o.sackPermitted = false;
  o.hasTimestamp = false;
  o.sackCount = 0;
  const cfg = tcp.config;
  const tsOn = syn ? cfg.timestamps && (pcb.state === TcpState.SYN_SENT || (pcb.flags & PcbFlag.TIMESTAMP) !== 0) : (pcb.flags & PcbFlag.TIMESTAMP) !== 0;
  if (syn) {
    o.mss = pcb.ourMss;
    if (pcb.state === TcpState.SYN_SENT ? cfg.windowScaling : (pcb.flags & PcbFlag.WND_SCALE) !== 0) o.wscale = pcb.rcvScale;
    if (pcb.state === TcpState.SYN_SENT ? cfg.sack : (pcb.flags & PcbFlag.SACK) !== 0) o.sackPermitted = true;
  }
  if (tsOn) {
    o.hasTimestamp = true;
    o.tsVal = tsNow(pcb, now);
    o.tsEcr = pcb.tsRecent;
  }
  // SACK blocks that do not fit beside the data are left out (RFC 6691:
  // options and data together stay within the MSS, or a full segment
  // would exceed the MTU); a bare ACK then carries them (see below).
  let sackLeftOut = false;
  if (!syn && (pcb.flags & PcbFlag.SACK) !== 0 && (pcb.dsackPending || pcb.hasOoseq)) {
    // A bare ACK's options may use up to 40 bytes, but no more than the
    // MSS either: on a link with MTU 68 three blocks would not fit.
    const room = (dataLen > 0 ? pcb.mss - dataLen : Math.min(40, pcb.mss)) - (tsOn ? TS_OPT_LEN : 0);
    const fit = Math.min(tsOn ? 3 : 4, Math.max(0, Math.floor((room - 4) / 8)));
    if (fit > 0) o.sackCount = buildSackBlocks(pcb, o.sackBlocks, fit);
    else sackLeftOut = true;
  }
  const optLen = o.mss || o.wscale >= 0 || o.sackPermitted || o.hasTimestamp || o.sackCount ? tcpOptionsLength(o) : 0;
  const hl = TCP_HEADER_LEN + optLen;

  let head: Pbuf;
  let inPlace = false;
  if (data !== null && data.addHeader(hl)) {
    head = data;
    inPlace = true;
  } else {
    const h = tcp.pool.alloc(PbufLayer.IP, hl, PbufType.RAM, PbufUse.CONTROL);
    if (h === null) {
      tcp.stats.memerr++;
      return Err.MEM;
    }
    if (data !== null) h.chain(data);
    head = h;
  }

  const v = tcp.outView.wrap(head.buf, head.off, hl);
  v.srcPort = pcb.localPort;
  v.dstPort = pcb.remotePort;
  v.seq = seq;
  const withAck = pcb.state !== TcpState.SYN_SENT;
  v.ack = withAck ? pcb.rcvNxt : 0;
  v.dataOffset = hl >>> 2;
  v.reserved = 0; // header room is recycled memory: the view's setters keep the other bits
  v.flags = segFlags | (withAck ? TcpFlag.ACK : 0);
  v.window = announceWindow(pcb, syn);
  v.checksum = 0;
  v.urgent = 0;
  if (optLen > 0) emitTcpOptions(o, head.buf, head.off + TCP_HEADER_LEN);
  // Data not summed yet (tcp.ip.txCsumOffload): the checksum is left to the device (or to IP).
  if (dataLen > 0 && dataSum < 0) head.flags |= PbufFlag.CSUM_PARTIAL;
  else v.checksum = ~foldSum(tcp.ip.pseudoSum(pcb.localIp, pcb.remoteIp, IpProtocol.TCP, hl + dataLen) + onesSum(head.buf, head.off, hl) + (dataLen > 0 ? dataSum : 0)) & 0xffff;

  // A super-segment goes out whole; the device cuts it into MSS-sized segments.
  const mss = maxPayload(pcb);
  head.gsoSize = dataLen > mss ? mss : 0;
  const err = tcp.ip.output(head, pcb.localIp, pcb.remoteIp, IpProtocol.TCP, tcp.config.ttl, 0, tcp.config.dontFragment && !pcb.pmtuFloored, pcb.flowLabel);
  head.gsoSize = 0;
  head.flags &= ~PbufFlag.CSUM_PARTIAL;
  if (inPlace) head.removeHeader(hl);
  else head.free();
  if (err !== Err.OK) {
    tcp.stats.err++;
    return err === Err.MEM ? Err.MEM : Err.OK; // a route/link failure is a loss: retransmission handles it
  }
  tcp.stats.xmit++;
  tcp.counters.outSegs++;
  pcb.counters.segsOut++;
  if (withAck) {
    // Every segment carries our ACK: nothing is owed any more.
    // An immediate ACK whose SACK blocks did not fit stays owed: output() sends it bare.
    pcb.flags &= ~(PcbFlag.ACK_DELAY | (sackLeftOut ? 0 : PcbFlag.ACK_NOW) | PcbFlag.WND_UPDATE);
    pcb.deadlines.cancel(Deadline.DELACK);
    pcb.rcvUnacked = 0;
    pcb.tsLastAckSent = pcb.rcvNxt;
    // buildSackBlocks put the D-SACK first: reported once, now.
    if (pcb.dsackPending && o.sackCount > 0) dsackSent(tcp, pcb);
  }
  return Err.OK;
}

/** A D-SACK went out: count it as Linux does (below RCV.NXT or in the out-of-order queue) and forget it. */
function dsackSent(tcp: Tcp, pcb: TcpPcb): void {
  if (seqLt(pcb.dsackLeft, pcb.rcvNxt)) tcp.counters.dsackOldSent++;
  else tcp.counters.dsackOfoSent++;
  pcb.dsackPending = false;
}

/** The window field for a segment: unscaled in SYNs (RFC 7323 §2.2). */
function announceWindow(pcb: TcpPcb, syn: boolean): number {
  if (syn) {
    pcb.rcvAnnWnd = Math.min(pcb.rcvWnd, 0xffff);
    pcb.rcvAnnRightEdge = seqAdd(pcb.rcvNxt, pcb.rcvAnnWnd);
    return pcb.rcvAnnWnd;
  }
  updateRcvAnnWnd(pcb);
  const field = Math.min(pcb.rcvAnnWnd >>> pcb.rcvScale, 0xffff);
  const edge = seqAdd(pcb.rcvNxt, field << pcb.rcvScale);
  if (seqGt(edge, pcb.rcvAnnRightEdge)) pcb.rcvAnnRightEdge = edge;
  return field;
}


/**
 * A RST not tied to a PCB (lwIP tcp_rst): for segments to closed ports and
 * unacceptable ACKs. `withAck` sets the ACK bit with `ack`.
 */
export function sendRst(tcp: Tcp, localIp: IpAddr, remoteIp: IpAddr, localPort: number, remotePort: number, seq: number, ack: number, withAck: boolean): void {
  const p = tcp.pool.alloc(PbufLayer.IP, TCP_HEADER_LEN, PbufType.RAM, PbufUse.CONTROL);
  if (p === null) {
    tcp.stats.memerr++;
    return;
  }
  const v = tcp.outView.wrap(p.buf, p.off, TCP_HEADER_LEN);
  v.srcPort = localPort;
  v.dstPort = remotePort;
  v.seq = seq;
  v.ack = withAck ? ack : 0;
  v.dataOffset = 5;
  v.reserved = 0;
  v.flags = TcpFlag.RST | (withAck ? TcpFlag.ACK : 0);
  v.window = 0;
  v.checksum = 0;
  v.urgent = 0;
  v.fillChecksumFrom(tcp.ip.pseudoSum(localIp, remoteIp, IpProtocol.TCP, TCP_HEADER_LEN));
  const err = tcp.ip.output(p, localIp, remoteIp, IpProtocol.TCP, tcp.config.ttl, 0, false, tcp.isn.flowLabel(localIp, localPort, remoteIp, remotePort));
  p.free();
  if (err === Err.OK) {
    tcp.stats.xmit++;
    tcp.counters.outSegs++;
    tcp.counters.outRsts++;
  }
}

/**
 * A SYN-ACK not tied to a PCB: the answer to a SYN when SYN cookies stand
 * in for the half-open connection (syncookie.ts). `o` is tcp.outOpts,
 * filled by the caller with what the SYN-ACK offers.
 */
export function sendStatelessSynAck(tcp: Tcp, localIp: IpAddr, remoteIp: IpAddr, localPort: number, remotePort: number, iss: number, ack: number, window: number): void {
  const o = tcp.outOpts;
  o.sackCount = 0;
  const hl = TCP_HEADER_LEN + tcpOptionsLength(o);
  const p = tcp.pool.alloc(PbufLayer.IP, hl, PbufType.RAM, PbufUse.CONTROL);
  if (p === null) {
    tcp.stats.memerr++;
    return;
  }
  const v = tcp.outView.wrap(p.buf, p.off, hl);
  v.srcPort = localPort;
  v.dstPort = remotePort;
  v.seq = iss;
  v.ack = ack;
  v.dataOffset = hl >>> 2;
  v.reserved = 0;
  v.flags = TcpFlag.SYN | TcpFlag.ACK;
  v.window = window;
  v.checksum = 0;
  v.urgent = 0;
  emitTcpOptions(o, p.buf, p.off + TCP_HEADER_LEN);
  v.fillChecksumFrom(tcp.ip.pseudoSum(localIp, remoteIp, IpProtocol.TCP, hl));
  const err = tcp.ip.output(p, localIp, remoteIp, IpProtocol.TCP, tcp.config.ttl, 0, tcp.config.dontFragment, tcp.isn.flowLabel(localIp, localPort, remoteIp, remotePort));
  p.free();
  if (err === Err.OK) {
    tcp.stats.xmit++;
    tcp.counters.outSegs++;
  }
}

// Per-PCB timers. Each PCB has one clock timer set to its earliest
// deadline (RTO, persist, delayed ACK, keepalive, FIN_WAIT_2, poll,
// refused-data retry); a PCB with nothing pending schedules nothing, so an
// idle stack has no timers at all. TIME_WAIT expiry is one timer for the
// whole layer (tcp.ts).
import { Err } from '../err.ts';
import { hasRefused, offerRefused } from './input.ts';
import { output, persistInterval, retransmitSeg, sendProbe, sendPersistSegment } from './output.ts';
import { RecoveryMode, type TcpPcb } from './pcb.ts';
import { markAllLost } from './sack.ts';
import { seqAdd, seqDiff } from './seq.ts';
import { PcbFlag, TcpState } from './state.ts';
import type { Tcp } from './tcp.ts';

export function onPcbTimer(tcp: Tcp, pcb: TcpPcb): void {
  if (pcb.freed) return;
  const now = tcp.clock.now();
  if (pcb.delackAt >= 0 && pcb.delackAt <= now) {
    pcb.delackAt = -1;
    if (pcb.flags & PcbFlag.ACK_DELAY) pcb.flags |= PcbFlag.ACK_NOW;
  }
  if (pcb.refusedAt >= 0 && pcb.refusedAt <= now) {
    pcb.refusedAt = -1;
    if (hasRefused(pcb) && offerRefused(tcp, pcb) === Err.ABRT) return;
    if (pcb.freed) return;
  }
  if (pcb.state === TcpState.TIME_WAIT) {
    // Refused data held TIME_WAIT back (input.ts finishInput): enter it
    // once the data is taken, keep retrying until then.
    if (!hasRefused(pcb)) {
      tcp.enterTimeWait(pcb);
    } else {
      // Only the retry is due in TIME_WAIT (this also keeps a stale deadline from spinning).
      pcb.rtoAt = pcb.persistAt = pcb.keepAt = pcb.finWait2At = pcb.pollAt = pcb.synRcvdAt = -1;
      tcp.armTimer(pcb);
    }
    return;
  }
  const ut = tcp.userTimeoutAt(pcb);
  if (ut >= 0 && ut <= now) {
    // RFC 5482: nothing acknowledged for the user timeout (retransmitting
    // to a lost peer, or probing a window that never opens).
    tcp.counters.userTimeouts++;
    tcp.abandon(pcb, true, Err.TIMEOUT);
    return;
  }
  if (pcb.rtoAt >= 0 && pcb.rtoAt <= now) {
    pcb.rtoAt = -1;
    onRto(tcp, pcb, now);
    if (pcb.freed) return;
  }
  if (pcb.persistAt >= 0 && pcb.persistAt <= now) {
    pcb.persistAt = -1;
    onPersist(tcp, pcb, now);
    if (pcb.freed) return;
  }
  if (pcb.keepAt >= 0 && pcb.keepAt <= now) {
    pcb.keepAt = -1;
    onKeepalive(tcp, pcb, now);
    if (pcb.freed) return;
  }
  if (pcb.finWait2At >= 0 && pcb.finWait2At <= now) {
    pcb.finWait2At = -1;
    if (pcb.state === TcpState.FIN_WAIT_2) {
      // The application closed and the peer never sent its FIN (lwIP TCP_FIN_WAIT_TIMEOUT).
      tcp.abandon(pcb, false, Err.ABRT);
      return;
    }
  }
  if (pcb.pollAt >= 0 && pcb.pollAt <= now) {
    pcb.pollAt = -1;
    tcp.runPoll(pcb);
    if (pcb.freed) return;
  }
  output(tcp, pcb);
}

/** Retransmission timeout (RFC 6298 §5, RFC 5681 §3.1, RFC 6675 §5.1). */
function onRto(tcp: Tcp, pcb: TcpPcb, now: number): void {
  const head = pcb.unacked.head;
  if (head === null) return;
  const cfg = tcp.config;
  const limit = pcb.state === TcpState.SYN_SENT ? cfg.synRetries : pcb.state === TcpState.SYN_RCVD ? cfg.synAckRetries : cfg.maxRetransmits;
  if (pcb.nrtx >= limit) {
    giveUp(tcp, pcb);
    return;
  }
  pcb.nrtx++;
  pcb.counters.rtoCount++;
  tcp.counters.rtoTimeouts++;
  // ssthresh only shrinks on the first timeout of an episode (RFC 5681 eq. 4 note).
  if (pcb.recovery !== RecoveryMode.RTO) pcb.cc.onRto(pcb);
  else pcb.cwnd = pcb.mss;
  pcb.rtt.backoff();
  markAllLost(pcb);
  pcb.recovery = RecoveryMode.RTO;
  pcb.recoverySeq = pcb.sndMax;
  pcb.dupAcks = 0;
  retransmitSeg(tcp, pcb, head, now);
}

/** Retransmissions exhausted: the connection is dead. */
function giveUp(tcp: Tcp, pcb: TcpPcb): void {
  if (pcb.state === TcpState.SYN_SENT) tcp.counters.attemptFails++;
  if (pcb.state === TcpState.SYN_RCVD && pcb.listener !== null) {
    // Never accepted: the application never saw it.
    tcp.counters.attemptFails++;
    tcp.freePcb(pcb);
    return;
  }
  tcp.abandon(pcb, false, pcb.softError !== 0 ? pcb.softError : Err.TIMEOUT);
}

/**
 * Persist timer (RFC 9293 §3.8.6.1): the window is too small for the next
 * segment and nothing is in flight. If some window is open, send what fits
 * (the SWS override timeout, §3.8.6.2.1); otherwise probe it.
 */
function onPersist(tcp: Tcp, pcb: TcpPcb, now: number): void {
  const head = pcb.unsent.head;
  if (head === null || !pcb.unacked.empty) {
    pcb.persistBackoff = 0;
    pcb.persistProbes = 0;
    return;
  }
  if (pcb.persistProbes >= tcp.config.maxRetransmits) {
    // Probes unanswered for a long time: the peer is gone.
    tcp.abandon(pcb, false, Err.TIMEOUT);
    return;
  }
  const room = seqDiff(seqAdd(pcb.sndUna, pcb.sndWnd), head.seq);
  if (room > 0) {
    sendPersistSegment(tcp, pcb, room, now);
  } else {
    pcb.persistProbes++;
    sendProbe(tcp, pcb);
  }
  if (pcb.persistBackoff < 16) pcb.persistBackoff++;
  if (!pcb.unsent.empty && pcb.unacked.empty) pcb.persistAt = now + persistInterval(tcp, pcb);
}

/** Keepalive (RFC 1122 §4.2.3.6): probe an idle peer, give up after keepCnt unanswered probes. */
function onKeepalive(tcp: Tcp, pcb: TcpPcb, now: number): void {
  if (pcb.state !== TcpState.ESTABLISHED && pcb.state !== TcpState.CLOSE_WAIT) return;
  if (pcb.keepProbes >= pcb.keepCnt) {
    tcp.abandon(pcb, true, Err.TIMEOUT);
    return;
  }
  pcb.keepProbes++;
  sendProbe(tcp, pcb);
  pcb.keepAt = now + pcb.keepIntvl;
}

// Per-PCB timers. Each PCB has one clock timer set to the earliest of its
// deadlines (deadlines.ts); a PCB with nothing pending schedules nothing, so
// an idle stack has no timers at all. TIME_WAIT expiry is one timer for the
// whole layer (tcp.ts).
import { Err } from '../err.ts';
import { enterRecovery, hasRefused, offerRefused } from './input.ts';
import { maxPayload, output, persistInterval, retransmitSeg, sendNewProbe, sendProbe, sendPersistSegment, splitSeg } from './output.ts';
import { rackDetectLoss, rackReoWnd } from './rack.ts';
import { tlpSent, tlpStillWanted } from './tlp.ts';
import { undoBegin } from './undo.ts';
import { Deadline, DEADLINE_COUNT } from './deadlines.ts';
import { RecoveryMode, type TcpPcb } from './pcb.ts';
import { markAllLost } from './sack.ts';
import { seqAdd, seqDiff } from './seq.ts';
import { PcbFlag, TcpState } from './state.ts';
import type { Tcp } from './tcp.ts';

/** A deadline's handler; returns false when the PCB is gone (nothing more may run). */
type Handler = (tcp: Tcp, pcb: TcpPcb, now: number) => boolean;

/**
 * What each deadline does when it fires, in Deadline order. The user
 * timeout and TIME_WAIT held back by refused data are checked between
 * REFUSED and RTO (see onPcbTimer).
 */
const HANDLERS: readonly (Handler | null)[] = (() => {
  const h: (Handler | null)[] = new Array<Handler | null>(DEADLINE_COUNT).fill(null);
  h[Deadline.DELACK] = (_tcp, pcb) => {
    if (pcb.flags & PcbFlag.ACK_DELAY) pcb.flags |= PcbFlag.ACK_NOW;
    return true;
  };
  h[Deadline.REFUSED] = (tcp, pcb) => !(hasRefused(pcb) && offerRefused(tcp, pcb) === Err.ABRT) && !pcb.freed;
  h[Deadline.RTO] = (tcp, pcb, now) => {
    onRto(tcp, pcb, now);
    return !pcb.freed;
  };
  h[Deadline.REORDER] = (tcp, pcb, now) => {
    onReorderTimer(tcp, pcb, now);
    return !pcb.freed;
  };
  h[Deadline.TLP] = (tcp, pcb, now) => {
    onTlp(tcp, pcb, now);
    return !pcb.freed;
  };
  h[Deadline.PACE] = () => true; // output() below sends what pacing held back
  h[Deadline.PERSIST] = (tcp, pcb, now) => {
    onPersist(tcp, pcb, now);
    return !pcb.freed;
  };
  h[Deadline.KEEPALIVE] = (tcp, pcb, now) => {
    onKeepalive(tcp, pcb, now);
    return !pcb.freed;
  };
  h[Deadline.FIN_WAIT_2] = (tcp, pcb) => {
    if (pcb.state !== TcpState.FIN_WAIT_2) return true;
    // The application closed and the peer never sent its FIN (lwIP TCP_FIN_WAIT_TIMEOUT).
    tcp.abandon(pcb, false, Err.ABRT);
    return false;
  };
  h[Deadline.POLL] = (tcp, pcb) => {
    tcp.runPoll(pcb);
    return !pcb.freed;
  };
  return h;
})();

/** The PCB's clock timer fired: run every due deadline in Deadline order, then output. */
export function onPcbTimer(tcp: Tcp, pcb: TcpPcb): void {
  if (pcb.freed) return;
  const now = tcp.clock.now();
  const dl = pcb.deadlines;
  for (let d = 0 as Deadline; d < DEADLINE_COUNT; d++) {
    if (d === Deadline.RTO && !beforeRetransmitTimers(tcp, pcb, now)) return;
    if (dl.take(d, now) && !HANDLERS[d]!(tcp, pcb, now)) return;
  }
  output(tcp, pcb);
}

/**
 * Between the ACK/refused-data deadlines and the rest: TIME_WAIT held back
 * by refused data (only the retry runs), and the user timeout. Returns
 * false when nothing more may run.
 */
function beforeRetransmitTimers(tcp: Tcp, pcb: TcpPcb, now: number): boolean {
  if (pcb.state === TcpState.TIME_WAIT) {
    // Refused data held TIME_WAIT back (input.ts finishInput): enter it
    // once the data is taken, keep retrying until then.
    if (!hasRefused(pcb)) {
      tcp.enterTimeWait(pcb);
    } else {
      // Only the retry is due in TIME_WAIT (this also keeps a stale deadline from spinning).
      pcb.deadlines.cancelAll(Deadline.REFUSED);
      tcp.armTimer(pcb);
    }
    return false;
  }
  const ut = tcp.userTimeoutAt(pcb);
  if (ut >= 0 && ut <= now) {
    // RFC 5482: nothing acknowledged for the user timeout (retransmitting
    // to a lost peer, or probing a window that never opens).
    tcp.counters.userTimeouts++;
    tcp.abandon(pcb, true, Err.TIMEOUT);
    return false;
  }
  return true;
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
  // A new loss episode (not a further timeout of one): remember the window
  // in case the timeout proves spurious (Eifel / D-SACK undo).
  if (pcb.recovery === RecoveryMode.NONE && pcb.state !== TcpState.SYN_SENT && pcb.state !== TcpState.SYN_RCVD && tcp.config.undo) undoBegin(pcb, true);
  if (pcb.tlpActive) pcb.tlp.active = false;
  pcb.deadlines.cancel(Deadline.TLP);
  pcb.deadlines.cancel(Deadline.REORDER);
  // F-RTO (RFC 5682) on the first timeout of an episode, in the data states.
  const st = pcb.state;
  pcb.frto = tcp.config.frto && tcp.config.undo && pcb.recovery !== RecoveryMode.RTO && (st === TcpState.ESTABLISHED || st === TcpState.CLOSE_WAIT) ? 1 : 0;
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
  if (!pcb.unsent.empty && pcb.unacked.empty) pcb.deadlines.arm(Deadline.PERSIST, now + persistInterval(tcp, pcb));
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
  pcb.deadlines.arm(Deadline.KEEPALIVE, now + pcb.keepIntvl);
}

/** RACK's reordering window ran out (RFC 8985 §6.3): what time now shows lost starts recovery. */
function onReorderTimer(tcp: Tcp, pcb: TcpPcb, now: number): void {
  if (pcb.unacked.empty || !tcp.config.rack || (pcb.flags & PcbFlag.SACK) === 0) return;
  const before = pcb.counters.rackLosses;
  const marked = rackDetectLoss(pcb, now, rackReoWnd(pcb, tcp.config.dupThresh, pcb.recovery !== RecoveryMode.NONE));
  tcp.counters.rackLosses += pcb.counters.rackLosses - before;
  if (marked > 0 && pcb.recovery === RecoveryMode.NONE) enterRecovery(tcp, pcb, true, now);
}

/**
 * The probe timeout (RFC 8985 §7.3): send one new segment if the window
 * allows, else the last segment again, and let the RTO stand behind it.
 */
function onTlp(tcp: Tcp, pcb: TcpPcb, now: number): void {
  if (!tlpStillWanted(pcb)) return;
  const seq = pcb.unsent.head?.seq ?? 0;
  let isRetrans = false;
  let probeSeq = seq;
  if (!sendNewProbe(tcp, pcb, now)) {
    const tail = pcb.unacked.tail;
    if (tail === null) return;
    // The last MSS of the flight: what was sent last, most likely lost with the tail.
    let seg = tail;
    if (seg.len > maxPayload(pcb)) {
      splitSeg(tcp, pcb, pcb.unacked, seg, seg.len - maxPayload(pcb));
      seg = pcb.unacked.tail!;
    }
    if (retransmitSeg(tcp, pcb, seg, now) !== Err.OK) return;
    isRetrans = true;
    probeSeq = seg.seq;
  }
  tlpSent(pcb, isRetrans, probeSeq);
  tcp.counters.lossProbes++;
  pcb.deadlines.arm(Deadline.RTO, now + pcb.rtt.currentRto());
}

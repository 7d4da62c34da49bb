// RACK (RFC 8985 §6): time-based loss detection. A segment is lost when a
// segment sent after it has been delivered (ACKed or SACKed) and more than
// RACK.rtt + reo_wnd has passed since it was sent. Reordering shorter than
// the reordering window never looks like loss; the window starts at
// min_RTT/4, is used only once reordering has been seen, and grows with
// each D-SACK round (a retransmission turned out to be spurious).
// Used whenever SACK is negotiated and TcpConfig.rack is on.
import { Deadline } from './deadlines.ts';
import type { TcpPcb } from './pcb.ts';
import { markSegLost } from './sack.ts';
import type { TcpSeg } from './segment.ts';
import { seqGeq, seqGt, seqLt } from './seq.ts';
import { tsNow } from './tsclock.ts';

/** Per-connection RACK state (RFC 8985 §6.1 names in comments). */
export class RackState {
  /** RACK.xmit_ts: send time of the most recently sent segment that was delivered; -1 before any. */
  xmitTs = -1;
  /** Its transmission order (TcpSeg.sentOrder): what RACK.end_seq breaks ties with in RFC 8985. */
  order = 0;
  /** RACK.rtt: RTT of that segment, ms. */
  rtt = 0;
  /** Highest end sequence delivered (the forward-most SACK), for reordering detection. */
  fack = 0;
  /** fack before the ACK being processed (its blocks come newest first, not in sequence order). */
  priorFack = 0;
  /** RACK.reordering_seen. */
  reorderingSeen = false;
  /** RACK.reo_wnd_mult. */
  reoWndMult = 1;
  /** RACK.reo_wnd_persist: recoveries left before the multiplier resets. */
  reoWndPersist = 0;
  /** RACK.dsack_round: D-SACKs grow the window at most once per round trip (until SND.UNA passes this). */
  dsackRound = 0;
  dsackRoundOn = false;
}

// RACK_sent_after: RFC 8985 compares send times and breaks ties by end
// sequence, which misorders a retransmission sent in the same clock tick
// as new data of higher sequence. The transmission order (sentOrder) is the
// exact answer, so it is compared instead.

/**
 * A segment was newly delivered (cumulatively ACKed or SACKed): update
 * RACK.rtt / xmit_ts / end_seq (RFC 8985 §6.2 step 2) and detect
 * reordering (step 3). `tsEcr` is the ACK's timestamp echo, -1 without one.
 */
export function rackDelivered(pcb: TcpPcb, seg: TcpSeg, now: number, tsEcr: number): void {
  const r = pcb.rack;
  const end = seg.end;
  if (!seg.everRetransmitted && seqLt(end, r.priorFack)) {
    // Delivered below data sent after it and delivered earlier: reordering.
    if (!r.reorderingSeen) {
      r.reorderingSeen = true;
      pcb.counters.reorderSeen++;
    }
  }
  if (seqGt(end, r.fack)) r.fack = end;
  const rtt = now - seg.sentAt;
  if (seg.everRetransmitted) {
    // Which copy does this ACK answer? An echo older than the last copy, or
    // an RTT shorter than any real one, means an earlier copy.
    if ((tsEcr >= 0 && seqLt(tsEcr, tsNow(pcb, seg.sentAt))) || rtt < pcb.minRtt) return;
  }
  r.rtt = rtt;
  // Every unambiguous delivery is an RTT sample for min_RTT (SACKed ones too, as Linux's tcp_min_rtt).
  if (!seg.everRetransmitted && (pcb.minRtt === 0 || rtt < pcb.minRtt)) pcb.minRtt = Math.max(rtt, 0.001);
  if (r.xmitTs < 0 || seg.sentOrder > r.order) {
    r.xmitTs = seg.sentAt;
    r.order = seg.sentOrder;
  }
}

/**
 * RACK.reo_wnd (RFC 8985 §6.2 step 4). Before any reordering is seen it is
 * 0 in recovery and once DupThresh segments are SACKed (so RACK is never
 * slower than RFC 6675's dupack rule); otherwise min_RTT/4 times the
 * multiplier, at most SRTT.
 */
export function rackReoWnd(pcb: TcpPcb, dupThresh: number, inRecovery: boolean): number {
  const r = pcb.rack;
  if (!r.reorderingSeen && (inRecovery || pcb.sackedBytes > (dupThresh - 1) * pcb.mss)) return 0;
  const w = (r.reoWndMult * pcb.minRtt) / 4;
  const srtt = pcb.rtt.srtt;
  return srtt > 0 && w > srtt ? srtt : w;
}

/**
 * A retransmission proved spurious: a D-SACK arrived (RFC 8985 §6.2 step
 * 4), or timestamps showed it (Eifel undo -- our addition, so a peer that
 * sends no D-SACKs still widens the window). Widen the reordering window,
 * once per round trip. `undone`: a whole recovery episode was undone, so
 * the holes were filled by the originals, late: that is reordering seen
 * (Linux's tcp_try_undo_partial checks reordering the same way). Without
 * it, a reordered segment that is always retransmitted before its late
 * original is reported never counts as reordering (only never-retransmitted
 * segments do, step 3), and the window stays 0 in every recovery.
 */
export function rackOnSpurious(pcb: TcpPcb, undone = false): void {
  const r = pcb.rack;
  if (undone && !r.reorderingSeen) {
    r.reorderingSeen = true;
    pcb.counters.reorderSeen++;
  }
  if (r.dsackRoundOn && seqGeq(pcb.sndUna, r.dsackRound)) r.dsackRoundOn = false;
  if (r.dsackRoundOn) return;
  r.dsackRoundOn = true;
  r.dsackRound = pcb.sndNxt;
  r.reoWndMult++;
  r.reoWndPersist = 16;
}

/** Loss recovery ended: after 16 recoveries without D-SACKs the window shrinks back (RFC 8985 §6.2 step 4). */
export function rackOnRecoveryEnd(pcb: TcpPcb): void {
  const r = pcb.rack;
  if (r.reoWndPersist > 0 && --r.reoWndPersist === 0) r.reoWndMult = 1;
}

/**
 * RACK_detect_loss (RFC 8985 §6.2 step 5): mark lost every outstanding,
 * un-SACKed segment sent before RACK.xmit_ts whose time is up, and arm
 * the reordering timer for the earliest one whose time is not. Returns the
 * bytes newly marked lost.
 */
export function rackDetectLoss(pcb: TcpPcb, now: number, reoWnd: number): number {
  const r = pcb.rack;
  if (r.xmitTs < 0) return 0;
  let marked = 0;
  let wait = 0;
  for (let s = pcb.unacked.head; s !== null; s = s.next) {
    if (s.sacked || (s.lost && !s.retransmitted)) continue;
    if (s.sentOrder >= r.order) {
      // Sent after the newest delivered segment: so is every later
      // original (segments in sequence order were first sent in order, and
      // a later retransmission was sent later still).
      if (!s.everRetransmitted) break;
      continue;
    }
    const remaining = s.sentAt + r.rtt + reoWnd - now;
    if (remaining <= 0) {
      markSegLost(pcb, s);
      marked += s.tcplen;
      pcb.counters.rackLosses++;
    } else if (remaining > wait) {
      wait = remaining;
    }
  }
  if (wait > 0) pcb.deadlines.arm(Deadline.REORDER, now + wait);
  else pcb.deadlines.cancel(Deadline.REORDER);
  return marked;
}

// Tail Loss Probe (RFC 8985 §7). When the last segments of a flight are
// lost no ACK comes back to trigger recovery, and only the RTO (at least
// 200 ms, often far more) would find them. Instead, 2*SRTT after the last
// transmission with nothing heard, one probe goes out: a new segment if
// there is one, else the last segment again. Its ACK (with SACK) lets RACK
// find the losses and recover them by fast recovery.
import { Deadline } from './deadlines.ts';
import type { TcpPcb } from './pcb.ts';
import { RecoveryMode } from './pcb.ts';
import { seqGeq, seqGt } from './seq.ts';
import { PcbFlag, TcpState } from './state.ts';

/** RFC 8985 §7.2 WCDelAckT: the worst-case delayed ACK of a peer holding one segment. */
export const TLP_WC_DELACK_MS = 200;
/**
 * Slack added to 2*SRTT when more than one segment is in flight (Linux's
 * TCP_TIMEOUT_MIN, 2 ms): where the RTT is tens of microseconds (a TUN to
 * the local kernel, a LAN, a simulated link with no delay), 2*SRTT is
 * shorter than the peer's scheduling and ACK processing jitter, and
 * probes would go out for segments that were never lost.
 */
export const TLP_MIN_SLACK_MS = 2;

export class TlpState {
  /** TLP.end_seq: SND.NXT when the probe went out (valid while `active`). */
  endSeq = 0;
  /** A probe is outstanding (only one at a time). */
  active = false;
  /** The probe was a retransmission (else new data). */
  isRetrans = false;
  /** First sequence number the probe carried (to recognise its D-SACK). */
  probeSeq = 0;
}

/** May a probe be scheduled now (RFC 8985 §7.2)? */
function eligible(pcb: TcpPcb): boolean {
  const st = pcb.state;
  return (
    (pcb.flags & PcbFlag.SACK) !== 0 &&
    (st === TcpState.ESTABLISHED || st === TcpState.CLOSE_WAIT || st === TcpState.FIN_WAIT_1 || st === TcpState.CLOSING || st === TcpState.LAST_ACK) &&
    !pcb.unacked.empty &&
    pcb.recovery === RecoveryMode.NONE &&
    pcb.lostBytes === 0 &&
    !pcb.tlpActive &&
    pcb.rtt.srtt > 0
  );
}

/**
 * Arm the probe timeout after new data went out or an ACK acknowledged new
 * data: PTO = 2*SRTT plus the peer's worst-case delayed ACK when one
 * segment is in flight, else plus TLP_MIN_SLACK_MS; never later than the
 * RTO would have fired.
 */
export function tlpArm(pcb: TcpPcb, now: number): void {
  if (!eligible(pcb)) {
    pcb.deadlines.cancel(Deadline.TLP);
    return;
  }
  let pto = 2 * pcb.rtt.srtt;
  pto += pcb.unacked.count === 1 && pcb.inFlight <= pcb.mss ? TLP_WC_DELACK_MS : TLP_MIN_SLACK_MS;
  let at = now + pto;
  const rtoAt = pcb.deadlines.get(Deadline.RTO);
  if (rtoAt >= 0 && at >= rtoAt) {
    // The RTO would come first: the probe takes its place (as Linux's
    // probe timer replaces the retransmission timer), and the RTO moves
    // behind it -- a probe, not a collapse of cwnd to one segment.
    at = rtoAt;
    pcb.deadlines.arm(Deadline.RTO, rtoAt + pcb.rtt.currentRto());
  }
  if (at < now) at = now;
  pcb.deadlines.arm(Deadline.TLP, at);
}

/** Is a probe still wanted when its timer fires? */
export function tlpStillWanted(pcb: TcpPcb): boolean {
  return eligible(pcb);
}

/** A probe went out: remember where the flight ended (TLP.end_seq). */
export function tlpSent(pcb: TcpPcb, isRetrans: boolean, probeSeq: number): void {
  pcb.tlp.active = true;
  pcb.tlp.probeSeq = probeSeq;
  pcb.tlp.isRetrans = isRetrans;
  pcb.tlp.endSeq = pcb.sndNxt;
  pcb.counters.lossProbes++;
}

/** What an ACK says about the outstanding probe (RFC 8985 §7.4). */
export const TlpVerdict = {
  /** Nothing decided yet (or no probe). */
  NONE: 0,
  /** The probe did not repair a loss (new data, or a D-SACK for it): nothing to do. */
  NO_LOSS: 1,
  /** The probe repaired a loss the peer never reported: reduce the window as for a loss. */
  LOSS: 2,
} as const;
export type TlpVerdict = (typeof TlpVerdict)[keyof typeof TlpVerdict];

/**
 * An acceptable ACK arrived with an outstanding probe. `dsackProbe`: it
 * carries a D-SACK for the probe's data; `progress`: it advanced SND.UNA,
 * SACKed new data or carried data.
 */
export function tlpOnAck(pcb: TcpPcb, ack: number, dsackProbe: boolean, progress: boolean): TlpVerdict {
  const t = pcb.tlp;
  if (!t.active || !seqGeq(ack, t.endSeq)) return TlpVerdict.NONE;
  if (!t.isRetrans || dsackProbe) {
    t.active = false;
    return TlpVerdict.NO_LOSS;
  }
  if (seqGt(ack, t.endSeq)) {
    // Data beyond the probe is acknowledged and no D-SACK came for it: the
    // probe itself filled a hole.
    t.active = false;
    return TlpVerdict.LOSS;
  }
  if (!progress) {
    // A pure duplicate ACK at the probe's end: the probe's fate stays unknown; stop waiting.
    t.active = false;
    return TlpVerdict.NO_LOSS;
  }
  return TlpVerdict.NONE;
}

// Undoing a congestion response that was not needed (RFC 3522 Eifel
// detection with timestamps, RFC 2883 §5 / RFC 3708 with D-SACKs, RFC 5682's
// aim for RTOs). A recovery episode remembers cwnd and ssthresh from before
// it; if every retransmission of the episode proves spurious (the peer had
// the original: its ACK echoes a timestamp from before our first
// retransmission, or a D-SACK reports each retransmitted segment twice)
// the window is restored and the episode ends.
import type { TcpPcb } from './pcb.ts';
import { seqGeq, seqLt } from './seq.ts';

export class UndoState {
  /** An episode's retransmissions can still be proved spurious. */
  active = false;
  /** SND.UNA when the episode began (D-SACKs below it are for older data). */
  marker = 0;
  /** Retransmitted segments of the episode not yet reported by a D-SACK. */
  retrans = 0;
  priorCwnd = 0;
  priorSsthresh = 0;
  /** Our TSval on the episode's first retransmission (valid when stampSet). */
  stamp = 0;
  stampSet = false;
  /** The episode began with a retransmission timeout. */
  fromRto = false;
  /** After the episode ended, D-SACKs may still undo it until SND.UNA reaches this. */
  until = 0;
}

/** A loss episode (fast recovery or RTO) begins: remember the window to go back to. */
export function undoBegin(pcb: TcpPcb, fromRto: boolean): void {
  const u = pcb.undo;
  u.fromRto = fromRto;
  u.until = pcb.sndUna;
  u.active = true;
  u.marker = pcb.sndUna;
  u.retrans = 0;
  u.priorCwnd = pcb.cwnd;
  u.priorSsthresh = pcb.ssthresh;
  u.stampSet = false;
}

/** A segment of the episode was retransmitted with TSval `tsVal`. */
export function undoNoteRetransmit(pcb: TcpPcb, segs: number, tsVal: number): void {
  const u = pcb.undo;
  if (!u.active) return;
  u.retrans += segs;
  if (!u.stampSet) {
    u.stamp = tsVal;
    u.stampSet = true;
  }
}

/**
 * Eifel (RFC 3522): does this ACK's echo predate our first retransmission?
 * Then the peer answered an original: the retransmissions were spurious.
 */
export function undoByTimestamp(pcb: TcpPcb, tsEcr: number): boolean {
  const u = pcb.undo;
  return u.active && u.stampSet && tsEcr !== 0 && seqLt(tsEcr, u.stamp);
}

/**
 * A D-SACK reported [left, right) twice: if it lies in the episode, that
 * many retransmissions were spurious. True when none is left unproved.
 */
export function undoByDsack(pcb: TcpPcb, left: number, right: number): boolean {
  const u = pcb.undo;
  if (!u.active || u.retrans <= 0 || !seqGeq(left, u.marker)) return false;
  const segs = Math.max(1, Math.ceil((right - left) / Math.max(1, pcb.mss)) >>> 0);
  u.retrans = Math.max(0, u.retrans - segs);
  return u.retrans === 0;
}

/** Put the window back as it was before the episode (Linux tcp_undo_cwnd_reduction). */
export function undoWindow(pcb: TcpPcb): void {
  const u = pcb.undo;
  if (u.priorSsthresh > pcb.ssthresh) pcb.ssthresh = u.priorSsthresh;
  if (u.priorCwnd > pcb.cwnd) pcb.cwnd = u.priorCwnd;
  u.active = false;
}

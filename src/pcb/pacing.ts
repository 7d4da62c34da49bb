// TCP pacing (Linux internal pacing / sch_fq in spirit): spread a burst
// over time at rate = max(cwnd, in flight) / SRTT x gain instead of sending
// it at line rate, so it does not land on a small bottleneck queue at once.
// Gain 2 in slow start, 1.2 otherwise (Linux tcp_pacing_ss_ratio /
// tcp_pacing_ca_ratio): pacing smooths, it does not slow the flow down.
//
// What is paced (measured against pacing all data, see docs/raw-api.md):
// - runs of sending not clocked by ACKs: after idle (nothing in flight),
//   after loss recovery ends, and while the flow does not fill cwnd
//   (receiver- or application-limited); a run ends once cwnd is full;
// - GSO super-segments: always at most one quantum (Linux
//   tcp_tso_autosize), so 64 KiB never hits a queue in one go.
// Sending during loss recovery is clocked by the ACKs (pipe) and not timed.
//
// The schedule is a GCRA (virtual scheduling): `pcb.paceAt` is when what
// was sent so far would have left at the rate. A segment may go while
// now >= paceAt - tau, tau being the time one quantum takes, so a quantum
// (max(2 segments, 1 ms at the rate)) leaves back to back per timer slot.
// Real timers fire at ~1 ms granularity, often late: the tolerance lets a
// late slot catch up instead of losing rate. Time is the stack's clock; no
// allocation.
import { Deadline } from './deadlines.ts';
import { RecoveryMode, type TcpPcb } from './pcb.ts';
import type { Tcp } from './tcp.ts';

/** Rate over cwnd/SRTT in slow start and otherwise (Linux: 200 %, 120 %). */
export const PACING_SS_GAIN = 2;
export const PACING_CA_GAIN = 1.2;
/** A quantum is this long at the rate (Linux sk_pacing_shift 10: ~1 ms), and at least two segments. */
export const PACING_QUANTUM_MS = 1;

/** Below this SRTT (ms) nothing is paced: no timer could space segments that finely. */
export const PACING_MIN_SRTT_MS = 0.001;

/**
 * The pacing rate in bytes per ms, or 0 for none (pacing off, no RTT
 * sample yet, or an SRTT of about 0 on a zero-delay link: samples of 0
 * shrink it geometrically towards the smallest doubles, and w / SRTT
 * would be Infinity).
 */
export function pacingRate(tcp: Tcp, pcb: TcpPcb): number {
  if (!tcp.config.pacing || pcb.rtt.samples === 0) return 0;
  const srtt = pcb.rtt.srtt;
  if (!(srtt >= PACING_MIN_SRTT_MS)) return 0;
  const r = pcb.recovery;
  const slowStart = pcb.cwnd < pcb.ssthresh && (r === RecoveryMode.NONE || r === RecoveryMode.RTO);
  // What is in flight may exceed a cwnd just cut by recovery: it drains at its own pace.
  const w = pcb.cwnd > pcb.inFlight ? pcb.cwnd : pcb.inFlight;
  return ((slowStart ? PACING_SS_GAIN : PACING_CA_GAIN) * w) / srtt;
}

/** Bytes that may leave back to back at `rate` (also the largest super-segment while pacing is on). */
export function pacingQuantum(mss: number, rate: number): number {
  const q = rate * PACING_QUANTUM_MS;
  return q > 2 * mss ? q : 2 * mss;
}

/**
 * Is a paced run on, so that sending is timed? Starts a run when nothing is
 * in flight or loss recovery just ended, ends it once cwnd is full. Call
 * once per output().
 */
export function pacingRun(pcb: TcpPcb): boolean {
  if (pcb.recovery !== RecoveryMode.NONE) {
    pcb.paceSawRecovery = true;
    pcb.paceRun = false;
    return false;
  }
  if (pcb.paceSawRecovery || pcb.inFlight === 0) {
    pcb.paceSawRecovery = false;
    pcb.paceRun = true;
  } else if (pcb.paceRun && pcb.inFlight >= pcb.cwnd) {
    pcb.paceRun = false;
  }
  return pcb.paceRun;
}

/**
 * Must the next segment wait (`rate` 0: not timed)? Then the PACE deadline
 * is set for when a whole quantum may go (the PCB's timer runs output()
 * then) and true returned.
 */
export function paceHold(tcp: Tcp, pcb: TcpPcb, now: number, rate: number, mss: number): boolean {
  if (rate <= 0) return false;
  const at = pcb.paceAt;
  const dl = pcb.deadlines;
  // Held only while provably early (a NaN from a degenerate rate sends
  // rather than re-arming the timer at now for ever).
  if (!(now < at - pacingQuantum(mss, rate) / rate)) {
    dl.cancel(Deadline.PACE); // an ACK ended the wait early
    return false;
  }
  // Counted once per wait: output() runs again on every ACK meanwhile.
  if (!dl.armed(Deadline.PACE)) tcp.counters.pacingDelayed++;
  dl.arm(Deadline.PACE, at);
  return true;
}

/** `len` bytes left at `now` (`rate` 0: not timed): move the schedule on. */
export function paceSent(pcb: TcpPcb, now: number, len: number, rate: number): void {
  if (rate <= 0) return;
  pcb.paceAt = (pcb.paceAt > now ? pcb.paceAt : now) + len / rate;
}

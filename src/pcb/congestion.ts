// Congestion control behind one small interface, and a registry so the stack
// config can pick an algorithm by name. The TCP engine owns loss detection,
// recovery bookkeeping (NewReno inflation, RFC 6675 pipe) and timers; a
// controller only decides cwnd and ssthresh at the moments listed below.
//
// One controller object per connection: it may keep per-connection state
// (CUBIC's W_max, K, epoch). TcpPcb makes it on first use (a connection
// idle since its handshake has none), so what init() leaves in the
// controller must not matter beyond c.sndNxt: the late init passes the
// same SND.NXT but a later c.now (see TcpPcb.ccInit). There is no
// module-level mutable state. Time is `c.now` from the stack's injected
// clock, never the wall clock, and the per-ACK path (`onAck`) does not
// allocate.
import { CubicCongestionControl } from './cc-cubic.ts';
import { RenoCongestionControl } from './cc-reno.ts';
import type { HyStartCounters } from './hystart.ts';

export { DEFAULT_IW_SEGMENTS, SSTHRESH_INFINITE, initialWindow } from './cc-reno.ts';

/** The connection state a congestion controller reads and writes. All sizes in bytes. */
export interface CcState {
  cwnd: number;
  ssthresh: number;
  /** Sender MSS (SMSS, payload bytes per full segment). */
  readonly mss: number;
  /** Bytes sent and not yet cumulatively acknowledged (SND.MAX - SND.UNA) at the time of the call. */
  readonly flightSize: number;
  /** Stack clock, ms. */
  readonly now: number;
  /** Smoothed RTT in ms (0 when there is no sample yet) and the minimum RTT seen (0 if none). */
  readonly srtt: number;
  readonly minRtt: number;
  /** SND.UNA (already the new ACK inside onAck) and SND.NXT: HyStart++ delimits its rounds with them. */
  readonly sndUna: number;
  readonly sndNxt: number;
}

export interface CongestionControl {
  readonly name: string;
  /**
   * Connection established: set the initial window (IW) and ssthresh.
   * The "arbitrarily high" initial ssthresh is SSTHRESH_INFINITE = 0x7fffffff,
   * not Infinity: it is what TcpPcb starts with, it stays a plain integer
   * (JSON-safe in TcpInfo, fine for integer arithmetic), and it is above any
   * window TCP can express (2^30 with window scaling), so `cwnd < ssthresh`
   * (the engine's slow-start test) holds until the first congestion event.
   */
  init(c: CcState): void;
  /** `acked` new bytes were cumulatively acknowledged outside loss recovery. Grow cwnd (slow start with Appropriate Byte Counting, RFC 3465, L = 2*SMSS; congestion avoidance otherwise). `isCwndLimited` is false when the application did not fill the window; then cwnd must not grow (RFC 7661 spirit). */
  onAck(c: CcState, acked: number, isCwndLimited: boolean): void;
  /** Loss detected by duplicate ACKs or SACK (fast retransmit): set ssthresh and the cwnd to use in recovery. (The engine itself does NewReno's inflation by 3*SMSS and per-dupack, or RFC 6675's pipe accounting; the controller only chooses ssthresh and the post-recovery window.) */
  onEnterRecovery(c: CcState): void;
  /** Recovery ended by a full ACK: set the cwnd to continue with (normally ssthresh). */
  onExitRecovery(c: CcState): void;
  /** Retransmission timeout: ssthresh per RFC 5681 eq. (4), cwnd = loss window (1 SMSS). */
  onRto(c: CcState): void;
  /** About to send after an idle period longer than the RTO (RFC 5681 §4.1): cwnd = min(cwnd, restart window = IW). */
  onIdleRestart(c: CcState): void;
  /**
   * An RTT sample (ms) was taken from an arriving ACK (segment timing or
   * timestamp echo), before that ACK's onAck. Optional: HyStart++ reads it.
   */
  onRttSample?(c: CcState, rttMs: number): void;
  /** A spurious-RTO undo hook is NOT needed now. */
}

export type CongestionFactory = () => CongestionControl;
export interface CcOptions {
  /** Initial window in segments (RFC 6928's 10 by default); an integer >= 1, else RangeError. */
  initialWindowSegments?: number /* default 10, RFC 6928 */;
  /**
   * HyStart++ (RFC 9406) in the initial slow start. Default false here
   * (a bare controller is plain RFC 5681); TcpConfig.hystart turns it on
   * for the stack's connections.
   */
  hystart?: boolean;
  /** HyStart++'s L: segments one ACK may add in slow start (default 8, unpaced; Infinity for a paced sender). */
  hystartLimitSegments?: number;
  /** Where HyStart++ counts its events (Tcp.counters); none if absent. */
  counters?: HyStartCounters;
}

/** The names createCongestionControl accepts. */
export const CONGESTION_ALGORITHMS: readonly string[] = Object.freeze(['reno', 'cubic']);

/**
 * Registry so the stack config can pick an algorithm by name: 'reno'
 * (NewReno's window rules, RFC 5681 + RFC 3465 + RFC 6928) and 'cubic'
 * (RFC 9438). Every call returns a fresh controller for one connection.
 * Throws RangeError for unknown names and invalid options.
 */
export function createCongestionControl(name: string, opts?: CcOptions): CongestionControl {
  switch (name) {
    case 'reno':
      return new RenoCongestionControl(opts);
    case 'cubic':
      return new CubicCongestionControl(opts);
    default:
      throw new RangeError(`unknown congestion control algorithm ${JSON.stringify(name)} (known: ${CONGESTION_ALGORITHMS.join(', ')})`);
  }
}

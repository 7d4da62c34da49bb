// The TCP protocol control block: everything one connection (or listener)
// knows. Field names follow RFC 9293's variables (SND.UNA -> sndUna) with
// lwIP's names in comments where they differ.
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { PcbTimer } from './tcp.ts';
import type { CcState, CongestionControl, CongestionFactory } from './congestion.ts';
import { type Deadlines, withDeadlines } from './deadlines.ts';
import { RackState } from './rack.ts';
import { RttEstimator, type RtoOptions, type RtoParams, rtoParams } from './rtt.ts';
import { TlpState } from './tlp.ts';
import { UndoState } from './undo.ts';
import { SegQueue } from './segment.ts';
import { seqDiff } from './seq.ts';
import { TcpState, TCP_STATE_NAMES } from './state.ts';
import type { IpAddr } from '../wire/ipaddr.ts';

/** lwIP's tcp_recv_fn: `p` null means the peer closed (FIN). Return Err.OK to take `p`. */
export type RecvFn = (arg: unknown, pcb: TcpPcb, p: Pbuf | null, err: number) => number;
/** lwIP's tcp_sent_fn: `len` bytes of ours were acknowledged. */
export type SentFn = (arg: unknown, pcb: TcpPcb, len: number) => number;
/** lwIP's tcp_connected_fn. */
export type ConnectedFn = (arg: unknown, pcb: TcpPcb, err: number) => number;
/** lwIP's tcp_accept_fn: `newPcb` is a fresh connection on the listener. */
export type AcceptFn = (arg: unknown, newPcb: TcpPcb, err: number) => number;
/** lwIP's tcp_poll_fn. */
export type PollFn = (arg: unknown, pcb: TcpPcb) => number;
/** lwIP's tcp_err_fn: the PCB is already freed when this runs. */
export type ErrFn = (arg: unknown, err: number) => void;

/** Per-connection counters (what `ss -ti` and tcp_info report). */
export interface PcbCounters {
  segsIn: number;
  segsOut: number;
  dataSegsIn: number;
  dataSegsOut: number;
  bytesSent: number;
  bytesRetrans: number;
  bytesAcked: number;
  bytesReceived: number;
  /** Segments retransmitted (any reason). */
  retransmits: number;
  fastRetransmits: number;
  /** Retransmission timeouts. */
  rtoCount: number;
  /** Times loss recovery was entered by duplicate ACKs / SACK. */
  recoveries: number;
  dupAcksIn: number;
  /** Segments that arrived out of order. */
  oooSegsIn: number;
  /** Zero-window / keepalive probes sent. */
  probes: number;
  /** Reordering detected (RACK): 1 once seen. */
  reorderSeen: number;
  /** Segments RACK marked lost. */
  rackLosses: number;
  /** Tail loss probes sent. */
  lossProbes: number;
  /** ACKs with a D-SACK block received. */
  dsacksIn: number;
  /** Congestion responses undone (spurious retransmissions or timeouts). */
  undos: number;
}

/** A snapshot like `ss -ti` / Linux tcp_info. */
export interface TcpInfo {
  state: string;
  localIp: IpAddr;
  localPort: number;
  remoteIp: IpAddr;
  remotePort: number;
  mss: number;
  peerMss: number;
  cwnd: number;
  ssthresh: number;
  srttMs: number;
  rttvarMs: number;
  rtoMs: number;
  bytesInFlight: number;
  sndWnd: number;
  rcvWnd: number;
  sndScale: number;
  rcvScale: number;
  timestamps: boolean;
  sack: boolean;
  congestion: string;
  inRecovery: boolean;
  unsentBytes: number;
  unackedSegs: number;
  oooBytes: number;
  /** RACK: reordering seen, and the reordering window now (ms). */
  reorderingSeen: boolean;
  reoWndMs: number;
  counters: PcbCounters;
}

export const RecoveryMode = {
  NONE: 0,
  /** NewReno fast recovery (RFC 6582): window inflation, partial ACKs. */
  NEWRENO: 1,
  /** SACK-based recovery (RFC 6675): pipe, scoreboard. */
  SACK: 2,
  /** After a retransmission timeout: everything outstanding is presumed lost. */
  RTO: 3,
} as const;
export type RecoveryMode = (typeof RecoveryMode)[keyof typeof RecoveryMode];

/**
 * The rarely used part of a PCB: made on the first write of a value other
 * than its default (PCB accessors below), so an idle connection does not
 * carry these fields. Defaults here and in RARE_DEFAULTS agree.
 */
class PcbRare {
  ooseq: SegQueue | null = null;
  rack: RackState | null = null;
  tlp: TlpState | null = null;
  undo: UndoState | null = null;
  nrtx = 0;
  dupAcks = 0;
  recovery: RecoveryMode = RecoveryMode.NONE;
  sackedBytes = 0;
  lostBytes = 0;
  retransInFlight = 0;
  v6only: boolean = false;
  flowLabel: number = 0;
  gsoMax: number = 0;
  paceAt: number = 0;
  paceSawRecovery: boolean = false;
  frto: number = 0;
  ackedOriginal: boolean = false;
  limitedTxBytes: number = 0;
  ooseqPieces: number = 0;
  refusedData: Pbuf | null = null;
  refusedFin: boolean = false;
  refusedQueuedBytes: number = 0;
  lastOooSeq: number = -1;
  dsackPending: boolean = false;
  dsackLeft: number = 0;
  dsackRight: number = 0;
  timeWaitAt: number = -1;
  persistBackoff: number = 0;
  persistProbes: number = 0;
  keepProbes: number = 0;
  challengeWindowStart: number = 0;
  challengeCount: number = 0;
  pmtuFloored: boolean = false;
  synQueued: number = 0;
  lastCookieAt: number = -Infinity;
  lastOowAckAt: number = -Infinity;
  userTimeout: number = -1;
  keepIdle: number = 7_200_000;
  keepIntvl: number = 75_000;
  keepCnt: number = 9;
  acceptFn: AcceptFn | null = null;
  pollFn: PollFn | null = null;
  pollInterval: number = 0;
  softError: number = 0;
  lastError: number = 0;
  backlog: number = 0;
  acceptsPending: number = 0;
}

/** Counters of events most connections never see (made on first use). */
class RareCounters {
  bytesRetrans = 0;
  retransmits = 0;
  fastRetransmits = 0;
  rtoCount = 0;
  recoveries = 0;
  dupAcksIn = 0;
  oooSegsIn = 0;
  probes = 0;
  reorderSeen = 0;
  rackLosses = 0;
  lossProbes = 0;
  dsacksIn = 0;
  undos = 0;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Ctor = abstract new (...args: any[]) => object;

/**
 * A PCB's counters added to a base class (TS mixin; TcpPcb is made with
 * it, so they cost no object of their own): the ones every connection
 * moves are fields, the rest live in an object made on their first
 * increment.
 */
export function withCounters<B extends Ctor>(Base: B) {
  abstract class WithCounters extends Base implements PcbCounters {
    segsIn = 0;
    segsOut = 0;
    dataSegsIn = 0;
    dataSegsOut = 0;
    bytesSent = 0;
    bytesAcked = 0;
    bytesReceived = 0;
    /** @internal The rare counters, made on first increment. */
    rareCounters: RareCounters | null = null;
    /** @internal */
    get rareCountersMade(): RareCounters {
      return this.rareCounters ?? (this.rareCounters = new RareCounters());
    }
    get bytesRetrans(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.bytesRetrans;
    }
    set bytesRetrans(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.bytesRetrans = v;
    }
    get retransmits(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.retransmits;
    }
    set retransmits(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.retransmits = v;
    }
    get fastRetransmits(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.fastRetransmits;
    }
    set fastRetransmits(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.fastRetransmits = v;
    }
    get rtoCount(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.rtoCount;
    }
    set rtoCount(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.rtoCount = v;
    }
    get recoveries(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.recoveries;
    }
    set recoveries(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.recoveries = v;
    }
    get dupAcksIn(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.dupAcksIn;
    }
    set dupAcksIn(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.dupAcksIn = v;
    }
    get oooSegsIn(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.oooSegsIn;
    }
    set oooSegsIn(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.oooSegsIn = v;
    }
    get probes(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.probes;
    }
    set probes(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.probes = v;
    }
    get reorderSeen(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.reorderSeen;
    }
    set reorderSeen(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.reorderSeen = v;
    }
    get rackLosses(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.rackLosses;
    }
    set rackLosses(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.rackLosses = v;
    }
    get lossProbes(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.lossProbes;
    }
    set lossProbes(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.lossProbes = v;
    }
    get dsacksIn(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.dsacksIn;
    }
    set dsacksIn(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.dsacksIn = v;
    }
    get undos(): number {
      return this.rareCounters === null ? 0 : this.rareCounters.undos;
    }
    set undos(v: number) {
      if (this.rareCounters !== null || v !== 0) this.rareCountersMade.undos = v;
    }
    /** A plain copy (every field). */
    snapshot(): PcbCounters {
      return {
        segsIn: this.segsIn,
        segsOut: this.segsOut,
        dataSegsIn: this.dataSegsIn,
        dataSegsOut: this.dataSegsOut,
        bytesSent: this.bytesSent,
        bytesRetrans: this.bytesRetrans,
        bytesAcked: this.bytesAcked,
        bytesReceived: this.bytesReceived,
        retransmits: this.retransmits,
        fastRetransmits: this.fastRetransmits,
        rtoCount: this.rtoCount,
        recoveries: this.recoveries,
        dupAcksIn: this.dupAcksIn,
        oooSegsIn: this.oooSegsIn,
        probes: this.probes,
        reorderSeen: this.reorderSeen,
        rackLosses: this.rackLosses,
        lossProbes: this.lossProbes,
        dsacksIn: this.dsacksIn,
        undos: this.undos,
      };
    }
  }
  return WithCounters;
}

/** A counter set on its own. */
export class PcbCounterSet extends withCounters(Object) {}

/** What a PCB reads the time from (the stack's clock). */
export interface PcbClock {
  now(): number;
}

/**
 * What all PCBs of a stack share, one object per stack that each PCB
 * points to once: the RTO parameters (RttEstimator's), the clock, and the
 * factory of congestion controllers.
 */
export interface PcbEnv extends RtoParams {
  readonly clock: PcbClock;
  readonly makeCc: CongestionFactory;
}

/** A stack's PcbEnv; RangeError for invalid RTO options. */
export function pcbEnv(clock: PcbClock, makeCc: CongestionFactory, rto: RtoOptions): PcbEnv {
  return { ...rtoParams(rto), clock, makeCc };
}

// Bits of TcpPcb._bits.
const CC_INIT_PENDING = 1;
const B_FREED = 2;
const B_CWND_LIMITED = 4;
const B_PACE_RUN = 8;

/** What makeCc passes to a late init: its cwnd and ssthresh writes are dropped (the PCB's were set at ccInit). */
const INIT_VIEW = { cwnd: 0, ssthresh: 0, mss: 0, flightSize: 0, now: 0, srtt: 0, minRtt: 0, sndUna: 0, sndNxt: 0 } satisfies CcState;

// Memory layout notes (issue 17 part 6; Node's V8 has no pointer
// compression, so a field is 8 bytes): a field that ever holds a number
// outside the 31-bit Smi range (a u32 sequence number, -Infinity, a
// fractional time) is a "double" field for every PCB, boxed in a 16-byte
// heap number of its own. Sequence numbers are therefore stored as int32
// (`| 0`) behind accessors that give back the u32 (`>>> 0`); fields most
// connections never change live in PcbRare, made on their first
// non-default write.
//
// A PCB *is* its RTT estimator, its deadline table and its counter set
// (extends withCounters(withDeadlines(RttEstimator))): their fields live in
// the PCB object instead of objects of their own (a header and a pointer
// each). `pcb.rtt`, `pcb.deadlines` and `pcb.counters` are the PCB itself.
export class TcpPcb extends withCounters(withDeadlines(RttEstimator)) implements CcState {
  private _state: TcpState = TcpState.CLOSED;
  /** RFC 9293 state. Changed only through Tcp.setState (the one door, with its trace hook). */
  get state(): TcpState {
    return this._state;
  }
  /** @internal Used by Tcp.setState only. */
  _enterState(s: TcpState): void {
    this._state = s;
  }
  /** PcbFlag bits. */
  flags = 0;
  /** SockOpt bits (SO_REUSEADDR, SO_KEEPALIVE). */
  soOptions = 0;
  /** Set once the PCB is released; the engine checks it after every callback. */
  get freed(): boolean {
    return (this._bits & B_FREED) !== 0;
  }
  set freed(v: boolean) {
    this._bits = v ? this._bits | B_FREED : this._bits & ~B_FREED;
  }

  /** A u32 for IPv4, an Ip6Addr for IPv6 (wire/ipaddr.ts); 0 or :: while unbound/any. */
  localIp: IpAddr = 0;
  localPort = 0;
  remoteIp: IpAddr = 0;
  remotePort = 0;
  /** @internal Chain link within the table bucket. */
  hashNext: TcpPcb | null = null;
  /** @internal Which table holds it: 0 none, 1 active, 2 TIME_WAIT, 3 listen, 4 bound only. */
  table = 0;
  /** @internal Index in the PortRegistry's list for its port, -1 when it is the port's only user. */
  portSlot = -1;

  // Sequence numbers and timestamps (u32), stored as int32: see the accessors below.
  private _iss = 0;
  private _sndUna = 0;
  private _sndNxt = 0;
  private _sndMax = 0;
  private _sndLbb = 0;
  private _sndWl1 = 0;
  private _sndWl2 = 0;
  private _irs = 0;
  private _rcvNxt = 0;
  private _rcvAnnRightEdge = 0;
  private _tsRecent = 0;
  private _tsLastAckSent = 0;
  private _tsOffset = 0;
  private _recoverySeq = 0;
  private _highSacked = 0;

  // --- send sequence space (RFC 9293 §3.3.1) ---
  /** Peer's advertised window, scaled to bytes. */
  sndWnd = 0;
  /** Largest window the peer has advertised (RFC 5961 MAX.SND.WND). */
  sndWndMax = 0;
  /** Shift applied to the peer's window field. */
  sndScale = 0;
  /** Free bytes in the send buffer (lwIP snd_buf). */
  sndBuf = 0;
  /** pbuf pieces queued for sending (lwIP snd_queuelen). */
  sndQueueLen = 0;

  // --- receive sequence space ---
  /** Free receive window in bytes (data not yet taken with recved() is counted against it). */
  rcvWnd = 0;
  /** Window most recently announced. */
  rcvAnnWnd = 0;
  /** Shift we apply to our window field. */
  rcvScale = 0;
  /** Size of the receive window (lwIP TCP_WND for this PCB). */
  rcvBufSize = 0;
  /** Data bytes received since our last ACK (ACK every second full segment). */
  rcvUnacked = 0;

  // --- segment sizes ---
  /** Our send MSS: payload bytes per segment without options (min of peer's MSS and the path). */
  mss = 536;
  /** The MSS the peer announced (536 when absent). */
  peerMss = 536;
  /** The MSS we announce (from the netif MTU). */
  ourMss = 536;

  // --- RTT and retransmission ---
  /** The RFC 6298 estimator: the PCB itself (it extends RttEstimator, so the estimator's fields cost no object of their own). */
  get rtt(): RttEstimator {
    return this;
  }
  minRtt = 0;

  // --- congestion control and loss recovery ---
  cwnd = 0;
  ssthresh = 0x7fffffff;
  /**
   * The congestion controller, made on first use (see ccInit): a connection
   * idle since its handshake does not carry one (CUBIC + HyStart++ are
   * about 320 bytes).
   */
  get cc(): CongestionControl {
    return this._cc ?? this.makeCc();
  }
  private _cc: CongestionControl | null = null;
  /** @internal The PCB's own flag bits (B_*, CC_INIT_PENDING): one field for several booleans. */
  private _bits = 0;
  lastSendTime = 0;
  lastRecvTime = 0;
  /** Segments transmitted so far (each one's sentOrder). */
  sendCount = 0;
  /** Application-limited: the window was not full when we last ran out of data. */
  get cwndLimited(): boolean {
    return (this._bits & B_CWND_LIMITED) !== 0;
  }
  set cwndLimited(v: boolean) {
    this._bits = v ? this._bits | B_CWND_LIMITED : this._bits & ~B_CWND_LIMITED;
  }
  /** A paced run is on (after idle or recovery, until cwnd is full; pacing.ts). */
  get paceRun(): boolean {
    return (this._bits & B_PACE_RUN) !== 0;
  }
  set paceRun(v: boolean) {
    this._bits = v ? this._bits | B_PACE_RUN : this._bits & ~B_PACE_RUN;
  }
  // RACK loss detection (rack.ts), tail loss probe (tlp.ts), undo of
  // spurious recoveries (undo.ts): made on first use, once data is in
  // flight, so idle connections do not carry them.
  get rack(): RackState {
    const r = this.rare;
    return r.rack ?? (r.rack = new RackState());
  }
  get tlp(): TlpState {
    const r = this.rare;
    return r.tlp ?? (r.tlp = new TlpState());
  }
  get undo(): UndoState {
    const r = this.rare;
    return r.undo ?? (r.undo = new UndoState());
  }
  /** Is a tail loss probe outstanding? (Makes no state.) */
  get tlpActive(): boolean {
    return this._rare !== null && this._rare.tlp !== null && this._rare.tlp.active;
  }
  /** Has RACK seen reordering? (Makes no state.) */
  get reorderingSeen(): boolean {
    return this._rare !== null && this._rare.rack !== null && this._rare.rack.reorderingSeen;
  }

  // --- queues ---
  readonly unsent = new SegQueue();
  readonly unacked = new SegQueue();
  /** Out-of-order segments (in PcbRare, made on first use; reading an empty one makes it too). */
  get ooseq(): SegQueue {
    const r = this.rare;
    return r.ooseq ?? (r.ooseq = new SegQueue());
  }
  /** Does the out-of-order queue hold anything? (Makes no state.) */
  get hasOoseq(): boolean {
    const r = this._rare;
    return r !== null && r.ooseq !== null && r.ooseq.head !== null;
  }

  // --- timers ---
  /** The one clock timer, set to the earliest armed deadline (Tcp.armTimer); null while none is armed. */
  timer: PcbTimer | null = null;
  /** Named deadlines in clock ms (deadlines.ts): the PCB itself (made withDeadlines). */
  get deadlines(): Deadlines {
    return this;
  }
  /** When the peer last acknowledged data, or data was queued on empty queues (the user timeout counts from here). */
  progressAt = 0;

  // --- application ---
  arg: unknown = null;
  recvFn: RecvFn | null = null;
  sentFn: SentFn | null = null;
  connectedFn: ConnectedFn | null = null;
  errFn: ErrFn | null = null;

  // --- listeners ---
  /** The listener a passive-open PCB came from (until accepted). */
  listener: TcpPcb | null = null;

  /** Per-connection counters: the PCB itself (made withCounters). */
  get counters(): PcbCounterSet {
    return this;
  }

  /** @internal The rarely used fields (PcbRare), made on their first non-default write. */
  private _rare: PcbRare | null = null;
  private get rare(): PcbRare {
    return this._rare ?? (this._rare = new PcbRare());
  }

  /** @internal The stack's shared PcbEnv (RttEstimator keeps it as its parameters). */
  private get env(): PcbEnv {
    return this.p as PcbEnv;
  }

  constructor(env: PcbEnv) {
    super(env);
  }

  /**
   * The connection is established: cc.init(this) (cwnd = IW, ssthresh).
   * While the controller is not made yet, a throwaway one sets cwnd and
   * ssthresh, and the real one is made by the first use of `cc` and then
   * initialised as if SND.NXT were still ISS + 1 (what it is here after a
   * handshake; otherwise the controller is made now). What init leaves in
   * a controller depends only on SND.NXT (HyStart++'s first round end):
   * its other inputs (mss, now) only set cwnd/ssthresh, kept from here, or
   * CUBIC's lastAckTime, which nothing reads before it is set again.
   */
  ccInit(): void {
    if (this._cc !== null) {
      this._cc.init(this);
      return;
    }
    const cc = this.env.makeCc();
    cc.init(this);
    if (this._sndNxt === ((this._iss + 1) | 0)) this._bits |= CC_INIT_PENDING;
    else this._cc = cc;
  }

  private makeCc(): CongestionControl {
    const cc = this.env.makeCc();
    if (this._bits & CC_INIT_PENDING) {
      this._bits &= ~CC_INIT_PENDING;
      const v = INIT_VIEW;
      v.mss = this.mss;
      v.now = this.now;
      v.sndUna = this.sndUna;
      v.sndNxt = ((this._iss + 1) | 0) >>> 0;
      cc.init(v);
    }
    this._cc = cc;
    return cc;
  }

  get iss(): number {
    return this._iss >>> 0;
  }
  set iss(v: number) {
    this._iss = v | 0;
  }
  /** Oldest unacknowledged (lwIP lastack). */
  get sndUna(): number {
    return this._sndUna >>> 0;
  }
  set sndUna(v: number) {
    this._sndUna = v | 0;
  }
  /** Next to send. */
  get sndNxt(): number {
    return this._sndNxt >>> 0;
  }
  set sndNxt(v: number) {
    this._sndNxt = v | 0;
  }
  /** Highest sequence sent + 1 (RFC 6675 HighData + 1). */
  get sndMax(): number {
    return this._sndMax >>> 0;
  }
  set sndMax(v: number) {
    this._sndMax = v | 0;
  }
  /** Next sequence to be queued by write() (lwIP snd_lbb). */
  get sndLbb(): number {
    return this._sndLbb >>> 0;
  }
  set sndLbb(v: number) {
    this._sndLbb = v | 0;
  }
  get sndWl1(): number {
    return this._sndWl1 >>> 0;
  }
  set sndWl1(v: number) {
    this._sndWl1 = v | 0;
  }
  get sndWl2(): number {
    return this._sndWl2 >>> 0;
  }
  set sndWl2(v: number) {
    this._sndWl2 = v | 0;
  }
  get irs(): number {
    return this._irs >>> 0;
  }
  set irs(v: number) {
    this._irs = v | 0;
  }
  get rcvNxt(): number {
    return this._rcvNxt >>> 0;
  }
  set rcvNxt(v: number) {
    this._rcvNxt = v | 0;
  }
  get rcvAnnRightEdge(): number {
    return this._rcvAnnRightEdge >>> 0;
  }
  set rcvAnnRightEdge(v: number) {
    this._rcvAnnRightEdge = v | 0;
  }
  get tsRecent(): number {
    return this._tsRecent >>> 0;
  }
  set tsRecent(v: number) {
    this._tsRecent = v | 0;
  }
  /** RCV.NXT when we last sent an ACK (Last.ACK.sent). */
  get tsLastAckSent(): number {
    return this._tsLastAckSent >>> 0;
  }
  set tsLastAckSent(v: number) {
    this._tsLastAckSent = v | 0;
  }
  /** Random offset added to our TSval. */
  get tsOffset(): number {
    return this._tsOffset >>> 0;
  }
  set tsOffset(v: number) {
    this._tsOffset = v | 0;
  }
  /** RecoveryPoint / NewReno's "recover". */
  get recoverySeq(): number {
    return this._recoverySeq >>> 0;
  }
  set recoverySeq(v: number) {
    this._recoverySeq = v | 0;
  }
  /** Highest sequence covered by a SACK block (RFC 6675 HighSACK end), or sndUna. */
  get highSacked(): number {
    return this._highSacked >>> 0;
  }
  set highSacked(v: number) {
    this._highSacked = v | 0;
  }

  // --- PcbRare fields ---
  /** Consecutive retransmissions without progress (lwIP nrtx). */
  get nrtx(): number {
    return this._rare === null ? 0 : this._rare.nrtx;
  }
  set nrtx(v: number) {
    if (this._rare !== null || v !== 0) this.rare.nrtx = v;
  }
  get dupAcks(): number {
    return this._rare === null ? 0 : this._rare.dupAcks;
  }
  set dupAcks(v: number) {
    if (this._rare !== null || v !== 0) this.rare.dupAcks = v;
  }
  get recovery(): RecoveryMode {
    return this._rare === null ? RecoveryMode.NONE : this._rare.recovery;
  }
  set recovery(v: RecoveryMode) {
    if (this._rare !== null || v !== RecoveryMode.NONE) this.rare.recovery = v;
  }
  /** Scoreboard totals (bytes) over the unacked queue. */
  get sackedBytes(): number {
    return this._rare === null ? 0 : this._rare.sackedBytes;
  }
  set sackedBytes(v: number) {
    if (this._rare !== null || v !== 0) this.rare.sackedBytes = v;
  }
  get lostBytes(): number {
    return this._rare === null ? 0 : this._rare.lostBytes;
  }
  set lostBytes(v: number) {
    if (this._rare !== null || v !== 0) this.rare.lostBytes = v;
  }
  get retransInFlight(): number {
    return this._rare === null ? 0 : this._rare.retransInFlight;
  }
  set retransInFlight(v: number) {
    if (this._rare !== null || v !== 0) this.rare.retransInFlight = v;
  }
  /** Bound to :: but refusing IPv4 (IPV6_V6ONLY); a :: bind without it takes both families. */
  get v6only(): boolean {
    return this._rare === null ? false : this._rare.v6only;
  }
  set v6only(v: boolean) {
    if (this._rare !== null || v !== false) this.rare.v6only = v;
  }
  /** RFC 6437 flow label of this connection's IPv6 packets (a keyed hash of the 4-tuple), 0 for IPv4. */
  get flowLabel(): number {
    return this._rare === null ? 0 : this._rare.flowLabel;
  }
  set flowLabel(v: number) {
    if (this._rare !== null || v !== 0) this.rare.flowLabel = v;
  }
  /** Room for TCP options and data in the largest super-segment the route's netif cuts itself (GSO): its size less the IP and TCP headers; 0 if none. */
  get gsoMax(): number {
    return this._rare === null ? 0 : this._rare.gsoMax;
  }
  set gsoMax(v: number) {
    if (this._rare !== null || v !== 0) this.rare.gsoMax = v;
  }
  /** When what the paced run sent so far has left at the pacing rate, clock ms. */
  get paceAt(): number {
    return this._rare === null ? 0 : this._rare.paceAt;
  }
  set paceAt(v: number) {
    if (this._rare !== null || v !== 0) this.rare.paceAt = v;
  }
  /** Loss recovery was on at the last output (its end starts a paced run). */
  get paceSawRecovery(): boolean {
    return this._rare === null ? false : this._rare.paceSawRecovery;
  }
  set paceSawRecovery(v: boolean) {
    if (this._rare !== null || v !== false) this.rare.paceSawRecovery = v;
  }
  /** F-RTO (RFC 5682) after a timeout: 0 off, 1 waiting for the first ACK, 2 new data sent instead of retransmissions. */
  get frto(): number {
    return this._rare === null ? 0 : this._rare.frto;
  }
  set frto(v: number) {
    if (this._rare !== null || v !== 0) this.rare.frto = v;
  }
  /** Set while an ACK is processed: it acknowledged or SACKed data sent before the timeout and never retransmitted. */
  get ackedOriginal(): boolean {
    return this._rare === null ? false : this._rare.ackedOriginal;
  }
  set ackedOriginal(v: boolean) {
    if (this._rare !== null || v !== false) this.rare.ackedOriginal = v;
  }
  /** Bytes sent by RFC 3042 limited transmit since SND.UNA last advanced (not counted when ssthresh is set). */
  get limitedTxBytes(): number {
    return this._rare === null ? 0 : this._rare.limitedTxBytes;
  }
  set limitedTxBytes(v: number) {
    if (this._rare !== null || v !== 0) this.rare.limitedTxBytes = v;
  }
  /** pbuf pieces held in ooseq. */
  get ooseqPieces(): number {
    return this._rare === null ? 0 : this._rare.ooseqPieces;
  }
  set ooseqPieces(v: number) {
    if (this._rare !== null || v !== 0) this.rare.ooseqPieces = v;
  }
  /** Data the application refused, offered again later (lwIP refused_data). */
  get refusedData(): Pbuf | null {
    return this._rare === null ? null : this._rare.refusedData;
  }
  set refusedData(v: Pbuf | null) {
    if (this._rare !== null || v !== null) this.rare.refusedData = v;
  }
  /** Bytes chained behind the refused data (QUEUE_REFUSED), counted in Tcp.refusedQueuedBytes. */
  get refusedQueuedBytes(): number {
    return this._rare === null ? 0 : this._rare.refusedQueuedBytes;
  }
  set refusedQueuedBytes(v: number) {
    if (this._rare !== null || v !== 0) this.rare.refusedQueuedBytes = v;
  }
  /** The peer's FIN came behind the refused data: report it once the data is taken. */
  get refusedFin(): boolean {
    return this._rare === null ? false : this._rare.refusedFin;
  }
  set refusedFin(v: boolean) {
    if (this._rare !== null || v !== false) this.rare.refusedFin = v;
  }
  /** The most recent out-of-order segment (first SACK block, RFC 2018). */
  get lastOooSeq(): number {
    return this._rare === null ? -1 : this._rare.lastOooSeq;
  }
  set lastOooSeq(v: number) {
    if (this._rare !== null || v !== -1) this.rare.lastOooSeq = v;
  }
  /** D-SACK (RFC 2883) owed: [dsackLeft, dsackRight) arrived again although we held it; the next ACK reports it as its first SACK block, once. */
  get dsackPending(): boolean {
    return this._rare === null ? false : this._rare.dsackPending;
  }
  set dsackPending(v: boolean) {
    if (this._rare !== null || v !== false) this.rare.dsackPending = v;
  }
  get dsackLeft(): number {
    return this._rare === null ? 0 : this._rare.dsackLeft;
  }
  set dsackLeft(v: number) {
    if (this._rare !== null || v !== 0) this.rare.dsackLeft = v;
  }
  get dsackRight(): number {
    return this._rare === null ? 0 : this._rare.dsackRight;
  }
  set dsackRight(v: number) {
    if (this._rare !== null || v !== 0) this.rare.dsackRight = v;
  }
  /** End of TIME_WAIT (the layer's TIME_WAIT timer, not the PCB's). */
  get timeWaitAt(): number {
    return this._rare === null ? -1 : this._rare.timeWaitAt;
  }
  set timeWaitAt(v: number) {
    if (this._rare !== null || v !== -1) this.rare.timeWaitAt = v;
  }
  get persistBackoff(): number {
    return this._rare === null ? 0 : this._rare.persistBackoff;
  }
  set persistBackoff(v: number) {
    if (this._rare !== null || v !== 0) this.rare.persistBackoff = v;
  }
  get persistProbes(): number {
    return this._rare === null ? 0 : this._rare.persistProbes;
  }
  set persistProbes(v: number) {
    if (this._rare !== null || v !== 0) this.rare.persistProbes = v;
  }
  get keepProbes(): number {
    return this._rare === null ? 0 : this._rare.keepProbes;
  }
  set keepProbes(v: number) {
    if (this._rare !== null || v !== 0) this.rare.keepProbes = v;
  }
  /** Challenge ACK rate limit (RFC 5961 §7): window start and count. */
  get challengeWindowStart(): number {
    return this._rare === null ? 0 : this._rare.challengeWindowStart;
  }
  set challengeWindowStart(v: number) {
    if (this._rare !== null || v !== 0) this.rare.challengeWindowStart = v;
  }
  get challengeCount(): number {
    return this._rare === null ? 0 : this._rare.challengeCount;
  }
  set challengeCount(v: number) {
    if (this._rare !== null || v !== 0) this.rare.challengeCount = v;
  }
  /** An ICMP "fragmentation needed" reported an MTU below minPmtu: the MSS stays at minPmtu's and DF is cleared so routers may fragment (Linux). */
  get pmtuFloored(): boolean {
    return this._rare === null ? false : this._rare.pmtuFloored;
  }
  set pmtuFloored(v: boolean) {
    if (this._rare !== null || v !== false) this.rare.pmtuFloored = v;
  }
  /** Listener: children still in SYN_RCVD (its SYN queue). */
  get synQueued(): number {
    return this._rare === null ? 0 : this._rare.synQueued;
  }
  set synQueued(v: number) {
    if (this._rare !== null || v !== 0) this.rare.synQueued = v;
  }
  /** Listener: when it last answered a SYN with a cookie (cookie ACKs are only looked for after that). */
  get lastCookieAt(): number {
    return this._rare === null ? -Infinity : this._rare.lastCookieAt;
  }
  set lastCookieAt(v: number) {
    if (this._rare !== null || v !== -Infinity) this.rare.lastCookieAt = v;
  }
  /** When we last answered an out-of-window segment with an ACK (Linux tcp_oow_rate_limited). */
  get lastOowAckAt(): number {
    return this._rare === null ? -Infinity : this._rare.lastOowAckAt;
  }
  set lastOowAckAt(v: number) {
    if (this._rare !== null || v !== -Infinity) this.rare.lastOowAckAt = v;
  }
  /** RFC 5482 user timeout in ms (Linux TCP_USER_TIMEOUT): how long queued data may wait without the peer acknowledging anything (retransmitting or probing a zero window) before the connection is aborted. -1: the stack's TcpConfig.userTimeoutMs; 0: no bound but the retry limits. */
  get userTimeout(): number {
    return this._rare === null ? -1 : this._rare.userTimeout;
  }
  set userTimeout(v: number) {
    if (this._rare !== null || v !== -1) this.rare.userTimeout = v;
  }
  get keepIdle(): number {
    return this._rare === null ? 7_200_000 : this._rare.keepIdle;
  }
  set keepIdle(v: number) {
    if (this._rare !== null || v !== 7_200_000) this.rare.keepIdle = v;
  }
  get keepIntvl(): number {
    return this._rare === null ? 75_000 : this._rare.keepIntvl;
  }
  set keepIntvl(v: number) {
    if (this._rare !== null || v !== 75_000) this.rare.keepIntvl = v;
  }
  get keepCnt(): number {
    return this._rare === null ? 9 : this._rare.keepCnt;
  }
  set keepCnt(v: number) {
    if (this._rare !== null || v !== 9) this.rare.keepCnt = v;
  }
  get acceptFn(): AcceptFn | null {
    return this._rare === null ? null : this._rare.acceptFn;
  }
  set acceptFn(v: AcceptFn | null) {
    if (this._rare !== null || v !== null) this.rare.acceptFn = v;
  }
  get pollFn(): PollFn | null {
    return this._rare === null ? null : this._rare.pollFn;
  }
  set pollFn(v: PollFn | null) {
    if (this._rare !== null || v !== null) this.rare.pollFn = v;
  }
  /** Poll interval in coarse ticks (lwIP: 500 ms each). */
  get pollInterval(): number {
    return this._rare === null ? 0 : this._rare.pollInterval;
  }
  set pollInterval(v: number) {
    if (this._rare !== null || v !== 0) this.rare.pollInterval = v;
  }
  /** Last ICMP-reported problem (RFC 1122 soft error), reported if the connection later times out. */
  get softError(): number {
    return this._rare === null ? 0 : this._rare.softError;
  }
  set softError(v: number) {
    if (this._rare !== null || v !== 0) this.rare.softError = v;
  }
  /** Set to ERR_RST etc. when the connection died, for a socket layer's SO_ERROR. */
  get lastError(): number {
    return this._rare === null ? 0 : this._rare.lastError;
  }
  set lastError(v: number) {
    if (this._rare !== null || v !== 0) this.rare.lastError = v;
  }
  /** Listener: the accept backlog. */
  get backlog(): number {
    return this._rare === null ? 0 : this._rare.backlog;
  }
  set backlog(v: number) {
    if (this._rare !== null || v !== 0) this.rare.backlog = v;
  }
  /** Listener: accepted connections not yet taken by the application. */
  get acceptsPending(): number {
    return this._rare === null ? 0 : this._rare.acceptsPending;
  }
  set acceptsPending(v: number) {
    if (this._rare !== null || v !== 0) this.rare.acceptsPending = v;
  }

  // --- CcState ---
  get now(): number {
    return this.env.clock.now();
  }
  /** Bytes sent and not yet cumulatively acknowledged (SND.MAX - SND.UNA). */
  get inFlight(): number {
    return seqDiff(this.sndMax, this.sndUna);
  }
  /**
   * FlightSize as RFC 5681 §3.2 uses it to set ssthresh: what is in flight
   * less what limited transmit sent (RFC 3042 data must not count). This is
   * what the congestion controller reads.
   */
  get flightSize(): number {
    return this.inFlight - this.limitedTxBytes;
  }
  /** Bytes in flight by RFC 6675's definition (what the network still holds). */
  get pipe(): number {
    return this.inFlight - this.sackedBytes - this.lostBytes + this.retransInFlight;
  }

  get stateName(): string {
    return TCP_STATE_NAMES[this.state]!;
  }

  /** Bytes queued and not yet sent. */
  get unsentBytes(): number {
    return this.unsent.bytes;
  }

  info(): TcpInfo {
    return {
      state: this.stateName,
      localIp: this.localIp,
      localPort: this.localPort,
      remoteIp: this.remoteIp,
      remotePort: this.remotePort,
      mss: this.mss,
      peerMss: this.peerMss,
      cwnd: this.cwnd,
      ssthresh: this.ssthresh,
      srttMs: this.rtt.srtt,
      rttvarMs: this.rtt.rttvar,
      rtoMs: this.rtt.currentRto(),
      bytesInFlight: this.inFlight,
      sndWnd: this.sndWnd,
      rcvWnd: this.rcvWnd,
      sndScale: this.sndScale,
      rcvScale: this.rcvScale,
      timestamps: (this.flags & 0x0100) !== 0,
      sack: (this.flags & 0x0200) !== 0,
      congestion: this.cc.name,
      inRecovery: this.recovery !== RecoveryMode.NONE,
      unsentBytes: this.unsent.bytes,
      unackedSegs: this.unacked.count,
      oooBytes: this._rare === null || this._rare.ooseq === null ? 0 : this._rare.ooseq.bytes,
      reorderingSeen: this.reorderingSeen,
      reoWndMs: this.reorderingSeen ? Math.min((this.rack.reoWndMult * this.minRtt) / 4, this.rtt.srtt || Infinity) : 0,
      counters: this.counters.snapshot(),
    };
  }
}

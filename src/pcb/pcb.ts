// The TCP protocol control block: everything one connection (or listener)
// knows. Field names follow RFC 9293's variables (SND.UNA -> sndUna) with
// lwIP's names in comments where they differ.
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { Timer } from '../time/timer-heap.ts';
import type { CcState, CongestionControl } from './congestion.ts';
import { Deadlines } from './deadlines.ts';
import { RackState } from './rack.ts';
import { RttEstimator } from './rtt.ts';
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

export class TcpPcb implements CcState {
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
  freed = false;

  /** A u32 for IPv4, an Ip6Addr for IPv6 (wire/ipaddr.ts); 0 or :: while unbound/any. */
  localIp: IpAddr = 0;
  localPort = 0;
  remoteIp: IpAddr = 0;
  remotePort = 0;
  /** Bound to :: but refusing IPv4 (IPV6_V6ONLY); a :: bind without it takes both families. */
  v6only = false;
  /** RFC 6437 flow label of this connection's IPv6 packets (a keyed hash of the 4-tuple), 0 for IPv4. */
  flowLabel = 0;
  /** @internal Chain link within the table bucket. */
  hashNext: TcpPcb | null = null;
  /** @internal Which table holds it: 0 none, 1 active, 2 TIME_WAIT, 3 listen, 4 bound only. */
  table = 0;

  // --- send sequence space (RFC 9293 §3.3.1) ---
  iss = 0;
  /** Oldest unacknowledged (lwIP lastack). */
  sndUna = 0;
  /** Next to send. */
  sndNxt = 0;
  /** Highest sequence sent + 1 (RFC 6675 HighData + 1). */
  sndMax = 0;
  /** Next sequence to be queued by write() (lwIP snd_lbb). */
  sndLbb = 0;
  /** Peer's advertised window, scaled to bytes. */
  sndWnd = 0;
  /** Largest window the peer has advertised (RFC 5961 MAX.SND.WND). */
  sndWndMax = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** Shift applied to the peer's window field. */
  sndScale = 0;
  /** Free bytes in the send buffer (lwIP snd_buf). */
  sndBuf = 0;
  /** pbuf pieces queued for sending (lwIP snd_queuelen). */
  sndQueueLen = 0;

  // --- receive sequence space ---
  irs = 0;
  rcvNxt = 0;
  /** Free receive window in bytes (data not yet taken with recved() is counted against it). */
  rcvWnd = 0;
  /** Window most recently announced. */
  rcvAnnWnd = 0;
  rcvAnnRightEdge = 0;
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
  /**
   * Room for TCP options and data in the largest super-segment the route's
   * netif cuts itself (GSO): its size less the IP and TCP headers; 0 if none.
   */
  gsoMax = 0;

  // --- timestamps (RFC 7323) ---
  tsRecent = 0;
  /** RCV.NXT when we last sent an ACK (Last.ACK.sent). */
  tsLastAckSent = 0;
  /** Random offset added to our TSval. */
  tsOffset = 0;

  // --- RTT and retransmission ---
  readonly rtt: RttEstimator;
  minRtt = 0;
  /** Consecutive retransmissions without progress (lwIP nrtx). */
  nrtx = 0;

  // --- congestion control and loss recovery ---
  cwnd = 0;
  ssthresh = 0x7fffffff;
  cc: CongestionControl;
  dupAcks = 0;
  recovery: RecoveryMode = RecoveryMode.NONE;
  /** RecoveryPoint / NewReno's "recover". */
  recoverySeq = 0;
  /** Scoreboard totals (bytes) over the unacked queue. */
  sackedBytes = 0;
  lostBytes = 0;
  retransInFlight = 0;
  /** Highest sequence covered by a SACK block (RFC 6675 HighSACK end), or sndUna. */
  highSacked = 0;
  lastSendTime = 0;
  lastRecvTime = 0;
  /** Segments transmitted so far (each one's sentOrder). */
  sendCount = 0;
  /** Application-limited: the window was not full when we last ran out of data. */
  cwndLimited = false;
  // RACK loss detection (rack.ts), tail loss probe (tlp.ts), undo of
  // spurious recoveries (undo.ts): made on first use, once data is in
  // flight, so idle connections do not carry them.
  private _rack: RackState | null = null;
  private _tlp: TlpState | null = null;
  private _undo: UndoState | null = null;
  get rack(): RackState {
    return this._rack ?? (this._rack = new RackState());
  }
  get tlp(): TlpState {
    return this._tlp ?? (this._tlp = new TlpState());
  }
  get undo(): UndoState {
    return this._undo ?? (this._undo = new UndoState());
  }
  /** Is a tail loss probe outstanding? (Makes no state.) */
  get tlpActive(): boolean {
    return this._tlp !== null && this._tlp.active;
  }
  /** Has RACK seen reordering? (Makes no state.) */
  get reorderingSeen(): boolean {
    return this._rack !== null && this._rack.reorderingSeen;
  }
  // --- pacing (pacing.ts) ---
  /** When what the paced run sent so far has left at the pacing rate, clock ms. */
  paceAt = 0;
  /** A paced run is on (after idle or recovery, until cwnd is full). */
  paceRun = false;
  /** Loss recovery was on at the last output (its end starts a paced run). */
  paceSawRecovery = false;
  /** F-RTO (RFC 5682) after a timeout: 0 off, 1 waiting for the first ACK, 2 new data sent instead of retransmissions. */
  frto = 0;
  /** Set while an ACK is processed: it acknowledged or SACKed data sent before the timeout and never retransmitted. */
  ackedOriginal = false;
  /** Bytes sent by RFC 3042 limited transmit since SND.UNA last advanced (not counted when ssthresh is set). */
  limitedTxBytes = 0;

  // --- queues ---
  readonly unsent = new SegQueue();
  readonly unacked = new SegQueue();
  readonly ooseq = new SegQueue();
  /** pbuf pieces held in ooseq. */
  ooseqPieces = 0;
  /** Data the application refused, offered again later (lwIP refused_data). */
  refusedData: Pbuf | null = null;
  /** The peer's FIN came behind the refused data: report it once the data is taken. */
  refusedFin = false;
  /** The most recent out-of-order segment (first SACK block, RFC 2018). */
  lastOooSeq = -1;
  /**
   * D-SACK (RFC 2883) owed: [dsackLeft, dsackRight) arrived again although
   * we held it; the next ACK reports it as its first SACK block, once.
   */
  dsackPending = false;
  dsackLeft = 0;
  dsackRight = 0;

  // --- timers ---
  /** The one clock timer, set to the earliest armed deadline (Tcp.armTimer). */
  timer: Timer | null = null;
  /** Named deadlines in clock ms (deadlines.ts). */
  readonly deadlines = new Deadlines();
  /** End of TIME_WAIT (the layer's TIME_WAIT timer, not the PCB's). */
  timeWaitAt = -1;
  persistBackoff = 0;
  persistProbes = 0;
  keepProbes = 0;
  /** Challenge ACK rate limit (RFC 5961 §7): window start and count. */
  challengeWindowStart = 0;
  challengeCount = 0;
  /**
   * An ICMP "fragmentation needed" reported an MTU below minPmtu: the MSS
   * stays at minPmtu's and DF is cleared so routers may fragment (Linux).
   */
  pmtuFloored = false;
  /** Listener: children still in SYN_RCVD (its SYN queue). */
  synQueued = 0;
  /** Listener: when it last answered a SYN with a cookie (cookie ACKs are only looked for after that). */
  lastCookieAt = -Infinity;
  /** When we last answered an out-of-window segment with an ACK (Linux tcp_oow_rate_limited). */
  lastOowAckAt = -Infinity;

  // --- keepalive settings (ms) ---
  /**
   * RFC 5482 user timeout in ms (Linux TCP_USER_TIMEOUT): how long queued
   * data may wait without the peer acknowledging anything (retransmitting
   * or probing a zero window) before the connection is aborted. -1: the
   * stack's TcpConfig.userTimeoutMs; 0: no bound but the retry limits.
   */
  userTimeout = -1;
  /** When the peer last acknowledged data, or data was queued on empty queues (the user timeout counts from here). */
  progressAt = 0;
  keepIdle = 7_200_000;
  keepIntvl = 75_000;
  keepCnt = 9;

  // --- application ---
  arg: unknown = null;
  recvFn: RecvFn | null = null;
  sentFn: SentFn | null = null;
  connectedFn: ConnectedFn | null = null;
  acceptFn: AcceptFn | null = null;
  pollFn: PollFn | null = null;
  errFn: ErrFn | null = null;
  /** Poll interval in coarse ticks (lwIP: 500 ms each). */
  pollInterval = 0;
  /** Last ICMP-reported problem (RFC 1122 soft error), reported if the connection later times out. */
  softError = 0;
  /** Set to ERR_RST etc. when the connection died, for a socket layer's SO_ERROR. */
  lastError = 0;

  // --- listeners ---
  backlog = 0;
  acceptsPending = 0;
  /** The listener a passive-open PCB came from (until accepted). */
  listener: TcpPcb | null = null;

  readonly counters: PcbCounters = {
    segsIn: 0,
    segsOut: 0,
    dataSegsIn: 0,
    dataSegsOut: 0,
    bytesSent: 0,
    bytesRetrans: 0,
    bytesAcked: 0,
    bytesReceived: 0,
    retransmits: 0,
    fastRetransmits: 0,
    rtoCount: 0,
    recoveries: 0,
    dupAcksIn: 0,
    oooSegsIn: 0,
    probes: 0,
    reorderSeen: 0,
    rackLosses: 0,
    lossProbes: 0,
    dsacksIn: 0,
    undos: 0,
  };

  /** @internal Clock access for CcState.now. */
  private readonly clockNow: () => number;

  constructor(cc: CongestionControl, rtt: RttEstimator, clockNow: () => number) {
    this.cc = cc;
    this.rtt = rtt;
    this.clockNow = clockNow;
  }

  // --- CcState ---
  get now(): number {
    return this.clockNow();
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
  get srtt(): number {
    return this.rtt.srtt;
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
      oooBytes: this.ooseq.bytes,
      reorderingSeen: this.reorderingSeen,
      reoWndMs: this._rack !== null && this._rack.reorderingSeen ? Math.min((this._rack.reoWndMult * this.minRtt) / 4, this.rtt.srtt || Infinity) : 0,
      counters: { ...this.counters },
    };
  }
}

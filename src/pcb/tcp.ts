// The TCP layer of one Stack: configuration, PCB tables, counters, and the
// lifecycle operations behind lwIP's raw API (tcp_new, tcp_bind,
// tcp_listen, tcp_connect, tcp_close, tcp_shutdown, tcp_abort). Segment
// arrival is in input.ts, transmission in output.ts, timers in timers.ts.
import { Err } from '../err.ts';
import { IcmpErrorKind, type IcmpErrorReport } from '../ip/host.ts';
import type { Ip } from '../ip/ip.ts';
import type { IpHost } from '../ip/host.ts';
import type { PbufPool } from '../pbuf/pool.ts';
import type { ProtoStats } from '../stats.ts';
import type { Clock } from '../time/clock.ts';
import type { Timer } from '../time/timer-heap.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { bindReaches, bindsOverlap, formatIp, ipEq, ipIsAny, type IpAddr } from '../wire/ipaddr.ts';
import { newTcpOptions, TcpFlag, TcpView, type TcpOptions } from '../wire/tcp.ts';
import { type CongestionControl, createCongestionControl } from './congestion.ts';
import { callErr, callPoll } from './events.ts';
import { hasRefused, type InEvents, type InSeg, newInEvents, newInSeg, offerRefused, tcpInput } from './input.ts';
import { IsnGenerator } from './isn.ts';
import { delayAck, enqueueFin, enqueueSyn, output, sendRstFromPcb, segLimit, updateRcvAnnWnd, windowScaleFor, write as queueWrite, maxPayload } from './output.ts';
import { Deadline } from './deadlines.ts';
import { type ConnectedFn, type PcbEnv, TcpPcb, pcbEnv } from './pcb.ts';
import { seqAdd, seqDiff, seqGt } from './seq.ts';
import { PcbFlag, SockOpt, TcpState } from './state.ts';
import { ListenTable, PortRegistry, TableKind, TupleTable } from './table.ts';
import { onPcbTimer } from './timers.ts';
import { SynCookies } from './syncookie.ts';

export interface TcpConfig {
  /** Cap on the MSS we announce and use (default: the netif MTU - 40). */
  mss?: number;
  /** Send buffer per connection in bytes (lwIP TCP_SND_BUF). */
  sndBuf?: number;
  /** Most pbuf pieces queued for sending per connection (lwIP TCP_SND_QUEUELEN). */
  sndQueueLen?: number;
  /** Receive window per connection in bytes (lwIP TCP_WND). */
  rcvWnd?: number;
  windowScaling?: boolean;
  timestamps?: boolean;
  sack?: boolean;
  /**
   * With SACK: report data that arrives twice in a D-SACK block (RFC 2883,
   * Linux net.ipv4.tcp_dsack), so the sender can tell a needless retransmission.
   */
  dsack?: boolean;
  /** 'cubic' or 'reno'. */
  congestion?: string;
  initialWindowSegments?: number;
  /**
   * HyStart++ (RFC 9406) in the initial slow start of either controller:
   * a rise of the per-round minimum RTT ends exponential growth before the
   * bottleneck queue overflows (counters.hystart*). Default true.
   */
  hystart?: boolean;
  initialRtoMs?: number;
  minRtoMs?: number;
  maxRtoMs?: number;
  delayedAckMs?: number;
  /** Duplicate ACKs that trigger fast retransmit. */
  dupThresh?: number;
  /** Retransmissions of data before giving up (lwIP TCP_MAXRTX). */
  maxRetransmits?: number;
  /** SYN retransmissions for connect (lwIP TCP_SYNMAXRTX). */
  synRetries?: number;
  /** SYN-ACK retransmissions for a passive open. */
  synAckRetries?: number;
  /** Time in TIME_WAIT (2*MSL). */
  timeWaitMs?: number;
  /** FIN_WAIT_2 timeout once the application has closed (Linux tcp_fin_timeout). */
  finWait2TimeoutMs?: number;
  keepIdleMs?: number;
  keepIntvlMs?: number;
  keepCnt?: number;
  /** Out-of-order queue caps per connection. */
  oooMaxBytes?: number;
  oooMaxSegments?: number;
  /** Most PCBs at once (connections, listeners, TIME_WAIT): tcp_new fails with ERR_MEM beyond. */
  maxPcbs?: number;
  /** Most TIME_WAIT PCBs: beyond, the oldest is dropped early. */
  maxTimeWait?: number;
  ephemeralLow?: number;
  ephemeralHigh?: number;
  /** Challenge ACKs (RFC 5961 §7) one connection may send per second. */
  challengeAcksPerSecond?: number;
  /**
   * Least time between two ACKs one connection sends in answer to
   * out-of-window or PAWS-failed segments that carry no data (RFC 5961 §5,
   * Linux tcp_invalid_ratelimit): what breaks ACK loops such as LAND's.
   */
  invalidAckIntervalMs?: number;
  /** Length of lwIP's coarse poll tick (tcp_poll intervals count these). */
  pollTickMs?: number;
  /** How often refused data is offered again (lwIP's fast timer). */
  refusedRetryMs?: number;
  /**
   * Most bytes all connections together may keep queued behind refused
   * data (PcbFlag.QUEUE_REFUSED: connections waiting for accept()). Beyond
   * it, or under memory pressure, such data is dropped for the peer to
   * resend, as lwIP does: clients that connect and upload to a listener
   * that does not accept cannot fill the pool. 0: derived, a quarter of
   * the pool's data share.
   */
  refusedQueueMaxBytes?: number;
  /** Longest interval between zero-window probes. */
  maxPersistMs?: number;
  ttl?: number;
  /** Set DF on segments (path MTU discovery, RFC 1191). */
  dontFragment?: boolean;
  /**
   * Default RFC 5482 user timeout (ms): queued data that the peer has not
   * acknowledged any of for this long (lost peer, or one that keeps its
   * window shut and never reads) aborts the connection with ETIMEDOUT and
   * a RST. 0 leaves only the retry limits (a zero window then holds data
   * for as long as the peer answers probes). Per connection: tcpUserTimeout.
   */
  userTimeoutMs?: number;
  /**
   * When a write finds the pool's data share full, the connection holding
   * the most queued data that the peer has not acknowledged any of for at
   * least this long is reset to make room (at most one per shedIntervalMs;
   * counters.memoryShed). 0: never shed.
   */
  shedIdleMs?: number;
  /** Least time between two sheds. */
  shedIntervalMs?: number;
  /**
   * Memory pressure: when the pool's data share has less than this fraction
   * left, a connection already holding pressureSndBuf bytes of send data may
   * not queue more (Linux tcp_mem pressure with tcp_wmem's minimum).
   */
  pressureFraction?: number;
  pressureSndBuf?: number;
  /**
   * Answer SYNs with SYN cookies (RFC 4987) when a listener's SYN queue or
   * backlog is full or no PCB can be had, instead of dropping them.
   */
  synCookies?: boolean;
  /** Most half-open (SYN_RCVD) connections per listener (Linux tcp_max_syn_backlog); beyond, cookies. */
  synBacklog?: number;
  /**
   * Smallest MSS a peer may make us use (Linux tcp_min_snd_mss, 48): a
   * peer announcing MSS 1 would make us cut data into 1-byte segments.
   * Our own link's MTU still wins: on an MTU-68 link the MSS is 28.
   */
  minSndMss?: number;
  /**
   * Smallest path MTU an ICMP "fragmentation needed" may set (Linux
   * min_pmtu, 552): a spoofed or broken report of 68 would cut the MSS of a
   * live connection to 28. Below it DF is cleared instead.
   */
  minPmtu?: number;
  /**
   * RACK-TLP loss detection (RFC 8985) when SACK is negotiated: a segment
   * is lost when one sent after it was delivered and a reordering window
   * has passed, not after three duplicate ACKs. Off: RFC 6675.
   */
  rack?: boolean;
  /** Tail loss probes (RFC 8985 §7): a probe 2*SRTT after the last send instead of waiting for the RTO. Needs SACK. */
  tlp?: boolean;
  /**
   * Undo a congestion response that proves spurious (RFC 3522 Eifel with
   * timestamps, D-SACK RFC 2883/3708): cwnd and ssthresh go back.
   */
  undo?: boolean;
  /**
   * F-RTO (RFC 5682, SACK-enhanced, as Linux): after a timeout the first
   * ACK that advances makes us send new data instead of retransmitting
   * more; if the next ACKs then cover data never retransmitted, the timeout
   * was spurious and is undone (needs undo). Works without timestamps.
   */
  frto?: boolean;
  /**
   * Pacing once an RTT is known (pacing.ts): sending not clocked by ACKs
   * (after idle, after loss recovery, while cwnd is not full) leaves at
   * max(cwnd, in flight) / SRTT x 2 in slow start, x 1.2 otherwise, in
   * quanta of max(2 segments, 1 ms at the rate); GSO super-segments are
   * at most one quantum. Counted in counters.pacingDelayed.
   */
  pacing?: boolean;
}

export type ResolvedTcpConfig = Required<Omit<TcpConfig, 'mss'>> & { mss: number };

const DEFAULTS: ResolvedTcpConfig = {
  mss: 0,
  sndBuf: 256 * 1024,
  sndQueueLen: 0, // derived below
  rcvWnd: 256 * 1024,
  windowScaling: true,
  timestamps: true,
  sack: true,
  dsack: true,
  congestion: 'cubic',
  initialWindowSegments: 10,
  hystart: true,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 60_000,
  delayedAckMs: 40,
  dupThresh: 3,
  rack: true,
  tlp: true,
  undo: true,
  frto: true,
  maxRetransmits: 12,
  synRetries: 6,
  synAckRetries: 5,
  timeWaitMs: 60_000,
  finWait2TimeoutMs: 60_000,
  keepIdleMs: 7_200_000,
  keepIntvlMs: 75_000,
  keepCnt: 9,
  oooMaxBytes: 0, // derived: the receive window
  oooMaxSegments: 1024,
  maxPcbs: 1 << 20,
  maxTimeWait: 1 << 18,
  ephemeralLow: 49152,
  ephemeralHigh: 65535,
  challengeAcksPerSecond: 10,
  invalidAckIntervalMs: 500,
  pollTickMs: 500,
  refusedRetryMs: 250,
  refusedQueueMaxBytes: 0, // derived: a quarter of the pool's data share
  maxPersistMs: 60_000,
  ttl: 64,
  dontFragment: true,
  userTimeoutMs: 300_000,
  shedIdleMs: 10_000,
  shedIntervalMs: 100,
  pressureFraction: 0.125,
  pressureSndBuf: 16 * 1024,
  synCookies: true,
  synBacklog: 256,
  minSndMss: 48,
  minPmtu: 552,
  pacing: true,
};

/** MIB-style counters for the whole TCP layer (RFC 4022 names where they exist). */
export interface TcpCounters {
  activeOpens: number;
  passiveOpens: number;
  attemptFails: number;
  estabResets: number;
  inSegs: number;
  outSegs: number;
  retransSegs: number;
  inErrs: number;
  outRsts: number;
  /** SYNs dropped because the listener's backlog was full. */
  listenOverflows: number;
  challengeAcks: number;
  /** Segments dropped by PAWS (RFC 7323). */
  pawsDrops: number;
  /** ACKs not sent to out-of-window / PAWS-failed / bad-ACK segments because of the rate limit. */
  invalidAcksSkipped: number;
  /** Connections whose path MTU report fell below minPmtu (MSS kept at its floor, DF cleared). */
  pmtuFloored: number;
  /** SYN-ACKs sent with a SYN cookie instead of a half-open connection. */
  synCookiesSent: number;
  /** Handshakes completed by a valid cookie. */
  synCookiesValidated: number;
  /** ACKs to a listener that had sent cookies but carried no valid one (answered with RST). */
  synCookiesFailed: number;
  /** TIME_WAIT (or closing) connections freed early to make room for a new PCB at maxPcbs (lwIP tcp_kill_*). */
  pcbsReclaimed: number;
  /** Connections aborted by the user timeout (RFC 5482). */
  userTimeouts: number;
  /** Out-of-order bytes dropped because received packets found the pool full (freeOutOfOrder). */
  ooseqFreed: number;
  /** pbuf pieces saved by copying runs of contiguous out-of-order segments into one, when the queue reached oooMaxSegments (Linux TCPRcvCollapsed). */
  ooseqCollapsed: number;
  /** Data segments kept behind refused data (PcbFlag.QUEUE_REFUSED: a connection waiting for accept()) instead of dropped. */
  refusedQueued: number;
  /** Duplicate ACKs with a timestamp older than TS.Recent that PAWS let through: reordered behind a later ACK (Linux tcp_disordered_ack). */
  pawsDisorderedAcks: number;
  /** Copies of the peer's SYN in SYN_RCVD within minRtoMs of our SYN-ACK: a network duplicate, not answered with another SYN-ACK. */
  dupSynsIgnored: number;
  /** Data segments dropped behind refused data although QUEUE_REFUSED was set: the refusedQueueMaxBytes budget was spent or memory was short. */
  refusedQueueFull: number;
  /** Tail loss probes sent (Linux TCPLossProbes). */
  lossProbes: number;
  /** Probes that repaired a loss nothing else had reported (TCPLossProbeRecovery). */
  lossProbeRecovery: number;
  /** Segments marked lost by RACK's time rule. */
  rackLosses: number;
  /** Connections that saw reordering (TCPSACKReorder). */
  sackReorder: number;
  /** ACKs carrying a D-SACK block (TCPDSACKRecv). */
  dsackRecv: number;
  /** Congestion responses undone because D-SACKs showed every retransmission spurious (TCPDSACKUndo). */
  dsackUndo: number;
  /** Fast recoveries undone by timestamps (Eifel, TCPFullUndo). */
  fullUndo: number;
  /** Retransmission timeouts undone by timestamps or D-SACKs (TCPLossUndo / TCPSpuriousRTOs). */
  lossUndo: number;
  /** D-SACKs sent for data below RCV.NXT (Linux TcpExtTCPDSACKOldSent). */
  dsackOldSent: number;
  /** D-SACKs sent for data already in the out-of-order queue (Linux TcpExtTCPDSACKOfoSent). */
  dsackOfoSent: number;
  /** Connections reset because they held queued data the peer did not take while the pool was full (shedForMemory). */
  memoryShed: number;
  /** Writes refused (ERR_MEM) under memory pressure: the connection already held pressureSndBuf while the pool's data share was nearly gone. */
  memoryPressureRefusals: number;
  /** SYNs that reopened a TIME_WAIT connection (RFC 6191). */
  timeWaitReuse: number;
  /** TIME_WAIT PCBs dropped early because of maxTimeWait. */
  timeWaitOverflows: number;
  fastRetransmits: number;
  rtoTimeouts: number;
  /** HyStart++: slow start -> Conservative Slow Start on a delay increase. */
  hystartCssEntered: number;
  /** HyStart++: CSS -> slow start again, the RTT fell back (the increase was jitter). */
  hystartCssResumed: number;
  /** HyStart++: slow starts ended by delay, CSS done and ssthresh = cwnd (Linux TcpExtTCPHystartDelayDetect). */
  hystartDelayDetect: number;
  /** HyStart++: sum of cwnd in segments at those exits (Linux TcpExtTCPHystartDelayCwnd). */
  hystartDelayCwnd: number;
  /** Times pacing held a segment back (a PACE deadline set for when it may leave). */
  pacingDelayed: number;
  /** Exceptions thrown by application callbacks (the PCB is aborted). */
  callbackErrors: number;
  /** Callbacks that returned ERR_ABRT without aborting their PCB (the PCB is aborted then). */
  contractViolations: number;
}

/** What the TCP layer needs from its Stack. */
export interface TcpHost extends IpHost {
  /** The dual-stack IP layer. */
  readonly inet: Ip;
  /** ICMP error reports of both families arrive through this. */
  onIcmpError(protocol: number, cb: (e: IcmpErrorReport) => void): void;
  /** Report an exception thrown by application code (counted, rethrown or handed to the stack's handler). */
  reportError(err: unknown): void;
  /** Run `fn` once the current packet or API call is done (Stack.defer). */
  defer(fn: () => void): void;
}

export class Tcp {
  readonly config: ResolvedTcpConfig;
  readonly stats: ProtoStats;
  readonly counters: TcpCounters = {
    activeOpens: 0,
    passiveOpens: 0,
    attemptFails: 0,
    estabResets: 0,
    inSegs: 0,
    outSegs: 0,
    retransSegs: 0,
    inErrs: 0,
    outRsts: 0,
    listenOverflows: 0,
    challengeAcks: 0,
    pawsDrops: 0,
    invalidAcksSkipped: 0,
    pmtuFloored: 0,
    synCookiesSent: 0,
    synCookiesValidated: 0,
    synCookiesFailed: 0,
    pcbsReclaimed: 0,
    userTimeouts: 0,
    ooseqFreed: 0,
    ooseqCollapsed: 0,
    refusedQueued: 0,
    refusedQueueFull: 0,
    dupSynsIgnored: 0,
    pawsDisorderedAcks: 0,
    dsackOldSent: 0,
    dsackOfoSent: 0,
    memoryShed: 0,
    lossProbes: 0,
    lossProbeRecovery: 0,
    rackLosses: 0,
    sackReorder: 0,
    dsackRecv: 0,
    dsackUndo: 0,
    fullUndo: 0,
    lossUndo: 0,
    memoryPressureRefusals: 0,
    timeWaitReuse: 0,
    timeWaitOverflows: 0,
    fastRetransmits: 0,
    rtoTimeouts: 0,
    hystartCssEntered: 0,
    hystartCssResumed: 0,
    hystartDelayDetect: 0,
    hystartDelayCwnd: 0,
    pacingDelayed: 0,
    callbackErrors: 0,
    contractViolations: 0,
  };
  /** Called after every state change (tests, tracing): the PCB, the old state and the new one. */
  stateTrace: ((pcb: TcpPcb, from: TcpState, to: TcpState) => void) | null = null;
  readonly active = new TupleTable(TableKind.ACTIVE);
  readonly timeWait = new TupleTable(TableKind.TIME_WAIT);
  readonly listeners = new ListenTable();
  readonly ports = new PortRegistry();
  /** PCBs bound to a port but neither listening nor connected. */
  readonly bound = new Set<TcpPcb>();
  readonly isn: IsnGenerator;
  readonly cookies: SynCookies;
  /** @internal Scratch for output. */
  readonly outView = new TcpView();
  readonly outOpts: TcpOptions = newTcpOptions();
  /** @internal Scratch for input. */
  readonly inView = new TcpView();
  readonly inSeg: InSeg = newInSeg(newTcpOptions());
  readonly ev: InEvents = newInEvents();
  /** The PCB whose segment is being processed: its output waits until processing ends. */
  inputPcb: TcpPcb | null = null;
  /**
   * Set while the driver feeds a batch of packets (Stack.beginInputBatch):
   * the every-second-segment ACK then waits for the batch's end, one ACK
   * per connection per batch (what GRO gives the kernel's receivers).
   */
  batching = false;
  private readonly batchAcks: TcpPcb[] = [];
  private readonly spareTimers: PcbTimer[] = [];
  /**
   * Replaces the RFC 6528 generator when set (tests use it to start near
   * the 2^32 wrap). Arguments: local ip, local port, remote ip, remote port.
   */
  issOverride: ((localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number) => number) | null = null;
  /** Live PCBs of every kind. */
  pcbCount = 0;
  /** Passive opens in SYN_RCVD, all listeners together. */
  halfOpen = 0;
  private lastShedAt = -Infinity;
  /** 4-tuples we reset, oldest first, with when (noteReset). */
  private readonly recentResets = new Map<string, number>();
  readonly pool: PbufPool;
  readonly clock: Clock;
  readonly ip: Ip;
  /**
   * TIME_WAIT deadlines in the order they were set. Every (re)start pushes
   * an entry; as deadlines are now + a constant they arrive sorted. An
   * entry whose deadline no longer matches its PCB is stale and skipped.
   */
  private readonly twQueue: TcpPcb[] = [];
  private readonly twDeadline: number[] = [];
  private twHead = 0;
  private readonly twTimer: Timer;
  private nextEphemeral: number;
  /** What every PCB of this layer shares (clock, RTO parameters, congestion controller factory). */
  private readonly pcbEnv: PcbEnv;

  constructor(
    readonly host: TcpHost,
    cfg: TcpConfig = {},
  ) {
    const c: ResolvedTcpConfig = { ...DEFAULTS };
    for (const [k, v] of Object.entries(cfg)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
    if (c.sndQueueLen === 0) c.sndQueueLen = Math.max(16, Math.ceil((4 * c.sndBuf) / 536));
    if (c.oooMaxBytes === 0) c.oooMaxBytes = c.rcvWnd;
    validate(c);
    this.config = c;
    this.stats = host.stats.tcp;
    this.pool = host.pool;
    this.clock = host.clock;
    const makeCc = (): CongestionControl => createCongestionControl(c.congestion, { initialWindowSegments: c.initialWindowSegments, hystart: c.hystart, counters: this.counters });
    makeCc(); // an unknown algorithm fails here, not at the first connection
    this.pcbEnv = pcbEnv(this.clock, makeCc, { initialRtoMs: c.initialRtoMs, minRtoMs: c.minRtoMs, maxRtoMs: c.maxRtoMs });
    this.ip = host.inet;
    this.isn = new IsnGenerator(host.rng);
    this.cookies = new SynCookies(this.isn);
    this.nextEphemeral = c.ephemeralLow + host.rng.int(c.ephemeralHigh - c.ephemeralLow + 1);
    this.twTimer = host.timer(() => this.expireTimeWait(), 'tcp time-wait');
    host.inet.register(IpProtocol.TCP, (p, info) => tcpInput(this, p, info));
    host.onIcmpError(IpProtocol.TCP, (e) => this.icmpError(e));
  }

  /** Connections in ESTABLISHED or CLOSE_WAIT (RFC 4022 tcpCurrEstab). */
  get currEstab(): number {
    let n = 0;
    for (const p of this.active.values()) if (p.state === TcpState.ESTABLISHED || p.state === TcpState.CLOSE_WAIT) n++;
    return n;
  }

  // ------------------------------------------------------------------
  // Lifecycle (the raw API's operations)
  // ------------------------------------------------------------------

  /**
   * A fresh CLOSED PCB (lwIP tcp_new), or null at the PCB limit (ERR_MEM).
   * At the limit a PCB is reclaimed first, as lwIP's tcp_alloc does: the
   * oldest TIME_WAIT, else the oldest connection in LAST_ACK or CLOSING
   * (both only wait for a last ACK); with `evictHalfOpen` (a handshake
   * proved by a SYN cookie) also the oldest half-open passive open.
   */
  newPcb(evictHalfOpen = false): TcpPcb | null {
    const c = this.config;
    if (this.pcbCount >= c.maxPcbs && !this.reclaimPcb(evictHalfOpen)) {
      this.stats.memerr++;
      return null;
    }
    const pcb = new TcpPcb(this.pcbEnv);
    pcb.sndBuf = c.sndBuf;
    pcb.rcvBufSize = c.rcvWnd;
    pcb.rcvWnd = c.rcvWnd;
    pcb.rcvAnnWnd = c.rcvWnd;
    pcb.keepIdle = c.keepIdleMs;
    pcb.keepIntvl = c.keepIntvlMs;
    pcb.keepCnt = c.keepCnt;
    this.pcbCount++;
    return pcb;
  }

  /**
   * Bytes a write can queue now (lwIP tcp_sndbuf, refined): the free send
   * buffer, but no more than the pieces left under sndQueueLen can carry.
   * With a tiny MSS (16 bytes of data on an MTU-68 link) the piece limit
   * binds first; an application that writes what this says never gets
   * ERR_MEM from the queue limit.
   */
  sendSpace(pcb: TcpPcb): number {
    if (pcb.freed) return 0;
    const max = segLimit(pcb);
    let pieces = this.config.sndQueueLen - pcb.sndQueueLen;
    let bytes = 0;
    // The last unsent segment may take more (costing at most one piece).
    const last = pcb.unsent.tail;
    if (last !== null && (last.flags & (TcpFlag.SYN | TcpFlag.FIN)) === 0 && last.len < max && pieces > 0) {
      bytes += max - last.len;
      pieces--;
    }
    bytes += Math.max(0, pieces) * max;
    return Math.max(0, Math.min(pcb.sndBuf, bytes));
  }

  /**
   * Bind to a local address and port (0 = an ephemeral one). lwIP tcp_bind.
   * 0 is IPv4's wildcard, :: IPv6's, which takes IPv4 as well unless the
   * PCB is v6only (Linux's IPV6_V6ONLY default of 0).
   */
  bind(pcb: TcpPcb, ip: IpAddr, port: number): number {
    if (pcb.freed || pcb.state !== TcpState.CLOSED || pcb.localPort !== 0) return Err.VAL;
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) return Err.VAL;
    if (typeof ip === 'number') ip >>>= 0;
    if (!ipIsAny(ip) && !this.ip.isLocal(ip)) return Err.VAL;
    if (port === 0) {
      port = this.ephemeralPort(ip, 0, 0);
      if (port === 0) return Err.BUF;
    } else if (this.portConflict(pcb, ip, port)) {
      return Err.USE;
    }
    pcb.localIp = ip;
    pcb.localPort = port;
    this.ports.add(pcb);
    this.bound.add(pcb);
    pcb.table = TableKind.BOUND;
    return Err.OK;
  }

  /** Start listening (lwIP tcp_listen_with_backlog). The PCB becomes a listener in place. */
  listen(pcb: TcpPcb, backlog = 0xff): number {
    if (pcb.freed || pcb.state !== TcpState.CLOSED) return Err.VAL;
    if (pcb.localPort === 0) {
      const err = this.bind(pcb, 0, 0);
      if (err !== Err.OK) return err;
    }
    for (const other of this.listeners.values()) {
      if (other.localPort === pcb.localPort && bindsOverlap(other.localIp, other.v6only, pcb.localIp, pcb.v6only)) return Err.USE;
    }
    this.bound.delete(pcb);
    this.setState(pcb, TcpState.LISTEN);
    pcb.backlog = Math.max(1, Math.min(Math.floor(backlog), 0xffff));
    this.listeners.add(pcb);
    return Err.OK;
  }

  /** Open a connection (lwIP tcp_connect). `connected` runs when the handshake completes. */
  connect(pcb: TcpPcb, ip: IpAddr, port: number, connected: ConnectedFn | null = null): number {
    if (pcb.freed) return Err.VAL;
    switch (pcb.state) {
      case TcpState.CLOSED:
        break;
      case TcpState.SYN_SENT:
        return Err.ALREADY;
      case TcpState.LISTEN:
        return Err.VAL;
      default:
        return Err.ISCONN;
    }
    if (typeof ip === 'number') ip >>>= 0;
    if (ipIsAny(ip) || !Number.isInteger(port) || port <= 0 || port > 0xffff) return Err.VAL;
    // A PCB bound to one family's address (or a v6only ::) cannot reach the other.
    if (pcb.localPort !== 0 && !bindReaches(pcb.localIp, pcb.v6only, ip)) return Err.VAL;
    const netif = this.ip.route(ip);
    if (netif === null) return Err.RTE;
    let localIp = pcb.localIp;
    if (ipIsAny(localIp)) localIp = this.ip.sourceFor(netif, ip);
    if (ipIsAny(localIp)) return Err.RTE;
    let localPort = pcb.localPort;
    let reusedFrom: TcpPcb | null = null;
    if (localPort === 0) {
      localPort = this.ephemeralPort(localIp, ip, port);
      if (localPort === 0) return Err.USE;
    } else {
      if (this.active.lookup(localIp, localPort, ip, port) !== null) return Err.USE;
      const tw = this.timeWait.lookup(localIp, localPort, ip, port);
      if (tw !== null) {
        if ((pcb.soOptions & SockOpt.REUSEADDR) === 0) return Err.USE;
        reusedFrom = tw;
      }
    }
    const wasBound = pcb.localPort !== 0;
    if (wasBound && !ipEq(pcb.localIp, localIp)) {
      this.ports.remove(pcb);
    }
    pcb.localIp = localIp;
    pcb.localPort = localPort;
    pcb.remoteIp = ip;
    pcb.remotePort = port;
    const now = this.clock.now();
    pcb.iss = this.chooseIss(localIp, localPort, ip, port, now);
    pcb.tsOffset = this.isn.tsOffset(localIp, localPort, ip, port);
    pcb.flowLabel = this.isn.flowLabel(localIp, localPort, ip, port);
    if (reusedFrom !== null) {
      // The new incarnation must start above the old one's sequence space.
      const floor = seqAdd(reusedFrom.sndMax, 128_000);
      if (!seqGt(pcb.iss, reusedFrom.sndMax)) pcb.iss = floor;
      this.freePcb(reusedFrom);
    }
    pcb.sndUna = pcb.iss;
    pcb.sndNxt = pcb.iss;
    pcb.sndMax = pcb.iss;
    pcb.sndLbb = pcb.iss;
    pcb.highSacked = pcb.iss;
    pcb.sndWnd = 0xffff;
    pcb.rcvScale = this.config.windowScaling ? windowScaleFor(pcb.rcvBufSize) : 0;
    pcb.ourMss = this.mssFor(this.ip.mtuOf(netif, ip), ip);
    pcb.mss = pcb.ourMss;
    pcb.gsoMax = this.gsoRoom(netif.gsoMaxSize, ip);
    pcb.connectedFn = connected;
    if (!wasBound || pcb.table === TableKind.BOUND) {
      this.bound.delete(pcb);
      if (!wasBound || this.ports.usersOf(localPort).indexOf(pcb) < 0) this.ports.add(pcb);
    }
    this.setState(pcb, TcpState.SYN_SENT);
    this.active.add(pcb);
    enqueueSyn(pcb);
    this.counters.activeOpens++;
    this.schedulePoll(pcb);
    return output(this, pcb);
  }

  /** Queue data (lwIP tcp_write); see output.ts WriteFlag. */
  write(pcb: TcpPcb, data: Uint8Array, flags: number): number {
    if (pcb.freed) return Err.CONN;
    return queueWrite(this, pcb, data, flags);
  }

  /** Send what can be sent (lwIP tcp_output). */
  output(pcb: TcpPcb): number {
    return output(this, pcb);
  }

  /**
   * The application has taken `len` bytes (lwIP tcp_recved): reopen the
   * window and tell the peer when the opening is worth a segment.
   */
  recved(pcb: TcpPcb, len: number): void {
    if (pcb.freed || len <= 0) return;
    pcb.rcvWnd = Math.min(pcb.rcvWnd + len, pcb.rcvBufSize);
    // Did the peer last hear a zero window? (Asked before updateRcvAnnWnd,
    // which already counts the opening in rcvAnnWnd.)
    const wasClosed = !seqGt(pcb.rcvAnnRightEdge, pcb.rcvNxt);
    const mss = maxPayload(pcb);
    const stillOpen = seqDiff(pcb.rcvAnnRightEdge, pcb.rcvNxt);
    const opened = updateRcvAnnWnd(pcb);
    const threshold = Math.min(pcb.rcvBufSize >>> 2, 4 * mss);
    if (opened >= threshold || (wasClosed && opened > 0)) {
      if ((pcb.flags & (PcbFlag.APP_LATE | PcbFlag.ACK_DELAY)) === (PcbFlag.APP_LATE | PcbFlag.ACK_DELAY) && stillOpen >= Math.max(4 * mss, pcb.rcvBufSize >>> 3)) {
        // An ACK is owed already (the delayed-ACK timer runs) and the peer
        // still has an eighth of the buffer, at least four full segments,
        // to send into (each second one brings an ACK with this window at
        // once): the opening rides on that ACK, or on the application's
        // reply sent meanwhile (an echo, a request's answer), instead of
        // costing a segment of its own. Typically the first read, which
        // opens the SYN's unscaled 64 KiB to the whole buffer. A bulk
        // receiver, whose data is ACKed as it comes, still updates at once.
        return;
      }
      pcb.flags |= PcbFlag.ACK_NOW;
      output(this, pcb);
    }
  }

  /**
   * Mark a PCB as driven by an application that answers on a later turn
   * (the socket layers), not inside its callbacks: see PcbFlag.APP_LATE.
   * A listener passes the mark to the connections it accepts.
   */
  setAppLate(pcb: TcpPcb, on: boolean): void {
    if (on) pcb.flags |= PcbFlag.APP_LATE;
    else pcb.flags &= ~PcbFlag.APP_LATE;
  }

  /** Keep in-order data behind refused data instead of dropping it: see PcbFlag.QUEUE_REFUSED. */
  setQueueRefused(pcb: TcpPcb, on: boolean): void {
    if (on) pcb.flags |= PcbFlag.QUEUE_REFUSED;
    else pcb.flags &= ~PcbFlag.QUEUE_REFUSED;
  }

  /**
   * Close (lwIP tcp_close): no more data will be received; a FIN follows any
   * queued data. With unread data a RST is sent instead, as lwIP does. The
   * application must not use the PCB afterwards.
   */
  close(pcb: TcpPcb): number {
    if (pcb.freed) return Err.OK;
    if (pcb.state !== TcpState.LISTEN) pcb.flags |= PcbFlag.RXCLOSED;
    return this.closeShutdown(pcb, true);
  }

  /** Shut down one or both directions (lwIP tcp_shutdown). */
  shutdown(pcb: TcpPcb, rx: boolean, tx: boolean): number {
    if (pcb.freed) return Err.CONN;
    if (pcb.state === TcpState.LISTEN) return Err.CONN;
    if (rx) {
      pcb.flags |= PcbFlag.RXCLOSED;
      if (tx) return this.closeShutdown(pcb, true);
      if (pcb.refusedData !== null) {
        pcb.refusedData.free();
        pcb.refusedData = null;
        this.releaseRefused(pcb);
      }
      pcb.refusedFin = false;
    }
    if (tx) {
      switch (pcb.state) {
        case TcpState.SYN_RCVD:
        case TcpState.ESTABLISHED:
        case TcpState.CLOSE_WAIT:
          return this.closeShutdown(pcb, rx);
        default:
          return Err.CONN;
      }
    }
    return Err.OK;
  }

  /** Abort (lwIP tcp_abort): RST to the peer, err callback with ERR_ABRT, PCB freed. */
  abort(pcb: TcpPcb): void {
    this.abandon(pcb, true, Err.ABRT);
  }

  /** Drop a connection, optionally with a RST; the err callback gets `err`. */
  abandon(pcb: TcpPcb, reset: boolean, err: number): void {
    if (pcb.freed) return;
    if (pcb.state === TcpState.TIME_WAIT) {
      this.freePcb(pcb);
      return;
    }
    if (pcb.state === TcpState.LISTEN) {
      this.closeShutdown(pcb, false);
      return;
    }
    const sendIt = reset && pcb.state !== TcpState.CLOSED;
    if (sendIt) sendRstFromPcb(this, pcb);
    const errFn = pcb.errFn;
    const arg = pcb.arg;
    pcb.lastError = err;
    this.freePcb(pcb);
    callErr(this, errFn, arg, err);
  }

  /**
   * Offer refused data (and a refused FIN) to the recv callback now instead
   * of at the next segment or retry tick: a socket layer calls this when it
   * has just become able to take it (accept()). Not from inside the PCB's
   * own segment processing.
   */
  processRefused(pcb: TcpPcb): number {
    if (pcb.freed || this.inputPcb === pcb || !hasRefused(pcb)) return Err.OK;
    const r = offerRefused(this, pcb);
    if (!pcb.freed) this.armTimer(pcb);
    return r;
  }

  /** Enable or disable Nagle's algorithm. */
  setNoDelay(pcb: TcpPcb, on: boolean): void {
    if (on) pcb.flags |= PcbFlag.NODELAY;
    else pcb.flags &= ~PcbFlag.NODELAY;
  }

  /** lwIP tcp_poll: call `fn` every `interval` coarse ticks (0 stops it). */
  setPoll(pcb: TcpPcb, fn: TcpPcb['pollFn'], interval: number): void {
    pcb.pollFn = fn;
    pcb.pollInterval = Math.max(0, Math.floor(interval));
    this.schedulePoll(pcb);
    this.armTimer(pcb);
  }

  /** Turn SO_KEEPALIVE on or off. */
  setKeepAlive(pcb: TcpPcb, on: boolean): void {
    if (on) pcb.soOptions |= SockOpt.KEEPALIVE;
    else pcb.soOptions &= ~SockOpt.KEEPALIVE;
    this.scheduleKeepalive(pcb, this.clock.now());
    this.armTimer(pcb);
  }

  /** All connections (not listeners), e.g. for a status page. */
  *connections(): IterableIterator<TcpPcb> {
    yield* this.active.values();
    yield* this.timeWait.values();
  }

  /**
   * The host vanished (Stack.crash): every connection is dropped without a
   * segment on the wire (lwIP tcp_abandon(pcb, 0)) and its err callback
   * gets `err`; so does a listener's, if it has one (a socket blocked in
   * accept() must learn of it); TIME_WAIT and bound PCBs go silently. Then
   * as closeAll.
   */
  abandonAll(err: number): void {
    for (const p of [...this.active.values()]) this.abandon(p, false, err);
    for (const l of [...this.listeners.values()]) {
      const fn = l.errFn;
      const arg = l.arg;
      this.freePcb(l);
      callErr(this, fn, arg, err);
    }
    this.closeAll();
  }

  /** Drop every PCB and stop all timers (Stack.close). */
  closeAll(): void {
    for (const p of [...this.active.values(), ...this.timeWait.values(), ...this.listeners.values(), ...this.bound]) this.freePcb(p);
    this.twQueue.length = 0;
    this.twDeadline.length = 0;
    this.twHead = 0;
    this.twTimer.stop();
  }

  // ------------------------------------------------------------------
  // Internals shared with input/output/timers
  // ------------------------------------------------------------------

  /** An initial send sequence number for a new connection (RFC 6528). */
  chooseIss(localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number, now: number): number {
    if (this.issOverride !== null) return this.issOverride(localIp, localPort, remoteIp, remotePort) >>> 0;
    return this.isn.isn(localIp, localPort, remoteIp, remotePort, now);
  }

  /** The MSS for an MTU toward `peer` (IP + TCP headers off), capped by config. */
  mssFor(mtu: number, peer: IpAddr): number {
    // No floor of our own: an MTU-68 link (RFC 791's minimum) carries 28.
    const m = mtu - this.ip.headerLen(peer) - 20;
    return this.config.mss > 0 ? Math.min(m, this.config.mss) : m;
  }

  /** pcb.gsoMax for a netif's GSO size toward `peer`. */
  gsoRoom(gsoMaxSize: number, peer: IpAddr): number {
    return gsoMaxSize > 0 ? gsoMaxSize - this.ip.headerLen(peer) - 20 : 0;
  }

  /** The MSS a peer that sends no MSS option gets (RFC 9293 §3.7.1: 536 for IPv4; RFC 8200 §8.3: 1220 for IPv6). */
  defaultMss(peer: IpAddr): number {
    return this.ip.of(peer).minMtu - this.ip.headerLen(peer) - 20;
  }

  /** A passive open enters SYN_RCVD: counted in its listener's SYN queue. */
  enterSynQueue(pcb: TcpPcb, listener: TcpPcb): void {
    pcb.flags |= PcbFlag.SYN_QUEUED;
    listener.synQueued++;
    this.halfOpen++;
  }

  /** A passive open leaves SYN_RCVD (established, closed or gone): out of its listener's SYN queue. */
  leaveSynQueue(pcb: TcpPcb): void {
    if (pcb.flags & PcbFlag.SYN_QUEUED) {
      pcb.flags &= ~PcbFlag.SYN_QUEUED;
      if (pcb.listener !== null) pcb.listener.synQueued--;
      this.halfOpen--;
    }
  }

  /** Free the oldest half-open (SYN_RCVD, never accepted) connection of `listener`; true if there was one. */
  evictHalfOpen(listener: TcpPcb): boolean {
    let victim: TcpPcb | null = null;
    for (const p of this.active.values()) {
      if (p.listener === listener && p.state === TcpState.SYN_RCVD && p.flags & PcbFlag.SYN_QUEUED && (victim === null || p.lastRecvTime < victim.lastRecvTime)) victim = p;
    }
    if (victim === null) return false;
    this.counters.pcbsReclaimed++;
    this.freePcb(victim);
    return true;
  }

  /** Could a PCB be reclaimed for a connection a cookie proved? (Worth answering with a cookie at the limit.) */
  canReclaim(): boolean {
    return this.timeWait.size > 0 || this.halfOpen > 0 || this.closingCount() > 0;
  }

  /** Free one PCB to make room at maxPcbs (see newPcb). True if one went. */
  private reclaimPcb(evictHalfOpen: boolean): boolean {
    let victim = this.oldestTimeWait();
    if (victim === null) {
      let best: TcpPcb | null = null;
      let half: TcpPcb | null = null;
      for (const p of this.active.values()) {
        if ((p.state === TcpState.LAST_ACK || p.state === TcpState.CLOSING) && (best === null || p.lastRecvTime < best.lastRecvTime)) best = p;
        else if (evictHalfOpen && p.state === TcpState.SYN_RCVD && p.flags & PcbFlag.SYN_QUEUED && (half === null || p.lastRecvTime < half.lastRecvTime)) half = p;
      }
      victim = best ?? half;
      if (victim !== null && victim.state !== TcpState.SYN_RCVD) {
        // lwIP tcp_kill_state: the application is told the connection was aborted.
        this.counters.pcbsReclaimed++;
        this.abandon(victim, true, Err.ABRT);
        return true;
      }
    }
    if (victim === null) return false;
    this.counters.pcbsReclaimed++;
    this.freePcb(victim);
    return true;
  }

  private closingCount(): number {
    let n = 0;
    for (const p of this.active.values()) if (p.state === TcpState.LAST_ACK || p.state === TcpState.CLOSING) n++;
    return n;
  }

  /** Release everything a PCB holds and forget it. Does not call any callback. */
  freePcb(pcb: TcpPcb): void {
    if (pcb.freed) return;
    this.leaveSynQueue(pcb);
    switch (pcb.table) {
      case TableKind.ACTIVE:
        this.active.remove(pcb);
        break;
      case TableKind.TIME_WAIT:
        this.timeWait.remove(pcb);
        // The last one gone early (abort, reuse, overflow): no timer left behind.
        if (this.timeWait.size === 0) this.resetTimeWaitQueue();
        break;
      case TableKind.LISTEN:
        this.listeners.remove(pcb);
        break;
      case TableKind.BOUND:
        this.bound.delete(pcb);
        pcb.table = TableKind.NONE;
        break;
    }
    if (pcb.localPort !== 0) this.ports.remove(pcb);
    if (pcb.flags & PcbFlag.BACKLOGPEND && pcb.listener !== null) {
      pcb.listener.acceptsPending--;
      pcb.flags &= ~PcbFlag.BACKLOGPEND;
    }
    this.purge(pcb);
    this.dropTimer(pcb);
    pcb.freed = true;
    this.setState(pcb, TcpState.CLOSED);
    this.pcbCount--;
  }

  /**
   * Drop every connection's out-of-order queue (lwIP PBUF_POOL_FREE_OOSEQ):
   * called when received packets find the pool full, so data held beyond a
   * hole cannot pin the memory the in-order retransmission needs. The peer
   * still has it (SACKed data may be reneged, RFC 2018 §8). Returns the
   * bytes freed.
   */
  freeOutOfOrder(): number {
    let freed = 0;
    for (const pcb of this.active.values()) {
      if (!pcb.hasOoseq) continue;
      freed += pcb.ooseq.bytes;
      pcb.ooseq.freeAll();
      pcb.ooseqPieces = 0;
    }
    if (freed > 0) this.counters.ooseqFreed += freed;
    return freed;
  }

  /**
   * The pool's data share is full: reset the connection that holds the
   * most queued send data while its peer acknowledged nothing for
   * shedIdleMs (a client that never reads, or vanished), oldest first
   * among equals; never `except` (the writer). So one set of hoarders
   * cannot starve every other connection of memory. True if one went.
   */
  shedForMemory(except: TcpPcb | null): boolean {
    const c = this.config;
    const now = this.clock.now();
    if (c.shedIdleMs <= 0 || now - this.lastShedAt < c.shedIntervalMs) return false;
    this.lastShedAt = now;
    let victim: TcpPcb | null = null;
    let most = 0;
    for (const pcb of this.active.values()) {
      if (pcb === except || now - pcb.progressAt < c.shedIdleMs) continue;
      const held = pcb.unsent.bytes + pcb.unacked.bytes;
      if (held === 0) continue;
      if (held > most || (held === most && victim !== null && pcb.progressAt < victim.progressAt)) {
        victim = pcb;
        most = held;
      }
    }
    if (victim === null) return false;
    this.counters.memoryShed++;
    // Not inside the writer's tcpWrite: its err callback would run nested in another connection's call.
    const v = victim;
    this.host.defer(() => this.abandon(v, true, Err.ABRT));
    return true;
  }

  /** Bytes all connections keep queued behind refused data now (bounded by config.refusedQueueMaxBytes). */
  refusedQueuedBytes = 0;

  /** May `pcb` keep `bytes` more behind its refused data (QUEUE_REFUSED set, budget left, no memory pressure)? */
  mayQueueRefused(pcb: TcpPcb, bytes: number): boolean {
    if ((pcb.flags & PcbFlag.QUEUE_REFUSED) === 0) return false;
    const max = this.config.refusedQueueMaxBytes || this.pool.dataBytesLimit / 4;
    if (this.refusedQueuedBytes + bytes <= max && !this.underMemoryPressure()) return true;
    this.counters.refusedQueueFull++;
    return false;
  }

  /** `data` was chained behind `pcb`'s refused data: count it against the budget. */
  queuedRefused(pcb: TcpPcb, bytes: number): void {
    pcb.refusedQueuedBytes += bytes;
    this.refusedQueuedBytes += bytes;
  }

  /** `pcb`'s refused data was taken or freed: what it had queued leaves the budget. */
  releaseRefused(pcb: TcpPcb): void {
    const n = pcb.refusedQueuedBytes;
    if (n === 0) return;
    this.refusedQueuedBytes -= n;
    pcb.refusedQueuedBytes = 0;
  }

  /** Is the pool's data share nearly gone (config.pressureFraction left)? */
  underMemoryPressure(): boolean {
    const pool = this.pool;
    return pool.dataBytesLeft() < pool.dataBytesLimit * this.config.pressureFraction;
  }

  /**
   * We reset this connection: for a while its 4-tuple gets no SYN cookie
   * connection. A peer that missed our data (and so our RST, out of its
   * window) goes on acknowledging the cookie's ISS + 1, which would make
   * a second connection on the same 4-tuple; it gets a RST at the sequence
   * it expects instead.
   */
  noteReset(pcb: TcpPcb): void {
    if (!this.config.synCookies || pcb.listener === null) return;
    const key = tupleKey(pcb.localIp, pcb.localPort, pcb.remoteIp, pcb.remotePort);
    const r = this.recentResets;
    r.delete(key);
    r.set(key, this.clock.now());
    if (r.size > RECENT_RESETS_MAX) r.delete(r.keys().next().value!);
  }

  /** Was this 4-tuple reset by us recently (noteReset)? */
  resetRecently(localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number): boolean {
    const key = tupleKey(localIp, localPort, remoteIp, remotePort);
    const at = this.recentResets.get(key);
    if (at === undefined) return false;
    if (this.clock.now() - at > RECENT_RESET_MS) {
      this.recentResets.delete(key);
      return false;
    }
    return true;
  }

  /** Free queued data (lwIP tcp_pcb_purge). */
  purge(pcb: TcpPcb): void {
    pcb.unsent.freeAll();
    pcb.unacked.freeAll();
    if (pcb.hasOoseq) pcb.ooseq.freeAll();
    pcb.ooseqPieces = 0;
    if (pcb.refusedData !== null) {
      pcb.refusedData.free();
      pcb.refusedData = null;
      this.releaseRefused(pcb);
    }
    pcb.refusedFin = false;
    pcb.sackedBytes = 0;
    pcb.lostBytes = 0;
    pcb.retransInFlight = 0;
    pcb.deadlines.cancel(Deadline.RTO);
    pcb.deadlines.cancel(Deadline.PERSIST);
    pcb.deadlines.cancel(Deadline.DELACK);
  }

  /** Enter TIME_WAIT: queues freed, kept in the TIME_WAIT table for 2*MSL. */
  enterTimeWait(pcb: TcpPcb): void {
    if (pcb.table === TableKind.ACTIVE) this.active.remove(pcb);
    this.purge(pcb);
    this.setState(pcb, TcpState.TIME_WAIT);
    pcb.deadlines.cancel(Deadline.KEEPALIVE);
    pcb.deadlines.cancel(Deadline.FIN_WAIT_2);
    pcb.deadlines.cancel(Deadline.POLL);
    pcb.deadlines.cancel(Deadline.REFUSED);
    this.dropTimer(pcb);
    this.timeWait.add(pcb);
    this.restartTimeWait(pcb);
    if (this.timeWait.size > this.config.maxTimeWait) {
      const oldest = this.oldestTimeWait();
      if (oldest !== null) {
        this.counters.timeWaitOverflows++;
        this.freePcb(oldest);
      }
    }
  }

  /** (Re)start the 2*MSL wait (a retransmitted FIN restarts it). */
  restartTimeWait(pcb: TcpPcb): void {
    pcb.timeWaitAt = this.clock.now() + this.config.timeWaitMs;
    this.twQueue.push(pcb);
    this.twDeadline.push(pcb.timeWaitAt);
    if (!this.twTimer.active) this.twTimer.startAt(pcb.timeWaitAt);
  }

  /** @internal An ACK is owed to `pcb` at the end of the current input batch. */
  queueBatchAck(pcb: TcpPcb): void {
    if (pcb.flags & PcbFlag.BATCH_ACK) return;
    pcb.flags |= PcbFlag.BATCH_ACK;
    this.batchAcks.push(pcb);
  }

  /**
   * The input batch ended: send the ACKs it deferred (those not already
   * carried by a data segment meanwhile; output clears ACK_DELAY).
   */
  flushBatchAcks(): void {
    const list = this.batchAcks;
    for (let i = 0; i < list.length; i++) {
      const pcb = list[i]!;
      pcb.flags &= ~PcbFlag.BATCH_ACK;
      if (pcb.freed || pcb.table !== TableKind.ACTIVE || (pcb.flags & PcbFlag.ACK_DELAY) === 0) continue;
      pcb.flags |= PcbFlag.ACK_NOW;
      output(this, pcb);
    }
    list.length = 0;
  }

  /**
   * The one door for state changes (as smoltcp's set_state): every
   * transition goes through here, so a trace hook sees them all.
   */
  setState(pcb: TcpPcb, to: TcpState): void {
    const from = pcb.state;
    if (from === to) return;
    pcb._enterState(to);
    if (this.stateTrace !== null) this.stateTrace(pcb, from, to);
  }

  /** Recompute the PCB's single timer from its deadlines. */
  armTimer(pcb: TcpPcb): void {
    // (A TIME_WAIT PCB still in the active table holds refused data: its retry timer runs.)
    if (pcb.freed || pcb.table === TableKind.TIME_WAIT) return;
    let t = pcb.deadlines.earliest();
    const ut = this.userTimeoutAt(pcb);
    if (ut >= 0 && ut < t) t = ut;
    if (t === Infinity) {
      // Nothing armed: let the timer go (an idle connection holds none; a
      // timer with its closures and name is some 400 bytes).
      this.dropTimer(pcb);
      pcb.deadlines.release();
      return;
    }
    const timer = (pcb.timer ??= this.takeTimer(pcb)).timer;
    if (!timer.active || timer.deadline !== t) timer.startAt(t);
  }

  /**
   * A timer for `pcb`: a spare one if any. A request/response connection
   * lets its timer go each time it is idle and takes one at the next
   * packet; reusing them spares a Timer and two closures per exchange.
   */
  private takeTimer(pcb: TcpPcb): PcbTimer {
    const spare = this.spareTimers.pop();
    if (spare !== undefined) {
      spare.pcb = pcb;
      return spare;
    }
    const box: { timer: Timer; pcb: TcpPcb | null } = { timer: null as unknown as Timer, pcb };
    box.timer = this.host.timer(
      () => {
        if (box.pcb !== null) onPcbTimer(this, box.pcb);
      },
      () => (box.pcb === null ? 'tcp (spare)' : `tcp ${formatIp(box.pcb.localIp)}:${box.pcb.localPort}->${formatIp(box.pcb.remoteIp)}:${box.pcb.remotePort}`),
    );
    return box;
  }

  /** Stop the PCB's timer and keep it as a spare (at most SPARE_TIMERS). */
  private dropTimer(pcb: TcpPcb): void {
    const t = pcb.timer;
    if (t === null) return;
    t.timer.stop();
    t.pcb = null;
    pcb.timer = null;
    if (this.spareTimers.length < SPARE_TIMERS) this.spareTimers.push(t);
  }

  /** When the user timeout aborts `pcb` if nothing is acknowledged meanwhile, or -1 (nothing waits, or no timeout). */
  userTimeoutAt(pcb: TcpPcb): number {
    const ut = pcb.userTimeout >= 0 ? pcb.userTimeout : this.config.userTimeoutMs;
    if (ut <= 0 || (pcb.unacked.empty && pcb.unsent.empty)) return -1;
    if (pcb.state === TcpState.SYN_SENT || pcb.state === TcpState.SYN_RCVD) return -1; // the SYN retry limits rule the handshake
    return pcb.progressAt + ut;
  }

  schedulePoll(pcb: TcpPcb): void {
    const active = pcb.pollFn !== null && pcb.pollInterval > 0 && pcb.state !== TcpState.LISTEN && pcb.state !== TcpState.CLOSED && pcb.state !== TcpState.TIME_WAIT;
    pcb.deadlines.arm(Deadline.POLL, active ? this.clock.now() + pcb.pollInterval * this.config.pollTickMs : -1);
  }

  scheduleKeepalive(pcb: TcpPcb, now: number): void {
    const on = (pcb.soOptions & SockOpt.KEEPALIVE) !== 0 && (pcb.state === TcpState.ESTABLISHED || pcb.state === TcpState.CLOSE_WAIT);
    pcb.keepProbes = 0;
    pcb.deadlines.arm(Deadline.KEEPALIVE, on ? now + pcb.keepIdle : -1);
  }

  /** Run the poll callback (and anything lwIP's slow timer does with it). */
  runPoll(pcb: TcpPcb): void {
    this.schedulePoll(pcb);
    if (pcb.pollFn !== null) {
      callPoll(this, pcb);
      if (pcb.freed) return;
    }
    output(this, pcb);
  }

  /** Is a challenge ACK allowed now? (RFC 5961 §7, per connection.) */
  challengeAllowed(pcb: TcpPcb): boolean {
    const now = this.clock.now();
    if (now - pcb.challengeWindowStart >= 1000) {
      pcb.challengeWindowStart = now;
      pcb.challengeCount = 0;
    }
    if (pcb.challengeCount >= this.config.challengeAcksPerSecond) return false;
    pcb.challengeCount++;
    this.counters.challengeAcks++;
    return true;
  }

  /**
   * May we ACK an unacceptable segment now? Segments that occupy sequence
   * space (data or FIN, `seqLen` > 0) always get their duplicate ACK (a
   * peer's spurious retransmission must learn RCV.NXT); bare segments and
   * SYNs get one per invalidAckIntervalMs, as in Linux: two stacks (or one
   * stack and itself) cannot ping-pong ACKs.
   */
  invalidAckAllowed(pcb: TcpPcb, seqLen: number, syn: boolean): boolean {
    if (seqLen > 0 && !syn) return true;
    const now = this.clock.now();
    if (now - pcb.lastOowAckAt < this.config.invalidAckIntervalMs) {
      this.counters.invalidAcksSkipped++;
      return false;
    }
    pcb.lastOowAckAt = now;
    return true;
  }

  private closeShutdown(pcb: TcpPcb, rstOnUnread: boolean): number {
    if (rstOnUnread && (pcb.state === TcpState.ESTABLISHED || pcb.state === TcpState.CLOSE_WAIT) && (pcb.refusedData !== null || pcb.rcvWnd !== pcb.rcvBufSize)) {
      // Not all data reached the application: tell the peer with a RST (lwIP).
      sendRstFromPcb(this, pcb);
      this.counters.estabResets++;
      // A reset connection is CLOSED (RFC 9293 §3.10.7): no TIME_WAIT
      // holding the 4-tuple (lwIP 2.x frees it here too).
      this.freePcb(pcb);
      return Err.OK;
    }
    if (rstOnUnread && pcb.refusedData !== null) {
      // Refused data still held once our side is closing (FIN_WAIT_x,
      // CLOSING, TIME_WAIT waiting for it): recv callbacks stop at close
      // (docs/raw-api.md rule 7), so it will never be taken. Drop it, and
      // as above tell the peer it was not processed (lwIP would go on
      // offering it to the closed application).
      pcb.refusedData.free();
      pcb.refusedData = null;
      this.releaseRefused(pcb);
      pcb.refusedFin = false;
      if (pcb.state === TcpState.TIME_WAIT) {
        this.enterTimeWait(pcb); // the peer is done: just the usual 2*MSL
      } else {
        sendRstFromPcb(this, pcb);
        this.freePcb(pcb);
      }
      return Err.OK;
    }
    switch (pcb.state) {
      case TcpState.CLOSED:
        this.freePcb(pcb);
        return Err.OK;
      case TcpState.LISTEN:
        // Connections still in the handshake keep pointing at the freed
        // listener: the completing ACK finds it gone and is refused with a
        // RST (dispatch), a RST or timeout frees them silently. Clearing the
        // pointer would make them look like an active (simultaneous) open
        // that completes into an ESTABLISHED connection nobody owns.
        this.freePcb(pcb);
        return Err.OK;
      case TcpState.SYN_SENT:
        this.freePcb(pcb);
        return Err.OK;
      case TcpState.SYN_RCVD:
      case TcpState.ESTABLISHED:
        this.leaveSynQueue(pcb);
        enqueueFin(pcb);
        this.setState(pcb, TcpState.FIN_WAIT_1);
        break;
      case TcpState.CLOSE_WAIT:
        enqueueFin(pcb);
        this.setState(pcb, TcpState.LAST_ACK);
        break;
      case TcpState.FIN_WAIT_2:
        // Half-closed earlier (shutdown tx), closed now: the peer's FIN may
        // never come, and no one reads any more (Linux tcp_fin_timeout).
        if (pcb.flags & PcbFlag.RXCLOSED && !pcb.deadlines.armed(Deadline.FIN_WAIT_2)) {
          pcb.deadlines.arm(Deadline.FIN_WAIT_2, this.clock.now() + this.config.finWait2TimeoutMs);
          this.armTimer(pcb);
        }
        return Err.OK;
      default:
        return Err.OK;
    }
    pcb.deadlines.cancel(Deadline.KEEPALIVE);
    return output(this, pcb);
  }

  private portConflict(pcb: TcpPcb, ip: IpAddr, port: number): boolean {
    for (const u of this.ports.usersOf(port)) {
      if (u === pcb) continue;
      const overlap = bindsOverlap(u.localIp, u.v6only, ip, pcb.v6only);
      if (!overlap) continue;
      const bothReuse = (u.soOptions & SockOpt.REUSEADDR) !== 0 && (pcb.soOptions & SockOpt.REUSEADDR) !== 0;
      if (!bothReuse) return true;
    }
    return false;
  }

  /**
   * An ephemeral port (RFC 6056-style: start anywhere in the range, probe
   * upward). With a remote endpoint the port only has to make the 4-tuple
   * unique; for bind it must be unused. 0 when the range is exhausted.
   */
  private ephemeralPort(localIp: IpAddr, remoteIp: IpAddr, remotePort: number): number {
    const lo = this.config.ephemeralLow;
    const span = this.config.ephemeralHigh - lo + 1;
    for (let i = 0; i < span; i++) {
      const port = lo + ((this.nextEphemeral - lo + i) % span);
      const free =
        ipIsAny(remoteIp)
          ? !this.ports.inUse(port)
          : !this.ports.usersOf(port).some((u) => u.state === TcpState.LISTEN || u.table === TableKind.BOUND || (ipEq(u.remoteIp, remoteIp) && u.remotePort === remotePort && (ipEq(u.localIp, localIp) || ipIsAny(u.localIp))));
      if (free) {
        this.nextEphemeral = lo + ((port - lo + 1) % span);
        return port;
      }
    }
    return 0;
  }

  /** Is queue entry `i` the live deadline of a TIME_WAIT PCB? */
  private twLive(i: number): boolean {
    const p = this.twQueue[i]!;
    return !p.freed && p.state === TcpState.TIME_WAIT && p.timeWaitAt === this.twDeadline[i];
  }

  private oldestTimeWait(): TcpPcb | null {
    for (let i = this.twHead; i < this.twQueue.length; i++) if (this.twLive(i)) return this.twQueue[i]!;
    return null;
  }

  private resetTimeWaitQueue(): void {
    this.twQueue.length = 0;
    this.twDeadline.length = 0;
    this.twHead = 0;
    this.twTimer.stop();
  }

  private expireTimeWait(): void {
    const now = this.clock.now();
    const q = this.twQueue;
    while (this.twHead < q.length && (this.twDeadline[this.twHead]! <= now || !this.twLive(this.twHead))) {
      if (this.twLive(this.twHead)) this.freePcb(q[this.twHead]!);
      this.twHead++;
    }
    if (this.twHead >= q.length) {
      q.length = 0;
      this.twDeadline.length = 0;
      this.twHead = 0;
      this.twTimer.stop();
      return;
    }
    if (this.twHead > 1024 && this.twHead * 2 > q.length) {
      q.splice(0, this.twHead);
      this.twDeadline.splice(0, this.twHead);
      this.twHead = 0;
    }
    this.twTimer.startAt(this.twDeadline[this.twHead]!);
  }

  /** ICMP errors about our segments (RFC 1122 §4.2.3.9, RFC 5927 checks, RFC 1191 PMTU). */
  private icmpError(e: IcmpErrorReport): void {
    if (e.transportHeader.length < 8) return;
    const h = e.transportHeader;
    const localPort = (h[0]! << 8) | h[1]!;
    const remotePort = (h[2]! << 8) | h[3]!;
    const seq = ((h[4]! << 24) | (h[5]! << 16) | (h[6]! << 8) | h[7]!) >>> 0;
    const pcb = this.active.lookup(e.origSrc, localPort, e.origDst, remotePort);
    if (pcb === null) return;
    // RFC 5927 §4.1: the quoted sequence number must be in flight.
    if (seqDiff(seq, pcb.sndUna) < 0 || seqDiff(seq, pcb.sndMax) >= 0) {
      if (!(pcb.state === TcpState.SYN_SENT && seq === pcb.iss)) return;
    }
    if (e.kind === IcmpErrorKind.TOO_BIG) {
      // Fragmentation needed / packet too big (RFC 1191, RFC 8201): lower
      // the MSS for the path, but not below minPmtu's (an IPv4 report of 0
      // from an old router means "unknown": take 576; IPv6 never goes below
      // 1280). Below the floor DF goes off instead, so a real tiny hop
      // fragments rather than drops (Linux min_pmtu).
      let mtu = e.nextHopMtu >= 68 ? e.nextHopMtu : 576;
      const familyMin = this.ip.of(pcb.remoteIp).minMtu;
      if (familyMin > 576 && mtu < familyMin) mtu = familyMin;
      if (mtu < this.config.minPmtu) {
        mtu = this.config.minPmtu;
        if (!pcb.pmtuFloored) {
          pcb.pmtuFloored = true;
          this.counters.pmtuFloored++;
        }
      }
      const m = this.mssFor(mtu, pcb.remoteIp);
      if (m < pcb.mss) {
        pcb.mss = m;
        output(this, pcb);
      }
      return;
    }
    if (e.kind === IcmpErrorKind.UNREACHABLE || e.kind === IcmpErrorKind.REFUSED || e.kind === IcmpErrorKind.OTHER) {
      // Unreachable: fatal while connecting (RFC 1122 allows aborting on hard errors), a soft error otherwise.
      const code = e.kind === IcmpErrorKind.REFUSED ? Err.RST : Err.RTE;
      if (pcb.state === TcpState.SYN_SENT) {
        this.counters.attemptFails++;
        this.abandon(pcb, false, code);
      } else {
        pcb.softError = code;
      }
      return;
    }
    pcb.softError = Err.TIMEOUT;
  }
}

/** How long a reset 4-tuple is kept from making a cookie connection: a cookie's own lifetime. */
/** Stopped PCB timers Tcp keeps for reuse (takeTimer). */
const SPARE_TIMERS = 256;

/** A PCB's timer and the PCB it serves now (null while spare). */
export interface PcbTimer {
  readonly timer: Timer;
  pcb: TcpPcb | null;
}

const RECENT_RESET_MS = 3 * 64_000;
const RECENT_RESETS_MAX = 8192;

function tupleKey(localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number): string {
  return `${String(localIp)}|${localPort}|${String(remoteIp)}|${remotePort}`;
}

function validate(c: ResolvedTcpConfig): void {
  const positive: (keyof ResolvedTcpConfig)[] = ['sndBuf', 'sndQueueLen', 'rcvWnd', 'initialWindowSegments', 'initialRtoMs', 'minRtoMs', 'maxRtoMs', 'dupThresh', 'timeWaitMs', 'keepIdleMs', 'keepIntvlMs', 'keepCnt', 'oooMaxBytes', 'oooMaxSegments', 'maxPcbs', 'maxTimeWait', 'pollTickMs', 'refusedRetryMs', 'maxPersistMs', 'ttl', 'synBacklog'];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new RangeError(`tcp config ${k} must be a positive number, got ${String(v)}`);
  }
  const nonNegative: (keyof ResolvedTcpConfig)[] = ['refusedQueueMaxBytes', 'invalidAckIntervalMs', 'challengeAcksPerSecond', 'userTimeoutMs', 'shedIdleMs', 'shedIntervalMs', 'pressureFraction', 'pressureSndBuf'];
  for (const k of nonNegative) {
    const v = c[k];
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new RangeError(`tcp config ${k} must be a non-negative number, got ${String(v)}`);
  }
  for (const k of ['dsack', 'rack', 'tlp', 'undo', 'frto'] as const) {
    if (typeof c[k] !== 'boolean') throw new RangeError(`tcp config ${k} must be a boolean, got ${String(c[k])}`);
  }
  if (c.rcvWnd > 0x3fffffff) throw new RangeError('tcp config rcvWnd must be below 2^30 (RFC 7323 window scale 14)');
  if (c.ephemeralLow < 1024 || c.ephemeralHigh > 0xffff || c.ephemeralLow > c.ephemeralHigh) throw new RangeError('tcp config ephemeral port range must lie within 1024..65535');
  if (c.mss !== 0 && (c.mss < 28 || c.mss > 65495)) throw new RangeError('tcp config mss must be within 28..65495');
  if (!(c.minSndMss >= 1 && c.minSndMss <= 65495)) throw new RangeError('tcp config minSndMss must be within 1..65495');
  if (!(c.pressureFraction >= 0 && c.pressureFraction <= 1)) throw new RangeError('tcp config pressureFraction must be within 0..1');
  if (!(c.minPmtu >= 68 && c.minPmtu <= 65535)) throw new RangeError('tcp config minPmtu must be within 68..65535');
  if (typeof c.hystart !== 'boolean') throw new RangeError(`tcp config hystart must be a boolean, got ${String(c.hystart)}`);
  if (typeof c.pacing !== 'boolean') throw new RangeError(`tcp config pacing must be a boolean, got ${String(c.pacing)}`);
}

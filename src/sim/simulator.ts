// The deterministic simulator: several Stacks on one VirtualClock, joined by
// links whose faults are drawn from seeded Rngs. Time jumps straight to the
// next event, so a minute of traffic takes milliseconds, and the same seed
// reproduces every byte and every timestamp.
import { Err } from '../err.ts';
import type { Netif } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufFlag, PbufType } from '../pbuf/pbuf.ts';
import { Stack, type StackOptions } from '../stack/stack.ts';
import { Rng } from '../time/rng.ts';
import { realSleep, yieldToEventLoop } from '../time/real-yield.ts';
import { AppDeterminism } from './app-determinism.ts';
import { AppTime } from './app-time.ts';
import { VirtualClock } from '../time/virtual-clock.ts';
import { FramePool } from './frame-pool.ts';
import { endLoan } from '../pbuf/pool.ts';
import { fillTcpChecksum, segmentTcpGso } from './gso.ts';
import { buildStages, type FrameSink, LinkPipeline, type LinkSpec, type LinkStage } from './link.ts';
import type { PcapWriter } from './pcap.ts';
import { SkewedClock } from '../time/skewed-clock.ts';
import { scheduleFaults, type FaultEvent, type FaultScheduleHandle } from './faults.ts';
import { MtuStage } from './stages/mtu.ts';
import { TapStage } from './stages/tap.ts';
import { Switch, SwitchPort, type SwitchOptions } from './switch.ts';
import { HostTable } from '../stack/host-table.ts';
import { type IpAddr, toIpAddr } from '../wire/ipaddr.ts';

export interface SimulatorOptions {
  seed?: number | string;
  /** Reuse frame buffers after delivery (default true; false allocates one per frame, for comparison). */
  reuseFrames?: boolean;
  /**
   * Pass TCP payloads by reference on point-to-point links where nothing
   * needs a copy (default true; false copies every frame, for comparison):
   * see Simulator.send.
   */
  lendFrames?: boolean;
  /** Timer events one runUntil may process before it throws as a runaway (default 50 million). */
  maxSteps?: number;
  /** Re-arms of one timer at or before now, at one instant, before the clock throws naming it (default 100 000). */
  maxRearmsPerInstant?: number;
}

export interface ConnectOptions {
  /** IPv4 address of `a`'s end and `b`'s end (dotted quad or u32); omit both for an IPv6-only link. */
  aAddr?: string | number;
  bAddr?: string | number;
  prefixLength?: number;
  /** IPv6 address of each end ("fd00::1", or with a prefix "fd00::1/64"); the link carries both families when given with aAddr/bAddr. */
  aAddr6?: string;
  bAddr6?: string;
  /** Prefix length of IPv6 addresses given without one (default 64). */
  prefixLength6?: number;
  mtu?: number;
  /** Faults and delay applied in both directions (default: 1 ms latency, no faults). */
  link?: LinkSpec;
  /** Overrides for the a→b and b→a directions. */
  ab?: LinkSpec;
  ba?: LinkSpec;
  /** Record every frame each side sends (before the link's faults). */
  pcap?: PcapWriter;
  /**
   * Both netifs take TCP super-segments of up to 64 KiB (GSO), which the
   * link cuts at the segment's MSS before its faults apply, as a NIC with
   * TSO or the TUN driver would. Pieces that still exceed the MTU are
   * dropped (DF) or fragmented, as every frame is: see MtuStage.
   */
  gso?: boolean;
  /**
   * With gso: the super-segments cross the link whole, as between two veth
   * ends with GSO and GRO (TSO/LRO NICs): the receiver gets segments of up
   * to 64 KiB, and each fault acts on a whole super-segment (one loss
   * draw loses all its MSS-sized pieces). The link carries frames up to
   * 64 KiB (plus the IP header); what the stacks send otherwise is still
   * bounded by their netifs' `mtu`.
   */
  gro?: boolean;
  /** Netif names (default sim0, sim1, ... per stack). */
  aName?: string;
  bName?: string;
}

export interface SimLink {
  /** The link's name, '<a>~<b>' (another link between the same hosts: '<a>~<b>#2'...): what setLink/setLinkUp take. */
  name: string;
  /** The stacks at each end now (a restarted host is a new Stack). */
  aStack: Stack;
  bStack: Stack;
  aNetif: Netif;
  bNetif: Netif;
  ab: LinkPipeline;
  ba: LinkPipeline;
}

export interface RunOptions {
  /** Virtual ms (from now) after which run() gives up with a SimulationTimeoutError (default 24 h). */
  timeoutMs?: number;
  /** Date.now() at virtual time 0, ms since 1970 (default 2000-01-01T00:00:00Z). */
  epochMs?: number;
  /**
   * Real ms the driver waits, when nothing virtual is left to run, for work
   * from outside the simulation (real I/O, a worker) before it declares a
   * stall (default 50).
   */
  outsideWaitMs?: number;
  /** Timer events (stack and application) the run may process (default: the simulator's budget). */
  maxSteps?: number;
  /** Drop application timers an earlier run left pending instead of resuming them (default false). */
  discardPendingTimers?: boolean;
  /**
   * After `main` settles, keep running for up to this many virtual ms while
   * application timers are pending (default 1000), as a Node process runs
   * its last timers before exiting: libraries' housekeeping (undici's timer
   * wheel ticks twice more, closing handshakes) finishes inside this run
   * instead of leaking into the next, so runs in one process stay
   * independent and replay identically.
   */
  lingerMs?: number;
}

/** run(): virtual time passed the run's timeout before the program finished. */
export class SimulationTimeoutError extends Error {
  override name = 'SimulationTimeoutError';
}

/**
 * run(): the program has not finished, and nothing in the simulation is
 * left to run (no packet in flight, no stack or application timer). It
 * either waits forever (a deadlock, in virtual time too) or waits on
 * something the simulator cannot see.
 */
export class SimulationStallError extends Error {
  override name = 'SimulationStallError';
}

/** One entry of the simulation's timeline (the trace and the fault log): `t` is virtual ms. */
export interface SimEvent {
  t: number;
  ev: string;
  [field: string]: unknown;
}

/** Sees every frame a host hands to a link ('tx', before the faults) and every frame a host receives ('rx'). */
export type FrameObserver = (t: number, kind: 'tx' | 'rx', link: string, frame: Uint8Array) => void;

export interface AddHostOptions {
  /** The stack's options (as addStack's); a restart builds the new stack with them. */
  stack?: Omit<StackOptions, 'clock' | 'name'>;
  /** Sets up the host's applications: run at once and after every restart. */
  boot?: (stack: Stack) => void | Promise<void>;
}

interface HostRecord {
  opts: Omit<StackOptions, 'clock' | 'name'>;
  generation: number;
  clock: SkewedClock;
  boot: ((stack: Stack) => void | Promise<void>) | undefined;
  booted: Promise<void>;
}

/** Timer events one run may process before it is declared a runaway. */
const MAX_STEPS = 50_000_000;

/** The largest frame a GRO link carries: a 64 KiB IPv6 payload behind its 40-byte header. */
const GRO_MAX_FRAME = 65535 + 40;

/** Frames shorter than this are copied: a loan's bookkeeping costs more than copying a few hundred bytes. */
const LEND_MIN = 512;

/**
 * A frame whose TCP payload is lent (Simulator.lend): after the frame's
 * first `hdr` bytes come block[start, start + len), then the next loan's
 * bytes (a super-segment's payload spans its pbuf chain's pieces).
 */
interface Loan {
  lender: Pbuf | null;
  block: Uint8Array;
  start: number;
  len: number;
  /** The frame's IP and TCP headers as sent (first loan of a frame only): the sender rewrites its header room when it retransmits. */
  readonly head: Uint8Array;
  hdr: number;
  next: Loan | null;
}

const NO_BYTES = new Uint8Array(0);

function newLoan(): Loan {
  return { lender: null, block: NO_BYTES, start: 0, len: 0, head: new Uint8Array(MAX_HEADERS), hdr: 0, next: null };
}

/** IPv4 header with options plus TCP header with options. */
const MAX_HEADERS = 120;

/**
 * What lent frames' tokens view: bytes nobody writes or reads. A token's
 * byteOffset is its slot (at most MAX_TOKENS live per simulator); the
 * buffer is larger than any frame, so a FramePool never keeps a token.
 */
const MAX_TOKENS = 1 << 16;
const TOKEN_BYTES = new ArrayBuffer(MAX_TOKENS + GRO_MAX_FRAME + 1);

/**
 * The pbuf whose pool block holds `q`'s bytes: q itself, or for a slice
 * piece (a super-segment made of queued segments) the piece it shows;
 * null for memory no pool owns (a REF write's application buffer).
 */
function blockOwner(q: Pbuf): Pbuf | null {
  let o: Pbuf | null = q;
  while (o !== null && !o.ownsBlock) o = o.parent;
  return o !== null && o.buf === q.buf ? o : null;
}

/**
 * Length of the IPv4 or IPv6 header plus TCP header at the start of
 * `buf[off, off + len)`, if that is an unfragmented TCP segment whose
 * headers both lie there (IPv6 without extension headers); else 0.
 */
function tcpHeadersLength(buf: Uint8Array, off: number, len: number): number {
  if (len < 40) return 0;
  const v = buf[off]! >> 4;
  let ihl: number;
  if (v === 4) {
    if (buf[off + 9] !== 6 || ((buf[off + 6]! & 0x3f) | buf[off + 7]!) !== 0) return 0;
    ihl = (buf[off]! & 0x0f) * 4;
  } else if (v === 6) {
    if (buf[off + 6] !== 6) return 0;
    ihl = 40;
  } else {
    return 0;
  }
  if (ihl < 20 || ihl + 20 > len) return 0;
  const hl = ihl + (buf[off + ihl + 12]! >> 4) * 4;
  return hl >= ihl + 20 && hl <= len ? hl : 0;
}

export class Simulator {
  readonly clock: VirtualClock;
  readonly rng: Rng;
  readonly stacks: Stack[] = [];
  readonly links: SimLink[] = [];
  /** Frame buffers shared by this simulator's links (reused after delivery). */
  readonly frames: FramePool;
  /** Timer events processed so far, over every run. */
  steps = 0;
  /** Pass TCP payloads by reference where nothing needs a copy (SimulatorOptions.lendFrames). */
  readonly lendFrames: boolean;
  /** Frames sent / delivered with their payload passed by reference (the rest are copies). */
  readonly lendStats = { lent: 0, delivered: 0, dropped: 0, copiedBack: 0 };
  /** Frames in flight whose payload is lent, by their token's slot (its byteOffset; see newToken). */
  private readonly loans: (Loan | null)[] = [];
  /** Token slots made so far, and those free again. */
  private slotCount = 0;
  private readonly freeSlots: number[] = [];
  /** What every pipeline's intact stages hand their discarded frames to: ends the loan of a lent one. */
  private readonly dropSink: FrameSink = (frame) => {
    if (frame.buffer !== TOKEN_BYTES) return;
    const loan = this.loans[frame.byteOffset];
    if (loan === null || loan === undefined) return;
    this.loans[frame.byteOffset] = null;
    this.endLoans(loan);
    this.freeToken(frame);
    this.lendStats.dropped++;
  };
  /** Loan records to reuse. */
  private readonly freeLoans: Loan[] = [];
  /** Lent frames' tokens to reuse, by length. */
  private readonly tokens: (Uint8Array[] | undefined)[] = [];
  /** run() calls so far (each draws Math.random from its own stream). */
  private runs = 0;
  /** Application timers still pending when the last run() returned (they resume in the next run in this process). */
  appTimersLeft = 0;
  private readonly maxSteps: number;
  private readonly eventListeners: ((e: SimEvent) => void)[] = [];
  private frameObservers: FrameObserver[] = [];
  /** Called with every stack the simulator creates (restarted hosts included), e.g. to hook its TCP state trace. */
  readonly stackListeners: ((stack: Stack) => void)[] = [];
  /**
   * How each host's links are (re)built, by stack name: connect() and
   * attach() register one function per netif, which adds that netif to the
   * given stack. A host restarted with fresh state gets its links back.
   */
  readonly wiring = new Map<string, ((stack: Stack) => void)[]>();

  constructor(opts: SimulatorOptions = {}) {
    this.rng = new Rng(opts.seed ?? 1);
    this.frames = new FramePool(opts.reuseFrames === false ? 0 : 256);
    this.lendFrames = opts.lendFrames !== false;
    this.maxSteps = opts.maxSteps ?? MAX_STEPS;
    this.clock = new VirtualClock(0, opts.maxRearmsPerInstant !== undefined ? { maxRearmsPerInstant: opts.maxRearmsPerInstant } : {});
  }

  /**
   * A stack on the simulator's clock (seen through the host's SkewedClock,
   * the identity until sim.skew), with its own Rng derived from the seed
   * and its name. The options are kept for sim.restart.
   */
  addStack(name: string, opts: Omit<StackOptions, 'clock' | 'name'> = {}): Stack {
    if (this.stacks.some((s) => s.name === name)) throw new Error(`simulator already has a stack named ${name}`);
    const stack = this.buildHostStack(name, opts);
    this.stacks.push(stack);
    for (const fn of [...this.stackListeners]) fn(stack);
    return stack;
  }

  /** Join two stacks with a point-to-point link (a netif on each side). */
  connect(a: Stack, b: Stack, o: ConnectOptions): SimLink {
    const base: LinkSpec = { latencyMs: 1, ...o.link };
    const abSpec = { ...base, ...o.ab };
    const baSpec = { ...base, ...o.ba };
    const prefixLength = o.prefixLength ?? 24;
    const mtu = o.mtu ?? 1500;
    // With GRO the wire carries whole super-segments; without, frames up to the MTU.
    const gro = o.gso === true && o.gro === true;
    const wireMtu = gro ? Math.max(mtu, GRO_MAX_FRAME) : mtu;
    // Pipelines deliver into the far side's netif, which exists only once
    // added (and is replaced when its host restarts): the link object holds
    // the current ends.
    const abLabel = `${a.name}->${b.name}`;
    const baLabel = `${b.name}->${a.name}`;
    const link = { name: this.uniqueLinkName(`${a.name}~${b.name}`) } as SimLink;
    link.ab = this.pipeline(abLabel, abSpec, wireMtu, o.pcap, (frame) => this.deliver(link.bStack, link.bNetif, frame, abLabel));
    link.ba = this.pipeline(baLabel, baSpec, wireMtu, o.pcap, (frame) => this.deliver(link.aStack, link.aNetif, frame, baLabel));
    const six = (x: string | undefined) => (x === undefined ? {} : { addr6: x, prefixLength6: o.prefixLength6 ?? 64 });
    const aName = o.aName ?? `sim${a.netifs.length - 1}`;
    const bName = o.bName ?? `sim${b.netifs.length - 1}`;
    const wireA = (s: Stack): void => {
      const n = s.addNetif({ name: aName, addr: o.aAddr ?? 0, prefixLength, ...six(o.aAddr6), mtu, output: (p) => this.send(link.ab, p, wireMtu, abLabel, true) });
      if (o.gso) n.gsoMaxSize = 65535;
      n.txCsumOffload = true;
      s.inet.txCsumOffload = true;
      link.aStack = s;
      link.aNetif = n;
    };
    const wireB = (s: Stack): void => {
      const n = s.addNetif({ name: bName, addr: o.bAddr ?? 0, prefixLength, ...six(o.bAddr6), mtu, output: (p) => this.send(link.ba, p, wireMtu, baLabel, true) });
      if (o.gso) n.gsoMaxSize = 65535;
      n.txCsumOffload = true;
      s.inet.txCsumOffload = true;
      link.bStack = s;
      link.bNetif = n;
    };
    wireA(a);
    wireB(b);
    this.addWiring(a.name, wireA);
    this.addWiring(b.name, wireB);
    this.links.push(link);
    this.linkConnected(link, abSpec, baSpec, o);
    return link;
  }

  /** Register how to rebuild one of host `name`'s netifs on a fresh stack (see `wiring`). */
  addWiring(name: string, wire: (stack: Stack) => void): void {
    const list = this.wiring.get(name);
    if (list === undefined) this.wiring.set(name, [wire]);
    else list.push(wire);
  }

  /** Listen to the timeline (faults, app timers, trace events); returns an unsubscribe function. */
  onEvent(fn: (e: SimEvent) => void): () => void {
    this.eventListeners.push(fn);
    return () => {
      const i = this.eventListeners.indexOf(fn);
      if (i >= 0) this.eventListeners.splice(i, 1);
    };
  }

  /** Whether anyone listens to the timeline (callers skip building events otherwise). */
  get hasEventListeners(): boolean {
    return this.eventListeners.length > 0;
  }

  /** Put an event on the timeline at the current virtual time. */
  emit(ev: string, fields: Record<string, unknown> = {}): void {
    if (this.eventListeners.length === 0) return;
    const e: SimEvent = { t: this.clock.now(), ev, ...fields };
    for (const fn of [...this.eventListeners]) fn(e);
  }

  /** Watch every frame hosts send and receive; returns an unsubscribe function. */
  onFrame(fn: FrameObserver): () => void {
    this.frameObservers = [...this.frameObservers, fn];
    return () => {
      this.frameObservers = this.frameObservers.filter((f) => f !== fn);
    };
  }

  /** Report a frame to the observers (links and switches call this; free when nobody watches). */
  observeFrame(kind: 'tx' | 'rx', link: string, frame: Uint8Array): void {
    const obs = this.frameObservers;
    if (obs.length === 0) return;
    const t = this.clock.now();
    for (const fn of obs) fn(t, kind, link, frame);
  }

  /**
   * Frames whose transport checksum the simulator vouches for: the frames
   * send() made from a stack's output (checksums computed by the sender, or
   * by segmentTcpGso), by identity. A stage that changes a frame (corrupt)
   * or makes another (duplicate, fragmentation) forwards a new object,
   * which is not in here: deliver() hands only the untouched originals to
   * the receiver as already verified (PbufFlag.CSUM_VALID, as a NIC with RX
   * checksum offload marks CHECKSUM_UNNECESSARY), so the receiver's TCP and
   * UDP skip summing their payload, and every frame a link may have damaged
   * is still checked (and dropped and counted when bad). Membership is set
   * at each send(), so a pooled frame reused later starts clean. These
   * frames may also lack their TCP checksum (TX offload, see send()): only
   * frames nobody could see or damage on the way.
   */
  private readonly verified = new WeakSet<Uint8Array>();

  /**
   * Driver output: the wire gets a copy (the stack keeps `p`); super-segments
   * are cut first (unless `mtu`, the largest frame the wire carries, is a
   * GRO link's). On a point-to-point link (`lend`) where nothing needs a
   * copy, a TCP segment's payload is passed by reference instead (see lend).
   */
  send(pipe: LinkPipeline, p: Pbuf, mtu: number, label: string, lend = false): number {
    if (lend && this.lendFrames && this.lend(pipe, p, mtu)) return Err.OK;
    const frames = this.frames;
    const frame = frames.take(p.totLen);
    p.copyPartial(frame, p.totLen, 0);
    // TX checksum offload (Netif.txCsumOffload, connect() links only): the
    // stack left the TCP checksum to us. The frame may cross the link
    // without it only if nobody can see it (no tap, no frame observer) and
    // no stage can damage, copy or fragment it; otherwise it is filled now,
    // as the stack would have, so pcaps and traces show the same bytes. A
    // pipeline whose send() was wrapped (tests insert stages that way) may
    // be watched too.
    // A super-segment the link cuts (gso without gro) needs none: segmentTcpGso sums each piece.
    if ((p.flags & PbufFlag.CSUM_PARTIAL) !== 0 && !(p.gsoSize > 0 && frame.length > mtu) && (!pipe.intact || frame.length > mtu || this.frameObservers.length > 0 || Object.hasOwn(pipe, 'send'))) fillTcpChecksum(frame);
    if (p.gsoSize > 0 && frame.length > mtu) {
      const pieces = segmentTcpGso(frame, p.gsoSize);
      if (pieces[0] === frame && (p.flags & PbufFlag.CSUM_PARTIAL) !== 0) fillTcpChecksum(frame); // not cut after all
      for (const piece of pieces) {
        this.verified.add(piece);
        this.observeFrame('tx', label, piece);
        pipe.send(piece);
      }
      if (pieces[0] !== frame) frames.give(frame); // the pieces are copies
    } else {
      this.verified.add(frame);
      this.observeFrame('tx', label, frame);
      pipe.send(frame);
    }
    return Err.OK;
  }

  /**
   * Send `p` with its TCP payload passed by reference, if it may be: the
   * pipeline's stages are all intact (they only hold, drop or pass the
   * frame, and report drops to dropSink), nobody watches frames (no tap,
   * observer, wrapped send or deliver), the frame fits the wire whole, and the
   * payload is one run of bytes in a block its pbuf owns (not the
   * application's memory, as a REF write is). The frame on the wire is a
   * pooled buffer holding a snapshot of the IP and TCP headers only (the
   * sender rewrites its header room when it retransmits); the payload
   * bytes stay in the sender's block, lent (PbufPool.lend) until the
   * receiver frees what it borrowed (deliver) or a stage drops the frame.
   * A loan does not pin the sender's pbuf: the sender frees its segment
   * when acked, as always, and only the block waits for the loan. No
   * checksum is computed: the frame cannot be damaged or seen. False:
   * send a copy.
   */
  private lend(pipe: LinkPipeline, p: Pbuf, mtu: number): boolean {
    const total = p.totLen;
    if (total < LEND_MIN || total > mtu || !pipe.intact || this.frameObservers.length > 0 || Object.hasOwn(pipe, 'send') || Object.hasOwn(this, 'deliver')) return false;
    const hdr = tcpHeadersLength(p.buf, p.off, p.len);
    if (hdr === 0) return false;
    // The payload: the rest of the first piece (if any) and every later piece, each in a pool block (not the application's memory).
    for (let q: Pbuf | null = hdr === p.len ? p.next : p; q !== null; q = q.next) if (blockOwner(q) === null) return false;
    // The wire's frame is a token of the right length (what stages count); the headers travel in the loan.
    const frame = this.tokens[total]?.pop() ?? this.newToken(total);
    if (frame === null) return false;
    let first: Loan | null = null;
    let last: Loan | null = null;
    for (let q: Pbuf | null = p; q !== null; q = q.next) {
      const start = q === p ? p.off + hdr : q.off;
      const len = q.off + q.len - start;
      if (len === 0) continue;
      const owner = blockOwner(q)!;
      const loan = this.freeLoans.pop() ?? newLoan();
      loan.lender = owner;
      loan.block = owner.pool.lend(owner, start, start + len);
      loan.start = start;
      loan.len = len;
      if (last === null) first = loan;
      else last.next = loan;
      last = loan;
    }
    // A byte loop: for a few dozen bytes it is much cheaper than set() with a subarray.
    const h = first!.head;
    const src = p.buf;
    for (let i = 0, o = p.off; i < hdr; i++) h[i] = src[o + i]!;
    first!.hdr = hdr;
    this.loans[frame.byteOffset] = first!;
    this.lendStats.lent++;
    pipe.send(frame);
    return true;
  }

  /** End every loan of a lent frame's chain (and recycle the records). */
  private endLoans(loan: Loan | null): void {
    for (let l = loan; l !== null; ) {
      endLoan(l.lender!, l.block);
      const next: Loan | null = l.next;
      this.freeLoan(l);
      l = next;
    }
  }

  /**
   * A new token of `len` bytes: a view of TOKEN_BYTES whose byteOffset is
   * its slot in `loans`, so finding a frame's loan is an array index. Null
   * when every slot is taken (the frame is copied instead).
   */
  private newToken(len: number): Uint8Array | null {
    const slot = this.freeSlots.pop() ?? (this.slotCount < MAX_TOKENS ? this.slotCount++ : -1);
    if (slot < 0) return null;
    while (this.loans.length <= slot) this.loans.push(null);
    return new Uint8Array(TOKEN_BYTES, slot, len);
  }

  /** Recycle a lent frame's token (a view made once per length is cheaper than a view per frame). */
  private freeToken(token: Uint8Array): void {
    const len = token.length;
    let list = this.tokens[len];
    if (list === undefined) {
      while (this.tokens.length < len) this.tokens.push(undefined); // stays a packed array
      list = [];
      this.tokens[len] = list;
    }
    if (list.length < 64) list.push(token);
    else this.freeSlots.push(token.byteOffset);
  }

  /** Recycle a loan record whose loan has ended or passed to a borrowed pbuf. */
  private freeLoan(l: Loan): void {
    l.lender = null;
    l.block = NO_BYTES;
    l.next = null;
    if (this.freeLoans.length < 1024) this.freeLoans.push(l);
  }

  /**
   * A lent frame arrives: the receiver gets a chain of a header piece (a
   * copy of the snapshot, from its pool) and a piece borrowing the
   * sender's payload bytes (PbufPool.borrow, charged what a copy would
   * have held), marked verified. Pool full: dropped and counted, as a copy.
   */
  private deliverLoan(stack: Stack, netif: Netif, frame: Uint8Array, loan: Loan): void {
    const pool = stack.pool;
    const head = pool.allocRx(loan.hdr, PbufType.POOL);
    // The first borrowed piece is charged what a copy of the whole frame would have held; the rest nothing.
    let charge = pool.rxPoolBytes(frame.length);
    let l: Loan | null = loan;
    if (head !== null) {
      const hb = head.buf;
      const h = loan.head;
      for (let i = 0, o = head.off, n = loan.hdr; i < n; i++) hb[o + i] = h[i]!;
      while (l !== null) {
        const body = pool.borrow(l.lender!, l.block, l.start, l.len, charge);
        if (body === null) break;
        head.cat(body);
        charge = 0;
        const next: Loan | null = l.next;
        this.freeLoan(l); // the borrowed piece carries the loan now
        l = next;
      }
    }
    this.freeToken(frame);
    if (head === null || l !== null) {
      head?.free(); // ends the loans already borrowed
      this.endLoans(l);
      stack.stats.link.memerr++;
      stack.stats.link.drop++;
      return;
    }
    head.flags |= PbufFlag.CSUM_VALID;
    this.lendStats.delivered++;
    stack.input(head, netif);
  }

  /**
   * Driver input: copy the frame into the receiver's pool, as a NIC would. An
   * RX allocation, which may use the pool's input reserve: as a DATA one it
   * failed once send queues had filled the pool, so no ACK ever got in and
   * both ends timed out. A netif that is down (its host crashed) receives nothing.
   */
  deliver(stack: Stack, netif: Netif, frame: Uint8Array, label: string): void {
    const frames = this.frames;
    const loan = frame.buffer === TOKEN_BYTES ? this.loans[frame.byteOffset] : null;
    if (loan !== null && loan !== undefined) {
      this.loans[frame.byteOffset] = null;
      if (netif.isUp && this.frameObservers.length === 0 && !Object.hasOwn(stack, 'input')) return this.deliverLoan(stack, netif, frame, loan);
      // Someone watches now (or nobody can receive): the token becomes an ordinary copy, checksum filled below.
      const real = frames.take(frame.length);
      real.set(loan.head.subarray(0, loan.hdr), 0);
      let at = loan.hdr;
      for (let l: Loan | null = loan; l !== null; l = l.next) {
        real.set(l.block.subarray(l.start, l.start + l.len), at);
        at += l.len;
      }
      this.endLoans(loan);
      this.freeToken(frame);
      frame = real;
      this.verified.add(frame);
      this.lendStats.copiedBack++;
    }
    if (!netif.isUp) {
      this.verified.delete(frame);
      frames.give(frame);
      return;
    }
    // A frame as its sender's stack made it (no stage changed or copied it): its checksums are good, or were left to us.
    const vouched = this.verified.delete(frame);
    // Someone watching now (a frame observer, or a wrapper around the receiving stack's input) sees the checksums filled
    // in, even in a frame sent unfilled before they started watching (a no-op on a filled frame).
    if (vouched && (this.frameObservers.length > 0 || Object.hasOwn(stack, 'input'))) fillTcpChecksum(frame);
    this.observeFrame('rx', label, frame);
    const p = stack.pool.allocRx(frame.length, PbufType.POOL);
    if (p === null) {
      stack.stats.link.memerr++;
      stack.stats.link.drop++;
      frames.give(frame);
      return;
    }
    p.take(frame);
    if (vouched && wholeTransport(frame)) p.flags |= PbufFlag.CSUM_VALID;
    frames.give(frame); // copied: the buffer can carry another frame
    stack.input(p, netif);
  }

  /**
   * Run events until `done()` holds or virtual time would pass `deadlineMs`
   * (absolute). Returns whether `done()` held. Time ends at the deadline
   * when the condition was not met. Throws when more than `maxSteps` timer
   * events (default: the simulator's budget) run without either: every
   * timer fired counts, those inside one instant too.
   */
  runUntil(done: () => boolean, deadlineMs = Infinity, maxSteps = this.maxSteps): boolean {
    let steps = 0;
    for (;;) {
      if (done()) return true;
      const next = this.clock.nextDeadline();
      if (next === null || next > deadlineMs) {
        if (Number.isFinite(deadlineMs) && deadlineMs > this.clock.now()) this.clock.advanceTo(deadlineMs);
        return done();
      }
      steps += this.step(next, maxSteps, steps);
    }
  }

  /**
   * The async form of runUntil, for application code that awaits (socket
   * calls return Promises): between virtual events it lets the event loop
   * turn, so promise continuations run at the virtual instant that caused
   * them. Still deterministic: only the order of events matters.
   */
  async runUntilAsync(done: () => boolean, deadlineMs = Infinity, maxSteps = this.maxSteps, outsideWaitMs = 0): Promise<boolean> {
    let steps = 0;
    for (;;) {
      await yieldToEventLoop();
      if (done()) return true;
      let next = this.clock.nextDeadline();
      // Nothing virtual left: real work (I/O, a WebAssembly compile such as
      // undici's first connection) may still be on its way; give it its turn.
      if (next === null && outsideWaitMs > 0 && (await this.waitOutside(outsideWaitMs, null, done))) continue;
      next = this.clock.nextDeadline();
      if (next === null || next > deadlineMs) {
        if (Number.isFinite(deadlineMs) && deadlineMs > this.clock.now()) this.clock.advanceTo(deadlineMs);
        await yieldToEventLoop();
        return done();
      }
      steps += this.step(next, maxSteps, steps);
    }
  }

  /** Fire what is due at `at` within what is left of `maxSteps` after `used`; throws when none is left. */
  private step(at: number, maxSteps: number, used: number): number {
    if (used >= maxSteps) throw new Error(`simulator: more than ${maxSteps} timer events without reaching the condition (runaway? at ${this.clock.now()} ms virtual, ${this.clock.pendingTimers()} timers pending)`);
    const fired = this.clock.advanceTo(at, maxSteps - used);
    this.steps += fired;
    return fired;
  }

  /**
   * Run `main` (the application: servers, clients, node:http, undici...)
   * with the global timers, Date and performance.now on this simulator's
   * virtual clock, and drive the simulation until the Promise it returns
   * settles; returns its value or rethrows its error.
   *
   * Stack timers and application timers share one timeline: the driver
   * always runs whichever is due first (the stacks first on a tie), one
   * application timer per event-loop turn, so promise continuations run
   * between them as in Node. When everything is idle, time jumps to the
   * next deadline: an hour of idle keep-alive costs milliseconds.
   *
   * Throws SimulationStallError when nothing virtual is left while `main`
   * has not settled (see RunOptions.outsideWaitMs), and
   * SimulationTimeoutError when virtual time passes `timeoutMs`.
   * Application timers still pending when run() returns are paused, not
   * lost: they resume with the delay they had left in the next run() in
   * this process (libraries such as undici keep one timer for their whole
   * life); RunOptions.discardPendingTimers drops them instead, and so does
   * a run the driver aborts (stall, timeout, runaway). Do not call
   * the other run/settle methods from inside `main`.
   */
  async run<T>(main: () => T | Promise<T>, opts: RunOptions = {}): Promise<T> {
    const app = new AppTime(this.clock, {
      ...(opts.epochMs !== undefined ? { epochMs: opts.epochMs } : {}),
      onFire: (info) => this.emit('timer', { id: info.id, kind: info.kind, delay: info.delay }),
      listening: () => this.eventListeners.length > 0,
    });
    const deadline = this.clock.now() + (opts.timeoutMs ?? 86_400_000);
    const maxSteps = opts.maxSteps ?? this.maxSteps;
    const outsideWaitMs = opts.outsideWaitMs ?? 50;
    app.install({ discardPending: opts.discardPendingTimers === true });
    let outcome: Outcome<T> | null = null;
    const settled = (): boolean => outcome?.settled === true;
    const outside = new AppDeterminism(this.rng.derive(`app:Math.random#${this.runs++}`));
    outside.install();
    try {
      // main starts under the fakes, on a fresh turn as Node would run a module.
      outcome = track(Promise.resolve().then(main));
      let steps = 0;
      let lingerUntil = -1;
      for (;;) {
        await yieldToEventLoop();
        if (settled()) {
          if (lingerUntil < 0) lingerUntil = this.clock.now() + (opts.lingerMs ?? 1000);
          const a = app.nextDeadline();
          if (a === null || a > lingerUntil) break;
        }
        const now = this.clock.now();
        const a = app.nextDeadline();
        if (a !== null && a <= now) {
          steps++;
          app.fireNext();
          continue;
        }
        const v = this.clock.nextDeadline();
        if (v === null && a === null) {
          if (settled()) break;
          if (await this.waitOutside(outsideWaitMs, app, settled)) continue;
          throw new SimulationStallError(
            `simulation stalled at ${now} ms virtual: the program has not finished and nothing is left to run ` +
              '(no frame in flight, no stack or application timer). It waits forever (a deadlock), or on something ' +
              'outside the simulation: real I/O, a worker thread, a timer inside a native addon, or a timer function captured before run() installed virtual time.',
          );
        }
        const next = Math.min(v ?? Infinity, a ?? Infinity);
        if (next > deadline) {
          if (settled()) break;
          this.clock.advanceTo(deadline);
          throw new SimulationTimeoutError(`simulation: the program did not finish within ${opts.timeoutMs ?? 86_400_000} ms of virtual time`);
        }
        if (v !== null && v <= next) {
          steps += this.step(v, maxSteps, steps);
          app.sync();
        } else {
          if (steps >= maxSteps) this.step(next, maxSteps, steps); // throws as a runaway
          this.clock.advanceTo(next);
          app.sync();
          steps++;
          app.fireNext();
        }
      }
    } catch (e) {
      // A run that failed leaves nothing for the next one to trip over.
      app.discardPending();
      throw e;
    } finally {
      this.appTimersLeft = app.pending();
      app.uninstall();
      outside.uninstall();
    }
    return result(outcome!);
  }

  /** Give work outside the simulation up to `ms` of real time to show up; true if something did. */
  private async waitOutside(ms: number, app: AppTime | null, settled: () => boolean): Promise<boolean> {
    // Counted in sleeps, not read from a clock: performance.now is virtual here.
    for (let i = 0; i < ms; i++) {
      await realSleep(1);
      if (settled() || (app !== null && app.nextDeadline() !== null) || this.clock.nextDeadline() !== null) return true;
    }
    return false;
  }

  /**
   * Run the simulation until `promise` settles (or virtual time passes
   * `deadlineMs` after now); returns its value or rethrows its error.
   * When nothing virtual is left to run it first gives work outside the
   * simulation (real I/O, undici compiling its parser) up to 50 ms of real
   * time to show up, instead of jumping to the deadline at once.
   */
  async settle<T>(promise: Promise<T>, timeoutMs = 3_600_000): Promise<T> {
    const outcome = track(promise);
    const ok = await this.runUntilAsync(() => outcome.settled, this.clock.now() + timeoutMs, this.maxSteps, 50);
    if (!ok) throw new Error(`simulator: promise did not settle within ${timeoutMs} ms of virtual time`);
    return result(outcome);
  }


  /** Run for `ms` of virtual time. */
  runFor(ms: number): void {
    this.runUntil(() => false, this.clock.now() + ms);
  }

  /** Run until no timer is pending (the network is quiet), or `maxMs` passes. True if it went idle. */
  runUntilIdle(maxMs = 3_600_000): boolean {
    return this.runUntil(() => this.clock.pendingTimers() === 0, this.clock.now() + maxMs);
  }

  /** Close every stack (freeing what they hold). */
  close(): void {
    for (const s of this.stacks) s.close();
  }

  // ------------------------------------------------------------------
  // Hosts over time (issue 16 part 3): crash, restart, clock skew, and the
  // fault schedule (src/sim/faults.ts; docs/faults.md).
  // ------------------------------------------------------------------

  /** Per host: how to rebuild it, its generation, its clock view, its boot function. */
  private readonly hostRecords = new Map<string, HostRecord>();

  /**
   * A host: a stack (as addStack) plus an optional `boot` function that
   * sets up its applications, run now and again after every restart.
   * Its Promise (an async boot) is what booted(name) returns.
   */
  addHost(name: string, o: AddHostOptions = {}): Stack {
    const stack = this.addStack(name, o.stack ?? {});
    const rec = this.hostRecords.get(name)!;
    if (o.boot !== undefined) {
      rec.boot = o.boot;
      this.bootHost(rec, stack);
    }
    return stack;
  }

  /** The host's current stack (a restart replaces it). */
  host(name: string): Stack {
    const s = this.stacks.find((x) => x.name === name);
    if (s === undefined) throw new RangeError(`simulator has no host named ${JSON.stringify(name)}`);
    return s;
  }

  /** Names of the hosts, in the order they were added. */
  get hostNames(): string[] {
    return this.stacks.map((s) => s.name);
  }

  /** The host is crashed and not restarted yet. */
  isDown(name: string): boolean {
    return this.host(name).isClosed;
  }

  /** How many times the host was restarted (0 for the stack addStack built). */
  generation(name: string): number {
    return this.record(name).generation;
  }

  /** The Promise of the host's latest boot (resolved when it has none or it was synchronous). */
  booted(name: string): Promise<void> {
    return this.record(name).booted;
  }

  /**
   * Crash host `name`: its stack vanishes without a FIN or RST (Stack.crash:
   * netifs down, connections abandoned with ECONNABORTED locally, timers
   * stopped, memory freed). Frames already on the wire still arrive; frames
   * for it are dropped. A no-op on a host that is down.
   */
  crash(name: string): void {
    const stack = this.host(name);
    this.emit('fault', { do: 'crash', host: name });
    stack.crash();
  }

  /**
   * Restart host `name` with fresh state: a new Stack with the same name
   * and options (its Rng derived from the seed, the name and the
   * generation), put in place of the old one in `stacks`, its links wired
   * to it again, stack listeners told, and its boot function run again.
   * A host that is up is crashed first (a power cycle). Returns the new stack.
   */
  restart(name: string): Stack {
    const rec = this.record(name);
    const old = this.host(name);
    this.emit('fault', { do: 'restart', host: name });
    old.crash();
    rec.generation++;
    const stack = this.buildHostStack(name, rec.opts);
    this.stacks[this.stacks.indexOf(old)] = stack;
    for (const fn of [...this.stackListeners]) fn(stack);
    for (const wire of this.wiring.get(name) ?? []) wire(stack);
    this.bootHost(rec, stack);
    return stack;
  }

  /**
   * Skew host `name`'s clock: from now on it reads the simulator's time +
   * `offsetMs`, running at `rate` times its speed (default 1). Its stack
   * sees it everywhere (TCP timestamps, RTT samples, timers); no other
   * host does. A step back freezes the host's clock until the new time
   * catches up (a host's clock never goes back: see SkewedClock). Kept
   * across restarts (it is the host's hardware clock).
   */
  skew(name: string, offsetMs: number, rate = 1): void {
    this.host(name);
    const clock = this.record(name).clock;
    this.emit('fault', { do: 'skew', host: name, offsetMs, ...(rate !== 1 ? { rate } : {}) });
    clock.skew(offsetMs, rate);
  }

  /** Host `name`'s view of the simulator's clock (the one its stack uses). */
  hostClock(name: string): SkewedClock {
    return this.record(name).clock;
  }

  /**
   * Apply `events` at their virtual times (see src/sim/faults.ts): all are
   * checked first (a RangeError names the bad one), then armed on the
   * clock; each emits a 'fault' event on the timeline as it is applied.
   */
  schedule(events: readonly FaultEvent[]): FaultScheduleHandle {
    return scheduleFaults(this, events);
  }

  private record(name: string): HostRecord {
    const r = this.hostRecords.get(name);
    if (r === undefined) throw new RangeError(`simulator has no host named ${JSON.stringify(name)}`);
    return r;
  }

  /** A stack for host `name` at its current generation (the first call records the host). */
  private buildHostStack(name: string, opts: Omit<StackOptions, 'clock' | 'name'>): Stack {
    let rec = this.hostRecords.get(name);
    if (rec === undefined) {
      rec = { opts, generation: 0, clock: new SkewedClock(this.clock), boot: undefined, booted: Promise.resolve() };
      this.hostRecords.set(name, rec);
    }
    const g = rec.generation;
    let rng: Rng;
    if (g === 0) rng = opts.rng instanceof Rng ? opts.rng : opts.rng !== undefined ? new Rng(opts.rng) : this.rng.derive(`stack:${name}`);
    else rng = opts.rng instanceof Rng ? opts.rng.derive(`#${g}`) : opts.rng !== undefined ? new Rng(opts.rng).derive(`#${g}`) : this.rng.derive(`stack:${name}#${g}`);
    return new Stack({ ...opts, rng, name, clock: rec.clock });
  }

  private bootHost(rec: HostRecord, stack: Stack): void {
    const boot = rec.boot;
    if (boot === undefined) return;
    let r: void | Promise<void>;
    try {
      r = boot(stack);
    } catch (err) {
      rec.booted = Promise.reject(err as Error);
      rec.booted.catch(() => {});
      throw err;
    }
    const p = Promise.resolve(r);
    rec.booted = p;
    // Nobody may await it: keep an async boot's failure from being unhandled, but on the timeline.
    p.catch((err: unknown) => this.emit('bootError', { host: stack.name, generation: rec.generation, error: String(err) }));
  }

  private pipeline(label: string, spec: LinkSpec, mtu: number, pcap: PcapWriter | undefined, deliverFn: (frame: Uint8Array) => void): LinkPipeline {
    const ctx = { clock: this.clock, rng: this.rng.derive(`link:${label}`), name: label, drop: this.dropSink };
    const stages = buildStages(ctx, spec);
    // The MTU first (what the sender's device could put on the wire), the tap before it (what the sender handed over).
    stages.unshift(new MtuStage(mtu, this.dropSink));
    if (pcap !== undefined) stages.unshift(new TapStage(ctx, (t, f) => pcap.write(t, f)));
    return new LinkPipeline(stages, deliverFn, this.dropSink);
  }

  // -------------------------------------------------------------------------
  // Topology (issue 16): switches, host names, partitions and link controls.
  // -------------------------------------------------------------------------

  /** Host names of every stack of this simulator (shared: stack.names of each, restarted ones too). */
  readonly names = new HostTable();
  /** Switches made by addSwitch(), in order. */
  readonly switches: Switch[] = [];
  /** Host name → partition group, while partitioned. */
  private partitionOf: ReadonlyMap<string, number> | null = null;
  /** The spec each pipeline was built or last reconfigured with. */
  private readonly pipeSpecs = new Map<LinkPipeline, LinkSpec>();
  // Every stack gets the shared table as it is made (addStack, and hosts restarted elsewhere through stackListeners).
  private readonly shareNames = this.stackListeners.push((s) => {
    s.names = this.names;
  });

  /** A switch (see switch.ts): attach hosts to it with attach(). */
  addSwitch(name: string, opts: SwitchOptions = {}): Switch {
    if (this.switches.some((w) => w.name === name)) throw new RangeError(`simulator already has a switch named ${name}`);
    const sw = new Switch(name, this.clock, this.frames, opts);
    this.switches.push(sw);
    return sw;
  }

  /**
   * Attach `stack` to `sw` through a new netif with `addr` and/or `addr6`,
   * which becomes the host's default route (of each family it has an
   * address of), so the host reaches every address the switch knows. The
   * link ("<host>~<switch>") is two pipelines built as connect() builds
   * them: `link` for both directions (default 1 ms latency, no faults),
   * `up` (host → switch) and `down` (switch → host) override it. The
   * host's addresses are entered under its name in the shared host table.
   * RangeError for an unknown switch, no address, or an address another
   * port of the switch already has.
   */
  attach(stack: Stack, sw: Switch, o: AttachOptions = {}): SwitchPort {
    if (!this.switches.includes(sw)) throw new RangeError(`switch ${sw.name} is not one of this simulator's`);
    if (!this.stacks.includes(stack)) throw new RangeError(`stack ${stack.name} is not one of this simulator's stacks (make it with addStack or addHost)`);
    if (o.addr === undefined && o.addr6 === undefined) throw new RangeError(`attach ${stack.name} to ${sw.name}: needs addr or addr6`);
    const linkName = `${stack.name}~${sw.name}`;
    if (this.findLink(linkName) !== null) throw new RangeError(`${stack.name} is already attached to switch ${sw.name}`);
    const base: LinkSpec = { latencyMs: 1, ...o.link };
    const upSpec = { ...base, ...o.up };
    const downSpec = { ...base, ...o.down };
    const mtu = o.mtu ?? 1500;
    const prefixLength = o.prefixLength ?? 24;
    const prefixLength6 = o.prefixLength6 ?? 64;
    const addrs: IpAddr[] = [];
    if (o.addr !== undefined) addrs.push(toIpAddr(o.addr, 'addr'));
    if (o.addr6 !== undefined) addrs.push(toIpAddr(stripPrefix(o.addr6), 'addr6'));
    const upLabel = `${stack.name}->${sw.name}`;
    const downLabel = `${sw.name}->${stack.name}`;
    const port = new SwitchPort(linkName, stack.name, sw, addrs);
    const give = (f: Uint8Array): void => this.frames.give(f);
    port.up = this.topoPipeline(upLabel, upSpec, mtu, o.pcap, (f) => sw.input(port, f), give);
    port.down = this.topoPipeline(downLabel, downSpec, mtu, o.pcap, (f) => this.deliver(port.stack, port.netif, f, downLabel), give);
    sw.addPort(port); // checks the addresses before the host gets a netif
    port.group = this.partitionOf?.get(stack.name) ?? -1;
    const netifName = o.name ?? `sim${stack.netifs.length - 1}`;
    const wire = (s: Stack): void => {
      const n = s.addNetif({
        name: netifName,
        addr: o.addr ?? 0,
        prefixLength,
        ...(o.addr6 !== undefined ? { addr6: o.addr6, prefixLength6 } : {}),
        mtu,
        isDefault: true,
        output: (p) => this.send(port.up, p, mtu, upLabel),
      });
      if (o.gso) n.gsoMaxSize = 65535;
      port.stack = s;
      port.netif = n;
    };
    wire(stack);
    this.addWiring(stack.name, wire);
    for (const a of addrs) this.names.add(stack.name, a);
    return port;
  }

  /**
   * Partition the network: frames between hosts of different groups are
   * dropped (counted: a switch's stats.partitioned, a point-to-point link's
   * pipeline.droppedBlocked) from now on; frames already past the cut
   * still arrive. Hosts in no group are unaffected. Replaces the previous
   * partition. RangeError for an unknown host or one named twice.
   */
  partition(groups: readonly (readonly string[])[]): void {
    const known = new Set([...this.stacks.map((s) => s.name), ...this.wiring.keys()]);
    const of = new Map<string, number>();
    groups.forEach((g, i) => {
      for (const h of g) {
        if (!known.has(h)) throw new RangeError(`partition: no host named ${h}`);
        if (of.has(h)) throw new RangeError(`partition: host ${h} is in two groups`);
        of.set(h, i);
      }
    });
    this.emit('fault', { do: 'partition', groups });
    this.partitionOf = of;
    this.applyPartition();
  }

  /** End the partition: every host reaches every other again. */
  heal(): void {
    this.emit('fault', { do: 'heal' });
    this.partitionOf = null;
    this.applyPartition();
  }

  /** The current partition's groups' index of each host named in it (empty when healed). */
  partitionGroups(): ReadonlyMap<string, number> {
    return this.partitionOf ?? new Map();
  }

  /**
   * Take link `link` down (both directions: every frame sent is dropped and
   * counted in pipeline.droppedDown, frames in flight are lost) or bring
   * it back up. RangeError for an unknown link.
   */
  setLinkUp(link: string, up: boolean): void {
    const l = this.linkByName(link);
    this.emit('fault', { do: up ? 'linkUp' : 'linkDown', link });
    l.ab.setDown(!up);
    l.ba.setDown(!up);
  }

  /**
   * Replace the faults and shaping of link `link` from now on, in direction
   * `dir` ('ab': a→b of a point-to-point link, host→switch of a switch
   * port; 'ba' the other way; 'both', the default). `spec` is read as
   * connect()'s `link` option (latencyMs defaults to 1): see linkSpec() to
   * change one field of the current spec. Frames the old stages hold keep
   * their schedule (and may be overtaken by later ones if the delay
   * shrinks); their counters stay in pipeline.stat(). Each
   * reconfiguration draws from a fresh Rng derived from the seed, the
   * direction and its count, so a run replays exactly. RangeError for an
   * unknown link, a bad direction or a bad spec (nothing changes then).
   */
  setLink(link: string, spec: LinkSpec, dir: 'both' | 'ab' | 'ba' = 'both'): void {
    const l = this.linkByName(link);
    if (dir !== 'both' && dir !== 'ab' && dir !== 'ba') throw new RangeError(`setLink: direction must be 'both', 'ab' or 'ba', got ${String(dir)}`);
    const full: LinkSpec = { latencyMs: 1, ...spec };
    buildStages({ clock: this.clock, rng: this.rng.derive('link:check') }, full); // validates before anything changes
    this.emit('fault', { do: 'link', link, spec, ...(dir !== 'both' ? { dir } : {}) });
    const pipes: [LinkPipeline, string][] = dir === 'ab' ? [[l.ab, l.abLabel]] : dir === 'ba' ? [[l.ba, l.baLabel]] : [[l.ab, l.abLabel], [l.ba, l.baLabel]];
    for (const [pipe, label] of pipes) {
      const n = pipe.reconfigurations + 1;
      const ctx = { clock: this.clock, rng: this.rng.derive(`link:${label}#${n}`), name: label, drop: this.dropSink };
      const fixed: LinkStage[] = [];
      for (const s of pipe.stages) {
        if (s instanceof TapStage || s instanceof MtuStage) fixed.push(s);
        else break;
      }
      pipe.reconfigure([...fixed, ...buildStages(ctx, full)]);
      this.pipeSpecs.set(pipe, full);
    }
  }

  /** The spec link `link` uses now in direction `dir` (as given to connect/attach/setLink, defaults filled in). */
  linkSpec(link: string, dir: 'ab' | 'ba' = 'ab'): LinkSpec {
    const l = this.linkByName(link);
    return { ...(this.pipeSpecs.get(dir === 'ab' ? l.ab : l.ba) ?? {}) };
  }

  /** Names of every link: point-to-point links ('<a>~<b>') in the order made, then switch ports ('<host>~<switch>'). */
  linkNames(): string[] {
    return [...this.links.map((l) => l.name), ...this.switches.flatMap((w) => w.ports.map((p) => p.name))];
  }

  /** The two pipelines of link `name` (RangeError if there is none). */
  linkPipelines(name: string): { ab: LinkPipeline; ba: LinkPipeline } {
    const l = this.linkByName(name);
    return { ab: l.ab, ba: l.ba };
  }

  private findLink(name: string): { ab: LinkPipeline; ba: LinkPipeline; abLabel: string; baLabel: string } | null {
    for (const l of this.links) if (l.name === name) return { ab: l.ab, ba: l.ba, abLabel: `${l.aStack.name}->${l.bStack.name}`, baLabel: `${l.bStack.name}->${l.aStack.name}` };
    for (const w of this.switches) {
      for (const p of w.ports) if (p.name === name) return { ab: p.up, ba: p.down, abLabel: `${p.host}->${w.name}`, baLabel: `${w.name}->${p.host}` };
    }
    return null;
  }

  private linkByName(name: string): { ab: LinkPipeline; ba: LinkPipeline; abLabel: string; baLabel: string } {
    const l = this.findLink(name);
    if (l === null) throw new RangeError(`no link named ${String(name)} (links: ${this.linkNames().join(', ') || 'none'})`);
    return l;
  }

  private uniqueLinkName(base: string): string {
    if (this.findLink(base) === null) return base;
    for (let i = 2; ; i++) if (this.findLink(`${base}#${i}`) === null) return `${base}#${i}`;
  }

  /** connect()'s bookkeeping: the specs, the partition, the host names. */
  private linkConnected(link: SimLink, abSpec: LinkSpec, baSpec: LinkSpec, o: ConnectOptions): void {
    this.pipeSpecs.set(link.ab, abSpec);
    this.pipeSpecs.set(link.ba, baSpec);
    if (this.partitionOf !== null) this.applyPartition();
    const enter = (name: string, v4: string | number | undefined, v6: string | undefined): void => {
      if (v4 !== undefined && v4 !== 0) this.names.add(name, toIpAddr(v4, 'addr'));
      if (v6 !== undefined) this.names.add(name, toIpAddr(stripPrefix(v6), 'addr6'));
    };
    enter(link.aStack.name, o.aAddr, o.aAddr6);
    enter(link.bStack.name, o.bAddr, o.bAddr6);
  }

  private applyPartition(): void {
    const of = this.partitionOf;
    const cut = (x: string, y: string): boolean => {
      if (of === null) return false;
      const gx = of.get(x);
      const gy = of.get(y);
      return gx !== undefined && gy !== undefined && gx !== gy;
    };
    for (const l of this.links) {
      const blocked = cut(l.aStack.name, l.bStack.name);
      l.ab.setBlocked(blocked);
      l.ba.setBlocked(blocked);
    }
    for (const w of this.switches) for (const p of w.ports) p.group = of?.get(p.host) ?? -1;
  }

  private topoPipeline(label: string, spec: LinkSpec, mtu: number, pcap: PcapWriter | undefined, deliverFn: (frame: Uint8Array) => void, drop: (frame: Uint8Array) => void): LinkPipeline {
    const ctx = { clock: this.clock, rng: this.rng.derive(`link:${label}`), name: label, drop: this.dropSink };
    const stages = buildStages(ctx, spec);
    stages.unshift(new MtuStage(mtu, this.dropSink));
    if (pcap !== undefined) stages.unshift(new TapStage(ctx, (t, f) => pcap.write(t, f)));
    const pipe = new LinkPipeline(stages, deliverFn, drop);
    this.pipeSpecs.set(pipe, spec);
    return pipe;
  }
}

/**
 * True if `frame` is a whole (unfragmented) TCP or UDP datagram directly
 * after its IP header: the frames deliver() may mark CSUM_VALID. A
 * fragment is left to be checked after reassembly (its siblings may have
 * been damaged), and so is anything behind IPv6 extension headers.
 */
function wholeTransport(frame: Uint8Array): boolean {
  if (frame.length < 20) return false;
  const v = frame[0]! >> 4;
  if (v === 4) {
    const proto = frame[9];
    return (proto === 6 || proto === 17) && ((frame[6]! & 0x3f) | frame[7]!) === 0;
  }
  if (v === 6 && frame.length >= 40) {
    const next = frame[6];
    return next === 6 || next === 17;
  }
  return false;
}

/** An IPv6 address without its "/prefix". */
function stripPrefix(a: string): string {
  const slash = a.indexOf('/');
  return slash < 0 ? a : a.slice(0, slash);
}

export interface AttachOptions {
  /** The host's IPv4 address on the switch (dotted quad or u32); omit for IPv6 only. */
  addr?: string | number;
  /** On-link prefix of `addr` (default 24). */
  prefixLength?: number;
  /** The host's IPv6 address ("fd00::5", or "fd00::5/64"). */
  addr6?: string;
  /** Prefix length of an addr6 given without one (default 64). */
  prefixLength6?: number;
  mtu?: number;
  /** TCP super-segments up to 64 KiB, cut by the link (see ConnectOptions.gso). */
  gso?: boolean;
  /** Record what crosses this port, both ways, before the link's faults. */
  pcap?: PcapWriter;
  /** Faults and delay in both directions (default: 1 ms latency, no faults). */
  link?: LinkSpec;
  /** Overrides for host → switch and switch → host. */
  up?: LinkSpec;
  down?: LinkSpec;
  /** The host's netif name (default sim0, sim1, ... per stack). */
  name?: string;
}

/** Where a Promise stands, readable synchronously by a driver loop. */
interface Outcome<T> {
  settled: boolean;
  failed: boolean;
  value: T | undefined;
  error: unknown;
}

function track<T>(p: Promise<T>): Outcome<T> {
  const o: Outcome<T> = { settled: false, failed: false, value: undefined, error: undefined };
  p.then(
    (v) => {
      o.settled = true;
      o.value = v;
    },
    (e: unknown) => {
      o.settled = true;
      o.failed = true;
      o.error = e;
    },
  );
  return o;
}

/** A settled outcome's value, or its error thrown. */
function result<T>(o: Outcome<T>): T {
  if (o.failed) throw o.error;
  return o.value as T;
}

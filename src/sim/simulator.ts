// The deterministic simulator: several Stacks on one VirtualClock, joined by
// links whose faults are drawn from seeded Rngs. Time jumps straight to the
// next event, so a minute of traffic takes milliseconds, and the same seed
// reproduces every byte and every timestamp.
import { Err } from '../err.ts';
import type { Netif } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufType } from '../pbuf/pbuf.ts';
import { Stack, type StackOptions } from '../stack/stack.ts';
import { Rng } from '../time/rng.ts';
import { yieldToEventLoop } from '../time/real-yield.ts';
import { VirtualClock } from '../time/virtual-clock.ts';
import { FramePool } from './frame-pool.ts';
import { segmentTcpGso } from './gso.ts';
import { buildStages, LinkPipeline, type LinkSpec } from './link.ts';
import type { PcapWriter } from './pcap.ts';
import { SkewedClock } from '../time/skewed-clock.ts';
import { scheduleFaults, type FaultEvent, type FaultScheduleHandle } from './faults.ts';
import { MtuStage } from './stages/mtu.ts';
import { TapStage } from './stages/tap.ts';

export interface SimulatorOptions {
  seed?: number | string;
  /** Reuse frame buffers after delivery (default true; false allocates one per frame, for comparison). */
  reuseFrames?: boolean;
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
  /** Netif names (default sim0, sim1, ... per stack). */
  aName?: string;
  bName?: string;
}

export interface SimLink {
  /** The stacks at each end now (a restarted host is a new Stack). */
  aStack: Stack;
  bStack: Stack;
  aNetif: Netif;
  bNetif: Netif;
  ab: LinkPipeline;
  ba: LinkPipeline;
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

export class Simulator {
  readonly clock: VirtualClock;
  readonly rng: Rng;
  readonly stacks: Stack[] = [];
  readonly links: SimLink[] = [];
  /** Frame buffers shared by this simulator's links (reused after delivery). */
  readonly frames: FramePool;
  /** Timer events processed so far, over every run. */
  steps = 0;
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
    // Pipelines deliver into the far side's netif, which exists only once
    // added (and is replaced when its host restarts): the link object holds
    // the current ends.
    const abLabel = `${a.name}->${b.name}`;
    const baLabel = `${b.name}->${a.name}`;
    const link = {} as SimLink;
    link.ab = this.pipeline(abLabel, abSpec, mtu, o.pcap, (frame) => this.deliver(link.bStack, link.bNetif, frame, abLabel));
    link.ba = this.pipeline(baLabel, baSpec, mtu, o.pcap, (frame) => this.deliver(link.aStack, link.aNetif, frame, baLabel));
    const six = (x: string | undefined) => (x === undefined ? {} : { addr6: x, prefixLength6: o.prefixLength6 ?? 64 });
    const aName = o.aName ?? `sim${a.netifs.length - 1}`;
    const bName = o.bName ?? `sim${b.netifs.length - 1}`;
    const wireA = (s: Stack): void => {
      const n = s.addNetif({ name: aName, addr: o.aAddr ?? 0, prefixLength, ...six(o.aAddr6), mtu, output: (p) => this.send(link.ab, p, mtu, abLabel) });
      if (o.gso) n.gsoMaxSize = 65535;
      link.aStack = s;
      link.aNetif = n;
    };
    const wireB = (s: Stack): void => {
      const n = s.addNetif({ name: bName, addr: o.bAddr ?? 0, prefixLength, ...six(o.bAddr6), mtu, output: (p) => this.send(link.ba, p, mtu, baLabel) });
      if (o.gso) n.gsoMaxSize = 65535;
      link.bStack = s;
      link.bNetif = n;
    };
    wireA(a);
    wireB(b);
    this.addWiring(a.name, wireA);
    this.addWiring(b.name, wireB);
    this.links.push(link);
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

  /** Driver output: the wire gets a copy (the stack keeps `p`); super-segments are cut first. */
  send(pipe: LinkPipeline, p: Pbuf, mtu: number, label: string): number {
    const frames = this.frames;
    const frame = frames.take(p.totLen);
    p.copyPartial(frame, p.totLen, 0);
    if (p.gsoSize > 0 && frame.length > mtu) {
      const pieces = segmentTcpGso(frame, p.gsoSize);
      for (const piece of pieces) {
        this.observeFrame('tx', label, piece);
        pipe.send(piece);
      }
      if (pieces[0] !== frame) frames.give(frame); // the pieces are copies
    } else {
      this.observeFrame('tx', label, frame);
      pipe.send(frame);
    }
    return Err.OK;
  }

  /**
   * Driver input: copy the frame into the receiver's pool, as a NIC would. An
   * RX allocation, which may use the pool's input reserve: as a DATA one it
   * failed once send queues had filled the pool, so no ACK ever got in and
   * both ends timed out. A netif that is down (its host crashed) receives nothing.
   */
  deliver(stack: Stack, netif: Netif, frame: Uint8Array, label: string): void {
    const frames = this.frames;
    if (!netif.isUp) {
      frames.give(frame);
      return;
    }
    this.observeFrame('rx', label, frame);
    const p = stack.pool.allocRx(frame.length, PbufType.POOL);
    if (p === null) {
      stack.stats.link.memerr++;
      stack.stats.link.drop++;
      frames.give(frame);
      return;
    }
    p.take(frame);
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
  async runUntilAsync(done: () => boolean, deadlineMs = Infinity, maxSteps = this.maxSteps): Promise<boolean> {
    let steps = 0;
    for (;;) {
      await yieldToEventLoop();
      if (done()) return true;
      const next = this.clock.nextDeadline();
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
   * Run the simulation until `promise` settles (or virtual time passes
   * `deadlineMs` after now); returns its value or rethrows its error.
   */
  async settle<T>(promise: Promise<T>, timeoutMs = 3_600_000): Promise<T> {
    let settled = false;
    let value: T | undefined;
    let error: unknown = undefined;
    let failed = false;
    promise.then(
      (v) => {
        settled = true;
        value = v;
      },
      (e: unknown) => {
        settled = true;
        failed = true;
        error = e;
      },
    );
    const ok = await this.runUntilAsync(() => settled, this.clock.now() + timeoutMs);
    if (!ok) throw new Error(`simulator: promise did not settle within ${timeoutMs} ms of virtual time`);
    if (failed) throw error;
    return value as T;
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
    this.host(name).crash();
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
    this.record(name).clock.skew(offsetMs, rate);
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
    const ctx = { clock: this.clock, rng: this.rng.derive(`link:${label}`), name: label };
    const stages = buildStages(ctx, spec);
    // The MTU first (what the sender's device could put on the wire), the tap before it (what the sender handed over).
    stages.unshift(new MtuStage(mtu));
    if (pcap !== undefined) stages.unshift(new TapStage(ctx, (t, f) => pcap.write(t, f)));
    return new LinkPipeline(stages, deliverFn);
  }
}

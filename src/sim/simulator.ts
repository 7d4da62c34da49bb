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
import { realSleep, yieldToEventLoop } from '../time/real-yield.ts';
import { AppDeterminism } from './app-determinism.ts';
import { AppTime } from './app-time.ts';
import { VirtualClock } from '../time/virtual-clock.ts';
import { FramePool } from './frame-pool.ts';
import { segmentTcpGso } from './gso.ts';
import { buildStages, LinkPipeline, type LinkSpec } from './link.ts';
import type { PcapWriter } from './pcap.ts';
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
    this.maxSteps = opts.maxSteps ?? MAX_STEPS;
    this.clock = new VirtualClock(0, opts.maxRearmsPerInstant !== undefined ? { maxRearmsPerInstant: opts.maxRearmsPerInstant } : {});
  }

  /** A stack on the simulator's clock, with its own Rng derived from the seed and its name. */
  addStack(name: string, opts: Omit<StackOptions, 'clock' | 'name'> = {}): Stack {
    if (this.stacks.some((s) => s.name === name)) throw new Error(`simulator already has a stack named ${name}`);
    const stack = new Stack({ rng: this.rng.derive(`stack:${name}`), ...opts, name, clock: this.clock });
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
    });
    const deadline = this.clock.now() + (opts.timeoutMs ?? 86_400_000);
    const maxSteps = opts.maxSteps ?? this.maxSteps;
    const outsideWaitMs = opts.outsideWaitMs ?? 50;
    let settled = false;
    let failed = false;
    let value: T | undefined;
    let error: unknown;
    app.install({ discardPending: opts.discardPendingTimers === true });
    const outside = new AppDeterminism(this.rng.derive(`app:Math.random#${this.runs++}`));
    outside.install();
    try {
      // main starts under the fakes, on a fresh turn as Node would run a module.
      Promise.resolve()
        .then(main)
        .then(
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
      let steps = 0;
      let lingerUntil = -1;
      for (;;) {
        await yieldToEventLoop();
        if (settled) {
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
          if (settled) break;
          if (await this.waitOutside(outsideWaitMs, app, () => settled)) continue;
          throw new SimulationStallError(
            `simulation stalled at ${now} ms virtual: the program has not finished and nothing is left to run ` +
              '(no frame in flight, no stack or application timer). It waits forever (a deadlock), or on something ' +
              'outside the simulation: real I/O, a worker thread, a timer inside a native addon, or a timer function captured before run() installed virtual time.',
          );
        }
        const next = Math.min(v ?? Infinity, a ?? Infinity);
        if (next > deadline) {
          if (settled) break;
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
    if (failed) throw error;
    return value as T;
  }

  /** Give work outside the simulation up to `ms` of real time to show up; true if something did. */
  private async waitOutside(ms: number, app: AppTime, settled: () => boolean): Promise<boolean> {
    // Counted in sleeps, not read from a clock: performance.now is virtual here.
    for (let i = 0; i < ms; i++) {
      await realSleep(1);
      if (settled() || app.nextDeadline() !== null || this.clock.nextDeadline() !== null) return true;
    }
    return false;
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

  private pipeline(label: string, spec: LinkSpec, mtu: number, pcap: PcapWriter | undefined, deliverFn: (frame: Uint8Array) => void): LinkPipeline {
    const ctx = { clock: this.clock, rng: this.rng.derive(`link:${label}`), name: label };
    const stages = buildStages(ctx, spec);
    // The MTU first (what the sender's device could put on the wire), the tap before it (what the sender handed over).
    stages.unshift(new MtuStage(mtu));
    if (pcap !== undefined) stages.unshift(new TapStage(ctx, (t, f) => pcap.write(t, f)));
    return new LinkPipeline(stages, deliverFn);
  }
}

// The simulator's links: a frame sent into a LinkPipeline goes through a
// chain of stages (device middleware, as smoltcp's phy wrappers) before the
// far end receives it. Stages may drop, copy, corrupt, hold and release
// frames; all their time comes from the injected Clock and all their chance
// from the injected Rng, so a seed fixes everything that reaches the far end
// and when.
//
// Frames are plain Uint8Arrays owned by the link once sent (senders hand in
// a copy). A stage that forwards a frame and also keeps or forwards another
// version of it (duplicate, corrupt) copies first: no stage ever changes a
// frame that someone else may still see.
import type { Clock } from '../time/clock.ts';
import type { Rng } from '../time/rng.ts';
import { CorruptStage } from './stages/corrupt.ts';
import { DuplicateStage } from './stages/duplicate.ts';
import { LatencyStage } from './stages/latency.ts';
import { type BurstLossOptions, LossStage } from './stages/loss.ts';
import { RateLimitStage } from './stages/rate-limit.ts';
import { ReorderStage } from './stages/reorder.ts';
import { checkNonNegative, checkPositive, checkProbability } from './stages/validate.ts';

export { CorruptStage, type CorruptOptions } from './stages/corrupt.ts';
export { DuplicateStage, type DuplicateOptions } from './stages/duplicate.ts';
export { LatencyStage, type LatencyOptions } from './stages/latency.ts';
export { LossStage, type LossOptions, type BurstLossOptions, expectedLossRate } from './stages/loss.ts';
export { RateLimitStage, type RateLimitOptions } from './stages/rate-limit.ts';
export { ReorderStage, type ReorderOptions } from './stages/reorder.ts';
export { TapStage, type TapCallback } from './stages/tap.ts';

export type FrameSink = (frame: Uint8Array) => void;

export interface StageContext {
  clock: Clock;
  rng: Rng;
  /** Names the stage's timers in errors, e.g. 'client->server/rate-limit' (default: the stage's name). */
  name?: string;
  /**
   * Takes every frame an `intact` stage discards (lost, tail-dropped,
   * oversize, held when cleared), so the frame's owner can reclaim it: the
   * simulator ends the loan of a frame passed by reference.
   */
  drop?: FrameSink;
}

/** One piece of device middleware (smoltcp's phy habit). */
export interface LinkStage {
  readonly name: string;
  /** Take a frame; call next(frame) zero or more times, now or later (via clock timers). */
  push(frame: Uint8Array, next: FrameSink): void;
  /** Counters for this stage, e.g. { passed, dropped, duplicated, ... }. */
  readonly stats: Record<string, number>;
  /** Frames this stage holds right now (stages that hold none may omit it). */
  inFlight?(): number;
  /** Drop every held frame and stop its timers; returns how many were dropped. */
  clear?(): number;
  /**
   * True if the stage only delays, drops or passes on the very frames it is
   * given (the same objects, bytes unchanged) and never reads beyond their
   * IP headers: loss, latency, rate limit, reorder, the MTU for frames that
   * fit. The simulator sends frames whose TCP checksum is not filled in,
   * and frames whose payload it passes by reference, only through
   * pipelines of such stages (see LinkPipeline.intact); such a stage must
   * hand every frame it discards to its context's `drop`.
   */
  readonly intact?: boolean;
}

export class LinkPipeline {
  private current: readonly LinkStage[];
  /** Stages replaced by reconfigure(): they may still hold frames, and their counters still count. */
  private readonly retired: LinkStage[] = [];
  private readonly deliverSink: FrameSink;
  private readonly drop: FrameSink | undefined;
  private entry: FrameSink;
  private sentCount = 0;
  private deliveredCount = 0;
  private isDown = false;
  private isBlocked = false;
  private downDrops = 0;
  private blockedDrops = 0;
  private reconfigs = 0;

  /**
   * `deliver` takes the frames that come out of the last stage; `drop`
   * (optional) the frames refused while the link is down or blocked, e.g.
   * to return them to a FramePool.
   */
  constructor(stages: LinkStage[], deliver: FrameSink, drop?: FrameSink) {
    this.current = Object.freeze([...stages]);
    this.deliverSink = (frame) => {
      this.deliveredCount++;
      deliver(frame);
    };
    this.drop = drop;
    this.entry = this.chain(this.current);
  }

  /** The stages frames go through now, in order. */
  get stages(): readonly LinkStage[] {
    return this.current;
  }

  /**
   * Every current stage is `intact` (LinkStage.intact): a frame sent now
   * reaches the far end as the very object sent, unless dropped, and no
   * stage looks at its transport bytes (no tap, no corruption, no copies).
   */
  intact = true;

  /** Chain the sinks once, back to front, so send() allocates nothing. */
  private chain(stages: readonly LinkStage[]): FrameSink {
    this.intact = stages.every((s) => s.intact === true);
    let sink = this.deliverSink;
    for (let i = stages.length - 1; i >= 0; i--) {
      const stage = stages[i]!;
      const next = sink;
      sink = (frame) => stage.push(frame, next);
    }
    return sink;
  }

  /**
   * Runs `frame` through the stages in order, then to `deliver`. The link
   * owns it from now on. A link that is down or blocked refuses it (counted
   * in droppedDown / droppedBlocked).
   */
  send(frame: Uint8Array): void {
    this.sentCount++;
    if (this.isDown || this.isBlocked) {
      if (this.isDown) this.downDrops++;
      else this.blockedDrops++;
      this.drop?.(frame);
      return;
    }
    this.entry(frame);
  }

  /**
   * Frames sent from now on go through `stages` instead. Frames the old
   * stages hold keep their schedule and still reach the far end (unless
   * clear() drops them); the old stages' counters keep counting in stat().
   * Stages present in both lists (a tap, the MTU) carry on as they are.
   */
  reconfigure(stages: LinkStage[]): void {
    const next = Object.freeze([...stages]);
    for (const s of this.current) if (!next.includes(s)) this.retired.push(s);
    this.current = next;
    this.entry = this.chain(next);
    this.reconfigs++;
  }

  /** How many times reconfigure() was called. */
  get reconfigurations(): number {
    return this.reconfigs;
  }

  /** Take the link down (every frame sent is dropped, and what is in flight is lost) or bring it up. */
  setDown(down: boolean): void {
    this.isDown = down;
    if (down) this.clear();
  }

  /** False while the link is down (setDown). */
  get up(): boolean {
    return !this.isDown;
  }

  /** Refuse (true) or accept again (false) frames sent from now on, frames in flight untouched: a partition. */
  setBlocked(blocked: boolean): void {
    this.isBlocked = blocked;
  }

  get blocked(): boolean {
    return this.isBlocked;
  }

  /** Frames refused because the link was down. */
  get droppedDown(): number {
    return this.downDrops;
  }

  /** Frames refused because the link was blocked (a partition), and not down. */
  get droppedBlocked(): number {
    return this.blockedDrops;
  }

  /** Frames currently held inside stages (in flight), in retired stages too. */
  inFlight(): number {
    let n = 0;
    for (const s of this.current) n += s.inFlight?.() ?? 0;
    for (const s of this.retired) n += s.inFlight?.() ?? 0;
    return n;
  }

  /** Frames handed to send(). */
  get sent(): number {
    return this.sentCount;
  }

  /** Frames handed to the far end. */
  get delivered(): number {
    return this.deliveredCount;
  }

  /** Sum of one counter over every stage that has it, e.g. stat('dropped'), retired stages included. */
  stat(name: string): number {
    let n = 0;
    for (const s of this.current) n += s.stats[name] ?? 0;
    for (const s of this.retired) n += s.stats[name] ?? 0;
    return n;
  }

  /** Drop every frame in flight and stop the stages' timers; returns how many were dropped. */
  clear(): number {
    let n = 0;
    for (const s of this.current) n += s.clear?.() ?? 0;
    for (const s of this.retired) n += s.clear?.() ?? 0;
    return n;
  }
}

/**
 * Fault and shaping options for one direction of a link. A stage is built
 * only for the options given; an empty spec gives an ideal wire.
 */
export interface LinkSpec {
  /** One-way propagation delay, ms. */
  latencyMs?: number;
  /** Random extra delay in [0, jitterMs), ms; never reorders. */
  jitterMs?: number;
  /** Bottleneck rate (token bucket). */
  bitsPerSecond?: number;
  /** Token bucket depth, bytes (default 3000). Needs bitsPerSecond. */
  burstBytes?: number;
  /** Bottleneck queue before tail drop, bytes (default 64 KiB). Needs bitsPerSecond. */
  queueBytes?: number;
  /** Independent loss probability (with burstLoss: loss while Good). */
  loss?: number;
  /** Gilbert-Elliott bursty loss. */
  burstLoss?: BurstLossOptions;
  /** Probability a frame is followed by a copy. */
  duplicate?: number;
  /** Probability a frame is held back by reorderDelayMs. */
  reorder?: number;
  /** How long a reordered frame is held, ms (default 10). Needs reorder. */
  reorderDelayMs?: number;
  /** Probability a frame gets one bit flipped. */
  corrupt?: number;
}

export const DEFAULT_REORDER_DELAY_MS = 10;

const SPEC_KEYS: ReadonlySet<string> = new Set([
  'latencyMs',
  'jitterMs',
  'bitsPerSecond',
  'burstBytes',
  'queueBytes',
  'loss',
  'burstLoss',
  'duplicate',
  'reorder',
  'reorderDelayMs',
  'corrupt',
]);

/**
 * The stages for `spec`, in this order:
 *
 *   loss → duplicate → corrupt → rate limit → reorder → latency
 *
 * - Loss, duplication and corruption come first and act at once, in send
 *   order. Their random draws therefore depend only on the sequence of
 *   frames sent, never on timing: changing the rate or the delay of a link
 *   does not change which frames are lost, copied or damaged. (The cost: a
 *   lost frame never uses the bottleneck, as if lost before it.) Loss goes
 *   before duplication so that a lost frame is not copied; corruption after
 *   it, so the two copies of a duplicate are damaged independently.
 * - The rate limiter is the bottleneck queue: copies take their share of
 *   the bandwidth, and its tail drops model congestion loss.
 * - Reordering comes after the bottleneck (paths diverge after it), and
 *   before latency, whose FIFO then keeps the overtaking it caused.
 * - Latency (propagation and jitter) comes last, so queueing delay and
 *   propagation delay add up and jitter is not absorbed by the queue.
 *
 * Each stage gets its own Rng, ctx.rng.derive(stage name), so enabling one
 * fault never shifts the random stream of another. Add a TapStage where you
 * want to observe (e.g. at the end: what the far end receives).
 *
 * Throws RangeError for unknown options, out-of-range values, and options
 * given without the one they modify (burstBytes without bitsPerSecond...).
 */
export function buildStages(ctx: StageContext, spec: LinkSpec): LinkStage[] {
  for (const key of Object.keys(spec)) {
    if (!SPEC_KEYS.has(key)) throw new RangeError(`LinkSpec: unknown option '${key}'`);
  }
  const needs = (opt: keyof LinkSpec, on: keyof LinkSpec): void => {
    if (spec[opt] !== undefined && spec[on] === undefined) {
      throw new RangeError(`LinkSpec: ${opt} needs ${on}`);
    }
  };
  needs('burstBytes', 'bitsPerSecond');
  needs('queueBytes', 'bitsPerSecond');
  needs('reorderDelayMs', 'reorder');
  // Check every value before building anything, so errors name the spec field.
  if (spec.latencyMs !== undefined) checkNonNegative('LinkSpec', 'latencyMs', spec.latencyMs);
  if (spec.jitterMs !== undefined) checkNonNegative('LinkSpec', 'jitterMs', spec.jitterMs);
  if (spec.bitsPerSecond !== undefined) checkPositive('LinkSpec', 'bitsPerSecond', spec.bitsPerSecond);
  if (spec.burstBytes !== undefined) checkPositive('LinkSpec', 'burstBytes', spec.burstBytes);
  if (spec.queueBytes !== undefined) checkNonNegative('LinkSpec', 'queueBytes', spec.queueBytes);
  if (spec.loss !== undefined) checkProbability('LinkSpec', 'loss', spec.loss);
  if (spec.duplicate !== undefined) checkProbability('LinkSpec', 'duplicate', spec.duplicate);
  if (spec.reorder !== undefined) checkProbability('LinkSpec', 'reorder', spec.reorder);
  if (spec.reorderDelayMs !== undefined) checkNonNegative('LinkSpec', 'reorderDelayMs', spec.reorderDelayMs);
  if (spec.corrupt !== undefined) checkProbability('LinkSpec', 'corrupt', spec.corrupt);

  const sub = (name: string): StageContext => ({
    clock: ctx.clock,
    rng: ctx.rng.derive(name),
    name: ctx.name === undefined ? name : `${ctx.name}/${name}`,
    ...(ctx.drop !== undefined ? { drop: ctx.drop } : {}),
  });
  const stages: LinkStage[] = [];
  if (spec.loss !== undefined || spec.burstLoss !== undefined) {
    stages.push(
      new LossStage(sub('loss'), {
        probability: spec.loss ?? 0,
        ...(spec.burstLoss !== undefined ? { burst: spec.burstLoss } : {}),
      }),
    );
  }
  if (spec.duplicate !== undefined) {
    stages.push(new DuplicateStage(sub('duplicate'), { probability: spec.duplicate }));
  }
  if (spec.corrupt !== undefined) {
    stages.push(new CorruptStage(sub('corrupt'), { probability: spec.corrupt }));
  }
  if (spec.bitsPerSecond !== undefined) {
    stages.push(
      new RateLimitStage(sub('rate-limit'), {
        bitsPerSecond: spec.bitsPerSecond,
        ...(spec.burstBytes !== undefined ? { burstBytes: spec.burstBytes } : {}),
        ...(spec.queueBytes !== undefined ? { queueBytes: spec.queueBytes } : {}),
      }),
    );
  }
  if (spec.reorder !== undefined) {
    stages.push(
      new ReorderStage(sub('reorder'), {
        probability: spec.reorder,
        delayMs: spec.reorderDelayMs ?? DEFAULT_REORDER_DELAY_MS,
      }),
    );
  }
  if (spec.latencyMs !== undefined || spec.jitterMs !== undefined) {
    stages.push(
      new LatencyStage(sub('latency'), {
        delayMs: spec.latencyMs ?? 0,
        ...(spec.jitterMs !== undefined ? { jitterMs: spec.jitterMs } : {}),
      }),
    );
  }
  return stages;
}

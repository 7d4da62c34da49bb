// Reordering: with `probability` a frame is held back for delayMs while the
// frames after it pass straight through and overtake it (as on a path with
// two routes). Held frames keep their order among themselves. One clock
// timer, armed for the oldest held frame.
import type { Timer } from '../../time/timer-heap.ts';
import type { FrameSink, LinkStage, StageContext } from '../link.ts';
import { FrameQueue } from './frame-queue.ts';
import { checkNonNegative, checkProbability } from './validate.ts';

export interface ReorderOptions {
  /** Chance that a frame is held back. */
  probability: number;
  /** How long a held frame waits, in ms (>= 0). */
  delayMs: number;
}

export class ReorderStage implements LinkStage {
  readonly name = 'reorder';
  /** Forwards the frames it is given, unchanged (or drops them): see LinkStage.intact. */
  readonly intact = true;
  /** passed: frames sent on (held ones included, once released); reordered: frames held back. */
  readonly stats = { passed: 0, reordered: 0 };
  readonly probability: number;
  readonly delayMs: number;
  private readonly ctx: StageContext;
  private readonly held = new FrameQueue();
  private readonly timer: Timer;

  constructor(ctx: StageContext, options: ReorderOptions) {
    this.ctx = ctx;
    this.probability = checkProbability('ReorderStage', 'probability', options.probability);
    this.delayMs = checkNonNegative('ReorderStage', 'delayMs', options.delayMs);
    this.timer = ctx.clock.timer(() => this.release(), ctx.name ?? 'reorder');
  }

  push(frame: Uint8Array, next: FrameSink): void {
    if (!this.ctx.rng.chance(this.probability)) {
      this.stats.passed++;
      next(frame);
      return;
    }
    this.stats.reordered++;
    // Every frame waits the same delay, so due times are non-decreasing: FIFO.
    const due = this.ctx.clock.now() + this.delayMs;
    this.held.push(frame, next, due);
    if (this.held.length === 1) this.timer.startAt(due);
  }

  inFlight(): number {
    return this.held.length;
  }

  clear(): number {
    this.timer.stop();
    return this.held.clear(this.ctx.drop);
  }

  private release(): void {
    this.stats.passed += this.held.releaseDue(this.ctx.clock.now(), this.timer);
  }
}

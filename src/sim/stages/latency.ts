// Propagation delay with optional jitter. Every frame is due at
// now + delayMs + U[0, jitterMs), but never before the frame ahead of it:
// a link is a pipe, so jitter stretches gaps without reordering (use
// ReorderStage for that). One clock timer, armed for the head of the FIFO.
import type { Timer } from '../../time/timer-heap.ts';
import type { FrameSink, LinkStage, StageContext } from '../link.ts';
import { FrameQueue } from './frame-queue.ts';
import { checkNonNegative } from './validate.ts';

export interface LatencyOptions {
  /** Fixed one-way delay in ms (>= 0). */
  delayMs: number;
  /** Extra random delay, uniform in [0, jitterMs) (>= 0, default 0). */
  jitterMs?: number;
}

export class LatencyStage implements LinkStage {
  readonly name = 'latency';
  /** Forwards the frames it is given, unchanged (or drops them): see LinkStage.intact. */
  readonly intact = true;
  /** passed: frames handed on; maxQueued: most frames held at once. */
  readonly stats = { passed: 0, maxQueued: 0 };
  readonly delayMs: number;
  readonly jitterMs: number;
  private readonly ctx: StageContext;
  private readonly queue = new FrameQueue();
  private readonly timer: Timer;
  /** Due time of the last frame accepted: later frames are never due before it. */
  private lastDue = -Infinity;

  constructor(ctx: StageContext, options: LatencyOptions) {
    this.ctx = ctx;
    this.delayMs = checkNonNegative('LatencyStage', 'delayMs', options.delayMs);
    this.jitterMs = checkNonNegative('LatencyStage', 'jitterMs', options.jitterMs ?? 0);
    this.timer = ctx.clock.timer(() => this.release(), ctx.name ?? 'latency');
  }

  push(frame: Uint8Array, next: FrameSink): void {
    const now = this.ctx.clock.now();
    let due = now + this.delayMs;
    if (this.jitterMs > 0) due += this.ctx.rng.float() * this.jitterMs;
    if (due < this.lastDue) due = this.lastDue;
    this.lastDue = due;
    if (this.queue.length === 0 && due <= now) {
      this.stats.passed++;
      next(frame);
      return;
    }
    this.queue.push(frame, next, due);
    if (this.queue.length > this.stats.maxQueued) this.stats.maxQueued = this.queue.length;
    if (this.queue.length === 1) this.timer.startAt(due);
  }

  inFlight(): number {
    return this.queue.length;
  }

  clear(): number {
    this.timer.stop();
    this.lastDue = -Infinity;
    return this.queue.clear(this.ctx.drop);
  }

  private release(): void {
    this.stats.passed += this.queue.releaseDue(this.ctx.clock.now(), this.timer);
  }
}

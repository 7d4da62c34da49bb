// A token-bucket shaper: the link's bottleneck. Tokens (bytes) accrue at
// bitsPerSecond / 8 up to burstBytes; the bucket starts full. A frame leaves
// when the bucket holds enough tokens for it, otherwise it waits in a FIFO
// of at most queueBytes; a frame that does not fit is tail-dropped.
//
// A frame larger than the whole bucket leaves once the bucket is full and
// drives it negative (a debt repaid before the next frame), so oversize
// frames never wedge the queue and the long-run rate stays exact.
// One clock timer, armed for the moment the head frame can leave.
import type { Timer } from '../../time/timer-heap.ts';
import type { FrameSink, LinkStage, StageContext } from '../link.ts';
import { FrameQueue } from './frame-queue.ts';
import { checkNonNegative, checkPositive } from './validate.ts';

export interface RateLimitOptions {
  /** Sustained rate in bits per second (> 0). */
  bitsPerSecond: number;
  /** Bucket size in bytes: what may leave back to back after idling (> 0, default 3000). */
  burstBytes?: number;
  /** Bytes that may wait for tokens before tail drop (>= 0, default 64 KiB). */
  queueBytes?: number;
}

/** Slack for floating-point error when comparing tokens (bytes). */
const EPSILON = 1e-6;

/** A representable number strictly greater than `x` (one or two units in the last place above it). */
function after(x: number): number {
  return x === 0 ? Number.MIN_VALUE : x + Math.abs(x) * Number.EPSILON;
}

export class RateLimitStage implements LinkStage {
  readonly name = 'rate-limit';
  /** Forwards the frames it is given, unchanged (or drops them): see LinkStage.intact. */
  readonly intact = true;
  /** passed: frames sent on; dropped: tail drops; maxQueuedBytes: deepest queue seen. */
  readonly stats = { passed: 0, dropped: 0, maxQueuedBytes: 0 };
  readonly bitsPerSecond: number;
  readonly burstBytes: number;
  readonly queueBytes: number;
  private readonly ctx: StageContext;
  private readonly bytesPerMs: number;
  private readonly queue = new FrameQueue();
  private readonly timer: Timer;
  private tokens: number;
  private refilledAt: number;

  constructor(ctx: StageContext, options: RateLimitOptions) {
    this.ctx = ctx;
    this.bitsPerSecond = checkPositive('RateLimitStage', 'bitsPerSecond', options.bitsPerSecond);
    this.burstBytes = checkPositive('RateLimitStage', 'burstBytes', options.burstBytes ?? 3000);
    this.queueBytes = checkNonNegative('RateLimitStage', 'queueBytes', options.queueBytes ?? 64 * 1024);
    this.bytesPerMs = this.bitsPerSecond / 8000;
    this.tokens = this.burstBytes;
    this.refilledAt = ctx.clock.now();
    this.timer = ctx.clock.timer(() => this.release(), ctx.name ?? 'rate-limit');
  }

  push(frame: Uint8Array, next: FrameSink): void {
    this.refill();
    const q = this.queue;
    if (q.length === 0 && this.canSend(frame.length)) {
      this.tokens -= frame.length;
      this.stats.passed++;
      next(frame);
      return;
    }
    if (q.bytes + frame.length > this.queueBytes) {
      this.stats.dropped++;
      this.ctx.drop?.(frame);
      return;
    }
    q.push(frame, next, this.refilledAt);
    if (q.bytes > this.stats.maxQueuedBytes) this.stats.maxQueuedBytes = q.bytes;
    if (q.length === 1) this.schedule();
  }

  inFlight(): number {
    return this.queue.length;
  }

  /** Bytes waiting for tokens. */
  queuedBytes(): number {
    return this.queue.bytes;
  }

  clear(): number {
    this.timer.stop();
    return this.queue.clear(this.ctx.drop);
  }

  private canSend(length: number): boolean {
    return this.tokens + EPSILON >= Math.min(length, this.burstBytes);
  }

  private refill(): void {
    const now = this.ctx.clock.now();
    if (now > this.refilledAt) {
      this.tokens = Math.min(this.burstBytes, this.tokens + (now - this.refilledAt) * this.bytesPerMs);
      this.refilledAt = now;
    }
  }

  /**
   * Arm the timer for when the head frame will have its tokens (call after
   * refill). The wake-up is rounded up to a representable instant strictly
   * after now and no earlier than the exact one: a shortfall below the
   * float resolution of `now` used to round back to now itself, where the
   * release found too few tokens and re-armed for the same instant forever.
   */
  private schedule(): void {
    const need = Math.min(this.queue.headFrame().length, this.burstBytes);
    const wait = Math.max(0, need - this.tokens) / this.bytesPerMs;
    const from = this.refilledAt;
    let at = from + wait;
    if (at - from < wait) at = after(at);
    if (at <= from) at = after(from);
    this.timer.startAt(at);
  }

  private release(): void {
    this.refill();
    const q = this.queue;
    // Dequeue before handing on: the sink may push into this stage again.
    while (q.length > 0 && this.canSend(q.headFrame().length)) {
      const frame = q.headFrame();
      const sink = q.headSink();
      q.dropHead();
      this.tokens -= frame.length;
      this.stats.passed++;
      sink(frame);
    }
    if (q.length > 0) this.schedule();
    else this.timer.stop();
  }
}

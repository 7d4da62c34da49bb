// A tap: passes every frame on unchanged and reports it, with the clock's
// time, to `onFrame` first (where a PcapWriter plugs in). The frame is
// shared with the rest of the link: onFrame must copy what it keeps and
// must not change it.
import type { FrameSink, LinkStage, StageContext } from '../link.ts';

export type TapCallback = (timeMs: number, frame: Uint8Array) => void;

export class TapStage implements LinkStage {
  readonly name = 'tap';
  /** passed: frames seen and sent on. */
  readonly stats = { passed: 0 };
  private readonly clock: StageContext['clock'];
  private readonly onFrame: TapCallback;

  /** Needs only the clock; a full StageContext will do. */
  constructor(ctx: Pick<StageContext, 'clock'>, onFrame: TapCallback) {
    if (typeof onFrame !== 'function') throw new TypeError('TapStage: onFrame must be a function');
    this.clock = ctx.clock;
    this.onFrame = onFrame;
  }

  push(frame: Uint8Array, next: FrameSink): void {
    this.stats.passed++;
    this.onFrame(this.clock.now(), frame);
    next(frame);
  }
}

// Corruption: with `probability` one uniformly chosen bit of the frame is
// flipped. The flip happens on a copy, never on the frame received, which
// another holder (a tap, a duplicate) may still be looking at. Empty frames
// have no bit to flip and pass untouched.
import type { FrameSink, LinkStage, StageContext } from '../link.ts';
import { checkProbability } from './validate.ts';

export interface CorruptOptions {
  /** Chance that a frame gets one bit flipped. */
  probability: number;
}

export class CorruptStage implements LinkStage {
  readonly name = 'corrupt';
  /** passed: frames sent on (corrupted ones included); corrupted: frames with a bit flipped. */
  readonly stats = { passed: 0, corrupted: 0 };
  readonly probability: number;
  private readonly rng: StageContext['rng'];

  constructor(ctx: StageContext, options: CorruptOptions) {
    this.rng = ctx.rng;
    this.probability = checkProbability('CorruptStage', 'probability', options.probability);
  }

  push(frame: Uint8Array, next: FrameSink): void {
    let out = frame;
    if (frame.length > 0 && this.rng.chance(this.probability)) {
      const bit = this.rng.int(frame.length * 8);
      out = frame.slice();
      out[bit >>> 3]! ^= 1 << (bit & 7);
      this.stats.corrupted++;
    }
    this.stats.passed++;
    next(out);
  }
}

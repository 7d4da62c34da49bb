// Duplication: every frame goes on, and with `probability` a copy of it
// follows right after. The copy is a fresh Uint8Array, so whoever consumes
// one of the two can keep or change it without the other noticing.
import type { FrameSink, LinkStage, StageContext } from '../link.ts';
import { checkProbability } from './validate.ts';

export interface DuplicateOptions {
  /** Chance that a frame is followed by a copy. */
  probability: number;
}

export class DuplicateStage implements LinkStage {
  readonly name = 'duplicate';
  /** passed: original frames sent on; duplicated: extra copies sent. */
  readonly stats = { passed: 0, duplicated: 0 };
  readonly probability: number;
  private readonly rng: StageContext['rng'];

  constructor(ctx: StageContext, options: DuplicateOptions) {
    this.rng = ctx.rng;
    this.probability = checkProbability('DuplicateStage', 'probability', options.probability);
  }

  push(frame: Uint8Array, next: FrameSink): void {
    // Decide and copy first: `next` may consume (or even change) the original.
    const copy = this.rng.chance(this.probability) ? frame.slice() : null;
    this.stats.passed++;
    next(frame);
    if (copy !== null) {
      this.stats.duplicated++;
      next(copy);
    }
  }
}

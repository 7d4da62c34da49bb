// Frame loss: independent (Bernoulli) or bursty (Gilbert-Elliott).
//
// Independent: each frame is dropped with `probability`.
// Bursty: a two-state Markov chain moves once per frame, before the frame is
// judged: Good -> Bad with pGoodToBad, Bad -> Good with pBadToGood. In Good a
// frame is lost with `probability` (0 gives the classic Gilbert model), in
// Bad with lossInBad (default 1). The mean burst length in frames is
// 1 / pBadToGood; expectedLossRate() gives the long-run average.
import type { FrameSink, LinkStage, StageContext } from '../link.ts';
import { checkProbability } from './validate.ts';

export interface BurstLossOptions {
  /** Per-frame chance of moving from Good to Bad. */
  pGoodToBad: number;
  /** Per-frame chance of moving from Bad back to Good. */
  pBadToGood: number;
  /** Chance of losing a frame while Bad (default 1). */
  lossInBad?: number;
}

export interface LossOptions {
  /** Chance of losing a frame (with `burst`: while in the Good state). */
  probability: number;
  /** Enables the Gilbert-Elliott burst model. */
  burst?: BurstLossOptions;
}

/** Long-run fraction of frames a LossStage with these options drops. */
export function expectedLossRate(options: LossOptions): number {
  const b = options.burst;
  if (b === undefined) return options.probability;
  const moves = b.pGoodToBad + b.pBadToGood;
  // With no transitions at all the chain stays in Good, where it starts.
  const inBad = moves === 0 ? 0 : b.pGoodToBad / moves;
  return (1 - inBad) * options.probability + inBad * (b.lossInBad ?? 1);
}

export class LossStage implements LinkStage {
  readonly name = 'loss';
  /** Forwards the frames it is given, unchanged (or drops them): see LinkStage.intact. */
  readonly intact = true;
  /** passed, dropped; bursts: entries into the Bad state. */
  readonly stats = { passed: 0, dropped: 0, bursts: 0 };
  readonly probability: number;
  private readonly rng: StageContext['rng'];
  private readonly drop: StageContext['drop'];
  private readonly pGoodToBad: number;
  private readonly pBadToGood: number;
  private readonly lossInBad: number;
  private readonly bursty: boolean;
  private bad = false;

  constructor(ctx: StageContext, options: LossOptions) {
    this.rng = ctx.rng;
    this.drop = ctx.drop;
    this.probability = checkProbability('LossStage', 'probability', options.probability);
    const b = options.burst;
    this.bursty = b !== undefined;
    this.pGoodToBad = b === undefined ? 0 : checkProbability('LossStage', 'burst.pGoodToBad', b.pGoodToBad);
    this.pBadToGood = b === undefined ? 0 : checkProbability('LossStage', 'burst.pBadToGood', b.pBadToGood);
    this.lossInBad = b === undefined ? 0 : checkProbability('LossStage', 'burst.lossInBad', b.lossInBad ?? 1);
  }

  /** True while the burst model is in its Bad state. */
  get inBadState(): boolean {
    return this.bad;
  }

  push(frame: Uint8Array, next: FrameSink): void {
    let p = this.probability;
    if (this.bursty) {
      if (this.bad) {
        if (this.rng.chance(this.pBadToGood)) this.bad = false;
      } else if (this.rng.chance(this.pGoodToBad)) {
        this.bad = true;
        this.stats.bursts++;
      }
      if (this.bad) p = this.lossInBad;
    }
    if (this.rng.chance(p)) {
      this.stats.dropped++;
      this.drop?.(frame);
      return;
    }
    this.stats.passed++;
    next(frame);
  }
}

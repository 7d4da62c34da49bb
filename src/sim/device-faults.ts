// The simulator's link faults on a real device: a TunShaper (netif/tun.ts)
// that runs each direction of the device through a LinkPipeline built from
// a LinkSpec, exactly as the simulator builds its links (buildStages), so
// `tsip up --loss 0.01 --delay 20` shapes tsip's own TUN link in user space
// the way `tsip sim transfer --loss 0.01 --delay 20` shapes a simulated one.
//
// Time comes from the given clock (the stack's RealClock for tsip up),
// chance from a seeded Rng: one derived generator per direction, and one
// per stage within it, so a seed fixes which records are lost, copied,
// damaged or held back for a given sequence of records.
//
// The device hands over views into buffers it reuses, and stages may hold
// records (latency, reorder, rate limit), so every record is copied on its
// way in: the pipeline owns its frames, as in the simulator.
import type { TunShaper } from '../netif/tun.ts';
import type { Clock } from '../time/clock.ts';
import { Rng } from '../time/rng.ts';
import { buildStages, type FrameSink, LinkPipeline, type LinkSpec } from './link.ts';

export interface DeviceFaultsOptions {
  clock: Clock;
  /** Seed of the faults' random draws (default 1). */
  seed?: number | string;
  /** Faults of both directions. */
  link?: LinkSpec;
  /** Overrides for tsip → kernel (out) and kernel → tsip (in). */
  out?: LinkSpec;
  in?: LinkSpec;
}

/** One direction's counters: records in, records handed on, and each stage's counters. */
export interface DirectionStats {
  sent: number;
  delivered: number;
  dropped: number;
  inFlight: number;
  stages: Record<string, Record<string, number>>;
}

export class DeviceFaults implements TunShaper {
  /** tsip → kernel and kernel → tsip. */
  readonly outLink: LinkPipeline;
  readonly inLink: LinkPipeline;
  private toKernel: FrameSink | null = null;
  private toStack: FrameSink | null = null;

  constructor(o: DeviceFaultsOptions) {
    const rng = new Rng(o.seed ?? 1);
    const outSpec = o.out ?? o.link ?? {};
    const inSpec = o.in ?? o.link ?? {};
    this.outLink = new LinkPipeline(buildStages({ clock: o.clock, rng: rng.derive('out'), name: 'tun-out' }, outSpec), (f) => this.toKernel?.(f));
    this.inLink = new LinkPipeline(buildStages({ clock: o.clock, rng: rng.derive('in'), name: 'tun-in' }, inSpec), (f) => this.toStack?.(f));
  }

  bind(toKernel: FrameSink, toStack: FrameSink): void {
    this.toKernel = toKernel;
    this.toStack = toStack;
  }

  out(record: Uint8Array): void {
    this.outLink.send(record.slice());
  }

  in(record: Uint8Array): void {
    this.inLink.send(record.slice());
  }

  /** Counters of both directions (for /status.json). */
  stats(): { out: DirectionStats; in: DirectionStats } {
    return { out: directionStats(this.outLink), in: directionStats(this.inLink) };
  }

  /** Drop every record in flight and stop the stages' timers (before the clock goes). */
  close(): void {
    this.outLink.clear();
    this.inLink.clear();
    this.toKernel = null;
    this.toStack = null;
  }
}

function directionStats(p: LinkPipeline): DirectionStats {
  const stages: Record<string, Record<string, number>> = {};
  for (const s of p.stages) stages[s.name] = { ...s.stats };
  return { sent: p.sent, delivered: p.delivered, dropped: p.stat('dropped'), inFlight: p.inFlight(), stages };
}

/** "loss 1%, delay 20 ms, rate 100 Mbit/s, reorder 1%" for a LinkSpec (empty: "no faults"). */
export function describeLinkSpec(spec: LinkSpec, formatRate: (bps: number) => string): string {
  const pct = (p: number): string => `${+(p * 100).toPrecision(4)}%`;
  const parts: string[] = [];
  if (spec.loss !== undefined) parts.push(`loss ${pct(spec.loss)}`);
  if (spec.latencyMs !== undefined) parts.push(`delay ${spec.latencyMs} ms`);
  if (spec.jitterMs !== undefined) parts.push(`jitter ${spec.jitterMs} ms`);
  if (spec.bitsPerSecond !== undefined) parts.push(`rate ${formatRate(spec.bitsPerSecond)}`);
  if (spec.reorder !== undefined) parts.push(`reorder ${pct(spec.reorder)}`);
  if (spec.duplicate !== undefined) parts.push(`duplicate ${pct(spec.duplicate)}`);
  if (spec.corrupt !== undefined) parts.push(`corrupt ${pct(spec.corrupt)}`);
  return parts.length === 0 ? 'no faults' : parts.join(', ');
}

// LinkPipeline's controls (what Simulator.setLink / setLinkUp / partition use):
// reconfigure keeps held frames on their old schedule, down clears and
// refuses, blocked refuses without clearing; send() stays allocation-free.
import { describe, expect, test } from 'vitest';
import { buildStages, LinkPipeline } from '../../src/sim/link.ts';
import { Rng } from '../../src/time/rng.ts';
import { VirtualClock } from '../../src/time/virtual-clock.ts';

function setup() {
  const clock = new VirtualClock();
  const got: [number, number][] = [];
  const dropped: Uint8Array[] = [];
  const ctx = { clock, rng: new Rng(1) };
  const pipe = new LinkPipeline(buildStages(ctx, { latencyMs: 10 }), (f) => got.push([clock.now(), f[0]!]), (f) => dropped.push(f));
  return { clock, got, dropped, ctx, pipe };
}

describe('LinkPipeline controls', () => {
  test('reconfigure: held frames keep their schedule, new ones take the new stages, counters add up', () => {
    const { clock, got, ctx, pipe } = setup();
    pipe.send(Uint8Array.of(1));
    clock.advanceTo(2);
    pipe.reconfigure(buildStages({ clock, rng: ctx.rng.derive('x') }, { latencyMs: 1 }));
    expect(pipe.reconfigurations).toBe(1);
    pipe.send(Uint8Array.of(2));
    expect(pipe.inFlight()).toBe(2);
    clock.advanceTo(20);
    expect(got).toEqual([
      [3, 2],
      [10, 1],
    ]);
    expect(pipe.stat('passed')).toBe(2);
    expect(pipe.stages.map((s) => s.name)).toEqual(['latency']);
  });

  test('down: in-flight frames are lost, frames are refused and handed to the drop sink; up again: they flow', () => {
    const { clock, got, dropped, pipe } = setup();
    pipe.send(Uint8Array.of(1));
    pipe.setDown(true);
    expect(pipe.up).toBe(false);
    expect(pipe.inFlight()).toBe(0);
    pipe.send(Uint8Array.of(2));
    expect(pipe.droppedDown).toBe(1);
    expect(dropped.map((f) => f[0])).toEqual([2]);
    clock.advanceTo(50);
    expect(got).toEqual([]);
    pipe.setDown(false);
    pipe.send(Uint8Array.of(3));
    clock.advanceTo(100);
    expect(got).toEqual([[60, 3]]);
    expect(pipe.sent).toBe(3);
    expect(pipe.delivered).toBe(1);
  });

  test('blocked: refused and counted, frames in flight still arrive', () => {
    const { clock, got, pipe } = setup();
    pipe.send(Uint8Array.of(1));
    pipe.setBlocked(true);
    pipe.send(Uint8Array.of(2));
    expect(pipe.blocked).toBe(true);
    expect(pipe.droppedBlocked).toBe(1);
    clock.advanceTo(20);
    expect(got).toEqual([[10, 1]]);
    pipe.setBlocked(false);
    pipe.send(Uint8Array.of(3));
    clock.advanceTo(40);
    expect(got.map((g) => g[1])).toEqual([1, 3]);
  });
});

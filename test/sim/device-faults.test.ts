// DeviceFaults: the simulator's link stages as a TunShaper, on a fake device
// (no TUN): records are copied in, faults are seeded, time is the clock's.
import { describe, expect, test } from 'vitest';
import { DeviceFaults, describeLinkSpec } from '../../src/sim/device-faults.ts';
import { VirtualClock } from '../../src/time/virtual-clock.ts';

/** A fake device: one reused buffer, as TunDevice's; records the shaper hands on with their times. */
function fakeDevice(faults: DeviceFaults, clock: VirtualClock) {
  const toKernel: { id: number; t: number }[] = [];
  const toStack: { id: number; t: number }[] = [];
  faults.bind(
    (r) => toKernel.push({ id: r[0]! | (r[1]! << 8), t: clock.now() }),
    (r) => toStack.push({ id: r[0]! | (r[1]! << 8), t: clock.now() }),
  );
  const buf = new Uint8Array(100);
  const send = (dir: 'out' | 'in', id: number): void => {
    buf[0] = id & 0xff;
    buf[1] = id >> 8;
    faults[dir](buf.subarray(0, 60));
    buf.fill(0xee); // the device reuses its buffer at once
  };
  return { toKernel, toStack, send };
}

function run(seed: number) {
  const clock = new VirtualClock();
  const faults = new DeviceFaults({ clock, seed, link: { loss: 0.1, latencyMs: 20, reorder: 0.1 } });
  const dev = fakeDevice(faults, clock);
  for (let i = 0; i < 500; i++) {
    dev.send('out', i);
    dev.send('in', i);
    clock.advanceBy(1);
  }
  clock.advanceBy(1000);
  return { ...dev, stats: faults.stats() };
}

describe('DeviceFaults', () => {
  test('loss, latency and reorder on both directions, the same for the same seed', () => {
    const a = run(7);
    const b = run(7);
    expect(a.toKernel).toEqual(b.toKernel);
    expect(a.toStack).toEqual(b.toStack);
    expect(a.stats).toEqual(b.stats);
    for (const [dir, got] of [['out', a.toKernel], ['in', a.toStack]] as const) {
      const s = a.stats[dir];
      expect(s.sent).toBe(500);
      expect(s.dropped).toBeGreaterThan(20);
      expect(s.dropped).toBeLessThan(90);
      expect(s.delivered).toBe(500 - s.dropped);
      expect(got.length).toBe(s.delivered);
      expect(s.inFlight).toBe(0);
      expect(s.stages.reorder!.reordered).toBeGreaterThan(0);
      // Copied in: no record shows the device's later writes to its buffer.
      for (const r of got) expect(r.id).toBeLessThan(500);
      // Every record is at least 20 ms late (sent at t = id ms).
      for (const r of got) expect(r.t).toBeGreaterThanOrEqual(r.id + 20);
      // Some overtaking happened.
      expect(got.some((r, i) => i > 0 && r.id < got[i - 1]!.id)).toBe(true);
    }
    // The two directions draw from streams of their own.
    expect(a.toKernel.map((r) => r.id)).not.toEqual(a.toStack.map((r) => r.id));
    // Another seed, other losses.
    expect(run(8).toKernel.map((r) => r.id)).not.toEqual(a.toKernel.map((r) => r.id));
  });

  test('an empty spec passes records straight through; close() drops those in flight', () => {
    const clock = new VirtualClock();
    const ideal = new DeviceFaults({ clock });
    const d1 = fakeDevice(ideal, clock);
    d1.send('out', 1);
    d1.send('in', 2);
    expect(d1.toKernel).toEqual([{ id: 1, t: 0 }]);
    expect(d1.toStack).toEqual([{ id: 2, t: 0 }]);

    const slow = new DeviceFaults({ clock, link: { latencyMs: 50 } });
    const d2 = fakeDevice(slow, clock);
    d2.send('out', 3);
    expect(slow.stats().out.inFlight).toBe(1);
    slow.close();
    clock.advanceBy(100);
    expect(d2.toKernel).toEqual([]);
    expect(clock.pendingTimers()).toBe(0);
  });

  test('describeLinkSpec', () => {
    expect(describeLinkSpec({}, String)).toBe('no faults');
    expect(describeLinkSpec({ loss: 0.01, latencyMs: 20, bitsPerSecond: 1e8, reorder: 0.01 }, (b) => `${b / 1e6} Mbit/s`)).toBe('loss 1%, delay 20 ms, rate 100 Mbit/s, reorder 1%');
  });
});

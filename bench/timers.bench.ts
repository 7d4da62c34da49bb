// Timer costs in the VirtualClock (an indexed binary min-heap, see
// src/time/timer-heap.ts) with 100k live timers, and with 1k for scale:
// - start a new timer at a random deadline and stop it again (insert +
//   remove among N others);
// - stop a random live timer and start it again (cancel + schedule);
// - restart a live timer to a new random deadline (what TCP does to its
//   per-PCB timer on every ACK);
// - firing: advance the clock to the next deadline, whose callback re-arms
//   its timer at a random later deadline, so N stay live (ns per timer fired).
// Deadlines are random in [1, 1e6) ms of virtual time from now, so there
// are no ties; the clock moves only in the firing task.
import { Rng } from '../src/time/rng.ts';
import type { Timer } from '../src/time/timer-heap.ts';
import { VirtualClock } from '../src/time/virtual-clock.ts';
import { type BenchReport, type BenchSpec, type MicroTask, runMicro } from './lib.ts';

let sink = 0;

// Precomputed random delays, cycled; more than the live timers, so no two
// start at the same deadline (ties would fire two timers per runNext).
const DELAYS = 1 << 18;

function setup(n: number, rng: Rng): { clock: VirtualClock; timers: Timer[]; delays: Float64Array; fired: { n: number } } {
  const clock = new VirtualClock();
  const delays = new Float64Array(DELAYS);
  for (let i = 0; i < DELAYS; i++) delays[i] = 1 + rng.float() * 999_999;
  const fired = { n: 0 };
  const timers: Timer[] = [];
  let d = 0;
  for (let i = 0; i < n; i++) {
    const t: Timer = clock.timer(() => {
      fired.n++;
      t.start(delays[d]!);
      d = (d + 1) & (DELAYS - 1);
    });
    t.start(delays[d]!);
    d = (d + 1) & (DELAYS - 1);
    timers.push(t);
  }
  return { clock, timers, delays, fired };
}

const spec: BenchSpec = {
  name: 'timers',
  description: 'VirtualClock timer heap with 100k (and 1k) live timers: start+stop, restart, firing',
  async run(): Promise<BenchReport> {
    const rng = new Rng(6298);
    const tasks: MicroTask[] = [];
    const fixtures: { n: number; fired: { n: number }; calls: { n: number }; clock: VirtualClock }[] = [];
    const B = 32; // operations per tinybench call
    for (const n of [100_000, 1_000]) {
      const f = setup(n, rng.derive(`timers${n}`));
      const label = n >= 1000 ? `${n / 1000}k` : String(n);
      const extra = f.clock.timer(() => {
        sink++;
      });
      let d = 0;
      let k = 0;
      tasks.push({
        name: `start + stop a timer (${label} live)`,
        opsPerCall: B,
        fn: () => {
          for (let i = 0; i < B; i++) {
            extra.start(f.delays[d]!);
            d = (d + 1) & (DELAYS - 1);
            extra.stop();
          }
        },
      });
      tasks.push({
        name: `restart a live timer (${label} live)`,
        opsPerCall: B,
        fn: () => {
          for (let i = 0; i < B; i++) {
            f.timers[k]!.start(f.delays[d]!);
            d = (d + 1) & (DELAYS - 1);
            k = k + 1 === n ? 0 : k + 1;
          }
        },
      });
      let r = 0;
      tasks.push({
        name: `stop + start a random live timer (${label} live)`,
        opsPerCall: B,
        fn: () => {
          for (let i = 0; i < B; i++) {
            const t = f.timers[r]!;
            t.stop();
            t.start(f.delays[d]!);
            d = (d + 1) & (DELAYS - 1);
            r = (r + 7919) % n;
          }
        },
      });
      const calls = { n: 0 };
      tasks.push({
        name: `fire the next timer, re-armed (${label} live)`,
        opsPerCall: B,
        fn: () => {
          for (let i = 0; i < B; i++) f.clock.runNext();
          calls.n += B;
        },
      });
      fixtures.push({ n, fired: f.fired, calls, clock: f.clock });
    }
    const { rows, figures } = await runMicro(tasks);
    const notes: string[] = [];
    for (const f of fixtures) {
      if (f.clock.pendingTimers() !== f.n) throw new Error(`expected ${f.n} live timers, have ${f.clock.pendingTimers()}`);
      const per = f.fired.n / f.calls.n;
      const label = f.n >= 1000 ? `${f.n / 1000}k` : String(f.n);
      const ns = figures[`fire the next timer, re-armed (${label} live) ops/s`];
      if (ns !== undefined) figures[`ns per timer fired (${label} live)`] = Math.round((1e9 / ns / per) * 10) / 10;
      notes.push(`${f.n} live: ${f.fired.n} timers fired in ${f.calls.n} runNext() calls (${per.toFixed(3)} per call); virtual time reached ${(f.clock.now() / 1000).toFixed(0)} s`);
    }
    notes.push(`each tinybench call runs ${B} operations; ns/op is per operation`, `sink ${sink & 1}`);
    return { name: 'timers', rows, figures, notes };
  },
};

export default spec;

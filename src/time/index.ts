// The time layer: the Clock interface every Stack takes time from, the
// virtual clock the simulator drives, timers and the seeded Rng.
export type { Clock } from './clock.ts';
export { Timer, TimerHeap, type TimerCallback } from './timer-heap.ts';
export { VirtualClock } from './virtual-clock.ts';
export { Rng } from './rng.ts';

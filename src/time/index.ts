export type { Clock } from './clock.ts';
export { Timer, TimerHeap, type TimerCallback } from './timer-heap.ts';
export { VirtualClock } from './virtual-clock.ts';
export { Rng, hashString } from './rng.ts';
